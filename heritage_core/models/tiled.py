"""Whole-image prediction: per-head logits at the image's cached resolution, by sliding windows.

The one scale rule of the project (README, "Scale"): a model is trained on crops of the cached image at its own
scale, and validation (model selection) and testing predict the cached image at that same scale, with this
function, so an object of 40 px in the cache is about 40 px in every network input.

Square tiles of ``tile`` px are laid over the image with a fractional ``overlap``; tile origins step by
``round(tile * (1 - overlap))`` px and the last tile of each row/column is pushed back to end at the image
border, so every pixel is covered. Logits are summed per pixel and divided by the number of tiles covering it.
An image smaller than a tile is padded bottom/right with black (as training crops are) and the padding is
cropped away. Tiles go through the model ``batch_size`` at a time.

The model runs in eval mode under ``torch.inference_mode`` (its previous mode is restored afterwards). Numeric
precision: with ``amp`` on a CUDA device, bf16 autocast (the training precision); otherwise float32 (``amp`` is
ignored on the CPU, where training runs in float32 too). Logits are returned as float32 on the CPU.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from heritage_core.data.loader import normalise_image
from heritage_core.errors import ConfigError, DataError, ModelError

__all__ = ["tile_origins", "predict_logits", "precision_name"]


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets (px) of the tiles covering ``[0, length)`` along one axis.

    Args:
        length: extent of the (padded) image along the axis, px; at least ``tile``.
        tile: tile side, px.
        overlap: fraction of a tile shared with its neighbour, in [0, 1).

    Returns:
        Increasing offsets ``0, s, 2s, ...`` with ``s = max(1, round(tile * (1 - overlap)))``, the last one
        moved to ``length - tile`` so the tiles end at the border.
    """
    stride = max(1, round(tile * (1.0 - overlap)))
    count = math.ceil((length - tile) / stride) + 1
    return sorted({min(i * stride, length - tile) for i in range(count)})


def _forward(model: nn.Module, batch: Tensor, amp: bool) -> dict[str, Tensor]:
    """One forward pass; logits as float32, checked to be (N, C, H, W) at the input resolution."""
    with torch.autocast("cuda", dtype=torch.bfloat16) if amp and batch.device.type == "cuda" else contextlib.nullcontext():
        out = model(batch)
    if not isinstance(out, dict) or not out:
        raise ModelError(f"predict_logits: the model returned {type(out).__name__}; expected a dict head -> logits (N, C, H, W)")
    for head, logits in out.items():
        if logits.ndim != 4 or logits.shape[0] != batch.shape[0] or logits.shape[2:] != batch.shape[2:]:
            raise ModelError(
                f"predict_logits: head '{head}' returned logits of shape {tuple(logits.shape)} for an input of "
                f"shape {tuple(batch.shape)}; expected (N, C, {batch.shape[2]}, {batch.shape[3]})"
            )
    return {head: logits.float() for head, logits in out.items()}


def _batches(items: list[tuple[int, int]], size: int) -> Iterator[list[tuple[int, int]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _predict_sliding(
    model: nn.Module, image: np.ndarray, tile: int, overlap: float, batch_size: int, device: torch.device, amp: bool
) -> dict[str, Tensor]:
    height, width = image.shape[:2]
    padded_h, padded_w = max(height, tile), max(width, tile)
    canvas = np.zeros((padded_h, padded_w, 3), dtype=np.uint8)
    canvas[:height, :width] = image
    x = normalise_image(canvas).to(device)
    origins = [(y, x0) for y in tile_origins(padded_h, tile, overlap) for x0 in tile_origins(padded_w, tile, overlap)]
    sums: dict[str, Tensor] = {}
    count = torch.zeros((padded_h, padded_w), device=device)
    for group in _batches(origins, batch_size):
        batch = torch.stack([x[:, y:y + tile, x0:x0 + tile] for y, x0 in group])
        logits = _forward(model, batch, amp)
        for head, value in logits.items():
            acc = sums.setdefault(head, torch.zeros((value.shape[1], padded_h, padded_w), device=device))
            for k, (y, x0) in enumerate(group):
                acc[:, y:y + tile, x0:x0 + tile] += value[k]
        for y, x0 in group:
            count[y:y + tile, x0:x0 + tile] += 1
    return {head: (acc / count)[:, :height, :width].cpu() for head, acc in sums.items()}


def precision_name(device: str | torch.device, amp: bool) -> str:
    """The numeric precision :func:`predict_logits` (and the trainer) run in: ``bf16`` or ``fp32``."""
    return "bf16" if amp and torch.device(device).type == "cuda" else "fp32"


def predict_logits(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile: int,
    overlap: float = 0.25,
    device: str | torch.device = "cpu",
    amp: bool = False,
    batch_size: int = 8,
) -> dict[str, Tensor]:
    """Per-head logits of one image at its own (cached) resolution, by sliding windows (module docstring).

    Args:
        model: module mapping (N, 3, h, w) normalised images to a dict head -> logits (N, C, h, w); it must
            already be on ``device``.
        image: RGB image as cached, uint8.
        tile: tile side, px: the training crop side (``img_size``), so the model sees the training scale.
        overlap: fraction of a tile shared with its neighbour, in [0, 1).
        device: device to run the model on.
        amp: bf16 autocast on CUDA (ignored on the CPU).
        batch_size: tiles per forward pass.

    Returns:
        dict head -> float32 CPU logits.

    Shapes:
        image: (H, W, 3) uint8 -> each head (C_head, H, W).

    Raises:
        ConfigError: a non-positive ``tile``/``batch_size``, an ``overlap`` outside [0, 1), or a model whose
            parameters are not on ``device``.
        DataError: ``image`` is not a uint8 (H, W, 3) array.
        ModelError: the model's output is not a dict of (N, C, h, w) logits at the input resolution.
    """
    for name, value in (("tile", tile), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"predict_logits: {name} is {value!r}; it must be a positive integer")
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"predict_logits: overlap is {overlap!r}; it must be a fraction in [0, 1), e.g. 0.25")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        seen = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise DataError(f"predict_logits: image must be a uint8 (H, W, 3) RGB array as cached, got {seen}")
    device = torch.device(device)
    param = next(model.parameters(), None)
    if param is not None and param.device.type != device.type:
        raise ConfigError(f"predict_logits: the model is on {param.device} but device is {device}; call model.to(device) first")
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return _predict_sliding(model, image, tile, overlap, batch_size, device, amp)
    finally:
        model.train(was_training)
