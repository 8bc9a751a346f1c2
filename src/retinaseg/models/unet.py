"""A configurable U-Net (Ronneberger et al. 2015) for one-channel vessel logits."""
from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import register_model
from .blocks import ConvBlock, PointwiseHead, encode, encoder_blocks
from .contract import SegmentationModel


class UNet(SegmentationModel):
    """U-Net with ``depth`` poolings; widths double at each level.

    The forward pass returns logits (no sigmoid), shape ``(N, out_channels, H, W)``;
    H and W must be multiples of :attr:`stride`.
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 16, depth: int = 4,
                 dropout: float = 0.0, upsample: str = "transpose", out_channels: int = 1):
        super().__init__()
        if upsample not in ("transpose", "bilinear"):
            raise ValueError(f"upsample must be 'transpose' or 'bilinear', not {upsample!r}")
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.stride = 2**depth
        self.in_channels, self.out_channels = in_channels, out_channels
        self.encoders = encoder_blocks(in_channels, widths, dropout)
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for deep, shallow in zip(widths[:0:-1], widths[-2::-1]):
            self.upsamplers.append(_upsampler(deep, shallow, upsample))
            self.decoders.append(ConvBlock(2 * shallow, shallow, dropout))
        self.head = PointwiseHead(widths[0], out_channels)

    def finetune_encoder(self) -> nn.Module:
        return self.encoders

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = encode(self.encoders, x)
        for upsampler, decoder in zip(self.upsamplers, self.decoders):
            x = decoder(torch.cat([skips.pop(), upsampler(x)], dim=1))
        return self.head(x)


def _upsampler(in_channels: int, out_channels: int, mode: str) -> nn.Module:
    if mode == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(in_channels, out_channels, kernel_size=1),
    )


@register_model("unet")
def unet(**kwargs) -> UNet:
    """Plain U-Net; kwargs: in_channels, base_channels, depth, dropout, upsample,
    out_channels."""
    return UNet(**kwargs)
