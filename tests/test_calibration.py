"""A fast version of benchmarks/bench_calibration.py: under the null (one generator for the ID and the OOD test
set, so the true gap is 0) the common-class gap is unbiased and its interval covers 0; the all-class gap is not."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bench_calibration import calibrate, draw_counts
from heritage_core.evaluation.stats import common_classes, gap_ci


@pytest.fixture(scope="module")
def figures() -> dict:
    return calibrate(sizes=((55, 23), (60, 60)), single=(23,), draws=60, resamples=400, seed=3)


@pytest.mark.parametrize("size", ["55_23", "60_60"])
def test_common_class_gap_is_unbiased_and_covers_zero(figures: dict, size: str) -> None:
    common = figures["gap"][size]["common"]
    assert abs(common["mean_gap_points"]) <= 1.0
    assert common["coverage_of_0"] >= 0.9


def test_the_all_class_gap_is_what_the_common_set_fixes(figures: dict) -> None:
    # the unequal sizes bias the plain mIoU gap: more classes are predicted-but-absent in the small OOD set
    plain = figures["gap"]["55_23"]["all"]
    assert plain["mean_gap_points"] > 1.0 and plain["coverage_of_0"] < 0.9
    assert 0.0 <= figures["single"]["23"]["all"] <= 1.0


def test_common_set_is_fixed_across_resamples_and_counts_images_per_set() -> None:
    rng = np.random.default_rng(0)
    a, b = draw_counts(rng, 30), draw_counts(rng, 12)
    mask = common_classes(a, b)
    assert mask.tolist() == (((a.label > 0).sum(0) >= 2) & ((b.label > 0).sum(0) >= 2)).tolist()
    # passing the mask explicitly gives the same interval as "common"; "all" differs
    same = gap_ci(a, b, classes=mask, n_resamples=200, seed=1)
    common = gap_ci(a, b, classes="common", n_resamples=200, seed=1)
    assert (same.estimate, same.low, same.high) == (common.estimate, common.low, common.high)
    assert gap_ci(a, b, classes="all", n_resamples=200, seed=1).estimate != common.estimate
    with pytest.raises(Exception, match="classes"):
        gap_ci(a, b, classes="labelled")
