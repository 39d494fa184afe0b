"""Encoders: any timm backbone or a SegFormer MiT, as four feature maps at strides 4, 8, 16 and 32.

This is the only module that imports ``timm`` and ``segmentation_models_pytorch``; the decoder and the
models see one interface, :class:`Encoder`:

* ``out_channels``: channels of the four maps, from the finest to the deepest;
* ``reductions``: always ``(4, 8, 16, 32)``, the stride of each map relative to the input;
* ``size_divisor``: input height and width must be multiples of it (32, or more for window attention);
* ``forward(x)``: a list of four NCHW tensors.

Scale conventions. timm reports the stride of every feature level in ``feature_info.reduction()``.
Convolutional nets usually start at 2 (``resnet``: 2, 4, 8, 16, 32), hierarchical transformers and
ConvNeXt at 4 (4, 8, 16, 32), plain ViTs stay at 16. :class:`TimmEncoder` picks the levels whose
reduction is exactly 4, 8, 16 and 32 (the deepest one when two levels share a stride) and refuses
encoders that lack one of them. SegFormer's Mix Transformer (``mit_b0`` … ``mit_b5``) comes from
segmentation_models_pytorch, whose encoders return ``[input, empty stride-2 map, 4, 8, 16, 32]``;
:class:`MitEncoder` keeps the last four.

Input sizes. Every encoder needs multiples of 32, so that each level is exactly 1/r of the input.
Window attention adds its own constraint, read from the built model: MaxViT/MaxxViT blocks partition
each level into windows and grids of ``partition_size`` (8 for the ``*_rw_256`` models, 7 for ``*_224``),
so sides must be multiples of ``32 * partition_size`` (256 for ``maxvit_tiny_rw_256``). This assumes
the partition also applies at stride 32, which holds for every MaxViT/MaxxViT stage. Models with a
fixed input size (``swin_*_224``, ViTs) are caught by a forward pass on the ``meta`` device at
construction time, which costs no memory and no compute. The model is never rebuilt for another
``img_size``: window sizes, and thus the shapes of pretrained relative-position tables, stay as
trained.

NHWC outputs (Swin, MambaOut) are permuted to NCHW without a copy, so they come out in the
``channels_last`` memory format, which the decoder handles natively.

Pretrained weights come from a local file (:func:`load_encoder_weights`) or from a ``timm:``/``smp:`` tag that
:mod:`heritage_core.models.weights` resolves to a file of the Hugging Face cache (downloaded there only when the
user's environment allows it).
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from heritage_core.errors import ModelError

__all__ = [
    "REDUCTIONS",
    "MIT_ENCODERS",
    "Encoder",
    "TimmEncoder",
    "MitEncoder",
    "WeightsReport",
    "create_encoder",
    "load_encoder_weights",
    "read_state_dict",
]

logger = logging.getLogger(__name__)

#: Strides of the four feature maps every encoder returns, relative to the input.
REDUCTIONS = (4, 8, 16, 32)
#: SegFormer Mix Transformer encoders, built by segmentation_models_pytorch.
MIT_ENCODERS = ("mit_b0", "mit_b1", "mit_b2", "mit_b3", "mit_b4", "mit_b5")
#: Prefixes stripped from checkpoint keys (wrappers of DDP, Lightning, smp, mmseg).
_KEY_PREFIXES = ("module.", "model.", "encoder.", "backbone.")
#: Entries of a torch checkpoint that hold the state dict itself, tried in this order.
_CHECKPOINT_ENTRIES = ("state_dict", "model", "model_state_dict", "state_dict_ema")
#: How many sizes on each side of ``img_size`` are probed when looking for the nearest valid one.
_PROBE_STEPS = 16


class Encoder(nn.Module):
    """Four feature maps at strides 4, 8, 16 and 32 from a backbone held in ``self.model``.

    Subclasses build ``self.model`` and implement :meth:`_features`.

    Args:
        name: the encoder name, as given by the user.
        out_channels: channels of the four maps, from stride 4 to stride 32.
        size_divisor: input height and width must be multiples of it (px).
        img_size: the training input size (px), checked against ``size_divisor``.
    """

    reductions: tuple[int, ...] = REDUCTIONS

    def __init__(self, name: str, out_channels: tuple[int, ...], size_divisor: int, img_size: int) -> None:
        super().__init__()
        self.name = name
        self.out_channels = tuple(int(c) for c in out_channels)
        self.size_divisor = int(size_divisor)
        self.img_size = int(img_size)
        #: What :func:`load_encoder_weights` loaded, set by :func:`create_encoder`; None for random init.
        self.weights_report: WeightsReport | None = None

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Extract the four feature maps.

        Args:
            x: input images.

        Returns:
            Four tensors, from stride 4 to stride 32.

        Raises:
            ModelError: the height or width is not a multiple of ``size_divisor``.

        Shapes:
            x: (N, C_in, H, W) with H and W multiples of ``size_divisor``.
            output[i]: (N, out_channels[i], H / reductions[i], W / reductions[i]).
        """
        height, width = x.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ModelError(
                f"encoder '{self.name}' got an input of {height}x{width} px; height and width must be "
                f"multiples of {self.size_divisor}. Pad or crop to "
                f"{_round_up(height, self.size_divisor)}x{_round_up(width, self.size_divisor)} px"
            )
        return self._features(x)


