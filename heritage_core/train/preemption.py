"""Preemption: SIGUSR1/SIGTERM end training cleanly at the next step, with a checkpoint and a SLURM requeue.

The trainer checks :attr:`PreemptionGuard.requested` after every optimiser step. When it is set, the trainer
saves ``stage{k}_last.pt`` *mid-epoch* (the model, optimiser, scheduler and RNG states after that step, the
loader generator's state at the start of the epoch and the number of batches already trained), calls
``scontrol requeue $SLURM_JOB_ID`` when ``SLURM_JOB_ID`` is set, and raises :class:`PreemptedError`; the
command line entry exits with :data:`PREEMPTED_EXIT_CODE`. A resumed run regenerates the epoch's batch order
from the saved loader state, skips the batches already trained and continues with the next one, so it ends
with the same numbers as an uninterrupted run.

With SLURM, ask for the signal ahead of the time limit and for requeueing, e.g. ``#SBATCH --signal=B:USR1@120``
and ``#SBATCH --requeue``; ``B:`` signals only the batch shell, so start the trainer with ``exec`` (or forward the
signal with ``trap``).
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
from types import FrameType, TracebackType

from heritage_core.errors import RunError

__all__ = ["PREEMPTED_EXIT_CODE", "PREEMPTION_SIGNALS", "PreemptedError", "PreemptionGuard", "requeue_slurm_job"]

#: Exit status of ``python -m heritage_core.train`` after a preemption (EX_TEMPFAIL: try again later).
PREEMPTED_EXIT_CODE = 75
#: Signals that ask the trainer to checkpoint and stop.
PREEMPTION_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)

_log = logging.getLogger("heritage_core.train")


class PreemptedError(RunError):
    """Training stopped on a preemption signal after saving its checkpoint; re-running resumes it."""


class PreemptionGuard:
    """Context manager that turns :data:`PREEMPTION_SIGNALS` into a flag instead of killing the process.

    Handlers are installed only in the main thread (signals cannot be handled elsewhere) and the previous
    handlers are restored on exit.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> PreemptionGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in PREEMPTION_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()


def requeue_slurm_job() -> bool:
    """Run ``scontrol requeue $SLURM_JOB_ID`` when ``SLURM_JOB_ID`` is set.

    Returns:
        True when the requeue command ran and succeeded; False when not under SLURM or when it failed (the
        failure is logged, the checkpoint is already safe, and the job can be resubmitted by hand).
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not job or shutil.which("scontrol") is None:
        return False
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        _log.warning("scontrol requeue %s failed (%s); resubmit the job to resume", job, exc)
        return False
    if done.returncode != 0:
        _log.warning("scontrol requeue %s exited %d: %s; resubmit the job to resume", job, done.returncode,
                     done.stderr.strip())
        return False
    return True
