"""DeepLab v3+ (Chen et al. 2018) on a small ResNet-style backbone.

The paper's backbones (ResNet-101, Xception) are ImageNet-pretrained; here the
network is trained from scratch on a few dozen fundus images, so the backbone
is a ResNet-18-shaped stack of BasicBlocks whose width and depth are kwargs.
The deepest stage (two at output stride 8) trades its stride for dilation: the
receptive field keeps growing while the feature map stays fine enough for thin
vessels.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import register_model
from .blocks import PointwiseHead
from .contract import SegmentationModel

# Per stage (stride, dilation) for each output stride; the stem already gives stride 4.
_STAGES = {16: ((1, 1), (2, 1), (2, 1), (1, 2)),
           8: ((1, 1), (2, 1), (1, 2), (1, 4))}
LOW_LEVEL_CHANNELS = 48  # the paper's: few, so the stride-4 features refine edges, not dominate


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convolutions plus a (projected) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, out_channels, 3, stride, dilation)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2(self.conv2(self.conv1(x))) + self.shortcut(x))


class ResNetBackbone(nn.Module):
    """Stem (stride 4) and four stages; returns the stride-4 and the deepest features."""

    def __init__(self, in_channels: int, base_channels: int, blocks: Sequence[int],
                 output_stride: int):
        super().__init__()
        widths = [base_channels * 2**i for i in range(4)]
        self.stem = nn.Sequential(conv_bn_relu(in_channels, base_channels, stride=2),
                                  conv_bn_relu(base_channels, base_channels),
                                  nn.MaxPool2d(3, stride=2, padding=1))
        self.stages = nn.ModuleList()
        previous = base_channels
        for width, count, (stride, dilation) in zip(widths, blocks, _STAGES[output_stride]):
            layers = [BasicBlock(previous, width, stride, dilation)]
            layers += [BasicBlock(width, width, 1, dilation) for _ in range(count - 1)]
            self.stages.append(nn.Sequential(*layers))
            previous = width
        self.low_channels, self.out_channels = widths[0], widths[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = x = self.stages[0](self.stem(x))
        for stage in self.stages[1:]:
            x = stage(x)
        return low, x


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three atrous 3x3 and an image-level branch."""

    def __init__(self, in_channels: int, out_channels: int, rates: Sequence[int],
                 dropout: float):
        super().__init__()
        self.branches = nn.ModuleList(
            [conv_bn_relu(in_channels, out_channels, 1)]
            + [conv_bn_relu(in_channels, out_channels, 3, dilation=r) for r in rates])
        # No batch norm on the pooled branch: it has one value per channel and image,
        # which cannot be normalised over a batch of one (PyTorch refuses in training).
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1),
                                  nn.ReLU(inplace=True))
        self.project = nn.Sequential(
            conv_bn_relu(out_channels * (len(rates) + 2), out_channels, 1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A 1x1 map up-sampled bilinearly is a constant map: expand is the same, for free.
        pooled = self.pool(x).expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], 1))


class DeepLabV3Plus(SegmentationModel):
    """DeepLab v3+: backbone, ASPP, and a decoder fusing the stride-4 features.

    Returns logits ``(N, out_channels, H, W)``; H and W should be multiples of :attr:`stride`
    (the output stride), so the feature grids align with the input.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 32,
                 blocks: Sequence[int] = (2, 2, 2, 2), output_stride: int = 16,
                 dropout: float = 0.1, out_channels: int = 1):
        super().__init__()
        if output_stride not in _STAGES:
            raise ValueError(f"output_stride must be 8 or 16, not {output_stride!r}")
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"blocks must be four counts of at least 1, not {blocks!r}")
        self.stride = output_stride
        self.in_channels, self.out_channels = in_channels, out_channels
        self.backbone = ResNetBackbone(in_channels, base_channels, blocks, output_stride)
        # The paper's 256 channels sit on a 2048-channel ResNet-101; scaled to this backbone.
        width = 4 * base_channels
        rates = [rate * 16 // output_stride for rate in (6, 12, 18)]
        self.aspp = ASPP(self.backbone.out_channels, width, rates, dropout)
        self.reduce = conv_bn_relu(self.backbone.low_channels, LOW_LEVEL_CHANNELS, 1)
        self.decoder = nn.Sequential(conv_bn_relu(width + LOW_LEVEL_CHANNELS, width),
                                     conv_bn_relu(width, width))
        self.head = PointwiseHead(width, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, deep = self.backbone(x)
        deep = _resize(self.aspp(deep), low.shape[-2:])
        logits = self.head(self.decoder(torch.cat([self.reduce(low), deep], dim=1)))
        return _resize(logits, x.shape[-2:])


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


@register_model("deeplabv3plus")
def deeplabv3plus(**kwargs) -> DeepLabV3Plus:
    """DeepLab v3+; kwargs: in_channels, base_channels, blocks, output_stride, dropout,
    out_channels."""
    return DeepLabV3Plus(**kwargs)
