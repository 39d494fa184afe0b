"""The paper's numbers: aggregation over folds and seeds, LaTeX tables, number macros, and the PDF build.

Everything here reads the tidy results table of :func:`heritage_core.dg.collect_results` (and the paired
comparisons of :func:`heritage_core.dg.compare_variants`); nothing is retrained or re-scored.

* :mod:`~heritage_core.paper.aggregate`: :func:`estimate` (mean over folds, then seeds, with a 95 %
  interval whose rule the captions name) and the one formatting rule (:func:`format_percent`: percent with
  one decimal, intervals as ``[low, high]``, NaN as ``--``).
* :mod:`~heritage_core.paper.tables`: main results, per fold, per class, ablation; each a frame function
  (numbers) and a table function (booktabs ``\\input``-able LaTeX).
* :mod:`~heritage_core.paper.numbers`: ``numbers.tex`` macros (``\\CurriculumOODmIoU`` ...).
* :mod:`~heritage_core.paper.build`: :func:`build_paper` -> ``paper/build/<suite>.pdf``
  (``python -m heritage_core.paper SUITE``).
"""
from __future__ import annotations

from heritage_core.paper.aggregate import CI_LEVEL as CI_LEVEL
from heritage_core.paper.aggregate import INTERVAL_METHODS as INTERVAL_METHODS
from heritage_core.paper.aggregate import PARTITION_LABELS as PARTITION_LABELS
from heritage_core.paper.aggregate import VARIANT_LABELS as VARIANT_LABELS
from heritage_core.paper.aggregate import Estimate as Estimate
from heritage_core.paper.aggregate import estimate as estimate
from heritage_core.paper.aggregate import fold_order as fold_order
from heritage_core.paper.aggregate import format_interval as format_interval
from heritage_core.paper.aggregate import format_percent as format_percent
from heritage_core.paper.aggregate import interval_sentence as interval_sentence
from heritage_core.paper.aggregate import macro_name as macro_name
from heritage_core.paper.aggregate import metric_rows as metric_rows
from heritage_core.paper.aggregate import ordered_variants as ordered_variants
from heritage_core.paper.aggregate import tex_escape as tex_escape
from heritage_core.paper.build import REQUIRED_ASSETS as REQUIRED_ASSETS
from heritage_core.paper.build import TEX_PACKAGES as TEX_PACKAGES
from heritage_core.paper.build import build_paper as build_paper
from heritage_core.paper.build import ensure_tex as ensure_tex
from heritage_core.paper.build import missing_assets as missing_assets
from heritage_core.paper.numbers import number_macros as number_macros
from heritage_core.paper.numbers import numbers_tex as numbers_tex
from heritage_core.paper.numbers import parse_numbers_tex as parse_numbers_tex
from heritage_core.paper.numbers import setup_macros as setup_macros
from heritage_core.paper.tables import ablation as ablation
from heritage_core.paper.tables import ablation_table as ablation_table
from heritage_core.paper.tables import main_results as main_results
from heritage_core.paper.tables import main_results_table as main_results_table
from heritage_core.paper.tables import per_class as per_class
from heritage_core.paper.tables import per_class_table as per_class_table
from heritage_core.paper.tables import per_fold as per_fold
from heritage_core.paper.tables import per_fold_table as per_fold_table

__all__ = [
    "CI_LEVEL", "INTERVAL_METHODS", "PARTITION_LABELS", "VARIANT_LABELS", "Estimate", "estimate", "fold_order",
    "format_interval", "format_percent", "interval_sentence", "macro_name", "metric_rows", "ordered_variants",
    "tex_escape", "REQUIRED_ASSETS", "TEX_PACKAGES", "build_paper", "ensure_tex", "missing_assets",
    "number_macros", "numbers_tex", "parse_numbers_tex", "setup_macros", "ablation", "ablation_table",
    "main_results", "main_results_table", "per_class", "per_class_table", "per_fold", "per_fold_table",
]
