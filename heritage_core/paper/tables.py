"""The paper's LaTeX tables: a *frame* function computes the numbers, a *table* function formats them.

Frames hold fractions in [0, 1] (written as the tables' CSV twins); tables are booktabs ``table`` /
``table*`` floats with caption and label that ``main.tex`` can ``\\input`` as they are, following the
formatting rule of :mod:`heritage_core.paper.aggregate`. Only packages of Debian's
texlive-latex-base/-recommended are used (booktabs, no siunitx or multirow).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from heritage_core.dg import VARIANT_ORDER
from heritage_core.metrics import ABSENT_CLASS_RULE
from heritage_core.paper.aggregate import (
    MAIN_PARTITIONS,
    NAN,
    PARTITION_LABELS,
    VARIANT_LABELS,
    best_value,
    bold,
    caption_tail,
    estimate,
    estimate_record,
    fold_order,
    format_interval,
    format_p,
    format_percent,
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
def main_results(
    df: pd.DataFrame,
    *,
    head: str = "fine",
    variants: Sequence[str] | None = None,
    folds: Sequence[str] | None = None,
    encoders: Sequence[str] | None = None,
) -> pd.DataFrame:
    """ID, OOD and gap mIoU per encoder and variant, aggregated over folds and seeds (:func:`estimate`).

    Args:
        df: the tidy results table.
        head: scored head.
        variants: variants, in order; None for all (ablation order).
        folds: folds to aggregate over; None for all.
        encoders: encoders, in order; None for all, sorted.

    Returns:
        Columns ``encoder, variant, partition, mean, low, high, n_folds, n_seeds, method``; one row per encoder,
        variant and partition of ``id_test``, ``ood_test``, ``gap`` (fractions).
    """
    rows = []
    for encoder in list(encoders) if encoders is not None else sorted(set(df["encoder"])):
        sub = df[df["encoder"] == encoder]
        for variant in ordered_variants(sub["variant"], variants):
            for part in MAIN_PARTITIONS:
                sel = metric_rows(sub, head=head, partition=part, variants=[variant], folds=folds)
                rows.append(estimate_record({"encoder": encoder, "variant": variant, "partition": part}, estimate(sel)))
    return pd.DataFrame(rows, columns=["encoder", "variant", "partition", "mean", "low", "high", "n_folds", "n_seeds",
                                       "method"])


_STACK = "\\providecommand{\\valci}[2]{\\begin{tabular}[t]{@{}c@{}}#1\\\\[-1pt]{\\scriptsize #2}\\end{tabular}}"


def main_results_table(frame: pd.DataFrame, *, head: str = "fine", label: str = "tab:main_results") -> str:
    """The main results as a booktabs table, value over its interval in each cell.

    With one encoder it is a column-width ``table`` with a row per variant; with several it is a full-width
    ``table*`` with an encoder column and bold marking the best variant of each encoder.

    Args:
        frame: output of :func:`main_results`.
        head: scored head, for the caption.
        label: LaTeX label.

    Returns:
        The float, ready for ``\\input``.
    """
    n_folds = int(frame["n_folds"].max()) if len(frame) else 0
    n_seeds = int(frame["n_seeds"].max()) if len(frame) else 0
    several = frame["encoder"].nunique() > 1
    env = "table*" if several else "table"
    lines = [
        _STACK,
        f"\\begin{{{env}}}[t]", "\\centering", "\\small", "\\setlength{\\tabcolsep}{5pt}",
        f"\\caption{{mIoU (\\%) of the {tex_escape(head)} head in domain (ID), on the held-out domain (OOD) and "
        f"their gap (ID$-$OOD, points), mean over {n_folds} fold(s) and {n_seeds} seed(s). Bold: best "
        f"{'variant of each encoder ' if several else ''}per column (for the gap: smallest absolute gap). "
        f"{caption_tail(frame['method'])}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{" + ("ll" if several else "l") + "ccc}", "\\toprule",
        ("Encoder & " if several else "") + "Variant & ID mIoU & OOD mIoU & Gap \\\\",
    ]
    for encoder, enc_rows in frame.groupby("encoder", sort=False):
        lines.append("\\midrule")
        best = {p: best_value(enc_rows.loc[enc_rows["partition"] == p, "mean"].tolist(), p) for p in MAIN_PARTITIONS}
        for k, (variant, group) in enumerate(enc_rows.groupby("variant", sort=False)):
            cells = []
            for part in MAIN_PARTITIONS:
                r = group[group["partition"] == part].iloc[0]
                value = bold(format_percent(r["mean"]), np.isfinite(r["mean"]) and r["mean"] == best[part])
                cells.append(f"\\valci{{{value}}}{{{format_interval(r['low'], r['high'])}}}")
            first = (f"\\texttt{{{tex_escape(encoder)}}} & " if k == 0 else " & ") if several else ""
            lines.append(first + f"{tex_escape(VARIANT_LABELS.get(variant, variant))} & " + " & ".join(cells)
                         + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", f"\\end{{{env}}}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- per fold
def per_fold(
    df: pd.DataFrame, *, head: str = "fine", variants: Sequence[str] | None = None, folds: Sequence[str] | None = None
) -> pd.DataFrame:
    """ID, OOD and gap mIoU per fold and variant (over seeds when there are several).

    Returns:
        Columns ``fold, held_out, variant, partition, mean, low, high, n_folds, n_seeds, method``.
    """
    rows = []
    for fold, held_out in fold_order(df, folds):
        for variant in ordered_variants(df["variant"], variants):
            for part in MAIN_PARTITIONS:
                sel = metric_rows(df, head=head, partition=part, variants=[variant], folds=[fold])
                if sel.empty:
                    continue
                rows.append(estimate_record({"fold": fold, "held_out": held_out, "variant": variant,
                                             "partition": part}, estimate(sel)))
    return pd.DataFrame(rows, columns=["fold", "held_out", "variant", "partition", "mean", "low", "high", "n_folds",
                                       "n_seeds", "method"])


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
        f"\\caption{{Per-fold mIoU (\\%), {tex_escape(head)} head: in domain (ID), on the held-out domain (OOD) "
        f"and the DG gap (ID$-$OOD, points). Bold: best of the fold per column (for the gap: smallest absolute "
        f"gap). {caption_tail(frame['method'])}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{llccc}", "\\toprule",
        "Held-out domain & Variant & ID mIoU & OOD mIoU & Gap \\\\",
    ]
    for (fold, held_out), group in frame.groupby(["fold", "held_out"], sort=False):
        lines.append("\\midrule")
        best = {p: best_value(group.loc[group["partition"] == p, "mean"].tolist(), p) for p in MAIN_PARTITIONS}
        for k, (variant, vg) in enumerate(group.groupby("variant", sort=False)):
            cells = []
            for part in MAIN_PARTITIONS:
                r = vg[vg["partition"] == part]
                if r.empty:
                    cells.append("--")
                    continue
                r = r.iloc[0]
                value = bold(format_percent(r["mean"]), np.isfinite(r["mean"]) and r["mean"] == best[part])
                cells.append(f"{value} {{\\scriptsize {format_interval(r['low'], r['high'])}}}")
            name = tex_escape(held_out) if k == 0 else ""
            lines.append(f"{name} & {tex_escape(VARIANT_LABELS.get(variant, variant))} & " + " & ".join(cells)
                         + " \\\\")
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
    short = {"flat": "Flat", "hierarchical": "Hier.", "curriculum_only": "Curr.\\ only", "curriculum": "Curr."}
    where = PARTITION_LABELS.get(partition, partition)
    lines = [
        "\\begin{table}[t]", "\\centering", "\\footnotesize", "\\setlength{\\tabcolsep}{3.5pt}",
        f"\\caption{{Per-class IoU (\\%) on the {where} test sets, {tex_escape(head)} head, mean over the folds "
        f"and seeds in which the class is scored; support: labelled test pixels summed over folds. Bold: best "
        f"per class. {tex_escape(ABSENT_CLASS_RULE)}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{lr" + "c" * len(variants) + "}", "\\toprule",
        "Class & Support & " + " & ".join(short.get(v, tex_escape(v)) for v in variants) + " \\\\", "\\midrule",
    ]
    for name, group in frame.groupby("class_name", sort=False):
        values = group.set_index("variant")["mean"]
        best = best_value(values.tolist(), "")
        cells = [bold(format_percent(values[v]), np.isfinite(values[v]) and values[v] == best) for v in variants]
        lines.append(f"{tex_escape(name)} & {_format_pixels(group['support_px'].iloc[0])} & " + " & ".join(cells)
                     + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- ablation
def ablation(
    comparisons: pd.DataFrame,
    *,
    head: str = "fine",
    variants: Sequence[str] | None = None,
    folds: Sequence[str] | None = None,
    partitions: Sequence[str] = ("id_test", "ood_test"),
) -> pd.DataFrame:
    """Paired ΔmIoU (b − a) per variant pair and partition, aggregated over folds and seeds.

    Args:
        comparisons: the table of :func:`heritage_core.dg.compare_variants` (``comparisons.csv``).
        head: scored head.
        variants: variants whose pairs are kept; None for all.
        folds: folds to keep; None for all.
        partitions: partitions, in column order.

    Returns:
        Columns ``variant_a, variant_b, partition, mean, low, high, n_folds, n_seeds, method, n, n_significant,
        p_holm, family_size``; ``p_holm`` is the comparison's Holm-adjusted p-value when ``n`` (the number of
        fold × seed comparisons) is 1, NaN otherwise; ``family_size`` is the number of p-values Holm's
        correction was applied to (the whole comparisons table).
    """
    family = int(comparisons["p_value"].notna().sum()) if len(comparisons) else 0
    sel = comparisons[(comparisons["head"] == head) & (comparisons["metric"] == "miou")]
    if folds is not None:
        sel = sel[sel["fold"].isin(list(folds))]
    if variants is not None:
        sel = sel[sel["variant_a"].isin(list(variants)) & sel["variant_b"].isin(list(variants))]
    rank = {v: k for k, v in enumerate(VARIANT_ORDER)}
    pairs = sorted(set(zip(sel["variant_a"], sel["variant_b"])),
                   key=lambda p: (rank.get(p[1], 99), rank.get(p[0], 99), p))
    rows = []
    for a, b in pairs:
        for part in partitions:
            g = sel[(sel["variant_a"] == a) & (sel["variant_b"] == b) & (sel["partition"] == part)]
            if g.empty:
                continue
            est = estimate(g.rename(columns={"delta": "value"})[["fold", "seed", "value", "ci_low", "ci_high"]])
            significant = g["significant"].astype("boolean").fillna(False).astype(bool)
            rows.append(estimate_record({"variant_a": a, "variant_b": b, "partition": part}, est) | {
                "n": len(g), "n_significant": int(significant.sum()),
                "p_holm": float(g["p_holm"].iloc[0]) if len(g) == 1 else NAN, "family_size": family})
    return pd.DataFrame(rows, columns=["variant_a", "variant_b", "partition", "mean", "low", "high", "n_folds",
                                       "n_seeds", "method", "n", "n_significant", "p_holm", "family_size"])


def ablation_table(frame: pd.DataFrame, *, head: str = "fine", alpha: float = 0.05, label: str = "tab:ablation") -> str:
    """The ablation: paired ΔmIoU with intervals and Holm-corrected significance, full width.

    The significance column shows the Holm-adjusted p-value when a pair was compared once (one fold and
    seed) and otherwise ``k/n``: the number of its fold × seed comparisons with adjusted p < ``alpha``.

    Args:
        frame: output of :func:`ablation`.
        head: scored head, for the caption.
        alpha: family-wise error level used for ``significant`` in the comparisons table.
        label: LaTeX label.

    Returns:
        The ``table*`` float.
    """
    parts = list(dict.fromkeys(frame["partition"])) or ["id_test", "ood_test"]
    family = int(frame["family_size"].max()) if len(frame) else 0
    best = {p: best_value(frame.loc[frame["partition"] == p, "mean"].tolist(), "") for p in parts}
    header = " & ".join(f"$\\Delta$ {PARTITION_LABELS.get(p, p)} mIoU & $p_\\mathrm{{Holm}}$" for p in parts)
    lines = [
        "\\begin{table*}[t]", "\\centering", "\\small",
        f"\\caption{{Ablation, {tex_escape(head)} head: paired difference $\\Delta$mIoU = mIoU(B)$-$mIoU(A) in "
        f"points on the same test images (paired image-level bootstrap per fold and seed), and the two-sided paired "
        f"permutation test, Holm-corrected over all {family} comparisons of the suite. $p_\\mathrm{{Holm}}$: the "
        f"adjusted p-value of a single comparison, or $k/n$, the number of fold$\\times$seed comparisons with "
        f"adjusted $p<{alpha:g}$. Bold: largest $\\Delta$ per column. {caption_tail(frame['method'])}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{l" + "cc" * len(parts) + "}", "\\toprule",
        f"B vs.\\ A & {header} \\\\", "\\midrule",
    ]
    for (a, b), group in frame.groupby(["variant_a", "variant_b"], sort=False):
        cells = []
        for part in parts:
            r = group[group["partition"] == part]
            if r.empty:
                cells += ["--", "--"]
                continue
            r = r.iloc[0]
            delta = bold(format_percent(r["mean"], signed=True), np.isfinite(r["mean"]) and r["mean"] == best[part])
            cells.append(f"{delta} {{\\scriptsize {format_interval(r['low'], r['high'])}}}")
            cells.append(format_p(r["p_holm"]) if r["n"] == 1 else f"{int(r['n_significant'])}/{int(r['n'])}")
        name = f"{VARIANT_LABELS.get(b, b)} vs.\\ {VARIANT_LABELS.get(a, a)}"
        lines.append(f"{name} & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table*}"]
    return "\n".join(lines) + "\n"


