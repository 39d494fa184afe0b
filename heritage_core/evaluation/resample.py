"""The bootstrap engine: resampling images as multiplicity weights, percentile and BCa intervals.

A bootstrap resample of N images is a vector of multiplicities w (how often each image is drawn), and the sums
of any per-image array are ``w @ array``; B resamples at once are a (B, N) weight matrix, so B resampled scores
cost one matrix product per chunk. The scores built on it (mIoU, gaps, paired differences) are in
:mod:`heritage_core.evaluation.stats`, which states the conventions (statistics of sums, NaN resamples left out,
one seed one interval).

Reference: Efron & Tibshirani, *An Introduction to the Bootstrap* (1993), ch. 14 (BCa, jackknife acceleration).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from heritage_core.errors import ConfigError, DataError
from heritage_core.evaluation import N_RESAMPLES
from heritage_core.evaluation.metrics import SegCounts

__all__ = ["BOOTSTRAP_METHODS", "class_iou", "mean_iou", "BootstrapResult", "bootstrap_ci"]


#: Interval methods of :func:`bootstrap_ci`.
BOOTSTRAP_METHODS = ("percentile", "bca")


Statistic = Callable[..., np.ndarray]


Samples = SegCounts | Mapping[str, Any] | Sequence[Any]


def class_iou(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Per-class IoU ΣI / ΣU from summed counts; NaN where ΣU = 0.

    Shapes:
        intersection, union: (..., C); returns (..., C).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(intersection, np.float64) / union


def mean_iou(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """mIoU from summed counts: the mean of ΣI / ΣU over classes with ΣU > 0 (NaN if there are none).

    The same rule as :func:`heritage_core.evaluation.metrics.reduce_counts`, vectorised over leading axes.

    Shapes:
        intersection, union: (..., C); returns (...).
    """
    iou = class_iou(intersection, union)
    defined = np.isfinite(iou)
    n = defined.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(defined, iou, 0.0).sum(-1) / np.where(n > 0, n, np.nan)


@dataclass(frozen=True)
class BootstrapResult:
    """A bootstrap confidence interval.

    Attributes:
        estimate: the statistic on the observed images (float, or an array for a vector statistic).
        low: lower end of the interval (same shape as ``estimate``).
        high: upper end of the interval.
        standard_error: standard deviation (ddof=1) of the valid resampled statistics.
        method: ``percentile`` or ``bca``.
        ci: confidence level, e.g. 0.95.
        n_resamples: resamples drawn.
        n_valid: resamples where the statistic was defined (per component for a vector statistic).
        seed: seed of ``numpy.random.default_rng``.
        distribution: the (n_resamples, ...) resampled statistics, when asked for.
    """

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    standard_error: float | np.ndarray
    method: str
    ci: float
    n_resamples: int
    n_valid: int | np.ndarray
    seed: int
    distribution: np.ndarray | None = None

    def describe(self) -> str:
        """Caption sentence, e.g. "95% CI: image-level bootstrap, 10,000 resamples, BCa, seed 0."."""
        method = "BCa" if self.method == "bca" else "percentile"
        return (f"{self.ci:.0%} CI: image-level bootstrap, {self.n_resamples:,} resamples, {method}, "
                f"seed {self.seed}.")


def bootstrap_ci(
    data: Samples,
    statistic: Statistic = mean_iou,
    *,
    n_resamples: int = N_RESAMPLES,
    ci: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
    batch: int = 1000,
    keep_distribution: bool = False,
) -> BootstrapResult:
    """Image-level bootstrap interval of a dataset-level score.

    Images are resampled with replacement (rows of every array together); the statistic is recomputed
    from the resampled sums.

    Args:
        data: per-image counts: a :class:`SegCounts` or a mapping with ``intersection`` and ``union``
            (then ``statistic(intersection_sum, union_sum)``), a sequence of arrays with one row per
            image (then ``statistic(*sums)`` in that order), or one such array (``statistic(sum)``).
        statistic: function of the summed arrays, vectorised over a leading resample axis (see module
            docstring); default :func:`mean_iou`.
        n_resamples: number of bootstrap resamples B.
        ci: confidence level in (0, 1).
        method: ``percentile``, or ``bca`` (bias-corrected and accelerated, jackknife acceleration).
        seed: seed of ``numpy.random.default_rng``.
        batch: resamples per chunk (memory ~ batch × N × 8 bytes).
        keep_distribution: whether to return the resampled statistics.

    Returns:
        The :class:`BootstrapResult`.

    Shapes:
        each array in data: (N, ...) with the same N; statistic: sums (B, ...) -> (B,) or (B, K).

    Raises:
        ConfigError: a bad ``n_resamples``, ``ci``, ``method``, ``seed`` or ``batch``.
        DataError: arrays with different numbers of rows, or fewer than 2 images.
    """
    return _bootstrap([_as_arrays(data, "bootstrap_ci")], statistic, n_resamples, ci, method, seed, batch,
                      keep_distribution)


def _as_arrays(data: Samples, where: str) -> list[np.ndarray]:
    if isinstance(data, SegCounts):
        arrays = [data.intersection, data.union]
    elif isinstance(data, np.ndarray) or hasattr(data, "detach"):
        arrays = [data]
    elif isinstance(data, Mapping):
        if "intersection" not in data or "union" not in data:
            raise DataError(f"{where}: a mapping of counts needs 'intersection' and 'union', got keys {sorted(data)}")
        arrays = [data["intersection"], data["union"]]
    else:
        arrays = list(data)
    out = [np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float64) for a in arrays]
    if not out or any(a.ndim == 0 for a in out) or len({a.shape[0] for a in out}) != 1:
        raise DataError(f"{where}: per-image arrays have shapes {[a.shape for a in out]}; give one or more arrays "
                        f"with the same number of rows (images)")
    return out


def _check_config(n_resamples: int, ci: float, method: str, seed: int, batch: int, where: str) -> None:
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ConfigError(f"{where}: n_resamples is {n_resamples!r}; give a positive integer (e.g. 10000)")
    if not isinstance(ci, (float, int)) or not 0 < ci < 1:
        raise ConfigError(f"{where}: ci is {ci!r}; give a confidence level strictly between 0 and 1 (e.g. 0.95)")
    if method not in BOOTSTRAP_METHODS:
        raise ConfigError(f"{where}: method is {method!r}; allowed are {', '.join(BOOTSTRAP_METHODS)}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"{where}: seed is {seed!r}; give a non-negative integer so the interval is reproducible")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ConfigError(f"{where}: batch is {batch!r}; give a positive integer")


def _resample_weights(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """(b, n) float64 multiplicities of n images in b resamples with replacement."""
    draws = rng.integers(0, n, size=(b, n))
    draws += np.arange(b)[:, None] * n
    return np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _bootstrap(
    groups: list[list[np.ndarray]],
    statistic: Statistic,
    n_resamples: int,
    ci: float,
    method: str,
    seed: int,
    batch: int,
    keep_distribution: bool,
) -> BootstrapResult:
    """Bootstrap over independent groups of images; arrays within a group are resampled together."""
    _check_config(n_resamples, ci, method, seed, batch, "bootstrap")
    tails = [[a.shape[1:] for a in arrays] for arrays in groups]
    matrices = [np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1) for arrays in groups]
    for m in matrices:
        if m.shape[0] < 2:
            raise DataError(f"bootstrap: a sample has {m.shape[0]} image(s); at least 2 are needed to resample")

    def evaluate(sums: list[np.ndarray]) -> np.ndarray:
        """Statistic of the (b, K_g) sums of each group: (b, ...) as the statistic returns it."""
        args = []
        for s, shapes in zip(sums, tails):
            start = 0
            for shape in shapes:
                size = int(np.prod(shape, dtype=np.int64))
                args.append(s[:, start:start + size].reshape((s.shape[0], *shape)))
                start += size
        return np.asarray(statistic(*args), dtype=np.float64)

    totals = [m.sum(0) for m in matrices]
    estimate = evaluate([t[None] for t in totals])[0]
    stat_shape = estimate.shape
    theta_hat = estimate.reshape(-1)

    def evaluate_flat(sums: list[np.ndarray]) -> np.ndarray:
        out = evaluate(sums)
        return out.reshape(out.shape[0], -1)

    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        chunks.append(evaluate_flat([_resample_weights(rng, b, m.shape[0]) @ m for m in matrices]))
    dist = np.concatenate(chunks)  # (B, K)

    alpha = (1 - ci) / 2
    k = dist.shape[1]
    probs = np.tile([alpha, 1 - alpha], (k, 1))
    if method == "bca":
        probs = _bca_probabilities(dist, theta_hat, matrices, totals, evaluate_flat, alpha)
    low, high = _quantiles(dist, probs).T
    n_valid = np.isfinite(dist).sum(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(dist, axis=0, ddof=1)

    def shaped(x: np.ndarray) -> float | np.ndarray:
        return float(x[0]) if stat_shape == () else x.reshape(stat_shape)

    return BootstrapResult(
        estimate=shaped(theta_hat), low=shaped(low), high=shaped(high), standard_error=shaped(se),
        method=method, ci=float(ci), n_resamples=int(n_resamples),
        n_valid=int(n_valid[0]) if stat_shape == () else n_valid.reshape(stat_shape), seed=int(seed),
        distribution=dist.reshape((n_resamples, *stat_shape)) if keep_distribution else None,
    )


def _bca_probabilities(
    dist: np.ndarray,
    theta_hat: np.ndarray,
    matrices: list[np.ndarray],
    totals: list[np.ndarray],
    evaluate: Callable[[list[np.ndarray]], np.ndarray],
    alpha: float,
) -> np.ndarray:
    """(K, 2) quantile levels of the BCa interval: bias correction z0 and jackknife acceleration a."""
    valid = np.isfinite(dist)
    n_valid = valid.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Mid-rank share of resamples below the estimate, so ties count half.
        below = ((dist < theta_hat) & valid).sum(0) + ((dist <= theta_hat) & valid).sum(0)
        z0 = ndtri(below / (2.0 * n_valid))
    num = np.zeros_like(theta_hat)
    den = np.zeros_like(theta_hat)
    for g, m in enumerate(matrices):
        # Leave-one-out sums of group g are its total minus one row; other groups keep their totals.
        sums = [np.broadcast_to(t, (m.shape[0], t.size)) for t in totals]
        sums[g] = totals[g][None] - m
        jack = evaluate(sums)  # (N_g, K)
        n = np.isfinite(jack).sum(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            u = (n - 1) * (np.nanmean(jack, axis=0) - jack)
        num += np.nansum(u**3, axis=0) / n.astype(np.float64) ** 3
        den += np.nansum(u**2, axis=0) / n.astype(np.float64) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(den > 0, num / (6 * den**1.5), 0.0)
        z = ndtri(np.array([alpha, 1 - alpha]))[None, :]
        shifted = z0[:, None] + z
        probs = ndtr(z0[:, None] + shifted / (1 - a[:, None] * shifted))
    bad = ~np.isfinite(probs).all(1) & (n_valid > 0)
    if bad.any():
        warnings.warn(f"BCa interval undefined for {int(bad.sum())} component(s): the estimate lies outside the "
                      f"bootstrap distribution (degenerate data); their bounds are NaN, use method='percentile'",
                      RuntimeWarning, stacklevel=3)
    return probs


def _quantiles(dist: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles of each column over its finite values, at per-column levels.

    Shapes:
        dist: (B, K); probs: (K, 2); returns (K, 2).
    """
    ordered = np.sort(np.where(np.isfinite(dist), dist, np.nan), axis=0)  # NaNs sort last
    n = np.isfinite(ordered).sum(0)[:, None]
    with np.errstate(invalid="ignore"):
        h = probs * (n - 1)
        lo = np.clip(np.floor(np.nan_to_num(h)), 0, np.maximum(n - 1, 0)).astype(np.intp)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        cols = np.arange(dist.shape[1])[:, None]
        out = ordered[lo, cols] + (h - lo) * (ordered[hi, cols] - ordered[lo, cols])
    return np.where((n > 0) & np.isfinite(probs), out, np.nan)
