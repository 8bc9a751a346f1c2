"""The one way to load a model for inference: a shipped name, a checkpoint file
or an exported ``.onnx`` file, each checked before any photo is read, on the
backend asked for (:mod:`retinaseg.hub.backend` says what ``auto`` picks)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import RetinasegError
from ..names import ONNXRUNTIME, TORCH
from . import backend as backends
from .pretrained import DEFAULT_MODEL, PRETRAINED

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
ONNX_SUFFIX = ".onnx"


def load_model(name_or_path=DEFAULT_MODEL, device="auto", backend: str | None = None,
               threads: int = 0):
    """A model ready for inference: shipped weights by name (``unet-drive``; pinned
    SHA-256 checked first), a checkpoint a run wrote, or an ``.onnx`` file
    ``retinaseg export`` wrote (its meta read from the file alone).

    ``backend``: ``torch`` (None, the default, for a name or a checkpoint: a
    :class:`~retinaseg.hub.checkpoint.ModelBundle`,
    whose ``module`` a caller may export, fine-tune or inspect), ``onnxruntime`` (an
    :class:`~retinaseg.hub.onnx_model.OnnxModel`; no torch is imported once its graph
    exists) or ``auto`` (onnxruntime where it is installed and the model has a graph,
    on the CPU; else torch), the default of ``retinaseg segment``, ``evaluate`` and of
    :func:`retinaseg.segment` and :func:`retinaseg.evaluate` given a name. An
    ``.onnx`` file runs on onnxruntime (``torch`` is refused). ``device``: ``auto`` (CUDA,
    then MPS, then the CPU), ``cpu`` (or None), ``cuda``, ``cuda:N``, ``mps`` or a
    ``torch.device``. ``threads``: onnxruntime's threads (0: one per core).
    """
    name = str(name_or_path)
    path = Path(name)
    if path.suffix.lower() == ONNX_SUFFIX and name not in PRETRAINED:
        if backends.check_backend(backend or ONNXRUNTIME) == TORCH:
            raise RetinasegError(f"{path}: an .onnx file runs on onnxruntime (--backend "
                                 "onnxruntime or auto), not torch; give the checkpoint it "
                                 "was exported from for torch")
        return _onnx_file(path, device, threads)
    backend = backends.check_backend(backend or TORCH)
    if backend == ONNXRUNTIME or (backend == "auto" and backends.auto_wants_onnxruntime(
            _device_text(device))):
        model = _graph_model(name, path, device, threads, required=backend == ONNXRUNTIME)
        if model is not None:
            return model
    return _torch_model(name, path, device)


def _torch_model(name: str, path: Path, device):
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # an inference-only install
        raise RetinasegError(f"{name}: torch is needed to run it on the torch backend: pip "
                             "install 'retinaseg[torch]', or give an .onnx file (retinaseg "
                             "export, where torch is) for onnxruntime")
    from ..devices import prepare_for_inference, resolve_device

    target = resolve_device(device or "cpu")  # a bad device name fails before any loading
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


def _graph_model(name: str, path: Path, device, threads: int, required: bool):
    """The model on onnxruntime from its graph, or None where ``auto`` should fall
    back to torch (no graph, or one that cannot be exported)."""
    if name in PRETRAINED:
        return _shipped_graph_model(name, device, threads, required)
    graph = backends.sibling_graph(path)
    if graph is None:
        if required:
            raise RetinasegError(f"{name}: no ONNX graph beside it for --backend onnxruntime; "
                                 f"write one with 'retinaseg export {name} --out "
                                 f"{path.with_suffix(ONNX_SUFFIX)}', or give an .onnx file")
        return None
    model = _onnx_file(graph, device, threads)
    if model.sha256 != backends.file_sha256(path):
        if required:
            raise RetinasegError(f"{graph} was not exported from {path} (its source SHA-256 "
                                 "differs); export it again")
        return None
    return model


def _shipped_graph_model(name: str, device, threads: int, required: bool):
    from .pretrained import PRETRAINED, with_registry_defaults

    found = backends.shipped_graph(name)
    if found is None:
        try:
            found = backends.export_to_cache(name)
        except (ImportError, RetinasegError) as exc:
            if required:
                raise RetinasegError(f"{name}: cannot export its ONNX graph ({exc})") from None
            print(f"retinaseg: {name}: no ONNX graph ({exc}); running on torch",
                  file=sys.stderr)
            return None
    graph, digest = found
    model = _onnx_file(graph, device, threads, digest)
    if model.sha256 != PRETRAINED.get(name).sha256:
        raise RetinasegError(f"{graph}: exported from other weights than the shipped {name!r} "
                             "(source SHA-256 differs); delete it to export it again")
    with_registry_defaults(model.meta, name)
    return model


def _device_text(device) -> str:
    return "cpu" if device is None else str(device)


def _pretrained(name: str):
    from .pretrained import load_pretrained

    return load_pretrained(name)


def _checkpoint(path: Path):
    from .checkpoint import load_checkpoint

    return load_checkpoint(path)


def _onnx_file(path: Path, device, threads: int = 0, digest: str | None = None):
    from .onnx_model import load_onnx_model

    return load_onnx_model(path, _device_text(device), threads, digest)
