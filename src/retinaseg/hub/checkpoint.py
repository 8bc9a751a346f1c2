"""Saving and loading models with everything needed to use or resume them.

A checkpoint is one safetensors file: its tensors are the model's state dict,
plus prefixed groups for resuming (``average.*`` the weight average,
``optimizer.*`` the optimizer's tensors, ``rng.torch``); its metadata holds
one JSON document (key ``retinaseg``) with the format version, the model's
meta, the training config and, for resuming, the optimizer's other state and
the loop's counters. Nothing in it is unpickled, so a file can carry weights
but never code. The bytes are deterministic: the same model written twice is
the same file, so a shipped file's pinned SHA-256 only changes with the model.

Files of the earlier format (``retinaseg-checkpoint-1``, a torch.save'd dict)
are still read, through ``torch.load(weights_only=True)`` only: one that needs
more than plain tensors and containers is refused, never unpickled.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn as nn

from ..devices import module_device
from ..errors import RetinasegError, file_error
from ..models import create_model
from ..models.blocks import fuse_batchnorm
from ..io.atomic import atomic_write

FORMAT = "retinaseg-checkpoint-2"
LEGACY_FORMAT = "retinaseg-checkpoint-1"
SUFFIX = ".safetensors"
HEADER_KEY = "retinaseg"  # one key: safetensors writes several in a random order
GROUPS = ("average", "optimizer", "rng")  # tensor name prefixes besides the model's


@dataclass
class ModelMeta:
    """What inference needs besides the weights.

    ``fov_diameter`` is the FOV width (pixels) of the training images: photos
    are resampled to it before segmentation. ``square_size``, when not 0, replaces
    that: photos are resized to that many pixels square and the probabilities
    back (0 in checkpoints older than the field). ``threshold`` turns
    probabilities into a mask; ``threshold_source`` says where it came from.
    ``fov_range`` ``[low, high]``, when set, replaces ``fov_diameter``: each photo's
    FOV width is clamped into the range (``data.geometry.target_fov_width``).
    ``tta`` is the test-time augmentation the threshold was chosen under, which
    inference applies unless told otherwise ("none" in checkpoints older than the field).
    ``postprocess`` is the mask post-processing applied unless told otherwise
    (:mod:`retinaseg.pipeline.postprocess`; empty: none, as in files older than the field),
    set only where benchmarks/postprocess.py measured that it helps this model.
    ``threshold_rule`` is how a photo is cut by default (:mod:`retinaseg.pipeline.cut`):
    ``fixed`` at ``threshold``, or ``otsu``, each photo at its own Otsu cut
    (``threshold`` then serves a photo without a valley to find).
    ``caliber_px`` is how wide the wide vessels of its validation photos come out at
    their working scale (:mod:`retinaseg.pipeline.caliber`), what ``--scale caliber`` brings a
    photo's vessels to; 0: not measured (files older than the field, square models).
    ``caliber_band`` ``[low, high]`` is the lowest and highest of its validation
    datasets' median calibres, what ``--scale band`` keeps a photo's within (empty:
    not measured).
    """

    architecture: str
    kwargs: dict
    preprocess: list[str]
    fov_diameter: float
    threshold: float = 0.5
    threshold_source: str = "default"
    trained_on: str = ""
    extra: dict = field(default_factory=dict)
    square_size: int = 0
    tta: str = "none"
    fov_range: list = field(default_factory=list)
    postprocess: dict = field(default_factory=dict)
    threshold_rule: str = "fixed"
    caliber_px: float = 0.0
    caliber_band: list = field(default_factory=list)

    @property
    def training_fov_diameter(self) -> float:
        """The FOV width (px) of the model's training images, which photos are resampled
        to: a property of the model, not of any one photo. Read this rather than
        ``fov_diameter``, the stored field's older name (kept, deprecated as a name to read)."""
        return self.fov_diameter


