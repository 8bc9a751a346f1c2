"""Training augmentation.

Photometric changes act on the RGB photo before preprocessing, as a different
camera exposure would. Geometric changes (any rotation angle, scale, flips)
happen while cutting crops: one ``grid_sample`` call per image moves the
image, vessel mask and FOV together, so they can never fall out of alignment.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..config import AugmentConfig


def photometric(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and gamma on a uint8 RGB photo."""
    if not (cfg.brightness or cfg.contrast or cfg.gamma):
        return image
    x = image.astype(np.float32) / 255.0
    mean = x.mean()
    contrast = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    brightness = rng.uniform(-cfg.brightness, cfg.brightness)
    x = np.clip((x - mean) * contrast + mean + brightness, 0.0, 1.0)
    x = x ** (1.0 + rng.uniform(-cfg.gamma, cfg.gamma))
    return (x * 255.0 + 0.5).astype(np.uint8)


def crop_transforms(centres: np.ndarray, size: int, shape: tuple[int, int], cfg: AugmentConfig,
                    rng: np.random.Generator) -> torch.Tensor:
    """Affine matrices ``(N, 2, 3)`` for ``affine_grid``: crops of ``size`` pixels
    around ``centres`` (x, y in pixels), rotated, scaled and flipped at random."""
    height, width = shape
    count = len(centres)
    # An even-sized crop has no centre pixel: shift by half a pixel so that the
    # sampling points land on pixel centres (no interpolation blur without rotation).
    centres = centres + (0.5 if size % 2 == 0 else 0.0)
    angles = np.deg2rad(rng.uniform(-cfg.rotate, cfg.rotate, count))
    zoom = 1.0 + rng.uniform(-cfg.scale, cfg.scale, count)
    flip = np.where(rng.random(count) < 0.5, -1.0, 1.0) if cfg.flip else np.ones(count)
    half = size / 2.0 / zoom
    cos, sin = np.cos(angles), np.sin(angles)
    theta = np.zeros((count, 2, 3), dtype=np.float32)
    theta[:, 0, 0] = 2.0 / width * half * cos * flip
    theta[:, 0, 1] = -2.0 / width * half * sin
    theta[:, 1, 0] = 2.0 / height * half * sin * flip
    theta[:, 1, 1] = 2.0 / height * half * cos
    theta[:, 0, 2] = (2.0 * centres[:, 0] + 1.0) / width - 1.0
    theta[:, 1, 2] = (2.0 * centres[:, 1] + 1.0) / height - 1.0
    return torch.from_numpy(theta)


def sample_centres(fov: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Crop centres drawn uniformly from the FOV pixels, as (x, y)."""
    ys, xs = np.nonzero(fov)
    pick = rng.integers(0, len(xs), count)
    return np.stack([xs[pick], ys[pick]], axis=1).astype(np.float64)


def random_crops(image: torch.Tensor, vessel: torch.Tensor, fov: torch.Tensor, count: int,
                 size: int, cfg: AugmentConfig, rng: np.random.Generator):
    """``count`` augmented crops of one image: ``(N, C, S, S)``, ``(N, 1, S, S)`` x2.

    Pixels sampled from outside the photo get FOV 0 and so never reach the loss.
    """
    centres = sample_centres(fov.numpy() > 0.5, count, rng)
    theta = crop_transforms(centres, size, tuple(image.shape[-2:]), cfg, rng)
    grid = F.affine_grid(theta, (count, 1, size, size), align_corners=False)
    expand = lambda t: t[None].expand(count, *t.shape)  # noqa: E731
    crops = F.grid_sample(expand(image), grid, mode="bilinear", align_corners=False)
    masks = F.grid_sample(expand(torch.stack([vessel, fov])), grid, mode="bilinear",
                          align_corners=False)
    # Re-binarise: bilinear sampling of a 0/1 mask blurs its edges.
    masks = (masks > 0.5).float()
    return crops, masks[:, :1], masks[:, 1:]


def whole_image_size(shape: tuple[int, int], stride: int) -> int:
    """Square crop side that holds a whole image at any rotation, rounded to the stride."""
    side = math.ceil(math.hypot(*shape) * 0.8)  # the FOV circle, not the corners, must fit
    return side + (-side) % stride
