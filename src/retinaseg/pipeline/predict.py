"""Whole-image and tiled prediction at the model's training scale, on PyTorch (the
reference backend; :mod:`retinaseg.pipeline.predict_numpy` is onnxruntime's twin).

A photo of any size is resampled so that its FOV is as wide as the training
images' FOV (or, for a model trained with ``square_size``, resized to that
square), preprocessed, segmented (whole, or in overlapping tiles blended
with a linear ramp when large), and its probabilities resized back to native
resolution, where every metric is computed.

Inference runs where the model's weights are (``model.device``): inputs are
moved there, tiles and TTA views are accumulated there, and the probabilities
come back to the CPU as numpy at the end. The autocast precision follows the
device (:func:`retinaseg.devices.autocast_dtype`): bf16 or fp16 on CUDA, fp32 on
the CPU unless bf16 is asked for.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..data.augment import rotate
from ..data.geometry import pad_to_stride
from ..devices import autocast, autocast_dtype, module_device
from ..models.contract import require_contract
from .working import (  # noqa: F401 (the shared steps, named here as before)
    MAX_WHOLE_IMAGE_PIXELS,
    TILE_OVERLAP,
    TILE_SIZE,
    output_names,
    working_copy,
    working_fov_width,
    working_scale,
)
from .settings import InferenceSettings, LoadedModel, check_tta, tta_rotations

def forward_logits(module, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """fp32 logits for a ``(N, C, H, W)`` batch of any size (padded to the stride),
    on ``x``'s device, under autocast to ``dtype`` (None: plain fp32)."""
    padded, (height, width) = pad_to_stride(x, require_contract(module).stride)
    with torch.inference_mode(), autocast(x.device, dtype):
        logits = module(padded.contiguous(memory_format=torch.channels_last))
    return logits[..., :height, :width].float()


def _ramp(size: int, overlap: int) -> torch.Tensor:
    """1 in the middle, falling linearly to near 0 over ``overlap`` at each end."""
    ramp = torch.ones(size)
    if overlap > 0:
        edge = torch.linspace(1.0 / (overlap + 1), 1.0, overlap)
        ramp[:overlap], ramp[-overlap:] = edge, edge.flip(0)
    return ramp


