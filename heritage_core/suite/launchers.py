"""Executing a suite's steps: papermill runs with step records, and the launchers.

:func:`execute_step` runs one notebook with papermill (kernel ``python3`` in the project root, autosave, the
offline environment) and writes the step's record; a failing notebook keeps its executed copy with papermill's
error banner and its record says ``failed``. :func:`run_steps` executes steps in dependency order, skips the
dependents of a failure and goes on with the rest; with ``jobs`` > 1 it runs ready steps at once in child
processes.

Launchers (:data:`REGISTRY`) are plain functions ``launcher(plan, steps, options) -> SuiteReport``, as in
DomainBed's ``command_launchers.py``: ``local`` executes the steps (:func:`run_steps`), ``dry_run`` prints the
command of each step, ``slurm`` writes sbatch scripts and submits them (see :mod:`heritage_core.suite.slurm`). Each
SLURM job, and each child of a parallel local run, runs ``python -m heritage_core.suite task --suite-dir DIR
(--index N | --step KEY)``, which calls :func:`run_steps` too.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from heritage_core.errors import ConfigError
from heritage_core.runs import atomic_write_json, atomic_write_text, utc_timestamp
from heritage_core.suite import slurm
from heritage_core.suite.plan import NOTEBOOKS, Step, SuitePlan, read_record, step_state
from heritage_core.train.preemption import requeue_slurm_job

__all__ = [
    "REGISTRY",
    "StepResult",
    "SuiteReport",
    "LaunchOptions",
    "execute_step",
    "dispatch_order",
    "run_steps",
    "task_command",
    "local",
    "dry_run",
    "slurm_launcher",
    "job_kind",
]

_TRAIN, _FILM = NOTEBOOKS[1], NOTEBOOKS[5]
#: Seconds between autosaves of an executing notebook (papermill's ``--autosave-cell-every``).
AUTOSAVE_CELL_EVERY_S = 30


# --------------------------------------------------------------------------- execution
@dataclass(frozen=True)
class StepResult:
    """What happened to one step in a launch.

    Attributes:
        key: step key.
        notebook: notebook stem.
        status: ``finished``, ``failed``, ``preempted``, ``skipped`` (a dependency failed or is not finished),
            ``up-to-date`` (finished before, resumed over), ``planned`` (dry run) or ``submitted`` (SLURM).
        duration_s: wall time of the execution, s (0 when not executed).
        kernel_start_s: seconds from the papermill call to the start of the first cell (kernel start-up), or None.
        note: error, reason for skipping, or job id.
    """

    key: str
    notebook: str
    status: str
    duration_s: float = 0.0
    kernel_start_s: float | None = None
    note: str = ""


@dataclass
class SuiteReport:
    """The outcome of a launch: one :class:`StepResult` per step, and SLURM job ids when submitted."""

    suite: str
    results: list[StepResult] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No step failed, was preempted or was skipped."""
        return all(r.status not in ("failed", "preempted", "skipped") for r in self.results)

    def table(self) -> str:
        """The summary table (step, status, duration, note) as text."""
        width = max([len(r.key) for r in self.results] + [4])
        lines = [f"{'step':<{width}}  {'status':<10}  {'duration':>9}  note"]
        for r in self.results:
            duration = f"{r.duration_s:8.1f}s" if r.duration_s else f"{'-':>9}"
            lines.append(f"{r.key:<{width}}  {r.status:<10}  {duration}  {r.note}".rstrip())
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        total = sum(r.duration_s for r in self.results)
        lines.append(f"suite '{self.suite}': " + ", ".join(f"{v} {k}" for k, v in counts.items())
                     + f"; {total:.1f} s executing")
        return "\n".join(lines)