@dataclass
class ModelBundle:
    module: nn.Module
    meta: ModelMeta
    source: str = ""
    sha256: str = ""
    config: dict = field(default_factory=dict)  # the training config, when the file holds one

    @property
    def device(self) -> torch.device:
        """Where the module's weights are, hence where inference runs."""
        return module_device(self.module)

    def to(self, device: torch.device | str) -> "ModelBundle":
        """Move the module to ``device`` (in place, channels_last kept); returns self."""
        self.module.to(device=torch.device(device), memory_format=torch.channels_last)
        return self


@dataclass
class Checkpoint:
    """A checkpoint file's content. The resume fields are empty except in a run's
    ``last`` file: ``training`` holds the loop's JSON-able state (counters,
    plateau tracker, NumPy generator, the epoch's log row)."""

    meta: ModelMeta
    state_dict: dict[str, torch.Tensor]
    config: dict = field(default_factory=dict)
    average: dict[str, torch.Tensor] | None = None
    optimizer: dict | None = None
    torch_rng: torch.Tensor | None = None
    training: dict = field(default_factory=dict)


def build_module(meta: ModelMeta) -> nn.Module:
    return create_model(meta.architecture, **meta.kwargs)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- meta

def _fits(value, hint) -> bool:
    """Whether a JSON value has a ModelMeta field's type (an int is a fine float)."""
    origin = typing.get_origin(hint) or hint
    if isinstance(value, bool) and origin is not bool:
        return False
    if origin is float:
        return isinstance(value, (int, float))
    if origin is list:
        (item,) = typing.get_args(hint) or (object,)
        return isinstance(value, list) and all(isinstance(v, item) for v in value)
    return isinstance(value, origin)


def meta_from_dict(values, path) -> ModelMeta:
    """A ModelMeta from a file's JSON, checked field by field: a missing, extra or
    wrong-typed field is a one-line error (a field with a default may be missing,
    as in files written before it existed)."""
    if not isinstance(values, dict):
        raise file_error(path, "its model meta is not a mapping")
    hints = typing.get_type_hints(ModelMeta)
    known = {f.name: f for f in fields(ModelMeta)}
    extra = sorted(set(values) - set(known))
    if extra:
        raise file_error(path, f"its model meta has unknown field(s) {', '.join(extra)}")
    for name, spec in known.items():
        if name not in values:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise file_error(path, f"its model meta lacks the field {name!r}")
            continue
        if not _fits(values[name], hints[name]):
            raise file_error(path, f"its model meta field {name!r} should be "
                                   f"{_type_name(hints[name])}, not {values[name]!r}")
    _check_postprocess(values.get("postprocess") or {}, path)
    _check_threshold_rule(values.get("threshold_rule", "fixed"), path)
    _check_caliber(values.get("caliber_px", 0.0), values.get("caliber_band", []), path)
    return ModelMeta(**values)


def _check_caliber(caliber_px, band: list, path) -> None:
    """A calibre is a finite number >= 0; a band is empty or ``[low, high]``, 0 < low <= high."""
    if not math.isfinite(caliber_px) or caliber_px < 0:
        raise file_error(path, f"its model meta field 'caliber_px' should be a number >= 0, "
                               f"not {caliber_px!r}")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                  for v in band)
    if band and not (len(band) == 2 and numbers and 0 < band[0] <= band[1]):
        raise file_error(path, "its model meta field 'caliber_band' should be [low, high] "
                               f"with 0 < low <= high, not {band!r}")


def _check_threshold_rule(rule: str, path) -> None:
    from ..pipeline.cut import RULES

    if rule not in RULES:
        raise file_error(path, f"its model meta field 'threshold_rule' should be one of "
                               f"{', '.join(RULES)}, not {rule!r}")


def _check_postprocess(values: dict, path) -> None:
    from ..pipeline.postprocess import postprocess_from_dict

    try:
        postprocess_from_dict(values, "its model meta field 'postprocess'")
    except RetinasegError as exc:
        raise file_error(path, str(exc)) from None


