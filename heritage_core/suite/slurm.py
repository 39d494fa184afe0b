"""SLURM: batch scripts for a suite, submission with dependencies, queue states and requeueing.

A suite goes to SLURM as three submissions (see ``heritage_core.suite.runner``):

1. ``01_splits.sbatch``: notebook 01, one job on CPU.
2. ``train_eval.sbatch``: a job array, one task per grid cell (notebooks 02 and 03), ``afterok`` on job 1.
   Each task asks for ``--requeue`` and ``--signal=B:USR1@120``: two minutes before its time limit SLURM
   sends SIGUSR1 to the batch shell, which ``exec``\\ s the task process; the task forwards it to the
   training kernel, whose trainer saves a checkpoint and calls ``scontrol requeue``. The requeued task skips
   finished steps and resumes training from the checkpoint.
3. ``report.sbatch``: notebooks 04 and 05, ``afterok`` on the whole array with ``--kill-on-invalid-dep=yes``,
   so one failed array task cancels it (reason ``DependencyNeverSatisfied``) instead of leaving it pending.

Job ids are only known at submission, so dependencies go on the ``sbatch`` command line, not in the scripts.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from heritage_core.errors import SuiteError
from heritage_core.suite.schema import bad_value

__all__ = [
    "ResourcesSpec",
    "SIGNAL_LEAD_S",
    "KERNEL_ENV",
    "JobScript",
    "array_spec",
    "sbatch_command",
    "submit",
    "queue_states",
    "slurm_available",
]

#: Seconds before the time limit at which an array task receives SIGUSR1 (checkpoint and requeue).
SIGNAL_LEAD_S = 120
#: Environment of every job and notebook kernel: no update checks, headless plots (HF_HUB_OFFLINE is the user's own).
KERNEL_ENV = {"NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


_PARTITION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SLURM_TIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")


_SLURM_MEM = re.compile(r"^\d+[KMGT]?$")


@dataclass(frozen=True)
class ResourcesSpec:
    """SLURM resources (``heritage suite submit``); the local runner ignores them.

    Attributes:
        partition: SLURM partition, or None for the cluster's default.
        time: time limit of one training + evaluation array task, ``[D-]HH:MM:SS``.
        gpus_per_task: GPUs per array task; 0 runs on CPU and requests no GPU.
        cpus_per_task: CPU cores per task (also for the prepare and report jobs).
        mem: memory per task, e.g. ``32G``.
        max_parallel: at most this many array tasks at once (``--array=...%N``), or None.
        prepare_time: time limit of the splits job (notebook 01).
        report_time: time limit of the final job (notebooks 04 and 05).
    """

    partition: str | None = None
    time: str = "24:00:00"
    gpus_per_task: int = 1
    cpus_per_task: int = 8
    mem: str = "32G"
    max_parallel: int | None = None
    prepare_time: str = "01:00:00"
    report_time: str = "02:00:00"

    def __post_init__(self) -> None:
        for key in ("time", "prepare_time", "report_time"):
            if not _SLURM_TIME.match(getattr(self, key)):
                raise bad_value(f"resources.{key}", getattr(self, key), "a SLURM time [D-]HH:MM:SS, e.g. '24:00:00'")
        if self.gpus_per_task < 0 or self.cpus_per_task < 1:
            raise bad_value("resources.gpus_per_task/cpus_per_task", (self.gpus_per_task, self.cpus_per_task),
                       "integers >= 0 and >= 1")
        if not _SLURM_MEM.match(self.mem):
            raise bad_value("resources.mem", self.mem, "a SLURM memory size such as '32G' or '16000M'")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise bad_value("resources.max_parallel", self.max_parallel, "null or an integer >= 1")
        if self.partition is not None and not _PARTITION.match(self.partition):
            raise bad_value("resources.partition", self.partition, "null or a partition name")


@dataclass(frozen=True)
class JobScript:
    """One sbatch script.

    Attributes:
        job_name: SLURM job name.
        command: the command the batch shell ``exec``\\ s (so signals reach it directly).
        workdir: folder the command runs in (the project root).
        log: ``--output`` path pattern (``%A`` array job id, ``%a`` task index, ``%j`` job id).
        time: time limit, ``[D-]HH:MM:SS``.
        cpus_per_task: CPU cores.
        mem: memory, e.g. ``32G``.
        gpus_per_task: GPUs; 0 requests none.
        partition: partition, or None for the default.
        array: ``--array`` value (e.g. ``0-15%4``), or None for a single job.
        requeue: allow requeueing (``--requeue``) and ask for SIGUSR1 :data:`SIGNAL_LEAD_S` s before the limit.
        kill_on_invalid_dep: cancel the job when a dependency can never be satisfied.
    """

    job_name: str
    command: str
    workdir: str
    log: str
    time: str
    cpus_per_task: int
    mem: str
    gpus_per_task: int = 0
    partition: str | None = None
    array: str | None = None
    requeue: bool = False
    kill_on_invalid_dep: bool = False

    def render(self) -> str:
        """The script text."""
        opts = [f"--job-name={self.job_name}", f"--output={self.log}", "--open-mode=append", f"--time={self.time}",
                "--nodes=1", "--ntasks=1", f"--cpus-per-task={self.cpus_per_task}", f"--mem={self.mem}"]
        if self.partition:
            opts.append(f"--partition={self.partition}")
        if self.gpus_per_task > 0:
            opts.append(f"--gpus-per-task={self.gpus_per_task}")
        if self.array is not None:
            opts.append(f"--array={self.array}")
        if self.requeue:
            opts += ["--requeue", f"--signal=B:USR1@{SIGNAL_LEAD_S}"]
        if self.kill_on_invalid_dep:
            opts.append("--kill-on-invalid-dep=yes")
        env = " ".join(f"{k}={v}" for k, v in KERNEL_ENV.items())
        lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in opts), "set -euo pipefail",
                 f"cd {shlex.quote(self.workdir)}", f"export {env}", f"exec {self.command}", ""]
        return "\n".join(lines)


def array_spec(indices: Sequence[int], max_parallel: int | None = None) -> str:
    """A ``--array`` value for ``indices``: consecutive runs as ranges, plus ``%N`` when throttled.

    Args:
        indices: array task indices (any order, no repeats).
        max_parallel: at most this many tasks at once, or None.

    Returns:
        E.g. ``0-3,7,9-10%4`` for ``[0, 1, 2, 3, 7, 9, 10]`` and 4.

    Raises:
        SuiteError: no indices.
    """
    values = sorted(set(indices))
    if not values:
        raise SuiteError("no array task to submit: every grid cell is finished (nothing to resume)")
    parts: list[str] = []
    start = prev = values[0]
    for v in values[1:] + [None]:  # type: ignore[list-item]
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ",".join(parts) + (f"%{max_parallel}" if max_parallel else "")


def sbatch_command(script: str | Path, dependency: str | None = None) -> list[str]:
    """The ``sbatch`` command line submitting ``script``, with ``--dependency`` when given (e.g. ``afterok:12``)."""
    cmd = ["sbatch", "--parsable"]
    if dependency:
        cmd.append(f"--dependency={dependency}")
    return cmd + [str(script)]


def slurm_available() -> bool:
    """Whether ``sbatch`` is on the PATH."""
    return shutil.which("sbatch") is not None


def submit(script: str | Path, dependency: str | None = None) -> str:
    """Submit ``script`` with ``sbatch --parsable``.

    Args:
        script: the sbatch script.
        dependency: ``--dependency`` value, or None.

    Returns:
        The job id (for an array, the array's job id).

    Raises:
        SuiteError: ``sbatch`` is missing or refuses the job (its message is included).
    """
    if not slurm_available():
        raise SuiteError("sbatch is not on the PATH; run on a SLURM login node, or use 'heritage suite run' "
                         "(local) or 'submit --dry-run' to see the scripts")
    cmd = sbatch_command(script, dependency)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SuiteError(f"'{' '.join(cmd)}' failed with exit status {done.returncode}: {done.stderr.strip()}; "
                         f"fix the resources in the profile (resources.*) or the --partition/--time options")
    return done.stdout.strip().split(";")[0]


def queue_states(job_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """SLURM state and reason of the queued or running jobs among ``job_ids`` (array tasks as ``<id>_<k>``).

    Returns:
        Job id -> (state, reason), e.g. ``("PENDING", "Dependency")``; {} when squeue is missing or fails.
        Jobs that left the queue are absent.
    """
    if not job_ids or shutil.which("squeue") is None:
        return {}
    cmd = ["squeue", "--noheader", "--array", f"--jobs={','.join(job_ids)}", "--format=%i|%T|%r"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return {}
    states: dict[str, tuple[str, str]] = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            states[parts[0]] = (parts[1], parts[2])
    return states
