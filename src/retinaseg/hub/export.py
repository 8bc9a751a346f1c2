"""ONNX export: the network as one graph that takes any height and width.

The graph holds what happens to a preprocessed tensor: padding to the network's
stride, the network, the crop back and the sigmoid. Its input ``image`` is
``(N, C, H, W)`` float32, the photo already brought to the model's working
scale and preprocessed (:mod:`retinaseg.data.preprocess`); its outputs are
``probability`` and ``logits``, ``(N, 1, H, W)``. What a runtime needs beyond
the graph (scale, preprocessing steps, threshold, the TTA the threshold was
chosen under) travels in the file's ``metadata_props``, and :func:`load_onnx`
rebuilds a :class:`~retinaseg.hub.checkpoint.ModelBundle` from the file alone, so
that retinaseg's own pre- and post-processing can run an ONNX model.
"""
from __future__ import annotations

import copy
import io
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.preprocess import pipeline_channels
from ..errors import RetinasegError, file_error
from ..io.atomic import write_all_or_nothing
from ..models.contract import SegmentationModel
from .checkpoint import ModelBundle
from .onnx_checks import read_checked_onnx
from .onnx_model import INPUT, META_KEY, OUTPUTS  # noqa: F401 (META_KEY: the whole ModelMeta as JSON)
from .onnx_model import require as _require

OPSET = 17
EXAMPLE_SHAPE = (72, 88)  # the traced input's height and width
CHECK_SHAPE = (77, 91)  # the built-in check's input: odd sizes, so the padding is exercised
CHECK_TOLERANCE = 1e-4

USAGE = ("input 'image': float32 (N, C, H, W), any H and W: the RGB photo resampled so its "
         "field of view is 'fov_diameter' pixels wide (where 'fov_range' [low, high] is "
         "not empty: its own width clamped into that range; or resized to 'square_size' "
         "squared when that is not 0), then the 'preprocess' steps (retinaseg.data.preprocess; zero "
         "outside the FOV). Output 'probability' (N, C, H, W), one channel per name in "
         "'outputs' ('vessel' first; the others ride beside it): resize back to the photo, set "
         "0 outside the FOV, average over the 'tta' views, mask = probability >= 'threshold' "
         "(where 'threshold_rule' is 'otsu': >= the Otsu threshold of the photo's FOV "
         "probabilities, kept within [0.2, 0.8], 'threshold' where they are all alike).")


