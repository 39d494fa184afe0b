"""Tests of heritage_core.models: encoder contract, UPerNet models, weights loading, hierarchical inference."""
from __future__ import annotations

import math

import pytest
import torch

from heritage_core.errors import ModelError
from heritage_core.models import (
    PRED_KEYS,
    create_encoder,
    create_model,
    path_log_probs,
    predict,
    violation_counts,
    violation_rate,
)
from heritage_core.taxonomy import HEADS, IGNORE_INDEX

#: (encoder, tested size in px, batch size, channels of the four levels). maxvit_tiny_rw_256 is the
#: slowest case (about 3 s for build and forward on 2 idle CPU cores) and runs at its smallest valid size,
#: 256 px, with one image.
ENCODERS = [
    ("convnext_atto", 64, 2, (40, 80, 160, 320)),
    ("mit_b0", 64, 2, (32, 64, 160, 256)),
    ("maxvit_tiny_rw_256", 256, 1, (64, 128, 256, 512)),
]
NUM_CLASSES = {"binary": 2, "coarse": 5, "fine": 16}


@pytest.fixture(scope="module")
def atto() -> torch.nn.Module:
    """A hierarchical convnext_atto at 64 px, in eval mode (do not modify)."""
    torch.manual_seed(0)
    return create_model("hierarchical", "convnext_atto", img_size=64).eval()


