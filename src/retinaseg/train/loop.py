"""The training loop: ``fit(config)`` writes a run folder with the resolved
config, a CSV log, ``last.safetensors`` (to resume), ``best.safetensors`` and
the final ``model.safetensors``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config.schema import TrainConfig, config_to_dict, save_config
from ..data.preprocess import pipeline_channels
from ..devices import autocast, grad_scaler, prepare_device, training_dtype
from ..errors import RetinasegError
from ..hub.checkpoint import build_module, read_checkpoint, save_model
from ..hub.meta import ModelMeta
from ..io.atomic import check_output_folder, writing
from ..io.logs import progress
from .checks import check_config, check_world
from .data import (
    EpochBatches,
    TrainingData,
    load_training_data,
    steps_per_epoch,
    trained_fov_range,
)
from .distributed import World, join_world, wrap_for_world
from .finetune import load_initial_weights, parameter_groups, set_training_mode
from .loader import batch_loader
from .losses import compute_loss, mean_denominator
from .optim import PlateauTracker, build_optimizer, lr_at
from .seeding import seed_everything
from .state import (
    BEST,
    LAST,
    LOG,
    MODEL,
    RunLog,
    remove_stale_temps,
    resume_from,
    run_file,
    save_last,
)
from .targets import target_outputs
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


@dataclass
class Runtime:
    """Where and how the training step runs: device, autocast dtype (None = fp32),
    loss scaler (fp16 only), and the world of ranks."""

    device: torch.device
    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler
    world: World = field(default_factory=World)


def training_step(model, crops, vessels, fovs, cfg: TrainConfig, runtime: Runtime) -> torch.Tensor:
    """The loss to back-propagate: under several ranks, this rank's share of the
    global batch's mean, so that DDP's averaged gradient is the single-process one."""
    crops, vessels, fovs = (t.to(runtime.device, non_blocking=True) for t in (crops, vessels, fovs))
    with autocast(runtime.device, runtime.dtype):
        logits = model(crops.contiguous(memory_format=torch.channels_last))
    loss = compute_loss(cfg.loss, logits, vessels, fovs, cfg.pos_weight)
    denominator = mean_denominator(cfg.loss, vessels, fovs, cfg.pos_weight)
    if runtime.world.size > 1 and denominator is not None:
        total = runtime.world.sum(denominator).clamp_min(1.0)
        loss = loss * denominator.clamp_min(1.0) * runtime.world.size / total
    return loss


def train_one_epoch(model, optimizer, batches, cfg: TrainConfig, schedule_state: dict,
                    runtime: Runtime, average: WeightAverage | None = None) -> float:
    """One epoch of steps; returns the mean training loss over all ranks."""
    losses, scaler = [], runtime.scaler
    for crops, vessels, fovs in batches:
        lr = lr_at(cfg.schedule, cfg.optim.lr, schedule_state["step"], schedule_state["total"],
                   schedule_state["per_epoch"], schedule_state["plateau"].factor)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        loss = training_step(model, crops, vessels, fovs, cfg, runtime)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.optim.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if average is not None:
            average.update(unwrapped(model))
        schedule_state["step"] += 1
        schedule_state["lr"] = lr
        losses.append(loss.item())
    mean = runtime.world.sum(torch.tensor(float(np.mean(losses)), dtype=torch.float64))
    return float(mean) / runtime.world.size


def unwrapped(model) -> torch.nn.Module:
    """The module under torch.compile's and DistributedDataParallel's wrappers."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def model_meta(cfg: TrainConfig, data: TrainingData, threshold=0.5, source="default") -> ModelMeta:
    outputs = target_outputs(cfg.data.targets)
    kwargs = {"in_channels": pipeline_channels(cfg.data.preprocess), **cfg.model.kwargs}
    if len(outputs) > 1:
        kwargs["out_channels"] = len(outputs)
    extra = {"val_ids": data.val_ids}
    if data.pos_weight:
        extra["pos_weight_auto"] = data.pos_weight
    return ModelMeta(cfg.model.name, kwargs, list(cfg.data.preprocess), data.fov_diameter,
                     threshold, source, f"{cfg.data.dataset}:{cfg.data.split}", extra,
                     square_size=cfg.data.square_size, fov_range=trained_fov_range(cfg, data),
                     outputs=outputs)


def with_measured_weight(cfg: TrainConfig, data: TrainingData) -> TrainConfig:
    """``pos_weight: 0`` (auto) replaced by the measured class balance, so that is
    what trains and what the run's config.yaml and checkpoints record."""
    if not data.pos_weight:
        return cfg
    if cfg.progress:
        print(f"pos_weight auto: {data.pos_weight:g} (background / vessel pixels)", flush=True)
    return dataclasses.replace(cfg, pos_weight=data.pos_weight)