class TimmEncoder(Encoder):
    """A timm backbone built with ``features_only=True`` and the levels at strides 4, 8, 16, 32.

    Args:
        name: a timm model name (``convnext_tiny``, ``maxvit_tiny_rw_256``, ...), optionally with a
            pretrained tag (``convnext_tiny.fb_in22k``), which only changes timm's metadata here.
        img_size: training input size (px); must suit the encoder (see the module docstring).
        in_chans: number of input channels.

    Raises:
        ModelError: timm does not know ``name``, cannot build it with ``features_only``, it lacks a
            level at one of the strides 4, 8, 16, 32, or it cannot take ``img_size``.
    """

    def __init__(self, name: str, *, img_size: int = 512, in_chans: int = 3) -> None:
        import timm

        try:
            probe = _meta_model(name, in_chans=in_chans)
        except Exception as exc:  # timm raises RuntimeError/TypeError/KeyError, depending on the family
            raise ModelError(
                f"timm cannot build encoder '{name}' with features_only=True: {exc}. "
                f"Choose a timm model with a feature pyramid (e.g. convnext_tiny) or a SegFormer {MIT_ENCODERS}"
            ) from exc
        # every level of the model, not only those features_only returns by default
        reductions = [int(level["reduction"]) for level in probe.feature_info.info]
        out_indices = []
        for stride in REDUCTIONS:
            matches = [i for i, r in enumerate(reductions) if r == stride]
            if not matches:
                raise ModelError(
                    f"encoder '{name}' has feature levels at strides {reductions}; a UPerNet needs one level "
                    f"at each of the strides {list(REDUCTIONS)}. Choose a hierarchical encoder "
                    f"(convnext_*, maxvit_*, resnet*) or a SegFormer {MIT_ENCODERS}"
                )
            out_indices.append(matches[-1])
        divisor = _partition_divisor(probe)
        _check_img_size(name, img_size, divisor, reason=_divisor_reason(divisor))
        fmt = getattr(probe, "output_fmt", "NCHW")
        channels_last = str(getattr(fmt, "value", fmt)) == "NHWC"
        probe = _meta_model(name, out_indices=tuple(out_indices), in_chans=in_chans)
        _check_runs_at(name, probe, img_size, divisor, in_chans, channels_last)
        del probe

        model = timm.create_model(
            name, pretrained=False, features_only=True, out_indices=tuple(out_indices), in_chans=in_chans
        )
        super().__init__(name, tuple(model.feature_info.channels()), divisor, img_size)
        self.model = model
        self._channels_last = channels_last

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.model(x)
        if self._channels_last:
            # (N, H, W, C) -> (N, C, H, W) as a view: same memory, channels_last strides
            features = [f.permute(0, 3, 1, 2) for f in features]
        return list(features)


