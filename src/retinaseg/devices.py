"""Which device a model runs on, and the arithmetic precision that suits it.

``auto`` takes CUDA, then Apple's MPS, then the CPU. Mixed precision is chosen
per device: bf16 autocast on CUDA devices that support it (fp16 with a
gradient scaler on older ones), and fp32 on the CPU, where bf16 is only faster
on processors with bf16 instructions (``--bf16`` forces it there).
"""
from __future__ import annotations

import contextlib
import re

import torch

from .errors import RetinasegError
from .names import PRECISIONS  # noqa: F401 (re-exported)

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N, mps"


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` for ``name`` (``auto`` / None picks the best present)."""
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise RetinasegError(f"unknown device {name!r}; expected one of {DEVICE_CHOICES}")
    if name.startswith("cuda"):
        _check_cuda(name)
    if name == "mps" and not _mps_available():
        raise RetinasegError("device 'mps' asked for, but this PyTorch build or machine has no MPS")
    return torch.device(name)


def _check_cuda(name: str) -> None:
    if not torch.cuda.is_available():
        raise RetinasegError(f"device {name!r} asked for, but no CUDA GPU is available "
                             "(use --device cpu or auto)")
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise RetinasegError(f"device {name!r} asked for, but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain fp32.

    ``auto``: bf16 on a CUDA device that supports it, else fp16 on CUDA; fp32 on
    the CPU and MPS.
    """
    if precision not in PRECISIONS:
        raise RetinasegError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype`` on ``device``, or nothing for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def training_dtype(device: torch.device, precision: str = "auto",
                   bf16: bool = False) -> torch.dtype | None:
    """The autocast dtype a training config asks for; its older ``bf16: true``
    switch means ``precision: bf16`` (checks reject the two disagreeing)."""
    return autocast_dtype(device, "bf16" if bf16 and precision == "auto" else precision)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """fp16 gradients underflow without loss scaling; bf16 and fp32 need none
    (a disabled scaler passes everything through)."""
    return torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)


def prepare_device(device: torch.device) -> None:
    """Per-device switches: on CUDA the current device, and cuDNN's benchmark mode
    (training crops have one size, so the fastest kernels are found once)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def precision_label(device: torch.device, precision: str = "auto") -> str:
    """What ``precision`` amounts to on ``device``: ``fp32``, ``bf16`` or ``fp16``
    (recorded beside results, since ``auto`` differs between machines)."""
    dtype = autocast_dtype(device, precision)
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def module_device(module) -> torch.device:
    """Where ``module``'s weights live (the CPU for a module without any)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def prepare_for_inference(device: torch.device) -> None:
    """Per-device switches for inference. On CUDA, cuDNN's benchmark mode picks
    the fastest convolution kernels for each input shape once, then reuses them:
    a cohort's photos share a few working sizes, and tiles share one."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
