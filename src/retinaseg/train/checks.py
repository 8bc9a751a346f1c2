"""Checks of a training config that its types alone do not catch."""
from __future__ import annotations

import re

from ..config import TrainConfig
from ..devices import DEVICE_CHOICES, PRECISIONS
from ..errors import RetinasegError
from ..inference import check_tta
from ..losses import LOSSES
from ..optim import check_schedule
from .finetune import INIT_SCOPES


def check_config(cfg: TrainConfig) -> None:
    if cfg.loss not in LOSSES:
        raise RetinasegError(f"unknown loss {cfg.loss!r}; known: {', '.join(LOSSES)}")
    check_schedule(cfg.schedule)
    if cfg.epochs < 1 or cfg.data.batch_size < 1:
        raise RetinasegError("epochs and data.batch_size must be at least 1")
    if cfg.encoder_lr_scale < 0:
        raise RetinasegError(f"encoder_lr_scale must be >= 0, not {cfg.encoder_lr_scale}")
    if cfg.init_scope not in INIT_SCOPES:
        raise RetinasegError(f"init_scope must be one of {', '.join(INIT_SCOPES)}, "
                             f"not {cfg.init_scope!r}")
    if not 0.0 <= cfg.threshold_min_specificity < 1.0:
        raise RetinasegError("threshold_min_specificity must be in [0, 1), not "
                             f"{cfg.threshold_min_specificity}")
    if not 0.0 <= cfg.ema < 1.0:
        raise RetinasegError(f"ema must be in [0, 1), not {cfg.ema}")
    if not 0.0 <= cfg.fixed_threshold < 1.0:
        raise RetinasegError(f"fixed_threshold must be in (0, 1), or 0 to choose it on "
                             f"validation; not {cfg.fixed_threshold}")
    check_tta(cfg.tta)
    if cfg.pos_weight < 0:
        raise RetinasegError(f"pos_weight must be > 0, or 0 for auto; not {cfg.pos_weight}")
    check_geometry(cfg)
    check_runtime(cfg)


def check_geometry(cfg: TrainConfig) -> None:
    """Options that would otherwise silently combine two ways of doing one thing."""
    if cfg.data.square_size < 0 or cfg.augment.fixed_rotations < 0:
        raise RetinasegError("data.square_size and augment.fixed_rotations must be >= 0 (0 = off)")
    if cfg.data.square_size and cfg.data.fov_diameter:
        raise RetinasegError("data.square_size and data.fov_diameter both rescale the images; "
                             "set one of them to 0")
    if cfg.augment.fixed_rotations and cfg.augment.rotate:
        raise RetinasegError(f"augment.fixed_rotations={cfg.augment.fixed_rotations} replaces "
                             f"random rotation; set augment.rotate=0 (it is {cfg.augment.rotate:g})")


def check_runtime(cfg: TrainConfig) -> None:
    """Device, precision and data-loading options (whether the device exists is
    checked when training starts, on the machine that trains)."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", cfg.device.strip().lower()):
        raise RetinasegError(f"device must be one of {DEVICE_CHOICES}, not {cfg.device!r}")
    if cfg.precision not in PRECISIONS:
        raise RetinasegError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"not {cfg.precision!r}")
    if cfg.bf16 and cfg.precision not in ("auto", "bf16"):
        raise RetinasegError(f"bf16: true asks for bf16 but precision is {cfg.precision!r}; "
                             "set one of them")
    if cfg.num_workers < 0 or cfg.seed < 0:
        raise RetinasegError(f"num_workers and seed must be >= 0 (num_workers "
                             f"{cfg.num_workers}, seed {cfg.seed})")


def check_world(cfg: TrainConfig, world: int) -> None:
    """Several ranks share each batch of ``data.batch_size`` (the global batch)."""
    if world > 1 and cfg.data.batch_size % world:
        raise RetinasegError(f"data.batch_size={cfg.data.batch_size} is the global batch and "
                             f"must divide evenly over {world} processes")
