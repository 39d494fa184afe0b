"""Data-parallel training under ``torchrun``: process group, device, and rank-0 decisions shared with all ranks.

``torchrun --nproc_per_node=4 -m heritage_core.train --config run.yaml`` starts one process per GPU; each
finds ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment. The trainer then wraps the model in
``DistributedDataParallel``, gives each rank its share of the training items (``DistributedSampler``),
and keeps everything that writes or scores on rank 0: ``run.json``, checkpoints, ``history.csv`` and the
validation pass (single-process, so no image is counted twice by a padding sampler). Other ranks wait at
a barrier and then read what rank 0 wrote (the run directory must be on a shared filesystem).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from heritage_core.errors import ConfigError, RunError

__all__ = ["DistContext", "init_distributed", "resolve_device"]

T = TypeVar("T")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device for a config's ``device`` (``auto`` picks ``cuda:<local_rank>`` when available).

    Raises:
        ConfigError: CUDA asked for but not available.
    """
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"TrainConfig.device = '{name}' but CUDA is not available here; use 'auto' or 'cpu'")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


@dataclass
class DistContext:
    """Where this process stands in a (possibly single-process) job.

    Attributes:
        rank: global rank (0 when not distributed).
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU).
        owns_group: whether this context initialised the process group (and destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes and evaluates."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.distributed:
            dist.barrier()

    def any_flag(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is True on any rank."""
        if not self.distributed:
            return flag
        t = torch.tensor([1 if flag else 0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, by rank (``[obj]`` in a single process)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 and hand its result (or its error, as a RunError) to every rank."""
        if not self.distributed:
            return fn()
        box: list[Any] = [None, None]
        if self.is_main:
            try:
                box[0] = fn()
            except Exception as exc:
                box[1] = f"{type(exc).__name__}: {exc}"
                dist.broadcast_object_list(box, src=0)
                raise
        dist.broadcast_object_list(box, src=0)
        if box[1] is not None:
            raise RunError(f"rank 0 failed: {box[1]}")
        return box[0]

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device_name: str) -> DistContext:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, gloo on CPU).

    Args:
        device_name: the config's ``device``; decides the backend.

    Returns:
        The context (single-process when ``WORLD_SIZE`` is unset or 1).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local)
    owns = not dist.is_initialized()
    if owns:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local, owns_group=owns)