def fit(cfg: TrainConfig) -> Path:
    """Train a model as ``cfg`` says; returns the path of the final ``model.safetensors``.

    Under torchrun every rank calls this; rank 0 alone writes the run folder.
    """
    check_config(cfg)
    out = check_output_folder(cfg.out_dir)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world, device = join_world(cfg.device)
    try:
        check_world(cfg, world.size)
        if not world.is_main:
            result = _fit(dataclasses.replace(cfg, progress=False), world, device, out, {})
        else:
            with discarded_on_failed_start(out) as on_disk:
                result = _fit(cfg, world, device, out, on_disk)
        # Every rank past its last collective before the group is torn down: a gloo rank
        # whose peer destroys the group under it can abort at exit ("terminate called
        # without an active exception"). Only on success: a failed peer would never come.
        world.barrier()
        return result
    finally:
        world.close()


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


def _fit(cfg: TrainConfig, world: World, device: torch.device, out: Path,
         on_disk: dict) -> Path:
    prepare_device(device)
    data = load_training_data(cfg, seed_everything(cfg.seed))
    cfg = with_measured_weight(cfg, data)
    meta = model_meta(cfg, data)
    module, optimizer = prepare_model(cfg, meta, device)
    dtype = training_dtype(device, cfg.precision, cfg.bf16)
    runtime = Runtime(device, dtype, grad_scaler(device, dtype), world)
    per_epoch = steps_per_epoch(data, cfg)
    state = {"step": 0, "total": per_epoch * cfg.epochs, "per_epoch": per_epoch,
             "plateau": PlateauTracker(cfg.schedule), "lr": cfg.optim.lr,
             "epoch": 0, "best": -math.inf, "best_epoch": 0, "seconds": 0.0, "scaler": None}
    average = WeightAverage(module, cfg.ema) if cfg.ema > 0 else None
    if world.is_main:
        with writing(out):
            out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)  # no rank has written yet: any temp file is stale
    last, row = resume_file(cfg, world, out), None
    if last is not None:
        _, row = resume_from(last, module, optimizer, state, meta, average)
        replan_schedule(state, per_epoch * cfg.epochs, cfg.epochs, cfg.progress)
        if state["scaler"]:
            runtime.scaler.load_state_dict(state["scaler"])
    evaluated = average.module if average is not None else module
    model = wrap_for_world(module, world, device)
    if cfg.compile:
        model = torch.compile(model)
    log = start_run_folder(cfg, state, runtime, row if last else None) if world.is_main else None
    dataset = EpochBatches(data, cfg, module.stride, world.rank, world.size)
    batches = iter(batch_loader(dataset, state["epoch"] + 1, cfg, device))
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        row = run_epoch(epoch, model, optimizer, batches, data, cfg, meta, state, runtime,
                        average)
        if world.is_main:
            # The checkpoint first, then its row: a kill between the two is mended on
            # resume from the row the checkpoint holds.
            save_last(out / LAST, module, optimizer, meta, cfg,
                      {**state, "scaler": runtime.scaler.state_dict()}, rng_placeholder(),
                      average, row)
            log.write(row)
            on_disk["epoch"] = epoch
            if cfg.progress:
                print(", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    if world.is_main:
        finalise(out, evaluated, data, meta, cfg, state, device)
    world.barrier()
    return out / MODEL


def replan_schedule(state: dict, total_steps: int, epochs: int, verbose: bool) -> None:
    """A run resumed with another ``epochs`` ends its learning-rate schedule at the
    new last epoch, not the old one: the rate is a pure function of (step, total),
    so the curve bends at the resumed step (cosine and poly decay to the new end)."""
    if state["total"] == total_steps:
        return
    if verbose:
        print(f"resuming with epochs={epochs}: the learning-rate schedule now ends at step "
              f"{total_steps} (it was planned for {state['total']})", file=sys.stderr)
    state["total"] = total_steps


def run_epoch(epoch: int, model, optimizer, batches, data, cfg: TrainConfig, meta,
              state: dict, runtime: Runtime, average) -> dict:
    """Train one epoch, validate it when due (keeping the best weights); returns its log row."""
    started = time.perf_counter()
    per_epoch = state["per_epoch"]
    shown = progress(itertools.islice(batches, per_epoch), f"epoch {epoch}/{cfg.epochs}",
                     total=per_epoch, unit="batch", enabled=cfg.progress)  # no bar in a log
    loss = train_one_epoch(model, optimizer, shown, cfg, state, runtime, average)
    row = {"epoch": epoch, "lr": f"{state['lr']:.3g}", "train_loss": f"{loss:.5f}"}
    if data.val_inputs and (epoch % cfg.val_every == 0 or epoch == cfg.epochs):
        evaluated = average.module if average is not None else unwrapped(model)
        validate_epoch(evaluated, data, cfg, meta, state, row, runtime)
    elapsed = time.perf_counter() - started
    state["seconds"] += elapsed
    state["epoch"] = epoch
    row.update(epoch_seconds=f"{elapsed:.1f}", total_seconds=f"{state['seconds']:.1f}")
    return row


def start_run_folder(cfg: TrainConfig, state: dict, runtime: Runtime,
                     resumed_row: dict | None) -> RunLog:
    """The log (restored to the resumed checkpoint's epoch, or new) and config.yaml."""
    out = Path(cfg.out_dir)
    log = RunLog(out / LOG)
    if state["epoch"]:
        log.restore(state["epoch"], resumed_row)
    else:
        log.start()
    save_config(cfg, out / "config.yaml")
    if cfg.progress:
        precision = "fp32" if runtime.dtype is None else str(runtime.dtype).removeprefix("torch.")
        ranks = f", {runtime.world.size} processes" if runtime.world.size > 1 else ""
        print(f"training on {runtime.device} ({precision}{ranks})", flush=True)
    return log


def prepare_model(cfg: TrainConfig, meta: ModelMeta, device: torch.device):
    """The module (starting weights loaded, on ``device``, channels_last, which takes
    oneDNN's and cuDNN's fast paths) and its optimizer."""
    module = build_module(meta)
    if cfg.init_from:
        load_initial_weights(module, cfg.init_from, cfg.init_scope)
    module = module.to(device, memory_format=torch.channels_last)
    set_training_mode(module, cfg)
    return module, build_optimizer(parameter_groups(module, cfg), cfg.optim)


def resume_file(cfg: TrainConfig, world: World, out: Path) -> Path | None:
    """The checkpoint to continue from, as rank 0 sees it (``last.safetensors``, or a
    format-1 run's ``last.pt``); None for a fresh run. On several machines every
    rank must read the same file (a filesystem they share)."""
    last = run_file(out, LAST) if cfg.resume else None
    if not world.from_main(last is not None):
        return None
    if last is None:
        raise RetinasegError(f"{out / LAST}: rank {world.rank} cannot see the file rank 0 "
                             "resumes from; resuming on several machines needs the run folder "
                             "on a filesystem they share")
    return last


def validate_epoch(evaluated, data, cfg: TrainConfig, meta, state: dict, row: dict,
                   runtime: Runtime) -> None:
    """Rank 0 validates and keeps the best epoch; every rank learns the scores
    (reduce-on-plateau needs them)."""
    scores = None
    if runtime.world.is_main:
        scores = validate(evaluated, data, cfg, device=runtime.device)
    scores = runtime.world.from_main(scores)
    row.update(val_auc_roc=f"{scores['auc_roc']:.5f}", val_f1=f"{scores['f1']:.5f}",
               val_threshold=f"{scores['threshold']:.4f}")
    if "av_accuracy" in scores:
        row.update(val_av_accuracy=f"{scores['av_accuracy']:.5f}")
    state["plateau"].update(scores[cfg.select_metric])
    if scores[cfg.select_metric] > state["best"]:
        state["best"], state["best_epoch"] = scores[cfg.select_metric], row["epoch"]
        if runtime.world.is_main:
            save_model(Path(cfg.out_dir) / BEST, evaluated, meta, config=config_to_dict(cfg))


def rng_placeholder() -> np.random.Generator:
    """What ``last.safetensors`` records as the data generator: batches no longer draw from
    one stream (each epoch's come from ``(seed, epoch)``), so nothing needs resuming."""
    return np.random.default_rng(0)


def finalise(out: Path, module, data, meta, cfg, state, device=None) -> Path:
    """Reload the best epoch, choose its threshold on validation, write model.safetensors."""
    best = run_file(out, BEST)  # best.pt: a format-1 run resumed without a better epoch since
    if best is not None:
        module.load_state_dict(read_checkpoint(best).state_dict)
    choose_threshold(module, data, meta, cfg, device)
    meta.extra.update(best_epoch=state["best_epoch"], train_seconds=round(state["seconds"], 1),
                      epochs=state["epoch"])
    save_model(out / MODEL, module, meta, config=config_to_dict(cfg))
    return out / MODEL
