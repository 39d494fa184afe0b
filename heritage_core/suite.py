"""The suite runner: one profile -> every notebook executed with papermill in dependency order, locally or on SLURM.

A profile (``parameters/*.yaml``, :mod:`heritage_core.profiles`) expands into steps:

* ``01_splits`` once (dataset, cache, manifests, split report);
* ``02_train_curriculum`` and ``03_evaluate`` for each grid cell (fold x variant x encoder x seed), 03 after
  its own 02;
* ``04_dg_gap`` after every 03, then ``05_paper_figures``.

Layout under the project root (``root``, where relative paths in the profile and in notebook parameters are
resolved; papermill runs every kernel there)::

    suites/<name>/profile.yaml          the resolved profile (every key); a suite keeps its profile
    suites/<name>/plan.json             name, root, notebooks folder, profile: what a SLURM task re-plans from
    suites/<name>/steps/<key>.json      one record per step: status, params hash, timings, error
    suites/<name>/{data,cache,splits,runs,results,figures,tables}/   artefacts of the notebooks
    suites/<name>/slurm/                sbatch scripts, logs, submit.json (job ids)
    papermill_runs/<name>/<key>.ipynb   executed notebooks

with ``<key>`` = ``01_splits``, ``<fold>/<variant>/<encoder>/seed<k>/02_train_curriculum`` and so on.

A step is *finished* when its record says ``finished`` with the current parameter hash and its artefacts are
there (``run.json`` with status ``finished`` for 02, ``eval/metrics.json`` for 03, the manifests for 01).
``resume`` skips finished steps and runs the others again. A failing notebook keeps its executed copy (with
papermill's error banner), its record says ``failed`` with the exception, every step depending on it is skipped
and reported, and the other steps go on.

Launchers (:data:`REGISTRY`) are plain functions ``launcher(plan, steps, options) -> SuiteReport``, as in
DomainBed's ``command_launchers.py``: ``local`` executes the steps in this process, ``dry_run`` prints the
command of each step, ``slurm`` writes sbatch scripts and submits them (see :mod:`heritage_core.slurm`). Each
SLURM job runs ``python -m heritage_core.suite task --suite-dir DIR (--index N | --step KEY)``, which calls
:func:`run_steps`, the function the local launcher calls.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
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

from heritage_core import slurm
from heritage_core.errors import ConfigError, HeritageError, SuiteError
from heritage_core.profiles import SYNTHETIC, FilmSpec, GridCell, Profile, load_profile, profile_from_dict, profile_to_yaml
from heritage_core.runs import atomic_write_json, atomic_write_text, params_hash, read_json

__all__ = [
    "NOTEBOOKS",
    "NOTEBOOK_DIR",
    "REGISTRY",
    "Step",
    "SuitePlan",
    "StepResult",
    "SuiteReport",
    "LaunchOptions",
    "plan_suite",
    "load_plan",
    "prepare_suite",
    "select_steps",
    "step_state",
    "execute_step",
    "run_steps",
    "run_suite",
    "submit_suite",
    "run_task",
    "suite_status",
    "main",
]

#: The notebooks of a suite, in dependency order (06, the real-pixel check, depends on nothing).
NOTEBOOKS = ("01_splits", "02_train_curriculum", "03_evaluate", "04_dg_gap", "05_paper_figures", "06_film_real")
#: The project's notebooks.
NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
#: Notebook parameters that choose where a step runs, not what it computes: left out of the step's hash.
EXECUTION_PARAMETERS = ("device", "num_workers", "progress")
_TRAIN, _EVAL, _FILM = NOTEBOOKS[1], NOTEBOOKS[2], NOTEBOOKS[5]
#: Seconds between autosaves of an executing notebook (papermill's ``--autosave-cell-every``).
AUTOSAVE_CELL_EVERY_S = 30


# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Step:
    """One notebook execution.

    Attributes:
        key: identity and relative path of the executed notebook and record, e.g. ``01_splits`` or
            ``line_art/flat/convnext_tiny/seed0/02_train_curriculum``.
        notebook: notebook stem, one of :data:`NOTEBOOKS`.
        parameters: papermill parameters (paths relative to the project root).
        depends: keys of the steps that must finish first.
        cell: grid index of a per-run step (the SLURM array index), None otherwise.
    """

    key: str
    notebook: str
    parameters: dict[str, Any]
    depends: tuple[str, ...] = ()
    cell: int | None = None

    @property
    def params_hash(self) -> str:
        """Hash of the notebook and its parameters, without :data:`EXECUTION_PARAMETERS`."""
        identity = {k: v for k, v in self.parameters.items() if k not in EXECUTION_PARAMETERS}
        return params_hash({"notebook": self.notebook, "parameters": identity})


@dataclass(frozen=True)
class SuitePlan:
    """A profile expanded into steps for one suite folder.

    Attributes:
        name: suite name.
        root: project root (absolute): relative paths resolve here, kernels run here.
        notebooks_dir: folder holding the ``NN_name.ipynb`` notebooks.
        profile: the validated profile.
        steps: every step, in execution order.
    """

    name: str
    root: Path
    notebooks_dir: Path
    profile: Profile
    steps: tuple[Step, ...]

    @property
    def suite_dir(self) -> Path:
        """``<root>/suites/<name>``."""
        return self.root / "suites" / self.name

    @property
    def papermill_dir(self) -> Path:
        """``<root>/papermill_runs/<name>``: the executed notebooks."""
        return self.root / "papermill_runs" / self.name

    def step(self, key: str) -> Step:
        """The step called ``key``.

        Raises:
            SuiteError: no such step.
        """
        for s in self.steps:
            if s.key == key:
                return s
        raise SuiteError(f"suite '{self.name}' has no step '{key}'; its steps are {[s.key for s in self.steps][:6]} ...")

    def output_path(self, step: Step) -> Path:
        """Where the executed notebook of ``step`` goes."""
        return self.papermill_dir / f"{step.key}.ipynb"

    def record_path(self, step: Step) -> Path:
        """Where the record of ``step`` goes."""
        return self.suite_dir / "steps" / f"{step.key}.json"

    def to_json(self) -> dict[str, Any]:
        """The content of ``plan.json`` (steps are re-planned from the profile on load)."""
        return {"name": self.name, "root": str(self.root), "notebooks_dir": str(self.notebooks_dir),
                "profile": self.profile.to_dict(), "steps": [s.key for s in self.steps]}


def _rel(plan_name: str, *parts: str) -> str:
    return "/".join(("suites", plan_name) + parts)


def _manifest_path(name: str, profile: Profile, cell: GridCell) -> str:
    return _rel(name, "splits", f"{profile.splits.protocol}_seed{cell.split_seed}_{cell.fold}.json")


def _cache_dir(name: str, profile: Profile) -> str:
    return profile.dataset.cache_dir or _rel(name, "cache")


def _splits_parameters(name: str, p: Profile) -> dict[str, Any]:
    synthetic = p.dataset.source == SYNTHETIC
    return {
        "cache_dir": _cache_dir(name, p),
        "source_dir": _rel(name, "data") if synthetic else p.dataset.source,
        "synthetic_n": p.dataset.synthetic_n if synthetic else 0,
        "synthetic_seed": p.dataset.synthetic_seed,
        "max_side_px": p.dataset.max_side_px,
        "protocol": p.splits.protocol,
        "seeds": sorted(set(p.splits.seeds)),
        "fractions": list(p.splits.fractions),
        "min_items": p.splits.min_items,
        "output_dir": _rel(name, "splits"),
        "smoke": False,  # 01 is cheap; its smoke mode would drop the split seeds the runs need
    }


def _train_parameters(name: str, p: Profile, cell: GridCell) -> dict[str, Any]:
    t = p.train
    return {
        "cache_dir": _cache_dir(name, p),
        "manifest_path": _manifest_path(name, p, cell),
        "run_dir": _rel(name, "runs", cell.path),
        "variant": cell.variant,
        "encoder": cell.encoder,
        "pretrained": t.pretrained.get(cell.encoder),
        "seed": cell.seed,
        "img_size": t.img_size,
        "batch_size": t.batch_size,
        "decoder_channels": t.decoder_channels,
        **t.epochs_for(cell.variant),
        "max_batches_per_epoch": t.max_batches_per_epoch,
        "class_weights": t.class_weights,
        "augment": t.augment,
        "amp": t.amp,
        "num_workers": t.num_workers,
        "device": p.device,
        "smoke": p.smoke,
    }


def _evaluate_parameters(name: str, p: Profile, cell: GridCell) -> dict[str, Any]:
    e = p.evaluate
    return {
        "run_dir": _rel(name, "runs", cell.path),
        "partitions": list(e.partitions),
        "mode": e.mode,
        "tile": e.tile,
        "overlap": e.overlap,
        "consistent": e.consistent,
        "n_resamples": e.n_resamples,
        "device": p.device,
        "smoke": p.smoke,
    }


def _dg_parameters(name: str, p: Profile) -> dict[str, Any]:
    a = p.analysis
    return {
        "suite_dir": _rel(name),
        "output_dir": _rel(name, "results"),
        "n_resamples": a.n_resamples,
        "n_permutations": a.n_permutations,
        "heads": list(a.heads),
        "smoke": p.smoke,
    }


def _figures_parameters(name: str, p: Profile) -> dict[str, Any]:
    r = p.report
    return {
        "suite_dir": _rel(name),
        "output_dir": "paper/generated",
        "encoder": r.encoder or p.grid.encoders[0],
        "head": r.head,
        "partition": r.partition,
        "compare": list(p.compare_variants()),
        "n_qualitative": r.n_qualitative,
        "n_resamples": p.analysis.n_resamples,
        "smoke": p.smoke,
    }


def _film_parameters(name: str, p: Profile, film: FilmSpec) -> dict[str, Any]:
    return {**dataclasses.asdict(film), "output_dir": _rel(name, "film"), "device": p.device, "smoke": p.smoke}


def plan_suite(
    profile: Profile,
    *,
    name: str | None = None,
    root: str | Path = ".",
    notebooks_dir: str | Path | None = None,
) -> SuitePlan:
    """Expand ``profile`` into the steps of suite ``name``.

    Args:
        profile: the validated profile.
        name: suite name; None for ``profile.name``.
        root: project root.
        notebooks_dir: folder of the notebooks; None for the project's ``notebooks/``.

    Returns:
        The :class:`SuitePlan`.

    Raises:
        ConfigError: a bad suite name.
    """
    if name is not None and name != profile.name:
        try:
            profile = dataclasses.replace(profile, name=name)
        except ConfigError as exc:
            raise ConfigError(f"--name: {exc}") from None
    n = profile.name
    steps: list[Step] = []
    if profile.grid is not None:
        steps.append(Step(NOTEBOOKS[0], NOTEBOOKS[0], _splits_parameters(n, profile)))
        evaluations: list[str] = []
        for index, cell in enumerate(profile.cells()):
            train_key, eval_key = f"{cell.path}/{_TRAIN}", f"{cell.path}/{_EVAL}"
            steps.append(Step(train_key, _TRAIN, _train_parameters(n, profile, cell), (NOTEBOOKS[0],), index))
            steps.append(Step(eval_key, _EVAL, _evaluate_parameters(n, profile, cell), (train_key,), index))
            evaluations.append(eval_key)
        steps.append(Step(NOTEBOOKS[3], NOTEBOOKS[3], _dg_parameters(n, profile), tuple(evaluations)))
        steps.append(Step(NOTEBOOKS[4], NOTEBOOKS[4], _figures_parameters(n, profile), (NOTEBOOKS[3],)))
    if profile.film is not None:
        steps.append(Step(_FILM, _FILM, _film_parameters(n, profile, profile.film)))
    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOK_DIR
    return SuitePlan(n, Path(root).resolve(), nb_dir.resolve(), profile, tuple(steps))


def check_notebooks(plan: SuitePlan) -> None:
    """Check that every notebook exists and declares every parameter the plan passes to it.

    Raises:
        SuiteError: a missing notebook, or parameters it does not declare in its ``parameters`` cell.
    """
    import papermill

    needed = [nb for nb in NOTEBOOKS if any(s.notebook == nb for s in plan.steps)]
    for notebook in needed:
        path = plan.notebooks_dir / f"{notebook}.ipynb"
        if not path.is_file():
            raise SuiteError(f"notebook '{path}' does not exist; the suite needs {needed} in "
                             f"'{plan.notebooks_dir}' (jupytext --to ipynb notebooks/{notebook}.py)")
        declared = set(papermill.inspect_notebook(str(path)))
        passed = {k for s in plan.steps if s.notebook == notebook for k in s.parameters}
        unknown = sorted(passed - declared)
        if unknown:
            raise SuiteError(f"notebook '{path}' does not declare the parameter(s) {unknown} that the suite passes; "
                             f"it declares {sorted(declared)}. Update the notebook's parameters cell or "
                             f"heritage_core/suite.py")


def prepare_suite(plan: SuitePlan) -> None:
    """Create the suite folder and write ``profile.yaml`` and ``plan.json``.

    Raises:
        SuiteError: the folder holds a suite made from another profile (the differing keys are named).
    """
    path = plan.suite_dir / "profile.yaml"
    new = profile_to_yaml(plan.profile)
    if path.is_file() and path.read_text() != new:
        import yaml

        old = yaml.safe_load(path.read_text()) or {}
        changed = _diff_keys(old, plan.profile.to_dict())
        raise SuiteError(
            f"suite '{plan.suite_dir}' was made from another profile (changed: {changed[:8]}); its runs would mix "
            f"parameters. Give the new profile another --name, or delete '{plan.suite_dir}' to start over"
        )
    atomic_write_text(path, new)
    atomic_write_json(plan.suite_dir / "plan.json", plan.to_json())


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in sorted(set(a) | set(b), key=str)
                for k in _diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def load_plan(suite_dir: str | Path) -> SuitePlan:
    """Re-plan a suite from its ``plan.json``.

    Raises:
        SuiteError: no readable ``plan.json``.
    """
    path = Path(suite_dir) / "plan.json"
    if not path.is_file():
        raise SuiteError(f"'{suite_dir}' is not a suite folder (no plan.json); start it with 'heritage suite run' "
                         f"or 'heritage suite submit'")
    raw = read_json(path)
    profile = profile_from_dict(raw["profile"])
    return plan_suite(profile, root=raw["root"], notebooks_dir=raw["notebooks_dir"])


def select_steps(plan: SuitePlan, only: Sequence[str] = ()) -> list[Step]:
    """The steps named by ``only`` (all when empty), in execution order.

    Args:
        plan: the plan.
        only: notebook stems (``02_train_curriculum``), their numbers (``02``), or fnmatch patterns over
            step keys (``line_art/*``).

    Returns:
        The selected steps.

    Raises:
        SuiteError: a name that selects nothing.
    """
    if not only:
        return list(plan.steps)
    chosen: list[Step] = []
    for name in only:
        hits = [s for s in plan.steps
                if name in (s.notebook, s.notebook[:2]) or fnmatch.fnmatchcase(s.key, name)]
        if not hits:
            raise SuiteError(f"--only {name!r} selects no step; give a notebook ({', '.join(NOTEBOOKS)}), its "
                             f"number (01..05) or a pattern over step keys such as 'line_art/*'")
        chosen += hits
    keys = {s.key for s in chosen}
    return [s for s in plan.steps if s.key in keys]


# --------------------------------------------------------------------------- state
def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _artefacts_present(plan: SuitePlan, step: Step) -> bool:
    root = plan.root
    if step.notebook == NOTEBOOKS[0]:
        return all((root / _manifest_path(plan.name, plan.profile, c)).is_file() for c in plan.profile.cells())
    if step.notebook == _TRAIN:
        info = _read_record(root / step.parameters["run_dir"] / "run.json")
        return info is not None and info.get("status") == "finished"
    if step.notebook == _EVAL:
        return (root / step.parameters["run_dir"] / "eval" / "metrics.json").is_file()
    if step.notebook == _FILM:
        return (root / step.parameters["output_dir"] / "film_loso.json").is_file()
    return True


def step_state(plan: SuitePlan, step: Step) -> str:
    """State of ``step`` on disk.

    Returns:
        ``pending`` (never run), ``running`` (running, or killed while running), ``failed``, ``preempted``
        (stopped by SIGUSR1 with a checkpoint), ``stale`` (finished with other parameters), ``incomplete``
        (finished, but its artefacts are gone or its run is not finished), ``outdated`` (finished, but a
        dependency finished again after it started) or ``finished``.
    """
    record = _read_record(plan.record_path(step))
    if record is None:
        return "pending"
    if record.get("status") != "finished":
        return str(record.get("status"))
    if record.get("params_hash") != step.params_hash:
        return "stale"
    if not _artefacts_present(plan, step):
        return "incomplete"
    for dep in step.depends:
        dep_record = _read_record(plan.record_path(plan.step(dep))) or {}
        if str(dep_record.get("finished") or "") > str(record.get("started")):
            return "outdated"
    return "finished"


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
    """Set :data:`heritage_core.slurm.KERNEL_ENV` for the kernels started inside, then restore."""
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
            slurm.requeue_current_job()

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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def execute_step(
    plan: SuitePlan,
    step: Step,
    *,
    log_output: bool = False,
    autosave_cell_every: int = AUTOSAVE_CELL_EVERY_S,
) -> StepResult:
    """Execute the notebook of ``step`` with papermill and write its record.

    The kernel is ``python3`` (this interpreter's, see README), runs in the project root with
    :data:`heritage_core.slurm.KERNEL_ENV` set, and the executed notebook is saved every
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
        "status": "running", "started": _now(), "finished": None, "duration_s": None, "kernel_start_s": None,
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
    record.update(status=status, finished=_now(), duration_s=round(duration, 3),
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
    record = _read_record(plan.record_path(step)) or {}
    status = str(record.get("status"))
    if status not in ("finished", "failed", "preempted"):
        log = plan.record_path(step).with_suffix(".log")
        return StepResult(step.key, step.notebook, "failed",
                          note=f"task process exited with status {returncode} (see {log.relative_to(plan.root)})")
    return StepResult(step.key, step.notebook, status, float(record.get("duration_s") or 0.0),
                      record.get("kernel_start_s"), str(record.get("error") or ""))


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
    waiting = list(steps)
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
            if running:
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


def _job_kind(step: Step) -> str:
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
    kinds = [k for k in ("01_splits", "train_eval", "report", "film") if any(_job_kind(s) == k for s in todo)]
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
        atomic_write_json(folder / "submit.json", {"submitted": _now(), "jobs": jobs, "cells": cells})
    report.jobs = jobs
    status = "planned" if options.dry_run else "submitted"
    for s in todo:
        note = f"job {jobs[_job_kind(s)]}" + (f"_{s.cell}" if s.cell is not None and not options.dry_run else "")
        report.results.append(StepResult(s.key, s.notebook, status, note=note))
    return report


#: Launchers by name (``heritage suite run`` uses ``local``, ``--dry-run`` ``dry_run``; ``submit`` uses ``slurm``).
REGISTRY: dict[str, Launcher] = {"local": local, "dry_run": dry_run, "slurm": slurm_launcher}


def _launch(profile: str | Path | Profile, launcher: str, options: LaunchOptions, *, name: str | None,
            only: Sequence[str], root: str | Path, notebooks_dir: str | Path | None) -> SuiteReport:
    if launcher not in REGISTRY:
        raise ConfigError(f"launcher {launcher!r} is unknown; choose one of {list(REGISTRY)}")
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    plan = plan_suite(loaded, name=name, root=root, notebooks_dir=notebooks_dir)
    check_notebooks(plan)
    steps = select_steps(plan, only)
    if launcher != "dry_run" and not options.dry_run:
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
    submitted = _read_record(plan.suite_dir / "slurm" / "submit.json") or {}
    jobs = submitted.get("jobs", {})
    queue = slurm.queue_states(list(jobs.values()))
    rows = []
    for step in plan.steps:
        record = _read_record(plan.record_path(step)) or {}
        run_status = ""
        if step.notebook == _TRAIN:
            info = _read_record(plan.root / step.parameters["run_dir"] / "run.json") or {}
            run_status = str(info.get("status", ""))
        kind = _job_kind(step)
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
def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m heritage_core.suite`` (= ``heritage suite``)."""
    parser = argparse.ArgumentParser(prog="heritage suite", description="Run the paper suite of a profile: "
                                     "notebooks 01-05 with papermill, locally or as SLURM jobs.")
    sub = parser.add_subparsers(dest="suite_command", metavar="SUITE_COMMAND", required=True)

    p = sub.add_parser("run", help="execute every notebook of a profile here, in dependency order",
                       description="Expand PROFILE into steps (01 once, 02+03 per grid cell, 04, 05) and execute them "
                       "with papermill. Executed notebooks go to papermill_runs/NAME/, artefacts to suites/NAME/. "
                       "Exit status 1 when a step failed (its dependents are skipped, the rest goes on).")
    p.add_argument("profile", help="profile YAML file, or the name of a shipped one (demo, paper, film)")
    p.add_argument("--name", help="suite name (default: the profile's name)")
    p.add_argument("--only", action="append", default=[], metavar="STEP",
                   help="run only these steps: a notebook (02_train_curriculum), its number (02) or a pattern over "
                   "step keys ('line_art/*'); repeatable")
    p.add_argument("--resume", action="store_true", help="skip finished steps; rerun failed and incomplete ones")
    p.add_argument("--jobs", "-j", type=int, default=1,
                   help="steps executed at once, each in its own process (default: 1; CPU threads are shared out)")
    p.add_argument("--dry-run", action="store_true", help="print the command of each step; execute nothing")
    p.add_argument("--log-output", action="store_true", help="echo the notebooks' output")
    p.add_argument("--root", default=".", help="project root (default: the current folder)")
    p.add_argument("--notebooks", help="folder of the notebooks (default: the project's notebooks/)")

    p = sub.add_parser("submit", help="submit a profile as SLURM jobs: splits, a run array, the report",
                       description="Write sbatch scripts under suites/NAME/slurm/ and submit: 01 as one job, 02+03 as a "
                       "job array over the grid (afterok on 01; --requeue, SIGUSR1 120 s before the limit), 04+05 "
                       "as a final job (afterok on the array, cancelled if a task fails).")
    p.add_argument("profile", help="profile YAML file, or the name of a shipped one")
    p.add_argument("--backend", choices=["slurm"], default="slurm", help="cluster scheduler (default: slurm)")
    p.add_argument("--name", help="suite name (default: the profile's name)")
    p.add_argument("--partition", help="SLURM partition (default: resources.partition)")
    p.add_argument("--gpus-per-task", type=int, help="GPUs per array task; 0 runs on CPU (default: resources.gpus_per_task)")
    p.add_argument("--time", dest="time_limit", metavar="HH:MM:SS",
                   help="time limit of one array task (default: resources.time)")
    p.add_argument("--resume", action="store_true", help="submit only unfinished steps (grid cells)")
    p.add_argument("--dry-run", action="store_true", help="print the scripts and sbatch commands; submit nothing")
    p.add_argument("--root", default=".", help="project root on the shared file system (default: the current folder)")
    p.add_argument("--notebooks", help="folder of the notebooks (default: the project's notebooks/)")

    p = sub.add_parser("status", help="per-step state of a suite (and its SLURM jobs)",
                       description="Show each step's state from its record and run directory, and the queue state of "
                       "its SLURM job when squeue is available.")
    p.add_argument("name", help="suite name or suite folder")
    p.add_argument("--root", default=".", help="project root (default: the current folder)")

    p = sub.add_parser("task", help="(used by SLURM jobs) run one grid cell or named steps of a prepared suite")
    p.add_argument("--suite-dir", required=True, help="suite folder with plan.json")
    p.add_argument("--index", type=int, help="grid index ($SLURM_ARRAY_TASK_ID): notebooks 02 and 03 of that cell")
    p.add_argument("--step", action="append", default=[], dest="steps", help="step key; repeatable")
    p.add_argument("--rerun", action="store_true", help="execute the steps even when they are finished")
    p.add_argument("--quiet", action="store_true", help="do not echo the notebooks' output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m heritage_core.suite``; returns the exit status (0 ok, 1 a step failed, 2 error)."""
    args = build_parser().parse_args(argv)
    try:
        if args.suite_command == "run":
            report = run_suite(args.profile, name=args.name, only=args.only, resume=args.resume, jobs=args.jobs,
                               root=args.root,
                               launcher="dry_run" if args.dry_run else "local", log_output=args.log_output,
                               notebooks_dir=args.notebooks)
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


if __name__ == "__main__":
    sys.exit(main())
