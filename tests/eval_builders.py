"""A tiny finished suite for the evaluation, DG and inspector tests, built once per test session.

``tiny_suite(synthetic_cache, base)`` copies the session's synthetic cache, adds two binary-level items (film
scans with a damage rectangle; content "Photographic depiction", so they land in the ``ood_test`` of the
``photographic_depiction`` fold), writes a ``locontent`` and a ``random`` manifest, and trains three runs with
the real trainer in smoke size (resnet10t, 64 px, one epoch of two batches):

    suites/tiny/runs/photographic_depiction/{flat,hierarchical}/resnet10t/seed0
    suites/tiny/runs/all/hierarchical/resnet10t/seed0        (random protocol: ood_test empty)

``evaluated_suite`` then evaluates every run once (sliding 64 px tiles without overlap, smoke, consistent for
hierarchical runs). Both are
memoised per base folder, so test files share them.
"""
from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from heritage_core.data.cache import compute_fingerprint, open_cache
from heritage_core.runs import atomic_write_json, read_json

BINARY_IDS = ("0film_0", "0film_1")
ENCODER = "resnet10t"  # builds in 0.2 s on CPU (ConvNeXt-Atto: 3 s), trains as fast
FOLD = "photographic_depiction"
N_RESAMPLES = 200


@dataclass(frozen=True)
class TinySuite:
    """Paths of the tiny suite."""

    root: Path
    cache: Path
    runs: dict[str, Path]  # "flat", "hierarchical", "random"

    @property
    def suite_dir(self) -> Path:
        return self.root / "suites" / "tiny"


_BUILT: dict[Path, TinySuite] = {}
_EVALUATED: dict[Path, dict[str, dict]] = {}


def add_binary_items(cache_dir: Path) -> None:
    """Append the binary-level items of :data:`BINARY_IDS` to a cache folder (new fingerprint)."""
    cache = open_cache(cache_dir)
    rows = []
    rng = np.random.default_rng(0)
    for item_id in BINARY_IDS:
        image = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
        mask = np.zeros((72, 96), np.uint8)
        mask[10:20, 30:60] = 1
        np.save(cache_dir / "images" / f"{item_id}.npy", image)
        np.save(cache_dir / "masks" / f"{item_id}.npy", mask)
        rows.append(dict(id=item_id, group=item_id, material="Film emulsion", content="Photographic depiction",
                         type="", label_level="binary", orig_height=72, orig_width=96, height=72, width=96,
                         file=item_id, source="test", sha256="0" * 64))
    index = pd.concat([cache.index.reset_index(drop=True), pd.DataFrame(rows)], ignore_index=True)
    index.to_csv(cache_dir / "index.csv", index=False)
    meta = read_json(cache_dir / "dataset.json")
    meta.update(fingerprint=compute_fingerprint(index), n_items=len(index), label_levels=["binary", "fine"])
    atomic_write_json(cache_dir / "dataset.json", meta)


def tiny_suite(synthetic_cache: Path, base: Path) -> TinySuite:
    """Build (once per ``base``) the tiny suite described in the module docstring."""
    if base in _BUILT:
        return _BUILT[base]
    from heritage_core.splits.protocols import make_splits, write_manifests
    from heritage_core.train import make_config, train_run

    root = base / "tiny_suite"
    suite = root / "suites" / "tiny"
    cache_dir = root / "cache"
    shutil.copytree(synthetic_cache, cache_dir)
    add_binary_items(cache_dir)
    cache = open_cache(cache_dir)
    (suite / "profile.yaml").parent.mkdir(parents=True)
    (suite / "profile.yaml").write_text("name: tiny\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifests = make_splits(cache.index, "locontent", 0) + make_splits(cache.index, "random", 0)
    paths = {m.fold: p for m, p in zip(manifests, write_manifests(manifests, suite / "splits"))}
    runs = {}
    for name, variant, fold in (("flat", "flat", FOLD), ("hierarchical", "hierarchical", FOLD),
                                ("random", "hierarchical", "all")):
        run_dir = suite / "runs" / fold / variant / ENCODER / "seed0"
        config = make_config(
            smoke=True, cache_dir=str(cache_dir), manifest_path=str(paths[fold]), run_dir=str(run_dir),
            variant=variant, encoder=ENCODER, img_size=64, batch_size=4, decoder_channels=16, device="cpu",
            num_workers=0, progress=False, amp=False, augment=False,
        )
        runs[name] = train_run(config)
    _BUILT[base] = TinySuite(root=root, cache=cache_dir, runs=runs)
    return _BUILT[base]


def evaluated_suite(synthetic_cache: Path, base: Path) -> tuple[TinySuite, dict[str, dict]]:
    """The tiny suite with every run evaluated once; returns it and each run's ``evaluate_run`` result."""
    suite = tiny_suite(synthetic_cache, base)
    if base not in _EVALUATED:
        from heritage_core.evaluation.evaluate import evaluate_run

        _EVALUATED[base] = {
            name: evaluate_run(run_dir, consistent=name != "flat",
                               smoke=True, n_resamples=N_RESAMPLES)
            for name, run_dir in suite.runs.items()
        }
    return suite, _EVALUATED[base]
