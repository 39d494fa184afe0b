"""The scores of one partition as ``metrics.json`` holds them: every scored head's metrics with image-level
intervals, the all-Clean floor on the same labels, the hierarchy violation rate and the per-domain breakdown.

Every number is :func:`heritage_core.evaluation.metrics.reduce_counts` of per-image counts, so a recomputation
from a partition's ``.npz`` gives the same values; undefined values (NaN) are written as ``null``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from heritage_core.evaluation import N_RESAMPLES
from heritage_core.evaluation.metrics import (
    FLOOR_NAME,
    SegCounts,
    SegMetrics,
    all_clean_counts,
    reduce_by_group,
    reduce_counts,
)
from heritage_core.evaluation.resample import bootstrap_ci, class_iou, mean_iou

__all__ = ["partition_metrics", "clears_floor"]


def _json_float(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _json_list(values: Iterable[Any]) -> list[float | None]:
    return [_json_float(v) for v in values]


def _intervals(counts: SegCounts, n_resamples: int, seed: int) -> tuple[list, list, list]:
    """mIoU interval and per-class IoU intervals of per-image counts (None with fewer than 2 images)."""
    c = counts.num_classes
    rows = counts.by_group()  # resample source groups, not images, when a group has several images
    if len(rows) < 2:
        return [None, None], [None] * c, [None] * c
    b = bootstrap_ci(rows, _miou_and_class_iou, n_resamples=n_resamples, seed=seed)
    return [_json_float(b.low[0]), _json_float(b.high[0])], _json_list(b.low[1:]), _json_list(b.high[1:])


def _miou_and_class_iou(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """mIoU then the C per-class IoUs, from one set of resamples: (..., C) sums -> (..., 1 + C)."""
    return np.concatenate([mean_iou(intersection, union)[..., None], class_iou(intersection, union)], axis=-1)


def _head_metrics(counts: SegCounts, n_resamples: int, seed: int) -> dict[str, Any]:
    """metrics.json entry of one scored head on one partition, with the all-Clean floor on the same labels."""
    m: SegMetrics = reduce_counts(counts)
    miou_ci, class_low, class_high = _intervals(counts, n_resamples, seed)
    floor_counts = all_clean_counts(counts)
    f = reduce_counts(floor_counts)
    floor_ci, _, _ = _intervals(floor_counts, n_resamples, seed)
    return {
        "n_images": len(counts),
        "miou": _json_float(m.miou),
        "miou_ci": miou_ci,
        "macc": _json_float(m.macc),
        "mdice": _json_float(m.mdice),
        "aacc": _json_float(m.aacc),
        "n_classes_scored": int(np.isfinite(m.iou).sum()),
        "classes": {
            "names": list(m.class_names),
            "iou": _json_list(m.iou),
            "iou_ci_low": class_low,
            "iou_ci_high": class_high,
            "acc": _json_list(m.acc),
            "dice": _json_list(m.dice),
            "support_px": [int(v) for v in m.support_px],
            "support_images": [int(v) for v in m.support_images] if m.support_images is not None else None,
        },
        "floor": {
            "name": FLOOR_NAME,
            "miou": _json_float(f.miou),
            "miou_ci": floor_ci,
            "aacc": _json_float(f.aacc),
            "iou": _json_list(f.iou),
            "clears": clears_floor(miou_ci[0], f.miou),
        },
        "confusion": m.confusion.tolist() if m.confusion is not None else None,
    }


def clears_floor(low: float | None, floor: float | None) -> bool | None:
    """Whether a score's 95 % interval lies above its floor: the lower end exceeds the floor's value.

    Returns None when either is undefined (fewer than two images, no scored class).
    """
    if low is None or floor is None or not (math.isfinite(low) and math.isfinite(floor)):
        return None
    return bool(low > floor)


def partition_metrics(
    counts: Mapping[str, SegCounts],
    domains: Mapping[str, Mapping[str, str]] | None = None,
    violation: tuple[int, int] | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``metrics.json`` entry of one partition, from its per-image counts.

    Every number is :func:`heritage_core.evaluation.metrics.reduce_counts` of the counts (so a recomputation from the
    ``.npz`` gives the same values); intervals are image-level percentile bootstraps
    (:func:`heritage_core.evaluation.resample.bootstrap_ci`, one set of resamples for the mIoU and every class),
    left ``null`` with fewer than two images.

    Args:
        counts: scored head -> per-image counts.
        domains: domain column (``material``, ``content``) -> image id -> value, for the breakdown.
        violation: summed (violating, valid) pixels of the independent heads; None for flat models.
        n_resamples: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        ``{"n_images", "heads": {head: ...}, "violation": {...} | None, "domains": {column: {value: {head:
        {"n_images", "miou", "macc", "mdice", "aacc"}}}}}``.
    """
    n_images = len({i for c in counts.values() for i in c.ids})
    out: dict[str, Any] = {
        "n_images": n_images,
        "heads": {h: _head_metrics(c, n_resamples, seed) for h, c in counts.items()},
        "violation": None,
        "domains": {},
    }
    if violation is not None:
        bad, valid = violation
        out["violation"] = {"violating_px": int(bad), "valid_px": int(valid),
                            "rate": _json_float(bad / valid) if valid else None}
    for column, by_id in (domains or {}).items():
        table: dict[str, dict[str, Any]] = {}
        for head, c in counts.items():
            if not len(c):
                continue
            for value, m in reduce_by_group(c, [by_id[i] for i in c.ids]).items():
                table.setdefault(value, {})[head] = {
                    "n_images": m.n_images, "miou": _json_float(m.miou), "macc": _json_float(m.macc),
                    "mdice": _json_float(m.mdice), "aacc": _json_float(m.aacc),
                }
        out["domains"][column] = table
    return out
