"""Segmentation models: an encoder, a UPerNet decoder and one 1x1 head per label level.

* :class:`HierarchicalUPerNet` has three heads on the same fused feature map: ``binary``
  (clean/damage, 2), ``coarse`` (clean + 4 damage groups, 5) and ``fine`` (16 classes).
* :class:`FlatUPerNet` is the same network with the ``fine`` head only: the baseline at equal
  architecture. Its coarse and binary predictions are derived from the fine ones
  (:func:`heritage_core.models.decode.predict`).

Module names are stable so that a trainer can freeze or re-weight by pattern: ``encoder.*``,
``decoder.*``, ``heads.binary.*``, ``heads.coarse.*``, ``heads.fine.*``. ``model.heads`` is an
``nn.ModuleDict``, root level first; ``model.head_names`` gives the names as a tuple.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from heritage_core.errors import ModelError
from heritage_core.models.encoder import create_encoder
from heritage_core.models.upernet import UPerNetDecoder
from heritage_core.taxonomy import HEADS, default_taxonomy

__all__ = ["ARCHS", "HierarchicalUPerNet", "FlatUPerNet", "create_model"]


class _UPerNetSegmenter(nn.Module):
    """Encoder -> UPerNet decoder -> 1x1 heads, logits upsampled to the input size.

    Args:
        encoder: encoder name (see :func:`heritage_core.models.encoder.create_encoder`).
        heads: names of the heads to build, a subsequence of ``("binary", "coarse", "fine")``.
        num_classes: classes per head; must cover ``heads``. Entries of other known heads are allowed
            and unused, so that one mapping serves every architecture.
        decoder_channels: channels of every decoder layer.
        pretrained: encoder weights (a local file or a ``timm:``/``smp:`` tag), or None for random initialisation.
        img_size: training input size (px), checked against what the encoder can take.
        in_chans: number of input channels.
    """

    #: Architecture name, as accepted by :func:`create_model`.
    arch = ""
    #: The heads this architecture predicts, root level first.
    PREDICTED_HEADS: tuple[str, ...] = ()

    def __init__(
        self,
        encoder: str,
        num_classes: Mapping[str, int] | None = None,
        decoder_channels: int = 256,
        pretrained: str | None = None,
        img_size: int = 512,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        heads = self.PREDICTED_HEADS
        classes = _check_num_classes(num_classes, heads)
        self.encoder_name = encoder
        self.img_size = img_size
        self.in_chans = in_chans
        self.encoder = create_encoder(encoder, img_size=img_size, in_chans=in_chans, pretrained=pretrained)
        self.decoder = UPerNetDecoder(self.encoder.out_channels, decoder_channels)
        self.heads = nn.ModuleDict({h: nn.Conv2d(decoder_channels, classes[h], 1) for h in heads})

    @property
    def head_names(self) -> tuple[str, ...]:
        """Names of the heads, root level first."""
        return tuple(self.heads)

    @property
    def num_classes(self) -> dict[str, int]:
        """Classes per head."""
        return {h: head.out_channels for h, head in self.heads.items()}

    @property
    def size_divisor(self) -> int:
        """Input height and width must be multiples of this (px)."""
        return self.encoder.size_divisor

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits of every head at the input resolution.

        Args:
            x: normalised images.

        Returns:
            Head name -> logits, root level first.

        Raises:
            ModelError: ``x`` is not (N, in_chans, H, W) floating point with H and W multiples of
                ``size_divisor``.

        Shapes:
            x: (N, in_chans, H, W); output[head]: (N, num_classes[head], H, W).
        """
        if x.ndim != 4 or x.shape[1] != self.in_chans or not x.is_floating_point():
            raise ModelError(
                f"{type(self).__name__} expects float images of shape (N, {self.in_chans}, H, W), "
                f"got {x.dtype} {tuple(x.shape)}"
            )
        size = x.shape[-2:]
        fused = self.decoder(self.encoder(x))  # (N, decoder_channels, H/4, W/4)
        return {
            name: F.interpolate(head(fused), size=size, mode="bilinear", align_corners=False)
            for name, head in self.heads.items()
        }


