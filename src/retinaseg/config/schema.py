"""Typed training configuration: YAML file first, ``--set key=value`` second.

The resolved config is written into every run folder and every checkpoint, so
a run can be repeated from its folder alone.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field

import yaml

from ..data.augment import AugmentConfig  # the augmentation's own parameters
from ..errors import RetinasegError, file_error
from ..io.atomic import atomic_write
from .rules import check_config, keyed
from .safe_yaml import check_text_size, parse_yaml, read_yaml_file


@dataclass
class ModelConfig:
    name: str = "unet"
    kwargs: dict = field(default_factory=lambda: {"base_channels": 16, "depth": 4})


@dataclass
class DataConfig:
    dataset: str = "drive"        # a name, a folder, or several names joined by "+"
    split: str = "train"
    root: str | None = None
    val_count: int = 2            # images held out of the training split for validation
    val_ids: list = field(default_factory=list)  # explicit validation ids (override val_count)
    preprocess: list = field(default_factory=lambda: ["green", "clahe", "fov_normalise"])
    crop_size: int = 256          # 0 = whole images
    crops_per_image: int = 8      # crops drawn from each training image per epoch
    batch_size: int = 8
    max_train_images: int = 0     # use only the first N training images (few-label studies); 0 = all
    fov_diameter: float = 0.0     # resample every image to this FOV width (px); 0 = as stored.
                                  # Needed to train on datasets of different scales together.
    square_size: int = 0          # resize every image to this many pixels square (non-uniformly
                                  # for non-square photos; inference does the same and resizes
                                  # back); 0 = off. Excludes fov_diameter.
    source_weights: dict = field(default_factory=dict)  # {dataset: weight}: each source's
                                  # share of an epoch's crops, spread evenly over its images
                                  # (sources not named weigh 1; {"*": 1} alone = equal shares).
                                  # {} = off: every image gets crops_per_image
    targets: str = "vessel"       # vessel: the vessel mask; av: vessel, artery and vein maps
                                  # (RITE A/V labels; train/targets.py gives the rule)
    fov_range: list = field(default_factory=list)  # [low, high]: each image's FOV width clamped
                                  # into this range (larger photos reduced to high, smaller
                                  # enlarged to low, the rest kept); inference does the same.
                                  # [] = off. Excludes fov_diameter and square_size.


@dataclass
class OptimConfig:
    name: str = "adam"            # sgd | sgd_momentum | sgd_nesterov | adam | adamw
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    grad_clip: float = 0.0        # max L2 norm of the gradients; 0 = off


@dataclass
class ScheduleConfig:
    name: str = "cosine"          # constant | step | cosine | poly | plateau | onecycle
    warmup_epochs: float = 0.0
    step_epochs: int = 30         # step: decay every this many epochs
    gamma: float = 0.1            # step / plateau decay factor
    power: float = 0.9            # poly exponent
    patience: int = 5             # plateau: validations without improvement
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: str = "bce"             # bce | dice | bce+dice | weighted_bce
    pos_weight: float = 3.0       # weighted_bce: weight of vessel pixels; 0 = auto: background
                                  # / vessel pixels inside the training FOVs (class-balanced)
    epochs: int = 50
    val_every: int = 1
    select_metric: str = "auc_roc"  # validation metric choosing the best checkpoint
    init_from: str | None = None  # start from these weights (shipped name or checkpoint path)
    init_scope: str = "all"       # all: every weight must fit; encoder: only the encoder's,
                                  # e.g. a U-Net's encoder under a ConvLSTM U-Net's decoder;
                                  # widen: a vessel model's, widened to more outputs or RGB
                                  # (train/finetune.widened_state)
    threshold_min_specificity: float = 0.0  # the validation threshold maximises F1 among
                                  # thresholds at least this specific (0 = any)
    fixed_threshold: float = 0.0  # ship this threshold instead of the validation-chosen one
                                  # (validation still picks the best epoch); 0 = choose
    threshold_rule: str = "fixed"  # how the finished model cuts a photo by default: fixed (at
                                  # its threshold) or otsu (each photo at its own Otsu cut,
                                  # retinaseg.pipeline.cut; the threshold is still chosen, as fallback)
    tta: str = "none"             # test-time augmentation the finished model ships with: its
                                  # threshold is chosen on validation under it, and inference
                                  # applies it by default (epochs are still validated without)
    freeze_encoder: bool = False  # fine-tuning: encoder weights and batch-norm statistics fixed
    encoder_lr_scale: float = 1.0  # fine-tuning: encoder learning rate = this x optim.lr
    ema: float = 0.0              # per-step decay of an exponential moving average of the
                                  # weights, validated and saved instead of the raw ones; 0 = off
    seed: int = 0
    device: str = "auto"          # auto | cpu | cuda | cuda:N | mps; auto: CUDA, then MPS, then CPU
    precision: str = "auto"       # auto | fp32 | bf16 | fp16 autocast; auto: bf16 on CUDA (fp16
                                  # with loss scaling where bf16 is missing), fp32 on CPU and MPS
    bf16: bool = False            # older switch for precision: bf16 (bf16 autocast on the CPU)
    num_workers: int = 0          # DataLoader processes building the next batches while the model
                                  # trains; the run is the same for any number (0 = in-process)
    compile: bool = False         # torch.compile the training model (benchmarks/results/compile.md)
    threads: int = 0              # torch threads; 0 = torch's default
    out_dir: str = "runs/unet-drive"
    resume: bool = False
    progress: bool = True


def _build(cls, values: dict, where: str):
    if not isinstance(values, dict):
        raise keyed(RetinasegError(f"config section {where or 'top level'!r} must be a "
                                   f"mapping, not {type(values).__name__} {_short(values)}"),
                    where or None)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = where + "." if where else ""
    unknown = sorted(map(str, set(values) - set(fields)))
    if unknown:
        raise keyed(RetinasegError(f"unknown config key {prefix}{unknown[0]}; "
                                   f"known: {', '.join(fields)}"), prefix + unknown[0])
    kwargs = {}
    for name, value in values.items():
        sub = fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub) and not isinstance(sub, dict):
            value = _build(sub, value, prefix + name)
        else:
            value = _checked_type(fields[name], value, prefix + name)
        kwargs[name] = value
    return cls(**kwargs)


def _checked_type(spec: dataclasses.Field, value, key: str):
    """Check a leaf value against its default's type (ints are accepted as floats)."""
    if spec.default_factory is not dataclasses.MISSING:
        expected = type(spec.default_factory())
    elif spec.default is None:
        expected = str
    else:
        expected = type(spec.default)
    if value is None and spec.default is None:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > sys.float_info.max:
            raise keyed(RetinasegError(f"config key {key}={_short(value)} is too large for a "
                                       "float"), key)
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise keyed(RetinasegError(f"config key {key} must be {_article(expected.__name__)}, "
                                   f"not {type(value).__name__} {_short(value)}"), key)
    return value