@contextlib.contextmanager
def _kernel_environment() -> Iterator[None]:
    """Set :data:`heritage_core.suite.slurm.KERNEL_ENV` for the kernels started inside, then restore."""
    saved = {k: os.environ.get(k) for k in slurm.KERNEL_ENV}
    os.environ.update(slurm.KERNEL_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _kernel_pids() -> list[int]:
    """Process ids of the Jupyter kernels this process started (its children running ipykernel)."""
    me, pids = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and b"ipykernel" in cmdline:
            pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def _preemption_forwarding(step: Step) -> Iterator[None]:
    """Pass SIGUSR1 (SLURM's warning before the time limit) on while ``step`` runs.

    During training the signal goes to the kernel, whose trainer checkpoints and requeues the job; during any
    other step the job is requeued at once (that step restarts from its beginning, finished steps are kept).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: Any) -> None:
        if step.notebook == _TRAIN:
            for pid in _kernel_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)
        else:
            requeue_slurm_job()

    previous = signal.signal(signal.SIGUSR1, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def _kernel_start_s(output: Path, called: datetime) -> float | None:
    """Seconds from ``called`` to the first code cell's papermill start time in the executed notebook."""
    import nbformat

    try:
        nb = nbformat.read(str(output), as_version=4)
    except (OSError, ValueError):
        return None
    for cell in nb.cells:
        start = cell.get("metadata", {}).get("papermill", {}).get("start_time")
        if cell.cell_type == "code" and start:
            return (datetime.fromisoformat(start) - called).total_seconds()
    return None


def execute_step(
    plan: SuitePlan,
    step: Step,
    *,
    log_output: bool = False,
    autosave_cell_every: int = AUTOSAVE_CELL_EVERY_S,
) -> StepResult:
    """Execute the notebook of ``step`` with papermill and write its record.

    The kernel is ``python3`` (this interpreter's, see README), runs in the project root with
    :data:`heritage_core.suite.slurm.KERNEL_ENV` set, and the executed notebook is saved every
    ``autosave_cell_every`` s during long cells. The kernel is stopped at once after the last cell
    (nbclient's ``shutdown_kernel="immediate"``; a graceful shutdown costs about 3 s per notebook and every
    artefact is already written atomically by then). A failing notebook keeps its executed copy with papermill's
    error banner; the error is recorded and returned, not raised.

    Args:
        plan: the plan.
        step: the step.
        log_output: echo the notebook's output to this process's stdout/stderr.
        autosave_cell_every: seconds between autosaves of the executed notebook (0: never).

    Returns:
        The :class:`StepResult` (``finished``, ``failed`` or ``preempted``).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = plan.output_path(step)
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "step": step.key, "notebook": step.notebook, "params_hash": step.params_hash, "parameters": step.parameters,
        "status": "running", "started": utc_timestamp("microseconds"), "finished": None, "duration_s": None, "kernel_start_s": None,
        "error": None, "executed_notebook": str(output.relative_to(plan.root)), "host": socket.gethostname(),
        "pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
    }
    atomic_write_json(plan.record_path(step), record)
    called, t0 = datetime.now(timezone.utc), time.perf_counter()
    status, error = "finished", None
    try:
        with _kernel_environment(), _preemption_forwarding(step):
            papermill.execute_notebook(
                str(plan.notebooks_dir / f"{step.notebook}.ipynb"), str(output), parameters=step.parameters,
                kernel_name="python3", cwd=str(plan.root), log_output=log_output, progress_bar=False,
                autosave_cell_every=autosave_cell_every, shutdown_kernel="immediate",
            )
    except PapermillExecutionError as exc:
        status = "preempted" if exc.ename == "PreemptedError" else "failed"
        error = f"{exc.ename}: {exc.evalue} (cell [{exc.exec_count}]; see {record['executed_notebook']})"
    except Exception as exc:  # kernel death, unreadable notebook, ...: recorded, the suite goes on
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    duration = time.perf_counter() - t0
    kernel_start = _kernel_start_s(output, called)
    record.update(status=status, finished=utc_timestamp("microseconds"), duration_s=round(duration, 3),
                  kernel_start_s=None if kernel_start is None else round(kernel_start, 3), error=error)
    atomic_write_json(plan.record_path(step), record)
    return StepResult(step.key, step.notebook, status, duration, kernel_start, error or "")


def _decide(plan: SuitePlan, step: Step, selected: set[str], results: dict[str, StepResult],
            resume: bool) -> StepResult | str:
    """What to do with ``step`` now: a skipped or up-to-date :class:`StepResult`, ``"wait"`` or ``"run"``."""
    for dep in step.depends:
        if dep in results and results[dep].status in ("failed", "preempted", "skipped"):
            word = "skipped" if results[dep].status == "skipped" else "failed"
            return StepResult(step.key, step.notebook, "skipped", note=f"after {word} {dep}")
    if any(dep in selected and dep not in results for dep in step.depends):
        return "wait"
    for dep in step.depends:
        if dep not in selected and (state := step_state(plan, plan.step(dep))) != "finished":
            return StepResult(step.key, step.notebook, "skipped", note=f"needs {dep} ({state})")
    if resume and step_state(plan, step) == "finished":
        return StepResult(step.key, step.notebook, "up-to-date")
    return "run"


def _spawn(plan: SuitePlan, step: Step, jobs: int) -> subprocess.Popen[bytes]:
    """Run ``step`` in a child ``python -m heritage_core.suite task --step KEY --rerun`` (stderr to a log)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    log = plan.record_path(step).with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "heritage_core.suite", "task", "--suite-dir", str(plan.suite_dir),
           "--step", step.key, "--rerun", "--quiet"]
    with open(log, "wb") as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=plan.root)