class ExportGraph(nn.Module):
    """What is exported: pad to the stride, run the network, crop, sigmoid."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.stride = int(getattr(module, "stride", 1))

    def forward(self, x: torch.Tensor):
        height, width = x.shape[-2], x.shape[-1]
        pad_h = (self.stride - height % self.stride) % self.stride
        pad_w = (self.stride - width % self.stride) % self.stride
        logits = self.module(F.pad(x, [0, pad_w, 0, pad_h]))[..., :height, :width]
        return torch.sigmoid(logits), logits


@dataclass(frozen=True)
class ExportReport:
    path: Path
    bytes: int
    opset: int
    max_difference: float | None  # largest |ONNX - PyTorch| probability on the check input
    check_size: str


def export_onnx(bundle: ModelBundle, path, name: str = "", opset: int = OPSET,
                check: bool = True) -> ExportReport:
    """Write ``bundle`` as an ONNX file with dynamic batch, height and width.

    ``check`` runs the file in onnxruntime on a deterministic input of odd size
    and refuses (nothing written) when its probabilities differ from PyTorch's by
    more than :data:`CHECK_TOLERANCE`.
    """
    onnx = _require("onnx", "export")
    if check:
        _require("onnxruntime", "check the export (or pass --no-check)")
    # A copy, in eval mode as a whole: the exporter puts the wrapper back into the
    # mode it found it in, recursively, and a wrapper left in training mode would
    # switch the network's dropout on for the comparison that follows.
    graph = ExportGraph(copy.deepcopy(bundle.module).cpu().float()).eval()
    model = onnx.load_from_string(_traced_onnx(graph, bundle.module, opset))
    for key, value in onnx_metadata(bundle, name).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    difference = largest_difference(data, graph, _channels(bundle.module)) if check else None
    if difference is not None and not difference <= CHECK_TOLERANCE:
        raise file_error(path, f"ONNX probabilities differ from PyTorch's by {difference:.2e} "
                               f"(> {CHECK_TOLERANCE}); not written")
    write_all_or_nothing({Path(path): data})
    return ExportReport(Path(path), len(data), opset, difference,
                        f"{CHECK_SHAPE[1]}x{CHECK_SHAPE[0]}")


def _traced_onnx(graph: ExportGraph, module: nn.Module, opset: int) -> bytes:
    """The graph traced by PyTorch's TorchScript-based exporter, which needs no
    extra package and keeps height and width symbolic through reshapes and LSTMs."""
    # Not square and not a multiple of 16: the padding is traced, and height and
    # width cannot be mistaken for each other (tests check other shapes).
    example = torch.zeros(1, _channels(module), *EXAMPLE_SHAPE)
    buffer = io.BytesIO()
    dynamic = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings: nothing for the user
        torch.onnx.export(graph, (example,), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT], output_names=list(OUTPUTS),
                          dynamic_axes={INPUT: dynamic, **{o: dynamic for o in OUTPUTS}})
    return buffer.getvalue()


def onnx_metadata(bundle: ModelBundle, name: str = "") -> dict[str, str]:
    """The ``metadata_props`` written into the file: strings, JSON where structured."""
    meta = bundle.meta
    from ..version import __version__

    return {
        META_KEY: json.dumps(asdict(meta)),
        "model_name": name or Path(bundle.source).stem,
        "architecture": meta.architecture,
        "threshold": repr(float(meta.threshold)),
        "threshold_source": meta.threshold_source,
        "threshold_rule": meta.threshold_rule,
        "fov_diameter": repr(float(meta.fov_diameter)),
        "fov_range": json.dumps([float(v) for v in meta.fov_range]),
        "square_size": str(int(meta.square_size)),
        "preprocess": json.dumps(list(meta.preprocess)),
        "tta": meta.tta,
        "outputs": json.dumps(list(meta.outputs)),
        "in_channels": str(_channels(bundle.module)),
        "whole_image_only": json.dumps(bool(getattr(bundle.module, "needs_whole_image", False))),
        "trained_on": meta.trained_on,
        "source_sha256": bundle.sha256,
        "retinaseg_version": __version__,
        "usage": USAGE,
    }


def largest_difference(data: bytes, graph: ExportGraph, channels: int) -> float:
    """Largest absolute probability difference between the ONNX file and PyTorch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, channels, *CHECK_SHAPE)).astype(np.float32)
    with torch.inference_mode():
        expected = graph(torch.from_numpy(x))[0].numpy()
    got = onnx_session(data).run([OUTPUTS[0]], {INPUT: x})[0]
    return float(np.abs(got - expected).max())


def onnx_session(path_or_bytes):
    """An onnxruntime session on the CPU (the provider every install has)."""
    ort = _require("onnxruntime", "run an ONNX model")
    source = str(path_or_bytes) if isinstance(path_or_bytes, (str, Path)) else path_or_bytes
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


class OnnxModule(SegmentationModel):
    """An onnxruntime session behind the model contract inference expects
    (logits out, stride, whole-image need), so retinaseg's resampling, TTA and
    FOV handling can run an exported file."""

    def __init__(self, session, needs_whole_image: bool, in_channels: int, out_channels: int = 1):
        super().__init__()
        self.session = session
        self.stride = 1  # the graph pads to the network's stride itself
        self.needs_whole_image = needs_whole_image
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        logits = self.session.run([OUTPUTS[1]], {INPUT: array})[0]
        return torch.from_numpy(logits).to(x.device)


def load_onnx(path) -> ModelBundle:
    """A bundle running an exported ONNX file, its meta read from the file alone.
    The file is untrusted input, checked before onnxruntime reads it
    (:mod:`retinaseg.hub.onnx_checks`: size, standard operators only, no external
    data, its meta's field rules, its input and outputs); the session is built from
    the checked bytes, never from a path."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such ONNX file")
    _require("onnx", "check an ONNX model")
    data, meta, props = read_checked_onnx(path, META_KEY, INPUT, OUTPUTS)
    try:
        session = onnx_session(data)
        whole = json.loads(props.get("whole_image_only", "false")) is True
    except RetinasegError:
        raise
    except Exception as exc:  # onnxruntime raises its own types for a bad graph
        raise file_error(path, f"not a runnable ONNX model ({type(exc).__name__})") from None
    module = OnnxModule(session, whole, pipeline_channels(meta.preprocess), len(meta.outputs))
    return ModelBundle(module, meta, str(path), props.get("source_sha256", ""))


def _channels(module: nn.Module) -> int:
    return int(getattr(module, "in_channels", 1))
