"""A run's stored evaluation: the prediction masks of ``<partition>_pred.npz`` and ``eval/`` read back.

:func:`evaluate_run` (:mod:`heritage_core.evaluation.evaluate`) writes ``<run_dir>/eval/``; this module holds
its file format (:data:`EVAL_FORMAT`), the writer and reader of the downsampled prediction masks
(:func:`save_predictions`, :func:`load_predictions`, :func:`stored_prediction`) and the read-back of a whole
evaluation (:class:`Evaluation`, :func:`load_evaluation`, :func:`summary_table`), which the results table and the
inspector use without re-running a model.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heritage_core.data.cache import Cache, open_cache
from heritage_core.errors import DataError, RunError
from heritage_core.evaluation.metrics import COUNT_KEYS, SegCounts
from heritage_core.runs import atomic_write_bytes, read_json
from heritage_core.splits.protocols import PARTITIONS
from heritage_core.taxonomy import HEADS, IGNORE_INDEX, Taxonomy, default_taxonomy

__all__ = ["COUNTS_FORMAT", "save_counts", "load_counts", "EVAL_FORMAT", "BASE_HEAD", "save_predictions", "load_predictions", "stored_prediction", "summary_table",
           "Evaluation", "load_evaluation", "resolve_run_path"]


#: Version of the ``.npz`` layout written by :func:`save_counts`.
COUNTS_FORMAT = 1


def save_counts(path: str | Path, heads: Mapping[str, SegCounts] | Sequence[SegCounts],
                groups: Mapping[str, str] | None = None) -> Path:
    """Write the counts of several heads to one compressed ``.npz``, atomically.

    Keys: ``format``, ``heads`` (head names), ``ids`` (every id of any head, in order of first appearance)
    and per head ``{head}_ids``, ``{head}_class_names``, ``{head}_intersection``, ``{head}_union``,
    ``{head}_pred``, ``{head}_label`` (N_head, C) and ``{head}_confusion`` (C, C, summed; left out when
    ``confusion`` is None). Each head keeps its own ids: binary-only items appear in ``binary_ids`` but
    not in ``fine_ids``. ``{head}_groups`` holds the source group of each row when known.

    Args:
        path: file to write, e.g. ``RUN/eval/id_test.npz``.
        heads: the counts, as a mapping head → counts or a sequence (keyed by ``SegCounts.head``).
        groups: image id -> source group, for every id (the cache's ``group`` column); None keeps the counts'
            own ``groups``.

    Returns:
        The path written.

    Raises:
        DataError: two counts for the same head, or a mapping key that differs from ``SegCounts.head``.
    """
    items = list(heads.items()) if isinstance(heads, Mapping) else [(c.head, c) for c in heads]
    arrays: dict[str, np.ndarray] = {"format": np.array(COUNTS_FORMAT)}
    names: list[str] = []
    all_ids: dict[str, None] = {}
    for key, counts in items:
        if key != counts.head or key in names:
            raise DataError(f"save_counts '{path}': head key '{key}' for counts of head '{counts.head}' "
                            f"(heads so far {names}); give each head once, keyed by its own name")
        names.append(key)
        all_ids.update(dict.fromkeys(counts.ids))
        arrays[f"{key}_ids"] = np.array(counts.ids, dtype=str)
        arrays[f"{key}_class_names"] = np.array(counts.class_names, dtype=str)
        row_groups = [groups[i] for i in counts.ids] if groups is not None else counts.groups
        if row_groups is not None:
            arrays[f"{key}_groups"] = np.array(row_groups, dtype=str)
        for k in COUNT_KEYS:
            arrays[f"{key}_{k}"] = getattr(counts, k)
        if counts.confusion is not None:
            arrays[f"{key}_confusion"] = counts.confusion
    arrays["heads"] = np.array(names, dtype=str)
    arrays["ids"] = np.array(list(all_ids), dtype=str)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def load_counts(path: str | Path) -> dict[str, SegCounts]:
    """Read the counts written by :func:`save_counts`.

    Returns:
        Head → :class:`SegCounts`, in the order they were saved.

    Raises:
        DataError: the file is missing, unreadable, of another format version, or lacks a key.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"evaluation counts '{path}' do not exist; run the evaluation that writes them first")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"evaluation counts '{path}' cannot be read as .npz ({exc}); delete it and re-evaluate") from exc
    fmt = int(arrays["format"]) if "format" in arrays else None
    if fmt != COUNTS_FORMAT:
        raise DataError(f"evaluation counts '{path}' have format {fmt}; this version reads format {COUNTS_FORMAT}. "
                        f"Re-run the evaluation with this version")
    out: dict[str, SegCounts] = {}
    for head in (str(h) for h in arrays.get("heads", [])):
        keys = ["ids", "class_names", *COUNT_KEYS]
        missing = [f"{head}_{k}" for k in keys if f"{head}_{k}" not in arrays]
        if missing:
            raise DataError(f"evaluation counts '{path}' lack keys {missing}; the file is incomplete, re-evaluate")
        out[head] = SegCounts(
            head, tuple(arrays[f"{head}_class_names"].tolist()), arrays[f"{head}_ids"].tolist(),
            **{k: arrays[f"{head}_{k}"] for k in COUNT_KEYS}, confusion=arrays.get(f"{head}_confusion"),
            groups=arrays[f"{head}_groups"].tolist() if f"{head}_groups" in arrays else None,
        )
    return out


