"""The one scale rule: an object of known size in the cache has that size in a training crop (times the scale
jitter), in the validation input and in the evaluation input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from heritage_core.data.cache import open_cache
from heritage_core.data.loader import SegmentationDataset
from heritage_core.evaluation.evaluate import evaluate_partition
from heritage_core.train.config import TrainConfig
from heritage_core.train.loop import validate
from tests.test_loader import write_cache

SIDE = 20  # object side in the cache, px
ORIGIN = 20  # its top-left corner, px (inside the first 64-px tile)
CRACKS = 9


def object_cache(root: Path) -> Path:
    """Two 160 x 160 grey items with a red SIDE x SIDE square labelled Cracks; the rest is Clean."""
    items = []
    for k in range(2):
        image = np.full((160, 160, 3), 128, np.uint8)
        mask = np.zeros((160, 160), np.uint8)
        image[ORIGIN:ORIGIN + SIDE, ORIGIN:ORIGIN + SIDE] = (255, 0, 0)
        mask[ORIGIN:ORIGIN + SIDE, ORIGIN:ORIGIN + SIDE] = CRACKS
        items.append({"id": f"obj{k}", "image": image, "mask": mask})
    return write_cache(root, items)


def red(x: torch.Tensor) -> torch.Tensor:
    """Pixels of a normalised (3, h, w) input that were pure red: G far below the grey of 128."""
    return x[1] < -1.5


def extent(region: torch.Tensor) -> tuple[int, int] | None:
    """(height, width) of the bounding box of ``region`` when it lies inside the frame without touching its
    border (so the whole object is visible); None otherwise."""
    rows, cols = torch.where(region)
    if len(rows) == 0:
        return None
    top, bottom, left, right = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
    h, w = region.shape
    if top == 0 or left == 0 or bottom == h - 1 or right == w - 1:
        return None
    return bottom - top + 1, right - left + 1


class SpyModel(nn.Module):
    """Records every input batch; predicts Clean everywhere at the input's size."""

    heads = ("binary", "coarse", "fine")

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.inputs.append(x.detach().clone())
        n, _, h, w = x.shape
        out = {}
        for head, classes in (("binary", 2), ("coarse", 5), ("fine", 16)):
            logits = torch.zeros(n, classes, h, w)
            logits[:, 0] = 1.0
            out[head] = logits + self.weight
        return out


def object_sizes(model: SpyModel) -> set[tuple[int, int]]:
    return {e for batch in model.inputs for x in batch if (e := extent(red(x))) is not None}


def test_an_object_keeps_its_size_in_training_validation_and_evaluation(tmp_path: Path) -> None:
    cache = open_cache(object_cache(tmp_path / "cache"))
    cfg = TrainConfig.from_dict({"cache_dir": str(cache.root), "manifest_path": str(tmp_path / "m.json"),
                                 "run_dir": str(tmp_path / "run"), "encoder": "resnet10t", "img_size": 64,
                                 "overlap": 0.0})
    assert cfg.eval_tile == cfg.img_size == 64  # validation and test tiles are the training crop side

    # training crops without jitter: the object is SIDE px, in the image and in the mask alike
    fixed = SegmentationDataset(cache, ["obj0"], cfg.img_size, train=True,
                                augment={"scale_range": (1.0, 1.0), "color_jitter_p": 0.0, "damage_crop_p": 1.0})
    sizes = set()
    for seed in range(40):
        item = fixed[(0, seed)]
        assert item["image"].shape == (3, 64, 64)
        if (e := extent(item["fine"] == CRACKS)) is not None:
            assert extent(red(item["image"])) == e
            sizes.add(e)
    assert sizes == {(SIDE, SIDE)}
    # with the default jitter (0.75 .. 1.33 around the cache scale) it stays within those factors
    jittered = SegmentationDataset(cache, ["obj0"], cfg.img_size, train=True, augment={"damage_crop_p": 1.0})
    sides = [s for seed in range(60) if (e := extent(jittered[(0, seed)]["fine"] == CRACKS)) for s in e]
    assert sides and all(int(0.75 * SIDE) <= s <= round(1.33 * SIDE) + 1 for s in sides)
    assert len(set(sides)) > 1  # jitter happens

    # validation (model selection) sees the cached image through SIDE-preserving sliding windows
    spy = SpyModel()
    scores = validate(spy, cache, ["obj0", "obj1"], tile=cfg.eval_tile, overlap=cfg.overlap, device=torch.device("cpu"))
    assert {tuple(b.shape[2:]) for b in spy.inputs} == {(64, 64)}
    assert object_sizes(spy) == {(SIDE, SIDE)}
    assert 0 < scores["fine"] < 1

    # the final evaluation predicts with the same windows
    spy = SpyModel()
    result = evaluate_partition(spy, cache, ["obj0", "obj1"], tile=cfg.eval_tile, overlap=cfg.overlap)
    assert {tuple(b.shape[2:]) for b in spy.inputs} == {(64, 64)}
    assert object_sizes(spy) == {(SIDE, SIDE)}
    assert result.counts["fine"].ids == ["obj0", "obj1"]