def config_from_dict(values: dict) -> TrainConfig:
    """A checked config: types while building, then every rule of :mod:`config_rules`."""
    config = _build(TrainConfig, {} if values is None else values, "")
    check_config(config)
    return config


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (values parsed as YAML) to a nested dict."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RetinasegError(f"--set {item!r}: expected key=value, e.g. optim.lr=0.01")
        check_text_size(raw, f"--set {key}")
        try:
            value = parse_yaml(raw)
        except ValueError as exc:
            raise RetinasegError(f"--set {_short(item)}: invalid YAML value ({exc})") from None
        set_value(values, key, value, f"--set {_short(item)}")
    return values


def set_value(values: dict, key: str, value, where: str) -> None:
    """``values[a][b][c] = value`` for the dotted ``key`` "a.b.c"."""
    node = values
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RetinasegError(f"{where}: {part!r} is not a section")
    node[leaf] = value


def load_config(path=None, overrides: list[str] | None = None) -> TrainConfig:
    """The config file's values, then ``--set`` overrides, checked whole.

    An error names where the bad value came from: the ``--set`` item that set
    it, else the file.
    """
    values = read_yaml(path, "config file") if path is not None else {}
    overrides = overrides or []
    values = apply_overrides(values, overrides)
    try:
        return config_from_dict(values)
    except RetinasegError as exc:
        source = _source_of(getattr(exc, "keys", ()), overrides) or path
        if source is None:
            raise
        raise _named(exc, source) from None


def _source_of(keys: tuple, overrides: list[str]) -> str | None:
    """The last ``--set`` item that set one of ``keys`` (or a section above or below it)."""
    for item in reversed(overrides):
        name = item.partition("=")[0]
        if any(key == name or key.startswith(name + ".") or name.startswith(key + ".")
               for key in keys):
            return f"--set {_short(item)}"
    return None


def _named(exc: RetinasegError, source) -> RetinasegError:
    return keyed(RetinasegError(f"{source}: {exc}"), *getattr(exc, "keys", ()))


def read_yaml(path, what: str = "file") -> dict:
    """A YAML mapping from a file; a missing file or bad YAML is a one-line error."""
    values = read_yaml_file(path, what)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise file_error(path, "must be a YAML mapping")
    return values


def config_to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)


def save_config(config: TrainConfig, path) -> None:
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _short(value, limit: int = 80) -> str:
    """``repr(value)``, cut short: a one-line error must stay one line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"