def _spawned_result(plan: SuitePlan, step: Step, returncode: int) -> StepResult:
    record = read_record(plan.record_path(step)) or {}
    status = str(record.get("status"))
    if status not in ("finished", "failed", "preempted"):
        log = plan.record_path(step).with_suffix(".log")
        return StepResult(step.key, step.notebook, "failed",
                          note=f"task process exited with status {returncode} (see {log.relative_to(plan.root)})")
    return StepResult(step.key, step.notebook, status, float(record.get("duration_s") or 0.0),
                      record.get("kernel_start_s"), str(record.get("error") or ""))


def dispatch_order(steps: Sequence[Step]) -> list[Step]:
    """``steps`` by the number of steps among them that depend on each, directly or not (most first), then in order.

    The order in which parallel slots take ready steps: a step that more of the suite waits for goes first
    (list scheduling by descendants). In the suite's plan every 02_train_curriculum step (its 03_evaluate, 04 and
    05 after it) precedes every 03_evaluate step (04 and 05 after it).
    """
    dependents: dict[str, set[str]] = {s.key: set() for s in steps}
    for step in steps:
        for dep in step.depends:
            if dep in dependents:
                dependents[dep].add(step.key)
    descendants: dict[str, frozenset[str]] = {}

    def below(key: str) -> frozenset[str]:
        if key not in descendants:
            descendants[key] = frozenset(dependents[key]).union(*(below(k) for k in dependents[key]))
        return descendants[key]

    for step in steps:
        below(step.key)
    position = {s.key: i for i, s in enumerate(steps)}
    return sorted(steps, key=lambda s: (-len(descendants[s.key]), position[s.key]))


def run_steps(
    plan: SuitePlan,
    steps: Sequence[Step],
    *,
    resume: bool = False,
    jobs: int = 1,
    log_output: bool = False,
    progress: bool = True,
    autosave_cell_every: int = AUTOSAVE_CELL_EVERY_S,
) -> SuiteReport:
    """Execute ``steps`` in dependency order, skipping the dependents of failures (local launcher, SLURM tasks).

    A step whose dependency failed or was skipped in this call is skipped. A dependency outside ``steps``
    must already be finished (:func:`step_state`), otherwise the step is skipped too. With ``jobs`` > 1, up to
    ``jobs`` ready steps run at once, each in a child ``python -m heritage_core.suite task`` process whose
    kernels get ``OMP_NUM_THREADS`` = cores // jobs (unless set); their stderr goes to ``steps/<key>.log``.
    A free slot takes the ready step with the most steps after it (:func:`dispatch_order`): every training
    starts before any evaluation, so the short evaluations fill the slots the last trainings leave idle.

    Args:
        plan: the plan.
        steps: the steps to run, in execution order.
        resume: skip steps that are already finished.
        jobs: steps executed at once.
        log_output: echo notebook output (``jobs`` = 1 only).
        progress: show a tqdm bar over the steps.
        autosave_cell_every: see :func:`execute_step`.

    Returns:
        The :class:`SuiteReport`, rows in the order of ``steps``.

    Raises:
        ConfigError: ``jobs`` < 1.
    """
    from tqdm.auto import tqdm

    if jobs < 1:
        raise ConfigError(f"jobs is {jobs}; give 1 or more steps to run at once")
    selected = {s.key for s in steps}
    results: dict[str, StepResult] = {}
    waiting = dispatch_order(steps) if jobs > 1 else list(steps)
    running: dict[str, tuple[Step, subprocess.Popen[bytes]]] = {}
    bar = tqdm(total=len(steps), desc=f"suite {plan.name}", unit="step", disable=not progress, file=sys.stderr)
    try:
        while waiting or running:
            progressed = False
            for step in list(waiting):
                decision = _decide(plan, step, selected, results, resume)
                if decision == "wait" or (decision == "run" and len(running) >= jobs):
                    continue
                waiting.remove(step)
                progressed = True
                if isinstance(decision, StepResult):
                    results[step.key] = decision
                    bar.update(1)
                elif jobs > 1:
                    running[step.key] = (step, _spawn(plan, step, jobs))
                else:
                    bar.set_postfix_str(step.key, refresh=True)
                    results[step.key] = execute_step(plan, step, log_output=log_output,
                                                     autosave_cell_every=autosave_cell_every)
                    bar.update(1)
                    break  # rescan from the first waiting step: execution stays in plan order
            for key, (step, proc) in list(running.items()):
                if proc.poll() is not None:
                    results[key] = _spawned_result(plan, step, proc.returncode)
                    del running[key]
                    progressed = True
                    bar.update(1)
            if running and progressed:
                bar.set_postfix_str(", ".join(running), refresh=True)
            if not progressed:
                time.sleep(0.2)
    finally:
        for _, proc in running.values():
            proc.terminate()
        bar.close()
    return SuiteReport(plan.name, [results[s.key] for s in steps])


