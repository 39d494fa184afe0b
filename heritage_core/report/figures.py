"""The paper's figures, as pure functions from data (tidy tables, histories, counts, masks) to a Figure.

Each function draws with whatever rcParams are active; :func:`heritage_core.report.write_figure` calls
them inside :func:`~heritage_core.report.style.paper_style` and saves PDF and PNG.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from heritage_core.report.aggregate import FLOOR, fold_order, metric_rows, ordered_variants
from heritage_core.report.style import (
    CMAP,
    COLUMN_WIDTH_IN,
    FULL_WIDTH_IN,
    HEAD_STYLE,
    PARTITION_NAMES,
    VARIANT_MARKERS,
    class_swatches,
    draw_confusion,
    draw_na_cell,
    text_colour,
    variant_colour,
    variant_label,
    wrap_label,
)
from heritage_core.taxonomy import HEADS, IGNORE_INDEX, Taxonomy, default_taxonomy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from heritage_core.splits.report import SplitReport

__all__ = [
    "training_curves_figure",
    "dg_gap_figure",
    "class_iou_heatmap",
    "class_gap_figure",
    "confusion_figure",
    "QualitativeExample",
    "qualitative_figure",
    "class_distribution_figure",
]

# --------------------------------------------------------------------------- figures
def training_curves_figure(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """Training loss and validation mIoU per epoch, one column per variant, with the curriculum's stages.

    Epochs are counted across stages; a dotted line marks each stage boundary, each span carries its
    stage number above the plot, and the panel title lists the stages (``1 binary · 2 coarse · 3 fine``).
    An open circle marks the epoch each stage selected (its best ``val_score``, first on ties). Notebook 02
    draws one run with it (:func:`heritage_core.report.train_plots.plot_history`).

    Args:
        histories: variant -> its run's ``history.csv`` (:data:`heritage_core.train.HISTORY_COLUMNS`).

    Returns:
        The figure (full width).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = max(1, len(histories))
    fig, axes = plt.subplots(2, n, figsize=(FULL_WIDTH_IN, 3.1), squeeze=False, sharex="col", layout="constrained")
    heads_shown: dict[str, Any] = {}
    selected = None
    for k, (variant, hist) in enumerate(histories.items()):
        hist = hist.sort_values(["stage", "epoch"]).reset_index(drop=True)
        x = np.arange(1, len(hist) + 1)
        top, bottom = axes[0, k], axes[1, k]
        top.plot(x, hist["loss_total"], color=variant_colour(variant), marker=VARIANT_MARKERS.get(variant, "o"),
                 markersize=2.5, markevery=max(1, len(x) // 12))
        for head in HEADS:
            column = f"val_miou_{head}"
            val = hist[column].to_numpy(dtype=float) if column in hist else np.array([np.nan])
            scored = np.isfinite(val)  # epochs that were validated (every val_interval epochs)
            if scored.any():
                colour, style = HEAD_STYLE[head]
                heads_shown[head] = bottom.plot(x[scored], 100 * val[scored], color=colour, linestyle=style)[0]
        for _, rows in hist.groupby("stage", sort=True):
            scores = rows["val_score"].to_numpy(dtype=float) if "val_score" in rows else np.array([np.nan])
            if np.isfinite(scores).any():
                best = int(np.nanargmax(scores))
                selected = bottom.plot(x[rows.index[best]], 100 * scores[best], "o", markersize=5, mfc="none",
                                       mec="#333333", mew=0.7)[0]
        starts = hist.index[hist["stage"] != hist["stage"].shift()].tolist()
        ends = starts[1:] + [len(hist)]
        for number, (s, e) in enumerate(zip(starts, ends), start=1):
            if s > 0:
                for ax in (top, bottom):
                    ax.axvline(s + 0.5, color="#777777", linestyle=(0, (1, 1.5)), linewidth=0.7)
            if len(starts) > 1:
                top.text((s + e) / 2 + 0.5, 1.0, str(number), transform=top.get_xaxis_transform(), ha="center",
                         va="bottom", fontsize=7, color="#333333")
        stages = " · ".join(f"{i} {hist.loc[s, 'stage_name']}" if len(starts) > 1 else f"stage: {hist.loc[s, 'stage_name']}"
                            for i, s in enumerate(starts, start=1))
        top.set_title(f"{variant_label(variant)}\n{stages}", pad=12 if len(starts) > 1 else 4)
        bottom.set_ylim(0, 100)
        bottom.set_xlabel("epoch (all stages)")
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        top.set_xlim(0.5, len(hist) + 0.5)
        if k == 0:
            top.set_ylabel("training loss")
            bottom.set_ylabel("val mIoU (%)")
        else:
            bottom.tick_params(labelleft=False)
    if heads_shown:
        order = [h for h in HEADS if h in heads_shown]
        handles, labels = [heads_shown[h] for h in order], [f"{h} head" for h in order]
        if selected is not None:
            handles, labels = handles + [selected], labels + ["selected epoch of a stage"]
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles))
    return fig


