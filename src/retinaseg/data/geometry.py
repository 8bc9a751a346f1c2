"""Image geometry shared by training and inference: the working scale a model
sees, resampling photos and masks to it, and padding to a network's stride.

Training and inference must bring a photo to the same geometry, so both call
:func:`to_working_geometry`; nothing else decides the scale.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .fov import fov_diameter

# Below this relative change a resample would only blur: segment as is.
SCALE_TOLERANCE = 0.05


def scale_to(target_diameter: float, fov: np.ndarray) -> float:
    """Factor taking a photo whose FOV is ``fov`` to a FOV ``target_diameter``
    pixels wide (1.0 = as is, within :data:`SCALE_TOLERANCE`)."""
    scale = target_diameter / fov_diameter(fov)
    return 1.0 if abs(scale - 1.0) < SCALE_TOLERANCE else scale


def resample(image: np.ndarray, fov: np.ndarray, scale: float):
    """An RGB photo (Lanczos) and its FOV (nearest) scaled by ``scale``."""
    if scale == 1.0:
        return image, fov
    height, width = fov.shape
    size = (max(16, round(width * scale)), max(16, round(height * scale)))
    resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    resized_fov = np.asarray(Image.fromarray(fov).resize(size, Image.Resampling.NEAREST))
    return resized, resized_fov.astype(bool)


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 photo resized to ``shape`` (H, W); Pillow's bilinear filter
    widens with the reduction, so downsizing is antialiased."""
    return np.asarray(Image.fromarray(image).resize(shape[::-1], Image.Resampling.BILINEAR))


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask resized to ``shape`` (H, W): bilinear then > 0.5 keeps thin
    vessels' width in proportion, unlike nearest."""
    resized = Image.fromarray(mask.astype(np.float32)).resize(shape[::-1], Image.Resampling.BILINEAR)
    return np.asarray(resized) > 0.5


def target_fov_width(fov: np.ndarray, fov_target: float = 0.0, fov_range=()) -> float:
    """The FOV width a photo is brought to: ``fov_target``, or with ``fov_range``
    ``(low, high)`` the photo's own width clamped into that range (0 = as is).

    A range lets one model serve cameras of every resolution at a scale close to
    their own: a photo is reduced only as far as the model's largest training
    scale, never to the smallest.
    """
    if fov_range:
        low, high = fov_range
        return float(np.clip(fov_diameter(fov), low, high))
    return float(fov_target)


def to_working_geometry(image: np.ndarray, fov: np.ndarray, fov_target: float = 0.0,
                        square_size: int = 0, fov_range=()):
    """The photo and its FOV at a model's geometry: ``square_size`` square, or
    resampled to the FOV width :func:`target_fov_width` gives, or as they are."""
    if square_size:
        shape = (square_size, square_size)
        return resize_image(image, shape), resize_mask(fov, shape)
    target = target_fov_width(fov, fov_target, fov_range)
    if not target:
        return image, fov
    return resample(image, fov, scale_to(target, fov))


def pad_to_stride(x: torch.Tensor, stride: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` padded at the bottom and right to a multiple of ``stride``, and its
    original ``(H, W)``."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % stride, (-width) % stride
    return F.pad(x, (0, pad_w, 0, pad_h)), (height, width)
