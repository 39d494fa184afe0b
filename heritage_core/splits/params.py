"""The parameters of notebook ``01_splits``, validated in one call (:func:`check_split_params`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heritage_core.errors import ConfigError
from heritage_core.splits.protocols import _check_protocol, _check_seed, check_fractions

__all__ = ["SplitParams", "check_split_params"]


@dataclass(frozen=True)
class SplitParams:
    """Validated parameters of notebook ``01_splits`` (see :func:`check_split_params`)."""

    cache_dir: Path
    source_dir: Path | None
    synthetic_n: int
    synthetic_seed: int
    synthetic_min_mark_px: int
    max_side_px: int
    score_cache_dir: Path | None
    score_max_side_px: int
    protocol: str
    seeds: tuple[int, ...]
    fractions: tuple[float, float, float]
    min_items: int
    output_dir: Path
    smoke: bool

    @property
    def report_dir(self) -> Path:
        """Where the split report goes: ``output_dir/report``."""
        return self.output_dir / "report"


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} is {value!r}; it must be an integer >= {low}")
    return int(value)


def check_split_params(
    cache_dir: str | Path,
    source_dir: str | Path | None,
    synthetic_n: int,
    synthetic_seed: int,
    max_side_px: int,
    protocol: str,
    seeds: Sequence[int],
    fractions: Sequence[float],
    min_items: int,
    output_dir: str | Path,
    smoke: bool,
    synthetic_min_mark_px: int = 1,
    score_cache_dir: str | Path | None = None,
    score_max_side_px: int = 0,
) -> SplitParams:
    """Validate every parameter of notebook ``01_splits`` at once.

    Args:
        cache_dir: ingest cache to split; made by :func:`prepare_dataset` when missing.
        source_dir: dataset source to ingest when ``cache_dir`` is missing (None or "": none).
        synthetic_n: when > 0 and ``cache_dir`` is missing, synthetic items to write into ``source_dir``
            first (unless it already holds parquet shards).
        synthetic_seed: seed of the synthetic dataset.
        max_side_px: long side of cached items in px when ingesting.
        protocol: one of :data:`PROTOCOLS`.
        seeds: distinct split seeds (>= 0).
        fractions: train, val, id_test shares of the in-domain items.
        min_items: partitions with fewer items raise a :class:`SplitWarning` in the report.
        output_dir: manifests go here, the report to ``output_dir/report``.
        smoke: keep only the first seed.
        synthetic_min_mark_px: smallest width of thin synthetic marks, px (see ``write_synthetic_dataset``).
        score_cache_dir: a second cache of the same source at ``score_max_side_px``, whose masks the
            evaluation scores (None or "": none).
        score_max_side_px: long side of the score cache, px (0 with no score cache).

    Returns:
        The parameters as a :class:`SplitParams`.

    Raises:
        ConfigError: the first bad parameter, named, with what is allowed.
    """
    seeds_list = list(seeds) if isinstance(seeds, (list, tuple)) else None
    if not seeds_list:
        raise ConfigError(f"seeds is {seeds!r}; give a non-empty list of split seeds, e.g. [0, 1, 2]")
    checked = [_check_seed(s, "seeds[]") for s in seeds_list]
    if len(set(checked)) != len(checked):
        raise ConfigError(f"seeds {checked} repeats a seed; give distinct split seeds")
    if not isinstance(smoke, bool):
        raise ConfigError(f"smoke is {smoke!r}; it must be True or False")
    source = Path(source_dir) if source_dir not in (None, "") else None
    cache = Path(cache_dir)
    synthetic_n = _check_int(synthetic_n, "synthetic_n", 0)
    if not (cache / "dataset.json").is_file() and synthetic_n == 0 and (source is None or not source.exists()):
        raise ConfigError(
            f"cache_dir '{cache}' is not an ingest cache and there is nothing to build it from (source_dir is "
            f"{source_dir!r}, synthetic_n is 0); point cache_dir at a cache, source_dir at a dataset, or set "
            f"synthetic_n > 0"
        )
    score_dir = Path(score_cache_dir) if score_cache_dir not in (None, "") else None
    max_side = _check_int(max_side_px, "max_side_px", 16)
    score_side = _check_int(score_max_side_px, "score_max_side_px", 0)
    if (score_dir is None) != (score_side == 0) or (score_dir is not None and score_side <= max_side):
        raise ConfigError(f"score_cache_dir {score_cache_dir!r} and score_max_side_px {score_max_side_px!r}: give "
                          f"both (a long side larger than max_side_px {max_side}) or neither ('' and 0)")
    return SplitParams(
        cache_dir=cache, source_dir=source, synthetic_n=synthetic_n,
        synthetic_seed=_check_seed(synthetic_seed, "synthetic_seed"),
        synthetic_min_mark_px=_check_int(synthetic_min_mark_px, "synthetic_min_mark_px", 1),
        max_side_px=max_side, score_cache_dir=score_dir, score_max_side_px=score_side,
        protocol=_check_protocol(protocol),
        seeds=tuple(checked[:1] if smoke else checked), fractions=check_fractions(fractions),
        min_items=_check_int(min_items, "min_items", 0), output_dir=Path(output_dir), smoke=smoke,
    )
