"""The embedded default dataset: procedurally generated items in ARTeFACT's published parquet schema.

ARTeFACT (Ivanova et al., WACV 2025; HF ``danielaivanova/damaged-media``) cannot be shipped with this
package, so ``heritage synth`` writes a stand-in with the same file layout, columns and label encoding:

* ``OUT/data/train-0000i-of-0000K.parquet``, at most :data:`SHARD_ITEMS` items per shard; columns
  ``id``, ``image``, ``annotation``, ``annotation_rgb`` (Hugging Face image structs
  ``struct<bytes: binary, path: string>`` holding PNG bytes), ``material``, ``content``, ``type``,
  ``damage_description``, ``llava_description``, ``verified_description`` (strings), and the
  ``huggingface`` features entry in the schema metadata, as ``datasets`` writes it.
* ``annotation``: single-channel uint8 PNG, 0 Clean, 1..15 damage classes, 255 Background (ignore);
  ``annotation_rgb``: the same labels in the taxonomy colours.
* The material x content composition of ARTeFACT's 417 annotated images (:data:`COMPOSITION`), every
  cell present for any ``n`` of at least the 18 cells.

Items are generated one by one from ``(seed, index)`` alone, through ``numpy.random.SeedSequence``: item
``i`` is the same whatever ``n`` is, and the files are byte-identical for the same arguments, machine and
library versions (PNG and parquet carry no timestamps; numpy's SIMD maths may differ in the last bit
between CPU families). The item order is one fixed sequence of cells (see :func:`item_cells`), so the
first ``n`` items have the composition of ARTeFACT scaled to ``n``.

Damage classes are drawn per item with material-dependent rates sized so that the pixel shares follow
ARTeFACT's long tail; item ``i`` also always shows class ``i % 15 + 1`` where its material allows it, so
the first 48 items (and most runs of 48) hold every class, whatever the seed. About
:data:`BACKGROUND_RATE` of the items are an object on a background, labelled 255. The pictures come from
``_synth_scene`` (content types, materials) and ``_synth_damage`` (the 15 damage classes).
"""
from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from heritage_core.data._synth_damage import Canvas, damage_presence, draw_damage
from heritage_core.data._synth_scene import apply_material, object_silhouette, render_content
from heritage_core.errors import ConfigError, DataError
from heritage_core.runs import atomic_dir
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy

__all__ = [
    "CONTENTS",
    "COMPOSITION",
    "SHARD_ITEMS",
    "BACKGROUND_RATE",
    "MIN_SIDE_PX",
    "PARQUET_SCHEMA",
    "SynthItem",
    "item_cells",
    "composition_counts",
    "render_item",
    "synthetic_settings",
    "write_synthetic_dataset",
]

#: The four ARTeFACT content types, spelled as in the dataset (``configs/taxonomy.yaml``).
CONTENTS = default_taxonomy().contents
#: Images per material and content in ARTeFACT (417 annotated images; artefact_facts.yaml).
COMPOSITION: dict[str, dict[str, int]] = {
    "Paper": {"Artistic depiction": 80, "Photographic depiction": 77, "Line art": 21, "Geometric patterns": 8},
    "Parchment": {"Artistic depiction": 40, "Line art": 2},
    "Glass": {"Photographic depiction": 31, "Artistic depiction": 8},
    "Tesserae": {"Artistic depiction": 27, "Geometric patterns": 3},
    "Wood": {"Artistic depiction": 26},
    "Canvas": {"Artistic depiction": 23},
    "Lime plaster": {"Artistic depiction": 23},
    "Film emulsion": {"Photographic depiction": 22},
    "Textile": {"Geometric patterns": 12, "Artistic depiction": 4},
    "Ceramic": {"Geometric patterns": 9, "Artistic depiction": 1},
}
#: Most items per parquet shard.
SHARD_ITEMS = 100
#: Share of items drawn as an object on a background, with a 255 (ignore) region around it.
BACKGROUND_RATE = 0.12
#: Smallest long side accepted, in px.
MIN_SIDE_PX = 32
#: Metadata key marking shards written here (with the generator arguments), so reruns may replace them.
_MARK = b"heritage_core.synth"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_FEATURES = {
    "id": {"dtype": "string", "_type": "Value"},
    "image": {"_type": "Image"},
    "annotation": {"_type": "Image"},
    "annotation_rgb": {"_type": "Image"},
    **{k: {"dtype": "string", "_type": "Value"} for k in (
        "material", "content", "type", "damage_description", "llava_description", "verified_description")},
}
#: Arrow schema of the shards: the published ARTeFACT columns, types and ``huggingface`` features metadata.
PARQUET_SCHEMA = pa.schema(
    [(name, _IMAGE if spec["_type"] == "Image" else pa.string()) for name, spec in _FEATURES.items()],
    metadata={b"huggingface": json.dumps({"info": {"features": _FEATURES}}).encode()},
)
#: The object ``type`` column: an object kind per (material, content), one picked per item.
_TYPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Paper", "Artistic depiction"): ("Print", "Watercolour", "Illustration"),
    ("Paper", "Photographic depiction"): ("Photographic print", "Postcard"),
    ("Paper", "Line art"): ("Drawing", "Engraving"),
    ("Paper", "Geometric patterns"): ("Wallpaper", "Decorated paper"),
    ("Parchment", "Artistic depiction"): ("Illuminated manuscript",),
    ("Parchment", "Line art"): ("Manuscript",),
    ("Glass", "Photographic depiction"): ("Glass plate negative", "Lantern slide"),
    ("Glass", "Artistic depiction"): ("Stained glass", "Reverse glass painting"),
    ("Tesserae", "Artistic depiction"): ("Mosaic",),
    ("Tesserae", "Geometric patterns"): ("Mosaic floor",),
    ("Wood", "Artistic depiction"): ("Panel painting", "Icon"),
    ("Canvas", "Artistic depiction"): ("Oil painting",),
    ("Lime plaster", "Artistic depiction"): ("Fresco", "Wall painting"),
    ("Film emulsion", "Photographic depiction"): ("Film frame", "Slide"),
    ("Textile", "Geometric patterns"): ("Carpet", "Woven textile"),
    ("Textile", "Artistic depiction"): ("Tapestry", "Embroidery"),
    ("Ceramic", "Geometric patterns"): ("Tile", "Vessel"),
    ("Ceramic", "Artistic depiction"): ("Painted plate",),
}
_CELLS: tuple[tuple[str, str], ...] = tuple((m, c) for m, row in COMPOSITION.items() for c in row)


