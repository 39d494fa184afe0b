"""Tests of heritage_core.models.tiled: tile placement, overlap averaging, output size, precision."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from heritage_core.data.loader import normalise_image
from heritage_core.errors import ConfigError, DataError, ModelError
from heritage_core.models.tiled import precision_name, predict_logits, tile_origins
from heritage_core.train.losses import HierarchicalLoss


class ImageHeads(nn.Module):
    """Stand-in model: head ``fine`` returns the input image itself (3 "classes"), ``binary`` a 1x1 conv of it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"binary": self.conv(x), "fine": x.clone()}


class LocalColumn(nn.Module):
    """Stand-in model whose single channel is the column index inside the tile (0 .. w-1)."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, h, w = x.shape
        return {"fine": torch.arange(w, dtype=torch.float32).expand(n, 1, h, w).clone()}


class Constant(nn.Module):
    """Stand-in model predicting the same two logits everywhere."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, h, w = x.shape
        return {"binary": torch.tensor([1.5, -2.0]).view(1, 2, 1, 1).expand(n, 2, h, w).clone()}


def coordinate_image(height: int, width: int) -> np.ndarray:
    """R = column index, G = row index, B = 7 (uint8; height, width <= 256)."""
    yy, xx = np.mgrid[:height, :width]
    return np.stack([xx, yy, np.full_like(xx, 7)], axis=2).astype(np.uint8)


def test_tile_origins_cover_the_axis() -> None:
    assert tile_origins(6, 4, 0.5) == [0, 2]
    assert tile_origins(10, 4, 0.25) == [0, 3, 6]
    assert tile_origins(11, 4, 0.0) == [0, 4, 7]
    assert tile_origins(4, 4, 0.9) == [0]


def test_one_tile_is_one_forward_pass_of_the_whole_image() -> None:
    torch.manual_seed(0)
    model = ImageHeads()
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = predict_logits(model, image, tile=32)
    assert out.keys() == {"binary", "fine"}
    assert torch.allclose(out["fine"], normalise_image(image))
    with torch.no_grad():
        assert torch.allclose(out["binary"], model.conv(normalise_image(image)[None])[0], atol=1e-6)


def test_tiles_are_placed_where_they_belong() -> None:
    # the model echoes its input, and the input encodes the absolute coordinates: any misplaced or
    # mis-cropped tile would show a wrong coordinate
    image = coordinate_image(45, 70)
    out = predict_logits(ImageHeads(), image, tile=16, overlap=0.3, batch_size=3)
    assert out["fine"].shape == (3, 45, 70)
    assert torch.allclose(out["fine"], normalise_image(image), atol=1e-5)


def test_overlap_averaging_by_hand() -> None:
    # width 6, tile 4, overlap 0.5: tiles at columns 0-3 and 2-5 give local columns 0..3 each;
    # averages: 0, 1, (2+0)/2, (3+1)/2, 2, 3 (rows: image height 4 = one tile)
    out = predict_logits(LocalColumn(), np.zeros((4, 6, 3), np.uint8), tile=4, overlap=0.5)
    assert out["fine"][0, 0].tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0]
    # a position-independent output comes out unchanged, whatever the overlap count
    const = predict_logits(Constant(), np.zeros((37, 29, 3), np.uint8), tile=8, overlap=0.6)
    assert torch.equal(const["binary"][0], torch.full((37, 29), 1.5)) and torch.equal(const["binary"][1], torch.full((37, 29), -2.0))


def test_output_size_equals_input_size_for_odd_sizes() -> None:
    out = predict_logits(ImageHeads(), np.zeros((37, 53, 3), np.uint8), tile=32, overlap=0.25)
    assert out["binary"].shape == (2, 37, 53) and out["fine"].shape == (3, 37, 53)
    assert out["binary"].dtype == torch.float32
    # smaller than a tile: padded with black, which is cropped away again
    image = np.full((5, 9, 3), 200, np.uint8)
    small = predict_logits(ImageHeads(), image, tile=16)
    assert small["fine"].shape == (3, 5, 9)
    assert torch.allclose(small["fine"], normalise_image(image), atol=1e-5)


def test_precision_is_bf16_only_with_amp_on_cuda() -> None:
    assert precision_name("cpu", True) == "fp32" and precision_name("cpu", False) == "fp32"
    assert precision_name("cuda", True) == "bf16" and precision_name("cuda:0", False) == "fp32"


def test_model_mode_is_restored_and_inputs_checked() -> None:
    model = ImageHeads().train()
    predict_logits(model, np.zeros((8, 8, 3), np.uint8), tile=8)
    assert model.training
    with pytest.raises(ConfigError, match="tile"):
        predict_logits(model, np.zeros((8, 8, 3), np.uint8), tile=0)
    with pytest.raises(ConfigError, match="overlap"):
        predict_logits(model, np.zeros((8, 8, 3), np.uint8), tile=8, overlap=1.0)
    with pytest.raises(DataError, match="uint8"):
        predict_logits(model, np.zeros((8, 8, 3), np.float32), tile=8)

    class Shrinks(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"fine": x[:, :, ::2, ::2]}

    with pytest.raises(ModelError, match="'fine'"):
        predict_logits(Shrinks(), np.zeros((8, 8, 3), np.uint8), tile=8)


def test_with_the_hierarchical_model() -> None:
    models = pytest.importorskip("heritage_core.models")
    torch.manual_seed(0)
    model = models.create_model("hierarchical", "convnext_atto", img_size=64)
    image = np.random.default_rng(1).integers(0, 256, (70, 50, 3), dtype=np.uint8)
    out = predict_logits(model, image, tile=64, overlap=0.25)
    assert {h: tuple(v.shape) for h, v in out.items()} == {"binary": (2, 70, 50), "coarse": (5, 70, 50), "fine": (16, 70, 50)}
    assert all(torch.isfinite(v).all() for v in out.values())
    # the model's heads feed the hierarchical loss, and every head gets a gradient
    crop = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = torch.stack([normalise_image(crop)] * 2)
    targets = {h: torch.randint(0, c, (2, 64, 64)) for h, c in (("binary", 2), ("coarse", 5), ("fine", 16))}
    total, per_head = HierarchicalLoss()(model(x), targets)
    total.backward()
    assert set(per_head) == {"binary", "coarse", "fine"} and torch.isfinite(total)
    assert all(p.grad is not None for p in model.heads.parameters())
