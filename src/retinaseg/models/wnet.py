"""W-Net: two small U-Nets in a row, the second reading the photo and the first's map.

The first U-Net draws the vessels; the second sees where they were drawn beside the
photo and corrects the map: thin vessels the first left broken, widths it got wrong.
Galdran et al. (LWNet, 2022) showed two such tiny U-Nets (tens of thousands of
parameters) matching far larger models on DRIVE; this is our own small version,
built from the project's U-Net, so that its cost per pixel can be set to ``unet``'s
by its widths (``benchmarks/results/model_cost.md``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import register_model
from .contract import SegmentationModel
from .unet import UNet


class WNet(SegmentationModel):
    """Two U-Nets (``base_channels``, ``depth``), the second on the photo's channels
    plus the first's vessel probability; logits of the second, ``(N, out_channels, H, W)``."""

    def __init__(self, in_channels: int = 1, base_channels: int = 8, depth: int = 3,
                 dropout: float = 0.0, out_channels: int = 1):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride = 2**depth
        self.first = UNet(in_channels, base_channels, depth, dropout)
        self.second = UNet(in_channels + 1, base_channels, depth, dropout,
                           out_channels=out_channels)

    def finetune_encoder(self) -> nn.Module:
        return self.first.encoders

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = torch.sigmoid(self.first(x))
        return self.second(torch.cat([x, first], dim=1))


@register_model("wnet")
def wnet(**kwargs) -> WNet:
    """Two U-Nets in a row; kwargs: in_channels, base_channels, depth, dropout, out_channels."""
    return WNet(**kwargs)