# --------------------------------------------------------------------------- launchers
@dataclass(frozen=True)
class LaunchOptions:
    """Options of the launchers.

    Attributes:
        resume: skip finished steps (local), submit only unfinished grid cells (SLURM).
        jobs: steps executed at once (local).
        log_output: echo notebook output (local).
        progress: tqdm bar (local).
        partition: SLURM partition, overriding ``resources.partition``.
        gpus_per_task: GPUs per array task, overriding ``resources.gpus_per_task`` (0: CPU, no gres).
        time: time limit of an array task, overriding ``resources.time``.
        dry_run: SLURM: print the scripts and the sbatch commands, write and submit nothing.
        python: interpreter the jobs run (default: this one).
    """

    resume: bool = False
    jobs: int = 1
    log_output: bool = False
    progress: bool = True
    partition: str | None = None
    gpus_per_task: int | None = None
    time: str | None = None
    dry_run: bool = False
    python: str = sys.executable


Launcher = Callable[[SuitePlan, Sequence[Step], LaunchOptions], SuiteReport]


def task_command(plan: SuitePlan, python: str, *, index: str | None = None, keys: Sequence[str] = ()) -> str:
    """The shell command that runs one array task (``index``) or the given steps through :func:`run_task`."""
    cmd = [python, "-m", "heritage_core.suite", "task", "--suite-dir", str(plan.suite_dir)]
    if index is not None:
        return shlex.join(cmd) + f' --index "{index}"'
    for key in keys:
        cmd += ["--step", key]
    return shlex.join(cmd)


def local(plan: SuitePlan, steps: Sequence[Step], options: LaunchOptions) -> SuiteReport:
    """Execute the steps one after another in this process (:func:`run_steps`)."""
    return run_steps(plan, steps, resume=options.resume, jobs=options.jobs, log_output=options.log_output,
                     progress=options.progress)


def dry_run(plan: SuitePlan, steps: Sequence[Step], options: LaunchOptions) -> SuiteReport:
    """Print the command that would execute each step, with its parameters; execute nothing."""
    report = SuiteReport(plan.name)
    for step in steps:
        print(f"# {step.key}  (notebooks/{step.notebook}.ipynb -> {plan.output_path(step).relative_to(plan.root)})")
        print(task_command(plan, options.python, keys=[step.key]))
        report.results.append(StepResult(step.key, step.notebook, "planned"))
    return report


