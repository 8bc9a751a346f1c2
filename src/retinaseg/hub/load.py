"""The one way to load a model for inference: a shipped name, a checkpoint file
or an exported ``.onnx`` file, each checked before any photo is read."""
from __future__ import annotations

from pathlib import Path

from ..errors import RetinasegError
from .pretrained import DEFAULT_MODEL, PRETRAINED

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
ONNX_SUFFIX = ".onnx"


def load_model(name_or_path=DEFAULT_MODEL, device="auto"):
    """A model ready for inference (a :class:`~retinaseg.hub.checkpoint.ModelBundle`):
    shipped weights by name (``unet-drive``; pinned SHA-256 checked first), a
    checkpoint a run wrote, or an ``.onnx`` file ``retinaseg export`` wrote (run by
    onnxruntime on the CPU, its meta read from the file alone).

    ``device`` (PyTorch models): ``auto`` (CUDA, then MPS, then the CPU), ``cpu``
    (or None), ``cuda``, ``cuda:N``, ``mps`` or a ``torch.device``.
    """
    from ..devices import prepare_for_inference, resolve_device

    name = str(name_or_path)
    path = Path(name)
    target = resolve_device(device or "cpu")  # a bad device name fails before any loading
    if path.suffix.lower() == ONNX_SUFFIX and name not in PRETRAINED:
        return _onnx(path, target, device)
    if name in PRETRAINED:
        bundle = _pretrained(name)
    elif path.suffix in CHECKPOINT_SUFFIXES or path.exists():
        bundle = _checkpoint(path)
    else:
        raise RetinasegError(f"unknown model {name!r}: not a shipped model "
                         f"({', '.join(PRETRAINED.names())}), a checkpoint file nor an "
                         f"{ONNX_SUFFIX} file")
    prepare_for_inference(target)
    return bundle.to(target)


def _pretrained(name: str):
    from .pretrained import load_pretrained

    return load_pretrained(name)


def _checkpoint(path: Path):
    from .checkpoint import load_checkpoint

    return load_checkpoint(path)


def _onnx(path: Path, target, device):
    from .export import load_onnx

    if target.type != "cpu":
        raise RetinasegError(f"{path}: an ONNX model runs on the CPU here (onnxruntime); "
                             f"--device {device} is for PyTorch models")
    return load_onnx(path)
