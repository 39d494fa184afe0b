"""Segmentation metrics: accumulate per-image counts, then reduce them once (the mmseg ``IoUMetric`` habit).

Two steps, kept apart:

1. :func:`accumulate_counts` turns a batch of predictions and labels into per-image, per-class pixel
   counts (intersection, union, predicted and labelled pixels, and the confusion matrix) with a single
   ``torch.bincount`` on the tensors' device. :class:`SegCounts` collects those rows with the image ids of
   one head, and :func:`save_counts` / :func:`load_counts` store several heads in one ``eval/<partition>.npz``.
2. :func:`reduce_counts` is the one definition of every score: dataset-level per-class IoU = ΣI / ΣU over
   images, Acc, Dice, their means, aAcc and the support. :func:`reduce_by_group` applies it per domain.

Rules, the same everywhere:

* Pixels labelled ``IGNORE_INDEX`` (255) are never scored, whatever is predicted there.
* A prediction outside ``[0, num_classes)`` at a scored pixel is an error, never clamped.
* A class with ΣU = 0 (absent from both labels and predictions) has IoU NaN and is left out of mIoU
  (:data:`ABSENT_CLASS_RULE`); scores are fractions in [0, 1], turned into percent only for display.

Counts stored per image are exactly what :mod:`heritage_core.evaluation.stats` resamples for bootstrap intervals.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from heritage_core.errors import ConfigError, DataError
from heritage_core.taxonomy import IGNORE_INDEX

__all__ = [
    "ABSENT_CLASS_RULE",
    "COUNT_KEYS",
    "accumulate_counts",
    "counts_from_confusion",
    "SegCounts",
    "SegMetrics",
    "reduce_counts",
    "reduce_by_group",
    "normalise_confusion",
    "FLOOR_NAME",
    "all_clean_counts",
]

#: Caption sentence for every table of per-class scores and their means.
ABSENT_CLASS_RULE = (
    "A class absent from both the labels and the predictions of a test set (union 0) has no IoU or Dice and is "
    "left out of mIoU and mDice (a dash in tables); Acc (recall) is undefined for every class without label "
    "pixels, predicted or not, so mAcc averages only the labelled classes, which can be fewer than mIoU's."
)
#: Name of the floor every score is shown beside: the predictor that labels every scored pixel class 0 (Clean).
FLOOR_NAME = "all-Clean"
#: Per-image count arrays, each (N, C) int64, in the order they are stored.
COUNT_KEYS = ("intersection", "union", "pred", "label")
_HEAD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- accumulate
def accumulate_counts(
    pred: torch.Tensor | np.ndarray,
    label: torch.Tensor | np.ndarray,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    ids: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Per-image, per-class pixel counts of one batch, from one ``torch.bincount`` on the input's device.

    Every scored pixel (``label != ignore_index``) adds one to bin ``(image, label, pred)``; the per-image
    confusion matrix is that histogram, and the four count vectors are read off it.

    Args:
        pred: predicted class ids (e.g. ``logits.argmax(1)``), an integer tensor or array.
        label: label ids of the same shape; ``ignore_index`` marks pixels that are not scored.
        num_classes: number of classes C of the head (``Taxonomy.num_classes[head]``).
        ignore_index: label value that is never scored; must lie in [num_classes, 255]. Default: 255.
        ids: image ids of the batch, used only to name the image in error messages.

    Returns:
        ``intersection``, ``union``, ``pred`` (predicted pixels), ``label`` (labelled pixels), each (N, C)
        int64, and ``confusion`` (N, C, C) int64 with rows = label and columns = prediction; all on the
        device of ``pred``.

    Shapes:
        pred, label: (N, H, W) or (H, W) (then N = 1).

    Raises:
        ConfigError: ``num_classes`` or ``ignore_index`` out of range.
        DataError: shapes differ, non-integer dtypes, a label outside [0, C) ∪ {ignore_index}, or a
            prediction outside [0, C) at a scored pixel.
    """
    if not isinstance(num_classes, int) or not 1 <= num_classes <= 255:
        raise ConfigError(f"accumulate_counts: num_classes is {num_classes!r}; allowed are integers 1..255")
    if not isinstance(ignore_index, int) or not num_classes <= ignore_index <= 255:
        raise ConfigError(
            f"accumulate_counts: ignore_index is {ignore_index!r}; it must be an integer in [num_classes={num_classes}, "
            f"255] so that it never collides with a class (the project uses {IGNORE_INDEX})"
        )
    pred_t = torch.as_tensor(pred)
    label_t = torch.as_tensor(label, device=pred_t.device)
    for name, t in (("pred", pred_t), ("label", label_t)):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise DataError(
                f"accumulate_counts: {name} has dtype {t.dtype}; class ids of an integer dtype are required "
                f"(for predictions pass logits.argmax(1), not the logits)"
            )
    if pred_t.shape != label_t.shape or pred_t.ndim not in (2, 3):
        raise DataError(
            f"accumulate_counts: pred has shape {tuple(pred_t.shape)} and label {tuple(label_t.shape)}; both must be "
            f"the same (N, H, W) or (H, W)"
        )
    if pred_t.ndim == 2:
        pred_t, label_t = pred_t.unsqueeze(0), label_t.unsqueeze(0)
    n, c = pred_t.shape[0], num_classes
    if ids is not None and len(ids) != n:
        raise DataError(f"accumulate_counts: {len(ids)} ids given for a batch of {n} images; give one id per image")
    if n == 0 or pred_t.numel() == 0:
        zeros = torch.zeros((n, c), dtype=torch.int64, device=pred_t.device)
        return {**{k: zeros.clone() for k in COUNT_KEYS},
                "confusion": torch.zeros((n, c, c), dtype=torch.int64, device=pred_t.device)}

    lab_min, lab_max = (int(v) for v in torch.aminmax(label_t))
    if lab_min < 0 or lab_max > 255:
        _raise_bad_labels(label_t, c, ignore_index, ids)
    pred_min, pred_max = (int(v) for v in torch.aminmax(pred_t))
    if pred_min < 0 or pred_max >= c:
        # Out-of-range predictions are allowed only where the label is ignored: check, then neutralise them.
        scored = label_t != ignore_index
        bad = scored & ((pred_t < 0) | (pred_t >= c))
        if bool(bad.any()):
            _raise_bad_preds(pred_t, bad, c, ids)
        pred_t = pred_t.masked_fill(~scored, 0)

    # One histogram over (image, label value 0..255, pred): bins of label rows >= C are checked, then dropped.
    rows = 256
    dtype = torch.int32 if n * rows * c < 2**31 else torch.int64
    index = torch.add(pred_t.to(dtype), label_t.to(dtype), alpha=c)
    index.view(n, -1).add_(torch.arange(n, dtype=dtype, device=index.device).mul_(rows * c).view(n, 1))
    hist = torch.bincount(index.view(-1), minlength=n * rows * c).view(n, rows, c)
    stray = hist[:, c:, :].sum(-1)
    stray[:, ignore_index - c] = 0
    if bool(stray.any()):
        _raise_bad_labels(label_t, c, ignore_index, ids)
    confusion = hist[:, :c, :].contiguous()
    return {**counts_from_confusion(confusion), "confusion": confusion}


