"""Checks of a training config that its types alone do not catch."""
from __future__ import annotations

from ..config import TrainConfig
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