class MitEncoder(Encoder):
    """SegFormer's Mix Transformer (``mit_b0`` … ``mit_b5``) from segmentation_models_pytorch.

    Its patch embeddings are overlapping convolutions, so any multiple of 32 is a valid size. smp builds
    it with SegFormer's stochastic depth (drop path rate 0.1), active in training mode only.

    Args:
        name: one of ``mit_b0`` … ``mit_b5``.
        img_size: training input size (px), a multiple of 32.
        in_chans: number of input channels.

    Raises:
        ModelError: ``name`` is not a MiT encoder or ``img_size`` is not a multiple of 32.
    """

    def __init__(self, name: str, *, img_size: int = 512, in_chans: int = 3) -> None:
        if name not in MIT_ENCODERS:
            raise ModelError(f"'{name}' is not a SegFormer encoder; allowed are {', '.join(MIT_ENCODERS)}")
        _check_img_size(name, img_size, 32, reason="32, its deepest stride")
        from segmentation_models_pytorch.encoders import get_encoder

        model = get_encoder(name, in_channels=in_chans, depth=5, weights=None)
        # smp returns [input (stride 1), empty (stride 2), stride 4, 8, 16, 32]
        super().__init__(name, tuple(model.out_channels[2:]), 32, img_size)
        self.model = model

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.model(x)[2:])


def create_encoder(name: str, *, img_size: int = 512, in_chans: int = 3, pretrained: str | None = None) -> Encoder:
    """Build an encoder by name, with random weights or pretrained ones (a local file or a tag).

    Args:
        name: ``mit_b0`` … ``mit_b5`` for SegFormer, any other name is looked up in timm.
        img_size: training input size (px); checked against what the encoder can take.
        in_chans: number of input channels.
        pretrained: path of a local ``.safetensors`` file or torch checkpoint, a ``timm:<model>.<tag>`` or
            ``smp:<encoder>.<weights>`` tag (:mod:`heritage_core.models.weights`), or None for random
            initialisation.

    Returns:
        The encoder; ``encoder.weights_report`` is the :class:`WeightsReport` of the loaded weights, or None.

    Raises:
        ModelError: unknown name, unsuitable encoder or size, missing or incompatible weights file.
    """
    if not isinstance(img_size, int) or isinstance(img_size, bool) or img_size <= 0:
        raise ModelError(f"img_size must be a positive integer number of pixels, got {img_size!r}")
    if not isinstance(in_chans, int) or isinstance(in_chans, bool) or in_chans <= 0:
        raise ModelError(f"in_chans must be a positive integer, got {in_chans!r}")
    if name in MIT_ENCODERS:
        encoder: Encoder = MitEncoder(name, img_size=img_size, in_chans=in_chans)
    else:
        import timm

        if not timm.is_model(name):
            close = difflib.get_close_matches(name, [*MIT_ENCODERS, *timm.list_models()], n=5, cutoff=0.6)
            hint = f"Did you mean {', '.join(close)}? " if close else ""
            raise ModelError(
                f"unknown encoder '{name}': it is neither a SegFormer encoder ({', '.join(MIT_ENCODERS)}) "
                f"nor a timm model. {hint}List timm names with timm.list_models('*pattern*')"
            )
        encoder = TimmEncoder(name, img_size=img_size, in_chans=in_chans)
    if pretrained is None:
        encoder.weights_report = None
        return encoder
    from heritage_core.models.weights import resolve_weights

    report = load_encoder_weights(encoder, resolve_weights(pretrained, name))
    encoder.weights_report = dataclasses.replace(report, source=str(pretrained))
    return encoder


# ---------------------------------------------------------------------------------------- input sizes
def _meta_model(name: str, **kwargs: object) -> nn.Module:
    """The timm ``features_only`` model on the meta device: shapes without memory or initialisation.

    Models whose constructor needs real tensor values are built on the CPU and then moved to meta.
    """
    import timm

    try:
        with torch.device("meta"):
            return timm.create_model(name, pretrained=False, features_only=True, **kwargs)
    except RuntimeError:  # e.g. "Tensor.item() cannot be called on meta tensors"
        return timm.create_model(name, pretrained=False, features_only=True, **kwargs).to("meta")