def _job_scripts(plan: SuitePlan, cells: Sequence[int], options: LaunchOptions) -> dict[str, slurm.JobScript]:
    """The sbatch scripts by kind: ``01_splits``, ``train_eval`` (array over ``cells``), ``report``, ``film``."""
    res = plan.profile.resources
    gpus = res.gpus_per_task if options.gpus_per_task is None else options.gpus_per_task
    logs = plan.suite_dir / "slurm" / "logs"
    common = dict(workdir=str(plan.root), cpus_per_task=res.cpus_per_task, mem=res.mem,
                  partition=options.partition or res.partition)
    return {
        "01_splits": slurm.JobScript(
            job_name=f"{plan.name}-splits", command=task_command(plan, options.python, keys=[NOTEBOOKS[0]]),
            log=str(logs / "01_splits_%j.out"), time=res.prepare_time, **common),
        "train_eval": slurm.JobScript(
            job_name=f"{plan.name}-runs", command=task_command(plan, options.python, index="$SLURM_ARRAY_TASK_ID"),
            log=str(logs / "train_eval_%A_%a.out"), time=options.time or res.time, gpus_per_task=gpus,
            array=slurm.array_spec(cells or [0], res.max_parallel), requeue=True, **common),
        "report": slurm.JobScript(
            job_name=f"{plan.name}-report", command=task_command(plan, options.python, keys=list(NOTEBOOKS[3:5])),
            log=str(logs / "report_%j.out"), time=res.report_time, kill_on_invalid_dep=True, **common),
        "film": slurm.JobScript(
            job_name=f"{plan.name}-film", command=task_command(plan, options.python, keys=[_FILM]),
            log=str(logs / "film_%j.out"), time=options.time or res.time, gpus_per_task=gpus, **common),
    }


def job_kind(step: Step) -> str:
    """The SLURM job that runs ``step``: ``01_splits``, ``train_eval`` (array), ``report`` or ``film``."""
    if step.cell is not None:
        return "train_eval"
    return {NOTEBOOKS[0]: "01_splits", _FILM: "film"}.get(step.notebook, "report")


def slurm_launcher(plan: SuitePlan, steps: Sequence[Step], options: LaunchOptions) -> SuiteReport:
    """Write the sbatch scripts and submit them: splits job, run array (afterok splits), report job (afterok
    array, cancelled when a task fails), and the film job (independent) when the profile has one.

    With ``options.resume`` finished steps are left out: no splits job when 01 is finished, an array of the
    grid cells with unfinished steps only. ``options.dry_run`` prints the scripts and commands instead.
    """
    report = SuiteReport(plan.name)
    selected = {s.key for s in steps}
    todo = [s for s in plan.steps if s.key in selected and not (options.resume and step_state(plan, s) == "finished")]
    if not todo:
        report.results = [StepResult(s.key, s.notebook, "up-to-date") for s in plan.steps if s.key in selected]
        return report
    cells = sorted({s.cell for s in todo if s.cell is not None})
    kinds = [k for k in ("01_splits", "train_eval", "report", "film") if any(job_kind(s) == k for s in todo)]
    scripts = _job_scripts(plan, cells, options)
    folder = plan.suite_dir / "slurm"
    jobs: dict[str, str] = {}
    for kind in kinds:
        path = folder / f"{kind}.sbatch"
        after = {"train_eval": ["01_splits"], "report": ["train_eval", "01_splits"]}.get(kind, [])
        first = next((jobs[k] for k in after if k in jobs), None)
        dependency = f"afterok:{first}" if first else None
        if options.dry_run:
            print(f"# ---- {path}\n{scripts[kind].render()}")
            print("# submit: " + shlex.join(slurm.sbatch_command(path, dependency)))
            jobs[kind] = f"<{kind} job>"
            continue
        atomic_write_text(path, scripts[kind].render())
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        jobs[kind] = slurm.submit(path, dependency)
    if not options.dry_run:
        atomic_write_json(folder / "submit.json", {"submitted": utc_timestamp("microseconds"), "jobs": jobs, "cells": cells})
    report.jobs = jobs
    status = "planned" if options.dry_run else "submitted"
    for s in todo:
        note = f"job {jobs[job_kind(s)]}" + (f"_{s.cell}" if s.cell is not None and not options.dry_run else "")
        report.results.append(StepResult(s.key, s.notebook, status, note=note))
    return report


#: Launchers by name (``heritage suite run`` uses ``local``, ``--dry-run`` ``dry_run``; ``submit`` uses ``slurm``).
REGISTRY: dict[str, Launcher] = {"local": local, "dry_run": dry_run, "slurm": slurm_launcher}
