"""Uncertainty of segmentation scores: image-level bootstrap, paired tests, Holm, and mean ± SE over seeds.

Every dataset-level score of :mod:`heritage_core.evaluation.metrics` is a function of per-class *sums* over images
(IoU = ΣI / ΣU). A bootstrap resample of images is therefore a vector of multiplicities w (how often each
image is drawn), and its sums are ``w @ counts``. Drawing B resamples at once gives a (B, N) weight
matrix, so B resampled scores cost one matrix product per chunk instead of B Python loops: 10,000
resamples of 418 images × 16 classes take well under a second on one core.

Conventions:

* ``statistic(*sums)`` receives the column sums of each per-image array, with a leading resample axis:
  for ``(intersection, union)`` each sum is (B, C), and it returns (B,) (e.g. :func:`mean_iou`) or
  (B, K) (e.g. :func:`~heritage_core.evaluation.resample.class_iou`). It must be a function of sums, i.e. of a set of images with
  multiplicities, which every score in :mod:`heritage_core.evaluation.metrics` is.
* Resamples whose statistic is undefined (NaN, e.g. a class absent from every drawn image) are left out
  of the interval; ``n_valid`` says how many remain.
* Resampling draws ``rng.integers(0, N, (batch, N))`` per chunk from ``numpy.random.default_rng(seed)``:
  the same seed gives the same interval.

References: Efron & Tibshirani, *An Introduction to the Bootstrap* (1993), ch. 14 (BCa, jackknife
acceleration); Holm, *Scand. J. Statist.* 6 (1979); Phipson & Smyth, *Stat. Appl. Genet. Mol. Biol.* 9
(2010) for the +1 in permutation p-values.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError, DataError
from heritage_core.evaluation import N_PERMUTATIONS, N_RESAMPLES
from heritage_core.evaluation.metrics import SegCounts, reduce_counts
from heritage_core.evaluation.resample import (
    BootstrapResult,
    Statistic,
    _bootstrap,
    _check_config,
    bootstrap_ci,
    mean_iou,
)
from heritage_core.evaluation.store import load_counts

__all__ = [
    "paired_bootstrap",
    "gap_ci",
    "GAP_CLASS_SETS",
    "common_classes",
    "COMMON_MIN_IMAGES",
    "mean_iou_over",
    "PermutationTestResult",
    "paired_permutation_test",
    "holm",
    "mean_se",
    "format_mean_se",
    "describe_se",
    "summarise_counts",
]


# --------------------------------------------------------------------------- statistics on sums


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PermutationTestResult:
    """A paired permutation test of a − b.

    Attributes:
        statistic: observed difference statistic(a) − statistic(b).
        pvalue: two-sided p-value (1 + #{|Δ*| ≥ |Δ|}) / (1 + n_permutations).
        n_permutations: random sign-flips drawn.
        seed: seed of ``numpy.random.default_rng``.
    """

    statistic: float
    pvalue: float
    n_permutations: int
    seed: int


# --------------------------------------------------------------------------- bootstrap


def paired_bootstrap(
    counts_a: SegCounts,
    counts_b: SegCounts,
    statistic: Statistic = mean_iou,
    *,
    n_resamples: int = N_RESAMPLES,
    ci: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> BootstrapResult:
    """Interval of statistic(a) − statistic(b) for two runs scored on the same images (e.g. ΔmIoU).

    The same resampled images are used for both runs, so image-to-image variation common to both
    cancels. With source groups in the counts, groups are resampled (a cluster bootstrap).

    Args:
        counts_a: counts of run a.
        counts_b: counts of run b on the same images, same ids in the same order.
        statistic: function of (intersection_sum, union_sum); default :func:`mean_iou`.
        n_resamples: number of bootstrap resamples.
        ci: confidence level in (0, 1).
        method: ``percentile`` or ``bca``.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        The :class:`BootstrapResult` of the difference a − b.

    Raises:
        DataError: the runs differ in head, classes or ids (see :func:`_check_paired`).
    """
    _check_paired(counts_a, counts_b, "paired_bootstrap")
    counts_a, counts_b = counts_a.by_group(), counts_b.by_group()

    def difference(ia: np.ndarray, ua: np.ndarray, ib: np.ndarray, ub: np.ndarray) -> np.ndarray:
        return np.asarray(statistic(ia, ua)) - np.asarray(statistic(ib, ub))

    arrays = [counts_a.intersection, counts_a.union, counts_b.intersection, counts_b.union]
    return _bootstrap([arrays], difference, n_resamples, ci, method, seed, 1000, False)


#: ``classes`` values of :func:`gap_ci`: the classes labelled in both test sets (:func:`common_classes`), or every class.
GAP_CLASS_SETS = ("common", "all")


#: Images (source groups) of each test set a class needs labels in to join the common class set.
COMMON_MIN_IMAGES = 2


def common_classes(*counts: SegCounts, min_images: int = COMMON_MIN_IMAGES) -> np.ndarray:
    """The classes labelled in at least ``min_images`` images of every given test set (a boolean class mask).

    Scores compared across test sets (the DG gap) are averaged over this one set: a class a small test set
    happens to lack would otherwise enter the other set's mean only, or enter both as IoU 0 where it is merely
    predicted, and the gap would move with the sets' sizes and class mix rather than with the domain shift.
    Images are counted per source group (rows of :meth:`~heritage_core.evaluation.metrics.SegCounts.by_group`). A class
    labelled in a single image is left out too (``min_images`` 2): the bootstrap cannot see its image-to-image
    variation, and with it the gap's interval covered 0 in 88 % of null draws at 55/23 images against 92 %
    without it (``benchmarks/bench_calibration.py``).

    Shapes:
        each counts: (N_k, C) rows; returns (C,) bool.

    Raises:
        DataError: the counts are of different heads or class lists.
    """
    first = counts[0]
    for other in counts[1:]:
        if other.head != first.head or other.class_names != first.class_names:
            raise DataError(f"common_classes: counts of head '{first.head}' and '{other.head}' with different "
                            f"classes; compare the same head")
    return np.logical_and.reduce([(c.by_group().label > 0).sum(0) >= min_images for c in counts])


def mean_iou_over(classes: np.ndarray) -> Statistic:
    """A statistic: mIoU over a fixed class set, ``mean over c in classes of ΣI_c / ΣU_c``.

    The set is decided once, from the observed test sets, and is not recomputed from a resample: a class
    outside it never enters (not even when a resample's predictions would give it a union), so resamples do
    not add classes. Within a resample, a class of the set with ΣU = 0 (none of its images drawn and never
    predicted) has no IoU and is left out of that resample's mean, as the one mIoU rule says.

    Args:
        classes: (C,) boolean mask (e.g. :func:`common_classes`).
    """
    keep = np.asarray(classes, bool)

    def statistic(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
        if not keep.any():
            return np.full(np.shape(intersection)[:-1], np.nan)
        return mean_iou(np.asarray(intersection)[..., keep], np.asarray(union)[..., keep])

    return statistic


def gap_ci(
    counts_id: SegCounts,
    counts_ood: SegCounts,
    statistic: Statistic | None = None,
    *,
    classes: str | np.ndarray = "common",
    n_resamples: int = N_RESAMPLES,
    ci: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> BootstrapResult:
    """Domain-generalisation gap statistic(ID) − statistic(OOD) with a bootstrap interval.

    The two test sets hold different images, so each is resampled independently (a two-sample
    bootstrap; BCa uses the jackknife of both samples). Rows are resampled by source group when the counts
    carry groups (:meth:`~heritage_core.evaluation.metrics.SegCounts.by_group`).

    Args:
        counts_id: counts on the in-distribution test set.
        counts_ood: counts of the same head on the out-of-distribution test set.
        statistic: function of (intersection_sum, union_sum); None for mIoU over ``classes``.
        classes: the class set of the default statistic, fixed across resamples: ``common`` (classes labelled in
            at least two images of both sets, :func:`common_classes`; what the suite reports), ``all`` (the plain mIoU of each set,
            biased by the sets' sizes and class mix), or a (C,) boolean mask.
        n_resamples: number of bootstrap resamples.
        ci: confidence level in (0, 1).
        method: ``percentile`` or ``bca``.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        The :class:`BootstrapResult` of the gap (positive: worse out of distribution).

    Raises:
        DataError: the two sets are of different heads or class lists.
        ConfigError: an unknown ``classes``.
    """
    if counts_id.head != counts_ood.head or counts_id.class_names != counts_ood.class_names:
        raise DataError(f"gap_ci: ID counts are of head '{counts_id.head}' with {counts_id.num_classes} classes, OOD "
                        f"counts of head '{counts_ood.head}' with {counts_ood.num_classes}; compare the same head")
    if statistic is None:
        if isinstance(classes, str):
            if classes not in GAP_CLASS_SETS:
                raise ConfigError(f"gap_ci: classes is {classes!r}; allowed are {list(GAP_CLASS_SETS)} or a mask")
            statistic = mean_iou if classes == "all" else mean_iou_over(common_classes(counts_id, counts_ood))
        else:
            statistic = mean_iou_over(np.asarray(classes, bool))
    counts_id, counts_ood = counts_id.by_group(), counts_ood.by_group()

    def gap(i_id: np.ndarray, u_id: np.ndarray, i_ood: np.ndarray, u_ood: np.ndarray) -> np.ndarray:
        return np.asarray(statistic(i_id, u_id)) - np.asarray(statistic(i_ood, u_ood))

    groups = [[counts_id.intersection, counts_id.union], [counts_ood.intersection, counts_ood.union]]
    return _bootstrap(groups, gap, n_resamples, ci, method, seed, 1000, False)


# --------------------------------------------------------------------------- paired test
def _check_paired(counts_a: SegCounts, counts_b: SegCounts, where: str) -> None:
    """Raise DataError unless both runs hold the same head, classes and image ids in the same order."""
    if counts_a.head != counts_b.head or counts_a.class_names != counts_b.class_names:
        raise DataError(f"{where}: run a is of head '{counts_a.head}' with {counts_a.num_classes} classes, run b of "
                        f"head '{counts_b.head}' with {counts_b.num_classes}; compare the same head")
    if counts_a.ids != counts_b.ids:
        only_a = sorted(set(counts_a.ids) - set(counts_b.ids))
        only_b = sorted(set(counts_b.ids) - set(counts_a.ids))
        if only_a or only_b:
            detail = f"ids only in a: {only_a[:5]} ({len(only_a)}), only in b: {only_b[:5]} ({len(only_b)})"
        else:
            i = next(k for k, (x, y) in enumerate(zip(counts_a.ids, counts_b.ids)) if x != y)
            detail = f"same ids in another order (row {i}: a has '{counts_a.ids[i]}', b has '{counts_b.ids[i]}')"
        raise DataError(f"{where}: the runs were not scored on the same images in the same order; {detail}. "
                        f"Evaluate both on one manifest, or align them with SegCounts.select(ids)")


def paired_permutation_test(
    counts_a: SegCounts,
    counts_b: SegCounts,
    statistic: Statistic = mean_iou,
    *,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    batch: int = 1000,
) -> PermutationTestResult:
    """Two-sided paired permutation test of statistic(a) = statistic(b) on the same images.

    Under the null hypothesis the two runs are exchangeable on each image, so each permutation swaps the
    per-image rows of a and b on a random half of the images (a sign flip of the pair) and recomputes
    Δ* = statistic(a*) − statistic(b*) from the sums. p = (1 + #{|Δ*| ≥ |Δ|}) / (1 + n_permutations).
    With source groups in the counts, whole groups are swapped.

    Args:
        counts_a: counts of run a.
        counts_b: counts of run b on the same images, same ids in the same order.
        statistic: function of (intersection_sum, union_sum); default :func:`mean_iou`.
        n_permutations: random sign-flips drawn.
        seed: seed of ``numpy.random.default_rng``.
        batch: permutations per chunk.

    Returns:
        The :class:`PermutationTestResult`.

    Raises:
        ConfigError: a bad ``n_permutations``, ``seed`` or ``batch``.
        DataError: the runs differ in head, classes or ids.
    """
    _check_config(n_permutations, 0.95, "percentile", seed, batch, "paired_permutation_test")
    _check_paired(counts_a, counts_b, "paired_permutation_test")
    counts_a, counts_b = counts_a.by_group(), counts_b.by_group()
    c = counts_a.num_classes
    a = np.concatenate([counts_a.intersection, counts_a.union], axis=1).astype(np.float64)
    b = np.concatenate([counts_b.intersection, counts_b.union], axis=1).astype(np.float64)
    diff, total_a, total_b = b - a, a.sum(0), b.sum(0)

    def delta(sums_a: np.ndarray, sums_b: np.ndarray) -> np.ndarray:
        return (np.asarray(statistic(sums_a[:, :c], sums_a[:, c:]))
                - np.asarray(statistic(sums_b[:, :c], sums_b[:, c:])))

    observed = float(delta(total_a[None], total_b[None])[0])
    tolerance = 1e-12 * max(1.0, abs(observed))  # float ties, e.g. identical runs
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, n_permutations, batch):
        size = min(batch, n_permutations - start)
        swap = rng.integers(0, 2, size=(size, a.shape[0])).astype(np.float64)
        moved = swap @ diff
        extreme += int((np.abs(delta(total_a + moved, total_b - moved)) >= abs(observed) - tolerance).sum())
    return PermutationTestResult(statistic=observed, pvalue=(1 + extreme) / (1 + n_permutations),
                                 n_permutations=int(n_permutations), seed=int(seed))


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values (family-wise error control), in the input order.

    With the m p-values sorted ascending, p_adj(i) = max over j ≤ i of min(1, (m − j + 1) · p(j)), so the
    adjusted values are monotone in the raw ones and capped at 1.

    Args:
        pvalues: raw p-values in [0, 1].

    Returns:
        float64 array of adjusted p-values, same order and length.

    Raises:
        DataError: a p-value outside [0, 1] or NaN.
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if not np.all((p >= 0) & (p <= 1)):
        raise DataError(f"holm: p-values {p[~((p >= 0) & (p <= 1))][:5].tolist()} are outside [0, 1] or NaN; "
                        f"give raw p-values")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted


# --------------------------------------------------------------------------- across seeds
def mean_se(values: Sequence[float] | np.ndarray, ddof: int = 1) -> tuple[float, float]:
    """Mean and standard error of the mean over seeds: SE = std(values, ddof) / √n.

    ``ddof=1`` (default) uses the sample standard deviation. DomainBed's ``format_mean`` uses
    ``ddof=0`` (``np.std(x / √n)``), which is smaller by √((n−1)/n); pass ``ddof=0`` to reproduce it.

    Args:
        values: one number per seed.
        ddof: delta degrees of freedom of the standard deviation.

    Returns:
        (mean, se); NaN where undefined (no values; or n ≤ ddof for the SE). NaN values propagate.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return float("nan"), float("nan")
    se = float(np.std(x, ddof=ddof) / np.sqrt(x.size)) if x.size > ddof else float("nan")
    return float(np.mean(x)), se


def format_mean_se(
    values: Sequence[float | None] | np.ndarray,
    *,
    scale: float = 100.0,
    digits: int = 1,
    ddof: int = 1,
    latex: bool = False,
) -> str:
    """Table cell "mean ± se" over seeds, with "X" for what is missing (DomainBed habit: gaps stay visible).

    The cell is "X" when there are no values or any value is missing (None or NaN), so a crashed seed
    shows as a gap rather than as a silently smaller n. An undefined SE (a single seed) prints as "X".

    Args:
        values: one score per seed, fractions in [0, 1].
        scale: display factor (100 gives percent).
        digits: decimals shown.
        ddof: see :func:`mean_se`.
        latex: ``57.3 $\\pm$ 1.2`` instead of ``57.3 ± 1.2``.

    Returns:
        The cell text.
    """
    if len(values) == 0 or any(v is None or not np.isfinite(v) for v in values):
        return "X"
    mean, se = mean_se([float(v) for v in values], ddof=ddof)  # type: ignore[arg-type]
    se_text = "X" if not np.isfinite(se) else f"{scale * se:.{digits}f}"
    pm = "$\\pm$" if latex else "±"
    return f"{scale * mean:.{digits}f} {pm} {se_text}"


def describe_se(ddof: int = 1) -> str:
    """Caption sentence for mean ± SE cells built with this ``ddof``."""
    kind = "sample standard deviation (ddof=1)" if ddof == 1 else f"standard deviation with ddof={ddof}"
    return f"Mean ± standard error over seeds (SE = s/√n, s the {kind}); X marks a missing run."


# --------------------------------------------------------------------------- summary of an evaluation file
def summarise_counts(
    path: str | Path,
    *,
    n_resamples: int = N_RESAMPLES,
    ci: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> pd.DataFrame:
    """One row per head of an ``eval/<partition>.npz``: headline scores and a bootstrap interval of mIoU.

    Args:
        path: file written by :func:`heritage_core.evaluation.store.save_counts`.
        n_resamples: bootstrap resamples for the mIoU interval.
        ci: confidence level in (0, 1).
        method: ``percentile`` or ``bca``.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        Columns ``head``, ``n_images``, ``miou``, ``miou_low``, ``miou_high``, ``macc``, ``mdice``, ``aacc``,
        ``n_classes_scored`` (fractions in [0, 1]); the interval is NaN for a head with fewer than 2 images.

    Raises:
        DataError: the file cannot be read (see :func:`heritage_core.evaluation.store.load_counts`).
        ConfigError: a bad bootstrap parameter.
    """
    _check_config(n_resamples, ci, method, seed, 1000, "summarise_counts")
    rows = []
    for head, counts in load_counts(path).items():
        summary = reduce_counts(counts).summary()
        low = high = float("nan")
        if len(counts) >= 2:
            result = bootstrap_ci(counts, n_resamples=n_resamples, ci=ci, method=method, seed=seed)
            low, high = float(result.low), float(result.high)
        rows.append({"head": head, "n_images": len(counts), "miou": summary["miou"], "miou_low": low,
                     "miou_high": high, "macc": summary["macc"], "mdice": summary["mdice"],
                     "aacc": summary["aacc"], "n_classes_scored": summary["n_classes_scored"]})
    return pd.DataFrame(rows)