def dg_gap_figure(per_fold_frame: pd.DataFrame) -> Figure:
    """DG gap (ID − OOD mIoU) per held-out domain and variant, with 95 % intervals.

    Args:
        per_fold_frame: output of :func:`heritage_core.report.per_fold` (its ``gap`` rows are drawn).

    Returns:
        The figure (column width).
    """
    import matplotlib.pyplot as plt

    gap = per_fold_frame[per_fold_frame["partition"] == "gap"]
    folds = list(dict.fromkeys(zip(gap["fold"], gap["held_out"])))
    variants = list(dict.fromkeys(gap["variant"]))
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.5), layout="constrained")
    width = 0.8 / max(1, len(variants))
    for j, variant in enumerate(variants):
        sub = gap[gap["variant"] == variant].set_index("fold")
        xs, ys, lo, hi = [], [], [], []
        for i, (fold, _) in enumerate(folds):
            if fold not in sub.index:
                continue
            r = sub.loc[fold]
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(100 * r["mean"])
            lo.append(100 * (r["mean"] - r["low"]) if np.isfinite(r["low"]) else 0.0)
            hi.append(100 * (r["high"] - r["mean"]) if np.isfinite(r["high"]) else 0.0)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt=VARIANT_MARKERS.get(variant, "o"), color=variant_colour(variant),
                    markersize=3.5, elinewidth=0.9, capsize=1.5, label=variant_label(variant))
    ax.axhline(0, color="#555555", linewidth=0.6)
    ax.set_xticks(range(len(folds)), [wrap_label(h, 12) for _, h in folds])
    ax.set_xlim(-0.6, len(folds) - 0.4)
    ax.set_xlabel("held-out domain (fold)")
    ax.set_ylabel("DG gap, ID $-$ OOD mIoU (points)")
    fig.legend(loc="outside upper center", ncol=min(4, max(1, len(variants))), handletextpad=0.2,
               columnspacing=0.8)
    return fig


