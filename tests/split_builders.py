"""Builders of fake cache indexes and class histograms for the split tests (no images needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from heritage_core.data.cache import INDEX_COLUMNS, compute_fingerprint
from heritage_core.splits.report import ClassHistograms

FACTS = Path(__file__).resolve().parents[1].parent / "shared" / "artefact_facts.yaml"


def make_row(item_id: str, group: str, material: str, content: str, label_level: str = "fine") -> dict:
    """One cache index row with the given domain; the size and hash columns are fixed placeholders."""
    return {
        "id": item_id, "group": group, "material": material, "content": content, "type": "", "label_level": label_level,
        "orig_height": 64, "orig_width": 64, "height": 64, "width": 64, "file": item_id, "source": "fake",
        "sha256": "0" * 64,
    }


def make_index(rows: list[dict]) -> pd.DataFrame:
    """A cache index like ``Cache.index``: columns INDEX_COLUMNS, indexed by id."""
    return pd.DataFrame(rows, columns=list(INDEX_COLUMNS)).set_index("id", drop=False)


def composition_index(composition: dict[str, dict[str, int]], group_size: int = 1) -> pd.DataFrame:
    """An index with ``composition[material][content]`` items per cell, ``group_size`` items per group."""
    rows = []
    for material, cells in composition.items():
        for content, n in cells.items():
            stem = f"{material}-{content}".lower().replace(" ", "")
            rows += [make_row(f"{stem}-{i:03d}", f"{stem}-g{i // group_size:03d}", material, content) for i in range(n)]
    return make_index(rows)


def facts_composition() -> dict[str, dict[str, int]]:
    """ARTeFACT's material x content composition (417 images) from ``artefact_facts.yaml``.

    Without ``../shared`` the same table as carried by the package (``synth.COMPOSITION``, which
    ``tests/test_synth.py`` checks against the facts file when it is present) is used.
    """
    if FACTS.is_file():
        return yaml.safe_load(FACTS.read_text())["composition"]
    from heritage_core.data.synth import COMPOSITION

    return {material: dict(contents) for material, contents in COMPOSITION.items()}


def fingerprint(index: pd.DataFrame) -> str:
    """Fingerprint of a fake index, as a cache would record it."""
    return compute_fingerprint(index.reset_index(drop=True))


def fake_histograms(
    index: pd.DataFrame, pixels: dict[str, dict[int, int]] | None = None, seed: int = 0
) -> ClassHistograms:
    """Per-item histograms: 1000 px per item split over Clean, a random fine damage class and ignore.

    Args:
        index: the fake index.
        pixels: ``{id: {value: pixels}}`` overriding the histogram of those items entirely.
        seed: seed of the random damage classes (classes 14 and 15, Burn marks and Lightleak, are left out so
            tests can place them by hand).
    """
    rng = np.random.default_rng(seed)
    ids = tuple(index["id"])
    counts = np.zeros((len(ids), 256), dtype=np.int64)
    levels = index["label_level"].to_numpy(dtype=str)
    for row, item_id in enumerate(ids):
        if pixels and item_id in pixels:
            for value, n in pixels[item_id].items():
                counts[row, value] = n
        elif levels[row] == "binary":
            counts[row, [0, 1, 255]] = (900, 80, 20)
        else:
            counts[row, [0, int(rng.integers(1, 14)), 255]] = (900, 80, 20)
    return ClassHistograms(ids=ids, label_level=levels, counts=counts, fingerprint=fingerprint(index))
