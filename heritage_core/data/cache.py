"""The ingest cache: one record form for every source, stored as uint8 ``.npy`` arrays plus ``index.csv``.

Layout of a cache folder ``CACHE/``::

    CACHE/
      dataset.json        {"fingerprint", "n_items", "max_side_px", "source", "kind", "label_levels", "format",
                           "n_rejected", "source_files" (size and mtime of each source file: the no-op check),
                           "synthetic" (the generator settings when the source was written by ``heritage synth``,
                           else null)}
      index.csv           one row per item, columns INDEX_COLUMNS
      images/<file>.npy   (H, W, 3) uint8 RGB, long side <= max_side_px
      masks/<file>.npy    (H, W) uint8 labels of the item's label level, 255 = ignore
      rejected.csv        only after ``ingest --skip-bad``: id, source, reason

``label_level`` is ``fine`` (ARTeFACT classes 0..15 and 255) or ``binary`` (0 clean, 1 damage, 255).
Binary-level items train and are scored on the binary head alone.

The dataset fingerprint is the SHA-256 over the sorted (id, group, material, content, label level, source
SHA-256, cached size) rows, so it changes when any item, label or the cache resolution changes, and
manifests and runs built on one cache refuse another.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from heritage_core.errors import DataError
from heritage_core.runs import read_json

__all__ = [
    "LABEL_LEVELS",
    "INDEX_COLUMNS",
    "Record",
    "Cache",
    "open_cache",
    "compute_fingerprint",
    "item_filename",
]

#: Label levels a dataset can carry.
LABEL_LEVELS = ("fine", "binary")
#: Columns of ``index.csv``, in order.
INDEX_COLUMNS = (
    "id", "group", "material", "content", "type", "label_level",
    "orig_height", "orig_width", "height", "width", "file", "source", "sha256",
)
CACHE_FORMAT = 1
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass
class Record:
    """One annotated item in the common in-memory form.

    Attributes:
        id: unique item id.
        material: one of the ARTeFACT materials (e.g. ``Paper``) or the source's own.
        content: content type (e.g. ``Artistic depiction``).
        type: ARTeFACT ``type`` column, or "" when the source has none.
        image: (H, W, 3) uint8 RGB.
        mask: (H, W) uint8 labels of ``label_level``; 255 = ignore.
        label_level: ``fine`` or ``binary``.
        group: source id; derived copies inherit it so splits keep them together.
        source: where the item came from (file, and row for parquet) for error messages.
        sha256: SHA-256 of the source bytes (image then annotation).
    """

    id: str
    material: str
    content: str
    type: str
    image: np.ndarray
    mask: np.ndarray
    label_level: str
    group: str
    source: str
    sha256: str


def item_filename(item_id: str) -> str:
    """File stem of an item in the cache: the id itself when it is filesystem-safe, else a hash."""
    if _SAFE.match(item_id) and item_id not in {".", ".."}:
        return item_id
    return "h" + hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:24]


def compute_fingerprint(index: pd.DataFrame) -> str:
    """Dataset fingerprint of a cache index (hex SHA-256; see the module docstring)."""
    cols = ["id", "group", "material", "content", "label_level", "sha256", "height", "width"]
    rows = index[cols].reset_index(drop=True).astype(str).sort_values("id").itertuples(index=False, name=None)
    h = hashlib.sha256()
    for row in rows:
        h.update(("\x1f".join(row) + "\x1e").encode("utf-8"))
    return h.hexdigest()


class Cache:
    """Read access to an ingest cache folder.

    Args:
        root: the cache folder (holding ``index.csv`` and ``dataset.json``).

    Raises:
        DataError: the folder is not a complete cache, or its fingerprint does not match its index.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path, index_path = self.root / "dataset.json", self.root / "index.csv"
        if not meta_path.is_file() or not index_path.is_file():
            raise DataError(
                f"'{self.root}' is not an ingest cache (no dataset.json / index.csv); "
                f"create one with 'heritage ingest SOURCE --out {self.root}'"
            )
        self.meta: dict = read_json(meta_path)
        text_columns = ("id", "group", "material", "content", "type", "label_level", "file", "source", "sha256")
        index = pd.read_csv(index_path, dtype={c: str for c in text_columns}, keep_default_na=False)
        missing = [c for c in INDEX_COLUMNS if c not in index.columns]
        if missing:
            raise DataError(f"'{index_path}' lacks columns {missing}; re-run 'heritage ingest'")
        self.index: pd.DataFrame = index.set_index("id", drop=False)
        # id -> file stem: the loaders' per-item lookup, without a pandas row lookup per array
        self._files: dict[str, str] = dict(zip(self.index["id"], self.index["file"]))
        self.fingerprint: str = self.meta["fingerprint"]
        actual = compute_fingerprint(self.index)
        if actual != self.fingerprint:
            raise DataError(
                f"cache '{self.root}': index.csv has fingerprint {actual[:12]}… but dataset.json says "
                f"{self.fingerprint[:12]}…; the cache was modified by hand. Re-run 'heritage ingest'"
            )

    def __len__(self) -> int:
        return len(self.index)

    @property
    def ids(self) -> list[str]:
        """Item ids in index order."""
        return self.index["id"].tolist()

    def _file(self, item_id: str) -> str:
        """The file stem of ``item_id``; the one check that the id is in the cache."""
        try:
            return self._files[item_id]
        except KeyError:
            raise DataError(f"cache '{self.root}' has no item with id '{item_id}'") from None

    def _row(self, item_id: str) -> pd.Series:
        self._file(item_id)
        return self.index.loc[item_id]

    def load_image(self, item_id: str, mmap: bool = False) -> np.ndarray:
        """The (H, W, 3) uint8 image of ``item_id``."""
        return np.load(self.root / "images" / f"{self._file(item_id)}.npy", mmap_mode="r" if mmap else None)

    def load_mask(self, item_id: str, mmap: bool = False) -> np.ndarray:
        """The (H, W) uint8 mask of ``item_id`` at its own label level (255 = ignore)."""
        return np.load(self.root / "masks" / f"{self._file(item_id)}.npy", mmap_mode="r" if mmap else None)

    def label_level(self, item_id: str) -> str:
        """``fine`` or ``binary``."""
        return str(self._row(item_id)["label_level"])

    def records(self, ids: list[str] | None = None) -> Iterator[Record]:
        """Iterate :class:`Record` objects (arrays loaded) for ``ids`` (default: all, in index order)."""
        for item_id in ids if ids is not None else self.ids:
            row = self._row(item_id)
            yield Record(
                id=item_id, material=row["material"], content=row["content"], type=row["type"],
                image=self.load_image(item_id), mask=self.load_mask(item_id), label_level=row["label_level"],
                group=row["group"], source=row["source"], sha256=row["sha256"],
            )


def open_cache(root: str | Path) -> Cache:
    """Open an ingest cache folder (see :class:`Cache`)."""
    return Cache(root)
