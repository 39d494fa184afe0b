"""Tests of heritage_core.inference: resize vs sliding, tile placement, overlap averaging, output size."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from heritage_core.data.loader import letterbox, normalise_image
from heritage_core.errors import ConfigError, DataError, ModelError
from heritage_core.inference import predict_logits, tile_origins
from heritage_core.losses import HierarchicalLoss


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


def test_sliding_equals_resize_for_one_tile() -> None:
    torch.manual_seed(0)
    model = ImageHeads()
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    resize = predict_logits(model, image, mode="resize", img_size=32)
    sliding = predict_logits(model, image, mode="sliding", img_size=32)
    assert resize.keys() == sliding.keys() == {"binary", "fine"}
    for head in resize:
        assert torch.equal(resize[head], sliding[head])
    assert torch.allclose(resize["fine"], normalise_image(image))


def test_tiles_are_placed_where_they_belong() -> None:
    # the model echoes its input, and the input encodes the absolute coordinates: any misplaced or
    # mis-cropped tile would show a wrong coordinate
    image = coordinate_image(45, 70)
    out = predict_logits(ImageHeads(), image, mode="sliding", img_size=16, overlap=0.3, batch_size=3)
    assert out["fine"].shape == (3, 45, 70)
    assert torch.allclose(out["fine"], normalise_image(image), atol=1e-5)


def test_overlap_averaging_by_hand() -> None:
    # width 6, tile 4, overlap 0.5: tiles at columns 0-3 and 2-5 give local columns 0..3 each;
    # averages: 0, 1, (2+0)/2, (3+1)/2, 2, 3 (rows: image height 4 = one tile)
    out = predict_logits(LocalColumn(), np.zeros((4, 6, 3), np.uint8), mode="sliding", img_size=4, overlap=0.5)
    assert out["fine"][0, 0].tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0]
    # a position-independent output comes out unchanged, whatever the overlap count
    const = predict_logits(Constant(), np.zeros((37, 29, 3), np.uint8), mode="sliding", img_size=8, tile=8, overlap=0.6)
    assert torch.equal(const["binary"][0], torch.full((37, 29), 1.5)) and torch.equal(const["binary"][1], torch.full((37, 29), -2.0))


@pytest.mark.parametrize("mode", ["resize", "sliding"])
def test_output_size_equals_input_size_for_odd_sizes(mode: str) -> None:
    out = predict_logits(ImageHeads(), np.zeros((37, 53, 3), np.uint8), mode=mode, img_size=32, overlap=0.25)
    assert out["binary"].shape == (2, 37, 53) and out["fine"].shape == (3, 37, 53)
    assert out["binary"].dtype == torch.float32
    small = predict_logits(ImageHeads(), np.zeros((5, 9, 3), np.uint8), mode=mode, img_size=16)
    assert small["fine"].shape == (3, 5, 9)


def test_resize_crops_the_letterbox_padding_away() -> None:
    # a uniform image of value 200: a leak of the black padding into the crop would lower the border values
    image = np.full((48, 20, 3), 200, np.uint8)
    out = predict_logits(ImageHeads(), image, mode="resize", img_size=32)
    assert torch.allclose(out["fine"], normalise_image(image), atol=1e-5)
    # the coordinate image comes back to within a resampling step (bilinear down then up)
    coords = coordinate_image(64, 40)
    back = predict_logits(ImageHeads(), coords, mode="resize", img_size=32)["fine"]
    step = 2.0 / 255 / 0.229  # 2 px of the R ramp, in normalised units
    assert (back[0] - normalise_image(coords)[0]).abs()[2:-2, 2:-2].max() < step


def test_model_mode_is_restored_and_inputs_checked() -> None:
    model = ImageHeads().train()
    predict_logits(model, np.zeros((8, 8, 3), np.uint8), img_size=8)
    assert model.training
    with pytest.raises(ConfigError, match="mode"):
        predict_logits(model, np.zeros((8, 8, 3), np.uint8), mode="tiles", img_size=8)
    with pytest.raises(ConfigError, match="overlap"):
        predict_logits(model, np.zeros((8, 8, 3), np.uint8), mode="sliding", img_size=8, overlap=1.0)
    with pytest.raises(DataError, match="uint8"):
        predict_logits(model, np.zeros((8, 8, 3), np.float32), img_size=8)

    class Shrinks(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"fine": x[:, :, ::2, ::2]}

    with pytest.raises(ModelError, match="'fine'"):
        predict_logits(Shrinks(), np.zeros((8, 8, 3), np.uint8), img_size=8)


def test_with_the_hierarchical_model() -> None:
    models = pytest.importorskip("heritage_core.models")
    torch.manual_seed(0)
    model = models.create_model("hierarchical", "convnext_atto", img_size=64)
    image = np.random.default_rng(1).integers(0, 256, (70, 50, 3), dtype=np.uint8)
    for mode in ("resize", "sliding"):
        out = predict_logits(model, image, mode=mode, img_size=64, overlap=0.25)
        assert {h: tuple(v.shape) for h, v in out.items()} == {"binary": (2, 70, 50), "coarse": (5, 70, 50), "fine": (16, 70, 50)}
        assert all(torch.isfinite(v).all() for v in out.values())
    # the model's heads feed the hierarchical loss, and every head gets a gradient
    x = torch.stack([normalise_image(letterbox(image, 64)[0])] * 2)
    targets = {h: torch.randint(0, c, (2, 64, 64)) for h, c in (("binary", 2), ("coarse", 5), ("fine", 16))}
    total, per_head = HierarchicalLoss()(model(x), targets)
    total.backward()
    assert set(per_head) == {"binary", "coarse", "fine"} and torch.isfinite(total)
    assert all(p.grad is not None for p in model.heads.parameters())
