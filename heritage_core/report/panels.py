"""The static panels of the IoU inspector and of notebook 03: the per-class and per-image score tables, label
colours and overlays, the per-class IoU bars
with the all-Clean floor, the normalised confusion matrix and the best/worst example grid.

Pure plotting from a stored evaluation (:class:`heritage_core.evaluation.store.Evaluation`); the interactive
inspector (:mod:`heritage_core.report.widgets`) redraws these on every control change.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError, HeritageError
from heritage_core.evaluation.evaluate import label_targets
from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE, FLOOR_NAME
from heritage_core.evaluation.store import BASE_HEAD, Evaluation, stored_prediction
from heritage_core.taxonomy import IGNORE_INDEX, Taxonomy, default_taxonomy

__all__ = ["head_scores", "per_class_table", "image_class_scores", "head_colours", "colourise", "overlay", "plot_class_iou", "plot_confusion", "plot_examples"]


def per_class_table(evaluation: Evaluation, partition: str, head: str) -> pd.DataFrame:
    """Per-class scores of one partition and scored head, from ``metrics.json`` (NaN where undefined).

    Returns:
        Columns ``class_id, class_name, iou, iou_ci_low, iou_ci_high, floor_iou, acc, dice, support_px,
        support_images`` (``floor_iou``: the all-Clean predictor on the same images); ``attrs["caption"]``
        holds the head's mIoU beside the floor's and the absent-class rule.

    Raises:
        ConfigError: the partition was not evaluated or the head not scored.
    """
    h = head_scores(evaluation, partition, head)
    cls, floor = h["classes"], h.get("floor") or {}
    nan = lambda values: [np.nan if v is None else v for v in values]  # noqa: E731
    table = pd.DataFrame({
        "class_id": range(len(cls["names"])), "class_name": cls["names"],
        "iou": nan(cls["iou"]), "iou_ci_low": nan(cls["iou_ci_low"]), "iou_ci_high": nan(cls["iou_ci_high"]),
        "floor_iou": nan(floor.get("iou") or [None] * len(cls["names"])), "acc": nan(cls["acc"]), "dice": nan(cls["dice"]), "support_px": cls["support_px"],
        "support_images": cls["support_images"] if cls["support_images"] is not None else pd.NA,
    })
    miou, floor_miou = h["miou"], floor.get("miou")
    versus = (f" against {100 * floor_miou:.1f} % for the {FLOOR_NAME} floor on the same images"
              f"{'' if floor.get('clears') is not False else ' (the interval does not clear it)'}"
              if floor_miou is not None else "")
    table.attrs["caption"] = (
        f"{partition} / {head}: mIoU {100 * miou:.1f} %{versus}, over {h['n_classes_scored']} scored classes, "
        f"{h['n_images']} images. " if miou is not None else f"{partition} / {head}: no class scored. "
    ) + ABSENT_CLASS_RULE + " support_px: labelled pixels of the class; support_images: images containing it."
    return table


def head_scores(evaluation: Evaluation, partition: str, head: str) -> dict[str, Any]:
    """The ``metrics.json`` entry of one scored head on one evaluated partition."""
    scores = evaluation.metrics["partitions"].get(partition, {})
    if "heads" not in scores:
        raise ConfigError(f"partition '{partition}' of run '{evaluation.run_dir}' was not evaluated "
                          f"(evaluated: {evaluation.evaluated_partitions})")
    if head not in scores["heads"]:
        raise ConfigError(f"head '{head}' was not scored on '{partition}' of run '{evaluation.run_dir}'; "
                          f"scored: {list(scores['heads'])}")
    return scores["heads"][head]


def image_class_scores(evaluation: Evaluation, partition: str, head: str, class_id: int) -> pd.DataFrame:
    """Per-image IoU of one class: the ranking behind the best and worst examples.

    Returns:
        Columns ``id, iou, intersection, union, label_px, pred_px``, one row per image labelled with the class
        (``label_px > 0``), sorted by IoU descending (ties by id).
    """
    counts = evaluation.counts(partition)[head]
    frame = pd.DataFrame({
        "id": counts.ids,
        "intersection": counts.intersection[:, class_id], "union": counts.union[:, class_id],
        "label_px": counts.label[:, class_id], "pred_px": counts.pred[:, class_id],
    })
    frame = frame[frame["label_px"] > 0].copy()
    frame["iou"] = frame["intersection"] / frame["union"]
    frame = frame.sort_values(["iou", "id"], ascending=[False, True]).reset_index(drop=True)
    return frame[["id", "iou", "intersection", "union", "label_px", "pred_px"]]


def head_colours(head: str, taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Display colours of a head's labels: fine classes in the dataset colours, a coarse group in the colour
    of its first fine class, binary damage white.

    Returns:
        (C, 3) uint8.
    """
    taxonomy = taxonomy or default_taxonomy()
    level = BASE_HEAD.get(head, head)
    fine = taxonomy.fine_rgb()
    if level == "fine":
        return fine
    if level == "coarse":
        first = [taxonomy.fine_to_coarse.index(g) for g in range(len(taxonomy.coarse_names))]
        return fine[first]
    return np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8)


