"""Training: ``fit(config)`` writes a run folder with the resolved config, a CSV
log, ``last.pt`` (to resume), ``best.pt`` and the final ``model.pt``.

Data: the training split minus a few validation images, preprocessed once per
epoch after a photometric augmentation, then cut into randomly rotated, scaled
and flipped crops (or whole images), or, with ``augment.fixed_rotations``, shown
at each of K fixed angles. Validation segments the held-out images exactly as
inference does; the best epoch by ``select_metric`` is kept and its threshold
is chosen on the same validation images (or fixed by ``fixed_threshold``).
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import metrics
from .checkpoint import ModelMeta, build_module, load_checkpoint, read_checkpoint, save_model
from .config import TrainConfig, config_to_dict, save_config
from .data import fov_diameter, load_dataset
from .data.augment import photometric, random_crops, rotated_whole, whole_image_size
from .data.preprocess import pipeline_channels, preprocess
from .errors import RetinasegError
from .inference import (SCALE_TOLERANCE, check_tta, pad_to_stride, predict_tensor, resample,
                        resize_image, resize_mask)
from .losses import LOSSES, compute_loss
from .optim import PlateauTracker, build_optimizer, check_schedule, lr_at
from .utils import seed_everything

LOG_FIELDS = ["epoch", "lr", "train_loss", "val_auc_roc", "val_f1", "val_threshold", "seconds"]


@dataclass
class TrainingData:
    """Training images kept raw (re-preprocessed each epoch), validation preprocessed once."""

    train_images: list
    train_vessels: list
    train_fovs: list
    val_inputs: list = field(default_factory=list)
    val_vessels: list = field(default_factory=list)
    val_fovs: list = field(default_factory=list)
    val_ids: list = field(default_factory=list)
    fov_diameter: float = 0.0
    pos_weight: float = 0.0       # measured class balance when the config asks for auto, else 0


def split_validation(ids: list[str], cfg, rng: np.random.Generator) -> list[str]:
    if cfg.data.val_ids:
        missing = [i for i in cfg.data.val_ids if str(i) not in ids]
        if missing:
            raise RetinasegError(f"data.val_ids {missing} are not in the training split {ids}")
        return [str(i) for i in cfg.data.val_ids]
    if cfg.data.val_count >= len(ids):
        raise RetinasegError(f"data.val_count={cfg.data.val_count} leaves no training images "
                             f"out of {len(ids)}")
    return sorted(rng.choice(ids, size=cfg.data.val_count, replace=False).tolist())


def training_samples(cfg: TrainConfig):
    """The samples of every dataset named in ``data.dataset`` ("a+b" joins several).

    Ids of joined datasets are prefixed with the dataset's name, so they stay unique.
    """
    names = cfg.data.dataset.split("+")
    datasets = [load_dataset(name, cfg.data.split, cfg.data.root) for name in names]
    if len(datasets) > 1 and not (cfg.data.fov_diameter or cfg.data.square_size):
        raise RetinasegError(f"data.dataset {cfg.data.dataset!r} joins datasets of different "
                             "scales; set data.fov_diameter (e.g. 540) or data.square_size to "
                             "train on them together")
    ids = [f"{d.name}:{i}" if len(datasets) > 1 else i for d in datasets for i in d.ids]
    samples = (sample for d in datasets for sample in d)
    return ids, samples


def rescaled(sample, data_cfg):
    """Image, vessel mask and FOV at the training geometry: resized to
    ``square_size`` square, or resampled so the FOV is ``fov_diameter`` pixels
    wide, or as stored (inference.working_copy does the same to a photo)."""
    if data_cfg.square_size:
        shape = (data_cfg.square_size, data_cfg.square_size)
        return (resize_image(sample.image, shape), resize_mask(sample.vessel, shape),
                resize_mask(sample.fov, shape))
    if not data_cfg.fov_diameter:
        return sample.image, sample.vessel, sample.fov
    scale = data_cfg.fov_diameter / fov_diameter(sample.fov)
    if abs(scale - 1.0) < SCALE_TOLERANCE:  # as inference does: no resampling within 5%
        return sample.image, sample.vessel, sample.fov
    image, fov = resample(sample.image, sample.fov, scale)
    return image, resize_mask(sample.vessel, fov.shape), fov


def load_training_data(cfg: TrainConfig, rng: np.random.Generator) -> TrainingData:
    ids, samples = training_samples(cfg)
    val_ids = set(split_validation(ids, cfg, rng))
    kept = [i for i in ids if i not in val_ids]
    if cfg.data.max_train_images:
        kept = kept[:cfg.data.max_train_images]
    data = TrainingData([], [], [])
    for sample_id, sample in zip(ids, samples):
        if sample_id not in val_ids and sample_id not in kept:
            continue
        if sample.vessel is None:
            raise RetinasegError(f"{sample.image_path}: training image has no vessel mask")
        image, vessel, fov = rescaled(sample, cfg.data)
        sample = dataclasses.replace(sample, id=sample_id, image=image, vessel=vessel, fov=fov)
        if sample.id in val_ids:
            data.val_inputs.append(torch.from_numpy(preprocess(sample.image, sample.fov,
                                                               cfg.data.preprocess)))
            data.val_vessels.append(sample.vessel)
            data.val_fovs.append(sample.fov)
            data.val_ids.append(sample.id)
        else:
            data.train_images.append(sample.image)
            data.train_vessels.append(torch.from_numpy(sample.vessel.astype(np.float32)))
            data.train_fovs.append(sample.fov)
    data.fov_diameter = float(np.median([fov_diameter(f) for f in data.train_fovs]))
    if cfg.loss == "weighted_bce" and cfg.pos_weight == 0:
        data.pos_weight = vessel_balance(data.train_vessels, data.train_fovs)
    return data


def vessel_balance(vessels: list, fovs: list) -> float:
    """Background / vessel pixels inside the FOVs: the vessel weight that makes
    both classes weigh the same in the loss (``pos_weight: 0``)."""
    vessel = sum(float(v.numpy()[f].sum()) for v, f in zip(vessels, fovs))
    inside = sum(int(f.sum()) for f in fovs)
    if vessel == 0:
        raise RetinasegError("pos_weight 0 (auto) needs vessel pixels in the training masks")
    return round((inside - vessel) / vessel, 4)


def epoch_inputs(data: TrainingData, cfg: TrainConfig, rng: np.random.Generator):
    """(preprocessed image, vessel, FOV) tensors, after this epoch's photometric change."""
    for image, vessel, fov in zip(data.train_images, data.train_vessels, data.train_fovs):
        x = torch.from_numpy(preprocess(photometric(image, cfg.augment, rng), fov, cfg.data.preprocess))
        yield x, vessel, torch.from_numpy(fov.astype(np.float32))


