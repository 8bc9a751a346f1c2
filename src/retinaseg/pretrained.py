"""Weights shipped inside the package, each pinned to its SHA-256.

The table itself imports no torch, so that ``retinaseg models`` lists it at
once; the functions that load weights import it when called.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RetinasegError

if TYPE_CHECKING:
    import torch

    from .checkpoint import ModelBundle


HASH_FILE = "SHA256SUMS"  # "<sha256>  <filename>" lines, written by export_weights


@dataclass(frozen=True)
class PretrainedWeights:
    name: str
    filename: str
    description: str
    config: str  # the training config (configs/<name>.yaml) that produced them


PRETRAINED: dict[str, PretrainedWeights] = {}


def _register(weights: PretrainedWeights) -> None:
    PRETRAINED[weights.name] = weights


_register(PretrainedWeights(
    name="unet-drive",
    filename="unet-drive.pt",
    description="U-Net, DRIVE training/ (18 images train, 2 validation); green+CLAHE",
    config="configs/unet-drive.yaml",
))

_register(PretrainedWeights(
    name="convlstm-unet-drive",
    filename="convlstm-unet-drive.pt",
    description="ConvLSTM U-Net (fine-tuning paper), DRIVE training/ (18 train, 2 validation); "
                "encoder started from unet-drive, then a warm restart; segments with flip "
                "TTA, threshold at validation specificity >= 0.9876 (the paper's)",
    config="configs/convlstm-unet-drive-restart.yaml",  # stage 2 of configs/convlstm-unet-drive.yaml
))


_register(PretrainedWeights(
    name="column-bilstm-hrf",
    filename="column-bilstm-hrf.pt",
    description="Column Bi-LSTM (RETA paper) with the row pass (rows+columns), HRF images "
                "01-05 of each category (13 train, 2 validation) at 512 px in CIE-Lab; "
                "threshold 0.5 as in the paper",
    config="configs/compare-hrf-cpu.yaml",
))


def weights_dir() -> Path:
    return Path(str(resources.files("retinaseg") / "weights"))


def pretrained_path(name: str) -> Path:
    """Where ``name``'s weights live; ``<name>.pt`` for a name not registered yet
    (a model being exported for the first time)."""
    weights = PRETRAINED.get(name)
    return weights_dir() / (weights.filename if weights else f"{name}.pt")


def pinned_hashes() -> dict[str, str]:
    path = weights_dir() / HASH_FILE
    if not path.is_file():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {filename: digest for digest, filename in pairs}


def export_weights(checkpoint, name: str) -> Path:
    """Ship a trained checkpoint as ``name``: fp16 weights, hash pinned."""
    from .checkpoint import load_checkpoint, save_model, sha256_of

    bundle = load_checkpoint(checkpoint, for_inference=False)  # ship the unfused weights
    target = pretrained_path(name)
    # torch.save is not byte-reproducible: rewriting the same model would change its
    # pinned hash for nothing, so a file that already ships the same model is kept.
    if not ships_the_same(target, bundle):
        save_model(target, bundle.module, bundle.meta, half=True, config=bundle.config)
    hashes = {**pinned_hashes(), target.name: sha256_of(target)}
    lines = "".join(f"{digest}  {filename}\n" for filename, digest in sorted(hashes.items()))
    (weights_dir() / HASH_FILE).write_text(lines)
    return target


def ships_the_same(path: Path, bundle: ModelBundle) -> bool:
    """Whether the weights file ``path`` holds ``bundle``'s model as export writes it:
    same meta, same training config, same fp16 weights."""
    import torch

    from .checkpoint import ModelMeta, read_checkpoint

    if not path.is_file():
        return False
    shipped = read_checkpoint(path)
    same_meta = asdict(ModelMeta(**shipped["meta"])) == asdict(bundle.meta)  # old files: defaults
    if not same_meta or (shipped.get("config") or {}) != bundle.config:
        return False
    state = bundle.module.state_dict()
    if shipped["state_dict"].keys() != state.keys():
        return False
    return all(torch.equal(shipped["state_dict"][k], v.half() if v.is_floating_point() else v)
               for k, v in state.items())


def verified_pretrained_path(name: str) -> Path:
    """The shipped file of ``name``, after checking it against its pinned SHA-256."""
    from .checkpoint import sha256_of

    weights = PRETRAINED[name]
    path = pretrained_path(name)
    if not path.is_file():
        raise RetinasegError(f"{path}: shipped weights for {name!r} are missing from the install")
    pinned = pinned_hashes().get(weights.filename)
    if pinned is None:
        raise RetinasegError(f"{path}: no pinned SHA-256 for {name!r} in {HASH_FILE}")
    if sha256_of(path) != pinned:
        raise RetinasegError(f"{path}: SHA-256 does not match the pinned hash for {name!r} "
                             "(corrupt or replaced file)")
    return path


def load_pretrained(name: str) -> ModelBundle:
    from .checkpoint import load_checkpoint

    return load_checkpoint(verified_pretrained_path(name))


def load_model(name_or_path: str, device: torch.device | str | None = None) -> ModelBundle:
    """A shipped model by name (``unet-drive``) or any checkpoint file by path,
    ready for inference on ``device`` (None: the CPU; ``auto``: CUDA, then MPS, then
    the CPU; see :func:`retinaseg.devices.resolve_device`)."""
    from .checkpoint import load_checkpoint
    from .devices import prepare_for_inference, resolve_device

    target = resolve_device(device or "cpu")  # a bad device name fails before any loading
    if name_or_path in PRETRAINED:
        bundle = load_pretrained(name_or_path)
    elif Path(name_or_path).suffix in (".pt", ".pth") or Path(name_or_path).exists():
        bundle = load_checkpoint(Path(name_or_path))
    else:
        raise _unknown_model(name_or_path)
    prepare_for_inference(target)
    return bundle.to(target)


def _unknown_model(name_or_path: str) -> RetinasegError:
    return RetinasegError(f"unknown model {name_or_path!r}: not a shipped model "
                          f"({', '.join(sorted(PRETRAINED))}) nor a checkpoint file")