def counts_from_confusion(confusion: Any) -> dict[str, Any]:
    """The four count vectors read off confusion matrices (rows = label, columns = prediction).

    Args:
        confusion: a tensor or array of confusion matrices.

    Returns:
        ``intersection`` (diagonal), ``union`` (pred + label − intersection), ``pred`` (column sums) and
        ``label`` (row sums), of the input's type and dtype.

    Shapes:
        confusion: (..., C, C); each output: (..., C).
    """
    intersection = confusion.diagonal(0, -2, -1)
    label = confusion.sum(-1)
    pred = confusion.sum(-2)
    return {"intersection": intersection, "union": pred + label - intersection, "pred": pred, "label": label}


def _describe_image(i: int, ids: Sequence[str] | None) -> str:
    return f"image {i} of the batch" + (f" (id '{ids[i]}')" if ids is not None else "")


def _raise_bad_labels(label: torch.Tensor, c: int, ignore_index: int, ids: Sequence[str] | None) -> None:
    bad = (label < 0) | ((label >= c) & (label != ignore_index))
    i = int(bad.flatten(1).any(1).nonzero()[0, 0])
    values = sorted(int(v) for v in torch.unique(label[i][bad[i]]).cpu())[:10]
    raise DataError(
        f"accumulate_counts: label of {_describe_image(i, ids)} has values {values}; allowed are 0..{c - 1} and "
        f"{ignore_index} (ignore). Map labels to this head first (Taxonomy.map_labels) or fix the mask"
    )


