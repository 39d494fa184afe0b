"""The paper's LaTeX tables: a *frame* function selects the numbers, a *table* function formats them.

The main, per-fold and ablation numbers come from the headline tables of notebook 04
(:mod:`heritage_core.evaluation.headline`: hierarchical bootstrap over seeds and test images, the all-Clean floor, the
common class set, complete grids only); the per-class table aggregates the tidy results. Frames hold fractions
in [0, 1] (written as the tables' CSV twins); tables are booktabs ``table`` / ``table*`` floats with caption and
label that ``main.tex`` can ``\\input`` as they are, following the formatting rule of
:mod:`heritage_core.report.aggregate`: every result sits beside the floor's row, an "X" marks a cell whose
fold x seed grid is incomplete, and a dagger marks a result whose interval does not clear the floor. Only
packages of Debian's texlive-latex-base/-recommended are used (booktabs, no siunitx or multirow).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE
from heritage_core.report.aggregate import (
    FLOOR,
    MAIN_PARTITIONS,
    NAN,
    PARTITION_LABELS,
    VARIANT_LABELS,
    best_value,
    bold,
    estimate,
    estimate_record,
    format_interval,
    format_p,
    format_percent,
    interval_sentence,
    metric_rows,
    ordered_variants,
    tex_escape,
)

__all__ = [
    "main_results",
    "main_results_table",
    "per_fold",
    "per_fold_table",
    "per_class",
    "per_class_table",
    "ablation",
    "ablation_table",
]

# --------------------------------------------------------------------------- main results
FLOOR_LABEL = VARIANT_LABELS[FLOOR]
_COLUMNS = ["encoder", "variant", "fold", "held_out", "partition", "mean", "low", "high", "n_folds", "n_seeds",
            "n_classes", "complete", "clears_floor"]


def _with_floor_marks(frame: pd.DataFrame) -> pd.DataFrame:
    """``clears_floor``: the interval's lower end lies above the floor's value of the same cell (NaN for the
    floor itself and for the gap, where a smaller value is better)."""
    floor = frame[frame["variant"] == FLOOR].set_index(["encoder", "fold", "partition"])["mean"]
    def clears(r: pd.Series) -> float:
        if r["variant"] == FLOOR or r["partition"] == "gap" or not np.isfinite(r["low"]):
            return NAN
        f = floor.get((r["encoder"], r["fold"], r["partition"]), NAN)
        return float(r["low"] > f) if np.isfinite(f) else NAN
    frame = frame.copy()
    frame["clears_floor"] = frame.apply(clears, axis=1) if len(frame) else []
    return frame


def _headline_frame(headline: pd.DataFrame, head: str, variants: Sequence[str] | None,
                    encoders: Sequence[str] | None, per_fold: bool) -> pd.DataFrame:
    sel = headline[(headline["head"] == head) & ((headline["fold"] != "") if per_fold else (headline["fold"] == ""))]
    if encoders is not None:
        sel = sel[sel["encoder"].isin(list(encoders))]
    order = [*ordered_variants([v for v in sel["variant"] if v != FLOOR], variants), FLOOR]
    sel = sel[sel["variant"].isin(order)].copy()
    sel["_v"] = sel["variant"].map(order.index)
    enc = list(encoders) if encoders is not None else sorted(set(sel["encoder"]))
    sel["_e"] = sel["encoder"].map(lambda e: enc.index(e) if e in enc else len(enc))
    sel["_p"] = sel["partition"].map(list(MAIN_PARTITIONS).index)
    sel = sel.sort_values(["_e", "fold", "_v", "_p"]).drop(columns=["_v", "_e", "_p"])
    return _with_floor_marks(sel.reset_index(drop=True))[_COLUMNS]


def main_results(
    headline: pd.DataFrame,
    *,
    head: str = "fine",
    variants: Sequence[str] | None = None,
    encoders: Sequence[str] | None = None,
) -> pd.DataFrame:
    """ID, OOD and gap mIoU per encoder and variant, and the all-Clean floor, over all folds and seeds.

    Args:
        headline: :func:`heritage_core.evaluation.headline.headline_results` (``headline.csv``).
        head: scored head.
        variants: variants, in order; None for all (ablation order). The floor is always last.
        encoders: encoders, in order; None for all, sorted.

    Returns:
        Columns ``encoder, variant, fold, held_out, partition, mean, low, high, n_folds, n_seeds, n_classes,
        complete, clears_floor`` (fractions); ``fold`` is "".
    """
    return _headline_frame(headline, head, variants, encoders, per_fold=False)


_STACK = "\\providecommand{\\valci}[2]{\\begin{tabular}[t]{@{}c@{}}#1\\\\[-1pt]{\\scriptsize #2}\\end{tabular}}"
_DAGGER = "$^\\dagger$"


def _cell(r: pd.Series, best: float, stacked: bool) -> str:
    if not bool(r["complete"]):
        return "X"
    value = bold(format_percent(r["mean"]), r["variant"] != FLOOR and np.isfinite(r["mean"]) and r["mean"] == best)
    if r["clears_floor"] == 0.0:
        value += _DAGGER
    ci = format_interval(r["low"], r["high"])
    return f"\\valci{{{value}}}{{{ci}}}" if stacked else f"{value} {{\\scriptsize {ci}}}"


def _label(variant: str) -> str:
    return FLOOR_LABEL if variant == FLOOR else tex_escape(VARIANT_LABELS.get(variant, variant))


def _results_caption(frame: pd.DataFrame, head: str, what: str) -> str:
    per_fold = len(frame) and (frame["fold"] != "").all()
    n_folds = int(frame["fold"].nunique()) if per_fold else (int(frame["n_folds"].max()) if len(frame) else 0)
    n_seeds = int(frame["n_seeds"].max()) if len(frame) else 0
    k = frame["n_classes"].dropna()
    classes = f"{k.min():.0f}--{k.max():.0f}" if len(k) and k.min() != k.max() else (f"{k.iloc[0]:.0f}" if len(k) else "--")
    return (f"{what} mIoU (\\%) of the {tex_escape(head)} head in domain (ID), on the held-out domain (OOD) and their "
            f"gap (ID$-$OOD, points), {n_folds} fold(s), {n_seeds} seed(s). Every mIoU here averages one class set "
            f"per fold, the classes labelled in at least two images of both its test sets ({classes} of 16 classes), "
            f"fixed across resamples. {FLOOR_LABEL}: the predictor that labels every pixel Clean, on the same images; "
            f"$^\\dagger$: the interval does not clear the floor. X: the fold$\\times$seed grid of the cell is "
            f"incomplete (never a mean of fewer runs). Bold: best per column (gap: smallest absolute). "
            f"{interval_sentence(['hierarchical'] if n_seeds > 1 else ['images'])} {tex_escape(ABSENT_CLASS_RULE)}")


def main_results_table(frame: pd.DataFrame, *, head: str = "fine", label: str = "tab:main_results") -> str:
    """The main results as a booktabs table, value over its interval in each cell, the floor's row last.

    With one encoder it is a column-width ``table`` with a row per variant; with several it is a full-width
    ``table*`` with an encoder column and bold marking the best variant of each encoder.

    Args:
        frame: output of :func:`main_results`.
        head: scored head, for the caption.
        label: LaTeX label.

    Returns:
        The float, ready for ``\\input``.
    """
    several = frame["encoder"].nunique() > 1
    env = "table*" if several else "table"
    lines = [
        _STACK, f"\\begin{{{env}}}[t]", "\\centering", "\\small", "\\setlength{\\tabcolsep}{5pt}",
        f"\\caption{{{_results_caption(frame, head, 'Main results:')}}}", f"\\label{{{label}}}",
        "\\begin{tabular}{" + ("ll" if several else "l") + "ccc}", "\\toprule",
        ("Encoder & " if several else "") + "Variant & ID mIoU & OOD mIoU & Gap \\\\",
    ]
    for encoder, enc_rows in frame.groupby("encoder", sort=False):
        lines.append("\\midrule")
        models = enc_rows[enc_rows["variant"] != FLOOR]
        best = {p: best_value(models.loc[models["partition"] == p, "mean"].tolist(), p) for p in MAIN_PARTITIONS}
        for k, (variant, group) in enumerate(enc_rows.groupby("variant", sort=False)):
            if variant == FLOOR:
                lines.append("\\cmidrule(lr){" + ("2" if several else "1") + f"-{5 if several else 4}}}")
            cells = [_cell(group[group["partition"] == p].iloc[0], best[p], True) for p in MAIN_PARTITIONS]
            first = (f"\\texttt{{{tex_escape(encoder)}}} & " if k == 0 else " & ") if several else ""
            lines.append(first + f"{_label(variant)} & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", f"\\end{{{env}}}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- per fold
def per_fold(
    headline: pd.DataFrame, *, head: str = "fine", variants: Sequence[str] | None = None,
    encoder: str | None = None,
) -> pd.DataFrame:
    """ID, OOD and gap mIoU per fold and variant, and the floor (over seeds when there are several).

    Returns:
        Columns as :func:`main_results`, one block per fold.
    """
    return _headline_frame(headline, head, variants, None if encoder is None else [encoder], per_fold=True)


def per_fold_table(frame: pd.DataFrame, *, head: str = "fine", label: str = "tab:per_fold") -> str:
    """Per-fold results as a full-width booktabs table (``table*``), best per fold and column in bold.

    Args:
        frame: output of :func:`per_fold`.
        head: scored head, for the caption.
        label: LaTeX label.

    Returns:
        The ``table*`` float.
    """
    lines = [
        "\\begin{table*}[t]", "\\centering", "\\small",
        f"\\caption{{{_results_caption(frame, head, 'Per-fold')}}}", f"\\label{{{label}}}",
        "\\begin{tabular}{llccc}", "\\toprule",
        "Held-out domain & Variant & ID mIoU & OOD mIoU & Gap \\\\",
    ]
    for (fold, held_out), group in frame.groupby(["fold", "held_out"], sort=False):
        lines.append("\\midrule")
        models = group[group["variant"] != FLOOR]
        best = {p: best_value(models.loc[models["partition"] == p, "mean"].tolist(), p) for p in MAIN_PARTITIONS}
        for k, (variant, vg) in enumerate(group.groupby("variant", sort=False)):
            cells = [_cell(vg[vg["partition"] == p].iloc[0], best[p], False) if (vg["partition"] == p).any() else "--"
                     for p in MAIN_PARTITIONS]
            name = tex_escape(held_out or fold) if k == 0 else ""
            lines.append(f"{name} & {_label(variant)} & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table*}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- per class
def per_class(
    df: pd.DataFrame,
    *,
    head: str = "fine",
    partition: str = "ood_test",
    variants: Sequence[str] | None = None,
    folds: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per-class IoU per variant (aggregated over folds and seeds where the class is scored) and support.

    The support is the number of test pixels labelled with the class, summed over the folds of the first
    variant and its first seed (every variant of a fold and seed scores the same images).

    Args:
        df: the tidy table.
        head: scored head.
        partition: ``ood_test`` or ``id_test``.
        variants: variants to keep; None for all.
        folds: folds to keep; None for all.
        class_names: class order; None for the order of the table.

    Returns:
        Columns ``class_name, variant, mean, low, high, n_folds, n_seeds, method, support_px``.
    """
    iou = metric_rows(df, head=head, partition=partition, metric="iou", class_name=None, variants=variants, folds=folds)
    support = metric_rows(df, head=head, partition=partition, metric="support_px", class_name=None, folds=folds)
    order = ordered_variants(iou["variant"], variants)
    if order:
        support = support[support["variant"] == order[0]]
        support = support[support["seed"] == support["seed"].min()]
    px = support.groupby("class_name")["value"].sum()
    names = list(class_names) if class_names is not None else list(dict.fromkeys(iou["class_name"]))
    rows = []
    for name in names:
        for variant in order:
            sel = iou[(iou["class_name"] == name) & (iou["variant"] == variant)]
            rows.append(estimate_record({"class_name": name, "variant": variant}, estimate(sel))
                        | {"support_px": float(px.get(name, NAN))})
    return pd.DataFrame(rows, columns=["class_name", "variant", "mean", "low", "high", "n_folds", "n_seeds", "method",
                                       "support_px"])


