"""Tests of heritage_core.evaluation.across_runs: the hierarchical bootstrap over seeds and images, the sign-flip test."""
from __future__ import annotations

import numpy as np
import pytest

from heritage_core.evaluation.across_runs import BootUnit, describe_hierarchical, hierarchical_bootstrap, sign_flip_test
from heritage_core.errors import DataError
from count_builders import simulate_counts
from heritage_core.evaluation.resample import bootstrap_ci, mean_iou


def unit(seed: int, key: str, counts) -> BootUnit:
    return BootUnit(seed=seed, parts=((key, (counts.intersection, counts.union)),))


def test_one_seed_is_the_image_bootstrap() -> None:
    counts = simulate_counts(40, 6, seed=1)
    h = hierarchical_bootstrap([unit(0, "fold1/id_test", counts)], mean_iou, n_resamples=4000, seed=0)
    b = bootstrap_ci(counts, mean_iou, n_resamples=4000, seed=0)
    assert h.estimate == pytest.approx(b.estimate, abs=1e-12)
    assert h.low == pytest.approx(b.low, abs=0.01) and h.high == pytest.approx(b.high, abs=0.01)
    assert h.n_valid == 4000 and "does not include training randomness" in describe_hierarchical(1, 4000)


def test_seed_variation_widens_the_interval() -> None:
    # two seeds scored on the same test set: same labels, very different predictions
    good, bad = simulate_counts(40, 6, seed=1, accuracy=0.9), simulate_counts(40, 6, seed=1, accuracy=0.4)
    one = hierarchical_bootstrap([unit(0, "t", good)], mean_iou, n_resamples=2000)
    two = hierarchical_bootstrap([unit(0, "t", good), unit(1, "t", bad)], mean_iou, n_resamples=2000)
    both = (mean_iou(good.intersection.sum(0), good.union.sum(0)) + mean_iou(bad.intersection.sum(0), bad.union.sum(0))) / 2
    assert two.estimate == pytest.approx(float(both))
    assert (two.high - two.low) > 3 * (one.high - one.low)
    # resampling the seeds puts the interval's ends near the single-seed scores
    assert two.low < float(mean_iou(bad.intersection.sum(0), bad.union.sum(0))) + 0.02


def test_runs_on_one_test_set_share_its_image_resample() -> None:
    # two identical units on one key behave as one; on two keys they are resampled independently (narrower)
    counts = simulate_counts(30, 5, seed=2)
    shared = hierarchical_bootstrap([unit(0, "t", counts), unit(0, "t", counts)], mean_iou, n_resamples=3000)
    single = hierarchical_bootstrap([unit(0, "t", counts)], mean_iou, n_resamples=3000)
    apart = hierarchical_bootstrap([unit(0, "a", counts), unit(0, "b", counts)], mean_iou, n_resamples=3000)
    assert shared.standard_error == pytest.approx(single.standard_error, rel=0.1)
    assert apart.standard_error < 0.85 * shared.standard_error


def test_an_incomplete_grid_is_refused() -> None:
    counts = simulate_counts(10, 4)
    units = [unit(0, "f1", counts), unit(0, "f2", counts), unit(1, "f1", counts)]  # seed 1 lacks fold f2
    with pytest.raises(DataError, match="incomplete fold x seed grid"):
        hierarchical_bootstrap(units, mean_iou, n_resamples=10)
    with pytest.raises(DataError, match="no runs"):
        hierarchical_bootstrap([], mean_iou)


def test_sign_flip_exact_p_values() -> None:
    assert sign_flip_test([1.0, 1.0, 1.0, 1.0]) == pytest.approx(2 / 16)  # all + or all -
    assert sign_flip_test([3.0, 1.0]) == pytest.approx(0.5)  # means 2, 1, -1, -2
    assert sign_flip_test([1.0, -1.0]) == 1.0
    assert sign_flip_test([0.5]) == 1.0
    many = sign_flip_test(np.full(20, 0.1), n_permutations=2000, seed=0)
    assert many == pytest.approx(1 / 2001, abs=1e-9) or many < 0.01
    with pytest.raises(DataError, match="NaN"):
        sign_flip_test([0.1, float("nan")])
