"""Tests of heritage_core.evaluation.stats: bootstrap against scipy, paired tests, Holm and mean ± SE by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from heritage_core.errors import ConfigError, DataError
from heritage_core.evaluation.metrics import SegCounts, reduce_counts
from heritage_core.evaluation.store import save_counts
from heritage_core.evaluation.resample import bootstrap_ci, class_iou, mean_iou
from heritage_core.evaluation.stats import (
    describe_se,
    format_mean_se,
    gap_ci,
    holm,
    mean_se,
    paired_bootstrap,
    paired_permutation_test,
    summarise_counts,
)
from count_builders import simulate_counts

N_IMAGES, N_CLASSES = 120, 8


@pytest.fixture(scope="module")
def counts() -> SegCounts:
    return simulate_counts(N_IMAGES, N_CLASSES, accuracy=0.7, seed=4)


def _scipy_by_index(*samples: SegCounts, method: str, seed: int, n_resamples: int):
    """scipy.stats.bootstrap of mIoU (or of the mIoU difference of two samples) by resampling image indices."""

    def statistic(*indices: np.ndarray, axis: int = -1) -> np.ndarray:
        values = [mean_iou(s.intersection[i].sum(-2), s.union[i].sum(-2)) for s, i in zip(samples, indices)]
        return values[0] if len(values) == 1 else values[0] - values[1]

    data = tuple(np.arange(len(s)) for s in samples)
    return scipy_stats.bootstrap(data, statistic, vectorized=True, n_resamples=n_resamples, method=method,
                                 rng=np.random.default_rng(seed), batch=1000)


def test_mean_iou_on_sums_leaves_undefined_classes_out() -> None:
    inter = np.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    union = np.array([[4.0, 6.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(class_iou(inter, union)[0, :3], [0.75, 4 / 6, 0.0])
    assert mean_iou(inter, union)[0] == pytest.approx((0.75 + 4 / 6) / 3)
    assert math.isnan(mean_iou(inter, union)[1])


def test_estimate_equals_reduce_counts(counts: SegCounts) -> None:
    result = bootstrap_ci(counts, n_resamples=200)
    assert result.estimate == pytest.approx(reduce_counts(counts).miou, rel=1e-12)
    assert result.low < result.estimate < result.high
    assert result.n_valid == 200 and result.distribution is None
    assert result.describe() == "95% CI: image-level bootstrap, 200 resamples, percentile, seed 0."


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_identical_images_give_a_zero_width_interval(method: str) -> None:
    one = simulate_counts(1, 5, seed=2)
    rows = {k: np.repeat(getattr(one, k), 30, axis=0) for k in ("intersection", "union")}
    result = bootstrap_ci(rows, method=method, n_resamples=500)
    assert result.low == result.high == pytest.approx(result.estimate, abs=1e-12)
    assert result.standard_error == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_interval_agrees_with_scipy_within_monte_carlo_error(counts: SegCounts, method: str) -> None:
    ours = bootstrap_ci(counts, n_resamples=4000, method=method, seed=11)
    theirs = _scipy_by_index(counts, method="BCa" if method == "bca" else "percentile", seed=12, n_resamples=4000)
    # Different seeds: the ends are 2.5% / 97.5% quantiles of 4000 draws each; their Monte-Carlo sd is about
    # 0.06 SE per estimate, so 0.4 SE is beyond 4 sd of the difference.
    tolerance = 0.4 * ours.standard_error
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=tolerance)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=tolerance)
    assert ours.standard_error == pytest.approx(theirs.standard_error, rel=0.1)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_same_seed_reproduces_scipy_exactly(counts: SegCounts, method: str) -> None:
    # Both draw rng.integers(0, N, (batch, N)) per chunk from default_rng(seed), so the resamples coincide.
    ours = bootstrap_ci(counts, n_resamples=2000, method=method, seed=5, batch=1000)
    theirs = _scipy_by_index(counts, method="BCa" if method == "bca" else "percentile", seed=5, n_resamples=2000)
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=1e-12)


def test_single_array_of_per_image_values_matches_scipy_mean() -> None:
    values = np.random.default_rng(0).gamma(2.0, size=50)
    ours = bootstrap_ci(values, lambda total: total / values.size, n_resamples=1000, method="bca", seed=9)
    theirs = scipy_stats.bootstrap((values,), np.mean, n_resamples=1000, method="BCa", rng=np.random.default_rng(9))
    assert ours.estimate == pytest.approx(values.mean())
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=1e-12)


def test_gap_ci_resamples_each_test_set_independently_like_scipy_two_sample() -> None:
    id_counts = simulate_counts(60, 6, accuracy=0.8, seed=1)
    ood_counts = simulate_counts(45, 6, accuracy=0.6, seed=2)
    ours = gap_ci(id_counts, ood_counts, n_resamples=2000, method="bca", seed=3)
    theirs = _scipy_by_index(id_counts, ood_counts, method="BCa", seed=3, n_resamples=2000)
    assert ours.estimate == pytest.approx(reduce_counts(id_counts).miou - reduce_counts(ood_counts).miou)
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=1e-12)
    assert ours.low > 0  # a clear gap


def test_class_iou_intervals_have_one_row_per_class(counts: SegCounts) -> None:
    result = bootstrap_ci([counts.intersection, counts.union], class_iou, n_resamples=300)
    assert result.estimate.shape == result.low.shape == result.high.shape == (N_CLASSES,)
    np.testing.assert_allclose(result.estimate, reduce_counts(counts).iou)
    assert (result.low <= result.high).all() and (result.n_valid <= 300).all()
    miou = bootstrap_ci([counts.intersection, counts.union], mean_iou, n_resamples=300)
    assert miou.estimate == pytest.approx(reduce_counts(counts).miou)


def test_rare_class_interval_uses_the_resamples_where_it_is_defined() -> None:
    inter = np.zeros((20, 2))
    union = np.zeros((20, 2))
    inter[:, 0], union[:, 0] = 5, 10
    inter[0, 1], union[0, 1] = 1, 4  # class 1 occurs in image 0 only
    result = bootstrap_ci([inter, union], class_iou, n_resamples=2000, seed=0)
    # The image is left out of a resample with probability (19/20)^20 ≈ 0.358.
    assert result.n_valid[0] == 2000
    assert 0.6 < result.n_valid[1] / 2000 < 0.68
    assert result.low[1] == result.high[1] == 0.25


def test_paired_bootstrap_of_identical_runs_is_zero_and_of_different_runs_excludes_zero() -> None:
    a = simulate_counts(80, 6, accuracy=0.75, seed=7, pred_seed=1)
    b = simulate_counts(80, 6, accuracy=0.55, seed=7, pred_seed=2)
    same = paired_bootstrap(a, a, n_resamples=500)
    assert same.estimate == same.low == same.high == 0
    diff = paired_bootstrap(a, b, n_resamples=1000, method="bca")
    assert diff.estimate == pytest.approx(reduce_counts(a).miou - reduce_counts(b).miou)
    assert 0 < diff.low < diff.estimate < diff.high


def test_paired_permutation_test_p_values() -> None:
    a = simulate_counts(80, 6, accuracy=0.75, seed=7, pred_seed=1)
    b = simulate_counts(80, 6, accuracy=0.55, seed=7, pred_seed=2)
    identical = paired_permutation_test(a, a, n_permutations=999)
    assert identical.statistic == 0 and identical.pvalue == 1.0
    clear = paired_permutation_test(a, b, n_permutations=999, seed=1)
    assert clear.statistic > 0 and clear.pvalue == pytest.approx(1 / 1000)
    # Two runs drawn alike: a large p-value, and the null is symmetric so swapping a and b changes nothing.
    c = simulate_counts(80, 6, accuracy=0.75, seed=7, pred_seed=3)
    null = paired_permutation_test(a, c, n_permutations=999, seed=2)
    assert null.pvalue > 0.05
    assert paired_permutation_test(c, a, n_permutations=999, seed=2).pvalue == null.pvalue


def test_paired_comparisons_refuse_different_images() -> None:
    a = simulate_counts(10, 4, seed=1)
    other = a.select([*a.ids[1:], a.ids[0]])
    with pytest.raises(DataError, match=r"another order \(row 0: a has 'img0000', b has 'img0001'\)"):
        paired_bootstrap(a, other)
    fewer = a.select(a.ids[:8])
    with pytest.raises(DataError, match=r"ids only in a: \['img0008', 'img0009'\] \(2\)"):
        paired_permutation_test(a, fewer)
    binary = simulate_counts(10, 2, head="binary", seed=1)
    with pytest.raises(DataError, match="same head"):
        paired_bootstrap(a, binary)
    with pytest.raises(DataError, match="same head"):
        gap_ci(a, binary)


def test_bad_parameters_are_refused(counts: SegCounts) -> None:
    with pytest.raises(ConfigError, match="method is 'basic'; allowed are percentile, bca"):
        bootstrap_ci(counts, method="basic")
    with pytest.raises(ConfigError, match="ci is 95"):
        bootstrap_ci(counts, ci=95)
    with pytest.raises(ConfigError, match="n_resamples is 0"):
        bootstrap_ci(counts, n_resamples=0)
    with pytest.raises(DataError, match="same number of rows"):
        bootstrap_ci([np.ones((3, 2)), np.ones((4, 2))], lambda i, u: mean_iou(i, u))
    with pytest.raises(DataError, match="at least 2"):
        bootstrap_ci([np.ones((1, 2)), np.ones((1, 2))])


def test_holm_hand_worked() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1, monotone
    assert holm([]).size == 0
    with pytest.raises(DataError, match="outside"):
        holm([0.2, 1.5])


def test_mean_se_hand_worked() -> None:
    mean, se = mean_se([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6)
    assert se == pytest.approx(0.1 / math.sqrt(3))  # sample sd 0.1
    assert mean_se([0.5, 0.6, 0.7], ddof=0)[1] == pytest.approx(math.sqrt(0.02 / 3) / math.sqrt(3))  # DomainBed
    assert math.isnan(mean_se([0.5])[1])


def test_format_mean_se_marks_missing_values() -> None:
    assert format_mean_se([0.5, 0.6, 0.7]) == "60.0 ± 5.8"
    assert format_mean_se([0.5, 0.6, 0.7], ddof=0) == "60.0 ± 4.7"
    assert format_mean_se([0.5, 0.6, 0.7], latex=True, digits=2) == "60.00 $\\pm$ 5.77"
    assert format_mean_se([0.573]) == "57.3 ± X"
    assert format_mean_se([]) == "X"
    assert format_mean_se([0.5, None, 0.7]) == "X"
    assert format_mean_se([0.5, float("nan")]) == "X"
    assert "ddof=1" in describe_se()


def test_summarise_counts_gives_one_row_per_head(tmp_path) -> None:
    fine = simulate_counts(30, 5, seed=1)
    binary = simulate_counts(31, 2, head="binary", seed=1)
    path = save_counts(tmp_path / "ood_test.npz", [fine, binary])
    table = summarise_counts(path, n_resamples=200)
    assert table["head"].tolist() == ["fine", "binary"] and table["n_images"].tolist() == [30, 31]
    assert table.loc[0, "miou"] == pytest.approx(reduce_counts(fine).miou)
    assert (table["miou_low"] < table["miou"]).all() and (table["miou"] < table["miou_high"]).all()
