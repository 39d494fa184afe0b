"""The run directory: ``run.json`` (identity, provenance, status), ``history.csv``, a lock, and its life cycle.

Layout::

    <run_dir>/
      run.json                 params, params_hash, variant, arch, fold, seed, encoder, img_size, cache,
                               manifest, git_commit, dataset_fingerprint, package_versions, stages,
                               class_weights, status (running | finished | failed), started, finished,
                               best_checkpoint, error, resumed, preempted
      history.csv              one row per epoch (HISTORY_COLUMNS)
      checkpoints/stage{k}_last.pt, stage{k}_best.pt
      .lock                    held (flock) by the process training the run

Rules (:func:`prepare_run_dir`):

* no ``run.json``: a new run.
* ``run.json`` with another params hash: :class:`~heritage_core.errors.RunError`, unless ``force``.
* ``status: finished``: nothing to do, unless ``force`` (then the run starts over).
* ``status: running`` or ``failed``: the run resumes from its last checkpoint; ``run.json`` keeps its first
  provenance and appends {at, git_commit, previous_status, previous_error} to ``resumed``.

* no ``run.json`` but other files: :class:`~heritage_core.errors.RunError` (not a run directory), unless ``force``.

``force`` removes :data:`RUN_ENTRIES` (and nothing else) before a fresh start.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from heritage_core.errors import RunError
from heritage_core.runs import atomic_write_json, atomic_write_text, read_record, utc_timestamp
from heritage_core.taxonomy import HEADS

__all__ = [
    "HISTORY_COLUMNS",
    "RUN_ENTRIES",
    "run_lock",
    "read_run_info",
    "prepare_run_dir",
    "update_run_info",
    "write_history",
    "read_history",
]

#: Columns of ``history.csv``. ``stage`` and ``epoch`` are 1-based (epoch within the stage); ``lr`` is the
#: learning rate of the epoch's last step; ``loss_*`` are means over the epoch's steps (NaN for a head
#: outside the stage's loss; ``loss_<head>`` unweighted, ``loss_total`` weighted); ``validated`` says whether
#: the epoch was validated (every ``val_interval`` epochs and a stage's last); ``val_miou_*`` are
#: dataset-level mIoUs on ``val`` (NaN on an epoch that was not validated); ``val_score`` is the stage's selection score (val mIoU of its finest loss
#: head); ``seconds`` is the epoch's wall time (training + validation); ``images_per_s`` counts training
#: images per second of training time; ``peak_mem_mb`` is the peak CUDA memory of the epoch (NaN on CPU).
HISTORY_COLUMNS = (
    "stage", "stage_name", "epoch", "lr",
    *(f"loss_{h}" for h in HEADS), "loss_total",
    "validated", *(f"val_miou_{h}" for h in HEADS), "val_score",
    "seconds", "images_per_s", "peak_mem_mb",
)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<run_dir>/.lock`` (released by the OS if the process dies).

    Raises:
        RunError: another process holds the lock.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / ".lock", "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise RunError(
                f"run dir '{run_dir}' is being trained by another process (pid {fh.read().strip() or '?'}); wait "
                f"for it to finish, or stop it before resuming"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def read_run_info(run_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of ``run_dir``.

    Raises:
        RunError: the folder has no readable ``run.json``.
    """
    path = Path(run_dir) / "run.json"
    return read_record(path, RunError,
                       missing=f"'{run_dir}' is not a run directory (no run.json); train it with train_run first",
                       invalid=f"'{path}' is not valid JSON ({{exc}}); delete the run dir or re-run with force=True")


def update_run_info(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``run.json`` and write it atomically; returns the new content."""
    info = read_run_info(run_dir)
    info.update(fields)
    atomic_write_json(run_dir / "run.json", info)
    return info


#: What a run directory holds (``eval/`` is written by the evaluation, ``figures/`` by notebook 02); a forced
#: restart removes these and nothing else.
RUN_ENTRIES = ("run.json", "history.csv", "checkpoints", "eval", "figures")


def _clear(run_dir: Path) -> None:
    for name in RUN_ENTRIES:
        entry = run_dir / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()


def prepare_run_dir(run_dir: Path, info: dict[str, Any], force: bool) -> str:
    """Apply the run-directory rules (module docstring) and write ``run.json`` with status ``running``.

    Call it while holding :func:`run_lock`.

    Args:
        run_dir: the run directory.
        info: the new run's ``run.json`` content (with ``params_hash``; status and timestamps are set here).
        force: start over even when the run is finished or was made with other parameters.

    Returns:
        ``"finished"`` (nothing to do), ``"new"`` (fresh start) or ``"resume"``.

    Raises:
        RunError: ``run.json`` has another params hash and ``force`` is False.
    """
    path = run_dir / "run.json"
    others = sorted(p.name for p in run_dir.iterdir() if p.name != ".lock")
    if not path.is_file() and others and not force:
        raise RunError(
            f"run dir '{run_dir}' is not empty ({others[:5]}) but holds no run.json, so it is not a run directory; "
            f"choose a new or empty folder, or pass force=True to remove {list(RUN_ENTRIES)} there and start"
        )
    if path.is_file():
        old = read_run_info(run_dir)
        same = old.get("params_hash") == info["params_hash"]
        if not force:
            if not same:
                raise RunError(
                    f"run dir '{run_dir}' holds a run with params hash {old.get('params_hash')!r} "
                    f"(variant {old.get('variant')!r}, seed {old.get('seed')!r}), but these parameters hash to "
                    f"{info['params_hash']!r}; choose another run_dir, or pass force=True to overwrite it"
                )
            if old.get("status") == "finished":
                return "finished"
            entry = {"at": utc_timestamp(), "git_commit": info.get("git_commit"), "previous_status": old.get("status"),
                     "previous_error": old.get("error")}
            atomic_write_json(path, {**old, "status": "running", "finished": None, "error": None,
                                     "resumed": [*old.get("resumed", []), entry]})
            return "resume"
    _clear(run_dir)
    atomic_write_json(path, {**info, "status": "running", "started": utc_timestamp(), "finished": None,
                             "best_checkpoint": None, "error": None, "resumed": []})
    return "new"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_history(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``history.csv`` (columns :data:`HISTORY_COLUMNS`; NaN as an empty cell) atomically.

    Floats are written with ``repr`` so values read back bit-for-bit.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in rows:
        writer.writerow([_fmt(row[c]) for c in HISTORY_COLUMNS])
    atomic_write_text(run_dir / "history.csv", buf.getvalue())


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """``history.csv`` of ``run_dir`` as a DataFrame (columns :data:`HISTORY_COLUMNS`, NaN for empty cells).

    Raises:
        RunError: the run has no ``history.csv`` yet.
    """
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        raise RunError(f"'{run_dir}' has no history.csv; the run has not finished an epoch yet (train_run)")
    return pd.read_csv(path, dtype={"stage_name": str})
