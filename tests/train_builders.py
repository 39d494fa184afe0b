"""Small builders for the trainer tests: a split manifest of the synthetic cache, tiny configs, an id spy."""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from heritage_core.data.cache import Cache, open_cache
from heritage_core.splits.protocols import make_splits, write_manifests

#: The smallest settings that run every code path: convnext_atto at 32 px, 2 batches of 4 per epoch.
TINY = {
    "encoder": "convnext_atto",
    "img_size": 32,
    "batch_size": 4,
    "decoder_channels": 16,
    "num_workers": 0,
    "device": "cpu",
    "progress": False,
    "max_batches_per_epoch": 2,
}


def write_manifest(cache_dir: Path, out_dir: Path, protocol: str = "locontent",
                   fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> Path:
    """Write the first fold of ``protocol`` (split seed 0) for ``cache_dir``; returns the manifest path.

    ``locontent`` gives non-empty ``id_test`` and ``ood_test`` partitions, which the spy tests need.
    """
    cache = open_cache(cache_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small partitions warn (SplitWarning); irrelevant here
        manifests = make_splits(cache.index, protocol, 0, fractions=fractions)
    return write_manifests(manifests[:1], out_dir)[0]


def tiny_config(cache_dir: Path, manifest: Path, run_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A TrainConfig mapping with :data:`TINY` settings, overridable."""
    return {"cache_dir": str(cache_dir), "manifest_path": str(manifest), "run_dir": str(run_dir), **TINY, **overrides}


@contextmanager
def spy_cache_reads() -> Iterator[set[str]]:
    """Record every item id whose image or mask any :class:`Cache` loads while the context is open."""
    seen: set[str] = set()
    image, mask = Cache.load_image, Cache.load_mask

    def load_image(self: Cache, item_id: str, mmap: bool = False):  # noqa: ANN202 - mirrors Cache
        seen.add(item_id)
        return image(self, item_id, mmap)

    def load_mask(self: Cache, item_id: str, mmap: bool = False):  # noqa: ANN202
        seen.add(item_id)
        return mask(self, item_id, mmap)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Cache, "load_image", load_image)
        mp.setattr(Cache, "load_mask", load_mask)
        yield seen