def _class_fold_panels(
    rows: pd.DataFrame,
    panel_variants: Sequence[str],
    names: Sequence[str],
    fold_pairs: Sequence[tuple[str, str]],
    *,
    cmap: str,
    limits: tuple[float, float],
    cell_text: Any,
    colourbar_label: str,
    swatches: Sequence[str] | None,
) -> Figure:
    """Class × fold heat maps of ``rows["value"]`` (fractions, shown ×100), one panel per variant (mean over
    seeds), with grey hatched "n/a" cells where a value is NaN; ``cell_text(v)`` gives (text, colour) per cell."""
    import matplotlib.pyplot as plt

    n = max(1, len(panel_variants))
    fig, axes = plt.subplots(1, n, figsize=(FULL_WIDTH_IN, 0.19 * len(names) + 1.35), squeeze=False,
                             layout="constrained")
    cell_pt = (FULL_WIDTH_IN - 1.6) * 72 / (n * max(1, len(fold_pairs)))
    image = None
    for k, variant in enumerate(panel_variants):
        ax = axes[0, k]
        table = (rows[rows["variant"] == variant].groupby(["class_name", "fold"])["value"].mean().unstack("fold")
                 .reindex(index=list(names), columns=[f for f, _ in fold_pairs]) * 100)
        values = table.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            if not np.isfinite(v):
                draw_na_cell(ax, j, i, text=cell_pt >= 14)
            elif cell_pt >= 14:
                text, colour = cell_text(v)
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(len(fold_pairs)), [wrap_label(h, 12) for _, h in fold_pairs], rotation=90)
        ax.set_yticks(range(len(names)), list(names) if k == 0 else [""] * len(names))
        ax.set_title(variant_label(variant))
        ax.spines[:].set_visible(False)
        ax.tick_params(axis="x", length=0)
        if k == 0 and swatches is not None:
            class_swatches(ax, swatches)
        elif k > 0:
            ax.tick_params(axis="y", length=0)
    if image is not None:
        fig.colorbar(image, ax=axes[0, :].tolist(), shrink=0.8, pad=0.01, aspect=30, label=colourbar_label)
    fig.supxlabel("held-out domain (fold)", fontsize=8)
    return fig


def _class_rows(df: pd.DataFrame, head: str, partition: str, metric: str, variants: Sequence[str] | None,
                folds: Sequence[str] | None, taxonomy: Taxonomy) -> tuple[pd.DataFrame, str, list[str], list, list]:
    """The per-class rows of one partition and metric, with the head's level, class order, folds and panels."""
    rows = metric_rows(df, head=head, partition=partition, metric=metric, class_name=None, variants=variants,
                       folds=folds)
    level = head.split("_")[0] if head.split("_")[0] in HEADS else "fine"
    names = [n for n in taxonomy.names(level) if n in set(rows["class_name"])] or list(dict.fromkeys(rows["class_name"]))
    return rows, level, names, fold_order(rows, folds), ordered_variants(rows["variant"], variants)


def class_iou_heatmap(
    df: pd.DataFrame,
    *,
    head: str = "fine",
    partition: str = "ood_test",
    variants: Sequence[str] | None = None,
    folds: Sequence[str] | None = None,
    taxonomy: Taxonomy | None = None,
) -> Figure:
    """Per-class IoU (%) as a class × fold heat map, one panel per variant (mean over seeds), and a last panel
    with the all-Clean floor on the same images (Clean's pixel share, 0 for every labelled damage class).

    A class absent from a fold's labels and predictions (IoU NaN) is a grey hatched "n/a" cell.

    Args:
        df: the tidy results table.
        head: scored head (class colours are shown for the ``fine`` level).
        partition: ``ood_test`` or ``id_test``.
        variants: variants (panels); None for all.
        folds: folds (columns); None for all.
        taxonomy: for class order and colours; None for the ARTeFACT default.

    Returns:
        The figure (full width).
    """
    taxonomy = taxonomy or default_taxonomy()
    rows, level, names, fold_pairs, panel_variants = _class_rows(df, head, partition, "iou", variants, folds,
                                                                 taxonomy)
    floor = metric_rows(df, head=head, partition=partition, metric="floor_iou", class_name=None,
                        variants=panel_variants[:1], folds=folds)
    if len(floor):
        rows = pd.concat([rows, floor.assign(variant=FLOOR)], ignore_index=True)
        panel_variants = [*panel_variants, FLOOR]
    colours = dict(zip(taxonomy.fine_names, taxonomy.fine_colours))
    return _class_fold_panels(rows, panel_variants, names, fold_pairs, cmap=CMAP, limits=(0, 100),
                              cell_text=lambda v: (f"{v:.0f}", text_colour(v)), colourbar_label="IoU (%)",
                              swatches=[colours.get(n, "#FFFFFF") for n in names] if level == "fine" else None)


