"""Benchmark: do the models learn? One LOContent fold, every variant of the ablation, on the CPU.

Runs notebooks 01-04 of the CPU profile (``parameters/cpu.yaml``: 418 synthetic images at 128 px, ResNet-10t
from random weights, the 5 variants at equal budget) on one fold, then records:

* the learning curves per head (validation mIoU per epoch of every variant, with the stage boundaries):
  ``benchmarks/results/learning_curves.png`` (and ``.pdf``);
* per variant, the final ID and OOD test scores of the fine head with their 95 % image-bootstrap intervals
  and the all-Clean floor on the same images (plain mIoU of each set, from the run's ``metrics.json``), the
  ID/OOD/gap mIoU over the fold's common class set (``results/headline.csv``), the Clean IoU and the binary
  damage IoU, and the wall time: ``benchmarks/results/bench_learning.json``.

The suite folder stays under ``benchmarks/results/learning/`` (its runs, executed notebooks and tables) for
inspection; rerunning resumes it. Budget: about 25 CPU-minutes with the defaults (at most 45).

Run: ``python -m benchmarks.bench_learning [--fold line_art] [--jobs 2] [--epochs-scale 0.6]``.
"""
from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmarks.bench_metrics import RESULTS
from heritage_core.suite import runner as suite
from heritage_core.suite.profiles import PROFILE_DIR, profile_from_dict
from heritage_core.runs import atomic_write_json, read_json

#: The suite's project root (its ``suites/learning`` folder holds the runs).
ROOT = RESULTS / "learning"
NAME = "learning"
PARTITIONS = ("id_test", "ood_test")


def _profile(fold: str, epochs_scale: float | None) -> Any:
    raw = yaml.safe_load((PROFILE_DIR / "cpu.yaml").read_text())
    raw["name"] = NAME
    raw["description"] = f"bench_learning: fold {fold} of the CPU profile"
    raw["splits"]["folds"] = [fold]
    if epochs_scale is not None:
        raw["train"]["epochs_scale"] = epochs_scale
    return profile_from_dict(raw, default_name=NAME)


def _finite(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _run_scores(run_dir: Path) -> dict[str, Any]:
    """Fine-head scores per test partition (plain mIoU of the set) with the floor, from ``eval/metrics.json``."""
    metrics = read_json(run_dir / "eval" / "metrics.json")["partitions"]
    out: dict[str, Any] = {}
    for part in PARTITIONS:
        fine = metrics[part]["heads"]["fine"]
        binary = metrics[part]["heads"].get("binary") or metrics[part]["heads"]["binary_from_fine"]
        iou = fine["classes"]["iou"]
        out[part] = {
            "n_images": fine["n_images"],
            "fine_miou": _finite(fine["miou"]), "fine_miou_ci": [_finite(v) for v in fine["miou_ci"]],
            "floor_miou": _finite(fine["floor"]["miou"]), "floor_miou_ci": [_finite(v) for v in fine["floor"]["miou_ci"]],
            "clears_floor": fine["floor"]["clears"],
            "clean_iou": _finite(iou[0]),
            "binary_damage_iou": _finite(binary["classes"]["iou"][1]),
        }
    return out


def _headline(suite_dir: Path) -> dict[str, dict[str, Any]]:
    """Fine ID/OOD/gap mIoU over the common class set, per variant and the floor, from ``headline.csv``."""
    frame = pd.read_csv(suite_dir / "results" / "headline.csv", dtype={"fold": str}).fillna({"fold": ""})
    frame = frame[(frame["head"] == "fine") & (frame["fold"] == "")]
    out: dict[str, dict[str, Any]] = {}
    for row in frame.itertuples():
        out.setdefault(row.variant, {})[row.partition] = {
            "mean": _finite(row.mean), "ci": [_finite(row.low), _finite(row.high)],
            "n_classes_common": _finite(getattr(row, "n_classes", float("nan")))}
    return out


def measure(fold: str, jobs: int, epochs_scale: float | None) -> dict[str, Any]:
    """Run (or resume) the suite and collect the figures of the module docstring."""
    from heritage_core.report.figures import training_curves_figure
    from heritage_core.report.style import paper_style

    profile = _profile(fold, epochs_scale)
    ROOT.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report = suite.run_suite(profile, root=ROOT, only=("01", "02", "03", "04"), resume=True, jobs=jobs,
                             notebooks_dir=Path(__file__).resolve().parents[1] / "notebooks")
    wall = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"bench_learning: the suite failed; see {ROOT / 'suites' / NAME}")
    suite_dir = ROOT / "suites" / NAME
    runs = {}
    histories = {}
    for variant in profile.grid.variants:
        run_dir = suite_dir / "runs" / fold / variant / profile.grid.encoders[0] / f"seed{profile.grid.seeds[0]}"
        info = read_json(run_dir / "run.json")
        histories[variant] = pd.read_csv(run_dir / "history.csv")
        runs[variant] = {"run_dir": str(run_dir.relative_to(ROOT)), "status": info["status"],
                         "epochs": int(len(histories[variant])),
                         "train_seconds": round(float(histories[variant]["seconds"].sum()), 1),
                         **_run_scores(run_dir)}
    with paper_style():
        fig = training_curves_figure(histories)
        for fmt in ("png", "pdf"):
            fig.savefig(RESULTS / f"learning_curves.{fmt}", dpi=200, bbox_inches="tight")
    return {"fold": fold, "profile": "parameters/cpu.yaml", "epochs_scale": profile.train.epochs_scale,
            "wall_seconds": round(wall, 1), "jobs": jobs, "runs": runs, "common_class_set": _headline(suite_dir),
            "figure": "benchmarks/results/learning_curves.png"}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary and write ``benchmarks/results/bench_learning.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", default="line_art", help="LOContent fold to hold out (default line_art)")
    ap.add_argument("--jobs", type=int, default=2, help="runs trained at once (default 2)")
    ap.add_argument("--epochs-scale", type=float, default=None, help="override cpu.yaml's train.epochs_scale")
    args = ap.parse_args(argv)
    result = measure(args.fold, args.jobs, args.epochs_scale)
    for variant, r in result["runs"].items():
        line = [f"{variant:<20}"]
        for part in PARTITIONS:
            s = r[part]
            low, high = s["fine_miou_ci"]
            line.append(f"{part} fine mIoU {100 * s['fine_miou']:.1f} [{100 * low:.1f}, {100 * high:.1f}] "
                        f"(floor {100 * s['floor_miou']:.1f}), Clean {s['clean_iou']:.2f}, dmg {s['binary_damage_iou']:.2f}")
        print(" | ".join(line))
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "bench_learning.json", result)
    print(f"wrote {RESULTS / 'bench_learning.json'} and {RESULTS / 'learning_curves.png'} ({result['wall_seconds']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
