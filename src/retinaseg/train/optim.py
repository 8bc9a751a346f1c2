"""Optimizers and a pure learning-rate function of the step."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..errors import RetinasegError

if TYPE_CHECKING:  # the config's rules use the names below: no import cycle at run time
    from ..config.schema import OptimConfig, ScheduleConfig

OPTIMIZERS = ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "poly", "plateau", "onecycle")
ONECYCLE_RISE = 0.3  # share of training spent rising to the peak rate


def build_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name in ("sgd_momentum", "sgd_nesterov"):
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.name == "sgd_nesterov", weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise RetinasegError(f"unknown optimizer {cfg.name!r}; known: {', '.join(OPTIMIZERS)}")


def check_schedule(cfg: ScheduleConfig) -> None:
    if cfg.name not in SCHEDULES:
        raise RetinasegError(f"unknown LR schedule {cfg.name!r}; known: {', '.join(SCHEDULES)}")


def lr_at(cfg: ScheduleConfig, base_lr: float, step: int, total_steps: int,
          steps_per_epoch: int, plateau_factor: float = 1.0) -> float:
    """Learning rate at optimizer step ``step`` (0-based) of ``total_steps``.

    Warm-up (linear from ~0) precedes every schedule except one-cycle, which has
    its own rise. ``plateau_factor`` carries reduce-on-plateau's decays.
    """
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    if cfg.name != "onecycle" and step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if cfg.name == "constant":
        return base_lr
    if cfg.name == "plateau":
        return max(cfg.min_lr, base_lr * plateau_factor)
    if cfg.name == "step":
        return base_lr * cfg.gamma ** (step // max(1, cfg.step_epochs * steps_per_epoch))
    if cfg.name == "cosine":
        return cfg.min_lr + (base_lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.name == "poly":
        return cfg.min_lr + (base_lr - cfg.min_lr) * (1.0 - progress) ** cfg.power
    if cfg.name == "onecycle":
        return _onecycle(base_lr, step / max(1, total_steps))
    raise RetinasegError(f"unknown LR schedule {cfg.name!r}; known: {', '.join(SCHEDULES)}")


def _onecycle(peak: float, progress: float) -> float:
    start, end = peak / 25.0, peak / 1e4
    if progress < ONECYCLE_RISE:
        phase = progress / ONECYCLE_RISE
        return start + (peak - start) * 0.5 * (1.0 - math.cos(math.pi * phase))
    phase = (progress - ONECYCLE_RISE) / (1.0 - ONECYCLE_RISE)
    return end + (peak - end) * 0.5 * (1.0 + math.cos(math.pi * phase))


class PlateauTracker:
    """Reduce-on-plateau state: multiply the LR by ``gamma`` after ``patience``
    validations without improvement of a higher-is-better metric."""

    def __init__(self, cfg: ScheduleConfig):
        self.gamma, self.patience = cfg.gamma, cfg.patience
        self.factor, self.best, self.waited = 1.0, -math.inf, 0

    def update(self, score: float) -> None:
        if score > self.best + 1e-5:
            self.best, self.waited = score, 0
            return
        self.waited += 1
        if self.waited > self.patience:
            self.factor *= self.gamma
            self.waited = 0

    def state_dict(self) -> dict:
        return {"factor": self.factor, "best": self.best, "waited": self.waited}

    def load_state_dict(self, state: dict) -> None:
        self.factor, self.best, self.waited = state["factor"], state["best"], state["waited"]