def epoch_batches(data: TrainingData, cfg: TrainConfig, stride: int, rng: np.random.Generator):
    """One epoch of ``(images, vessels, fovs)`` batches, in shuffled order."""
    if cfg.augment.fixed_rotations:
        return rotation_batches(data, cfg, stride, rng)
    return random_batches(data, cfg, stride, rng)


def random_batches(data: TrainingData, cfg: TrainConfig, stride: int, rng: np.random.Generator):
    """All crops of one epoch, shuffled and cut into batches."""
    crops, vessels, fovs = [], [], []
    for x, vessel, fov in epoch_inputs(data, cfg, rng):
        size = cfg.data.crop_size or whole_image_size(tuple(fov.shape), stride)
        count = cfg.data.crops_per_image if cfg.data.crop_size else 1
        c, v, f = random_crops(x, vessel, fov, count, size, cfg.augment, rng)
        crops.append(c), vessels.append(v), fovs.append(f)
    crops, vessels, fovs = torch.cat(crops), torch.cat(vessels), torch.cat(fovs)
    order = torch.from_numpy(rng.permutation(len(crops)))
    for start in range(0, len(order), cfg.data.batch_size):
        pick = order[start:start + cfg.data.batch_size]
        yield crops[pick], vessels[pick], fovs[pick]


