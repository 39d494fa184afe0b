"""Paper figures, tables and numbers from a finished suite: what notebook 05 (``05_paper_figures``) runs.

Everything is made from finished, evaluated runs; nothing is retrained or re-predicted.

* :mod:`~heritage_core.report.style`: :func:`paper_style`, figure widths, Okabe–Ito variant colours.
* :mod:`~heritage_core.report.figures`: training curves, DG gap, per-class IoU heat map, confusion
  matrices, qualitative grid, class distribution (pure: data in, Figure out).
* :mod:`~heritage_core.report.inputs`: :func:`check_report_params` (every parameter of notebook 05 in one
  call) and :func:`load_suite` (results table, comparisons, run directories).
* :mod:`~heritage_core.report.outputs`: :func:`write_tables`, :func:`write_numbers`, :func:`write_figure`
  and :func:`write_paper_assets` (all at once; :func:`write_index` lists the files), each artefact with a provenance sidecar JSON.
"""
from __future__ import annotations

from heritage_core.report.figures import QualitativeExample as QualitativeExample
from heritage_core.report.figures import class_distribution_figure as class_distribution_figure
from heritage_core.report.figures import class_gap_figure as class_gap_figure
from heritage_core.report.figures import class_iou_heatmap as class_iou_heatmap
from heritage_core.report.figures import confusion_figure as confusion_figure
from heritage_core.report.figures import dg_gap_figure as dg_gap_figure
from heritage_core.report.figures import qualitative_figure as qualitative_figure
from heritage_core.report.figures import training_curves_figure as training_curves_figure
from heritage_core.report.inputs import ReportParams as ReportParams
from heritage_core.report.inputs import SuiteResults as SuiteResults
from heritage_core.report.inputs import check_report_params as check_report_params
from heritage_core.report.inputs import load_suite as load_suite
from heritage_core.report.outputs import FIGURES as FIGURES
from heritage_core.report.outputs import provenance as provenance
from heritage_core.report.outputs import write_figure as write_figure
from heritage_core.report.outputs import write_index as write_index
from heritage_core.report.outputs import write_numbers as write_numbers
from heritage_core.report.outputs import write_paper_assets as write_paper_assets
from heritage_core.report.outputs import write_tables as write_tables
from heritage_core.report.style import COLUMN_WIDTH_IN as COLUMN_WIDTH_IN
from heritage_core.report.style import FULL_WIDTH_IN as FULL_WIDTH_IN
from heritage_core.report.style import PAPER_RC as PAPER_RC
from heritage_core.report.style import VARIANT_COLOURS as VARIANT_COLOURS
from heritage_core.report.style import VARIANT_MARKERS as VARIANT_MARKERS
from heritage_core.report.style import paper_style as paper_style

__all__ = [
    "QualitativeExample", "class_distribution_figure", "class_gap_figure", "class_iou_heatmap", "confusion_figure", "dg_gap_figure",
    "qualitative_figure", "training_curves_figure", "ReportParams", "SuiteResults", "check_report_params",
    "load_suite", "FIGURES", "provenance", "write_figure", "write_index", "write_numbers", "write_paper_assets", "write_tables",
    "COLUMN_WIDTH_IN", "FULL_WIDTH_IN", "PAPER_RC", "VARIANT_COLOURS", "VARIANT_MARKERS", "paper_style",
]
