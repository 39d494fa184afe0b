"""Checkpoints: atomic saves, ``weights_only`` loads, and the random-number state that makes resume exact.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(path, weights_only=True)``. Keys:

``model`` (state dict), ``optimizer``, ``scheduler``, ``rng`` (:func:`capture_rng_state`), ``stage`` (1-based),
``stage_name``, ``epoch`` (epochs of the stage finished), ``step_in_epoch`` (0 at an epoch boundary; else the
number of batches of epoch ``epoch + 1`` already trained, after a preemption), ``loader_rng`` (the loader
generator's state at the start of the current epoch), ``partial`` (running sums of the interrupted epoch),
``best`` ({"epoch", "score"} of the stage so far), ``history`` (rows of ``history.csv`` so far),
``params_hash``.
"""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from heritage_core.errors import RunError

__all__ = [
    "capture_rng_state",
    "restore_rng_state",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_path",
]


def _file_mode() -> int:
    """Permissions of a new file under the current umask (mkstemp would leave 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def checkpoint_path(run_dir: str | Path, stage: int, kind: str) -> Path:
    """``<run_dir>/checkpoints/stage{stage}_{kind}.pt`` with ``kind`` ``last`` or ``best``."""
    return Path(run_dir) / "checkpoints" / f"stage{stage}_{kind}.pt"


def capture_rng_state(loader_generator: torch.Generator | None = None) -> dict[str, Any]:
    """The states of python's, numpy's, torch's (CPU and CUDA) and the loader's generators.

    Stored as lists and uint8 tensors so a ``weights_only`` load reads them.

    Args:
        loader_generator: the ``torch.Generator`` of the training loader (shuffling and worker seeds), or None.

    Returns:
        A dict for :func:`restore_rng_state`.
    """
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader_generator.get_state() if loader_generator is not None else None,
    }
    return state


def restore_rng_state(state: dict[str, Any], loader_generator: torch.Generator | None = None) -> None:
    """Put every generator back into the state :func:`capture_rng_state` recorded.

    CUDA states are restored only when the same number of devices is visible (a run resumed on another
    machine continues with fresh CUDA generators).
    """
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({
        "bit_generator": "MT19937",
        "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": int(np_state["pos"])},
        "has_gauss": int(np_state["has_gauss"]),
        "gauss": float(np_state["gauss"]),
    })
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if loader_generator is not None and state.get("loader") is not None:
        loader_generator.set_state(state["loader"])


def save_checkpoint(payload: dict[str, Any], paths: list[Path]) -> None:
    """Write ``payload`` to each of ``paths`` atomically (temporary file in the same folder, fsync, rename).

    The payload is serialised once; further paths get a copy of the file, each renamed into place.
    """
    first = Path(paths[0])
    first.parent.mkdir(parents=True, exist_ok=True)
    for target in paths:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                if target == first:
                    torch.save(payload, fh)
                else:
                    with open(first, "rb") as src:
                        shutil.copyfileobj(src, fh, 1 << 22)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def load_checkpoint(path: str | Path, expected_hash: str | None = None) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` onto the CPU.

    Args:
        path: the ``.pt`` file.
        expected_hash: the run's params hash; a checkpoint written for other parameters is refused.

    Returns:
        The checkpoint dict (see the module docstring).

    Raises:
        RunError: the file is missing or unreadable, or was written for another params hash.
    """
    p = Path(path)
    if not p.is_file():
        raise RunError(f"checkpoint '{p}' does not exist; train the run first (train_run) or check run_dir")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise RunError(
            f"checkpoint '{p}' cannot be read ({type(exc).__name__}: {exc}); delete it to resume from the "
            f"previous checkpoint, or re-run with force=True"
        ) from exc
    if expected_hash is not None and ckpt.get("params_hash") != expected_hash:
        raise RunError(
            f"checkpoint '{p}' was written for params hash {ckpt.get('params_hash')!r}, but the run has "
            f"{expected_hash!r}; re-run with force=True to start over"
        )
    return ckpt