def _raise_bad_preds(pred: torch.Tensor, bad: torch.Tensor, c: int, ids: Sequence[str] | None) -> None:
    i = int(bad.flatten(1).any(1).nonzero()[0, 0])
    values = sorted(int(v) for v in torch.unique(pred[i][bad[i]]).cpu())[:10]
    raise DataError(
        f"accumulate_counts: prediction of {_describe_image(i, ids)} has values {values} at scored pixels; "
        f"allowed are 0..{c - 1}. Check num_classes against the head's logits (predictions are never clamped)"
    )


# --------------------------------------------------------------------------- per-image store
@dataclass
class SegCounts:
    """Per-image counts of one head, with the image ids: the accumulator of one evaluation.

    Rows follow ``ids`` (one per scored image, no duplicates). Each head has its own ids, because items
    labelled only at the binary level are scored on the binary head alone.

    Attributes:
        head: head name (``binary``, ``coarse`` or ``fine``).
        class_names: name of each class of the head, index = class id.
        ids: image ids, one per row.
        intersection: (N, C) int64 pixels where label = pred = class.
        union: (N, C) int64 pixels where label = class or pred = class (scored pixels only).
        pred: (N, C) int64 scored pixels predicted as the class.
        label: (N, C) int64 pixels labelled as the class.
        confusion: (C, C) int64 confusion summed over the images (rows = label, columns = prediction), or
            None where it is not available (after :meth:`select`, or rows added without one).
        groups: source group of each row (the cache's ``group``: an image and its derived copies share one),
            or None when unknown. Resampling tests resample groups, not images (:meth:`by_group`).
    """

    head: str
    class_names: tuple[str, ...]
    ids: list[str] = field(default_factory=list)
    intersection: np.ndarray | None = None
    union: np.ndarray | None = None
    pred: np.ndarray | None = None
    label: np.ndarray | None = None
    confusion: np.ndarray | None = None
    groups: list[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.head, str) or not _HEAD_NAME.match(self.head):
            raise ConfigError(f"SegCounts: head name {self.head!r} must be lower-case letters, digits and '_' "
                              f"(e.g. 'binary', 'coarse', 'fine')")
        self.class_names = tuple(str(n) for n in self.class_names)
        c = len(self.class_names)
        if c == 0:
            raise ConfigError(f"SegCounts: head '{self.head}' has no class names; give one name per class")
        self.ids = [str(i) for i in self.ids]
        for key in COUNT_KEYS:
            value = getattr(self, key)
            value = np.zeros((0, c), np.int64) if value is None else np.asarray(value).astype(np.int64, copy=False)
            if value.shape != (len(self.ids), c):
                raise DataError(f"SegCounts '{self.head}': {key} has shape {value.shape}; expected "
                                f"({len(self.ids)}, {c}) = (number of ids, number of classes)")
            setattr(self, key, value)
        if self.confusion is None and not self.ids:
            self.confusion = np.zeros((c, c), np.int64)
        if self.confusion is not None:
            self.confusion = np.asarray(self.confusion).astype(np.int64, copy=False)
            if self.confusion.shape != (c, c):
                raise DataError(f"SegCounts '{self.head}': confusion has shape {self.confusion.shape}; "
                                f"expected ({c}, {c})")
        _check_unique(self.ids, f"SegCounts '{self.head}'")
        if self.groups is not None:
            self.groups = [str(g) for g in self.groups]
            if len(self.groups) != len(self.ids):
                raise DataError(f"SegCounts '{self.head}': {len(self.groups)} groups for {len(self.ids)} ids; give "
                                f"one group per image or None")

    @property
    def num_classes(self) -> int:
        """Number of classes C of the head."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.ids)

    def update(
        self,
        ids: Sequence[str],
        pred: torch.Tensor | np.ndarray,
        label: torch.Tensor | np.ndarray,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        """Score a batch (see :func:`accumulate_counts`) and append one row per image.

        Args:
            ids: image ids of the batch, none of them already present.
            pred: predicted class ids of this head.
            label: labels of this head (255 = ignore).
            ignore_index: label value that is never scored.

        Shapes:
            pred, label: (N, H, W) or (H, W).

        Raises:
            DataError: see :func:`accumulate_counts`, or an id that is already present.
        """
        counts = accumulate_counts(pred, label, self.num_classes, ignore_index=ignore_index, ids=list(ids))
        self.add_counts(ids, counts)

    def add_counts(self, ids: Sequence[str], counts: Mapping[str, Any]) -> None:
        """Append rows already accumulated by :func:`accumulate_counts` (e.g. on another device).

        Args:
            ids: image ids, one per row, none of them already present.
            counts: ``intersection``, ``union``, ``pred``, ``label`` (N, C) and ``confusion`` ((N, C, C)
                per image or (C, C) summed; without it the summed confusion becomes None); tensors are
                moved to the CPU.

        Raises:
            DataError: wrong shapes, or an id that is already present.
        """
        ids = [str(i) for i in ids]
        rows = {k: _to_numpy(counts[k]).astype(np.int64) for k in COUNT_KEYS}
        for key, value in rows.items():
            if value.shape != (len(ids), self.num_classes):
                raise DataError(f"SegCounts '{self.head}'.add_counts: {key} has shape {value.shape}; expected "
                                f"({len(ids)}, {self.num_classes}) for {len(ids)} ids")
        _check_unique(self.ids + ids, f"SegCounts '{self.head}'.add_counts")
        self.ids = self.ids + ids
        self.groups = None
        for key, value in rows.items():
            setattr(self, key, np.concatenate([getattr(self, key), value]))
        if "confusion" in counts and self.confusion is not None:
            conf = _to_numpy(counts["confusion"]).astype(np.int64)
            self.confusion = self.confusion + (conf.sum(0) if conf.ndim == 3 else conf)
        else:
            self.confusion = None

    def select(self, ids: Sequence[str]) -> SegCounts:
        """The rows of ``ids``, in that order (the summed confusion is not split per image, so it is dropped).

        Raises:
            DataError: an id that is not present.
        """
        where = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in where]
        if missing:
            raise DataError(f"SegCounts '{self.head}'.select: ids {missing[:5]} (of {len(missing)} missing) are not "
                            f"among its {len(self.ids)} images; select only scored ids")
        rows = np.array([where[i] for i in ids], dtype=np.intp)
        groups = None if self.groups is None else [self.groups[k] for k in rows]
        return SegCounts(self.head, self.class_names, list(ids),
                         **{k: getattr(self, k)[rows] for k in COUNT_KEYS}, confusion=None, groups=groups)

    def by_group(self) -> SegCounts:
        """The counts summed per source group, one row per group (ids = group names, first-appearance order).

        Every score is a function of sums over images, so these rows give the same scores; resampling them is
        the cluster bootstrap a test set with several images of one source needs. Without ``groups`` (or with
        one image per group) the counts are returned as they are.
        """
        if self.groups is None or len(set(self.groups)) == len(self.groups):
            return self
        names = list(dict.fromkeys(self.groups))
        where = {g: k for k, g in enumerate(names)}
        index = np.array([where[g] for g in self.groups], dtype=np.intp)
        summed = {}
        for key in COUNT_KEYS:
            out = np.zeros((len(names), self.num_classes), np.int64)
            np.add.at(out, index, getattr(self, key))
            summed[key] = out
        return SegCounts(self.head, self.class_names, names, **summed, confusion=self.confusion, groups=names)


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_unique(ids: Sequence[str], where: str) -> None:
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = sorted({i for i in ids if i in seen or seen.add(i)})
        raise DataError(f"{where}: image ids {dup[:5]} occur more than once; every image is scored once per head")


# --------------------------------------------------------------------------- reduce
@dataclass(frozen=True)
class SegMetrics:
    """Dataset-level scores of one head on one set of images; fractions in [0, 1], NaN where undefined.

    Attributes:
        class_names: name of each class.
        iou: (C,) per-class IoU = ΣI / ΣU; NaN where ΣU = 0.
        acc: (C,) per-class accuracy (recall) = ΣI / Σlabel; NaN where Σlabel = 0.
        dice: (C,) per-class Dice/F1 = 2ΣI / (Σpred + Σlabel); NaN where the denominator is 0.
        miou: mean of ``iou`` over the classes where it is defined (NaN if none).
        macc: mean of ``acc`` over the classes where it is defined.
        mdice: mean of ``dice`` over the classes where it is defined.
        aacc: overall pixel accuracy = Σ_c ΣI / Σ_c Σlabel over all scored pixels.
        support_px: (C,) labelled pixels per class.
        support_images: (C,) images with at least one labelled pixel of the class (None for summed input).
        n_images: number of images reduced (None for summed input).
        confusion: (C, C) summed confusion (rows = label), or None when not available.
    """

    class_names: tuple[str, ...]
    iou: np.ndarray
    acc: np.ndarray
    dice: np.ndarray
    miou: float
    macc: float
    mdice: float
    aacc: float
    support_px: np.ndarray
    support_images: np.ndarray | None
    n_images: int | None
    confusion: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per class: ``class_id``, ``class_name``, ``iou``, ``acc``, ``dice``, ``support_px``,
        ``support_images`` (fractions, NaN where undefined; see :data:`ABSENT_CLASS_RULE`)."""
        support_images = (self.support_images if self.support_images is not None
                          else np.full(len(self.class_names), pd.NA))
        return pd.DataFrame({
            "class_id": np.arange(len(self.class_names)),
            "class_name": list(self.class_names),
            "iou": self.iou,
            "acc": self.acc,
            "dice": self.dice,
            "support_px": self.support_px,
            "support_images": pd.array(support_images, dtype="Int64"),
        })

    def summary(self) -> dict[str, float | int | None]:
        """The headline numbers: ``miou``, ``macc``, ``mdice``, ``aacc``, ``n_images`` and ``n_classes_scored``
        (classes with a defined IoU)."""
        return {"miou": self.miou, "macc": self.macc, "mdice": self.mdice, "aacc": self.aacc,
                "n_images": self.n_images, "n_classes_scored": int(np.isfinite(self.iou).sum())}


