"""Prediction on numpy arrays for a network run by onnxruntime: the twin of
:mod:`retinaseg.pipeline.predict`, step for step (whole image or blended tiles, the
TTA views and their inverses, the resize back to the photo), so that both backends
give the same masks and a process that segments with an ONNX graph never imports
torch. ``tests/test_backends.py`` holds the two to each other.

The network (``model.module``) is anything with ``probabilities(x)`` and
``logits(x)`` on ``(N, C, H, W)`` float32 arrays of any size (the ONNX graph pads
to its stride itself), and ``out_channels`` and ``needs_whole_image``.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from . import working as maps  # the tiling bounds both backends keep
from .settings import InferenceSettings, LoadedModel, check_tta, tta_rotations


def native_maps(model: LoadedModel, x: np.ndarray, shape: tuple[int, int],
                settings: InferenceSettings) -> np.ndarray:
    """Every output's probabilities ``(out_channels, H, W)`` at the photo's ``shape``
    for the preprocessed working input ``x`` (:func:`retinaseg.pipeline.maps.predict_maps`)."""
    probabilities = predict_maps_numpy(model.module, x, settings.tta)
    if probabilities.shape[-2:] != tuple(shape):
        probabilities = resize_maps(probabilities, shape)
    return np.clip(probabilities, 0.0, 1.0, out=probabilities)


def resize_maps(planes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(C, h, w)`` float32 maps resized to ``shape`` (H, W): Pillow's bilinear filter
    widens with a reduction, as PyTorch's ``antialias=True`` bilinear does."""
    size = (shape[1], shape[0])
    return np.stack([np.asarray(Image.fromarray(p).resize(size, Image.Resampling.BILINEAR))
                     for p in planes])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def ramp(size: int, overlap: int) -> np.ndarray:
    """1 in the middle, falling linearly to near 0 over ``overlap`` at each end."""
    values = np.ones(size, dtype=np.float32)
    if overlap > 0:
        edge = np.linspace(1.0 / (overlap + 1), 1.0, overlap, dtype=np.float32)
        values[:overlap], values[-overlap:] = edge, edge[::-1]
    return values


def tile_starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    return list(range(0, length - tile, step)) + [length - tile]


def sliding_window_logits(network, x: np.ndarray, tile: int = maps.TILE_SIZE,
                          overlap: int = maps.TILE_OVERLAP) -> np.ndarray:
    """Logits of a large ``(1, C, H, W)`` image from overlapping tiles blended by a ramp."""
    height, width = x.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    total = np.zeros((1, network.out_channels, height, width), dtype=np.float32)
    weight = np.zeros((1, 1, height, width), dtype=np.float32)
    window = (ramp(tile_h, min(overlap, tile_h // 4))[:, None] *
              ramp(tile_w, min(overlap, tile_w // 4))[None, :])
    for top in tile_starts(height, tile_h, tile_h - overlap):
        for left in tile_starts(width, tile_w, tile_w - overlap):
            where = (Ellipsis, slice(top, top + tile_h), slice(left, left + tile_w))
            total[where] += network.logits(np.ascontiguousarray(x[where])) * window
            weight[where] += window
    return total / weight


def _probabilities(network, view: np.ndarray) -> np.ndarray:
    # A model whose context is a whole row or column must never see tiles.
    small = view.shape[-2] * view.shape[-1] <= maps.MAX_WHOLE_IMAGE_PIXELS
    if network.needs_whole_image or small:
        return network.probabilities(np.ascontiguousarray(view))
    return sigmoid(sliding_window_logits(network, view))


def rotate(x: np.ndarray, degrees: float) -> np.ndarray:
    """``(N, C, H, W)`` rotated about its centre in its own frame (zeros rotate in),
    as :func:`retinaseg.data.augment.rotate` does: quarter turns exact, other
    angles bilinear, positive angles clockwise on screen."""
    turns = degrees / 90.0
    height, width = x.shape[-2:]
    if turns == round(turns) and (height == width or round(turns) % 2 == 0):
        return np.rot90(x, -round(turns) % 4, axes=(-2, -1))
    from scipy.ndimage import map_coordinates

    angle = math.radians(-degrees)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    v, u = v - cy, u - cx
    rows = cy + math.sin(angle) * u + math.cos(angle) * v
    columns = cx + math.cos(angle) * u - math.sin(angle) * v
    planes = x.reshape(-1, height, width)
    out = [map_coordinates(p, [rows, columns], order=1, mode="grid-constant", cval=0.0)
           for p in planes]
    return np.stack(out).reshape(x.shape).astype(x.dtype, copy=False)


def tta_variants(mode: str):
    """(forward transform, inverse transform) pairs on ``(..., H, W)`` arrays."""
    check_tta(mode)
    if tta_rotations(mode):
        count = tta_rotations(mode)
        angles = [360.0 * k / count for k in range(count)]
        return [(lambda t, a=a: rotate(t, a), lambda t, a=a: rotate(t, -a)) for a in angles]
    variants = [(lambda t: t, lambda t: t)]
    if mode in ("flip", "flip+rot90"):
        variants += [(lambda t, a=a: np.flip(t, a), lambda t, a=a: np.flip(t, a))
                     for a in (-1, -2, (-2, -1))]
    if mode == "flip+rot90":
        variants += [(lambda t, k=k: np.rot90(t, k, (-2, -1)),
                      lambda t, k=k: np.rot90(t, -k, (-2, -1))) for k in (1, 3)]
    return variants


def pad_to_diagonal(x: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]]:
    """``x`` centred in a square as wide as its diagonal (no pixel leaves the frame
    at any rotation), and the slices of ``x`` in it."""
    height, width = x.shape[-2:]
    side = math.ceil(math.hypot(height, width))
    top, left = (side - height) // 2, (side - width) // 2
    pads = [(0, 0)] * (x.ndim - 2) + [(top, side - height - top), (left, side - width - left)]
    return np.pad(x, pads), (slice(top, top + height), slice(left, left + width))


def predict_maps_numpy(network, x: np.ndarray, tta: str) -> np.ndarray:
    """Every output's probabilities ``(out_channels, h, w)`` at the working geometry,
    averaged over the TTA views (each pixel over the views whose frame held it)."""
    batch, inside = x[None], (slice(None), slice(None))
    if tta_rotations(tta):
        batch, inside = pad_to_diagonal(batch)
    channels = network.out_channels
    total = np.zeros((channels, *batch.shape[-2:]), dtype=np.float32)
    weight = np.zeros(batch.shape[-2:], dtype=np.float32)
    variants = tta_variants(tta)
    for forward, inverse in variants:
        prob = _probabilities(network, forward(batch))
        if len(variants) == 1:  # no TTA: the map as it came, no copies
            return prob[0][(slice(None), *inside)]
        back = inverse(np.concatenate([prob, np.ones_like(prob[:, :1])], axis=1))
        total += back[0, :channels]
        weight += back[0, channels]
    return (total / np.maximum(weight, 1e-6))[(slice(None), *inside)]
