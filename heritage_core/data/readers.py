"""Dataset readers: ARTeFACT parquet shards, ``metadata.csv`` folders and binary-mask folders.

Every reader decodes each item once and yields either a :class:`RawItem` (image already at its cached
size, mask still at full resolution so that :mod:`heritage_core.data.validate` can check every label
value) or a :class:`Rejection` when the item's bytes or files cannot be read at all. Readers judge
nothing else; validation turns a ``RawItem`` into a :class:`~heritage_core.data.cache.Record`.

Source kinds, detected by :func:`open_source` (the first rule that matches wins):

1. ``parquet``: SOURCE is a ``.parquet`` file; or a folder with ``data/*.parquet`` (the published
   ARTeFACT layout, ``data/train-000NN-of-00028.parquet``); or a folder with ``*.parquet`` in it.
   Columns read: ``id, image, annotation, material, content`` (required) and ``type`` (optional).
   ``image`` and ``annotation`` are Hugging Face image structs ``{bytes, path}`` holding PNG/JPEG
   bytes. ``annotation_rgb`` (a colour rendering of ``annotation``) and the description columns are
   not read. Label level ``fine``; ``group`` = ``id`` (the source has no derived copies).
2. ``metadata_csv``: a folder whose ``metadata.csv`` has the columns ``image_path`` and
   ``annotation_path`` (paths relative to the CSV) plus ``id, material, content``; optional ``type``,
   ``group`` (default: ``id``) and ``label_level`` (``fine`` or ``binary``; default ``fine``).
3. ``binary_folder``: a folder whose ``metadata.csv`` has the columns ``image`` and ``mask`` (paths
   relative to the CSV) plus ``id, material, content``, like ``film_damage_real``: masks are 0 clean,
   1 damage; label level ``binary``. Other columns are ignored.

A folder holding both parquet files and a ``metadata.csv`` is read as parquet. Rows are numbered from
0 in file order (as pyarrow and pandas number them): ``"data/train-00000-of-00001.parquet#row 3"`` or
``"metadata.csv#row 3"`` in messages and ``rejected.csv``.

Pixels are taken as stored: EXIF orientation is not applied, so images and masks stay aligned.
"""
from __future__ import annotations

import hashlib
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from heritage_core.data.cache import Record
from heritage_core.errors import DataError

__all__ = [
    "SOURCE_KINDS",
    "MAX_IMAGE_PIXELS",
    "RawItem",
    "Rejection",
    "Source",
    "ParquetSource",
    "CsvFolderSource",
    "open_source",
    "target_size",
    "decode_image",
    "decode_mask",
]

#: Kinds of dataset source, in detection order.
SOURCE_KINDS = ("parquet", "metadata_csv", "binary_folder")

#: Largest image or mask accepted, in pixels. ARTeFACT's largest image has 133 Mpx (12288 x 10860), above
#: Pillow's default bomb limit of 89 Mpx, so the limit is raised to 200 Mpx: room for the real data, still a
#: bound on memory (a 200 Mpx RGB image decodes to 600 MB). Pillow only raises above twice its limit, so
#: :func:`decode_image` and :func:`decode_mask` enforce this bound themselves from the header size.
MAX_IMAGE_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

_PARQUET_REQUIRED = ("id", "image", "annotation", "material", "content")
_PARQUET_OPTIONAL = ("type",)
#: Single-channel Pillow modes accepted for masks ("P" gives palette indices, "1" gives 0/1).
_MASK_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")


@dataclass
class Rejection:
    """An item that cannot be used, with the reason.

    Attributes:
        id: item id as read ("" when the id itself is missing).
        source: where it is: ``file`` or ``file#row N``.
        reason: what is wrong, what was allowed.
    """

    id: str
    source: str
    reason: str