# ------------------------------------------------------------------------------------ composition
@lru_cache(maxsize=8)
def _cell_sequence(n: int) -> tuple[int, ...]:
    """Cell index of each of the first ``n`` items (a prefix of one fixed sequence)."""
    counts = np.array([COMPOSITION[m][c] for m, c in _CELLS], dtype=np.float64)
    share = counts / counts.sum()
    seq = list(range(min(n, len(_CELLS))))
    have = np.zeros(len(_CELLS))
    have[seq] = 1
    for k in range(len(seq), n):
        i = int(np.argmax((k + 1) * share - have))  # the cell furthest below its quota
        have[i] += 1
        seq.append(i)
    return tuple(seq)


def item_cells(n: int) -> list[tuple[str, str]]:
    """(material, content) of items ``0 .. n-1``.

    The sequence is fixed, and ``item_cells(n)`` is its first ``n`` entries: the first 18 items take one
    cell each, then each next item goes to the cell furthest below its quota ``(i + 1) x share``. Every
    cell has >= 1 item, counts stay within 1 of the quota for n > 60, and n = 417 gives ARTeFACT's exact
    counts.

    Args:
        n: number of items, at least the number of cells (18).

    Returns:
        A list of ``n`` (material, content) pairs.

    Raises:
        ConfigError: ``n`` is smaller than the number of material x content cells.
    """
    _check_n(n)
    return [_CELLS[i] for i in _cell_sequence(n)]


def composition_counts(n: int) -> dict[tuple[str, str], int]:
    """Items per (material, content) cell among the first ``n`` items (see :func:`item_cells`)."""
    counts = dict.fromkeys(_CELLS, 0)
    for cell in item_cells(n):
        counts[cell] += 1
    return counts


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < len(_CELLS):
        raise ConfigError(
            f"synthetic dataset size n={n!r} is too small: ARTeFACT has {len(_CELLS)} material x content cells and "
            f"each needs at least one item; ask for an integer n >= {len(_CELLS)} (default 418)"
        )


# ------------------------------------------------------------------------------------------- items
@dataclass(frozen=True)
class SynthItem:
    """One generated item, with its picture before and after damage.

    Attributes:
        id: ``synth_00000`` style id.
        material, content, type: ARTeFACT metadata strings.
        clean: (H, W, 3) uint8 RGB without damage.
        image: (H, W, 3) uint8 RGB with damage; equal to ``clean`` wherever ``annotation`` is 0 or 255.
        annotation: (H, W) uint8, 0 Clean, 1..15 damage classes, 255 Background.
        damage_description, llava_description, verified_description: short generated texts.
    """

    id: str
    material: str
    content: str
    type: str
    clean: np.ndarray
    image: np.ndarray
    annotation: np.ndarray
    damage_description: str
    llava_description: str
    verified_description: str