def rotation_batches(data: TrainingData, cfg: TrainConfig, stride: int, rng: np.random.Generator):
    """Every training image at each of K equally spaced angles (whole, or that many
    crops per angle), shuffled. Views are built batch by batch, so K rotated
    copies of the training set never sit in memory together."""
    inputs = list(epoch_inputs(data, cfg, rng))
    turns = cfg.augment.fixed_rotations
    per_angle = cfg.data.crops_per_image if cfg.data.crop_size else 1
    views = [(i, 360.0 * k / turns) for i in range(len(inputs)) for k in range(turns)
             for _ in range(per_angle)]
    order = rng.permutation(len(views))
    for start in range(0, len(order), cfg.data.batch_size):
        parts = [rotated_view(*inputs[views[i][0]], views[i][1], cfg, stride, rng)
                 for i in order[start:start + cfg.data.batch_size]]
        yield tuple(torch.cat(tensors) for tensors in zip(*parts))


def rotated_view(x, vessel, fov, angle: float, cfg: TrainConfig, stride: int,
                 rng: np.random.Generator):
    """One crop of the image rotated by ``angle`` (cut straight from the unrotated
    image, the same pixels without rotating all of it), or the whole rotated
    image in its own frame padded to the stride."""
    if cfg.data.crop_size:
        return random_crops(x, vessel, fov, 1, cfg.data.crop_size, cfg.augment, rng, angle)
    views = rotated_whole(x, vessel, fov, angle, cfg.augment, rng)
    return tuple(pad_to_stride(t, stride)[0] for t in views)


def steps_per_epoch(data: TrainingData, cfg: TrainConfig) -> int:
    crops = len(data.train_images) * (cfg.data.crops_per_image if cfg.data.crop_size else 1)
    return math.ceil(crops * max(1, cfg.augment.fixed_rotations) / cfg.data.batch_size)


def validate(module, data: TrainingData, cfg: TrainConfig, tta: str = "none") -> dict:
    """Pooled validation AUC, and the best F1 with the threshold that reaches it."""
    if not data.val_inputs:
        return {}
    module.eval()
    histogram = metrics.ScoreHistogram()
    for x, vessel, fov in zip(data.val_inputs, data.val_vessels, data.val_fovs):
        histogram.update(predict_tensor(module, x, tta, bf16=cfg.bf16).numpy(), vessel, fov)
    set_training_mode(module, cfg)
    threshold, f1 = histogram.best_threshold("f1", cfg.threshold_min_specificity)
    return {"auc_roc": histogram.auc_roc(), "f1": f1, "threshold": threshold}


def threshold_source(cfg: TrainConfig) -> str:
    if cfg.threshold_min_specificity > 0:
        return f"validation-f1 at specificity >= {cfg.threshold_min_specificity:g}"
    return "validation-f1"


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


def encoder_of(module) -> torch.nn.Module:
    encoder = getattr(module, "encoders", None)
    if encoder is None:
        raise RetinasegError(f"{type(module).__name__} has no encoder to freeze or slow down")
    return encoder


def parameter_groups(module, cfg: TrainConfig) -> list[dict]:
    """Encoder and the rest as two groups, so fine-tuning can freeze or slow the encoder."""
    if not cfg.freeze_encoder and cfg.encoder_lr_scale == 1.0:
        return [{"params": list(module.parameters())}]
    encoder = encoder_of(module)
    encoder.requires_grad_(not cfg.freeze_encoder)
    inside = {id(p) for p in encoder.parameters()}
    rest = [p for p in module.parameters() if id(p) not in inside]
    groups = [{"params": rest, "lr_scale": 1.0}]
    if not cfg.freeze_encoder:
        groups.append({"params": list(encoder.parameters()), "lr_scale": cfg.encoder_lr_scale})
    return groups


def set_training_mode(module, cfg: TrainConfig) -> None:
    """Train mode, except a frozen encoder's batch norms keep their pretrained statistics."""
    module.train()
    if cfg.freeze_encoder:
        encoder_of(module).eval()


INIT_SCOPES = ("all", "encoder")


