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
    check_fov_range(cfg.data.fov_range)
    check_camera_augmentation(cfg.augment)
    if cfg.data.fov_range and (cfg.data.fov_diameter or cfg.data.square_size):
        raise RetinasegError("data.fov_range sets each image's scale; set data.fov_diameter "
                             "and data.square_size to 0")
    if cfg.augment.fixed_rotations and cfg.augment.rotate:
        raise RetinasegError(f"augment.fixed_rotations={cfg.augment.fixed_rotations} replaces "
                             f"random rotation; set augment.rotate=0 (it is {cfg.augment.rotate:g})")


def check_fov_range(fov_range) -> None:
    """``[]`` or ``[low, high]`` with 16 <= low <= high."""
    if not fov_range:
        return
    if (len(fov_range) != 2 or not all(isinstance(v, (int, float)) for v in fov_range)
            or not 16 <= fov_range[0] <= fov_range[1]):
        raise RetinasegError(f"data.fov_range must be [low, high] pixels with 16 <= low <= high, "
                             f"not {fov_range}")


def check_camera_augmentation(augment) -> None:
    """The camera changes' ranges: gains and light fields that keep pixels positive."""
    for name in ("colour", "illumination"):
        if not 0.0 <= getattr(augment, name) < 1.0:
            raise RetinasegError(f"augment.{name} must be in [0, 1), not {getattr(augment, name)}")
    if not 0.0 <= augment.blur <= 10.0 or not 0.0 <= augment.noise <= 0.5:
        raise RetinasegError(f"augment.blur must be in [0, 10] px and augment.noise in [0, 0.5]; "
                             f"not {augment.blur} and {augment.noise}")
    if augment.jpeg and not 5 <= augment.jpeg <= 95:
        raise RetinasegError(f"augment.jpeg must be 0 (off) or a JPEG quality in [5, 95], "
                             f"not {augment.jpeg}")
