"""Aggregating the tidy results table over folds and seeds, and the one formatting rule of the paper.

**Formatting rule** (tables, macros and captions alike, :func:`format_percent`):

* Scores are percent with one decimal: ``f"{100 * value:.1f}"``; a negative number gets a math minus.
* Every interval is a 95 % interval written ``[low, high]`` after its value, never as ±.
* An undefined value (NaN: a class absent from labels and predictions, a missing run) prints as ``--``
  (:data:`heritage_core.evaluation.metrics.ABSENT_CLASS_RULE`, repeated in every caption).
* Bold marks the best value of a column: the highest mIoU; for the DG gap the smallest absolute gap; in
  the ablation the largest ΔmIoU.

**Aggregation over runs** (:func:`estimate`): a variant's score is the mean over folds within each seed,
then the mean over seeds (as :func:`heritage_core.evaluation.dg.summarise_over_folds`). Its interval depends on what
varies, and the captions say which rule was used (:func:`interval_sentence`):

* one run: the run's own image-level bootstrap interval (``bootstrap``);
* one seed, several folds: the folds' bootstrap intervals combined as independent normal errors,
  half-width ``1.96 * sqrt(sum_f s_f^2) / F`` with ``s_f = (high_f - low_f) / 3.92`` (``combined``);
* several seeds: a t-interval over the per-seed fold means, ``mean ± t(0.975, S-1) * SE``, SE with
  ddof=1 (``seeds``).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError
from heritage_core.evaluation.dg import VARIANT_ORDER
from heritage_core.evaluation.headline import FLOOR_VARIANT as FLOOR
from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE
from heritage_core.train.variants import load_variants

__all__ = [
    "CI_LEVEL",
    "FLOOR",
    "VARIANT_LABELS",
    "PARTITION_LABELS",
    "INTERVAL_METHODS",
    "MAIN_PARTITIONS",
    "NAN",
    "Estimate",
    "estimate",
    "estimate_record",
    "interval_sentence",
    "caption_tail",
    "format_percent",
    "format_interval",
    "format_p",
    "tex_escape",
    "macro_name",
    "bold",
    "best_value",
    "metric_rows",
    "ordered_variants",
    "fold_order",
]

CI_LEVEL = 0.95
_Z = 1.959963984540054  # standard normal quantile at 0.975
#: Display names of the ablation's variants (``configs/variants.yaml``) and of the floor: tables, legends, prose.
VARIANT_LABELS = {**{name: v.label for name, v in load_variants().items()}, FLOOR: "All-Clean (floor)"}
#: Display names of the scored partitions.
PARTITION_LABELS = {"val": "Val", "id_test": "ID", "ood_test": "OOD", "gap": "Gap"}
#: How an :class:`Estimate`'s interval was made (module docstring).
INTERVAL_METHODS = ("bootstrap", "combined", "seeds", "hierarchical", "images", "none")
MAIN_PARTITIONS = ("id_test", "ood_test", "gap")
NAN = float("nan")


# --------------------------------------------------------------------------- aggregation
@dataclass(frozen=True)
class Estimate:
    """A score aggregated over runs, with its 95 % interval (fractions; NaN where undefined).

    Attributes:
        mean: mean over folds within each seed, then over seeds.
        low: lower end of the interval.
        high: upper end of the interval.
        n_folds: folds with a defined value (per seed, the smallest over seeds).
        n_seeds: seeds with a defined value.
        method: one of :data:`INTERVAL_METHODS` (``none``: no interval could be made).
    """

    mean: float
    low: float
    high: float
    n_folds: int
    n_seeds: int
    method: str


def estimate(rows: pd.DataFrame) -> Estimate:
    """Aggregate the rows of one variant and score over folds and seeds (module docstring).

    Rows with a NaN ``value`` (an absent class in that fold) are left out; a fold without any value does
    not count.

    Args:
        rows: columns ``fold``, ``seed``, ``value``, ``ci_low``, ``ci_high`` (one row per run).

    Returns:
        The :class:`Estimate`; all NaN with method ``none`` when no row has a value.
    """
    rows = rows[np.isfinite(rows["value"].to_numpy(dtype=float))]
    if rows.empty:
        return Estimate(NAN, NAN, NAN, 0, 0, "none")
    per_seed = rows.groupby("seed")
    seed_means = per_seed["value"].mean().to_numpy(dtype=float)
    n_folds = int(per_seed["fold"].nunique().min())
    mean = float(seed_means.mean())
    if len(seed_means) >= 2:
        from scipy.stats import t

        se = float(np.std(seed_means, ddof=1) / math.sqrt(len(seed_means)))
        half = float(t.ppf(0.5 + CI_LEVEL / 2, len(seed_means) - 1)) * se
        return Estimate(mean, mean - half, mean + half, n_folds, len(seed_means), "seeds")
    low, high = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    if len(rows) == 1:
        method = "bootstrap" if np.isfinite(low[0]) and np.isfinite(high[0]) else "none"
        return Estimate(mean, float(low[0]), float(high[0]), 1, 1, method)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        return Estimate(mean, NAN, NAN, n_folds, 1, "none")
    spread = (high - low) / (2 * _Z)
    half = _Z * float(np.sqrt(np.sum(spread ** 2))) / len(rows)
    return Estimate(mean, mean - half, mean + half, n_folds, 1, "combined")


_METHOD_TEXT = {
    "bootstrap": "the run's 95\\,\\% image-level percentile bootstrap interval",
    "combined": "the folds' bootstrap intervals combined as independent normal errors "
                "($\\pm 1.96\\sqrt{\\sum_f s_f^2}/F$, $s_f$ = interval width$/3.92$)",
    "seeds": "a 95\\,\\% $t$-interval over seeds of the per-seed fold means (SE with ddof\\,=\\,1)",
    "hierarchical": "95\\,\\% intervals from a hierarchical bootstrap that resamples the training seeds and, "
                    "within every test set, its images (by source group)",
    "images": "95\\,\\% intervals from a bootstrap of the test images (by source group) of every run; with one "
              "training seed they do not include training randomness",
}


def interval_sentence(methods: Iterable[str]) -> str:
    """LaTeX caption sentence naming the interval rule(s) actually used in a table."""
    used = [m for m in ("bootstrap", "combined", "seeds", "hierarchical", "images") if m in set(methods)]
    if not used:
        return "No interval could be computed (too few images or runs)."
    return "Brackets: " + "; ".join(_METHOD_TEXT[m] for m in used) + "."


# --------------------------------------------------------------------------- formatting
def format_percent(value: float, *, signed: bool = False, tex: bool = True) -> str:
    """A fraction as percent with one decimal (the formatting rule); NaN as ``--``.

    Args:
        value: a fraction (0.573 -> ``57.3``).
        signed: prefix positive values with ``+`` (for differences).
        tex: write a negative sign as ``$-$`` (LaTeX) rather than ``-``.

    Returns:
        The text.
    """
    if value is None or not np.isfinite(value):
        return "--"
    text = f"{100 * float(value):.1f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else ("$-$" if tex else "-") + text[1:]
    elif signed and float(text) > 0:
        text = "+" + text
    return text


def format_interval(low: float, high: float, *, tex: bool = True) -> str:
    """``[low, high]`` in percent with one decimal; ``--`` when either end is NaN."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "--"
    return f"[{format_percent(low, tex=tex)}, {format_percent(high, tex=tex)}]"


