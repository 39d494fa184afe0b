"""Benchmark: :func:`heritage_core.evaluation.resample.bootstrap_ci` against ``scipy.stats.bootstrap`` on mIoU.

The statistic is mIoU = mean over classes of ΣI / ΣU over resampled images, for 418 images × 16 classes
(ARTeFACT's size, counts from :func:`simulate_counts`), 10,000 resamples, percentile and BCa. scipy runs
its fastest path: ``paired=True`` on the per-image (I, U) rows, ``vectorized=True``, ``batch=1000`` (memory),
and the same seed, so both draw the same resamples and the intervals should agree to rounding.

Run: ``python -m benchmarks.bench_stats`` (prefix ``OPENBLAS_NUM_THREADS=1`` for a one-core figure);
writes ``benchmarks/results/bench_stats.json``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from benchmarks.bench_metrics import RESULTS
from heritage_core.runs import atomic_write_json, package_versions
from heritage_core.evaluation.resample import bootstrap_ci, mean_iou

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared count simulator
from count_builders import simulate_counts  # noqa: E402


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``fn`` in seconds over ``repeats`` calls, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary and write the JSON record.

    Returns:
        The record written to ``benchmarks/results/bench_stats.json``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=418, help="images (default: 418)")
    parser.add_argument("--classes", type=int, default=16, help="classes (default: 16)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default: 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is reported (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="resampling seed of both (default: 0)")
    args = parser.parse_args(argv)
    counts = simulate_counts(args.images, args.classes, seed=0)
    inter, union = counts.intersection.astype(np.float64), counts.union.astype(np.float64)

    def scipy_statistic(i: np.ndarray, u: np.ndarray, axis: int = -1) -> np.ndarray:
        # Samples arrive with images on `axis`; move classes last for mean_iou.
        return mean_iou(np.moveaxis(i.sum(axis), 0, -1), np.moveaxis(u.sum(axis), 0, -1))

    record: dict[str, Any] = {
        "benchmark": "bench_stats",
        "what": "95% CI of mIoU (ΣI/ΣU over resampled images): bootstrap_ci vs scipy.stats.bootstrap "
                "(paired=True, vectorized=True, batch=1000), same seed",
        "images": args.images, "classes": args.classes, "n_resamples": args.resamples, "seed": args.seed,
        "repeats": args.repeats, "cpu_count": os.cpu_count(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "versions": {**package_versions(("numpy", "scipy")), "python": platform.python_version()},
    }
    summary = []
    for method in ("percentile", "bca"):
        ours_s, ours = _time(lambda: bootstrap_ci(counts, n_resamples=args.resamples, method=method, seed=args.seed),
                             args.repeats)
        scipy_s, theirs = _time(lambda: scipy_stats.bootstrap(
            (inter.T, union.T), scipy_statistic, paired=True, vectorized=True, axis=-1, batch=1000,
            n_resamples=args.resamples, method="BCa" if method == "bca" else "percentile",
            rng=np.random.default_rng(args.seed)), args.repeats)
        low, high = theirs.confidence_interval
        record[method] = {
            "ours_s": ours_s, "scipy_s": scipy_s, "ratio_ours_over_scipy": ours_s / scipy_s,
            "ours_ci": [ours.low, ours.high], "scipy_ci": [float(low), float(high)],
            "max_abs_endpoint_difference": max(abs(ours.low - low), abs(ours.high - high)),
            "estimate": ours.estimate,
        }
        summary.append(f"{method}: ours {ours_s:.3f} s, scipy {scipy_s:.3f} s, ratio {ours_s / scipy_s:.3f}, "
                       f"max |Δ endpoint| {record[method]['max_abs_endpoint_difference']:.1e}")
    atomic_write_json(RESULTS / "bench_stats.json", record)
    print("\n".join(summary))
    return record


if __name__ == "__main__":
    main()
