"""Validation of dataset items, shared by ``heritage ingest`` and ``heritage data check``.

An item is rejected, with a reason that names what was seen and what is allowed, when:

* its image or mask bytes cannot be decoded, or a file it names is missing (found by the readers);
* its id is empty, or repeats an earlier id (or maps to the same cache file name as one);
* its material or content is empty, or its label level is not ``fine`` / ``binary``;
* its image and mask differ in size;
* its mask holds a value outside 0..15 and 255 (``fine``) or 0, 1 and 255 (``binary``).

Problems of the source as a whole (missing column, unreadable parquet file, no dataset in the folder)
are raised at once as :class:`~heritage_core.errors.DataError` by the readers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from heritage_core.data.cache import LABEL_LEVELS, Record, item_filename
from heritage_core.data.readers import RawItem, Rejection, open_source
from heritage_core.errors import DataError
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy

__all__ = [
    "CHECK_SIDE_PX",
    "allowed_labels",
    "label_counts",
    "mask_problem",
    "item_problem",
    "ItemValidator",
    "CheckSummary",
    "check_source",
]

#: Long side (px) at which ``check_source`` measures class pixel shares, as the published ARTeFACT counts.
CHECK_SIDE_PX = 512
_SHOWN_VALUES = 20


def allowed_labels(label_level: str) -> np.ndarray:
    """Label values a mask of ``label_level`` may hold: the level's class ids and 255 (ignore).

    Returns:
        Sorted int array, e.g. ``[0, 1, ..., 15, 255]`` for ``fine`` and ``[0, 1, 255]`` for ``binary``.
    """
    n = default_taxonomy().num_classes[label_level]
    return np.append(np.arange(n), IGNORE_INDEX)


def _allowed_text(label_level: str) -> str:
    n = default_taxonomy().num_classes[label_level]
    classes = "0, 1" if n == 2 else f"0-{n - 1}"
    return f"{classes} and {IGNORE_INDEX} (ignore)"


def label_counts(mask: np.ndarray) -> np.ndarray:
    """Pixel count of each value 0..255 of a uint8 mask (Pillow's histogram: about 4x faster than bincount).

    Shapes:
        mask: (H, W) uint8. Returns: (256,) int64.
    """
    return np.asarray(Image.fromarray(np.ascontiguousarray(mask)).histogram(), dtype=np.int64)


def mask_problem(mask: np.ndarray, label_level: str) -> str | None:
    """Why ``mask`` is not a valid label array of ``label_level``, or None when it is.

    Args:
        mask: (H, W) integer labels at full resolution.
        label_level: ``fine`` or ``binary``.

    Returns:
        A reason listing the values found outside the allowed set, or None.
    """
    if mask.ndim != 2:
        return f"annotation has shape {mask.shape}; expected (H, W) class ids"
    if mask.dtype == np.uint8:
        present = np.flatnonzero(label_counts(mask))
    else:
        present = np.unique(mask)
    bad = np.setdiff1d(present, allowed_labels(label_level))
    if bad.size == 0:
        return None
    shown = ", ".join(str(v) for v in bad[:_SHOWN_VALUES]) + (", ..." if bad.size > _SHOWN_VALUES else "")
    return (
        f"annotation has values {{{shown}}}; allowed at label level '{label_level}' are "
        f"{_allowed_text(label_level)}"
    )


def item_problem(item: RawItem) -> str | None:
    """Why a decoded item cannot be used (ids are checked for repeats by :class:`ItemValidator`), or None."""
    for name, value in (("material", item.material), ("content", item.content)):
        if value is None or not str(value).strip():
            return f"{name} is empty; every item needs a {name} (e.g. 'Paper' / 'Artistic depiction')"
    if item.label_level not in LABEL_LEVELS:
        return f"label_level is '{item.label_level}'; allowed are {', '.join(LABEL_LEVELS)}"
    if item.mask.ndim == 2 and item.mask.shape != item.image_hw:
        (h, w), (mh, mw) = item.image_hw, item.mask.shape
        return f"image is {w}x{h} px but its annotation is {mw}x{mh} px; they must match pixel for pixel"
    return mask_problem(item.mask, item.label_level)


class ItemValidator:
    """Validates decoded items one by one, remembering ids to reject repeats.

    Call it on each item of a source in order: a :class:`RawItem` becomes a :class:`Record` (mask resized
    to the cached size) or a :class:`Rejection`; a reader's :class:`Rejection` passes through. A repeated
    id (or one whose cache file name equals an earlier item's) is rejected, naming where the first was.
    """

    def __init__(self) -> None:
        self._first_seen: dict[str, str] = {}

    def __call__(self, item: RawItem | Rejection) -> Record | Rejection:
        where = item.source if isinstance(item, Rejection) else item.where
        duplicate = None
        if item.id:
            key = item_filename(item.id).lower()  # case-insensitive file systems merge 'A' and 'a'
            if key in self._first_seen:
                duplicate = f"id '{item.id}' repeats the id of the item at {self._first_seen[key]}; ids must be unique"
            else:
                self._first_seen[key] = where
        if isinstance(item, Rejection):
            return Rejection(item.id, where, duplicate or item.reason)
        reason = "id is empty; every item needs a unique id" if not item.id else duplicate or item_problem(item)
        return Rejection(item.id, where, reason) if reason else item.to_record()


@dataclass
class CheckSummary:
    """Result of :func:`check_source`.

    Attributes:
        source: the source path as given.
        kind: detected source kind ("" when the source could not be opened).
        n_items: number of items that passed validation.
        counts: items per material (rows) x content (columns), good items only.
        class_pixels: per label level, pixel count of each label value (int64, shape (256,)) at a long side
            of at most :data:`CHECK_SIDE_PX` px.
        problems: every rejected item, and the source-level error if there was one.
    """

    source: str
    kind: str
    n_items: int = 0
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    class_pixels: dict[str, np.ndarray] = field(default_factory=dict)
    problems: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the source has at least one item and no problem."""
        return self.n_items > 0 and not self.problems

    def pixel_share(self, label_level: str) -> pd.Series:
        """Fraction in [0, 1] of all pixels of ``label_level`` items held by each label, named; 255 last."""
        counts = self.class_pixels[label_level]
        names = default_taxonomy().names(label_level)
        labels = [*range(len(names)), IGNORE_INDEX]
        index = [f"{v} {names[v]}" for v in labels[:-1]] + [f"{IGNORE_INDEX} ignore"]
        return pd.Series(counts[labels] / max(int(counts.sum()), 1), index=index, name="pixel share")

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        lines = [
            f"data check {verdict}: '{self.source}' ({self.kind or 'unreadable'}): "
            f"{self.n_items} good items, {len(self.problems)} problems"
        ]
        if self.n_items:
            table = self.counts.copy()
            table["total"] = table.sum(axis=1)
            table.loc["total"] = table.sum(axis=0)
            lines += ["", "items per material x content:", table.to_string()]
        for level, counts in self.class_pixels.items():
            share = self.pixel_share(level).map(lambda f: f"{100 * f:8.3f} %")
            lines += [
                "", f"class pixel share, label level '{level}' ({int(counts.sum()):,} px at long side "
                f"<= {CHECK_SIDE_PX} px):", share.to_string(),
            ]
        if self.problems:
            lines += ["", f"problems ({len(self.problems)}):"]
            lines += [f"  {p.source} (id '{p.id}'): {p.reason}" for p in self.problems]
        return "\n".join(lines)


def check_source(source: str | Path, progress: bool = True) -> CheckSummary:
    """Run ingest's validation on ``source`` without writing anything.

    Every item is decoded (images at a long side of at most :data:`CHECK_SIDE_PX` px, masks checked at
    full resolution) and validated. Source-level errors do not raise: they are the summary's problems.

    Args:
        source: dataset source, as for :func:`heritage_core.data.ingest.ingest`.
        progress: show a tqdm progress bar.

    Returns:
        The :class:`CheckSummary`; print it for the table, test ``.ok`` for the verdict.
    """
    summary = CheckSummary(source=str(source), kind="")
    rows: list[tuple[str, str]] = []
    try:
        src = open_source(source)
        summary.kind = src.kind
        validate = ItemValidator()
        for raw in tqdm(src.items(CHECK_SIDE_PX), total=len(src), disable=not progress, desc="check", unit="item"):
            item = validate(raw)
            if isinstance(item, Rejection):
                summary.problems.append(item)
                continue
            rows.append((item.material, item.content))
            counts = summary.class_pixels.setdefault(item.label_level, np.zeros(256, dtype=np.int64))
            counts += label_counts(item.mask)
    except DataError as exc:
        summary.problems.append(Rejection("", str(source), str(exc)))
    summary.n_items = len(rows)
    if rows:
        frame = pd.DataFrame(rows, columns=["material", "content"])
        summary.counts = pd.crosstab(frame["material"], frame["content"])
    return summary