def load_initial_weights(module, source: str, scope: str = "all") -> None:
    """Weights of a shipped model or checkpoint: all of them (same architecture and
    shape), or only the encoder's, which may come from another architecture whose
    encoder levels match (a U-Net's first levels under a ConvLSTM U-Net)."""
    from .pretrained import PRETRAINED, verified_pretrained_path

    path = verified_pretrained_path(source) if source in PRETRAINED else Path(source)
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in read_checkpoint(path)["state_dict"].items()}
    if scope == "encoder":
        _load_encoder(module, state, path)
        return
    try:
        module.load_state_dict(state)
    except RuntimeError:
        raise RetinasegError(f"{path}: weights do not fit this model (init_from needs the same "
                             "architecture, widths and input channels)") from None


def _load_encoder(module, state: dict, path: Path) -> None:
    wanted = {f"encoders.{k}": v for k, v in encoder_of(module).state_dict().items()}
    missing = [k for k, v in wanted.items() if k not in state or state[k].shape != v.shape]
    if missing:
        raise RetinasegError(f"{path}: its encoder does not fit this model's "
                             f"({len(missing)} of {len(wanted)} tensors missing or of another "
                             f"shape, first {missing[0]})")
    encoder_of(module).load_state_dict({k[len("encoders."):]: state[k] for k in wanted})


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


def model_meta(cfg: TrainConfig, data: TrainingData, threshold=0.5, source="default") -> ModelMeta:
    kwargs = {"in_channels": pipeline_channels(cfg.data.preprocess), **cfg.model.kwargs}
    extra = {"val_ids": data.val_ids}
    if data.pos_weight:
        extra["pos_weight_auto"] = data.pos_weight
    return ModelMeta(cfg.model.name, kwargs, list(cfg.data.preprocess), data.fov_diameter,
                     threshold, source, f"{cfg.data.dataset}:{cfg.data.split}", extra,
                     square_size=cfg.data.square_size)


def with_measured_weight(cfg: TrainConfig, data: TrainingData) -> TrainConfig:
    """``pos_weight: 0`` (auto) replaced by the measured class balance, so that is
    what trains and what the run's config.yaml and checkpoints record."""
    if not data.pos_weight:
        return cfg
    if cfg.progress:
        print(f"pos_weight auto: {data.pos_weight:g} (background / vessel pixels)", flush=True)
    return dataclasses.replace(cfg, pos_weight=data.pos_weight)


class RunLog:
    """The per-epoch CSV log, appended to (so a resumed run continues it)."""

    def __init__(self, path: Path, fresh: bool):
        self.path = path
        if fresh or not path.exists():
            with open(path, "w", newline="") as handle:
                csv.writer(handle).writerow(LOG_FIELDS)

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([row.get(k, "") for k in LOG_FIELDS])