@dataclass
class RawItem:
    """One decoded, not yet validated item.

    Attributes:
        id: item id as read ("" when missing).
        material: material as read (None when missing).
        content: content type as read (None when missing).
        type: ARTeFACT ``type`` or "".
        group: group id (the id when the source has none).
        label_level: label level as read (validation checks it is ``fine`` or ``binary``).
        source: what goes to ``index.csv``: ``file#row N`` for parquet, the image file for folders.
        where: location for messages and ``rejected.csv`` (``file#row N``).
        sha256: SHA-256 of the source bytes, image then annotation.
        image: (h, w, 3) uint8 RGB, already downsized to :func:`target_size` of ``image_hw``.
        image_hw: (height, width) of the image as stored, in px.
        mask: (H, W) integer labels at full resolution, any integer dtype.
    """

    id: str
    material: Any
    content: Any
    type: str
    group: str
    label_level: str
    source: str
    where: str
    sha256: str
    image: np.ndarray
    image_hw: tuple[int, int]
    mask: np.ndarray

    def to_record(self) -> Record:
        """The :class:`Record` with the mask resized (nearest) to the cached image size.

        Call only after validation (sizes match, values fit in uint8).
        """
        height, width = self.image.shape[:2]
        mask = self.mask.astype(np.uint8, copy=False)
        if mask.shape != (height, width):
            mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
        return Record(
            id=self.id, material=str(self.material), content=str(self.content), type=self.type,
            image=self.image, mask=mask, label_level=self.label_level, group=self.group,
            source=self.source, sha256=self.sha256,
        )


# ------------------------------------------------------------------------------------------- decoding
def target_size(height: int, width: int, max_side_px: int | None) -> tuple[int, int]:
    """Size with the long side at most ``max_side_px``, aspect ratio kept, never upsampled.

    Args:
        height: stored height in px.
        width: stored width in px.
        max_side_px: longest side allowed in px; None keeps the stored size.

    Returns:
        (height, width) in px; the long side equals ``max_side_px`` when the image was larger.
    """
    long_side = max(height, width)
    if max_side_px is None or long_side <= max_side_px:
        return height, width
    scale = max_side_px / long_side
    return max(1, round(height * scale)), max(1, round(width * scale))


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(
            f"{what} is {width}x{height} px ({width * height / 1e6:.0f} Mpx), more than the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} Mpx allowed; downsize it before ingest"
        )


