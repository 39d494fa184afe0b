"""Uncertainty across trained runs: a hierarchical bootstrap over seeds and test images, and a sign-flip test.

A headline number of the paper is a mean over runs: per training seed, the mean over folds of a run-level
score (mIoU, or the paired ΔmIoU of two variants), then the mean over seeds. It varies with the test images
*and* with training randomness; :func:`hierarchical_bootstrap` resamples both:

1. the seeds, with replacement (S draws from the S seeds);
2. within every test set, its rows (images, or source groups) with replacement. Runs scored on the same
   test set (the same fold and split seed: several training seeds, or two variants of a paired comparison)
   share one image resample, so what is common to them stays common; runs on different test sets (other
   folds, or split seeds paired with training seeds) are resampled independently.

The resampled headline is the mean over the drawn seeds of their fold means; the interval is its percentile
interval. With one seed it reduces to the image bootstrap of the fold mean, which ignores training randomness:
the captions say so (:func:`describe_hierarchical`).

:func:`sign_flip_test` tests a method effect across training randomness: over the paired (fold, seed) deltas
of two variants, the two-sided p-value of the mean delta under random sign flips (exact enumeration up to 16
pairs). With few pairs its smallest possible p-value is large (4 pairs: 0.125), which is the honest answer.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from heritage_core.errors import ConfigError, DataError
from heritage_core.evaluation import N_PERMUTATIONS, N_RESAMPLES
from heritage_core.evaluation.resample import BootstrapResult, _quantiles, _resample_weights

__all__ = ["BootUnit", "hierarchical_bootstrap", "sign_flip_test", "describe_hierarchical"]

Statistic = Callable[..., np.ndarray]
#: Largest number of pairs whose sign flips are enumerated exactly.
EXACT_FLIPS = 16


@dataclass(frozen=True)
class BootUnit:
    """One trained run's per-row counts, as the hierarchical bootstrap resamples them.

    Attributes:
        seed: training seed (the level resampled first).
        parts: ``(test_set, arrays)`` pairs: the key of a test set (e.g. ``fold/split_seed/id_test``) and its
            per-row arrays, each (N, ...). Units sharing a key share its image resamples and must have the same
            rows in the same order; different keys are resampled independently (the ID and OOD sets of a gap).
            The statistic receives every part's summed arrays, in order.
    """

    seed: int
    parts: tuple[tuple[str, tuple[np.ndarray, ...]], ...]


def hierarchical_bootstrap(
    units: Sequence[BootUnit],
    statistic: Statistic | Sequence[Statistic],
    *,
    n_resamples: int = N_RESAMPLES,
    ci: float = 0.95,
    seed: int = 0,
    batch: int = 500,
) -> BootstrapResult:
    """Interval of the mean over seeds of the per-seed mean over runs of ``statistic`` (module docstring).

    Args:
        units: one per run; every seed must have the same number of runs (a complete fold x seed grid: an
            incomplete one is refused, never averaged over fewer runs).
        statistic: function of a unit's summed arrays, vectorised over a leading resample axis, returning (B,);
            or one function per unit (each fold has its own common class set).
        n_resamples: resamples B.
        ci: confidence level in (0, 1).
        seed: seed of ``numpy.random.default_rng``.
        batch: resamples per chunk.

    Returns:
        A :class:`~heritage_core.evaluation.resample.BootstrapResult` (method ``percentile``; ``n_valid`` counts resamples in
        which every drawn run had a value).

    Raises:
        DataError: no units, seeds with different numbers of runs, units of one test set with different
            numbers of rows, or a test set with fewer than 2 rows.
        ConfigError: a bad ``n_resamples``, ``ci`` or ``batch``.
    """
    if not units:
        raise DataError("hierarchical_bootstrap: no runs to aggregate")
    if not isinstance(n_resamples, int) or n_resamples < 1 or not 0 < ci < 1 or batch < 1:
        raise ConfigError(f"hierarchical_bootstrap: n_resamples {n_resamples!r}, ci {ci!r}, batch {batch!r}; give a "
                          f"positive integer, a level in (0, 1) and a positive batch")
    stats = list(statistic) if isinstance(statistic, Sequence) else [statistic] * len(units)
    seeds = sorted({u.seed for u in units})
    per_seed = {s: sum(u.seed == s for u in units) for s in seeds}
    if len(set(per_seed.values())) > 1:
        raise DataError(f"hierarchical_bootstrap: the seeds have different numbers of runs ({per_seed}); an "
                        f"incomplete fold x seed grid is not averaged over fewer runs, finish the missing runs")
    rows: dict[str, int] = {}
    for u in units:
        for key, arrays in u.parts:
            n = {a.shape[0] for a in arrays}
            if len(n) != 1 or rows.setdefault(key, arrays[0].shape[0]) != arrays[0].shape[0]:
                raise DataError(f"hierarchical_bootstrap: test set '{key}' has arrays with different numbers of "
                                f"rows; runs of one test set must be scored on the same rows")
    if min(rows.values()) < 2:
        raise DataError(f"hierarchical_bootstrap: a test set has fewer than 2 rows ({rows}); nothing to resample")
    members = [[k for k, u in enumerate(units) if u.seed == s] for s in seeds]

    def value(k: int, weights: dict[str, np.ndarray] | None) -> np.ndarray:
        sums = []
        for key, arrays in units[k].parts:
            for a in arrays:
                flat = np.asarray(a, np.float64).reshape(a.shape[0], -1)
                total = flat.sum(0)[None] if weights is None else weights[key] @ flat
                sums.append(total.reshape(-1, *a.shape[1:]))
        return np.asarray(stats[k](*sums), np.float64).reshape(-1)

    def headline(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """values (b, U) per unit -> (b,) mean over the drawn seeds of their per-seed unit means."""
        seed_means = np.stack([values[:, m].mean(1) for m in members], 1)
        return np.take_along_axis(seed_means, draws, 1).mean(1)

    estimate = float(headline(np.stack([value(k, None) for k in range(len(units))], 1),
                              np.arange(len(seeds))[None])[0])
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        draws = rng.integers(0, len(seeds), size=(b, len(seeds)))
        weights = {key: _resample_weights(rng, b, n) for key, n in sorted(rows.items())}
        chunks.append(headline(np.stack([value(k, weights) for k in range(len(units))], 1), draws))
    dist = np.concatenate(chunks)
    alpha = (1 - ci) / 2
    low, high = _quantiles(dist[:, None], np.array([[alpha, 1 - alpha]]))[0]
    finite = np.isfinite(dist)
    se = float(np.std(dist[finite], ddof=1)) if finite.sum() > 1 else float("nan")
    return BootstrapResult(estimate=estimate, low=float(low), high=float(high), standard_error=se,
                           method="percentile", ci=float(ci), n_resamples=int(n_resamples),
                           n_valid=int(finite.sum()), seed=int(seed))


def sign_flip_test(deltas: Sequence[float] | np.ndarray, *, n_permutations: int = N_PERMUTATIONS, seed: int = 0) -> float:
    """Two-sided p-value of mean(deltas) = 0 under random sign flips of the paired deltas.

    Each delta is one (fold, seed) pair of runs of two variants: under the null the variants are exchangeable,
    so each delta's sign is equally likely. Up to :data:`EXACT_FLIPS` deltas every sign pattern is enumerated
    (p = #{|mean*| >= |mean|} / 2^n, the identity included); above, ``n_permutations`` random patterns give
    p = (1 + #) / (1 + n_permutations).

    Args:
        deltas: paired differences b − a, one per (fold, seed); NaN is not allowed.
        n_permutations: random sign patterns when there are more than :data:`EXACT_FLIPS` deltas.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        The p-value in (0, 1].

    Raises:
        DataError: no deltas, or a NaN among them.
    """
    d = np.asarray(deltas, np.float64).ravel()
    if d.size == 0 or not np.isfinite(d).all():
        raise DataError(f"sign_flip_test: deltas {d.tolist()[:8]} must be a non-empty list of numbers (no NaN: a "
                        f"missing run makes the comparison incomplete)")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if d.size <= EXACT_FLIPS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
        return float((np.abs(signs @ d / d.size) >= observed - tolerance).mean())
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(n_permutations, d.size))
    extreme = int((np.abs(signs @ d / d.size) >= observed - tolerance).sum())
    return (1 + extreme) / (1 + n_permutations)


def describe_hierarchical(n_seeds: int, n_resamples: int) -> str:
    """Caption sentence for intervals made by :func:`hierarchical_bootstrap`."""
    if n_seeds > 1:
        return (f"95% CI: hierarchical bootstrap over {n_seeds} training seeds and the test images of each run "
                f"({n_resamples:,} resamples).")
    return (f"95% CI: bootstrap over the test images ({n_resamples:,} resamples); with one training seed it does "
            f"not include training randomness.")