class HierarchicalUPerNet(_UPerNetSegmenter):
    """UPerNet with a ``binary``, a ``coarse`` and a ``fine`` head on the shared fused feature map.

    Args:
        encoder: encoder name: any timm model with levels at strides 4, 8, 16, 32, or ``mit_b0`` …
            ``mit_b5``.
        num_classes: classes per head; None for the ARTeFACT taxonomy (binary 2, coarse 5, fine 16).
        decoder_channels: channels of every decoder layer.
        pretrained: encoder weights (a local file or a ``timm:``/``smp:`` tag), or None for random init.
        img_size: training input size (px); must be a multiple of the encoder's ``size_divisor``.
        in_chans: number of input channels.

    Raises:
        ModelError: unknown encoder, bad ``num_classes``, unsuitable ``img_size`` or weights file.
    """

    arch = "hierarchical"
    PREDICTED_HEADS = HEADS


class FlatUPerNet(_UPerNetSegmenter):
    """UPerNet with the ``fine`` head only: the flat baseline with the same encoder and decoder.

    Arguments and errors are :class:`HierarchicalUPerNet`'s, except that ``num_classes`` needs only a ``fine``
    entry (``binary``/``coarse`` entries are accepted and unused; None: the 16 fine ARTeFACT classes).
    """

    arch = "flat"
    PREDICTED_HEADS = ("fine",)


#: Architecture name -> model class, for :func:`create_model`.
ARCHS: dict[str, type[_UPerNetSegmenter]] = {"hierarchical": HierarchicalUPerNet, "flat": FlatUPerNet}


def create_model(
    arch: str,
    encoder: str,
    *,
    num_classes: Mapping[str, int] | None = None,
    decoder_channels: int = 256,
    pretrained: str | None = None,
    img_size: int = 512,
    in_chans: int = 3,
) -> HierarchicalUPerNet | FlatUPerNet:
    """Build a segmentation model by architecture name.

    Args:
        arch: ``hierarchical`` (three heads) or ``flat`` (fine head only).
        encoder: encoder name (timm model or ``mit_b0`` … ``mit_b5``).
        num_classes: classes per head; None for the ARTeFACT taxonomy.
        decoder_channels: channels of every decoder layer.
        pretrained: encoder weights: a local file, a ``timm:<model>.<tag>`` / ``smp:<encoder>.<weights>`` tag
            (:mod:`heritage_core.models.weights`), or None for random init.
        img_size: training input size (px).
        in_chans: number of input channels.

    Returns:
        The model, in training mode, on the CPU.

    Raises:
        ModelError: unknown ``arch`` (the message lists the valid ones), or any error of the model class.
    """
    if arch not in ARCHS:
        raise ModelError(f"unknown model arch '{arch}'; valid are {', '.join(ARCHS)}")
    return ARCHS[arch](
        encoder,
        num_classes=num_classes,
        decoder_channels=decoder_channels,
        pretrained=pretrained,
        img_size=img_size,
        in_chans=in_chans,
    )


def _check_num_classes(num_classes: Mapping[str, int] | None, heads: tuple[str, ...]) -> dict[str, int]:
    if num_classes is None:
        num_classes = default_taxonomy().num_classes
    if not isinstance(num_classes, Mapping):
        raise ModelError(f"num_classes must map head names to class counts, e.g. {{'fine': 16}}; got {num_classes!r}")
    unknown = sorted(set(num_classes) - set(HEADS))
    if unknown:
        raise ModelError(f"num_classes has unknown heads {unknown}; allowed are {', '.join(HEADS)}")
    missing = [h for h in heads if h not in num_classes]
    if missing:
        raise ModelError(f"num_classes {dict(num_classes)} lacks the heads {missing}; this model needs {list(heads)}")
    for head, n in num_classes.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise ModelError(f"num_classes['{head}'] must be an integer >= 2, got {n!r}")
    return dict(num_classes)
