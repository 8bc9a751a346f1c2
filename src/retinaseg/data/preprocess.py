"""Preprocessing as the vessel literature uses it, one function per step.

A pipeline is a list of step names, optionally with one argument after a colon,
e.g. ``["green", "clahe:0.01", "gamma:1.2", "fov_normalise"]``. The first step
turns the RGB photo into channels (``green``, ``grey``, ``rgb`` or ``lab``); the
others act on those channels. :func:`preprocess` returns ``(C, H, W)`` float32.
"""
from __future__ import annotations

import math
import os
import threading
from typing import Callable

import numpy as np
from skimage import color, exposure

from ..errors import RetinasegError

# CLAHE tiles in pixels at the model's working scale, so that the contrast
# neighbourhood covers the same anatomy whatever the photo's size.
CLAHE_KERNEL_PX = 64


def green(image: np.ndarray) -> np.ndarray:
    """The green channel: vessels have the best contrast there."""
    return image[..., 1:2].astype(np.float32) / 255.0


def grey(image: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, as in the common DRIVE preprocessing."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (image.astype(np.float32) @ weights / 255.0)[..., None]


def rgb(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def lab(image: np.ndarray) -> np.ndarray:
    """CIE-Lab scaled to about [0, 1] for L and [-1, 1] for a and b."""
    converted = color.rgb2lab(image).astype(np.float32)
    return converted / np.array([100.0, 128.0, 128.0], dtype=np.float32)


def clahe(channels: np.ndarray, clip_limit: float = 0.01) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation, channel by channel: in threads
    where there are several channels and cores (the same numbers; an RGB model's
    equalisation took three times a green one's, a quarter of the network's time)."""
    out = np.empty_like(channels)

    def equalise(c: int) -> None:
        plane = np.clip(channels[..., c], 0.0, 1.0)
        out[..., c] = exposure.equalize_adapthist(plane, kernel_size=CLAHE_KERNEL_PX,
                                                  clip_limit=clip_limit)

    count = channels.shape[-1]
    workers = min(count, preprocess_threads())
    if workers <= 1:
        for c in range(count):
            equalise(c)
    else:
        list(_channel_pool(workers).map(equalise, range(count)))
    return out


_THREADS: dict[str, int | None] = {"count": None}
_POOLS: dict[tuple[int, int], object] = {}  # (process id, size) -> pool: none survives a fork
_POOL_LOCK = threading.Lock()


def set_preprocess_threads(count: int | None) -> None:
    """How many threads preprocessing may use in this process (None: the cores it may
    run on); a cohort worker sets its share of the machine, as it does torch's."""
    _THREADS["count"] = None if count is None else max(1, int(count))


def preprocess_threads() -> int:
    if _THREADS["count"] is not None:
        return _THREADS["count"]
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _channel_pool(size: int):
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), size)
    with _POOL_LOCK:
        if key not in _POOLS:
            _POOLS[key] = ThreadPoolExecutor(size, thread_name_prefix="retinaseg-clahe")
        return _POOLS[key]


def gamma(channels: np.ndarray, value: float = 1.2) -> np.ndarray:
    return np.power(np.clip(channels, 0.0, 1.0), value)


def fov_normalise(channels: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the FOV pixels; zero outside the FOV.

    Statistics from the FOV only, because the black surround would otherwise
    dominate them and vary with how much of the frame the fundus fills.
    """
    inside = channels[fov]
    if inside.size == 0:
        raise RetinasegError("cannot normalise: the field of view is empty")
    mean, std = inside.mean(axis=0), inside.std(axis=0) + 1e-6
    out = (channels - mean) / std
    out[~fov] = 0.0
    return out


CHANNEL_STEPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "green": green, "grey": grey, "rgb": rgb, "lab": lab,
}
FILTER_STEPS: dict[str, Callable[..., np.ndarray]] = {"clahe": clahe, "gamma": gamma}
FOV_STEPS = {"fov_normalise": fov_normalise}


def parse_step(step: str) -> tuple[str, float | None]:
    name, _, argument = str(step).partition(":")
    known = {**CHANNEL_STEPS, **FILTER_STEPS, **FOV_STEPS}
    if name not in known:
        raise RetinasegError(f"unknown preprocessing step {name!r}; known: {', '.join(known)}")
    try:
        value = float(argument) if argument else None
    except ValueError:
        value = math.nan
    if value is not None and not (math.isfinite(value) and value > 0):
        raise RetinasegError(f"preprocessing step {step!r}: argument must be a finite number > 0")
    return name, value


def validate_pipeline(steps: list[str]) -> list[tuple[str, float | None]]:
    parsed = [parse_step(s) for s in steps]
    if not parsed or parsed[0][0] not in CHANNEL_STEPS:
        raise RetinasegError(f"a preprocessing pipeline must start with one of "
                             f"{', '.join(CHANNEL_STEPS)}; got {steps}")
    if any(name in CHANNEL_STEPS for name, _ in parsed[1:]):
        raise RetinasegError(f"only the first preprocessing step may select channels: {steps}")
    return parsed


def preprocess(image: np.ndarray, fov: np.ndarray, steps: list[str]) -> np.ndarray:
    """Run a pipeline on an RGB uint8 image; returns ``(C, H, W)`` float32."""
    parsed = validate_pipeline(steps)
    channels = CHANNEL_STEPS[parsed[0][0]](image)
    for name, argument in parsed[1:]:
        if name in FOV_STEPS:
            channels = FOV_STEPS[name](channels, fov)
        else:
            args = () if argument is None else (argument,)
            channels = FILTER_STEPS[name](channels, *args)
    return np.ascontiguousarray(channels.transpose(2, 0, 1), dtype=np.float32)


def pipeline_channels(steps: list[str]) -> int:
    """How many input channels a model fed by this pipeline needs."""
    first = validate_pipeline(steps)[0][0]
    return 3 if first in ("rgb", "lab") else 1
