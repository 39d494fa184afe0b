"""One optimiser step as the trainer runs it, and the optimiser and schedule of a stage.

AdamW with decoupled weight decay on weights with >= 2 dimensions only (the fused kernel on CPU and CUDA), a
linear warm-up then cosine schedule stepped per optimiser step, and :func:`train_step`: forward (bf16 autocast on
CUDA), the loss in float32, a check that it is finite, backward, optional gradient clipping, step.
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from heritage_core.errors import RunError
from heritage_core.train.losses import HierarchicalLoss
from heritage_core.train.variants import Stage, warmup_cosine

__all__ = ["seed_everything", "build_optimizer", "build_scheduler", "set_train_mode", "train_step"]


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's (CPU and CUDA) global generators with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in decay + no_decay)
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, fused=fused or None)


def build_scheduler(
    optimizer: torch.optim.Optimizer, stage: Stage, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    total = stage.epochs * steps_per_epoch
    warmup = round(stage.warmup_fraction * total)

    def factor(step: int) -> float:
        return warmup_cosine(step, total, warmup)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def set_train_mode(model: nn.Module) -> None:
    """Training mode, except modules whose parameters are all frozen (their BatchNorm statistics stay fixed)."""
    model.train()
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


def train_step(
    model: nn.Module,
    batch: Mapping[str, Any],
    loss_fn: HierarchicalLoss,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    device: torch.device,
    amp: bool = False,
    channels_last: bool = False,
    grad_clip_norm: float | None = None,
) -> tuple[float, dict[str, float]]:
    """One optimiser step, exactly as the trainer runs it.

    Args:
        model: the (possibly DDP-wrapped or compiled) model, in training mode.
        batch: a loader batch: ``image`` and one target per head.
        loss_fn: the stage's loss.
        optimizer: the stage's optimiser.
        scheduler: the stage's schedule, stepped once per call.
        device: where the model lives.
        amp: bf16 autocast for the forward pass (CUDA only; the loss is computed in float32).
        channels_last: send the images in channels-last memory format.
        grad_clip_norm: clip the global gradient L2 norm to this, or None.

    Returns:
        The total loss and each loss head's unweighted loss.

    Raises:
        RunError: the loss is not finite (the message names the batch's item ids).

    Shapes:
        batch["image"]: (N, 3, S, S) float; batch[head]: (N, S, S) int64 with 255 = ignore.
    """
    images = batch["image"].to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    targets = {h: batch[h].to(device, non_blocking=True) for h in loss_fn.heads}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
        logits = model(images)
    total, per_head = loss_fn({h: logits[h].float() for h in loss_fn.heads}, targets)
    value = float(total.detach())
    if not math.isfinite(value):
        raise RunError(
            f"the training loss is {value} (per head {per_head}) on items {list(batch.get('id', []))}; lower the "
            f"stage's lr, set grad_clip_norm, or check these items"
        )
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if grad_clip_norm is not None:
        nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip_norm)
    optimizer.step()
    scheduler.step()
    return value, per_head
