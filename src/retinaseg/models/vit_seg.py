"""A patch-based Vision Transformer segmenter (ViT encoder, linear per-patch decoder).

Each ``patch_size`` square becomes one token; a stack of pre-norm transformer
layers mixes all tokens, and a linear head turns each token back into its
patch's ``patch_size**2`` pixel logits (the "linear" decoder of SETR/Segmenter).
Position embeddings are a learned 2-D grid for ``image_size`` inputs, resized
for any other grid, so any multiple of ``patch_size`` works.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import register_model
from .contract import SegmentationModel


class ViTSeg(SegmentationModel):
    """Returns logits ``(N, out_channels, H, W)``; H and W must be multiples of :attr:`stride`."""

    def __init__(self, in_channels: int = 3, patch_size: int = 16, embed_dim: int = 192,
                 depth: int = 6, num_heads: int = 3, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, image_size: int = 512, out_channels: int = 1):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.stride = patch_size
        self.in_channels, self.out_channels = in_channels, out_channels
        self.patch_embed = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)
        grid = image_size // patch_size
        # Kept as a (1, D, grid, grid) map, the layout F.interpolate resizes.
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, grid, grid))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, int(embed_dim * mlp_ratio),
                                           dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        # Nested tensors only help padded batches, and warn with pre-norm layers.
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)  # pre-norm layers leave the last output unnormalised
        self.head = nn.Linear(embed_dim, out_channels * patch_size * patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)  # the patch grid would silently crop any other size
        tokens = self.patch_embed(x)  # (N, D, H / p, W / p)
        n, _, rows, cols = tokens.shape
        tokens = tokens + position_grid(self.pos_embed, (rows, cols))
        tokens = self.norm(self.encoder(tokens.flatten(2).transpose(1, 2)))
        patches = self.head(tokens).transpose(1, 2).reshape(n, -1, rows, cols)
        return F.pixel_shuffle(patches, self.stride)  # channel i*p + j -> pixel (i, j) of its patch


def position_grid(pos_embed: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The position embeddings for a ``size`` token grid: bicubic-resized if it differs."""
    if tuple(pos_embed.shape[-2:]) == tuple(size):
        return pos_embed
    return F.interpolate(pos_embed, size=size, mode="bicubic", align_corners=False)


@register_model("vit-seg")
def vit_seg(**kwargs) -> ViTSeg:
    """Patch ViT segmenter; kwargs: in_channels, patch_size, embed_dim, depth, num_heads,
    mlp_ratio, dropout, image_size, out_channels."""
    return ViTSeg(**kwargs)