def _tile_starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def sliding_window_logits(module, x: torch.Tensor, tile: int = TILE_SIZE,
                          overlap: int = TILE_OVERLAP,
                          dtype: torch.dtype | None = None) -> torch.Tensor:
    """Logits of a large ``(1, C, H, W)`` image from overlapping blended tiles.

    Memory stays bounded by one tile; the ramp weights hide the tile seams. The
    sums live on ``x``'s device, so no tile makes a round trip to the CPU.
    """
    height, width = x.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    channels = require_contract(module).out_channels
    total = torch.zeros(1, channels, height, width, device=x.device)
    weight = torch.zeros(1, 1, height, width, device=x.device)
    window = (_ramp(tile_h, min(overlap, tile_h // 4))[:, None] *
              _ramp(tile_w, min(overlap, tile_w // 4))[None, :]).to(x.device)
    for top in _tile_starts(height, tile_h, tile_h - overlap):
        for left in _tile_starts(width, tile_w, tile_w - overlap):
            patch = x[..., top:top + tile_h, left:left + tile_w]
            logits = forward_logits(module, patch, dtype)
            total[..., top:top + tile_h, left:left + tile_w] += logits * window
            weight[..., top:top + tile_h, left:left + tile_w] += window
    return total / weight


def _tta_variants(mode: str):
    """(forward transform, inverse transform) pairs on ``(..., H, W)`` tensors."""
    check_tta(mode)
    if tta_rotations(mode):
        angles = [360.0 * k / tta_rotations(mode) for k in range(tta_rotations(mode))]
        return [(lambda t, a=a: rotate(t, a), lambda t, a=a: rotate(t, -a)) for a in angles]
    variants = [(lambda t: t, lambda t: t)]
    if mode in ("flip", "flip+rot90"):
        variants += [(lambda t: t.flip(-1), lambda t: t.flip(-1)),
                     (lambda t: t.flip(-2), lambda t: t.flip(-2)),
                     (lambda t: t.flip(-2, -1), lambda t: t.flip(-2, -1))]
    if mode == "flip+rot90":
        variants += [(lambda t, k=k: t.rot90(k, (-2, -1)), lambda t, k=k: t.rot90(-k, (-2, -1)))
                     for k in (1, 3)]
    return variants


def pad_to_diagonal(x: torch.Tensor) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """``x`` centred in a square as wide as its diagonal, so that no pixel leaves
    the frame at any rotation; returns the padded tensor and the slices of ``x``."""
    height, width = x.shape[-2:]
    side = math.ceil(math.hypot(height, width))
    top, left = (side - height) // 2, (side - width) // 2
    padded = F.pad(x, (left, side - width - left, top, side - height - top))
    return padded, (slice(top, top + height), slice(left, left + width))


def _probabilities(module, view: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    # A model whose context is a whole row or column (a sequence model) must never
    # see tiles: a tile would cut its sequences short.
    small = view.shape[-2] * view.shape[-1] <= MAX_WHOLE_IMAGE_PIXELS
    if require_contract(module).needs_whole_image or small:
        return torch.sigmoid(forward_logits(module, view, dtype))
    return torch.sigmoid(sliding_window_logits(module, view, dtype=dtype))


def predict_tensor(module, x: torch.Tensor, tta: str = "none",
                   device: torch.device | str | None = None,
                   precision: str = "auto") -> torch.Tensor:
    """Vessel probabilities ``(H, W)``, on the CPU, for a preprocessed ``(C, H, W)`` tensor.

    It runs on ``device`` (None: where ``module``'s weights are; the module must
    already be there), under the autocast ``precision`` suits that device
    (see :func:`retinaseg.devices.autocast_dtype`).
    """
    device = torch.device(device) if device is not None else module_device(module)
    dtype = autocast_dtype(device, precision)
    return predict_on_device(module, x.to(device), tta, dtype).cpu()


def predict_maps_tensor(module, x: torch.Tensor, tta: str = "none",
                        device: torch.device | str | None = None,
                        precision: str = "auto") -> torch.Tensor:
    """:func:`predict_tensor` for every output: ``(out_channels, H, W)`` on the CPU."""
    device = torch.device(device) if device is not None else module_device(module)
    return predict_maps_on_device(module, x.to(device), tta, autocast_dtype(device, precision)).cpu()


def predict_on_device(module, x: torch.Tensor, tta: str, dtype: torch.dtype | None) -> torch.Tensor:
    """:func:`predict_tensor` on ``x``'s device, leaving the map there: the vessel map."""
    return predict_maps_on_device(module, x, tta, dtype)[0]


def predict_maps_on_device(module, x: torch.Tensor, tta: str,
                           dtype: torch.dtype | None) -> torch.Tensor:
    """Every output's probabilities ``(out_channels, H, W)`` on ``x``'s device.

    Each TTA view's maps are transformed back with a map of ones beside them, so a
    pixel is averaged over the views whose frame it was inside (rotations by
    other angles than multiples of 90 degrees cut corners off the frame).
    """
    batch, inside = x[None], (slice(None), slice(None))
    if tta_rotations(tta):
        batch, inside = pad_to_diagonal(batch)
    channels = require_contract(module).out_channels
    total = torch.zeros((channels, *batch.shape[-2:]), device=batch.device)
    weight = torch.zeros(batch.shape[-2:], device=batch.device)
    for forward, inverse in _tta_variants(tta):
        prob = _probabilities(module, forward(batch), dtype)
        back = inverse(torch.cat([prob, torch.ones_like(prob[:, :1])], dim=1))
        total += back[0, :channels]
        weight += back[0, channels]
    return (total / weight.clamp_min(1e-6))[(slice(None), *inside)]


def native_maps(model: LoadedModel, x: np.ndarray, shape: tuple[int, int],
                settings: InferenceSettings) -> np.ndarray:
    """Every output's probabilities ``(out_channels, H, W)`` at the photo's ``shape``,
    float32 on the CPU, for the preprocessed working input ``x`` (the torch backend of
    :func:`retinaseg.pipeline.maps.predict_maps`)."""
    device = model.device
    dtype = autocast_dtype(device, settings.precision)
    maps = predict_maps_on_device(model.module, torch.from_numpy(x).to(device), settings.tta,
                                  dtype)
    if maps.shape[-2:] != shape:  # resized on the device: the native maps are the big ones
        maps = F.interpolate(maps[None], size=shape, mode="bilinear",
                             align_corners=False, antialias=True)[0]
    return maps.clamp_(0.0, 1.0).cpu().numpy()


def __getattr__(name: str):
    """``predict_maps`` and ``predict_probabilities``, named here as before they moved to
    :mod:`retinaseg.pipeline.maps`, which dispatches to this module: looked up when
    asked for, so the two modules do not import each other."""
    if name in ("predict_maps", "predict_probabilities"):
        import importlib

        return getattr(importlib.import_module(".maps", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
