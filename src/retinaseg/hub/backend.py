"""Which backend runs a model's network, and where its ONNX graph comes from.

``auto`` takes onnxruntime where it is installed (with ``onnx``, which checks the
file) and the model has an ONNX graph, on the CPU; otherwise torch. A model's graph:

- an ``.onnx`` file named as the model: that file;
- a shipped model: ``weights/NAME.onnx`` where the package ships one, else the graph
  exported once into the cache (:func:`cache_dir`), named by the weights' pinned
  SHA-256 and checked against it, and against the file's own hash, each time;
- a checkpoint file: ``STEM.onnx`` beside it whose meta names the checkpoint's SHA-256
  (``retinaseg export CKPT --out STEM.onnx`` writes one); otherwise it has none.

Under ``auto`` a model with no graph, a GPU in the machine, or a graph that fails to
export runs on torch. Nothing here imports torch unless torch is what runs, or a
graph is exported.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import RetinasegError
from ..names import BACKENDS, ONNXRUNTIME, TORCH

AUTO = "auto"
CACHE_ENV = "RETINASEG_CACHE"


def check_backend(backend: str | None) -> str:
    backend = backend or AUTO
    if backend not in BACKENDS:
        raise RetinasegError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend


def onnxruntime_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def gpu_likely() -> bool:
    """Whether torch's ``auto`` device would likely find a GPU, judged without
    importing torch: an NVIDIA driver, or an Apple-silicon Mac (MPS)."""
    if Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists():
        return True
    return sys.platform == "darwin" and os.uname().machine == "arm64"


def auto_wants_onnxruntime(device: str) -> bool:
    """Whether ``auto`` tries onnxruntime on ``device``: the CPU, asked for or the only one."""
    name = str(device or "auto").lower()
    cpu = name == "cpu" or (name == AUTO and not gpu_likely())
    return cpu and onnxruntime_installed()


def cache_dir() -> Path:
    """``$RETINASEG_CACHE``, else ``$XDG_CACHE_HOME/retinaseg``, else ``~/.cache/retinaseg``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "retinaseg"


def cached_graph_path(name: str, sha256: str) -> Path:
    """Where the graph of the weights with this SHA-256 is kept (one file per weights)."""
    return cache_dir() / "onnx" / f"{name}-{sha256[:16]}.onnx"


def record_path(graph: Path) -> Path:
    """The file holding the graph's own SHA-256, written with it."""
    return graph.with_name(graph.name + ".sha256")


def shipped_graph(name: str) -> tuple[Path, str | None] | None:
    """``(graph, its expected SHA-256 or None)`` of a shipped model: the package's
    ``weights/NAME.onnx``, else the cache's; None where neither exists yet."""
    from .pretrained import PRETRAINED, weights_dir

    beside = weights_dir() / f"{name}.onnx"
    if beside.is_file():  # pinned: checked against the registry's hash, else in full
        return beside, PRETRAINED.get(name).onnx_sha256
    cached = cached_graph_path(name, PRETRAINED.get(name).sha256)
    record = record_path(cached)
    if cached.is_file() and record.is_file():
        return cached, record.read_text().strip()
    return None


def export_to_cache(name: str) -> tuple[Path, str]:
    """Export shipped model ``name`` into the cache (torch and onnx needed, once); the
    graph and its hash record are written together, atomically."""
    from ..io.atomic import write_all_or_nothing
    from .export import export_onnx
    from .pretrained import PRETRAINED, load_pretrained

    target = cached_graph_path(name, PRETRAINED.get(name).sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.export")
    try:
        export_onnx(load_pretrained(name), staging, name=name)  # checked against PyTorch
        data = staging.read_bytes()
    finally:
        staging.unlink(missing_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    write_all_or_nothing({target: data, record_path(target): digest + "\n"})
    return target, digest


def sibling_graph(path: Path) -> Path | None:
    """``STEM.onnx`` beside checkpoint ``path``, if there is one."""
    graph = path.with_suffix(".onnx")
    return graph if graph.is_file() and path.is_file() else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(model) -> str:
    """One line naming the backend that runs ``model``, for stderr and logs."""
    if getattr(model, "backend", TORCH) == ONNXRUNTIME:
        return model.describe()
    return f"backend torch ({model.device})"
