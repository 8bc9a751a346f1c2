"""Saving and loading models with everything needed to use or resume them."""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from .devices import module_device
from .errors import file_error
from .models import create_model
from .outputs import temp_beside
from .models.blocks import fuse_batchnorm

FORMAT = "retinaseg-checkpoint-1"


@dataclass
class ModelMeta:
    """What inference needs besides the weights.

    ``fov_diameter`` is the FOV width (pixels) of the training images: photos
    are resampled to it before segmentation. ``square_size``, when not 0, replaces
    that: photos are resized to that many pixels square and the probabilities
    back (0 in checkpoints older than the field). ``threshold`` turns
    probabilities into a mask; ``threshold_source`` says where it came from.
    ``tta`` is the test-time augmentation the threshold was chosen under, which
    inference applies unless told otherwise ("none" in checkpoints older than the field).
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


def build_module(meta: ModelMeta) -> nn.Module:
    return create_model(meta.architecture, **meta.kwargs)


def atomic_torch_save(payload: dict, path: Path) -> None:
    """Write to a temporary file then rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(path, module: nn.Module, meta: ModelMeta, half: bool = False, **extra) -> None:
    """Save weights + meta; ``half`` stores fp16 weights (shipped files)."""
    state = {k: (v.half() if half and v.is_floating_point() else v)
             for k, v in module.state_dict().items()}
    atomic_torch_save({"format": FORMAT, "meta": asdict(meta), "state_dict": state, **extra}, path)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise file_error(path, f"not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise file_error(path, f"not a retinaseg checkpoint (expected format {FORMAT})")
    return payload


def load_checkpoint(path, expect_architecture: str | None = None,
                    for_inference: bool = True) -> ModelBundle:
    """Rebuild the model a checkpoint describes and load its weights.

    ``for_inference`` folds batch norms into convolutions (faster, not trainable
    as before); pass False to fine-tune the loaded model.
    """
    payload = read_checkpoint(path)
    meta = ModelMeta(**payload["meta"])
    if expect_architecture and meta.architecture != expect_architecture:
        raise file_error(path, f"checkpoint holds a {meta.architecture!r} model, "
                               f"not {expect_architecture!r}")
    module = build_module(meta)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
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
    return ModelBundle(module, meta, str(path), sha256_of(path), payload.get("config") or {})