def _round_up(value: int, divisor: int) -> int:
    return -(-value // divisor) * divisor


def _partition_divisor(model: nn.Module) -> int:
    """Smallest side (px) the model's window/grid partitions allow: lcm of 32 and 32 * partition_size."""
    divisor = 32
    for module in model.modules():
        size = getattr(module, "partition_size", None)
        if isinstance(size, tuple) and all(isinstance(s, int) for s in size):
            for side in size:
                divisor = math.lcm(divisor, 32 * side)
    return divisor


def _divisor_reason(divisor: int) -> str:
    if divisor == 32:
        return "32, its deepest stride"
    return f"{divisor} = 32 (deepest stride) x {divisor // 32} (attention window/grid partition)"


def _nearest_sizes(img_size: int, divisor: int) -> str:
    below = img_size // divisor * divisor
    above = below + divisor
    if below == 0 or above - img_size < img_size - below:
        return f"{above} px; set img_size to it"
    if img_size - below < above - img_size:
        return f"{below} px; set img_size to it"
    return f"{below} or {above} px; set img_size to one of them"


def _check_img_size(name: str, img_size: int, divisor: int, *, reason: str) -> None:
    if img_size % divisor:
        raise ModelError(
            f"encoder '{name}' cannot take img_size={img_size} px: sides must be multiples of {reason}. "
            f"Nearest valid size: {_nearest_sizes(img_size, divisor)}"
        )


def _runs_at(probe: nn.Module, size: int, in_chans: int, channels_last: bool) -> bool:
    """True if the meta-device model runs at ``size`` and its four levels are exactly size / stride."""
    try:
        with torch.no_grad():
            outputs = probe(torch.empty(1, in_chans, size, size, device="meta"))
    except Exception:  # timm signals unsupported sizes with AssertionError, RuntimeError or ValueError
        return False
    for output, stride in zip(outputs, REDUCTIONS):
        shape = output.shape
        spatial = tuple(shape[1:3]) if channels_last else tuple(shape[2:4])
        if spatial != (size // stride, size // stride):
            return False
    return True


def _check_runs_at(
    name: str, probe: nn.Module, img_size: int, divisor: int, in_chans: int, channels_last: bool
) -> None:
    if _runs_at(probe, img_size, in_chans, channels_last):
        return
    candidates = sorted(
        (s for k in range(1, _PROBE_STEPS + 1) for s in (img_size - k * divisor, img_size + k * divisor) if s > 0),
        key=lambda s: (abs(s - img_size), s),
    )
    valid = next((s for s in candidates if _runs_at(probe, s, in_chans, channels_last)), None)
    hint = (
        f"Nearest valid size: {valid} px; set img_size to it"
        if valid is not None
        else "No size within "
        f"{_PROBE_STEPS * divisor} px of it works (fixed-size model?); choose another encoder"
    )
    raise ModelError(
        f"encoder '{name}' cannot take img_size={img_size} px although it is a multiple of {divisor}: "
        f"a trial forward pass fails or gives feature maps other than img_size / {list(REDUCTIONS)}. {hint}"
    )


# ------------------------------------------------------------------------------------ pretrained weights
@dataclass(frozen=True)
class WeightsReport:
    """What :func:`load_encoder_weights` did with a weights file.

    Attributes:
        path: the file that was read.
        loaded: number of encoder tensors set from the file.
        missing: encoder keys the file did not provide (they keep their random initialisation).
        unexpected: file keys that match no encoder tensor (classifier heads, decoders, ...).
        source: what was asked for: the file path or the ``timm:``/``smp:`` tag.
    """

    path: str
    loaded: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    source: str = ""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file or a torch checkpoint (``weights_only=True``).

    A torch checkpoint may be the state dict itself or a mapping holding it under one of
    ``state_dict``, ``model``, ``model_state_dict``, ``state_dict_ema``.

    Args:
        path: local file.

    Returns:
        Tensor name -> tensor, on the CPU.

    Raises:
        ModelError: the file is missing, unreadable, or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"pretrained weights file '{path}' does not exist; give the path of a local .safetensors file or "
            f"torch checkpoint, or use pretrained: null for random init"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(path), device="cpu")
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, pickle and zip errors have no common base class
        raise ModelError(
            f"cannot read pretrained weights file '{path}': {exc}. Expected a .safetensors file or a torch "
            f"checkpoint saved with torch.save(state_dict)"
        ) from exc
    if isinstance(raw, dict):
        for entry in _CHECKPOINT_ENTRIES:
            if isinstance(raw.get(entry), dict):
                raw = raw[entry]
                break
    tensors = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)} if isinstance(raw, dict) else {}
    if not tensors:
        raise ModelError(
            f"pretrained weights file '{path}' holds no tensors (found {type(raw).__name__}); expected a state "
            f"dict, possibly under one of the keys {list(_CHECKPOINT_ENTRIES)}"
        )
    return tensors


