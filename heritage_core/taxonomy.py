"""ARTeFACT damage taxonomy: 16 fine classes, 5 coarse labels, 2 binary labels, and 255 = ignore.

The hierarchy is data (``configs/taxonomy.yaml``), validated once at load:

* ``fine`` (16): the classes as annotated in ARTeFACT (Ivanova et al., WACV 2025), with the dataset's
  ``annotation_rgb`` colours.
* ``coarse`` (5): ``clean`` plus four groups of damage that share a physical mechanism, and therefore
  look alike and are confused with each other far more often than across groups:

  - *Structural* (mechanical damage to the support or the image layer): Material loss, Peel, Scratch,
    Fold, Cracks, Puncture. These change the geometry of the object: edges, missing paint, relief.
  - *Deposits* (foreign matter lying on the surface): Dust, Hair, Dirt. Small, high-contrast,
    removable; the rarest and thinnest classes.
  - *Discolouration* (chemical or photonic change of colour without loss of material): Staining, Burn
    marks, Lightleak. Large, low-frequency, soft-edged.
  - *Additions* (intentional human additions): Writing, Stamp, Sticker. Man-made marks with sharp,
    regular shapes.

  Clean is its own coarse label (id 0), so each level keeps "no damage" as one label.
* ``binary`` (2): clean / damage. Clean, and Clean alone, maps to binary 0.

The same file names ARTeFACT's domains, ``contents`` (4) and ``materials`` (10), in fold order: the held-out
domains of the domain-generalisation protocols; :func:`fold_slug` turns each into its fold name.

Labels are mapped with lookup tables of length 256, so ``255`` (Background, ignore) maps to ``255`` at
every level and every other unknown value also maps to ``255`` rather than to a class. Nothing is ever
clamped into the class range.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from heritage_core.errors import ConfigError, DataError
from heritage_core.runs import read_yaml

__all__ = [
    "IGNORE_INDEX",
    "HEADS",
    "Taxonomy",
    "fold_slug",
    "load_taxonomy",
    "default_taxonomy",
]

#: The label value that is ignored at every level: never trained, never scored.
IGNORE_INDEX = 255
#: The three prediction heads, from the root of the hierarchy to its leaves.
HEADS = ("binary", "coarse", "fine")

_DEFAULT_PATH = Path(__file__).with_name("configs") / "taxonomy.yaml"
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class Taxonomy:
    """The validated three-level label hierarchy.

    Attributes:
        fine_names: name of each fine class, index = class id (16 for ARTeFACT).
        fine_colours: ``#RRGGBB`` colour of each fine class in ``annotation_rgb``.
        coarse_names: name of each coarse label; index 0 is ``clean``.
        binary_names: ``("clean", "damage")``.
        fine_to_coarse: coarse id of each fine class.
        ignore_index: the ignore label (255).
        ignore_colour: colour of the ignore label in ``annotation_rgb``.
        contents: the dataset's content types, in fold order (empty when the file names none).
        materials: the dataset's materials, in fold order (empty when the file names none).
    """

    fine_names: tuple[str, ...]
    fine_colours: tuple[str, ...]
    coarse_names: tuple[str, ...]
    binary_names: tuple[str, ...]
    fine_to_coarse: tuple[int, ...]
    ignore_index: int = IGNORE_INDEX
    ignore_colour: str = "#5A0007"
    contents: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    _luts: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def num_classes(self) -> dict[str, int]:
        """Number of labels per head, e.g. ``{"binary": 2, "coarse": 5, "fine": 16}``."""
        return {"binary": len(self.binary_names), "coarse": len(self.coarse_names), "fine": len(self.fine_names)}

    def names(self, head: str) -> tuple[str, ...]:
        """Label names of ``head`` (one of ``binary``, ``coarse``, ``fine``)."""
        return {"binary": self.binary_names, "coarse": self.coarse_names, "fine": self.fine_names}[_check_head(head)]

    @property
    def coarse_to_binary(self) -> tuple[int, ...]:
        """Binary id of each coarse label (0 for ``clean``, 1 for every group)."""
        return tuple(0 if c == 0 else 1 for c in range(len(self.coarse_names)))

    @property
    def fine_to_binary(self) -> tuple[int, ...]:
        """Binary id of each fine class (0 for Clean alone)."""
        return tuple(self.coarse_to_binary[c] for c in self.fine_to_coarse)

    def fine_rgb(self) -> np.ndarray:
        """Fine class colours as a ``(16, 3)`` uint8 array."""
        return np.array([_hex_to_rgb(c) for c in self.fine_colours], dtype=np.uint8)

    # ---------------------------------------------------------------- mapping
    def lut(self, source: str, target: str) -> np.ndarray:
        """Lookup table of length 256 mapping labels of level ``source`` to level ``target``.

        Supported pairs go down the hierarchy (``fine``→``coarse``, ``fine``→``binary``,
        ``coarse``→``binary``) or stay on one level (identity). Values that are not a label of
        ``source`` (255 included) map to 255.

        Returns:
            uint8 array of shape (256,).
        """
        key = f"{_check_head(source)}->{_check_head(target)}"
        if key not in self._luts:
            order = {h: i for i, h in enumerate(HEADS)}
            if order[target] > order[source]:
                raise ConfigError(
                    f"cannot map labels from '{source}' to the finer level '{target}'; "
                    f"allowed are mappings towards the root: fine->coarse->binary"
                )
            table = np.full(256, self.ignore_index, dtype=np.uint8)
            n = self.num_classes[source]
            if source == target:
                values = np.arange(n)
            elif source == "fine":
                values = np.array(self.fine_to_coarse if target == "coarse" else self.fine_to_binary)
            else:
                values = np.array(self.coarse_to_binary)
            table[:n] = values
            self._luts[key] = table
        return self._luts[key]

    def map_labels(self, labels: Any, source: str, target: str, *, item: str | None = None) -> Any:
        """Map a label array from level ``source`` to level ``target``; 255 stays 255.

        Args:
            labels: integer labels, a numpy array or a torch tensor of any shape; every value is a class id
                of ``source`` or 255 (ignore).
            source: level of ``labels``.
            target: level to map to (same level or towards the root).
            item: id of the item the labels belong to, named in the error.

        Returns:
            An array of the same type and shape: uint8 for numpy, ``labels.dtype`` for torch (long
            tensors keep long so they can index logits directly).

        Raises:
            DataError: a value that is neither a class of ``source`` nor 255 (e.g. 16 in a fine mask, or 256,
                which a uint8 lookup would wrap to Clean); the message names ``item`` and the values.
        """
        table = self.lut(source, target)
        n = self.num_classes[source]
        if isinstance(labels, np.ndarray):
            values = labels if labels.dtype == np.uint8 else labels.astype(np.int64, copy=False)
            bad = (values >= n) & (values != self.ignore_index) | (values < 0)
            if bad.any():
                _raise_bad_labels(np.unique(values[bad]).tolist(), source, n, item)
            return table[values.astype(np.intp, copy=False)] if values.dtype != np.uint8 else table[values]
        import torch

        if isinstance(labels, torch.Tensor):
            values = labels.long()
            bad = (values >= n) & (values != self.ignore_index) | (values < 0)
            if bool(bad.any()):
                _raise_bad_labels(torch.unique(values[bad]).tolist(), source, n, item)
            t = torch.as_tensor(table, device=labels.device).to(labels.dtype if labels.dtype != torch.bool else torch.long)
            return t[values]
        raise TypeError(f"map_labels expects a numpy array or torch tensor, got {type(labels).__name__}")

    def ancestry(self) -> np.ndarray:
        """For every fine class its (binary, coarse, fine) ids: an int64 array of shape (16, 3)."""
        fine = np.arange(len(self.fine_names))
        return np.stack([np.array(self.fine_to_binary), np.array(self.fine_to_coarse), fine], axis=1).astype(np.int64)


def _raise_bad_labels(values: list[int], source: str, n: int, item: str | None) -> None:
    where = f"item '{item}'" if item is not None else "the labels"
    shown = values[:8] + (["…"] if len(values) > 8 else [])
    raise DataError(f"{where} holds {source} label values {shown}, which are neither a {source} class (0..{n - 1}) "
                    f"nor 255 (ignore); fix the mask (values are never wrapped or clamped to a class)")


def _check_head(head: str) -> str:
    if head not in HEADS:
        raise ConfigError(f"unknown label level '{head}'; allowed are {', '.join(HEADS)}")
    return head


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _parse_level(raw: Any, key: str, path: str) -> dict[int, Any]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"taxonomy '{path}': '{key}' must be a non-empty mapping of id -> entry, got {raw!r}")
    ids = sorted(raw)
    if any(not isinstance(i, int) for i in ids) or ids != list(range(len(ids))):
        raise ConfigError(f"taxonomy '{path}': '{key}' ids must be the integers 0..N-1 without gaps, got {ids}")
    return raw


def parse_taxonomy(raw: dict[str, Any], path: str = "<dict>") -> Taxonomy:
    """Validate a taxonomy mapping (as read from YAML) and build a :class:`Taxonomy`.

    Raises:
        ConfigError: unknown keys, gaps in ids, a fine class without exactly one coarse group, a bad
            colour, a Clean that is not alone at binary 0, or an ignore index other than 255.
    """
    allowed = {"ignore_index", "ignore_name", "ignore_colour", "fine", "coarse", "binary", "contents", "materials"}
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"taxonomy '{path}': unknown keys {sorted(unknown)}; allowed are {sorted(allowed)}")
    ignore = raw.get("ignore_index", IGNORE_INDEX)
    if ignore != IGNORE_INDEX:
        raise ConfigError(f"taxonomy '{path}': ignore_index is {ignore}; it must be {IGNORE_INDEX} at every level")
    fine = _parse_level(raw.get("fine"), "fine", path)
    coarse = _parse_level(raw.get("coarse"), "coarse", path)
    binary = _parse_level(raw.get("binary"), "binary", path)
    if len(fine) >= IGNORE_INDEX:
        raise ConfigError(f"taxonomy '{path}': {len(fine)} fine classes collide with the ignore index {IGNORE_INDEX}")
    if len(binary) != 2:
        raise ConfigError(f"taxonomy '{path}': binary must have exactly 2 labels (clean, damage), got {len(binary)}")
    coarse_ids = {str(name): i for i, name in coarse.items()}
    names, colours, to_coarse = [], [], []
    for i, entry in fine.items():
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise ConfigError(f"taxonomy '{path}': fine class {i} must be [name, '#RRGGBB', coarse group], got {entry!r}")
        name, colour, group = entry
        if not isinstance(colour, str) or not _HEX.match(colour):
            raise ConfigError(f"taxonomy '{path}': fine class {i} ({name}) has colour {colour!r}; expected '#RRGGBB'")
        if isinstance(group, list) or str(group) not in coarse_ids:
            raise ConfigError(
                f"taxonomy '{path}': fine class {i} ({name}) must map to exactly one coarse group of "
                f"{sorted(coarse_ids)}, got {group!r}"
            )
        names.append(str(name))
        colours.append(colour.upper())
        to_coarse.append(coarse_ids[str(group)])
    if to_coarse[0] != 0 or to_coarse.count(0) != 1:
        clean_like = [names[i] for i, c in enumerate(to_coarse) if c == 0]
        raise ConfigError(
            f"taxonomy '{path}': fine class 0 (Clean), and it alone, must map to coarse 0 and binary 0; "
            f"classes mapped there: {clean_like}"
        )
    unused = set(range(1, len(coarse))) - set(to_coarse)
    if unused:
        raise ConfigError(f"taxonomy '{path}': coarse groups {sorted(coarse[u] for u in unused)} have no fine class")
    colour = raw.get("ignore_colour", "#5A0007")
    domains = {key: _parse_domains(raw.get(key, []), key, path) for key in ("contents", "materials")}
    return Taxonomy(
        fine_names=tuple(names),
        fine_colours=tuple(colours),
        coarse_names=tuple(str(coarse[i]) for i in range(len(coarse))),
        binary_names=tuple(str(binary[i]) for i in range(2)),
        fine_to_coarse=tuple(to_coarse),
        ignore_colour=str(colour).upper(),
        **domains,
    )


def _parse_domains(raw: Any, key: str, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, str) for d in raw):
        raise ConfigError(f"taxonomy '{path}': '{key}' must be a list of names, got {raw!r}")
    slugs = [fold_slug(d) for d in raw]
    if len(set(slugs)) != len(slugs):
        raise ConfigError(f"taxonomy '{path}': '{key}' {raw} has names that share a fold name ({slugs})")
    return tuple(raw)


def fold_slug(name: str) -> str:
    """Filesystem-safe fold name of a domain: lower case, runs of other characters become ``_``.

    Raises:
        DataError: the name has no letter or digit.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    if not slug:
        raise DataError(f"domain name {name!r} has no letter or digit; it cannot name a fold")
    return slug


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML file (default: the ARTeFACT hierarchy shipped with the package).

    Raises:
        ConfigError: the file is missing, not YAML, or fails validation (see :func:`parse_taxonomy`).
    """
    if path is None:
        return default_taxonomy()
    p = Path(path)
    raw = read_yaml(p, "taxonomy file", "; pass an existing YAML file or omit it for the default")
    if not isinstance(raw, dict):
        raise ConfigError(f"taxonomy file '{p}' must hold a mapping, got {type(raw).__name__}")
    return parse_taxonomy(raw, str(p))


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The ARTeFACT taxonomy shipped in ``heritage_core/configs/taxonomy.yaml`` (cached)."""
    return parse_taxonomy(yaml.safe_load(_DEFAULT_PATH.read_text()), str(_DEFAULT_PATH))