def reduce_counts(counts: SegCounts | Mapping[str, Any], class_names: Sequence[str] | None = None) -> SegMetrics:
    """Dataset-level scores from per-image (or already summed) counts: the one definition used everywhere.

    Args:
        counts: a :class:`SegCounts`, or a mapping with ``intersection``, ``union``, ``pred``, ``label``
            as (N, C) per-image rows or (C,) sums, and optionally ``confusion`` ((N, C, C) or (C, C)).
        class_names: names of the C classes; default: ``counts.class_names``, or ``class_0``… for a mapping.

    Returns:
        The :class:`SegMetrics`.

    Raises:
        DataError: arrays of inconsistent shapes, or ``class_names`` of the wrong length.
    """
    if isinstance(counts, SegCounts):
        arrays = {k: getattr(counts, k) for k in COUNT_KEYS}
        confusion = counts.confusion
        names = tuple(class_names) if class_names is not None else counts.class_names
    else:
        missing = [k for k in COUNT_KEYS if k not in counts]
        if missing:
            raise DataError(f"reduce_counts: counts lack {missing}; pass the output of accumulate_counts or a SegCounts")
        arrays = {k: _to_numpy(counts[k]).astype(np.int64) for k in COUNT_KEYS}
        confusion = _to_numpy(counts["confusion"]).astype(np.int64) if "confusion" in counts else None
        if confusion is not None and confusion.ndim == 3:
            confusion = confusion.sum(0)
        c = arrays["intersection"].shape[-1]
        names = tuple(class_names) if class_names is not None else tuple(f"class_{i}" for i in range(c))
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) != 1 or arrays["intersection"].ndim not in (1, 2):
        raise DataError(f"reduce_counts: count arrays have shapes {shapes}; all must be the same (N, C) or (C,)")
    c = arrays["intersection"].shape[-1]
    if len(names) != c:
        raise DataError(f"reduce_counts: {len(names)} class names for counts of {c} classes; give one name per class")
    per_image = arrays["intersection"].ndim == 2
    total = {k: (v.sum(0) if per_image else v) for k, v in arrays.items()}
    inter = total["intersection"].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / total["union"]
        acc = inter / total["label"]
        dice = 2 * inter / (total["pred"] + total["label"])
        aacc = float(inter.sum() / total["label"].sum())
    return SegMetrics(
        class_names=names,
        iou=iou,
        acc=acc,
        dice=dice,
        miou=_nanmean(iou),
        macc=_nanmean(acc),
        mdice=_nanmean(dice),
        aacc=aacc,
        support_px=total["label"],
        support_images=(arrays["label"] > 0).sum(0).astype(np.int64) if per_image else None,
        n_images=int(arrays["intersection"].shape[0]) if per_image else None,
        confusion=confusion,
    )


