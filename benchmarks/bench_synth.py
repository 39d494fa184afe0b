"""Benchmark: speed and fidelity of the embedded synthetic dataset (:mod:`heritage_core.data.synth`).

Two measurements:

* **Throughput** of ``write_synthetic_dataset`` at 512 px (the default dataset's size), in items per
  second of wall time and of process CPU time (the generator is single-threaded, so CPU time is the
  one-core figure even on a busy machine), split into rendering and encoding + parquet writing.
* **Fidelity** of the class distribution: the pixel share of every class over ``--share-n`` items,
  next to ARTeFACT's published shares (``artefact_facts.yaml``), with Spearman's rank correlation of the
  15 damage classes, and the share of items with a Background (255) region.

Run: ``python -m benchmarks.bench_synth`` (prefix ``OPENBLAS_NUM_THREADS=1`` for a strict one-core
figure); writes ``benchmarks/results/synth.json``.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from heritage_core.data import synth
from heritage_core.runs import atomic_write_json, package_versions
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy

RESULTS = Path(__file__).resolve().parent / "results"
FACTS = Path(__file__).resolve().parents[2] / "shared" / "artefact_facts.yaml"


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 (ties broken by order; the published counts have none)."""
    ranks = np.empty(values.size)
    ranks[np.argsort(values, kind="stable")] = np.arange(values.size)
    return ranks


def _throughput(n: int, max_side_px: int) -> dict[str, Any]:
    items: list[synth.SynthItem] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        items.append(synth.render_item(i, seed=0, max_side_px=max_side_px))
    render_wall, render_cpu = time.perf_counter() - wall, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        synth.write_synthetic_dataset(tmp, n=n, seed=0, max_side_px=max_side_px)
        total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(p.stat().st_size for p in (Path(tmp) / "data").iterdir())
    return {
        "n": n, "max_side_px": max_side_px,
        "items_per_s_wall": n / total_wall, "items_per_s_cpu": n / total_cpu,
        "render_ms_per_item_cpu": 1e3 * render_cpu / n, "render_ms_per_item_wall": 1e3 * render_wall / n,
        "encode_and_write_ms_per_item_cpu": 1e3 * max(0.0, total_cpu - render_cpu) / n,
        "bytes_per_item": size / n,
    }


def _fidelity(n: int, max_side_px: int) -> dict[str, Any]:
    counts, present = np.zeros(256, np.int64), np.zeros(256, np.int64)
    for i in range(n):
        item_counts = np.bincount(synth.render_item(i, seed=0, max_side_px=max_side_px).annotation.ravel(),
                                  minlength=256)
        counts += item_counts
        present += item_counts > 0
    names = default_taxonomy().fine_names
    labelled = counts[: len(names)].sum() + counts[IGNORE_INDEX]
    ours = {names[k]: counts[k] / labelled for k in range(len(names))} | {"Background": counts[IGNORE_INDEX] / labelled}
    record: dict[str, Any] = {
        "n": n, "max_side_px": max_side_px, "pixel_share": ours,
        "items_with_class": {names[k]: int(present[k]) for k in range(1, len(names))},
        "items_with_background": int(present[IGNORE_INDEX]) / n,
    }
    if FACTS.is_file():
        facts = yaml.safe_load(FACTS.read_text())["classes"]
        total = sum(v[2] for v in facts.values())
        published = {v[0]: v[2] / total for v in facts.values()}
        damage = [names[k] for k in range(1, len(names))]
        a = _ranks(np.array([ours[c] for c in damage]))
        b = _ranks(np.array([published[c] for c in damage]))
        record["published_pixel_share"] = published
        record["spearman_damage_classes"] = float(np.corrcoef(a, b)[0, 1])
    return record


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary and write the JSON record.

    Returns:
        The record written to ``benchmarks/results/synth.json``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="items timed (default: 100)")
    parser.add_argument("--max-side", type=int, default=512, help="long side of timed items in px (default: 512)")
    parser.add_argument("--share-n", type=int, default=418, help="items for the class shares (default: 418)")
    parser.add_argument("--share-side", type=int, default=256, help="long side for the class shares (default: 256)")
    args = parser.parse_args(argv)
    record: dict[str, Any] = {
        "benchmark": "synth",
        "what": "heritage_core.data.synth: items/s of write_synthetic_dataset (one process) and class pixel "
                "shares against ARTeFACT's published ones",
        "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "versions": {**package_versions(("numpy", "pillow", "pyarrow")), "python": platform.python_version()},
        "throughput": _throughput(args.n, args.max_side),
        "fidelity": _fidelity(args.share_n, args.share_side),
    }
    t, f = record["throughput"], record["fidelity"]
    print(f"write_synthetic_dataset at {t['max_side_px']} px: {t['items_per_s_cpu']:.1f} items/s of CPU time, "
          f"{t['items_per_s_wall']:.1f} items/s wall (load {record['load_average_1min']:.1f}); render "
          f"{t['render_ms_per_item_cpu']:.1f} ms + encode/write {t['encode_and_write_ms_per_item_cpu']:.1f} ms per "
          f"item; {t['bytes_per_item'] / 1024:.0f} KiB per item")
    published = f.get("published_pixel_share", {})
    for name, share in f["pixel_share"].items():
        print(f"  {name:14s} {100 * share:7.3f} %   ARTeFACT {100 * published.get(name, float('nan')):7.3f} %")
    if "spearman_damage_classes" in f:
        print(f"  Spearman rank correlation of the 15 damage shares: {f['spearman_damage_classes']:.2f}")
    print(f"  items with a Background region: {100 * f['items_with_background']:.1f} %")
    atomic_write_json(RESULTS / "synth.json", record)
    return record


if __name__ == "__main__":
    main()