def class_gap_figure(
    df: pd.DataFrame,
    *,
    head: str = "fine",
    variants: Sequence[str] | None = None,
    folds: Sequence[str] | None = None,
    taxonomy: Taxonomy | None = None,
) -> Figure:
    """Per-class DG gap (ID − OOD IoU, points) as a class × fold heat map, one panel per variant (mean over
    seeds), on a diverging scale centred on 0 (red: worse out of distribution).

    A class outside a fold's common class set (not labelled in at least two images of both test sets) has no
    comparable gap: a grey hatched "n/a" cell, as in :func:`class_iou_heatmap`.

    Args:
        df: the tidy results table (``gap`` rows, metric ``iou``).
        head: scored head.
        variants: variants (panels); None for all.
        folds: folds (columns); None for all.
        taxonomy: for class order; None for the ARTeFACT default.

    Returns:
        The figure (full width).
    """
    rows, _, names, fold_pairs, panel_variants = _class_rows(df, head, "gap", "iou", variants, folds,
                                                             taxonomy or default_taxonomy())
    return _class_fold_panels(rows, panel_variants, names, fold_pairs, cmap="RdBu_r", limits=(-50, 50),
                              cell_text=lambda v: (f"{v:+.0f}", "white" if abs(v) > 30 else "black"),
                              colourbar_label="IoU gap ID$-$OOD (points)", swatches=None)


def confusion_figure(confusions: Mapping[str, np.ndarray], class_names: Sequence[str],
                     class_colours: Sequence[str] | None = None) -> Figure:
    """Row-normalised confusion matrices (rows = label, % of the label's pixels), one panel per variant.

    Rows of classes without labelled pixels are grey and hatched ("n/a" in the first column).

    Args:
        confusions: variant -> (C, C) summed confusion counts (rows = label, columns = prediction).
        class_names: the C class names.
        class_colours: ``#RRGGBB`` per class for swatches beside the row labels; None for none.

    Returns:
        The figure (full width).
    """
    import matplotlib.pyplot as plt

    n = max(1, len(confusions))
    side = (FULL_WIDTH_IN - 1.9) / n  # matrix side, in, after labels and colour bar
    fig, axes = plt.subplots(1, n, figsize=(FULL_WIDTH_IN, side + 1.25), squeeze=False, layout="constrained")
    image = None
    for k, (variant, counts) in enumerate(confusions.items()):
        ax = axes[0, k]
        image = draw_confusion(ax, counts, class_names, row_labels=k == 0)
        if k == 0 and class_colours is not None:
            class_swatches(ax, class_colours)
        ax.set_title(variant_label(variant))
    if image is not None:
        fig.colorbar(image, ax=axes[0, :].tolist(), shrink=0.7, pad=0.01, aspect=30, label="% of the label's pixels")
    return fig


@dataclass
class QualitativeExample:
    """One row of the qualitative grid.

    Attributes:
        id: item id.
        image: (h, w, 3) uint8 image at the stored prediction size.
        truth: (h, w) uint8 fine labels (255 = ignore).
        preds: variant -> (h, w) uint8 fine prediction (stored by the evaluation).
        held_out: the fold's held-out domain (for the row label).
    """

    id: str
    image: np.ndarray
    truth: np.ndarray
    preds: dict[str, np.ndarray]
    held_out: str = ""


