"""Benchmark: wall time of a whole suite (default: the demo) and papermill's cost per notebook.

Two measurements, on this machine:

* **Papermill overhead**: an empty parameterised notebook executed ``--repeats`` times, as the suite executes
  every notebook (kernel ``python3``, ``shutdown_kernel="immediate"``): seconds from the ``execute_notebook``
  call to the first cell's start (kernel start-up) and in all; plus the same with nbclient's default graceful
  shutdown, the cost the suite avoids.
* **The suite**: ``heritage suite run PROFILE --jobs J`` in a fresh project root: total wall time; per step
  its duration, kernel start-up and the duration of its first code cell after the parameters (the cell that
  imports heritage_core, torch and timm and validates the parameters); a summary per notebook.
* **The paper**: then ``make paper`` on the suite's generated tables and figures (latexmk), timed when TeX is
  installed; ``make_demo_wall_s`` is the suite and the PDF together, what ``make demo`` takes with its venv made.

CPU count, load average and the CPU seconds of all child processes (task processes and kernels) are recorded:
on a shared machine the wall times include waiting for the CPU, and CPU seconds / min(jobs, cores) estimates the
wall time on an idle machine.

Run: ``python -m benchmarks.bench_suite [--profile demo] [--jobs 2]``; writes ``benchmarks/results/suite.json``.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat

from heritage_core.suite import launchers
from heritage_core.suite import runner as suite
from heritage_core.suite.plan import NOTEBOOKS, plan_suite
from heritage_core.suite.profiles import load_profile
from heritage_core.runs import atomic_write_json, package_versions, read_json

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def _empty_notebook(path: Path) -> Path:
    params = nbformat.v4.new_code_cell("x = 1  # a parameter")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [params, nbformat.v4.new_code_cell("y = x + 1")]
    nbformat.write(nb, str(path))
    return path


def _papermill_overhead(repeats: int) -> dict[str, Any]:
    import papermill

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = _empty_notebook(Path(tmp) / "empty.ipynb")
        for shutdown in ("immediate", "graceful"):
            starts, totals = [], []
            for _ in range(repeats):
                called, t0 = datetime.now().astimezone(), time.perf_counter()
                papermill.execute_notebook(str(source), str(Path(tmp) / "out.ipynb"), parameters={"x": 2},
                                           kernel_name="python3", progress_bar=False, shutdown_kernel=shutdown)
                totals.append(time.perf_counter() - t0)
                starts.append(launchers._kernel_start_s(Path(tmp) / "out.ipynb", called))
            out[shutdown] = {"kernel_start_s": [round(s, 3) for s in starts], "total_s": [round(t, 3) for t in totals],
                             "kernel_start_median_s": round(statistics.median(starts), 3),
                             "total_median_s": round(statistics.median(totals), 3)}
    return out


def _first_cell_s(executed: Path) -> float | None:
    """Duration of the first code cell after the parameters (imports + validation), s."""
    nb = nbformat.read(str(executed), as_version=4)
    seen_params = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            seen_params = True
            continue
        if seen_params:
            return cell.metadata.get("papermill", {}).get("duration")
    return None


def _children_cpu_s() -> float:
    """User + system CPU seconds of every finished child process (task processes and their kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _suite_run(profile_name: str, jobs: int, root: Path) -> dict[str, Any]:
    profile = load_profile(profile_name)
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu_s()
    t0 = time.perf_counter()
    report = suite.run_suite(profile, root=root, jobs=jobs, progress=True)
    wall = time.perf_counter() - t0
    cpu = _children_cpu_s() - cpu_before
    plan = plan_suite(profile, root=root)
    steps = []
    for step in plan.steps:
        if not plan.record_path(step).is_file():  # skipped: a step it depends on failed
            steps.append({"step": step.key, "notebook": step.notebook, "status": "skipped", "duration_s": 0.0,
                          "kernel_start_s": 0.0, "first_cell_s": None})
            continue
        record = read_json(plan.record_path(step))
        steps.append({"step": step.key, "notebook": step.notebook, "status": record["status"],
                      "duration_s": record["duration_s"], "kernel_start_s": record["kernel_start_s"],
                      "first_cell_s": _first_cell_s(plan.output_path(step))})
    per_notebook: dict[str, Any] = {}
    for notebook in NOTEBOOKS:
        rows = [s for s in steps if s["notebook"] == notebook]
        if rows:
            durations = [r["duration_s"] for r in rows]
            per_notebook[notebook] = {
                "n": len(rows), "mean_s": round(statistics.mean(durations), 2),
                "median_s": round(statistics.median(durations), 2), "max_s": round(max(durations), 2),
                "sum_s": round(sum(durations), 1),
                "kernel_start_mean_s": round(statistics.mean(r["kernel_start_s"] for r in rows), 2),
                "first_cell_mean_s": round(statistics.mean(r["first_cell_s"] or 0.0 for r in rows), 2),
            }
    paper = _paper_build(profile.name, root) if report.ok else {"built": False, "why": "the suite failed"}
    return {"profile": profile_name, "jobs": jobs, "ok": report.ok, "wall_s": round(wall, 1), "paper": paper,
            "make_demo_wall_s": round(wall + paper.get("wall_s", 0.0), 1),
            "cpu_s": round(cpu, 1), "idle_machine_wall_estimate_s": round(cpu / min(jobs, os.cpu_count() or 1), 1),
            "steps_executed": len(steps), "sum_of_step_durations_s": round(sum(s["duration_s"] for s in steps), 1),
            "load_average_1min_before": load_before, "load_average_1min_after": os.getloadavg()[0],
            "per_notebook": per_notebook, "steps": steps, "table": report.table()}


def _paper_build(suite_name: str, root: Path) -> dict[str, Any]:
    """``make paper SUITE=<suite>`` in ``root``: the repository's ``paper/main.tex`` and bibliography beside the
    suite's ``paper/generated/<suite>/``, built with latexmk; timed. Skipped (and said so) without latexmk."""
    from heritage_core.report.build import build_paper

    if shutil.which("latexmk") is None:
        return {"built": False, "why": "latexmk is not installed (make demo then skips the PDF too)"}
    paper = root / "paper"
    for source in ("main.tex", "references.bib"):
        shutil.copyfile(REPO / "paper" / source, paper / source)
    t0 = time.perf_counter()
    pdf = build_paper(suite_name, paper, install=False)
    return {"built": True, "wall_s": round(time.perf_counter() - t0, 1), "pdf": str(pdf)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary and write the JSON record.

    Returns:
        The record written to ``benchmarks/results/suite.json``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="demo", help="profile to run (default: demo)")
    parser.add_argument("--jobs", type=int, default=2, help="steps at once, as `make demo` (default: 2)")
    parser.add_argument("--repeats", type=int, default=5, help="executions of the empty notebook (default: 5)")
    parser.add_argument("--root", help="project root for the suite (default: a fresh temporary folder)")
    args = parser.parse_args(argv)
    record: dict[str, Any] = {
        "benchmark": "suite",
        "what": "wall time of `heritage suite run PROFILE` and papermill's overhead per notebook",
        "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
        "versions": {**package_versions(("papermill", "torch", "timm")), "python": platform.python_version()},
        "papermill": _papermill_overhead(args.repeats),
    }
    if args.root:
        record["suite"] = _suite_run(args.profile, args.jobs, Path(args.root))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
            record["suite"] = _suite_run(args.profile, args.jobs, Path(tmp))
    pm, s = record["papermill"], record["suite"]
    print(f"papermill, empty notebook: kernel start {pm['immediate']['kernel_start_median_s']:.2f} s, total "
          f"{pm['immediate']['total_median_s']:.2f} s (graceful shutdown: {pm['graceful']['total_median_s']:.2f} s)")
    print(f"suite '{s['profile']}' with --jobs {s['jobs']}: {s['wall_s']:.0f} s wall for {s['steps_executed']} "
          f"notebooks ({s['sum_of_step_durations_s']:.0f} s of notebook time; load "
          f"{s['load_average_1min_before']:.1f} -> {s['load_average_1min_after']:.1f} on {record['cpu_count']} cores); "
          f"{s['cpu_s']:.0f} CPU s, so about {s['idle_machine_wall_estimate_s']:.0f} s on an idle machine")
    if s["paper"]["built"]:
        print(f"paper PDF: {s['paper']['wall_s']:.0f} s; make demo in all: {s['make_demo_wall_s']:.0f} s wall")
    else:
        print(f"paper PDF: not built ({s['paper']['why']})")
    for notebook, row in s["per_notebook"].items():
        print(f"  {notebook:20s} n={row['n']:3d}  mean {row['mean_s']:6.1f} s  max {row['max_s']:6.1f} s  kernel start "
              f"{row['kernel_start_mean_s']:.2f} s  imports+validation cell {row['first_cell_mean_s']:.1f} s")
    atomic_write_json(RESULTS / "suite.json", record)
    return record


if __name__ == "__main__":
    main()
