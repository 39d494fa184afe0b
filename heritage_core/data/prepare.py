"""Preparing a dataset for a suite: open the ingest cache, generating and ingesting the source first when needed."""
from __future__ import annotations

from pathlib import Path

from heritage_core.data.cache import Cache, open_cache
from heritage_core.errors import DataError

__all__ = ["prepare_dataset"]


def prepare_dataset(
    cache_dir: str | Path,
    source_dir: str | Path | None = None,
    synthetic_n: int = 0,
    synthetic_seed: int = 0,
    max_side_px: int = 512,
    synthetic_min_mark_px: int = 1,
) -> Cache:
    """Open the ingest cache at ``cache_dir``, building it first when it is missing.

    When ``cache_dir`` holds no cache: if ``synthetic_n`` > 0 and ``source_dir`` has no ``data/*.parquet``,
    a synthetic ARTeFACT-schema dataset of ``synthetic_n`` items is written there
    (``heritage_core.data.synth.write_synthetic_dataset``); then ``source_dir`` is ingested into
    ``cache_dir`` (``heritage_core.data.ingest.ingest``). An existing cache is opened as it is.

    Args:
        cache_dir: the cache folder.
        source_dir: dataset source folder (parquet folder, ``metadata.csv`` folder or binary-mask folder).
        synthetic_n: number of synthetic items to generate when needed (0: never generate).
        synthetic_seed: seed of the synthetic dataset.
        max_side_px: long side in px of generated and cached items.
        synthetic_min_mark_px: smallest width of thin synthetic marks, px.

    Returns:
        The opened :class:`~heritage_core.data.cache.Cache`.

    Raises:
        DataError: no cache and nothing to build it from, or ingest fails.
    """
    cache_dir = Path(cache_dir)
    if (cache_dir / "dataset.json").is_file():
        return open_cache(cache_dir)
    if source_dir in (None, ""):
        raise DataError(f"'{cache_dir}' holds no ingest cache and no source_dir was given to build it from; "
                        f"pass source_dir (and synthetic_n > 0 to generate synthetic data)")
    source = Path(source_dir)
    if synthetic_n > 0 and not any((source / "data").glob("*.parquet")):
        from heritage_core.data.synth import write_synthetic_dataset

        write_synthetic_dataset(source, n=synthetic_n, seed=synthetic_seed, max_side_px=max_side_px,
                                min_mark_px=synthetic_min_mark_px)
    if not source.exists():
        raise DataError(f"source_dir '{source}' does not exist; point it at a dataset or set synthetic_n > 0")
    from heritage_core.data.ingest import ingest

    ingest(source, cache_dir, max_side_px=max_side_px, progress=False)
    return open_cache(cache_dir)
