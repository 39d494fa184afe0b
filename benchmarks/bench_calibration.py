"""Calibration of the DG gap and of mIoU intervals under the null: one generator for both test sets.

ID and OOD test sets are drawn from **one** simulated image population (:func:`draw_counts`: ARTeFACT-like
per-image class presence, long-tailed; a model with class-specific accuracy that also predicts classes an
image does not hold), so the true gap is 0. For (ID, OOD) sizes (55, 23) and (60, 60) it records, over many
draws, the mean gap and how often the 95 % interval of :func:`heritage_core.evaluation.stats.gap_ci` covers 0, with
``classes="common"`` (the suite's) and ``classes="all"`` (plain mIoU of each set); and the coverage of
single-set image-bootstrap mIoU intervals at 23 and 60 images, against the population mIoU over all classes
(``all``) and over the classes the set labels (``labelled``; the population value of that set's classes).

Run: ``python -m benchmarks.bench_calibration [--draws 400] [--resamples 1000]``; writes
``benchmarks/results/bench_calibration.json``. ``tests/test_calibration.py`` runs a small version.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.bench_metrics import RESULTS
from heritage_core.evaluation.metrics import SegCounts, counts_from_confusion
from heritage_core.runs import atomic_write_json
from heritage_core.evaluation.resample import bootstrap_ci, class_iou, mean_iou
from heritage_core.evaluation.stats import gap_ci

#: Per-image presence probability of the 15 damage classes (fine ids 1..15), long-tailed like ARTeFACT's
#: (Material loss and Peel most frequent; Dust, Hair and Burn marks rarest).
PRESENCE = np.array([0.45, 0.45, 0.05, 0.2, 0.03, 0.25, 0.12, 0.2, 0.2, 0.3, 0.1, 0.08, 0.06, 0.03, 0.06])
#: Per-class recall of the simulated model (Clean first).
RECALL = np.array([0.95, 0.6, 0.65, 0.1, 0.3, 0.05, 0.4, 0.35, 0.45, 0.3, 0.4, 0.5, 0.6, 0.2, 0.15, 0.5])
#: Share of an image's Clean pixels the model labels as some damage class (any class, present or not).
FALSE_ALARM = 0.01
PIXELS = 4096
N_CLASSES = 16


def draw_counts(rng: np.random.Generator, n_images: int, head: str = "fine") -> SegCounts:
    """Per-image counts of ``n_images`` images of the null population (module docstring)."""
    confusion = np.zeros((n_images, N_CLASSES, N_CLASSES), np.int64)
    for i in range(n_images):
        present = np.concatenate([[0], 1 + np.flatnonzero(rng.random(15) < PRESENCE)])
        share = rng.dirichlet(np.r_[4.0, np.ones(len(present) - 1)])  # Clean holds most of the image
        label_px = rng.multinomial(PIXELS, share)
        quality = rng.beta(8, 2) / 0.8  # per-image difficulty around 1
        for cls, px in zip(present, label_px):
            recall = min(0.99, RECALL[cls] * quality)
            wrong = np.full(N_CLASSES, 0.02)
            wrong[present] += 1.0
            wrong[0] += 2.0 if cls else 0.0
            wrong[cls] = 0.0
            if cls == 0:
                p = wrong / wrong.sum() * FALSE_ALARM
                p[0] = 1 - FALSE_ALARM
            else:
                p = (1 - recall) * wrong / wrong.sum()
                p[cls] = recall
            confusion[i, cls] = rng.multinomial(px, p / p.sum())
    return SegCounts(head, tuple(f"class_{c}" for c in range(N_CLASSES)), [f"img{i:05d}" for i in range(n_images)],
                     **counts_from_confusion(confusion), confusion=confusion.sum(0))


def population_iou(rng: np.random.Generator, n_images: int = 20_000) -> np.ndarray:
    """Per-class IoU of the population (ΣI / ΣU over a very large sample), (C,)."""
    c = draw_counts(rng, n_images)
    return class_iou(c.intersection.sum(0), c.union.sum(0))


def calibrate(sizes: Sequence[tuple[int, int]] = ((55, 23), (60, 60)), single: Sequence[int] = (23, 60), *,
              draws: int = 400, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The calibration figures (module docstring) as a JSON-ready dict; gaps in mIoU points."""
    rng = np.random.default_rng(seed)
    truth = population_iou(np.random.default_rng(seed + 1))
    out: dict[str, Any] = {"draws": draws, "resamples": resamples, "gap": {}, "single": {}}
    for n_id, n_ood in sizes:
        rows: dict[str, list[tuple[float, bool]]] = {"common": [], "all": []}
        for k in range(draws):
            a, b = draw_counts(rng, n_id), draw_counts(rng, n_ood)
            for classes in rows:
                r = gap_ci(a, b, classes=classes, n_resamples=resamples, seed=k)
                rows[classes].append((100 * float(r.estimate), bool(r.low <= 0 <= r.high)))
        out["gap"][f"{n_id}_{n_ood}"] = {
            classes: {"mean_gap_points": float(np.mean([g for g, _ in v])),
                      "coverage_of_0": float(np.mean([c for _, c in v]))} for classes, v in rows.items()}
    for n in single:
        hits = {"all": [], "labelled": []}
        for k in range(draws):
            c = draw_counts(rng, n)
            r = bootstrap_ci(c, mean_iou, n_resamples=resamples, seed=k)
            labelled = c.label.sum(0) > 0
            hits["all"].append(r.low <= float(np.mean(truth)) <= r.high)
            hits["labelled"].append(r.low <= float(np.mean(truth[labelled])) <= r.high)
        out["single"][str(n)] = {key: float(np.mean(v)) for key, v in hits.items()}
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the figures and write ``benchmarks/results/bench_calibration.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=400, help="simulated pairs of test sets per size (default 400)")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval (default 1000)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    result = calibrate(draws=args.draws, resamples=args.resamples)
    result["seconds"] = round(time.perf_counter() - start, 1)
    for size, by in result["gap"].items():
        for classes, v in by.items():
            print(f"gap {size:>6} classes={classes:<6}: mean {v['mean_gap_points']:+.2f} points, "
                  f"95% CI covers 0 in {100 * v['coverage_of_0']:.0f} % of draws")
    for n, v in result["single"].items():
        print(f"single set of {n:>3} images: mIoU interval covers the population mIoU over all classes in "
              f"{100 * v['all']:.0f} %, over its labelled classes in {100 * v['labelled']:.0f} %")
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "bench_calibration.json", result)
    return result


if __name__ == "__main__":
    main()