def fit(cfg: TrainConfig) -> Path:
    """Train a model as ``cfg`` says; returns the path of the final ``model.pt``."""
    check_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    if cfg.resume and (out / "last.pt").exists():
        rng = resume_from(out / "last.pt", module, optimizer, state, average)
    evaluated = average.module if average is not None else module
    save_config(cfg, out / "config.yaml")
    log = RunLog(out / "log.csv", fresh=state["epoch"] == 0)
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        started = time.perf_counter()
        batches = epoch_batches(data, cfg, module.stride, rng)
        batches = tqdm(batches, total=per_epoch, desc=f"epoch {epoch}/{cfg.epochs}",
                       disable=not cfg.progress, leave=False)
        loss = train_one_epoch(module, optimizer, batches, cfg, state, average)
        row = {"epoch": epoch, "lr": f"{state['lr']:.3g}", "train_loss": f"{loss:.5f}"}
        if data.val_inputs and (epoch % cfg.val_every == 0 or epoch == cfg.epochs):
            scores = validate(evaluated, data, cfg)
            row.update(val_auc_roc=f"{scores['auc_roc']:.5f}", val_f1=f"{scores['f1']:.5f}",
                       val_threshold=f"{scores['threshold']:.4f}")
            state["plateau"].update(scores[cfg.select_metric])
            if scores[cfg.select_metric] > state["best"]:
                state["best"], state["best_epoch"] = scores[cfg.select_metric], epoch
                save_model(out / "best.pt", evaluated, meta, config=config_to_dict(cfg), epoch=epoch)
        state["seconds"] += time.perf_counter() - started
        row["seconds"] = f"{state['seconds']:.1f}"
        log.write(row)
        state["epoch"] = epoch
        save_last(out / "last.pt", module, optimizer, meta, cfg, state, rng, average)
        if cfg.progress:
            print(", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    return finalise(out, evaluated, data, meta, cfg, state)


def save_last(path, module, optimizer, meta, cfg, state, rng, average=None) -> None:
    payload_state = {**state, "plateau": state["plateau"].state_dict()}
    extra = {"average": average.module.state_dict()} if average is not None else {}
    save_model(path, module, meta, config=config_to_dict(cfg), optimizer=optimizer.state_dict(),
               state=payload_state, rng=rng.bit_generator.state,
               torch_rng=torch.get_rng_state(), **extra)


def resume_from(path: Path, module, optimizer, state: dict, average=None) -> np.random.Generator:
    payload = read_checkpoint(path)  # a corrupt file is a one-line error, not a traceback
    module.load_state_dict(payload["state_dict"])
    if average is not None:
        # A run started without averaging resumes with the average seeded from its weights.
        average.module.load_state_dict(payload.get("average", payload["state_dict"]))
    optimizer.load_state_dict(payload["optimizer"])
    saved = payload["state"]
    state.update({k: v for k, v in saved.items() if k != "plateau"})
    state["plateau"].load_state_dict(saved["plateau"])
    torch.set_rng_state(payload["torch_rng"])
    rng = np.random.default_rng()
    rng.bit_generator.state = payload["rng"]
    return rng


def choose_threshold(module, data: TrainingData, meta: ModelMeta, cfg: TrainConfig) -> None:
    """Set ``meta``'s threshold as the recipe says: fixed, or chosen on the
    validation images under the recipe's test-time augmentation."""
    meta.tta = cfg.tta
    if cfg.fixed_threshold:
        meta.threshold, meta.threshold_source = cfg.fixed_threshold, "fixed"
    elif data.val_inputs:
        scores = validate(module, data, cfg, cfg.tta)
        meta.threshold, meta.threshold_source = scores["threshold"], threshold_source(cfg)


def calibrate(model_path, cfg: TrainConfig, out_path) -> ModelMeta:
    """Re-choose a trained model's threshold as ``cfg`` now says (a new ``tta`` or
    ``threshold_min_specificity``) on the same validation images, without training
    again; the weights are unchanged. Writes ``out_path``; returns its meta."""
    check_config(cfg)
    bundle = load_checkpoint(model_path, for_inference=False)
    data = load_training_data(cfg, seed_everything(cfg.seed))
    trained_on = bundle.meta.extra.get("val_ids")
    if trained_on is not None and sorted(map(str, trained_on)) != sorted(data.val_ids):
        raise RetinasegError(f"{model_path}: was validated on {trained_on}, but the config's "
                             f"validation images are {data.val_ids}")
    bundle.module.eval()
    choose_threshold(bundle.module, data, bundle.meta, cfg)
    # The recorded recipe keeps its training keys; only the threshold rule changed.
    config = {**bundle.config, "tta": cfg.tta, "fixed_threshold": cfg.fixed_threshold,
              "threshold_min_specificity": cfg.threshold_min_specificity}
    save_model(out_path, bundle.module, bundle.meta, config=config)
    return bundle.meta


def finalise(out: Path, module, data, meta, cfg, state) -> Path:
    """Reload the best epoch, choose its threshold on validation, write model.pt."""
    if (out / "best.pt").exists():
        module.load_state_dict(read_checkpoint(out / "best.pt")["state_dict"])
    choose_threshold(module, data, meta, cfg)
    meta.extra.update(best_epoch=state["best_epoch"], train_seconds=round(state["seconds"], 1),
                      epochs=state["epoch"])
    save_model(out / "model.pt", module, meta, config=config_to_dict(cfg))
    return out / "model.pt"
