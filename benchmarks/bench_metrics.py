"""Benchmark: :func:`heritage_core.evaluation.metrics.accumulate_counts` + :func:`reduce_counts` against torchmetrics.

Both score the same batch (default 32 images of 512 × 512 px, 16 classes, 10% ignored pixels); the reference
is ``torchmetrics.classification.MulticlassJaccardIndex(num_classes=16, average=None, ignore_index=255)``,
timed as ``update`` + ``compute`` on a fresh metric, with and without its argument validation.

Run: ``python -m benchmarks.bench_metrics [--device cuda]``; writes ``benchmarks/results/bench_metrics.json``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from heritage_core.evaluation.metrics import accumulate_counts, reduce_counts
from heritage_core.runs import atomic_write_json, package_versions

RESULTS = Path(__file__).resolve().parent / "results"


def _batch(n: int, side_px: int, num_classes: int, device: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels (uint8, 10% = 255) and predictions (int64, ~70% correct) like a real evaluation batch."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, num_classes, (n, side_px, side_px), generator=g, dtype=torch.uint8)
    label[torch.rand(label.shape, generator=g) < 0.1] = 255
    pred = label.long().clone()
    flip = torch.rand(label.shape, generator=g) < 0.3
    pred[flip] = torch.randint(0, num_classes, (int(flip.sum()),), generator=g)
    pred[label == 255] = torch.randint(0, num_classes, (int((label == 255).sum()),), generator=g)
    return pred.to(device), label.to(device)


def _time(fn: Callable[[], Any], repeats: int, device: str) -> float:
    """Median wall time of ``fn`` in seconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary and write the JSON record.

    Returns:
        The record written to ``benchmarks/results/bench_metrics.json``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--side", type=int, default=512, help="image side in px (default: 512)")
    parser.add_argument("--classes", type=int, default=16, help="number of classes (default: 16)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats; the median is reported (default: 7)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    args = parser.parse_args(argv)
    from torchmetrics.classification import MulticlassJaccardIndex

    pred, label = _batch(args.images, args.side, args.classes, args.device, seed=0)

    def ours() -> np.ndarray:
        return reduce_counts(accumulate_counts(pred, label, args.classes)).iou

    def reference(validate: bool) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            metric = MulticlassJaccardIndex(num_classes=args.classes, average=None, ignore_index=255,
                                            validate_args=validate).to(args.device)
            metric.update(pred, label)
            return metric.compute().double().cpu().numpy()
        return run

    ours_s = _time(ours, args.repeats, args.device)
    tm_s = _time(reference(True), args.repeats, args.device)
    tm_fast_s = _time(reference(False), args.repeats, args.device)
    record = {
        "benchmark": "bench_metrics",
        "what": "per-class IoU of one batch: accumulate_counts + reduce_counts vs torchmetrics update + compute",
        "images": args.images, "side_px": args.side, "classes": args.classes, "repeats": args.repeats,
        "device": args.device, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "ours_s": ours_s,
        "torchmetrics_s": tm_s,
        "torchmetrics_no_validation_s": tm_fast_s,
        "ratio_ours_over_torchmetrics": ours_s / tm_s,
        "ratio_ours_over_torchmetrics_no_validation": ours_s / tm_fast_s,
        "max_abs_iou_difference": float(np.nanmax(np.abs(ours() - reference(False)()))),
        "versions": {**package_versions(("torch", "torchmetrics", "numpy")), "python": platform.python_version()},
    }
    atomic_write_json(RESULTS / "bench_metrics.json", record)
    print(f"ours {ours_s * 1e3:.1f} ms, torchmetrics {tm_s * 1e3:.1f} ms ({tm_fast_s * 1e3:.1f} ms without "
          f"validation): ratio {record['ratio_ours_over_torchmetrics']:.3f} "
          f"({record['ratio_ours_over_torchmetrics_no_validation']:.3f}); "
          f"max |ΔIoU| {record['max_abs_iou_difference']:.2e}")
    return record


if __name__ == "__main__":
    main()
