"""Ingest: decode a dataset source once into the uint8 cache described in :mod:`heritage_core.data.cache`.

Each item is decoded, validated (:mod:`heritage_core.data.validate`) and downsized so its long side is at
most ``max_side_px``: images with area averaging (``BOX``, after JPEG draft decoding), masks with nearest
neighbour so no label is invented and 255 stays 255. Nothing is ever upsampled.

The cache is built in a temporary folder beside ``out`` and renamed into place at the end, so a failure
leaves ``out`` as it was (absent, or the previous cache).

Re-running on an unchanged source with the same ``max_side_px`` is a no-op. The check is cheap: ingest
stores the size and modification time (ns) of every source file in ``dataset.json`` (``source_files``)
and compares them, without hashing the source again. A copied source (new mtimes) is therefore
re-ingested, which gives the same fingerprint.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from heritage_core.data.cache import CACHE_FORMAT, INDEX_COLUMNS, Record, compute_fingerprint, item_filename, open_cache
from heritage_core.data.readers import Rejection, Source, open_source
from heritage_core.data.validate import ItemValidator
from heritage_core.errors import ConfigError, DataError
from heritage_core.runs import atomic_dir, atomic_write_json, read_json

__all__ = ["MIN_SIDE_PX", "IngestReport", "ingest"]

#: Smallest ``max_side_px`` accepted: below this the damage classes (1-3 px specks at 512 px) vanish.
MIN_SIDE_PX = 32
_REJECTED_COLUMNS = ("id", "source", "reason")


@dataclass
class IngestReport:
    """What :func:`ingest` did.

    Attributes:
        cache: the cache folder.
        source: the source path as given.
        kind: detected source kind (see :mod:`heritage_core.data.readers`).
        n_items: items in the cache.
        n_rejected: items recorded in ``rejected.csv`` (``skip_bad`` only).
        fingerprint: dataset fingerprint (hex SHA-256).
        max_side_px: long side limit of the cached items, in px.
        label_levels: label levels present.
        noop: True when the cache was already up to date and nothing was written.
        duration_s: wall time in seconds.
        rejected: the rejected items (id, source, reason).
    """

    cache: Path
    source: str
    kind: str
    n_items: int
    n_rejected: int
    fingerprint: str
    max_side_px: int
    label_levels: list[str]
    noop: bool
    duration_s: float
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        """Ingest throughput (items written or rejected per second of wall time)."""
        return (self.n_items + self.n_rejected) / max(self.duration_s, 1e-9)

    def __str__(self) -> str:
        levels = "/".join(self.label_levels)
        what = f"fingerprint {self.fingerprint[:12]}, max side {self.max_side_px} px, label levels {levels}"
        if self.noop:
            return (
                f"ingest no-op: cache '{self.cache}' is up to date with '{self.source}' "
                f"({self.n_items} items, {what})"
            )
        text = (
            f"ingest: wrote {self.n_items} items from '{self.source}' ({self.kind}) to cache '{self.cache}' "
            f"({what}) in {self.duration_s:.1f} s ({self.items_per_s:.1f} items/s); {self.n_rejected} rejected"
        )
        if self.n_rejected:
            text += f", see '{self.cache / 'rejected.csv'}'"
        return text


def _check_out(out: Path, source: Path) -> None:
    """Refuse an ``out`` that would overwrite something other than a cache, or the source itself."""
    if out.exists() and not out.is_dir():
        raise DataError(f"cache path '{out}' is a file; give a folder path for --out")
    if out.is_dir() and any(out.iterdir()) and not (out / "dataset.json").is_file():
        raise DataError(
            f"cache path '{out}' is a non-empty folder that is not an ingest cache; ingest replaces its --out "
            f"folder, so give a new or empty folder"
        )
    src, dst = source.resolve(), out.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        raise DataError(f"cache path '{out}' overlaps the source '{source}'; write the cache outside the source")


def _up_to_date(out: Path, meta: dict[str, Any], skip_bad: bool) -> bool:
    """Whether the cache in ``out`` was built from the same source state with the same settings."""
    try:
        old = read_json(out / "dataset.json")
    except (OSError, ValueError):
        return False
    keys = ("source", "max_side_px", "format", "source_files", "synthetic")
    if any(old.get(k) != meta[k] for k in keys):
        return False
    if old.get("n_rejected", 0) and not skip_bad:
        return False  # the old cache skipped items; without --skip-bad the run must fail again
    try:
        open_cache(out)
    except DataError:
        return False
    return True


def _index_row(record: Record, file: str, stored_hw: tuple[int, int]) -> dict[str, Any]:
    height, width = record.mask.shape
    return {
        "id": record.id, "group": record.group, "material": record.material, "content": record.content,
        "type": record.type, "label_level": record.label_level, "orig_height": stored_hw[0],
        "orig_width": stored_hw[1], "height": height, "width": width, "file": file,
        "source": record.source, "sha256": record.sha256,
    }


def _synthetic(src: Source) -> dict[str, int] | None:
    """The generator settings when any file of ``src`` was written by ``heritage synth``, else None.

    Recorded in ``dataset.json`` so that a report never presents numbers on synthetic data as ARTeFACT's.
    """
    from heritage_core.data.synth import synthetic_settings

    return next((s for s in map(synthetic_settings, src.files()) if s is not None), None)


def _write_items(
    src: Source, tmp: Path, max_side_px: int, skip_bad: bool, progress: bool
) -> tuple[list[dict], list[Rejection]]:
    """Decode, validate and save every item into ``tmp``; the index rows and the rejections."""
    (tmp / "images").mkdir()
    (tmp / "masks").mkdir()
    rows: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    validate = ItemValidator()
    for raw in tqdm(src.items(max_side_px), total=len(src), disable=not progress, desc="ingest", unit="item"):
        item = validate(raw)
        if isinstance(item, Rejection):
            if not skip_bad:
                raise DataError(
                    f"{item.source} (id '{item.id}'): {item.reason}. Fix the source, or re-run 'heritage ingest' "
                    f"with --skip-bad to record it in rejected.csv and continue"
                )
            rejected.append(item)
            continue
        file = item_filename(item.id)
        np.save(tmp / "images" / f"{file}.npy", np.ascontiguousarray(item.image))
        np.save(tmp / "masks" / f"{file}.npy", np.ascontiguousarray(item.mask))
        rows.append(_index_row(item, file, raw.image_hw))
    return rows, rejected


def ingest(
    source: str | Path,
    out: str | Path,
    max_side_px: int = 1024,
    skip_bad: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Decode ``source`` once into a validated uint8 cache at ``out``.

    Args:
        source: ARTeFACT parquet folder or file, folder with ``metadata.csv``, or binary-mask folder
            (detection rules in :mod:`heritage_core.data.readers`).
        out: cache folder to write (replaced if it holds an older cache; never any other folder).
        max_side_px: longest side of cached images and masks in px (smaller items keep their size).
        skip_bad: record bad items in ``rejected.csv`` (id, source, reason) and continue instead of failing.
        progress: show a tqdm progress bar.

    Returns:
        An :class:`IngestReport`; ``str()`` of it is a one-line summary.

    Raises:
        ConfigError: ``max_side_px`` is not an integer >= :data:`MIN_SIDE_PX`.
        DataError: the source is unreadable, an item is bad (without ``skip_bad``), every item is bad, or
            ``out`` is not a cache folder. ``out`` is left untouched.
    """
    if isinstance(max_side_px, bool) or not isinstance(max_side_px, (int, np.integer)) or max_side_px < MIN_SIDE_PX:
        raise ConfigError(f"max_side_px is {max_side_px!r}; it must be an integer >= {MIN_SIDE_PX} (e.g. 512 or 1024)")
    max_side_px = int(max_side_px)
    started = time.perf_counter()
    out = Path(out)
    src = open_source(source)
    _check_out(out, Path(source))
    meta: dict[str, Any] = {
        "source": str(Path(source).resolve()), "max_side_px": max_side_px, "format": CACHE_FORMAT,
        "kind": src.kind, "source_files": src.state(), "synthetic": _synthetic(src),
    }
    if _up_to_date(out, meta, skip_bad):
        old = read_json(out / "dataset.json")
        return IngestReport(
            cache=out, source=str(source), kind=src.kind, n_items=old["n_items"], n_rejected=old.get("n_rejected", 0),
            fingerprint=old["fingerprint"], max_side_px=max_side_px, label_levels=old["label_levels"],
            noop=True, duration_s=time.perf_counter() - started,
        )
    with atomic_dir(out) as tmp:
        rows, rejected = _write_items(src, tmp, max_side_px, skip_bad, progress)
        if not rows:
            raise DataError(
                f"all {len(rejected)} items of '{source}' were rejected (first: {rejected[0].source}: "
                f"{rejected[0].reason}); nothing to cache" if rejected else f"'{source}' holds no items; nothing to cache"
            )
        index = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
        index.to_csv(tmp / "index.csv", index=False)
        if skip_bad:
            table = pd.DataFrame([(r.id, r.source, r.reason) for r in rejected], columns=list(_REJECTED_COLUMNS))
            table.to_csv(tmp / "rejected.csv", index=False)
        meta.update(
            fingerprint=compute_fingerprint(index), n_items=len(index), n_rejected=len(rejected),
            label_levels=sorted(set(index["label_level"])),
        )
        atomic_write_json(tmp / "dataset.json", meta)
        open_cache(tmp)  # the cache reads back with the same fingerprint before it replaces anything
    return IngestReport(
        cache=out, source=str(source), kind=src.kind, n_items=len(index), n_rejected=len(rejected),
        fingerprint=meta["fingerprint"], max_side_px=max_side_px, label_levels=meta["label_levels"],
        noop=False, duration_s=time.perf_counter() - started, rejected=rejected,
    )