def colourise(labels: np.ndarray, head: str, taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Colour a label map; 255 takes the taxonomy's ignore colour.

    Shapes:
        labels: (h, w) uint8 -> (h, w, 3) uint8.
    """
    taxonomy = taxonomy or default_taxonomy()
    table = np.zeros((256, 3), dtype=np.uint8)
    colours = head_colours(head, taxonomy)
    table[: len(colours)] = colours
    ignore = taxonomy.ignore_colour
    table[IGNORE_INDEX] = [int(ignore[1:3], 16), int(ignore[3:5], 16), int(ignore[5:7], 16)]
    return table[labels]


def overlay(image: np.ndarray, labels: np.ndarray, head: str, alpha: float = 0.6,
            taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Blend label colours over an image where the label is not clean (0); clean pixels show the image.

    Shapes:
        image: (h, w, 3) uint8; labels: (h, w) uint8 -> (h, w, 3) uint8.
    """
    colour = colourise(labels, head, taxonomy).astype(np.float32)
    out = image.astype(np.float32)
    marked = (labels != 0)[..., None]
    return np.where(marked, (1 - alpha) * out + alpha * colour, out).round().astype(np.uint8)


def plot_class_iou(table: pd.DataFrame, highlight: str | None = None, title: str = "", ax: Any = None) -> Any:
    """Horizontal bars of per-class IoU (%) with 95 % CI whiskers and the all-Clean floor (red ticks: Clean's
    pixel share, 0 for a labelled damage class); absent classes marked "–".

    Args:
        table: output of :func:`per_class_table`.
        highlight: class name drawn in a darker colour.
        title: axes title.
        ax: matplotlib axes to draw into; None for a new figure.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 0.3 * len(table) + 1.0))
    y = np.arange(len(table))[::-1]
    iou = 100 * table["iou"].to_numpy(dtype=float)
    low = 100 * table["iou_ci_low"].to_numpy(dtype=float)
    high = 100 * table["iou_ci_high"].to_numpy(dtype=float)
    colours = ["#1f4e79" if name == highlight else "#7fa7cf" for name in table["class_name"]]
    ax.barh(y, np.nan_to_num(iou), color=colours)
    err = np.vstack([np.nan_to_num(iou - low), np.nan_to_num(high - iou)])
    has_ci = np.isfinite(low) & np.isfinite(high)
    ax.errorbar(iou[has_ci], y[has_ci], xerr=err[:, has_ci], fmt="none", ecolor="black", capsize=2, lw=0.8)
    if "floor_iou" in table:
        floor = 100 * table["floor_iou"].to_numpy(dtype=float)
        shown = np.isfinite(floor)
        ax.plot(floor[shown], y[shown], "|", color="#B22222", markersize=9, mew=1.6, label=f"{FLOOR_NAME} floor")
        if shown.any():
            ax.legend(loc="lower right", fontsize=7, frameon=False)
    for yy, value in zip(y, iou):
        if not np.isfinite(value):
            ax.text(1, yy, "–", va="center")
    ax.set_yticks(y, [f"{n} ({s:,} px)" for n, s in zip(table["class_name"], table["support_px"])], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU (%) with 95 % bootstrap CI")
    _set_fitting_title(ax, title, fontsize=9)
    return ax.figure


def _set_fitting_title(ax: Any, title: str, fontsize: float) -> None:
    """Set ``title`` over ``ax`` and tighten the figure's layout, breaking the title's lines at spaces so that
    none is wider than the figure leaves a line centred on the axes (long run names would be cut off)."""
    from matplotlib.font_manager import FontProperties

    figure = ax.figure
    figure.tight_layout()
    renderer = figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    centre = (box.x0 + box.x1) / 2
    room_px = 2 * min(centre, figure.bbox.width - centre)
    font = FontProperties(size=fontsize)

    def fits(text: str) -> bool:
        return renderer.get_text_width_height_descent(text, font, ismath=False)[0] <= room_px

    lines: list[str] = []
    for line in title.split("\n"):
        words = line.split(" ")
        current = words[0]
        for word in words[1:]:
            if fits(f"{current} {word}"):
                current = f"{current} {word}"
            else:
                lines.append(current)
                current = word
        lines.append(current)
    ax.set_title("\n".join(lines), fontsize=fontsize)
    figure.tight_layout()


def plot_confusion(evaluation: Evaluation, partition: str, head: str, ax: Any = None) -> Any:
    """Row-normalised confusion matrix (rows = label) of one partition and scored head, drawn as the paper
    draws it (:func:`heritage_core.report.style.draw_confusion`: classes without labelled pixels hatched n/a).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from heritage_core.report.style import draw_confusion

    h = head_scores(evaluation, partition, head)
    names = h["classes"]["names"]
    if ax is None:
        side = 1.2 + 0.32 * len(names)
        _, ax = plt.subplots(figsize=(side + 1.0, side))
    image = draw_confusion(ax, np.asarray(h["confusion"], dtype=np.int64), names)
    ax.tick_params(labelsize=7)
    ax.set_title(f"{partition} / {head}: % of each label row", fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the label's pixels")
    ax.figure.tight_layout()
    return ax.figure


def _thumbnail(evaluation: Evaluation, partition: str, head: str, item_id: str,
               cache: Any, preds: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """(image, ground truth, prediction) of one image at the stored prediction size."""
    import cv2

    from heritage_core.evaluation.evaluate import downsample_labels

    k = preds["ids"].index(item_id)
    pred = stored_prediction(preds, head, k)
    if cache is None:
        return None, None, pred
    h, w = pred.shape
    image = cv2.resize(cache.load_image(item_id), (w, h), interpolation=cv2.INTER_AREA)
    targets = label_targets(cache.load_mask(item_id), cache.label_level(item_id), item=item_id)
    truth = downsample_labels(targets[BASE_HEAD[head]], max(h, w))
    return image, truth, pred


def plot_examples(
    evaluation: Evaluation, partition: str, head: str, class_name: str, k: int = 2
) -> tuple[Any, pd.DataFrame]:
    """The ``k`` best and ``k`` worst images for a class: image, ground truth and prediction overlays.

    Args:
        evaluation: the run's evaluation.
        partition: an evaluated partition.
        head: a scored head.
        class_name: a class of the head's level.
        k: images at each end of the ranking.

    Returns:
        (figure, ranking) with the ranking of :func:`image_class_scores` restricted to the images shown
        (column ``rank``: ``best``/``worst``).

    Raises:
        ConfigError: unknown class, partition or head.
    """
    import matplotlib.pyplot as plt

    names = head_scores(evaluation, partition, head)["classes"]["names"]
    if class_name not in names:
        raise ConfigError(f"class {class_name!r} is not a class of head '{head}'; allowed are {names}")
    ranking = image_class_scores(evaluation, partition, head, names.index(class_name))
    best = ranking.head(k).assign(rank="best")
    worst = ranking.iloc[max(len(best), len(ranking) - k):].iloc[::-1].assign(rank="worst")
    shown = pd.concat([best, worst], ignore_index=True)
    try:
        cache = evaluation.cache()
    except HeritageError:
        cache = None
    preds = evaluation.predictions(partition)
    rows = max(1, len(shown))
    fig, axes = plt.subplots(rows, 3, figsize=(7.5, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if shown.empty:
        axes[0, 0].text(0, 0.5, f"no {partition} image is labelled '{class_name}'", fontsize=9)
    for r, row in shown.iterrows():
        image, truth, pred = _thumbnail(evaluation, partition, head, row["id"], cache, preds)
        base = image if image is not None else np.zeros((*pred.shape, 3), np.uint8)
        panels = [(base, f"{row['rank']}: {row['id']}"),
                  (overlay(base, truth, head) if truth is not None else base, "ground truth"),
                  (overlay(base, pred, head), f"prediction (IoU {100 * row['iou']:.1f} %)")]
        for c, (picture, text) in enumerate(panels):
            axes[r, c].imshow(picture, interpolation="nearest")
            axes[r, c].set_title(text, fontsize=8)
    fig.suptitle(f"{class_name}: best and worst {partition} images ({head})", fontsize=9)
    fig.tight_layout()
    return fig, shown
