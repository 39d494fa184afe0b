"""Shared fixtures: a small synthetic ARTeFACT-schema dataset, its ingest cache, the tiny trained and evaluated
suite of ``eval_builders.py``, and the real film scans."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
FILM_DIR = SHARED / "data" / "film_damage_real"

#: Size of the session-wide synthetic dataset: small, but every material x content cell is present.
SYNTH_N = 48
SYNTH_SIDE_PX = 128


@pytest.fixture(scope="session")
def synthetic_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic dataset in the published ARTeFACT parquet layout (``data/train-*.parquet``)."""
    from heritage_core.data.synth import write_synthetic_dataset

    out = tmp_path_factory.mktemp("synthetic_source")
    write_synthetic_dataset(out, n=SYNTH_N, seed=0, max_side_px=SYNTH_SIDE_PX)
    return out


@pytest.fixture(scope="session")
def synthetic_cache(synthetic_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ingest cache of :func:`synthetic_source` (read-only for tests: copy it before changing it)."""
    from heritage_core.data.ingest import ingest

    out = tmp_path_factory.mktemp("synthetic_cache") / "cache"
    ingest(synthetic_source, out, max_side_px=SYNTH_SIDE_PX, progress=False)
    return out


@pytest.fixture(scope="session")
def evaluated_tiny_suite(synthetic_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """``eval_builders.evaluated_suite``: three smoke runs trained and evaluated once per session, whichever test
    asks first; (suite, each run's ``evaluate_run`` result)."""
    from eval_builders import evaluated_suite

    return evaluated_suite(synthetic_cache, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def film_dir() -> Path:
    """The 4 real film scans with binary damage masks in ../shared (skipped when absent)."""
    if not (FILM_DIR / "metadata.csv").is_file():
        pytest.skip(f"real film scans not found at {FILM_DIR} (../shared is absent on this machine)")
    return FILM_DIR
