"""The training loop: ``fit(config)`` writes a run folder with the resolved
config, a CSV log, ``last.safetensors`` (to resume), ``best.safetensors`` and the
final ``model.safetensors``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import ModelMeta, build_module, read_checkpoint, save_model
from ..config import TrainConfig, config_to_dict, save_config
from ..data.preprocess import pipeline_channels
from ..losses import compute_loss
from ..outputs import check_output_folder, writing
from ..optim import PlateauTracker, build_optimizer, lr_at
from ..utils import seed_everything
from .checks import check_config
from .data import TrainingData, epoch_batches, load_training_data, steps_per_epoch
from .finetune import load_initial_weights, parameter_groups, set_training_mode
from .state import (BEST, LAST, LOG, MODEL, RunLog, remove_stale_temps, resume_from, run_file,
                    save_last)
from .threshold import choose_threshold, validate


class WeightAverage:
    """Exponential moving average of a module's weights (BatchNorm statistics copied).

    The averaged weights are smoother than the last step's, which steadies the
    validation curve near the end of a schedule; they are what gets validated and saved.
    """

    def __init__(self, module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module)
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, module) -> None:
        for averaged, current in zip(self.module.parameters(), module.parameters()):
            averaged.lerp_(current, 1.0 - self.decay)
        for averaged, current in zip(self.module.buffers(), module.buffers()):
            averaged.copy_(current)


def train_one_epoch(module, optimizer, batches, cfg: TrainConfig, schedule_state: dict,
                    average: WeightAverage | None = None) -> float:
    losses = []
    for crops, vessels, fovs in batches:
        lr = lr_at(cfg.schedule, cfg.optim.lr, schedule_state["step"], schedule_state["total"],
                   schedule_state["per_epoch"], schedule_state["plateau"].factor)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = module(crops.contiguous(memory_format=torch.channels_last))
        loss = compute_loss(cfg.loss, logits, vessels, fovs, cfg.pos_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        if average is not None:
            average.update(module)
        schedule_state["step"] += 1
        schedule_state["lr"] = lr
        losses.append(loss.item())
    return float(np.mean(losses))


def model_meta(cfg: TrainConfig, data: TrainingData, threshold=0.5, source="default") -> ModelMeta:
    kwargs = {"in_channels": pipeline_channels(cfg.data.preprocess), **cfg.model.kwargs}
    extra = {"val_ids": data.val_ids}
    if data.pos_weight:
        extra["pos_weight_auto"] = data.pos_weight
    return ModelMeta(cfg.model.name, kwargs, list(cfg.data.preprocess), data.fov_diameter,
                     threshold, source, f"{cfg.data.dataset}:{cfg.data.split}", extra,
                     square_size=cfg.data.square_size, fov_range=list(cfg.data.fov_range))


def with_measured_weight(cfg: TrainConfig, data: TrainingData) -> TrainConfig:
    """``pos_weight: 0`` (auto) replaced by the measured class balance, so that is
    what trains and what the run's config.yaml and checkpoints record."""
    if not data.pos_weight:
        return cfg
    if cfg.progress:
        print(f"pos_weight auto: {data.pos_weight:g} (background / vessel pixels)", flush=True)
    return dataclasses.replace(cfg, pos_weight=data.pos_weight)


def fit(cfg: TrainConfig) -> Path:
    """Train a model as ``cfg`` says; returns the path of the final ``model.safetensors``."""
    check_config(cfg)
    out = check_output_folder(cfg.out_dir)
    with discarded_on_failed_start(out) as on_disk:
        return _fit(cfg, out, on_disk)


@contextlib.contextmanager
def discarded_on_failed_start(out: Path):
    """A run that fails before its first epoch is logged leaves no run folder behind
    (nor, in a folder that was there, the config.yaml and header-only log.csv it wrote).

    Yields a dict whose "epoch" the loop sets once an epoch is on disk; from then
    on the folder holds a resumable run and is kept whatever happens.
    """
    created = not out.exists()
    fresh = [out / name for name in ("config.yaml", LOG, BEST, LAST)
             if not (out / name).exists()]
    on_disk = {"epoch": 0}
    try:
        yield on_disk
    except BaseException:
        if not on_disk["epoch"]:
            for path in fresh:
                path.unlink(missing_ok=True)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise


def _fit(cfg: TrainConfig, out: Path, on_disk: dict) -> Path:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    data = load_training_data(cfg, rng)
    cfg = with_measured_weight(cfg, data)
    meta = model_meta(cfg, data)
    module = build_module(meta).to(memory_format=torch.channels_last)
    if cfg.init_from:
        load_initial_weights(module, cfg.init_from, cfg.init_scope)
    set_training_mode(module, cfg)
    optimizer = build_optimizer(parameter_groups(module, cfg), cfg.optim)
    per_epoch = steps_per_epoch(data, cfg)
    state = {"step": 0, "total": per_epoch * cfg.epochs, "per_epoch": per_epoch,
             "plateau": PlateauTracker(cfg.schedule), "lr": cfg.optim.lr,
             "epoch": 0, "best": -math.inf, "best_epoch": 0, "seconds": 0.0}
    average = WeightAverage(module, cfg.ema) if cfg.ema > 0 else None
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # this process has written nothing yet: any temp file is stale
    log = RunLog(out / LOG)
    last = run_file(out, LAST) if cfg.resume else None
    if last is not None:
        rng, row = resume_from(last, module, optimizer, state, meta, average)
        log.restore(state["epoch"], row)
    else:
        log.start()
    save_config(cfg, out / "config.yaml")
    evaluated = average.module if average is not None else module
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        row = run_epoch(epoch, module, optimizer, data, cfg, state, rng, average, meta, out)
        # The checkpoint first, then its row: a kill between the two is mended on
        # resume from the row the checkpoint holds.
        save_last(out / LAST, module, optimizer, meta, cfg, state, rng, average, row)
        log.write(row)
        on_disk["epoch"] = epoch
        if cfg.progress:
            print(", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    return finalise(out, evaluated, data, meta, cfg, state)


def run_epoch(epoch: int, module, optimizer, data, cfg, state: dict, rng, average, meta,
              out: Path) -> dict:
    """Train one epoch, validate it when due (keeping the best weights); returns its log row."""
    started = time.perf_counter()
    batches = epoch_batches(data, cfg, module.stride, rng)
    batches = tqdm(batches, total=state["per_epoch"], desc=f"epoch {epoch}/{cfg.epochs}",
                   disable=not cfg.progress, leave=False)
    loss = train_one_epoch(module, optimizer, batches, cfg, state, average)
    row = {"epoch": epoch, "lr": f"{state['lr']:.3g}", "train_loss": f"{loss:.5f}"}
    evaluated = average.module if average is not None else module
    if data.val_inputs and (epoch % cfg.val_every == 0 or epoch == cfg.epochs):
        scores = validate(evaluated, data, cfg)
        row.update(val_auc_roc=f"{scores['auc_roc']:.5f}", val_f1=f"{scores['f1']:.5f}",
                   val_threshold=f"{scores['threshold']:.4f}")
        state["plateau"].update(scores[cfg.select_metric])
        if scores[cfg.select_metric] > state["best"]:
            state["best"], state["best_epoch"] = scores[cfg.select_metric], epoch
            save_model(out / BEST, evaluated, meta, config=config_to_dict(cfg))
    elapsed = time.perf_counter() - started
    state["seconds"] += elapsed
    state["epoch"] = epoch
    row.update(epoch_seconds=f"{elapsed:.1f}", total_seconds=f"{state['seconds']:.1f}")
    return row


def finalise(out: Path, module, data, meta, cfg, state) -> Path:
    """Reload the best epoch, choose its threshold on validation, write model.safetensors."""
    best = run_file(out, BEST)  # best.pt: a format-1 run resumed without a better epoch since
    if best is not None:
        module.load_state_dict(read_checkpoint(best).state_dict)
    choose_threshold(module, data, meta, cfg)
    meta.extra.update(best_epoch=state["best_epoch"], train_seconds=round(state["seconds"], 1),
                      epochs=state["epoch"])
    save_model(out / MODEL, module, meta, config=config_to_dict(cfg))
    return out / MODEL