def meta_header(meta: ModelMeta) -> dict:
    """The meta as the file stores it. An empty ``postprocess``, the ``fixed``
    threshold rule and an unmeasured ``caliber_px`` or ``caliber_band`` are left
    out, so a model without them is written byte for byte as before the fields
    existed (a re-exported shipped file keeps its pinned hash)."""
    values = asdict(meta)
    if not values["postprocess"]:
        del values["postprocess"]
    if values["threshold_rule"] == "fixed":
        del values["threshold_rule"]
    if not values["caliber_px"]:
        del values["caliber_px"]
    if not values["caliber_band"]:
        del values["caliber_band"]
    return values


def _type_name(hint) -> str:
    origin = typing.get_origin(hint) or hint
    return {float: "a number", int: "an integer", str: "a string", dict: "a mapping",
            list: "a list of strings", bool: "true or false"}.get(origin, str(hint))


# --------------------------------------------------------------------------- writing

def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors wants dense, unshared storage; channels_last weights are neither.
    return {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
            for k, v in tensors.items()}


def pack_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer state dict as tensors ``<param index>.<name>`` and JSON for the
    rest (param groups, non-tensor state), so it is stored without pickle."""
    tensors, plain = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value
            else:
                plain.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "state": plain}


def unpack_optimizer(tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    """The inverse of :func:`pack_optimizer` (parameter indices are ints again,
    as ``Optimizer.load_state_dict`` matches them)."""
    state: dict[int, dict] = {int(i): dict(values) for i, values in plain["state"].items()}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": plain["param_groups"]}


def checkpoint_bytes(checkpoint: Checkpoint) -> bytes:
    """The safetensors file of ``checkpoint``: deterministic for the same content."""
    from safetensors.torch import save

    clash = [k for k in checkpoint.state_dict if k.split(".", 1)[0] in GROUPS]
    if clash:
        raise ValueError(f"model tensor {clash[0]!r} uses a reserved checkpoint prefix")
    tensors = dict(checkpoint.state_dict)
    header = {"format": FORMAT, "meta": meta_header(checkpoint.meta), "config": checkpoint.config}
    if checkpoint.average is not None:
        tensors.update({f"average.{k}": v for k, v in checkpoint.average.items()})
    if checkpoint.optimizer is not None:
        packed, header["optimizer"] = pack_optimizer(checkpoint.optimizer)
        tensors.update({f"optimizer.{k}": v for k, v in packed.items()})
    if checkpoint.torch_rng is not None:
        tensors["rng.torch"] = checkpoint.torch_rng
    if checkpoint.training:
        header["training"] = checkpoint.training
    document = json.dumps(header, sort_keys=True, separators=(",", ":"))
    return save(_contiguous(tensors), {HEADER_KEY: document})


def write_checkpoint(path, checkpoint: Checkpoint) -> None:
    """Write to a temporary file beside ``path``, then rename: a crash leaves
    the previous file or the new one, never half of one."""
    atomic_write_bytes(Path(path), checkpoint_bytes(checkpoint))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """``data`` written and synced to a temporary file, then renamed into place; an
    ``OSError`` (a full disk) becomes an ``OutputError`` naming ``path``."""
    def write_synced(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write_synced)


def save_model(path, module: nn.Module, meta: ModelMeta, half: bool = False,
               config: dict | None = None) -> None:
    """Save weights + meta (+ the training config); ``half`` stores fp16 weights
    (shipped files)."""
    state = {k: (v.half() if half and v.is_floating_point() else v)
             for k, v in module.state_dict().items()}
    write_checkpoint(path, Checkpoint(meta, state, config or {}))


# --------------------------------------------------------------------------- reading

def _kind(path: Path) -> str:
    """"safetensors", "torch" (a zip or pickle torch.save wrote) or "unknown",
    from the first bytes: a file's name says nothing about what it holds."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return "torch"
    return "unknown"


