"""Image geometry shared by training and inference: the working scale a model
sees, resampling photos and masks to it, and padding to a network's stride.

Training and inference must bring a photo to the same geometry, so both call
:func:`to_working_geometry`; nothing else decides the scale. It also bounds
what any input can cost: the FOV must be at least :data:`MIN_FOV_SIZE` pixels
in both directions, a photo is enlarged at most :data:`MAX_UPSCALE` times, and
the working image never exceeds :data:`MAX_WORKING_PIXELS`; past any of these
the photo is refused (:class:`~retinaseg.errors.RetinasegError`), never
resampled without bound.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import RetinasegError
from .fov import fov_diameter

if TYPE_CHECKING:
    import torch

# Below this relative change a resample would only blur: segment as is.
SCALE_TOLERANCE = 0.05
# A FOV narrower or lower than this holds no usable vessel detail (the synthetic
# 64 px test photos have ~59 px FOVs; real fundus photos have hundreds).
MIN_FOV_SIZE = 32
# Enlarging more than this invents detail the photo does not hold: a FOV of
# 135 px is the smallest a model trained at DRIVE's 540 px segments.
MAX_UPSCALE = 4.0
# The largest working image (16 MP, e.g. 4000x4000): twice HRF at its native
# 3504x2336, and what bounds inference memory (benchmarks/results/peak_memory.md).
MAX_WORKING_PIXELS = 16_000_000


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


def seen_fov_range(fov_range, widths, scale_jitter: float = 0.0) -> list[float]:
    """The part of ``fov_range`` a model trained on FOVs of these ``widths`` (after
    clamping into the range) actually saw, scale augmentation of
    ``1 +- scale_jitter`` included; ``[]`` when no range is set.

    A photo narrower than anything in training is enlarged to the narrowest seen,
    not only to the configured low end: a model trained on CHASE_DB1 and HRF
    (FOVs 894-1280 px) never saw DRIVE's 1-2 px capillaries at 540 px, so it
    segments a DRIVE photo enlarged to 715 px (benchmarks/lodo_runs/README.md).
    """
    if not fov_range or not len(widths):
        return list(fov_range)
    low, high = fov_range
    seen_low = float(np.min(widths)) * (1.0 - scale_jitter)
    seen_high = float(np.max(widths)) * (1.0 + scale_jitter)
    return [float(np.clip(seen_low, low, high)), float(np.clip(seen_high, low, high))]


def to_working_geometry(image: np.ndarray, fov: np.ndarray, fov_target: float = 0.0,
                        square_size: int = 0, fov_range=()):
    """The photo and its FOV at a model's geometry: ``square_size`` square, or
    resampled to the FOV width :func:`target_fov_width` gives, or as they are.
    Refuses a FOV too small to segment, and a resample past the bounds below."""
    check_fov_size(fov)
    if square_size:
        shape = (square_size, square_size)
        return resize_image(image, shape), resize_mask(fov, shape)
    target = target_fov_width(fov, fov_target, fov_range)
    scale = scale_to(target, fov) if target else 1.0
    check_scale(scale, fov, target)
    return resample(image, fov, scale)


def largest_fov_width(fov: np.ndarray) -> float:
    """The widest FOV a photo may be brought to within :func:`check_scale`'s bounds."""
    height, width = fov.shape
    # a pixel short of the bound, so that the rounding of the resampled size stays inside
    factor = min(MAX_UPSCALE, np.sqrt(MAX_WORKING_PIXELS / (height * width))) * 0.999
    return fov_diameter(fov) * factor


def check_fov_size(fov: np.ndarray) -> None:
    """Refuse a FOV too small to hold vessel detail (or empty)."""
    rows, columns = np.flatnonzero(fov.any(axis=1)), np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        raise RetinasegError("the field of view is empty: nothing to segment")
    width, height = columns[-1] - columns[0] + 1, rows[-1] - rows[0] + 1
    if min(width, height) < MIN_FOV_SIZE:
        raise RetinasegError(f"the field of view is only {width}x{height} px; at least "
                             f"{MIN_FOV_SIZE} px in each direction is needed")


def check_scale(scale: float, fov: np.ndarray, fov_target: float) -> None:
    """Refuse a resample that enlarges too much or yields too large an image."""
    if scale > MAX_UPSCALE:
        raise RetinasegError(f"the field of view is {fov_diameter(fov):.0f} px wide; the model "
                             f"works at {fov_target:.0f} px, and enlarging {scale:.1f}x is past "
                             f"the {MAX_UPSCALE:g}x limit")
    height, width = fov.shape
    pixels = round(height * scale) * round(width * scale)
    if pixels > MAX_WORKING_PIXELS:
        raise RetinasegError(f"the working image would be {round(width * scale)}x"
                             f"{round(height * scale)} ({pixels / 1e6:.0f} MP), past the "
                             f"{MAX_WORKING_PIXELS / 1e6:.0f} MP limit: the field of view is "
                             "small in a large frame; crop the photo to the fundus")


def pad_to_stride(x: torch.Tensor, stride: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` padded at the bottom and right to a multiple of ``stride``, and its
    original ``(H, W)``."""
    import torch.nn.functional as F  # here only: the photo geometry above needs no torch

    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % stride, (-width) % stride
    return F.pad(x, (0, pad_w, 0, pad_h)), (height, width)