#: Version of the layout of ``metrics.json``, ``eval.json`` and ``<partition>_pred.npz``.
EVAL_FORMAT = 2


#: Label level each scored head is compared with.
BASE_HEAD = {
    "binary": "binary", "coarse": "coarse", "fine": "fine",
    "binary_from_fine": "binary", "coarse_from_fine": "coarse",
    "binary_consistent": "binary", "coarse_consistent": "coarse", "fine_consistent": "fine",
}


_PRED_HEADS = HEADS


_CONSISTENT_PRED = "fine_consistent"


def save_predictions(path: Path, ids: Sequence[str], shapes: Sequence[tuple[int, int]],
                     preds: Mapping[str, Sequence[np.ndarray]], max_side_px: int) -> None:
    """Write ``<partition>_pred.npz``: per head, the images' downsampled masks padded with 255 to one square.

    Args:
        path: the file to write.
        ids: the images' ids, in order.
        shapes: each image's scored (H, W), px.
        preds: head -> one (h, w) uint8 mask per image (long side at most ``max_side_px``).
        max_side_px: the long side the masks were downsampled to, px.
    """
    n = len(ids)
    side = max([max(p.shape) for p in preds["fine"]], default=1)
    arrays: dict[str, np.ndarray] = {
        "format": np.array(EVAL_FORMAT),
        "max_side_px": np.array(max_side_px),
        "ids": np.array(list(ids), dtype=str),
        "shape": np.array(shapes, dtype=np.int64).reshape(n, 2),
        "size": np.array([p.shape for p in preds["fine"]], dtype=np.int64).reshape(n, 2),
    }
    for head, masks in preds.items():
        stack = np.full((n, side, side), IGNORE_INDEX, dtype=np.uint8)
        for k, m in enumerate(masks):
            stack[k, :m.shape[0], :m.shape[1]] = m
        arrays[head] = stack
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def load_predictions(path: str | Path) -> dict[str, Any]:
    """Read a ``<partition>_pred.npz`` written by :func:`evaluate_run`.

    Returns:
        ``{"ids": [...], "shape": (N, 2), head: [one (h, w) uint8 mask per image] for binary, coarse, fine}``.

    Raises:
        DataError: the file is missing or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"prediction masks '{path}' do not exist; evaluate the run first (evaluate_run)")
    with np.load(path, allow_pickle=False) as data:
        if int(data["format"]) != EVAL_FORMAT:
            raise DataError(f"prediction masks '{path}' have format {int(data['format'])}; this version reads "
                            f"{EVAL_FORMAT}. Re-evaluate the run")
        sizes = data["size"]
        out: dict[str, Any] = {"ids": data["ids"].tolist(), "shape": data["shape"]}
        for head in (*_PRED_HEADS, _CONSISTENT_PRED):
            if head in data.files:
                out[head] = [data[head][k, :h, :w] for k, (h, w) in enumerate(sizes)]
    return out


def stored_prediction(preds: Mapping[str, Any], head: str, index: int, taxonomy: Taxonomy | None = None) -> np.ndarray:
    """The stored (downsampled) prediction of any scored head for image ``index`` of a ``_pred.npz``.

    ``*_from_fine`` heads are mapped from ``fine``, ``*_consistent`` heads from ``fine_consistent``.

    Args:
        preds: the output of :func:`load_predictions`.
        head: a scored head (:data:`BASE_HEAD`).
        index: row of the image in ``preds["ids"]``.
        taxonomy: the label hierarchy; None for the ARTeFACT default.

    Returns:
        (h, w) uint8 labels of the head's level (255 = padding never occurs inside the stored size).

    Raises:
        DataError: an unknown head, or a consistent head of an evaluation made without ``consistent``.
    """
    taxonomy = taxonomy or default_taxonomy()
    if head not in BASE_HEAD:
        raise DataError(f"unknown scored head '{head}'; allowed are {list(BASE_HEAD)}")
    source = head if head in _PRED_HEADS else ("fine" if head.endswith("_from_fine") else _CONSISTENT_PRED)
    if source not in preds:
        raise DataError(f"no stored predictions for '{head}' (needs '{source}'); re-evaluate with consistent=True")
    return taxonomy.map_labels(preds[source][index], "fine" if source != head else BASE_HEAD[head], BASE_HEAD[head])


def resolve_run_path(run_dir: Path, value: str) -> Path:
    """A path recorded in ``run.json``: absolute as is, relative to the run directory otherwise."""
    p = Path(value)
    return p if p.is_absolute() or p.exists() else (run_dir / p)


def _partition_order(partition: str) -> int:
    return PARTITIONS.index(partition) if partition in PARTITIONS else len(PARTITIONS)


def summary_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One row per evaluated partition and scored head: images, mIoU with CI, mAcc, mDice, aAcc, violation rate.

    Args:
        metrics: the content of ``metrics.json`` (or the ``metrics`` of :func:`evaluate_run`'s result).

    Returns:
        Columns ``partition, head, n_images, miou, miou_ci_low, miou_ci_high, macc, mdice, aacc,
        violation_rate`` (fractions; NaN where undefined); skipped partitions get one row with head "" and
        0 images.
    """
    rows = []
    for part in sorted(metrics["partitions"], key=_partition_order):
        scores = metrics["partitions"][part]
        if "heads" not in scores:
            rows.append(dict(partition=part, head="", n_images=0))
            continue
        rate = (scores.get("violation") or {}).get("rate")
        for head in [h for h in BASE_HEAD if h in scores["heads"]]:
            h = scores["heads"][head]
            low, high = h["miou_ci"]
            rows.append(dict(partition=part, head=head, n_images=h["n_images"], miou=h["miou"], miou_ci_low=low,
                             miou_ci_high=high, macc=h["macc"], mdice=h["mdice"], aacc=h["aacc"],
                             violation_rate=rate))
    columns = ["partition", "head", "n_images", "miou", "miou_ci_low", "miou_ci_high", "macc", "mdice", "aacc",
               "violation_rate"]
    return pd.DataFrame(rows, columns=columns).astype({c: float for c in columns[3:]})