def decode_image(data: bytes, max_side_px: int | None = None, what: str = "image") -> tuple[np.ndarray, tuple[int, int]]:
    """Decode PNG/JPEG bytes to RGB, downsized so the long side is at most ``max_side_px``.

    JPEGs are first decoded at a reduced scale with ``Image.draft`` (DCT scaling to a size no smaller
    than the target), then every image is resized exactly with area averaging (``BOX``).

    Args:
        data: the encoded image.
        max_side_px: longest side of the result in px; None keeps the stored size.
        what: name of the image in error messages (e.g. ``image file 'a.jpg'``).

    Returns:
        The (h, w, 3) uint8 RGB array and the stored (height, width) in px.

    Raises:
        DataError: the bytes are not a readable image, or it exceeds :data:`MAX_IMAGE_PIXELS`.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_pixels(im.width, im.height, what)
            stored = (im.height, im.width)
            height, width = target_size(*stored, max_side_px)
            if (height, width) != stored:
                im.draft("RGB", (width, height))  # JPEG only; other formats ignore it
            im.load()
            rgb = im if im.mode == "RGB" else im.convert("RGB")  # no copy of large RGB images
            if rgb.size != (width, height):
                rgb = rgb.resize((width, height), Image.Resampling.BOX)
            return np.asarray(rgb, dtype=np.uint8), stored
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{what} cannot be decoded ({type(exc).__name__}: {exc})") from None


def decode_mask(data: bytes, what: str = "annotation") -> np.ndarray:
    """Decode a single-channel label image (PNG) at full resolution.

    Args:
        data: the encoded mask.
        what: name of the mask in error messages.

    Returns:
        (H, W) integer labels as stored (uint8 for mode ``L``/``P``/``1``, wider for 16/32-bit masks).

    Raises:
        DataError: the bytes are not a readable image, it has more than one channel, or it exceeds
            :data:`MAX_IMAGE_PIXELS`.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_pixels(im.width, im.height, what)
            if im.mode not in _MASK_MODES:
                raise DataError(
                    f"{what} has mode {im.mode} ({len(im.getbands())} channels); expected a single-channel "
                    f"label image (mode L or P) holding class ids, not a colour rendering"
                )
            im.load()
            mask = np.asarray(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{what} cannot be decoded ({type(exc).__name__}: {exc})") from None
    return mask.astype(np.uint8) if mask.dtype == bool else mask


def _sha256(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# -------------------------------------------------------------------------------------------- sources
class Source(ABC):
    """A dataset source: knows its files, its size, and how to read its items.

    Attributes:
        root: the path given by the user.
        kind: one of :data:`SOURCE_KINDS`.
    """

    kind = ""

    def __init__(self, root: Path) -> None:
        self.root = root

    @abstractmethod
    def __len__(self) -> int:
        """Number of items (rows) in the source, good or bad."""

    @abstractmethod
    def files(self) -> list[Path]:
        """The files whose content makes up the dataset (for the no-op check of ingest)."""

    @abstractmethod
    def items(self, max_side_px: int | None = None) -> Iterator[RawItem | Rejection]:
        """Decode the items one at a time, images downsized to a long side of at most ``max_side_px``."""

    def state(self) -> list[dict[str, Any]]:
        """Size (bytes) and modification time (ns) of every existing file of :meth:`files`.

        Paths are relative to the source folder, so the state is that of the content, not of its place.
        """
        base = self.root if self.root.is_dir() else self.root.parent
        out = []
        for path in self.files():
            try:
                st = path.stat()
            except OSError:
                continue
            out.append({"path": os.path.relpath(path, base), "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
        return out


class ParquetSource(Source):
    """ARTeFACT as published: parquet shards with Hugging Face image structs (module docstring, kind 1).

    Shards are read one row group at a time and only the needed columns, never a whole file at once.

    Args:
        root: the ``.parquet`` file or the folder given by the user.
        shards: the parquet files, in reading order.
    """

    kind = "parquet"

    def __init__(self, root: Path, shards: list[Path]) -> None:
        super().__init__(root)
        self.shards = shards

    def _open(self, path: Path) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"'{path}' is not a readable parquet file ({exc}); re-download or remove it") from None

    def __len__(self) -> int:
        return sum(self._open(p).metadata.num_rows for p in self.shards)

    def files(self) -> list[Path]:
        return list(self.shards)

    def items(self, max_side_px: int | None = None) -> Iterator[RawItem | Rejection]:
        for path in self.shards:
            shard = self._open(path)
            found = shard.schema_arrow.names
            missing = [c for c in _PARQUET_REQUIRED if c not in found]
            if missing:
                raise DataError(
                    f"'{path}' lacks the required column(s) {missing}; columns found: {found}. ARTeFACT parquet "
                    f"needs {list(_PARQUET_REQUIRED)} (image and annotation as {{bytes, path}} structs)"
                )
            columns = list(_PARQUET_REQUIRED) + [c for c in _PARQUET_OPTIONAL if c in found]
            first_row = 0
            for group in range(shard.num_row_groups):
                table = shard.read_row_group(group, columns=columns)
                for r in range(table.num_rows):
                    row = {c: table.column(c)[r].as_py() for c in columns}
                    yield self._item(row, f"{path}#row {first_row + r}", max_side_px)
                first_row += table.num_rows
                del table

    @staticmethod
    def _item(row: dict[str, Any], where: str, max_side_px: int | None) -> RawItem | Rejection:
        item_id = _text(row["id"])
        try:
            image_bytes = _struct_bytes(row["image"], "image")
            mask_bytes = _struct_bytes(row["annotation"], "annotation")
            image, stored = decode_image(image_bytes, max_side_px, "image")
            mask = decode_mask(mask_bytes, "annotation")
        except DataError as exc:
            return Rejection(item_id, where, str(exc))
        return RawItem(
            id=item_id, material=row["material"], content=row["content"], type=_text(row.get("type")),
            group=item_id, label_level="fine", source=where, where=where,
            sha256=_sha256(image_bytes, mask_bytes), image=image, image_hw=stored, mask=mask,
        )


def _struct_bytes(value: Any, column: str) -> bytes:
    """The encoded bytes of a Hugging Face image struct ``{bytes, path}`` (or of a plain binary cell)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    data = value.get("bytes") if isinstance(value, dict) else None
    if not data:
        path = value.get("path") if isinstance(value, dict) else None
        raise DataError(
            f"column '{column}' holds no image bytes (value {value!r:.80}, path {path!r}); ARTeFACT parquet "
            f"embeds the PNG/JPEG bytes in '{column}.bytes'"
        )
    return bytes(data)


@dataclass(frozen=True)
class _CsvLayout:
    kind: str
    image_column: str
    mask_column: str
    default_level: str
    optional: tuple[str, ...]


_METADATA_CSV = _CsvLayout("metadata_csv", "image_path", "annotation_path", "fine", ("type", "group", "label_level"))
_BINARY_FOLDER = _CsvLayout("binary_folder", "image", "mask", "binary", ("type", "group"))


class CsvFolderSource(Source):
    """A folder with ``metadata.csv`` and image/mask files (module docstring, kinds 2 and 3).

    Args:
        root: the folder holding ``metadata.csv``.
        layout: which columns hold the image and mask paths, and the default label level.
        table: the parsed ``metadata.csv`` (all columns as text).
    """

    def __init__(self, root: Path, layout: _CsvLayout, table: pd.DataFrame) -> None:
        super().__init__(root)
        self.layout = layout
        self.kind = layout.kind
        self.csv_path = root / "metadata.csv"
        required = ["id", "material", "content", layout.image_column, layout.mask_column]
        missing = [c for c in required if c not in table.columns]
        if missing:
            raise DataError(
                f"'{self.csv_path}' lacks the required column(s) {missing}; columns found: {list(table.columns)}. "
                f"A {layout.kind} source needs {required}"
            )
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def files(self) -> list[Path]:
        out = [self.csv_path]
        for column in (self.layout.image_column, self.layout.mask_column):
            out += [self.root / p for p in self.table[column] if p]
        return out

    def items(self, max_side_px: int | None = None) -> Iterator[RawItem | Rejection]:
        columns = [c for c in self.layout.optional if c in self.table.columns]
        for n, row in enumerate(self.table.to_dict("records")):
            yield self._item(row, n, columns, max_side_px)

    def _item(self, row: dict[str, str], n: int, optional: list[str], max_side_px: int | None) -> RawItem | Rejection:
        item_id = row["id"]
        where = f"{self.csv_path}#row {n}"
        image_rel, mask_rel = row[self.layout.image_column], row[self.layout.mask_column]
        try:
            image_bytes = self._read(image_rel, self.layout.image_column)
            mask_bytes = self._read(mask_rel, self.layout.mask_column)
            image, stored = decode_image(image_bytes, max_side_px, f"image file '{image_rel}'")
            mask = decode_mask(mask_bytes, f"mask file '{mask_rel}'")
        except DataError as exc:
            return Rejection(item_id, where, str(exc))
        extra = {c: row[c] for c in optional}
        return RawItem(
            id=item_id, material=row["material"], content=row["content"], type=extra.get("type", ""),
            group=extra.get("group") or item_id, label_level=extra.get("label_level") or self.layout.default_level,
            source=str(self.root / image_rel), where=where, sha256=_sha256(image_bytes, mask_bytes),
            image=image, image_hw=stored, mask=mask,
        )

    def _read(self, relative: str, column: str) -> bytes:
        if not relative:
            raise DataError(f"column '{column}' is empty; it must give a file path relative to metadata.csv")
        path = self.root / relative
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataError(f"file '{relative}' (column '{column}') cannot be read: {exc.strerror} ('{path}')") from None


# ---------------------------------------------------------------------------------------- detection
def open_source(source: str | Path) -> Source:
    """Detect the kind of ``source`` (rules in the module docstring) and open it.

    Args:
        source: a ``.parquet`` file, or a folder with parquet files or a ``metadata.csv``.

    Returns:
        A :class:`ParquetSource` or :class:`CsvFolderSource`.

    Raises:
        DataError: the path does not exist, holds no dataset, or its ``metadata.csv`` has neither
            layout's columns.
    """
    root = Path(source)
    if root.is_file() and root.suffix == ".parquet":
        return ParquetSource(root, [root])
    if not root.is_dir():
        raise DataError(
            f"dataset source '{root}' is neither a .parquet file nor a folder; give the ARTeFACT folder "
            f"(holding data/train-*.parquet), a parquet file, or a folder with metadata.csv"
        )
    for folder in (root / "data", root):
        shards = sorted(folder.glob("*.parquet"))
        if shards:
            return ParquetSource(root, shards)
    csv_path = root / "metadata.csv"
    if not csv_path.is_file():
        raise DataError(
            f"folder '{root}' holds no dataset: expected data/*.parquet, *.parquet, or metadata.csv; "
            f"point to the ARTeFACT download folder or to a folder with metadata.csv"
        )
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"'{csv_path}' is not a readable CSV file ({exc})") from None
    for layout in (_METADATA_CSV, _BINARY_FOLDER):
        if {layout.image_column, layout.mask_column} <= set(table.columns):
            return CsvFolderSource(root, layout, table)
    raise DataError(
        f"'{csv_path}' has columns {list(table.columns)}; expected 'image_path' and 'annotation_path' "
        f"(multi-class masks) or 'image' and 'mask' (binary masks), each with id, material, content"
    )
