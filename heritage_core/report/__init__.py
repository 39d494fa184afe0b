"""Paper figures, tables, numbers and the PDF from a finished suite: what notebook 05 (``05_paper_figures``) runs.

Everything is made from finished, evaluated runs; nothing is retrained or re-predicted. The tables and numbers
read the tidy results table of :func:`heritage_core.evaluation.dg.collect_results` (and the paired comparisons of
:func:`heritage_core.evaluation.dg.compare_variants`).

* :mod:`~heritage_core.report.style`: :func:`paper_style`, figure widths, Okabe–Ito variant colours.
* :mod:`~heritage_core.report.figures`: training curves, DG gap, per-class IoU heat map, confusion
  matrices, qualitative grid, class distribution (pure: data in, Figure out).
* :mod:`~heritage_core.report.aggregate`: :func:`estimate` (mean over folds, then seeds, with a 95 %
  interval whose rule the captions name) and the one formatting rule (:func:`format_percent`: percent with
  one decimal, intervals as ``[low, high]``, NaN as ``--``).
* :mod:`~heritage_core.report.tables`: main results, per fold, per class, ablation; each a frame function
  (numbers) and a table function (booktabs ``\\input``-able LaTeX).
* :mod:`~heritage_core.report.numbers`: ``numbers.tex`` macros (``\\CurriculumOODmIoU`` ...).
* :mod:`~heritage_core.report.inputs`: :func:`check_report_params` (every parameter of notebook 05 in one
  call) and :func:`load_suite` (results table, comparisons, run directories).
* :mod:`~heritage_core.report.outputs`: :func:`write_tables`, :func:`write_numbers`, :func:`write_figure`
  and :func:`write_paper_assets` (all at once; :func:`write_index` lists the files), each artefact with a
  provenance sidecar JSON.
* :mod:`~heritage_core.report.build`: :func:`build_paper` -> ``paper/build/<suite>.pdf``
  (``python -m heritage_core.report SUITE``).
* :mod:`~heritage_core.report.widgets`: the per-class IoU inspector of notebooks 03 and 04.
"""
from __future__ import annotations

from heritage_core.report.aggregate import CI_LEVEL as CI_LEVEL
from heritage_core.report.aggregate import INTERVAL_METHODS as INTERVAL_METHODS
from heritage_core.report.aggregate import PARTITION_LABELS as PARTITION_LABELS
from heritage_core.report.aggregate import VARIANT_LABELS as VARIANT_LABELS
from heritage_core.report.aggregate import Estimate as Estimate
from heritage_core.report.aggregate import estimate as estimate
from heritage_core.report.aggregate import fold_order as fold_order
from heritage_core.report.aggregate import format_interval as format_interval
from heritage_core.report.aggregate import format_percent as format_percent
from heritage_core.report.aggregate import interval_sentence as interval_sentence
from heritage_core.report.aggregate import macro_name as macro_name
from heritage_core.report.aggregate import metric_rows as metric_rows
from heritage_core.report.aggregate import ordered_variants as ordered_variants
from heritage_core.report.aggregate import tex_escape as tex_escape
from heritage_core.report.build import REQUIRED_ASSETS as REQUIRED_ASSETS
from heritage_core.report.build import TEX_PACKAGES as TEX_PACKAGES
from heritage_core.report.build import build_paper as build_paper
from heritage_core.report.build import ensure_tex as ensure_tex
from heritage_core.report.build import missing_assets as missing_assets
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
from heritage_core.report.numbers import dataset_macros as dataset_macros
from heritage_core.report.numbers import number_macros as number_macros
from heritage_core.report.numbers import numbers_tex as numbers_tex
from heritage_core.report.numbers import parse_numbers_tex as parse_numbers_tex
from heritage_core.report.numbers import setup_macros as setup_macros
from heritage_core.report.numbers import verdict as verdict
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
from heritage_core.report.tables import ablation as ablation
from heritage_core.report.tables import ablation_table as ablation_table
from heritage_core.report.tables import main_results as main_results
from heritage_core.report.tables import main_results_table as main_results_table
from heritage_core.report.tables import per_class as per_class
from heritage_core.report.tables import per_class_table as per_class_table
from heritage_core.report.tables import per_fold as per_fold
from heritage_core.report.tables import per_fold_table as per_fold_table

__all__ = [
    "QualitativeExample", "class_distribution_figure", "class_gap_figure", "class_iou_heatmap", "confusion_figure",
    "dg_gap_figure", "qualitative_figure", "training_curves_figure", "ReportParams", "SuiteResults",
    "check_report_params", "load_suite", "FIGURES", "provenance", "write_figure", "write_index", "write_numbers",
    "write_paper_assets", "write_tables", "COLUMN_WIDTH_IN", "FULL_WIDTH_IN", "PAPER_RC", "VARIANT_COLOURS",
    "VARIANT_MARKERS", "paper_style", "CI_LEVEL", "INTERVAL_METHODS", "PARTITION_LABELS", "VARIANT_LABELS",
    "Estimate", "estimate", "fold_order", "format_interval", "format_percent", "interval_sentence", "macro_name",
    "metric_rows", "ordered_variants", "tex_escape", "REQUIRED_ASSETS", "TEX_PACKAGES", "build_paper", "ensure_tex",
    "missing_assets", "number_macros", "dataset_macros", "verdict", "numbers_tex", "parse_numbers_tex",
    "setup_macros", "ablation",
    "ablation_table", "main_results", "main_results_table", "per_class", "per_class_table", "per_fold",
    "per_fold_table"
]