def _key_candidates(key: str) -> list[str]:
    """``key`` with known wrapper prefixes stripped one by one, each also in timm's flattened form.

    timm's ``features_only`` wrapper renames the children of top-level ``nn.Sequential`` modules
    (``stages.0.blocks`` becomes ``stages_0.blocks``), so a classification checkpoint needs that
    renaming to fit the encoder.
    """
    stripped = [key]
    while True:
        prefix = next((p for p in _KEY_PREFIXES if stripped[-1].startswith(p)), None)
        if prefix is None:
            break
        stripped.append(stripped[-1][len(prefix) :])
    candidates = []
    for k in stripped:
        candidates.append(k)
        flat = re.sub(r"^([^.]+)\.([^.]+)\.", r"\1_\2.", k)
        if flat != k:
            candidates.append(flat)
    return candidates


def load_encoder_weights(encoder: Encoder, path: str | Path) -> WeightsReport:
    """Load a local weights file into ``encoder`` (not strict: missing keys are reported and logged).

    Accepts the encoder's own state dict, a full-model state dict of this project (``encoder.*``
    keys), a timm classification checkpoint of the same architecture, and state dicts whose keys
    carry the prefixes ``module.``, ``model.``, ``encoder.`` or ``backbone.``.

    Args:
        encoder: the encoder to fill in place.
        path: ``.safetensors`` file or torch checkpoint.

    Returns:
        What was loaded, missing and unexpected.

    Raises:
        ModelError: the file is missing or unreadable, no tensor matches the encoder, a matching
            tensor has another shape, or two file tensors match the same encoder tensor.
    """
    source = read_state_dict(path)
    target = encoder.model.state_dict()
    matched: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unexpected = []
    for key, tensor in source.items():
        name = next((c for c in _key_candidates(key) if c in target), None)
        if name is None:
            unexpected.append(key)
            continue
        if name in matched:
            raise ModelError(
                f"pretrained weights file '{path}' has two tensors for encoder tensor '{name}': '{origin[name]}' "
                f"and '{key}'. Save only one model (e.g. drop the EMA copy) in the file"
            )
        if tuple(tensor.shape) != tuple(target[name].shape):
            raise ModelError(
                f"pretrained weights file '{path}': tensor '{key}' has shape {tuple(tensor.shape)} but encoder "
                f"'{encoder.name}' expects {tuple(target[name].shape)} for '{name}'. The file was saved from "
                f"another architecture or in_chans; use weights of '{encoder.name}' or pretrained: null"
            )
        matched[name] = tensor
        origin[name] = key
    if not matched:
        raise ModelError(
            f"none of the {len(source)} tensors in pretrained weights file '{path}' (e.g. {sorted(source)[:3]}) "
            f"matches encoder '{encoder.name}' (expects e.g. {sorted(target)[:3]}). Use weights saved from "
            f"'{encoder.name}', or pretrained: null for random init"
        )
    missing = tuple(sorted(k for k in target if k not in matched and not k.endswith("num_batches_tracked")))
    nn.Module.load_state_dict(encoder.model, matched, strict=False)
    report = WeightsReport(str(path), len(matched), missing, tuple(sorted(unexpected)))
    if missing:
        logger.warning(
            "encoder '%s': %d tensors not in '%s' keep their random init, e.g. %s",
            encoder.name, len(missing), path, list(missing[:5]),
        )
    if unexpected:
        logger.info("encoder '%s': %d tensors of '%s' were not used, e.g. %s", encoder.name, len(unexpected), path,
                    list(report.unexpected[:5]))
    return report