# ------------------------------------------------------------------------------------------- contract
@pytest.mark.parametrize(("encoder", "size", "batch", "channels"), ENCODERS, ids=[e[0] for e in ENCODERS])
def test_hierarchical_contract(encoder: str, size: int, batch: int, channels: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = create_model("hierarchical", encoder, img_size=size, decoder_channels=32).eval()
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        features = model.encoder(x)
        logits = model(x)
    assert model.encoder.reductions == (4, 8, 16, 32)
    assert model.encoder.out_channels == channels
    expected = [(batch, c, size // r, size // r) for c, r in zip(channels, (4, 8, 16, 32))]
    assert [tuple(f.shape) for f in features] == expected
    assert tuple(logits) == HEADS == model.head_names
    for head, n in NUM_CLASSES.items():
        assert logits[head].shape == (batch, n, size, size)
        assert torch.isfinite(logits[head]).all()


def test_flat_has_only_fine_head() -> None:
    model = create_model("flat", "convnext_atto", img_size=64, decoder_channels=32).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64))
    assert tuple(logits) == ("fine",) == model.head_names
    assert logits["fine"].shape == (2, 16, 64, 64)
    assert model.arch == "flat" and model.num_classes == {"fine": 16}


def test_module_names_for_freezing(atto: torch.nn.Module) -> None:
    tops = {name.split(".")[0] for name, _ in atto.named_parameters()}
    assert tops == {"encoder", "decoder", "heads"}
    assert {"heads.binary.weight", "heads.coarse.weight", "heads.fine.weight"} <= dict(atto.named_parameters()).keys()
    assert atto.heads["coarse"].out_channels == 5 and atto.num_classes == NUM_CLASSES


def test_training_step_with_batch_of_one_reaches_every_head() -> None:
    """Batch 1 in train mode: the 1x1 pooling branch has no BatchNorm, so this must not raise."""
    model = create_model("hierarchical", "convnext_atto", img_size=64, decoder_channels=32).train()
    logits = model(torch.randn(1, 3, 64, 64))
    sum(v.mean() for v in logits.values()).backward()
    for name in ("encoder.model.stem_0.weight", "decoder.fuse.0.weight", "heads.binary.weight", "heads.fine.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_channels_last_gives_the_same_logits() -> None:
    torch.manual_seed(0)
    model = create_model("hierarchical", "convnext_atto", img_size=64, decoder_channels=32).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(x)
        model.to(memory_format=torch.channels_last)
        fast = model(x.to(memory_format=torch.channels_last))
    for head in HEADS:
        torch.testing.assert_close(fast[head], reference[head], rtol=1e-4, atol=1e-4)


def test_nhwc_encoder_returns_nchw() -> None:
    """timm's MambaOut returns NHWC features; they come out NCHW (channels_last strides, no copy)."""
    encoder = create_encoder("test_mambaout", img_size=64)
    features = encoder(torch.randn(2, 3, 64, 64))
    expected = [(2, c, 64 // r, 64 // r) for c, r in zip(encoder.out_channels, (4, 8, 16, 32))]
    assert [tuple(f.shape) for f in features] == expected
    assert features[0].is_contiguous(memory_format=torch.channels_last)


def test_stride_two_levels_are_skipped() -> None:
    """ResNets report strides 2, 4, 8, 16, 32; only the last four are kept."""
    encoder = create_encoder("test_resnet", img_size=64)
    assert encoder.model.feature_info.reduction() == [4, 8, 16, 32]
    assert [f.shape[-1] for f in encoder(torch.randn(1, 3, 64, 64))] == [16, 8, 4, 2]


def test_encoder_without_the_strides_is_rejected() -> None:
    with pytest.raises(ModelError, match=r"'test_vit' has feature levels at strides \[16, 16"):
        create_encoder("test_vit", img_size=64)


# ------------------------------------------------------------------------------------------ input sizes
def test_size_not_multiple_of_32_is_rejected_at_construction() -> None:
    with pytest.raises(ModelError, match=r"'convnext_atto' cannot take img_size=100 px.*multiples of 32.*96 px"):
        create_model("hierarchical", "convnext_atto", img_size=100)


def test_maxvit_needs_multiples_of_256() -> None:
    """maxvit_tiny_rw_256 partitions every level in 8x8 windows, so 32 x 8 = 256 divides the sides."""
    with pytest.raises(ModelError, match=r"img_size=384 px.*multiples of 256 .*256 or 512 px"):
        create_model("hierarchical", "maxvit_tiny_rw_256", img_size=384)
    with pytest.raises(ModelError, match=r"img_size=160 px.*Nearest valid size: 256 px"):
        create_encoder("maxvit_tiny_rw_256", img_size=160)


def test_fixed_size_encoder_is_rejected_by_the_trial_pass() -> None:
    message = r"'swin_tiny_patch4_window7_224' cannot take img_size=256 .*Nearest valid size: 224 px"
    with pytest.raises(ModelError, match=message):
        create_encoder("swin_tiny_patch4_window7_224", img_size=256)


def test_forward_rejects_input_off_the_divisor(atto: torch.nn.Module) -> None:
    with pytest.raises(ModelError, match=r"80x64 px.*multiples of 32.*96x64"):
        atto(torch.randn(1, 3, 80, 64))


def test_bad_arguments_name_the_valid_choices() -> None:
    with pytest.raises(ModelError, match="unknown model arch 'tree'; valid are hierarchical, flat"):
        create_model("tree", "convnext_atto", img_size=64)
    with pytest.raises(ModelError, match="Did you mean convnext_tiny"):
        create_model("flat", "convnxt_tiny", img_size=64)
    with pytest.raises(ModelError, match=r"lacks the heads \['binary', 'coarse'\]"):
        create_model("hierarchical", "convnext_atto", img_size=64, num_classes={"fine": 16})
    with pytest.raises(ModelError, match=r"unknown heads \['damage'\]"):
        create_model("flat", "convnext_atto", img_size=64, num_classes={"fine": 16, "damage": 2})
    assert create_model("flat", "convnext_atto", img_size=64, num_classes={"fine": 7}).num_classes == {"fine": 7}


# ------------------------------------------------------------------------------------ pretrained weights
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_encoder_weights_round_trip(tmp_path, atto: torch.nn.Module, suffix: str) -> None:
    from safetensors.torch import save_file

    path = tmp_path / f"encoder{suffix}"
    state = {k: v.contiguous() for k, v in atto.encoder.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    fresh = create_model("hierarchical", "convnext_atto", img_size=64, pretrained=str(path)).eval()
    report = fresh.encoder.weights_report
    assert (report.loaded, report.missing, report.unexpected) == (len(state), (), ())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for got, expected in zip(fresh.encoder(x), atto.encoder(x)):
            torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_full_model_checkpoint_loads_its_encoder(tmp_path, atto: torch.nn.Module) -> None:
    """A whole-model state dict under 'state_dict' with DDP's 'module.' prefix: decoder and heads unused."""
    path = tmp_path / "run.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in atto.state_dict().items()}}, path)
    report = create_encoder("convnext_atto", img_size=64, pretrained=str(path)).weights_report
    assert report.loaded == len(atto.encoder.state_dict()) and report.missing == ()
    assert report.unexpected and all(k.startswith(("module.decoder.", "module.heads.")) for k in report.unexpected)


def test_timm_classification_checkpoint_is_renamed(tmp_path) -> None:
    """timm names 'stem.0.weight', its features_only wrapper 'stem_0.weight'; 'backbone.' is stripped."""
    import timm

    classifier = timm.create_model("convnext_atto", pretrained=False)
    path = tmp_path / "classifier.pth"
    torch.save({f"backbone.{k}": v for k, v in classifier.state_dict().items()}, path)
    encoder = create_encoder("convnext_atto", img_size=64, pretrained=str(path))
    assert encoder.weights_report.missing == ()
    heads = {f"backbone.{k}" for k in classifier.state_dict() if k.startswith("head.")}
    assert set(encoder.weights_report.unexpected) == heads
    torch.testing.assert_close(encoder.model.stem_0.weight, classifier.stem[0].weight, rtol=0, atol=0)
    torch.testing.assert_close(
        encoder.model.stages_3.blocks[1].mlp.fc2.weight, classifier.stages[3].blocks[1].mlp.fc2.weight, rtol=0, atol=0
    )


def test_missing_weights_file_names_path_and_fix(tmp_path) -> None:
    path = tmp_path / "nowhere" / "convnext.safetensors"
    with pytest.raises(ModelError, match=rf"'{path}' does not exist.*use pretrained: null for random init"):
        create_model("hierarchical", "convnext_atto", img_size=64, pretrained=str(path))


def test_incompatible_weights_files_are_errors(tmp_path, atto: torch.nn.Module) -> None:
    unrelated = tmp_path / "unrelated.pt"
    torch.save({"fc.weight": torch.zeros(3, 3), "fc.bias": torch.zeros(3)}, unrelated)
    with pytest.raises(ModelError, match=r"none of the 2 tensors .*unrelated.pt'.*matches encoder 'convnext_atto'"):
        create_encoder("convnext_atto", img_size=64, pretrained=str(unrelated))

    reshaped = tmp_path / "reshaped.pt"
    state = dict(atto.encoder.state_dict())
    state["model.stem_0.weight"] = torch.zeros(40, 4, 4, 4)
    torch.save(state, reshaped)
    with pytest.raises(ModelError, match=r"'model.stem_0.weight' has shape \(40, 4, 4, 4\).*expects \(40, 3, 4, 4\)"):
        create_encoder("convnext_atto", img_size=64, pretrained=str(reshaped))

    garbage = tmp_path / "notes.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="cannot read pretrained weights file"):
        create_encoder("convnext_atto", img_size=64, pretrained=str(garbage))


# ------------------------------------------------------------------------------- hierarchical inference
def _pixel(binary: list[float], coarse: list[float], fine: dict[int, float]) -> list[list[float]]:
    """Probabilities of one pixel per head; fine classes not listed share the remaining mass equally."""
    rest = (1.0 - sum(fine.values())) / (16 - len(fine))
    return [binary, coarse, [fine.get(f, rest) for f in range(16)]]


#: Pixel A: heads say damage / Deposits / Staining (fine 10, coarse Discolouration): a violation.
#: Path products: Dust (3) 0.6 * 0.45 * 0.25 = 0.0675 beats Staining 0.6 * 0.35 * 0.30 = 0.063.
PIXEL_A = _pixel([0.4, 0.6], [0.1, 0.05, 0.45, 0.35, 0.05], {10: 0.30, 3: 0.25, 0: 0.20})
#: Pixel B: heads say clean / Structural / Material loss (1): binary disagrees with coarse.
#: Path products: Clean 0.8 * 0.2 * 0.3 = 0.048 beats Material loss 0.2 * 0.5 * 0.35 = 0.035.
PIXEL_B = _pixel([0.8, 0.2], [0.2, 0.5, 0.1, 0.1, 0.1], {0: 0.30, 1: 0.35})
#: Pixel C: damage / Structural / Cracks (9) agree; path 0.9 * 0.8 * 0.9 = 0.648.
PIXEL_C = _pixel([0.1, 0.9], [0.05, 0.8, 0.05, 0.05, 0.05], {9: 0.9})


@pytest.fixture()
def hand_logits() -> dict[str, torch.Tensor]:
    """Log-probabilities of 2 images of 1x2 px: [[A, B]], [[C, A]] (log-softmax leaves them unchanged)."""
    images = [[PIXEL_A, PIXEL_B], [PIXEL_C, PIXEL_A]]
    logits = {}
    for h, head in enumerate(HEADS):
        values = torch.tensor([[pixel[h] for pixel in image] for image in images], dtype=torch.float64)
        logits[head] = values.log().permute(0, 2, 1).unsqueeze(2)  # (N=2, C, H=1, W=2)
    return logits


def test_independent_prediction_keeps_each_heads_argmax(hand_logits) -> None:
    pred = predict(hand_logits)
    assert tuple(pred) == PRED_KEYS
    assert pred["fine"].tolist() == [[[10, 1]], [[9, 10]]]
    assert pred["coarse"].tolist() == [[[2, 1]], [[1, 2]]]
    assert pred["binary"].tolist() == [[[1, 0]], [[1, 1]]]
    assert pred["coarse_from_fine"].tolist() == [[[3, 1]], [[1, 3]]]  # Staining -> Discolouration
    assert pred["binary_from_fine"].tolist() == [[[1, 1]], [[1, 1]]]
    assert all(p.dtype == torch.int64 for p in pred.values())


def test_consistent_prediction_picks_the_best_path(hand_logits) -> None:
    pred = predict(hand_logits, consistent=True)
    assert pred["fine"].tolist() == [[[3, 0]], [[9, 3]]]  # Dust, Clean, Cracks, Dust
    assert pred["coarse"].tolist() == pred["coarse_from_fine"].tolist() == [[[2, 0]], [[1, 2]]]
    assert pred["binary"].tolist() == pred["binary_from_fine"].tolist() == [[[1, 0]], [[1, 1]]]
    scores = path_log_probs(hand_logits)
    assert scores.shape == (2, 16, 1, 2)
    assert math.isclose(scores[0, 3, 0, 0].item(), math.log(0.6 * 0.45 * 0.25), rel_tol=1e-6)
    assert math.isclose(scores[0, 10, 0, 0].item(), math.log(0.6 * 0.35 * 0.30), rel_tol=1e-6)
    assert violation_counts(pred) == (0, 4)


def test_flat_logits_derive_upper_levels(hand_logits) -> None:
    pred = predict({"fine": hand_logits["fine"]}, consistent=True)
    assert pred["fine"].tolist() == [[[10, 1]], [[9, 10]]]
    assert pred["coarse"].tolist() == [[[3, 1]], [[1, 3]]]
    assert pred["binary"].tolist() == [[[1, 1]], [[1, 1]]]
    assert violation_counts({"fine": hand_logits["fine"]}) == (0, 4)


def test_violation_rate_from_logits_excludes_ignored_pixels(hand_logits) -> None:
    """A and B violate, C does not; the second A is labelled 255 and must not count."""
    labels = torch.tensor([[[4, 0]], [[9, IGNORE_INDEX]]])
    valid = labels != IGNORE_INDEX
    assert violation_rate(hand_logits) == 0.75
    assert violation_counts(hand_logits, valid) == (2, 3)
    assert violation_rate(hand_logits, valid) == pytest.approx(2 / 3)
    images = [({k: v[i : i + 1] for k, v in hand_logits.items()}, valid[i : i + 1]) for i in range(2)]
    per_image = [violation_counts(logits, mask) for logits, mask in images]
    assert per_image == [(2, 2), (0, 1)]


def test_violation_rate_on_labels_worked_by_hand() -> None:
    """Pixel 0: Dust/Deposits/damage agrees. 1: coarse Structural but binary clean. 2: Clean/clean but
    binary damage. 3: Burn marks/Discolouration/damage agrees. So 2 of 4 violate."""
    labels = {
        "binary": torch.tensor([[[1, 0, 1, 1]]]),
        "coarse": torch.tensor([[[2, 1, 0, 3]]]),
        "fine": torch.tensor([[[3, 1, 0, 14]]]),
    }
    assert violation_rate(labels) == 0.5
    assert violation_counts(labels, torch.tensor([[[True, False, True, True]]])) == (1, 3)
    assert math.isnan(violation_rate(labels, torch.zeros(1, 1, 4, dtype=torch.bool)))


def test_inference_rejects_mismatched_inputs(hand_logits) -> None:
    with pytest.raises(ModelError, match=r"logits\['coarse'\] has shape \(2, 4, 1, 2\); expected \(N, 5, H, W\)"):
        predict({**hand_logits, "coarse": hand_logits["coarse"][:, :4]})
    with pytest.raises(ModelError, match="expected all of"):
        predict({"coarse": hand_logits["coarse"], "fine": hand_logits["fine"]})
    with pytest.raises(ModelError, match="valid_mask must be a bool tensor.*labels != IGNORE_INDEX"):
        violation_counts(hand_logits, torch.ones(2, 1, 2, dtype=torch.long))
