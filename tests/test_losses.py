"""Tests of heritage_core.train.losses with values worked out by hand on 4-pixel examples."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_loader import write_cache

from heritage_core.data.loader import SegmentationDataset
from heritage_core.errors import ConfigError, DataError, ModelError
from heritage_core.train.losses import (
    DiceFocalLoss,
    HierarchicalLoss,
    class_weights_from_counts,
    class_weights_record,
    compute_class_weights,
    dice_loss,
    focal_loss,
    pixel_counts,
)
from heritage_core.taxonomy import IGNORE_INDEX

LOG3 = math.log(3.0)


def logits_from_probs(probs: list[list[float]]) -> torch.Tensor:
    """(1, C, 1, P) logits whose softmax over classes is ``probs`` (P pixels x C classes)."""
    return torch.tensor(probs, dtype=torch.float64).log().T[None, :, None, :].contiguous()


def target(labels: list[int]) -> torch.Tensor:
    return torch.tensor(labels)[None, None, :]


def test_perfect_prediction_gives_zero_dice() -> None:
    logits = torch.full((1, 3, 1, 4), -1e4)
    labels = [0, 2, 2, 1]
    for px, c in enumerate(labels):
        logits[0, c, 0, px] = 1e4
    assert dice_loss(logits, target(labels)).item() == 0.0
    assert focal_loss(logits, target(labels)).item() == 0.0


def test_dice_by_hand() -> None:
    # 2 classes, 4 pixels; p(class 1) = 1, 1, 0, 0.5 and targets 1, 0, 0, 1.
    logits = logits_from_probs([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    t = target([1, 0, 0, 1])
    # class 0: I = 0 + 1 = 1, P = 0 + 0 + 1 + 0.5 = 1.5, T = 2 -> 2/3.5 = 4/7
    # class 1: I = 1 + 0.5 = 1.5, P = 2.5, T = 2 -> 3/4.5 = 2/3
    expected = 1 - (4 / 7 + 2 / 3) / 2
    assert dice_loss(logits, t).item() == pytest.approx(expected, abs=1e-9)


def test_absent_classes_do_not_dilute_dice() -> None:
    # 3 classes, class 2 never in the target: the loss is the mean over classes 0 and 1 only.
    probs = [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.25, 0.5, 0.25]]
    t = target([0, 1, 0, 1])
    # class 0: I = 0.5 + 1 = 1.5, P = 1.75, T = 2 -> 3/3.75 = 0.8
    # class 1: I = 1 + 0.5 = 1.5, P = 2.0, T = 2 -> 3/4 = 0.75
    eps = 1e-12  # log(0) guard for the stand-in logits
    logits = logits_from_probs([[max(p, eps) for p in row] for row in probs])
    assert dice_loss(logits, t).item() == pytest.approx(1 - (0.8 + 0.75) / 2, abs=1e-9)


def test_focal_by_hand() -> None:
    # p_t = 1/2, 1/2, 1 (ignored pixel last): terms (1/2)^2 log 2 twice and 0, mean over the 3 valid pixels.
    logits = logits_from_probs([[0.5, 0.5], [0.5, 0.5], [1e-12, 1 - 1e-12], [0.9, 0.1]])
    t = target([0, 1, 1, IGNORE_INDEX])
    expected = 2 * 0.25 * math.log(2) / 3
    assert focal_loss(logits, t).item() == pytest.approx(expected, abs=1e-9)
    # gamma = 0 is cross-entropy; class weights scale each pixel's term by a_{t}
    assert focal_loss(logits, t, gamma=0.0).item() == pytest.approx(2 * math.log(2) / 3, abs=1e-9)
    weighted = focal_loss(logits, t, class_weights=torch.tensor([3.0, 1.0]))
    assert weighted.item() == pytest.approx((3 + 1) * 0.25 * math.log(2) / 3, abs=1e-9)
    # three classes, uniform prediction: (2/3)^2 log 3 per pixel
    uniform = torch.zeros(1, 3, 1, 4)
    assert focal_loss(uniform, target([0, 1, 2, 2])).item() == pytest.approx(4 / 9 * LOG3, rel=1e-6)


def test_dice_focal_mix() -> None:
    logits = logits_from_probs([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    t = target([0, 0, 1, 1])
    # Dice_c = 2*1 / (2 + 2) = 0.5 for both classes; focal = 0.25 log 2
    assert DiceFocalLoss()(logits, t).item() == pytest.approx(0.5 + 0.25 * math.log(2), abs=1e-9)
    assert DiceFocalLoss(dice_weight=2.0, focal_weight=0.0)(logits, t).item() == pytest.approx(1.0, abs=1e-9)


def test_all_ignored_gives_zero_loss_and_zero_grad() -> None:
    logits = {h: torch.randn(2, c, 4, 4, requires_grad=True) for h, c in (("binary", 2), ("coarse", 5), ("fine", 16))}
    targets = {h: torch.full((2, 4, 4), IGNORE_INDEX) for h in logits}
    total, per_head = HierarchicalLoss()(logits, targets)
    total.backward()
    assert total.item() == 0.0 and per_head == {"binary": 0.0, "coarse": 0.0, "fine": 0.0}
    for value in logits.values():
        assert torch.equal(value.grad, torch.zeros_like(value))


def test_ignored_pixels_do_not_influence_the_loss() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 6, 6, requires_grad=True)
    t = torch.randint(0, 5, (2, 6, 6))
    t[:, :2] = IGNORE_INDEX
    loss = DiceFocalLoss()
    base = loss(logits, t)
    base.backward()
    assert (logits.grad[:, :, :2] == 0).all() and (logits.grad[:, :, 2:] != 0).any()
    changed = logits.detach().clone()
    changed[:, :, :2] = torch.randn(2, 5, 2, 6) * 100
    assert loss(changed, t).item() == base.item()


def test_hierarchical_weights_combine_per_head_losses() -> None:
    torch.manual_seed(1)
    logits = {h: torch.randn(1, c, 3, 3) for h, c in (("binary", 2), ("coarse", 5), ("fine", 16))}
    targets = {h: torch.randint(0, logits[h].shape[1], (1, 3, 3)) for h in logits}
    total, per_head = HierarchicalLoss()(logits, targets)
    single = {h: DiceFocalLoss()(logits[h], targets[h]).item() for h in logits}
    assert per_head == pytest.approx(single, abs=1e-6)
    assert total.item() == pytest.approx(0.2 * single["binary"] + 0.3 * single["coarse"] + 1.0 * single["fine"], abs=1e-5)
    # a stage with the binary head alone ignores the others, even when they are missing
    total_b, per_b = HierarchicalLoss(heads=("binary",))({"binary": logits["binary"]}, targets)
    assert list(per_b) == ["binary"] and total_b.item() == pytest.approx(0.2 * single["binary"], abs=1e-6)
    with pytest.raises(ModelError, match=r"\['coarse', 'fine'\]"):
        HierarchicalLoss()({"binary": logits["binary"]}, targets)
    with pytest.raises(DataError, match="lacks"):
        HierarchicalLoss()(logits, {"binary": targets["binary"]})
    with pytest.raises(ConfigError, match="unknown heads"):
        HierarchicalLoss(heads=("binary", "material"))


def test_out_of_range_target_is_an_error() -> None:
    with pytest.raises(DataError, match=r"\[7\]"):
        dice_loss(torch.zeros(1, 2, 1, 2), torch.tensor([[[0, 7]]]))


def test_binary_level_items_feed_only_the_binary_term(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cache = write_cache(tmp_path / "cache", [
        {"id": "painting", "image": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
         "mask": rng.integers(0, 16, (8, 8), dtype=np.uint8)},
        {"id": "film", "image": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
         "mask": rng.integers(0, 2, (8, 8), dtype=np.uint8), "label_level": "binary"},
    ])
    batch = [SegmentationDataset(cache, ["painting", "film"], img_size=8, train=False)[i] for i in range(2)]
    targets = {h: torch.stack([item[h] for item in batch]) for h in ("binary", "coarse", "fine")}
    torch.manual_seed(2)
    logits = {h: torch.randn(2, c, 8, 8, requires_grad=True) for h, c in (("binary", 2), ("coarse", 5), ("fine", 16))}
    total, per_head = HierarchicalLoss()(logits, targets)
    total.backward()
    # the film (item 1) gets gradient on the binary head only
    assert (logits["binary"].grad[1] != 0).any()
    assert (logits["coarse"].grad[1] == 0).all() and (logits["fine"].grad[1] == 0).all()
    # its coarse/fine logits can be anything: the loss does not move
    changed = {h: v.detach().clone() for h, v in logits.items()}
    changed["coarse"][1] += 50.0
    changed["fine"][1] -= 50.0
    assert HierarchicalLoss()(changed, targets)[1] == per_head


def test_class_weights_by_hand(tmp_path: Path) -> None:
    # counts 64, 16, 4, 0: f = 64/84, 16/84, 4/84
    # inverse_sqrt: 1/sqrt(f) proportional to 1/8, 1/4, 1/2 -> / mean (7/24) = 3/7, 6/7, 12/7; absent -> 1
    w = class_weights_from_counts([64, 16, 4, 0], "inverse_sqrt")
    assert w.tolist() == pytest.approx([3 / 7, 6 / 7, 12 / 7, 1.0])
    # median_frequency: median f = 16/84 -> 1/4, 1, 4 -> / mean (7/4) = 1/7, 4/7, 16/7
    w = class_weights_from_counts([64, 16, 4, 0], "median_frequency")
    assert w.tolist() == pytest.approx([1 / 7, 4 / 7, 16 / 7, 1.0])
    with pytest.raises(ConfigError, match="median_frequency"):
        class_weights_from_counts([1, 2], "inverse")
    with pytest.raises(DataError, match="no labelled pixel"):
        class_weights_from_counts([0, 0], "inverse_sqrt")
    # from a cache: fine labels {0: 3, 1: 1} + ignore on one fine item, a binary item adds to binary only
    cache = write_cache(tmp_path / "cache", [
        {"id": "a", "image": np.zeros((1, 5, 3), np.uint8), "mask": np.array([[0, 0, 0, 1, 255]], np.uint8)},
        {"id": "b", "image": np.zeros((1, 4, 3), np.uint8), "mask": np.array([[1, 1, 1, 255]], np.uint8),
         "label_level": "binary"},
    ])
    assert pixel_counts(cache, ["a", "b"], "binary").tolist() == [3, 4]  # Material loss (1) is damage
    assert pixel_counts(cache, ["a", "b"], "fine")[:3].tolist() == [3, 1, 0]
    assert pixel_counts(cache, ["a"], "coarse").sum() == 4
    w = compute_class_weights(cache, ["a", "b"], "binary", method="median_frequency")
    # f = 3/7, 4/7; median 1/2 -> 7/6, 7/8 -> mean 49/48 -> 8/7, 6/7
    assert w.tolist() == pytest.approx([8 / 7, 6 / 7])
    record = class_weights_record([3, 4], "binary", "median_frequency")
    assert record["classes"]["clean"] == {"weight": pytest.approx(8 / 7), "pixels": 3}
    assert record["formula"].startswith("w_c = median")


def test_class_weights_enter_the_loss() -> None:
    logits = torch.zeros(1, 2, 1, 4)
    t = target([0, 0, 0, 1])
    plain = HierarchicalLoss(heads=("fine",))({"fine": logits}, {"fine": t})[1]["fine"]
    weighted = HierarchicalLoss(heads=("fine",), class_weights={"fine": torch.tensor([1.0, 5.0])})({"fine": logits}, {"fine": t})
    # focal term per pixel 0.25 log 2; weights add (5 - 1) * 0.25 log 2 / 4 to the mean
    assert weighted[1]["fine"] - plain == pytest.approx(0.25 * math.log(2), abs=1e-6)
    with pytest.raises(ConfigError, match="not in heads"):
        HierarchicalLoss(heads=("fine",), class_weights={"binary": torch.ones(2)})