def _format_pixels(px: float) -> str:
    if not np.isfinite(px):
        return "--"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if px >= scale:
            return f"{px / scale:.1f}\\,{unit}"
    return f"{int(px)}"


def per_class_table(
    frame: pd.DataFrame, *, head: str = "fine", partition: str = "ood_test", label: str = "tab:per_class"
) -> str:
    """Per-class IoU (%) per variant with the test support, column width; best per class in bold.

    Intervals are left out for space (they are in the CSV twin of the table).

    Args:
        frame: output of :func:`per_class`.
        head: scored head, for the caption.
        partition: partition, for the caption.
        label: LaTeX label.

    Returns:
        The ``table`` float.
    """
    variants = list(dict.fromkeys(frame["variant"]))
    short = {"flat": "Flat", "hierarchical": "Hier.", "hierarchical_staged": "Staged", "curriculum_only": "Curr.\\ only",
             "curriculum": "Curr."}
    where = PARTITION_LABELS.get(partition, partition)
    if partition == "gap":
        caption = (f"Per-class DG gap, ID$-$OOD IoU in points, {tex_escape(head)} head, mean over the folds and seeds "
                   f"in which the class is in the fold's common class set (labelled in at least two images of both "
                   f"test sets; elsewhere it has no comparable gap). Bold: smallest absolute gap per class; the "
                   f"intervals are in the CSV twin. {tex_escape(ABSENT_CLASS_RULE)}")
    else:
        caption = (f"Per-class IoU (\\%) on the {where} test sets, {tex_escape(head)} head, mean over the folds "
                   f"and seeds in which the class is scored; support: labelled test pixels summed over folds. Bold: "
                   f"best per class. The all-Clean floor scores 0 on every labelled damage class. "
                   f"{tex_escape(ABSENT_CLASS_RULE)}")
    lines = [
        "\\begin{table}[t]", "\\centering", "\\footnotesize", "\\setlength{\\tabcolsep}{3.5pt}",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{lr" + "c" * len(variants) + "}", "\\toprule",
        "Class & Support & " + " & ".join(short.get(v, tex_escape(v)) for v in variants) + " \\\\", "\\midrule",
    ]
    for name, group in frame.groupby("class_name", sort=False):
        values = group.set_index("variant")["mean"]
        best = best_value(values.tolist(), partition if partition == "gap" else "")
        cells = [bold(format_percent(values[v], signed=partition == "gap"), np.isfinite(values[v]) and values[v] == best)
                 for v in variants]
        lines.append(f"{tex_escape(name)} & {_format_pixels(group['support_px'].iloc[0])} & " + " & ".join(cells)
                     + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- ablation
def ablation(
    headline_comparisons: pd.DataFrame,
    budgets: pd.DataFrame,
    comparisons: pd.DataFrame,
    *,
    head: str = "fine",
    encoder: str | None = None,
    variants: Sequence[str] | None = None,
    baseline: str = "flat",
    partitions: Sequence[str] = ("id_test", "ood_test"),
) -> pd.DataFrame:
    """One row per variant (and the floor): its design factors, training budget and ΔmIoU against the baseline.

    Args:
        headline_comparisons: :func:`heritage_core.evaluation.headline.headline_comparisons` (mean over (fold, seed)
            pairs, hierarchical-bootstrap interval, sign-flip p, Holm).
        budgets: :func:`heritage_core.evaluation.headline.budgets`.
        comparisons: the per-run paired tests (:func:`heritage_core.evaluation.dg.compare_variants`), for the count of
            (fold, seed) comparisons significant on their own (secondary).
        head: scored head.
        encoder: encoder; None for the first in ``budgets``.
        variants: variants, in order; None for all (ablation order).
        baseline: the variant every Δ is taken against.
        partitions: partitions, in column order.

    Returns:
        Columns ``variant, loss, schedule, head_order, steps, fine_steps, summed_lr, partition, mean, low,
        high, n_pairs, p_holm, p_sign_flip, complete, n_significant, n`` (one row per variant and partition;
        the baseline's Δ is 0 by definition and has no test; the floor's is floor − baseline).
    """
    encoder = encoder or (str(budgets["encoder"].iloc[0]) if len(budgets) else "")
    hc = headline_comparisons[(headline_comparisons["head"] == head) & (headline_comparisons["encoder"] == encoder)]
    bud = budgets[budgets["encoder"] == encoder].set_index("variant")
    present = [v for v in bud.index]
    order = [*ordered_variants(present, variants), FLOOR]
    rows = []
    for variant in order:
        b = bud.loc[variant] if variant in bud.index else None
        for part in partitions:
            row = dict(variant=variant, loss="--" if b is None else b["loss"],
                       schedule="--" if b is None else b["schedule"], head_order="--" if b is None else b["head_order"],
                       steps=NAN if b is None else float(b["steps"]), fine_steps=NAN if b is None else float(b["fine_steps"]),
                       summed_lr=NAN if b is None else float(b["summed_lr"]), partition=part, mean=NAN, low=NAN,
                       high=NAN, n_pairs=0, p_holm=NAN, p_sign_flip=NAN, complete=True, n_significant=0, n=0)
            if variant == baseline:
                row.update(mean=0.0)
            else:
                a, bb, sign = (baseline, variant, 1.0) if variant != FLOOR else (FLOOR, baseline, -1.0)
                r = hc[(hc["variant_a"] == a) & (hc["variant_b"] == bb) & (hc["partition"] == part)]
                if len(r):
                    r = r.iloc[0]
                    lo, hi = sign * r["low"], sign * r["high"]
                    row.update(mean=sign * r["mean"], low=min(lo, hi), high=max(lo, hi), n_pairs=int(r["n_pairs"]),
                               p_holm=float(r["p_holm"]), p_sign_flip=float(r["p_sign_flip"]),
                               complete=bool(r["complete"]))
                per_run = comparisons[(comparisons["head"] == head) & (comparisons["encoder"] == encoder)
                                      & (comparisons["variant_a"] == baseline) & (comparisons["variant_b"] == variant)
                                      & (comparisons["partition"] == part)] if len(comparisons) else comparisons
                if len(per_run):
                    row.update(n=len(per_run), n_significant=int(per_run["significant"].astype("boolean")
                                                                 .fillna(False).astype(bool).sum()))
            rows.append(row)
    return pd.DataFrame(rows, columns=["variant", "loss", "schedule", "head_order", "steps", "fine_steps", "summed_lr",
                                       "partition", "mean", "low", "high", "n_pairs", "p_holm", "p_sign_flip",
                                       "complete", "n_significant", "n"])


def _steps(x: float) -> str:
    return "--" if not np.isfinite(x) else f"{x / 1000:.1f}\\,k" if x >= 10_000 else f"{int(round(x))}"


def ablation_table(frame: pd.DataFrame, *, head: str = "fine", baseline: str = "flat", alpha: float = 0.05,
                   label: str = "tab:ablation") -> str:
    """The ablation at equal budget: factors, budget, and ΔmIoU against the baseline per partition.

    Args:
        frame: output of :func:`ablation`.
        head: scored head, for the caption.
        baseline: the variant of the Δ, for the caption.
        alpha: family-wise level of the tests.
        label: LaTeX label.

    Returns:
        The ``table*`` float.
    """
    parts = list(dict.fromkeys(frame["partition"])) or ["id_test", "ood_test"]
    n_pairs = int(frame["n_pairs"].max()) if len(frame) else 0
    header = " & ".join(f"$\\Delta$ {PARTITION_LABELS.get(p, p)} & $p$" for p in parts)
    lines = [
        "\\begin{table*}[t]", "\\centering", "\\footnotesize", "\\setlength{\\tabcolsep}{3.5pt}",
        f"\\caption{{Ablation at equal budget, {tex_escape(head)} head. Each variant's place in the design (loss; "
        f"schedule: one cosine cycle or the curriculum's three stages; order in which heads join) and its training "
        f"budget: optimiser steps, steps whose loss includes the fine head, and the learning rate summed over all "
        f"steps. $\\Delta$: mIoU(variant)$-$mIoU({tex_escape(VARIANT_LABELS.get(baseline, baseline))}) in points, "
        f"mean over the {n_pairs} paired (fold, seed) runs on the same test images, 95\\,\\% interval from a "
        f"hierarchical bootstrap over seeds and images; $p$: two-sided sign-flip test over the paired deltas "
        f"(exact; across training randomness, so with few pairs it cannot be small), Holm-corrected over the "
        f"variant comparisons, with in brackets the number of single-run paired permutation tests significant at "
        f"{alpha:g} after Holm. {FLOOR_LABEL}: the floor's difference to the baseline. X: incomplete grid. "
        f"{tex_escape(ABSENT_CLASS_RULE)}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{llllrrr" + "cc" * len(parts) + "}", "\\toprule",
        f"Variant & Loss & Schedule & Head order & Steps & Fine steps & $\\Sigma$lr & {header} \\\\", "\\midrule",
    ]
    for variant, group in frame.groupby("variant", sort=False):
        r0 = group.iloc[0]
        cells = [_label(variant), *(tex_escape(r0[k]) for k in ("loss", "schedule", "head_order")),
                 _steps(r0["steps"]), _steps(r0["fine_steps"]),
                 "--" if not np.isfinite(r0["summed_lr"]) else f"{r0['summed_lr']:.3g}"]
        for part in parts:
            r = group[group["partition"] == part].iloc[0]
            if not bool(r["complete"]):
                cells += ["X", "X"]
                continue
            if variant == baseline:
                cells += ["0 (ref.)", "--"]
                continue
            cells.append(f"{format_percent(r['mean'], signed=True)} {{\\scriptsize {format_interval(r['low'], r['high'])}}}")
            extra = f" ({int(r['n_significant'])}/{int(r['n'])})" if r["n"] else ""
            cells.append((format_p(r["p_holm"]) if np.isfinite(r["p_holm"]) else format_p(r["p_sign_flip"])) + extra)
        if variant == FLOOR:
            lines.append("\\midrule")
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table*}"]
    return "\n".join(lines) + "\n"
