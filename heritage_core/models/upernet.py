"""UPerNet decoder: pyramid pooling on the deepest level, a feature pyramid, and fusion at 1/4 resolution.

UPerNet (Xiao et al., "Unified Perceptual Parsing for Scene Understanding", ECCV 2018) combines the
pyramid pooling module of PSPNet (Zhao et al., CVPR 2017) with a feature pyramid network (Lin et al.,
CVPR 2017):

1. :class:`PyramidPooling` (PPM) averages the stride-32 map over 1x1, 2x2, 3x3 and 6x6 grids,
   projects each to ``channels``, upsamples them back and merges them with the map itself.
2. 1x1 lateral convolutions bring the stride-4, 8 and 16 maps to ``channels``; the top-down path adds
   each coarser level, upsampled, to the next finer one; a 3x3 convolution smooths each sum.
3. All four levels are upsampled to stride 4, concatenated and fused by a 3x3 convolution.

Normalisation is BatchNorm, as in the original UPerNet and mmsegmentation's ``UPerHead``. The 1x1
pooling branch has no BatchNorm (a bias instead): with one image per batch it would normalise a single
value per channel, which BatchNorm refuses in training. Other branches see at least 2x2 values per
image. All operations keep the ``channels_last`` memory format.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from heritage_core.errors import ModelError

__all__ = ["PPM_SCALES", "ConvBNReLU", "PyramidPooling", "UPerNetDecoder"]

#: Output grid sizes of the pyramid pooling branches (cells per side).
PPM_SCALES = (1, 2, 3, 6)


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias), BatchNorm, ReLU; ``same`` padding.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: side of the square kernel, odd.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class PyramidPooling(nn.Module):
    """Pyramid pooling module: context at several grid sizes, merged with the input by a 3x3 conv.

    Args:
        in_channels: channels of the input map.
        channels: channels of each branch and of the output.
        scales: output grid size of each average-pooling branch.

    Shapes:
        x: (N, in_channels, h, w); output: (N, channels, h, w).
    """

    def __init__(self, in_channels: int, channels: int, scales: Sequence[int] = PPM_SCALES) -> None:
        super().__init__()
        branches = []
        for scale in scales:
            if scale == 1:  # a single value per channel and image: no BatchNorm (see module docstring)
                project: nn.Module = nn.Sequential(nn.Conv2d(in_channels, channels, 1), nn.ReLU(inplace=True))
            else:
                project = ConvBNReLU(in_channels, channels, 1)
            branches.append(nn.Sequential(nn.AdaptiveAvgPool2d(scale), project))
        self.branches = nn.ModuleList(branches)
        self.bottleneck = ConvBNReLU(in_channels + len(scales) * channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool, project, upsample and merge; see the class docstring for shapes."""
        size = x.shape[-2:]
        pooled = [_resize(branch(x), size) for branch in self.branches]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))


class UPerNetDecoder(nn.Module):
    """UPerNet decoder from four encoder levels (strides 4, 8, 16, 32) to one map at stride 4.

    Args:
        in_channels: channels of the four encoder levels, finest first.
        channels: channels of every decoder layer and of the output.
        pool_scales: grid sizes of the pyramid pooling branches.

    Raises:
        ModelError: not exactly four levels, or ``channels`` is not a positive integer.

    Shapes:
        features[i]: (N, in_channels[i], H / 2**(i+2), W / 2**(i+2)); output: (N, channels, H / 4, W / 4).
    """

    def __init__(
        self, in_channels: Sequence[int], channels: int = 256, pool_scales: Sequence[int] = PPM_SCALES
    ) -> None:
        super().__init__()
        if len(in_channels) != 4:
            raise ModelError(f"UPerNetDecoder needs 4 encoder levels (strides 4, 8, 16, 32), got {list(in_channels)}")
        if not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0:
            raise ModelError(f"decoder_channels must be a positive integer, got {channels!r}")
        self.out_channels = channels
        self.ppm = PyramidPooling(in_channels[-1], channels, pool_scales)
        self.laterals = nn.ModuleList(ConvBNReLU(c, channels, 1) for c in in_channels[:-1])
        self.smooth = nn.ModuleList(ConvBNReLU(channels, channels, 3) for _ in in_channels[:-1])
        self.fuse = ConvBNReLU(len(in_channels) * channels, channels, 3)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decode four encoder levels into one fused map at stride 4; see the class docstring for shapes."""
        # pyramid: laterals at strides 4, 8, 16, and the pooled context at stride 32
        pyramid = [lateral(f) for lateral, f in zip(self.laterals, features)]
        pyramid.append(self.ppm(features[-1]))
        # top-down: 1/32 -> 1/16 -> 1/8 -> 1/4, each level plus the upsampled coarser one
        for i in range(len(pyramid) - 1, 0, -1):
            pyramid[i - 1] = pyramid[i - 1] + _resize(pyramid[i], pyramid[i - 1].shape[-2:])
        outputs = [smooth(p) for smooth, p in zip(self.smooth, pyramid)] + [pyramid[-1]]
        # fusion at 1/4: upsample every level, concatenate, 3x3 conv
        size = outputs[0].shape[-2:]
        return self.fuse(torch.cat([outputs[0], *(_resize(o, size) for o in outputs[1:])], dim=1))