def _rngs(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent streams for the clean scene and the damage of item ``index``."""
    scene, damage = np.random.SeedSequence(entropy=seed, spawn_key=(index,)).spawn(2)
    return np.random.default_rng(scene), np.random.default_rng(damage)


def _describe(material: str, content: str, kind: str, annotation: np.ndarray) -> tuple[str, str, str]:
    names = default_taxonomy().fine_names
    counts = np.bincount(annotation.ravel(), minlength=256)[1:len(names)]
    order = [names[i + 1] for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    damage = ", ".join(name.lower() for name in order) if order else "no visible damage"
    total = counts.sum() / max(1, int((annotation != IGNORE_INDEX).sum()))
    first = order[0].lower() if order else "no damage"
    return (
        f"{damage.capitalize()}.",
        f"A synthetic {kind.lower()} on {material.lower()} showing {content.lower()}; the surface shows {damage}.",
        f"{kind} ({material}, {content}); {len(order)} damage types, mainly {first}, "
        f"covering {100 * total:.1f}% of the object.",
    )


def render_item(index: int, seed: int = 0, max_side_px: int = 512, material: str | None = None,
                content: str | None = None, min_mark_px: int = 1) -> SynthItem:
    """Generate item ``index`` of the synthetic dataset, with and without its damage.

    Args:
        index: item number (>= 0); it sets the id and, with ``seed``, every random choice.
        seed: dataset seed (>= 0).
        max_side_px: long side of the picture in px; the short side is 0.6-1.0 of it.
        material: override the item's material (default: its cell in :func:`item_cells`).
        content: override the item's content type (default: its cell).
        min_mark_px: smallest width of thin marks (scratches, hair, cracks, strokes of writing and stamps) and
            diameter of specks (dust, punctures), px: 1 draws them at their ARTeFACT-like scale; small renderings
            (the demo's) use more, so that they survive at the cached size and a stride-4 decoder can see them.

    Returns:
        The item; ``image`` differs from ``clean`` exactly where ``annotation`` is in 1..15.

    Raises:
        ConfigError: a bad ``index``, ``seed``, ``max_side_px``, ``material`` or ``content``.
    """
    _check_int("index", index, 0)
    _check_int("seed", seed, 0)
    _check_int("max_side_px", max_side_px, MIN_SIDE_PX)
    _check_int("min_mark_px", min_mark_px, 1)
    cell = _CELLS[_cell_sequence(1024 * (index // 1024 + 1))[index]]  # any longer prefix has the same entry
    material = cell[0] if material is None else material
    content = cell[1] if content is None else content
    if material not in COMPOSITION or content not in CONTENTS:
        raise ConfigError(
            f"synthetic item {index}: material {material!r} / content {content!r} unknown; allowed materials "
            f"are {sorted(COMPOSITION)} and contents {list(CONTENTS)}"
        )
    rng, damage_rng = _rngs(seed, index)
    short = max(8, int(round(max_side_px * rng.uniform(0.6, 1.0))))
    shape = (max_side_px, short) if rng.random() < 0.5 else (short, max_side_px)
    scale = max_side_px / 512
    kind = str(rng.choice(_TYPES.get((material, content), (material,))))
    img = apply_material(rng, render_content(rng, content, shape, scale), material, scale)
    obj = np.ones(shape, bool)
    if rng.random() < BACKGROUND_RATE:
        obj, background = object_silhouette(rng, shape, scale)
        img = np.where(obj[..., None], img, background)
    clean = _to_uint8(img)
    base = clean.astype(np.float32)
    base *= 1 / 255
    canvas = Canvas(img=base.copy(), clean=base, obj=obj, scale=scale, material=material, min_mark_px=min_mark_px)
    annotation = draw_damage(damage_rng, canvas, damage_presence(damage_rng, material, index))
    image = _to_uint8(canvas.img)
    texts = _describe(material, content, kind, annotation)
    return SynthItem(f"synth_{index:05d}", material, content, kind, clean, image, annotation, *texts)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    out = np.clip(img, 0, 1)
    out *= 255
    out += 0.5
    return out.astype(np.uint8)


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"synthetic dataset parameter {name}={value!r} is invalid; it must be an integer >= {low}")


# ------------------------------------------------------------------------------------------ parquet
def _png(array: np.ndarray) -> dict[str, bytes | None]:
    """An HF image struct holding ``array`` (uint8 (H, W) grey or (H, W, 3) RGB) as PNG bytes.

    Written directly (IHDR, one IDAT, IEND) with the PNG "Up" filter on every row and zlib level 1:
    about twice as fast as Pillow's adaptive filtering here, deterministic, and decoded by any PNG reader.
    """
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    rows = np.ascontiguousarray(array).reshape(h, w * channels)
    raw = np.empty((h, w * channels + 1), np.uint8)
    raw[:, 0] = 2  # filter type Up: each byte minus the byte above it, modulo 256
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, 8, 0 if channels == 1 else 2, 0, 0, 0)
    data = (_PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
            + _png_chunk(b"IEND", b""))
    return {"bytes": data, "path": None}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _shard_table(items: list[SynthItem]) -> pa.Table:
    lut = np.zeros((256, 3), np.uint8)
    tax = default_taxonomy()
    lut[: len(tax.fine_names)] = tax.fine_rgb()
    lut[IGNORE_INDEX] = [int(tax.ignore_colour[i:i + 2], 16) for i in (1, 3, 5)]
    columns: dict[str, list] = {name: [] for name in PARQUET_SCHEMA.names}
    for it in items:
        columns["id"].append(it.id)
        columns["image"].append(_png(it.image))
        columns["annotation"].append(_png(it.annotation))
        columns["annotation_rgb"].append(_png(lut[it.annotation]))
        for key in ("material", "content", "type", "damage_description", "llava_description", "verified_description"):
            columns[key].append(getattr(it, key))
    return pa.Table.from_pydict(columns, schema=PARQUET_SCHEMA)


def synthetic_settings(path: str | Path) -> dict[str, int] | None:
    """The generator settings stored in a shard written by :func:`write_synthetic_dataset`.

    Args:
        path: a file.

    Returns:
        ``{"n", "seed", "max_side_px", "min_mark_px"}`` for a synthetic shard; None for any other file (a
        published ARTeFACT shard, a non-parquet file, an unreadable one).
    """
    path = Path(path)
    if not (path.is_file() and path.suffix == ".parquet"):
        return None
    try:
        mark = (pq.read_schema(path).metadata or {}).get(_MARK)
    except (OSError, pa.ArrowInvalid):
        return None
    return None if mark is None else json.loads(mark)


def _check_replaceable(data: Path) -> None:
    """Refuse to replace a ``data`` folder holding anything but shards written by this module."""
    if not data.exists():
        return
    for entry in sorted(data.iterdir()):
        if synthetic_settings(entry) is None:
            raise DataError(
                f"'{data}' already holds '{entry.name}', which is not a synthetic shard written by 'heritage synth'; "
                f"refusing to replace it. Choose another --out folder, or remove '{data}' yourself"
            )


def write_synthetic_dataset(out: str | Path, n: int = 418, seed: int = 0, max_side_px: int = 512,
                            min_mark_px: int = 1) -> Path:
    """Write ``n`` synthetic items in ARTeFACT's parquet layout to ``out/data/``.

    Shards are ``train-00000-of-0000K.parquet`` with at most :data:`SHARD_ITEMS` items each. The folder
    ``out/data`` is built beside its final place and moved there at the end, so a failure leaves the
    previous folder (or nothing); an existing ``out/data`` is replaced only when it holds nothing but
    shards written by this function.

    Args:
        out: dataset folder (created if needed).
        n: number of items (>= 18, one per material x content cell; default ARTeFACT's 418).
        seed: dataset seed (>= 0).
        max_side_px: long side of every picture in px (>= 32).
        min_mark_px: smallest width of thin marks and specks in px (>= 1; see :func:`render_item`).

    Returns:
        ``out`` as a Path.

    Raises:
        ConfigError: a bad ``n``, ``seed`` or ``max_side_px``.
        DataError: ``out/data`` exists and holds files this function did not write.
    """
    _check_n(n)
    _check_int("seed", seed, 0)
    _check_int("max_side_px", max_side_px, MIN_SIDE_PX)
    _check_int("min_mark_px", min_mark_px, 1)
    out = Path(out)
    data = out / "data"
    _check_replaceable(data)
    k = math.ceil(n / SHARD_ITEMS)
    bounds = np.linspace(0, n, k + 1).round().astype(int)
    mark = json.dumps({"n": int(n), "seed": int(seed), "max_side_px": int(max_side_px),
                       "min_mark_px": int(min_mark_px)}, sort_keys=True).encode()
    with atomic_dir(data) as tmp:
        for s in range(k):
            table = _shard_table([render_item(i, seed, max_side_px, min_mark_px=min_mark_px)
                                 for i in range(bounds[s], bounds[s + 1])])
            table = table.replace_schema_metadata({**table.schema.metadata, _MARK: mark})
            pq.write_table(table, tmp / f"train-{s:05d}-of-{k:05d}.parquet", compression="snappy",
                           use_dictionary=["material", "content", "type"], write_statistics=["id"])
    return out
