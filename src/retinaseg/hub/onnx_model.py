"""A model run by onnxruntime, without torch: an exported ``.onnx`` file checked
(:mod:`retinaseg.hub.onnx_checks`), its meta read from the file alone, and one
``InferenceSession`` behind the little the numpy pipeline asks of a network
(:mod:`retinaseg.pipeline.predict_numpy`).

Nothing here imports torch, so a process that segments with such a model starts in
a fraction of the time ``import torch`` takes (benchmarks/results/speed_stages.md).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RetinasegError, file_error
from ..names import ONNXRUNTIME
from .meta import ModelMeta

INPUT, OUTPUTS = "image", ("probability", "logits")  # hub/export.py writes these names
META_KEY = "retinaseg.meta"
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


class OnnxNetwork:
    """One onnxruntime session on ``(N, C, H, W)`` float32 arrays of any size (the
    graph pads to the network's stride and crops back itself)."""

    def __init__(self, session, in_channels: int, out_channels: int, needs_whole_image: bool):
        self.session = session
        self.in_channels, self.out_channels = in_channels, out_channels
        self.needs_whole_image = needs_whole_image

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUTS[0]], {INPUT: x})[0]

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUTS[1]], {INPUT: x})[0]


@dataclass
class OnnxModel:
    """What the pipeline needs of a model (``module``, ``meta``, ``source``, ``device``;
    :class:`~retinaseg.pipeline.settings.LoadedModel`), run by onnxruntime.
    ``sha256`` is the weights' the graph was exported from, so a results table names
    the same model whichever backend ran it; ``graph`` is the ``.onnx`` file."""

    module: OnnxNetwork
    meta: ModelMeta
    source: str
    sha256: str
    graph: str
    device: str = "cpu"
    threads: int = 0
    config: dict = field(default_factory=dict)
    backend: str = ONNXRUNTIME

    def describe(self) -> str:
        """One line saying what runs the network, for a log or stderr."""
        threads = f", {self.threads} threads" if self.threads else ""
        return f"backend onnxruntime ({self.device}{threads}; graph {self.graph})"

    def to(self, device) -> "OnnxModel":
        """Here for the API's sake: a session does not move; another device is an error."""
        if str(device) not in (self.device, "auto"):
            raise RetinasegError(f"{self.source}: this model runs on onnxruntime on "
                                 f"{self.device}; load it again with device={str(device)!r}")
        return self


def load_onnx_model(path, device: str = "cpu", threads: int = 0,
                    expect_sha256: str | None = None) -> OnnxModel:
    """An exported ``.onnx`` file as a model ready for the numpy pipeline.

    The bytes are read once, checked and handed to onnxruntime: what is checked is
    what runs. A file of retinaseg's own cache comes with ``expect_sha256``, the hash
    recorded when it was exported and checked; bytes that match it skip the structural
    checks (and the ``onnx`` import, 0.6 s here), never the meta's rules. ``device``: ``cpu`` or ``auto`` (the CPU), ``cuda`` or ``cuda:N``
    (onnxruntime's CUDA provider, where installed; untested here). ``threads``: the
    session's intra-op threads (0: one per core).
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such ONNX file")
    if expect_sha256:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != expect_sha256:
            raise file_error(path, "its SHA-256 is not the one recorded when it was written "
                                   "(corrupt or replaced); delete it to export it again")
        session = _session(path, data, device, threads)
        props = dict(session.get_modelmeta().custom_metadata_map)
        meta = _meta_of(props, path)
    else:
        from .onnx_checks import read_checked_onnx

        require("onnx", "check an ONNX model")
        data, meta, props = read_checked_onnx(path, META_KEY, INPUT, OUTPUTS)
        session = _session(path, data, device, threads)
    whole = json.loads(props.get("whole_image_only", "false")) is True
    from ..data.preprocess import pipeline_channels

    network = OnnxNetwork(session, pipeline_channels(meta.preprocess), len(meta.outputs), whole)
    return OnnxModel(network, meta, str(path), props.get("source_sha256", ""), str(path),
                     _device_name(device), threads or _default_threads())


def _meta_of(props: dict, path: Path) -> ModelMeta:
    """The meta a graph carries, through every field rule (no network built)."""
    from .meta import meta_from_dict

    if META_KEY not in props:
        raise file_error(path, f"not exported by retinaseg (no {META_KEY!r} metadata)")
    try:
        values = json.loads(props[META_KEY])
    except ValueError:
        raise file_error(path, f"its {META_KEY!r} metadata is not JSON") from None
    return meta_from_dict(values, path, network=False)


def _session(path: Path, data: bytes, device: str, threads: int):
    ort = require("onnxruntime", "run an ONNX model")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or _default_threads()
    options.inter_op_num_threads = 1  # one graph, run node after node: no second pool
    try:
        return ort.InferenceSession(data, options, providers=providers(device, ort))
    except RetinasegError:
        raise
    except Exception as exc:  # onnxruntime raises its own types for a bad graph
        raise file_error(path, f"not a runnable ONNX model ({type(exc).__name__})") from None


def providers(device: str, ort) -> list:
    """The execution providers for ``device``: the CPU's, or CUDA's (with the CPU's
    for any operator CUDA lacks) where this onnxruntime build has it."""
    name = _device_name(device)
    if name == "cpu":
        return [CPU]
    if name.startswith("cuda"):
        if CUDA not in ort.get_available_providers():
            raise RetinasegError(f"--device {device} on onnxruntime needs its CUDA provider "
                                 "(pip install onnxruntime-gpu); or use --backend torch")
        return [(CUDA, {"device_id": int(name.partition(":")[2] or 0)}), CPU]
    raise RetinasegError(f"--device {device} is not run by onnxruntime here; use --backend "
                         "torch (or --device cpu)")


def _device_name(device) -> str:
    name = str(device or "cpu").strip().lower()
    if name == "auto":
        return "cpu"
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise RetinasegError(f"unknown device {device!r}; expected one of auto, cpu, cuda, "
                             "cuda:N, mps")
    return name


def _default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def require(package: str, purpose: str):
    """Import an optional package, or say in one line how to install it."""
    try:
        return __import__(package)
    except ImportError:
        raise RetinasegError(f"{package} is needed to {purpose}: pip install "
                             f"'retinaseg[onnx]'") from None