def qualitative_figure(examples: Sequence[QualitativeExample], taxonomy: Taxonomy | None = None) -> Figure:
    """Image, ground truth and each variant's prediction per row, in the taxonomy's class colours.

    A legend below the grid lists the classes (and the ignore label) that appear in it.

    Args:
        examples: the rows (every example has the same variants).
        taxonomy: for colours and names; None for the ARTeFACT default.

    Returns:
        The figure (full width).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from heritage_core.report.panels import colourise

    taxonomy = taxonomy or default_taxonomy()
    variants = list(examples[0].preds) if examples else []
    cols = 2 + len(variants)
    aspects = [e.image.shape[0] / e.image.shape[1] for e in examples] or [1.0]
    panel = (FULL_WIDTH_IN - 0.3) / cols
    fig, axes = plt.subplots(len(aspects), cols, figsize=(FULL_WIDTH_IN, panel * sum(aspects) + 0.8), squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": aspects})
    present: set[int] = set()
    titles = ["Image", "Ground truth"] + [variant_label(v) for v in variants]
    for r, ex in enumerate(examples):
        panels = [ex.image, colourise(ex.truth, "fine", taxonomy)]
        panels += [colourise(ex.preds[v], "fine", taxonomy) for v in variants]
        for m in [ex.truth, *ex.preds.values()]:
            present |= set(np.unique(m).tolist())
        for c, picture in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
            if r == 0:
                ax.set_title(titles[c])
        axes[r, 0].set_ylabel(wrap_label(f"{ex.id}" + (f" ({ex.held_out})" if ex.held_out else ""), 18), fontsize=7)
    handles = [Patch(facecolor=taxonomy.fine_colours[k], edgecolor="#333333", linewidth=0.3,
                     label=taxonomy.fine_names[k]) for k in sorted(present) if k < len(taxonomy.fine_names)]
    if IGNORE_INDEX in present:
        handles.append(Patch(facecolor=taxonomy.ignore_colour, edgecolor="#333333", linewidth=0.3, label="ignore"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), handlelength=1.0,
                   columnspacing=1.0)
    return fig


def class_distribution_figure(report: SplitReport, seed: int | None = None, taxonomy: Taxonomy | None = None) -> Figure:
    """Share of labelled pixels per fine class in train, ID test and OOD test, pooled over folds (log scale).

    Args:
        report: the split report of the suite's manifests (:func:`heritage_core.splits.report.build_report`).
        seed: split seed to show; None for the smallest.
        taxonomy: for class order and colours; None for the ARTeFACT default.

    Returns:
        The figure (column width).
    """
    import matplotlib.pyplot as plt

    taxonomy = taxonomy or default_taxonomy()
    classes = report.classes[(report.classes["head"] == "fine") & (report.classes["kind"] == "class")]
    seed = int(classes["seed"].min()) if seed is None else seed
    classes = classes[classes["seed"] == seed]
    parts = [p for p in ("train", "id_test", "ood_test") if classes.loc[classes["partition"] == p, "pixels"].sum() > 0]
    pixels = classes.groupby(["partition", "class_name"])["pixels"].sum()
    names = list(taxonomy.fine_names)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 0.17 * len(names) + 1.1), layout="constrained")
    shades = {"train": "#4D4D4D", "id_test": "#56B4E9", "ood_test": "#D55E00"}
    height = 0.8 / max(1, len(parts))
    floor = None
    for j, part in enumerate(parts):
        counts = pixels.loc[part].reindex(names, fill_value=0).to_numpy(dtype=float)
        share = 100 * counts / counts.sum()
        floor = min(floor or 100.0, share[share > 0].min() / 2)
        y = np.arange(len(names)) - 0.4 + height * (j + 0.5)
        ax.barh(y[share > 0], share[share > 0], height=height, color=shades[part], label=PARTITION_NAMES[part])
        for yy in y[share == 0]:
            ax.annotate("absent", (0, yy), xycoords=ax.get_yaxis_transform(), xytext=(2, 0),
                        textcoords="offset points", fontsize=7, va="center", ha="left", color="#333333")
    ax.set_xscale("log")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    class_swatches(ax, list(taxonomy.fine_colours))
    ax.set_xlabel("share of labelled pixels (%, log scale)")
    if floor:
        ax.set_xlim(left=floor)
    fig.legend(loc="outside upper center", ncol=len(parts))
    return fig