def reduce_by_group(counts: SegCounts | Mapping[str, Any], groups: Sequence[str]) -> dict[str, SegMetrics]:
    """:func:`reduce_counts` on the images of each group (e.g. each material or content type).

    Args:
        counts: per-image counts, as for :func:`reduce_counts` (rows, not sums).
        groups: the group of each row, aligned with the rows (``counts.ids`` order).

    Returns:
        Group → scores, groups in sorted order. The per-group ``confusion`` is None (only the summed
        confusion of the whole set is stored).

    Raises:
        DataError: ``groups`` does not have one entry per row, or the counts are sums.
    """
    arrays = ({k: getattr(counts, k) for k in COUNT_KEYS} if isinstance(counts, SegCounts)
              else {k: _to_numpy(counts[k]) for k in COUNT_KEYS})
    names = counts.class_names if isinstance(counts, SegCounts) else None
    n = arrays["intersection"].shape[0] if arrays["intersection"].ndim == 2 else None
    if n is None or len(groups) != n:
        raise DataError(f"reduce_by_group: {len(groups)} groups for counts with {n} per-image rows; give one group "
                        f"per row (sums cannot be split)")
    labels = np.asarray([str(g) for g in groups])
    return {
        g: reduce_counts({k: v[labels == g] for k, v in arrays.items()}, names)
        for g in sorted(set(labels.tolist()))
    }


