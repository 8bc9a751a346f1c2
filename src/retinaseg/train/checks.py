"""Config checks, kept under their old name for callers of ``train.check_config``.

Every rule lives in :mod:`retinaseg.config.rules` and runs when a config is
loaded; this re-check is cheap and guards a ``TrainConfig`` that was built or
changed by hand (``dataclasses.replace``) instead of loaded.
"""
from __future__ import annotations

from ..config.schema import TrainConfig
from ..config.rules import check_config as _check_rules
from ..errors import RetinasegError


def check_config(cfg: TrainConfig) -> None:
    _check_rules(cfg)


def check_world(cfg: TrainConfig, world: int) -> None:
    """Several ranks share each batch of ``data.batch_size`` (the global batch)."""
    if world > 1 and cfg.data.batch_size % world:
        raise RetinasegError(f"data.batch_size={cfg.data.batch_size} is the global batch and "
                             f"must divide evenly over {world} processes")
