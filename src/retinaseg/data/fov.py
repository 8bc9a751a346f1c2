"""Field-of-view estimation for photographs that come without a FOV mask."""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import RetinasegError

# The FOV edge is a large, smooth shape: find it on a copy whose longer side is
# 512-1023 px (HRF's 3504x2336 is reduced 6x) and upsample the mask.
WORK_SIZE = 512
# The fundus starts this many grey levels above the surround's brightest noise.
NOISE_MARGIN = 10.0


def estimate_fov(image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Estimate the circular fundus region: everything but the dark surround.

    ``valid`` (e.g. :attr:`~retinaseg.data.io.Photo.valid`, False where the
    file is transparent) bounds the estimate: a pixel outside it is never FOV.

    A first threshold, at a tenth of the image's bright level, finds the fundus
    but cuts into a dim periphery (some CHASE_DB1 edges fade to 10-30 grey
    levels). The surround outside that first region then gives its noise level,
    and the final threshold sits just above it, never above the first one. Each
    pass keeps the largest component and fills its holes (vessels, lesions).
    Measured against the official masks in ``benchmarks/fov_estimate.py``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    fov = _estimate(image)
    return fov if valid is None else fov & valid


def _estimate(image: np.ndarray) -> np.ndarray:
    factor = max(1, max(image.shape[:2]) // WORK_SIZE)
    small = np.asarray(Image.fromarray(image).reduce(factor)) if factor > 1 else image
    bright = brightest_channel(small)
    first_level = max(15.0, 0.1 * float(np.percentile(bright, 99)))
    fov = _main_region(bright > first_level)
    if fov is None:
        return np.ones(image.shape[:2], dtype=bool)
    surround = bright[~ndimage.binary_dilation(fov, iterations=3)]
    if surround.size > 0.01 * bright.size:  # else no surround to measure: keep the first pass
        level = min(first_level, float(np.percentile(surround, 99.5)) + NOISE_MARGIN)
        fov = _main_region(bright > level)
    return _upsample(fov, factor, image.shape[:2])


def _main_region(mask: np.ndarray) -> np.ndarray | None:
    """The largest component after removing specks, with its holes filled."""
    # an opening that lets the region run off the image (a cropped circle) without a notch
    mask = ndimage.binary_dilation(ndimage.binary_erosion(mask, iterations=2, border_value=1),
                                   iterations=2)
    labels, count = ndimage.label(mask)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]  # ndimage.sum's counts, 10x faster
    return fill_holes(labels == 1 + int(np.argmax(sizes)))


def brightest_channel(image: np.ndarray) -> np.ndarray:
    """``image.max(axis=2)`` of an (H, W, 3) image, 25x faster: NumPy reduces a
    3-long last axis one pixel at a time."""
    return np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_fill_holes(mask)``, the same pixels in about a third of the
    time: a hole is a 4-connected background component that does not touch the
    image's edge (the one-pixel dilation from the edge scipy runs to find them is slow)."""
    background, count = ndimage.label(~mask)
    if count == 0:
        return mask.copy()
    edge = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    is_hole = np.ones(count + 1, dtype=bool)
    is_hole[edge] = False  # label 0 (the mask itself) is on no list: it stays False too
    is_hole[0] = False
    return mask | is_hole[background]


def _upsample(mask: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Undo ``Image.reduce(factor)``; bilinear on 0/255 keeps the edge smooth."""
    if factor == 1:
        return mask
    height, width = mask.shape
    big = Image.fromarray(mask.astype(np.uint8) * 255).resize(
        (width * factor, height * factor), Image.Resampling.BILINEAR)
    return np.asarray(big)[:shape[0], :shape[1]] > 127


def fov_diameter(fov: np.ndarray) -> float:
    """The FOV's width in pixels: the scale a model was trained at.

    Width rather than height because many cameras crop the top and bottom of
    the fundus circle but never its sides.
    """
    columns = np.flatnonzero(fov.any(axis=0))
    if columns.size == 0:
        raise RetinasegError("the field of view is empty: nothing to segment")
    return float(columns[-1] - columns[0] + 1)