def normalise_confusion(confusion: np.ndarray | torch.Tensor) -> np.ndarray:
    """Row-normalised confusion: entry (i, j) = fraction of class-i pixels predicted as j.

    Rows of classes without labelled pixels are NaN (nothing to normalise).

    Shapes:
        confusion: (C, C) counts, rows = label; returns (C, C) float64.
    """
    conf = _to_numpy(confusion).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return conf / conf.sum(-1, keepdims=True)


def all_clean_counts(counts: SegCounts, head: str | None = None) -> SegCounts:
    """The counts the all-Clean predictor would get on the same labels: the floor of every score.

    Every scored pixel is predicted as class 0 (Clean, or ``clean`` at the coarse and binary levels), so per
    image the intersection of class 0 is its labelled Clean pixels and its union all scored pixels; every other
    class has intersection 0 and union = its labelled pixels (IoU 0 where labelled, NaN where absent). A model
    that does not beat this floor on the same images has learned nothing beyond the class prior; it is shown
    beside every result (:data:`FLOOR_NAME`).

    Args:
        counts: per-image counts of a model (only their ``label`` rows are used).
        head: head name of the result; None keeps ``counts.head``.

    Returns:
        A :class:`SegCounts` with the same ids, classes and labels.

    Shapes:
        counts.label (N, C) -> every array of the result (N, C); confusion (C, C).
    """
    label = counts.label
    scored = label.sum(1)
    zeros = np.zeros_like(label)
    inter, union, pred = zeros.copy(), label.copy(), zeros.copy()
    inter[:, 0], union[:, 0], pred[:, 0] = label[:, 0], scored, scored
    confusion = np.zeros((counts.num_classes, counts.num_classes), np.int64)
    confusion[:, 0] = label.sum(0)
    return SegCounts(head or counts.head, counts.class_names, list(counts.ids), intersection=inter, union=union,
                     pred=pred, label=label.copy(), confusion=confusion, groups=counts.groups)


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
