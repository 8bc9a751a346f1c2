"""Every rule a training config must keep, checked once, when it is loaded.

:func:`check_config` runs inside :func:`retinaseg.config.schema.config_from_dict`, so
a :class:`~retinaseg.config.schema.TrainConfig` that exists is a valid one: training,
calibration and studies can start writing without meeting a bad value hours
later. Types are checked while building the dataclasses; these are the ranges,
the choices and the combinations. Each error names the key, the value and
what is allowed.

Upper limits on sizes and counts are far above any real use; they are there so
that a typo (``crop_size: 25600``) is an error instead of an allocation that
never ends.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

from ..checks import EPOCHS, LEARNING_RATE, MAX_SIDE, Range
from ..data.preprocess import validate_pipeline
from ..devices import PRECISIONS
from ..errors import RetinasegError
from ..pipeline.cut import RULES as THRESHOLD_RULES
from ..pipeline.settings import check_tta
from .choices import LOSSES, OPTIMIZERS, SCHEDULES

INIT_SCOPES = ("all", "encoder", "widen")
TRAINING_TARGETS = ("vessel", "av")
VALIDATION_METRICS = ("auc_roc", "f1", "av_accuracy")  # the scores train.threshold.validate
# returns (av_accuracy: an A/V model's, data.targets: av)
MAX_PIXELS_SIDE = MAX_SIDE  # crops, squares and FOVs (checks.MAX_SIDE)
MAX_BATCH = 65536          # crops in one batch
MAX_CROPS = 1_000_000      # crops per image per epoch (the ConvLSTM paper's recipe draws 9500)
MAX_THREADS = 4096
MAX_SEED = 2**32 - 1       # NumPy's global seed takes no more

# A rule returns None when the value is allowed, else what would be.
Rule = Callable[[Any], "str | None"]


def at_least(low) -> Rule:
    return Range(low).problem


def between(low, high, *, low_open=False, high_open=False) -> Rule:
    return Range(low, high, low_open=low_open, high_open=high_open).problem


positive = LEARNING_RATE.problem  # > 0 (checks.Range, shared with the command line)


def one_of(names) -> Rule:
    return lambda v: None if v in names else f"one of {', '.join(map(str, names))}"


def non_empty(v) -> str | None:
    return None if v.strip() else "a non-empty string"


def tta_mode(v) -> str | None:
    try:
        check_tta(v)
    except RetinasegError as exc:
        return str(exc).split("; ", 1)[-1]
    return None


def model_name(v) -> str | None:
    from ..models import list_models

    return None if v in list_models() else f"one of {', '.join(list_models())}"


def jpeg_quality(v) -> str | None:
    return None if v == 0 or 5 <= v <= 95 else "0 (off) or a JPEG quality in [5, 95]"


def fov_range(v) -> str | None:
    ok = (v == [] or (len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                          and math.isfinite(x) for x in v)
                      and 16 <= v[0] <= v[1] <= MAX_PIXELS_SIDE))
    return None if ok else f"[] (off) or [low, high] pixels with 16 <= low <= high <= {MAX_PIXELS_SIDE}"


def source_weights(v) -> str | None:
    ok = all(isinstance(k, str) and isinstance(w, (int, float)) and not isinstance(w, bool)
             and math.isfinite(w) and 0 <= w <= 1e6 for k, w in v.items())
    return None if ok else "{} (off) or {dataset name or '*': weight >= 0}"


def device_name(v) -> str | None:
    from ..devices import DEVICE_CHOICES

    return None if re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v.strip().lower()) else \
        f"one of {DEVICE_CHOICES}"


RULES: dict[str, Rule] = {
    "model.name": model_name,
    "data.dataset": non_empty, "data.split": non_empty,
    "data.val_count": at_least(0),
    "data.crop_size": between(0, MAX_PIXELS_SIDE),
    "data.crops_per_image": between(1, MAX_CROPS), "data.batch_size": between(1, MAX_BATCH),
    "data.max_train_images": at_least(0),
    "data.fov_diameter": between(0, MAX_PIXELS_SIDE),
    "data.square_size": between(0, MAX_PIXELS_SIDE),
    "data.fov_range": fov_range,
    "data.source_weights": source_weights,
    "augment.rotate": between(0, 180), "augment.scale": between(0, 1, high_open=True),
    "augment.brightness": between(0, 1), "augment.contrast": between(0, 1, high_open=True),
    "augment.gamma": between(0, 1, high_open=True),
    "augment.fixed_rotations": between(0, 360),
    "augment.colour": between(0, 1, high_open=True),
    "augment.illumination": between(0, 1, high_open=True),
    "augment.blur": between(0, 10), "augment.noise": between(0, 0.5),
    "augment.jpeg": jpeg_quality,
    "augment.lesions": between(0, 64), "augment.haze": between(0, 1, high_open=True),
    "optim.name": one_of(OPTIMIZERS),
    "optim.lr": LEARNING_RATE.problem,
    "optim.momentum": between(0, 1, high_open=True),
    "optim.weight_decay": at_least(0), "optim.grad_clip": at_least(0),
    "schedule.name": one_of(SCHEDULES),
    "schedule.warmup_epochs": at_least(0), "schedule.step_epochs": at_least(1),
    "schedule.gamma": between(0, 1, low_open=True), "schedule.power": positive,
    "schedule.patience": at_least(0), "schedule.min_lr": at_least(0),
    "loss": one_of(LOSSES), "pos_weight": at_least(0),
    "epochs": EPOCHS.problem, "val_every": at_least(1),
    "select_metric": one_of(VALIDATION_METRICS),
    "init_scope": one_of(INIT_SCOPES),
    "data.targets": one_of(TRAINING_TARGETS),
    "threshold_min_specificity": between(0, 1, high_open=True),
    "fixed_threshold": between(0, 1, high_open=True),
    "threshold_rule": one_of(THRESHOLD_RULES),
    "tta": tta_mode,
    "encoder_lr_scale": at_least(0),
    "ema": between(0, 1, high_open=True),
    "seed": between(0, MAX_SEED), "threads": between(0, MAX_THREADS),
    "out_dir": non_empty,
    "device": device_name, "precision": one_of(PRECISIONS),
    "num_workers": between(0, MAX_THREADS),
}


def check_config(cfg) -> None:
    """Raise :class:`RetinasegError` for the first rule ``cfg`` breaks."""
    for key, value in leaves(cfg):
        if isinstance(value, float) and not math.isfinite(value):
            raise config_value_error(key, value, "a finite number")
        rule = RULES.get(key)
        allowed = rule(value) if rule else None
        if allowed:
            raise config_value_error(key, value, allowed)
    for check in (_check_lists, _check_model_kwargs, _check_combinations):
        check(cfg)


def config_value_error(key: str, value, allowed: str) -> RetinasegError:
    text = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return keyed(RetinasegError(f"config key {key}={text} is not allowed: must be {allowed}"), key)


def keyed(error: RetinasegError, *keys: str | None) -> RetinasegError:
    """``error`` marked with the config keys it is about, so that the loader can
    say whether the value came from the file or from a ``--set`` item."""
    error.keys = tuple(k for k in keys if k)
    return error


def leaves(cfg, prefix: str = ""):
    """``(dotted key, value)`` of every field that is not itself a section."""
    for spec in dataclasses.fields(cfg):
        value, key = getattr(cfg, spec.name), f"{prefix}{spec.name}"
        if dataclasses.is_dataclass(value):
            yield from leaves(value, key + ".")
        else:
            yield key, value


def _check_lists(cfg) -> None:
    steps = cfg.data.preprocess
    if not all(isinstance(step, str) for step in steps):
        raise config_value_error("data.preprocess", steps, "a list of step names")
    try:
        validate_pipeline(steps)
    except RetinasegError as exc:
        raise keyed(RetinasegError(f"config key data.preprocess: {exc}"), "data.preprocess") from None
    ids = cfg.data.val_ids
    if not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids):
        raise config_value_error("data.val_ids", ids, "a list of image ids (names or numbers)")
    if len({str(i) for i in ids}) != len(ids):
        raise config_value_error("data.val_ids", ids, "a list without repeats")
    sources = set(cfg.data.dataset.split("+")) | {"*"}
    unknown = sorted(set(cfg.data.source_weights) - sources)
    if unknown:
        raise config_value_error("data.source_weights", cfg.data.source_weights,
                                 f"keyed by the sources of data.dataset or '*' (not {unknown[0]!r})")
    weights = cfg.data.source_weights
    if weights and not any(weights.get(n, weights.get("*", 1)) > 0 for n in sources - {"*"}):
        raise config_value_error("data.source_weights", weights,
                                 "a weight > 0 for at least one source of data.dataset")
    if cfg.init_from is not None and not cfg.init_from.strip():
        raise config_value_error("init_from", cfg.init_from, "a shipped model name or a path")


def _check_model_kwargs(cfg) -> None:
    """Keyword names the architecture takes (values are checked when it is built)."""
    from ..models._registry import builder_parameters

    kwargs = cfg.model.kwargs
    if not all(isinstance(k, str) for k in kwargs):
        raise config_value_error("model.kwargs", kwargs, "a mapping of keyword names")
    if "in_channels" in kwargs:
        raise config_value_error("model.kwargs.in_channels", kwargs["in_channels"],
                                 "left out: data.preprocess sets it")
    accepted = builder_parameters(cfg.model.name)
    unknown = sorted(set(kwargs) - accepted) if accepted is not None else []
    if unknown:
        raise config_value_error(f"model.kwargs.{unknown[0]}", kwargs[unknown[0]],
                                 f"one of the keywords {cfg.model.name} takes: "
                                 f"{', '.join(sorted(accepted - {'in_channels'}))}")


def _check_combinations(cfg) -> None:
    """Options that would otherwise silently combine two ways of doing one thing."""
    if cfg.select_metric == "av_accuracy" and cfg.data.targets != "av":
        raise keyed(RetinasegError("config key select_metric=av_accuracy scores arteries and "
                                   "veins; set data.targets=av or choose auc_roc or f1"),
                    "select_metric", "data.targets")
    if cfg.data.square_size and cfg.data.fov_diameter:
        raise keyed(RetinasegError("config keys data.square_size and data.fov_diameter both "
                                   "rescale the images; set one of them to 0"),
                    "data.square_size", "data.fov_diameter")
    if cfg.augment.fixed_rotations and cfg.augment.rotate:
        raise keyed(RetinasegError(f"config key augment.fixed_rotations="
                                   f"{cfg.augment.fixed_rotations} replaces random rotation; set "
                                   f"augment.rotate=0 (it is {cfg.augment.rotate:g})"),
                    "augment.fixed_rotations", "augment.rotate")
    if cfg.data.fov_range and (cfg.data.fov_diameter or cfg.data.square_size):
        raise keyed(RetinasegError("config key data.fov_range sets each image's scale; set "
                                   "data.fov_diameter and data.square_size to 0"),
                    "data.fov_range", "data.fov_diameter", "data.square_size")
    if cfg.bf16 and cfg.precision not in ("auto", "bf16"):
        raise keyed(RetinasegError(f"config key bf16: true asks for bf16 but precision is "
                                   f"{cfg.precision!r}; set one of them"), "bf16", "precision")
    if cfg.schedule.min_lr > cfg.optim.lr:
        raise keyed(RetinasegError(f"config key schedule.min_lr={cfg.schedule.min_lr:g} is not "
                                   f"allowed: must be <= optim.lr ({cfg.optim.lr:g})"),
                    "schedule.min_lr", "optim.lr")