def format_p(p: float) -> str:
    """A p-value with three decimals, ``$<$0.001`` below that, ``--`` for NaN."""
    if not np.isfinite(p):
        return "--"
    return "$<$0.001" if p < 0.001 else f"{p:.3f}"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: object) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def macro_name(*parts: str) -> str:
    """A LaTeX macro name (letters only) from words: ``("curriculum_only", "OOD")`` -> ``CurriculumOnlyOOD``.

    Words are split at anything that is not a letter or digit and capitalised; digits are spelled out
    (``fold2`` -> ``FoldTwo``), so folds that differ only in a number keep distinct names.

    Raises:
        ConfigError: the parts hold no letter or digit.
    """
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", str(part)) if w]
    if not words:
        raise ConfigError(f"cannot build a LaTeX macro name from {parts!r}; give words with letters")
    spelled = [re.sub(r"[0-9]", lambda m: _DIGITS[int(m.group())], w[:1].upper() + w[1:]) for w in words]
    return "".join(spelled)


def bold(text: str, on: bool) -> str:
    """``\\textbf{text}`` when ``on`` (never for the ``--`` of an undefined value)."""
    return f"\\textbf{{{text}}}" if on and text != "--" else text


# --------------------------------------------------------------------------- selecting rows
def metric_rows(
    df: pd.DataFrame,
    *,
    head: str,
    partition: str,
    metric: str = "miou",
    class_name: str | None = "",
    variants: Sequence[str] | None = None,
    folds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of the tidy table for one head, partition and metric (aggregate, one class or all), no domain rows.

    Args:
        df: the tidy results table.
        head: scored head, e.g. ``fine``.
        partition: ``id_test``, ``ood_test``, ``gap`` or ``val``.
        metric: ``miou`` (aggregate) or a per-class metric (``iou``, ``support_px``) with ``class_name``.
        class_name: "" for aggregate rows, a class name for its rows, None for the rows of every class.
        variants: variants to keep; None for all.
        folds: folds to keep; None for all.

    Returns:
        The matching rows.
    """
    sel = df[(df["head"] == head) & (df["partition"] == partition) & (df["metric"] == metric)
             & (df["domain"].fillna("") == "")]
    names = sel["class_name"].fillna("")
    sel = sel[names != ""] if class_name is None else sel[names == class_name]
    if variants is not None:
        sel = sel[sel["variant"].isin(list(variants))]
    if folds is not None:
        sel = sel[sel["fold"].isin(list(folds))]
    return sel


def ordered_variants(present: Iterable[str], variants: Sequence[str] | None) -> list[str]:
    """The variants of ``present`` in the order of ``variants``, or (None) in ablation order then by name."""
    present = list(dict.fromkeys(present))
    if variants is not None:
        return [v for v in variants if v in present]
    return sorted(present, key=lambda v: (VARIANT_ORDER.index(v) if v in VARIANT_ORDER else len(VARIANT_ORDER), v))


def fold_order(df: pd.DataFrame, folds: Sequence[str] | None) -> list[tuple[str, str]]:
    """(fold, held_out) pairs, in the given order or sorted by held-out name."""
    pairs = dict(zip(df["fold"], df["held_out"].fillna("")))
    keys = [f for f in folds if f in pairs] if folds is not None else sorted(pairs, key=lambda f: (pairs[f] or f))
    return [(f, pairs[f] or f) for f in keys]


def estimate_record(keys: dict, est: Estimate) -> dict:
    """A frame row: ``keys`` plus the estimate's fields (mean, low, high, n_folds, n_seeds, method)."""
    return {**keys, "mean": est.mean, "low": est.low, "high": est.high, "n_folds": est.n_folds,
            "n_seeds": est.n_seeds, "method": est.method}


def best_value(values: Sequence[float], partition: str) -> float:
    """The value a column bolds: the largest, or for the ``gap`` the smallest in absolute value; NaN if none."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return NAN
    return min(finite, key=abs) if partition == "gap" else max(finite)


def caption_tail(methods: Iterable[str]) -> str:
    """The end of every results caption: the interval rule(s) used and the absent-class rule."""
    return f"{interval_sentence(methods)} {tex_escape(ABSENT_CLASS_RULE)}"