def read_checkpoint(path, tensors: bool = True) -> Checkpoint:
    """A checkpoint file, checked; ``tensors=False`` reads only the meta and config
    of a safetensors file (fast: the weights stay on disk)."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such checkpoint file")
    kind = _kind(path)
    if kind == "safetensors":
        return _read_safetensors(path, tensors)
    if kind == "torch":
        return _read_legacy(path)
    raise file_error(path, "not a readable checkpoint (neither safetensors nor a PyTorch file)")


def _read_safetensors(path: Path, with_tensors: bool) -> Checkpoint:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            document = (handle.metadata() or {}).get(HEADER_KEY)
            names = list(handle.keys()) if with_tensors else []
            tensors = {name: handle.get_tensor(name) for name in names}
    except Exception as exc:  # the Rust reader raises its own error types
        raise file_error(path, f"not a readable checkpoint ({type(exc).__name__})") from None
    header = _header(document, path)
    groups = {g: {} for g in GROUPS}
    model = {}
    for name, tensor in tensors.items():
        prefix, _, rest = name.partition(".")
        if prefix in groups and rest:
            groups[prefix][rest] = tensor
        else:
            model[name] = tensor
    return Checkpoint(
        meta_from_dict(header["meta"], path), model, header.get("config") or {},
        average=groups["average"] or None,
        optimizer=unpack_optimizer(groups["optimizer"], header["optimizer"])
        if "optimizer" in header and with_tensors else None,
        torch_rng=groups["rng"].get("torch"), training=header.get("training") or {})


def _header(document, path: Path) -> dict:
    if document is None:
        raise file_error(path, "not a retinaseg checkpoint (a safetensors file without "
                               "retinaseg metadata)")
    try:
        header = json.loads(document)
    except ValueError:
        raise file_error(path, "not a readable checkpoint (its metadata is not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise file_error(path, f"not a retinaseg checkpoint (expected format {FORMAT})")
    for key in ("config", "training", "optimizer"):
        if not isinstance(header.get(key, {}), dict):
            raise file_error(path, f"its {key!r} entry is not a mapping")
    return header


def _read_legacy(path: Path) -> Checkpoint:
    """A format-1 file (torch.save), read with the weights-only unpickler only."""
    payload = _load_weights_only(path)
    if not isinstance(payload, dict) or payload.get("format") != LEGACY_FORMAT:
        raise file_error(path, f"not a retinaseg checkpoint (expected format {LEGACY_FORMAT} "
                               f"or a {FORMAT} safetensors file)")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise file_error(path, "its state_dict is not a mapping of tensors")
    saved = payload.get("state")
    training = {**saved, "numpy_rng": payload.get("rng")} if isinstance(saved, dict) else {}
    return Checkpoint(meta_from_dict(payload.get("meta"), path), state,
                      payload.get("config") or {}, average=payload.get("average"),
                      optimizer=payload.get("optimizer"), torch_rng=payload.get("torch_rng"),
                      training=training)


def _load_weights_only(path: Path):
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise file_error(path, "contains pickled code/objects; not loaded (only tensors "
                                   "and plain containers are read from a .pt file)") from None
        raise file_error(path, "not a readable checkpoint (UnpicklingError)") from None
    except Exception as exc:  # torch raises many types for a corrupt file
        raise file_error(path, f"not a readable checkpoint ({type(exc).__name__})") from None


def load_checkpoint(path, expect_architecture: str | None = None,
                    for_inference: bool = True) -> ModelBundle:
    """Rebuild the model a checkpoint describes and load its weights.

    ``for_inference`` folds batch norms into convolutions (faster, not trainable
    as before); pass False to fine-tune the loaded model.
    """
    checkpoint = read_checkpoint(path)
    meta = checkpoint.meta
    if expect_architecture and meta.architecture != expect_architecture:
        raise file_error(path, f"checkpoint holds a {meta.architecture!r} model, "
                               f"not {expect_architecture!r}")
    module = build_module(meta)
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in checkpoint.state_dict.items()}
    try:
        module.load_state_dict(state)
    except RuntimeError:
        raise file_error(path, f"weights do not fit a {meta.architecture!r} model with "
                               f"{meta.kwargs} (another architecture?)") from None
    module.eval()
    if for_inference:
        fuse_batchnorm(module)
    # Inputs are fed channels_last (inference.forward_logits); weights in the
    # same layout take oneDNN's fast path, about 2x faster on this kind of CPU.
    module.to(memory_format=torch.channels_last)
    return ModelBundle(module, meta, str(path), sha256_of(path), checkpoint.config)
