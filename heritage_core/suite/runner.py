"""The suite runner (``heritage suite run|submit|status``): one profile -> every notebook, locally or on SLURM.

``python -m heritage_core.suite`` is the same command line; SLURM jobs call its ``task`` subcommand. The
plan and the steps' state are in :mod:`heritage_core.suite.plan`, execution and launchers in
:mod:`heritage_core.suite.launchers`, the profiles in :mod:`heritage_core.suite.profiles`.

* :func:`run_suite`: plan a profile, write the suite folder, execute the steps here (``--jobs`` at once).
* :func:`submit_suite`: the same as SLURM jobs: splits, a job array over the grid, the report job.
* :func:`run_task`: one array task (a grid cell's 02 and 03) or named steps of a prepared suite.
* :func:`suite_status`: per-step state from the records and run directories, with the SLURM queue.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heritage_core.errors import ConfigError, HeritageError, SuiteError
from heritage_core.runs import quiet_environment
from heritage_core.suite import slurm
from heritage_core.suite.launchers import REGISTRY, LaunchOptions, SuiteReport, job_kind, run_steps
from heritage_core.suite.plan import (
    NOTEBOOKS,
    check_inputs,
    check_notebooks,
    load_plan,
    plan_suite,
    prepare_suite,
    read_record,
    select_steps,
    step_state,
)
from heritage_core.suite.profiles import Profile, load_profile

__all__ = [
    "run_suite",
    "submit_suite",
    "run_task",
    "suite_status",
    "format_status",
    "add_suite_commands",
    "build_parser",
    "run_command",
    "main",
]

_TRAIN = NOTEBOOKS[1]


def _launch(profile: str | Path | Profile, launcher: str, options: LaunchOptions, *, name: str | None,
            only: Sequence[str], root: str | Path, notebooks_dir: str | Path | None) -> SuiteReport:
    if launcher not in REGISTRY:
        raise ConfigError(f"launcher {launcher!r} is unknown; choose one of {list(REGISTRY)}")
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    plan = plan_suite(loaded, name=name, root=root, notebooks_dir=notebooks_dir)
    check_notebooks(plan)
    steps = select_steps(plan, only)
    if launcher != "dry_run" and not options.dry_run:
        check_inputs(plan)
        prepare_suite(plan)
    return REGISTRY[launcher](plan, steps, options)


def run_suite(
    profile: str | Path | Profile,
    *,
    name: str | None = None,
    only: Sequence[str] = (),
    resume: bool = False,
    jobs: int = 1,
    root: str | Path = ".",
    launcher: str = "local",
    log_output: bool = False,
    progress: bool = True,
    notebooks_dir: str | Path | None = None,
) -> SuiteReport:
    """Run a suite: plan ``profile``, write the suite folder and execute the steps (``heritage suite run``).

    Args:
        profile: a profile file (or shipped name such as ``demo``), or a :class:`Profile`.
        name: suite name; None for the profile's.
        only: restrict to these steps (see :func:`select_steps`).
        resume: skip finished steps, rerun failed and incomplete ones.
        jobs: steps executed at once (see :func:`run_steps`).
        root: project root.
        launcher: ``local`` or ``dry_run`` (see :data:`REGISTRY`).
        log_output: echo notebook output.
        progress: tqdm bar over the steps.
        notebooks_dir: folder of the notebooks; None for the project's.

    Returns:
        The :class:`SuiteReport` (``report.ok`` is False when a step failed or was skipped).

    Raises:
        ConfigError: a bad profile.
        SuiteError: a missing notebook or parameter, or a suite folder made from another profile.
    """
    options = LaunchOptions(resume=resume, jobs=jobs, log_output=log_output, progress=progress)
    return _launch(profile, launcher, options, name=name, only=only, root=root, notebooks_dir=notebooks_dir)


def submit_suite(
    profile: str | Path | Profile,
    *,
    backend: str = "slurm",
    name: str | None = None,
    partition: str | None = None,
    gpus_per_task: int | None = None,
    time_limit: str | None = None,
    dry_run: bool = False,
    resume: bool = False,
    root: str | Path = ".",
    notebooks_dir: str | Path | None = None,
) -> SuiteReport:
    """Submit a suite to a cluster (``heritage suite submit``): splits job, run array, report job.

    Args:
        profile: a profile file or name, or a :class:`Profile`.
        backend: ``slurm`` (the only cluster launcher so far).
        name: suite name; None for the profile's.
        partition: SLURM partition (default: ``resources.partition``).
        gpus_per_task: GPUs per array task (default: ``resources.gpus_per_task``; 0: CPU).
        time_limit: time limit of an array task, ``[D-]HH:MM:SS`` (default: ``resources.time``).
        dry_run: print the scripts and the sbatch commands; write and submit nothing.
        resume: leave out finished steps (a finished 01, finished grid cells).
        root: project root (on the cluster's shared file system).
        notebooks_dir: folder of the notebooks; None for the project's.

    Returns:
        The :class:`SuiteReport` with ``jobs`` (kind -> job id).

    Raises:
        ConfigError: a bad profile or option.
        SuiteError: sbatch missing or refusing a job.
    """
    if backend != "slurm":
        raise ConfigError(f"--backend {backend!r} is unknown; use 'slurm' (or 'heritage suite run' to run locally)")
    if gpus_per_task is not None and gpus_per_task < 0:
        raise ConfigError(f"--gpus-per-task is {gpus_per_task}; give 0 (CPU) or more")
    if time_limit is not None:
        try:
            dataclasses.replace(load_profile(profile).resources if not isinstance(profile, Profile)
                                else profile.resources, time=time_limit)
        except ConfigError as exc:
            raise ConfigError(f"--time: {exc}") from None
    options = LaunchOptions(resume=resume, partition=partition, gpus_per_task=gpus_per_task, time=time_limit,
                            dry_run=dry_run)
    return _launch(profile, "slurm", options, name=name, only=(), root=root, notebooks_dir=notebooks_dir)


def run_task(suite_dir: str | Path, *, index: int | None = None, keys: Sequence[str] = (), resume: bool = True,
             log_output: bool = True) -> SuiteReport:
    """Run one SLURM array task (the grid cell ``index``: 02 then 03) or the steps ``keys`` of a prepared suite.

    By default finished steps are skipped, so a requeued task continues where it stopped.

    Args:
        suite_dir: the suite folder (with ``plan.json``).
        index: grid index (``$SLURM_ARRAY_TASK_ID``).
        keys: step keys, used when ``index`` is None.
        resume: skip finished steps (False: execute them again).
        log_output: echo notebook output (to the job log).

    Returns:
        The :class:`SuiteReport`.

    Raises:
        SuiteError: neither or both of ``index`` and ``keys``, or an index outside the grid.
    """
    plan = load_plan(suite_dir)
    if (index is None) == (not keys):
        raise SuiteError("give exactly one of --index and --step")
    if index is not None:
        steps = [s for s in plan.steps if s.cell == index]
        if not steps:
            raise SuiteError(f"array index {index} is outside the grid of suite '{plan.name}' "
                             f"(0..{len(plan.profile.cells()) - 1})")
    else:
        steps = [plan.step(k) for k in keys]
    return run_steps(plan, steps, resume=resume, log_output=log_output, progress=False)


def suite_status(suite: str | Path, *, root: str | Path = ".") -> list[dict[str, Any]]:
    """Per-step state of a suite from its step records and run directories, with SLURM states when queued.

    Args:
        suite: suite name (``<root>/suites/<name>``) or suite folder.
        root: project root.

    Returns:
        One dict per step: step, state, duration_s, run_status (02: ``run.json`` status), slurm (state and
        reason in the queue, "" when not queued), error.

    Raises:
        SuiteError: no such suite.
    """
    folder = Path(suite) if (Path(suite) / "plan.json").is_file() else Path(root) / "suites" / str(suite)
    plan = load_plan(folder)
    submitted = read_record(plan.suite_dir / "slurm" / "submit.json") or {}
    jobs = submitted.get("jobs", {})
    queue = slurm.queue_states(list(jobs.values()))
    rows = []
    for step in plan.steps:
        record = read_record(plan.record_path(step)) or {}
        run_status = ""
        if step.notebook == _TRAIN:
            info = read_record(plan.root / step.parameters["run_dir"] / "run.json") or {}
            run_status = str(info.get("status", ""))
        kind = job_kind(step)
        job = jobs.get(kind, "")
        if kind == "train_eval" and job:
            job = f"{job}_{step.cell}"
        state, reason = queue.get(job, queue.get(job.split("_")[0], ("", ""))) if job else ("", "")
        rows.append({"step": step.key, "state": step_state(plan, step), "duration_s": record.get("duration_s"),
                     "run_status": run_status, "slurm": f"{state} ({reason})" if state else "",
                     "error": record.get("error") or ""})
    return rows


def format_status(rows: list[dict[str, Any]]) -> str:
    """:func:`suite_status` rows as a text table."""
    width = max([len(r["step"]) for r in rows] + [4])
    lines = [f"{'step':<{width}}  {'state':<10}  {'duration':>9}  {'run':<8}  slurm / error"]
    for r in rows:
        duration = f"{r['duration_s']:8.1f}s" if r["duration_s"] else f"{'-':>9}"
        tail = "  ".join(x for x in (r["slurm"], r["error"]) if x)
        lines.append(f"{r['step']:<{width}}  {r['state']:<10}  {duration}  {r['run_status']:<8}  {tail}".rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line
def _add_profile_arguments(p: argparse.ArgumentParser, *, root: str) -> None:
    """The profile, ``--name``, ``--root`` and ``--notebooks`` of ``run`` and ``submit``."""
    p.add_argument("profile", help="profile YAML file, or the name of a shipped one (demo, smoke, paper, film)")
    p.add_argument("--name", help="suite name (default: the profile's name)")
    p.add_argument("--root", default=".", help=root)
    p.add_argument("--notebooks", help="folder of the notebooks (default: the project's notebooks/)")


def add_suite_commands(parser: argparse.ArgumentParser) -> None:
    """Add the ``run``, ``submit``, ``status`` and ``task`` subcommands to ``parser`` (``heritage suite``).

    Each parsed namespace gets ``func`` = :func:`run_command`, as the ``heritage`` CLI expects.
    """
    sub = parser.add_subparsers(dest="suite_command", metavar="SUITE_COMMAND", required=True)

    p = sub.add_parser("run", help="execute every notebook of a profile here, in dependency order",
                       description="Expand PROFILE into steps (01 once, 02+03 per grid cell, 04, 05; 06 for a film "
                       "section) and execute them with papermill. Executed notebooks go to papermill_runs/NAME/, "
                       "artefacts to suites/NAME/. Exit status 1 when a step failed (its dependents are skipped, the "
                       "rest goes on).")
    _add_profile_arguments(p, root="project root (default: the current folder)")
    p.add_argument("--only", action="append", default=[], metavar="STEP",
                   help="run only these steps: a notebook (02_train_curriculum), its number (02) or a pattern over "
                   "step keys ('line_art/*'); repeatable")
    p.add_argument("--resume", action="store_true", help="skip finished steps; rerun failed, incomplete and outdated ones")
    p.add_argument("--jobs", "-j", type=int, default=1,
                   help="steps executed at once, each in its own process (default: 1; CPU threads are shared out)")
    p.add_argument("--dry-run", action="store_true", help="print the command of each step; execute nothing")
    p.add_argument("--log-output", action="store_true", help="echo the notebooks' output")

    p = sub.add_parser("submit", help="submit a profile as SLURM jobs: splits, a run array, the report",
                       description="Write sbatch scripts under suites/NAME/slurm/ and submit: 01 as one job, 02+03 as a "
                       "job array over the grid (afterok on 01; --requeue, SIGUSR1 120 s before the limit), 04+05 "
                       "as a final job (afterok on the array, cancelled if a task fails), 06 as its own job.")
    _add_profile_arguments(p, root="project root on the shared file system (default: the current folder)")
    p.add_argument("--backend", choices=["slurm"], default="slurm", help="cluster scheduler (default: slurm)")
    p.add_argument("--partition", help="SLURM partition (default: resources.partition)")
    p.add_argument("--gpus-per-task", type=int,
                   help="GPUs per array task; 0 runs on CPU without a GPU request (default: resources.gpus_per_task)")
    p.add_argument("--time", dest="time_limit", metavar="HH:MM:SS",
                   help="time limit of one array task (default: resources.time)")
    p.add_argument("--resume", action="store_true", help="submit only unfinished steps (grid cells)")
    p.add_argument("--dry-run", action="store_true", help="print the scripts and sbatch commands; submit nothing")

    p = sub.add_parser("status", help="per-step state of a suite (and its SLURM jobs)",
                       description="Show each step's state from its record and run directory, and the queue state of "
                       "its SLURM job when squeue is available.")
    p.add_argument("name", help="suite name or suite folder")
    p.add_argument("--root", default=".", help="project root (default: the current folder)")

    p = sub.add_parser("task", help="(used by SLURM jobs) run one grid cell or named steps of a prepared suite",
                       description="Run the steps of grid cell --index (02 then 03) or the steps named by --step of "
                       "the suite in --suite-dir, skipping finished ones unless --rerun.")
    p.add_argument("--suite-dir", required=True, help="suite folder with plan.json")
    p.add_argument("--index", type=int, help="grid index ($SLURM_ARRAY_TASK_ID): notebooks 02 and 03 of that cell")
    p.add_argument("--step", action="append", default=[], dest="steps", help="step key; repeatable")
    p.add_argument("--rerun", action="store_true", help="execute the steps even when they are finished")
    p.add_argument("--quiet", action="store_true", help="do not echo the notebooks' output")
    parser.set_defaults(func=run_command)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m heritage_core.suite`` (the same commands as ``heritage suite``)."""
    parser = argparse.ArgumentParser(prog="heritage suite", description="Run the paper suite of a profile: "
                                     "notebooks 01-06 with papermill, locally or as SLURM jobs.")
    add_suite_commands(parser)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Execute a parsed ``heritage suite`` command; print the summary table.

    Returns:
        The exit status: 0 every step finished (or was up to date), 1 a step failed or was skipped, 2 a heritage
        error (message on stderr).
    """
    try:
        if args.suite_command == "run":
            report = run_suite(args.profile, name=args.name, only=args.only, resume=args.resume, jobs=args.jobs,
                               root=args.root, launcher="dry_run" if args.dry_run else "local",
                               log_output=args.log_output, notebooks_dir=args.notebooks)
        elif args.suite_command == "submit":
            report = submit_suite(args.profile, backend=args.backend, name=args.name, partition=args.partition,
                                  gpus_per_task=args.gpus_per_task, time_limit=args.time_limit,
                                  dry_run=args.dry_run, resume=args.resume, root=args.root,
                                  notebooks_dir=args.notebooks)
        elif args.suite_command == "status":
            print(format_status(suite_status(args.name, root=args.root)))
            return 0
        else:
            report = run_task(args.suite_dir, index=args.index, keys=args.steps, resume=not args.rerun,
                              log_output=not args.quiet)
    except HeritageError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m heritage_core.suite``; returns the exit status (see :func:`run_command`).

    The runner's processes (this one and each step's task process) import papermill, whose nbformat imports
    jsonschema, which imports its optional ``rfc3987_syntax`` for the ``iri`` string formats; that module builds
    its grammars at import, 1.7-2.6 s a process (python-jsonschema/jsonschema#1428). nbformat checks no string
    format, so these processes do without it: about 30 CPU s over the demo's 19 steps.
    """
    sys.modules.setdefault("rfc3987_syntax", None)
    quiet_environment()
    return run_command(build_parser().parse_args(argv))