@dataclass
class Evaluation:
    """A run's evaluation as read back from ``<run_dir>/eval/``.

    Attributes:
        run_dir: the run directory.
        run_info: its ``run.json``.
        eval_info: ``eval/eval.json``.
        metrics: ``eval/metrics.json``.
    """

    run_dir: Path
    run_info: dict[str, Any]
    eval_info: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def evaluated_partitions(self) -> list[str]:
        """Partitions with scores (not skipped), in the order of :data:`~heritage_core.splits.protocols.PARTITIONS`."""
        return [p for p in PARTITIONS if self.eval_info["partitions"].get(p, {}).get("status") == "evaluated"]

    def scored_heads(self, partition: str) -> list[str]:
        """Scored heads of an evaluated partition, in the order of :func:`scored_heads`."""
        heads = self.metrics["partitions"][partition]["heads"]
        return [h for h in BASE_HEAD if h in heads]

    def counts(self, partition: str) -> dict[str, SegCounts]:
        """Per-image counts of ``partition`` (scored head -> counts)."""
        return load_counts(self.run_dir / "eval" / f"{partition}.npz")

    def predictions(self, partition: str) -> dict[str, Any]:
        """Downsampled prediction masks of ``partition`` (see :func:`load_predictions`)."""
        return load_predictions(self.run_dir / "eval" / f"{partition}_pred.npz")

    def cache(self) -> Cache:
        """The run's ingest cache (images and masks for display)."""
        return open_cache(resolve_run_path(self.run_dir, self.run_info["cache"]))


def load_evaluation(run_dir: str | Path) -> Evaluation:
    """Read ``run.json``, ``eval/eval.json`` and ``eval/metrics.json`` of an evaluated run.

    Raises:
        RunError: the run or its evaluation is missing or of another format.
    """
    run_dir = Path(run_dir)
    paths = [run_dir / "run.json", run_dir / "eval" / "eval.json", run_dir / "eval" / "metrics.json"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RunError(f"run '{run_dir}' has no complete evaluation (missing {missing}); run evaluate_run "
                       f"(03_evaluate) on it first")
    run_info, eval_info, metrics = (read_json(p) for p in paths)
    if eval_info.get("format") != EVAL_FORMAT or metrics.get("format") != EVAL_FORMAT:
        raise RunError(f"evaluation of '{run_dir}' has format {eval_info.get('format')}; this version reads "
                       f"{EVAL_FORMAT}. Re-run evaluate_run")
    return Evaluation(run_dir, run_info, eval_info, metrics)
