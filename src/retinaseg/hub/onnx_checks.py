"""An ``.onnx`` file is untrusted input: what :func:`retinaseg.hub.export.load_onnx`
checks before onnxruntime sees a byte of it.

- the file is at most :data:`MAX_ONNX_BYTES` (256 MiB; the shipped models export to
  under 8 MiB), and is read once, so what is checked is what runs;
- it is parsed with ``onnx.load_model_from_string``, which follows no external-data
  path, and any tensor stored outside the file (``data_location`` EXTERNAL, or
  ``external_data`` entries) is refused: a path inside the file is never opened;
- every operator is a standard ONNX one (the default domain, known to ``onnx.defs``)
  and the file defines no functions: no custom-domain or unknown operator runs;
- its meta (``retinaseg.meta``) passes every field rule (:mod:`retinaseg.hub.meta_rules`);
- it has one input ``image`` (float32, N, C, H, W with C the channels the meta's
  network takes and N, H, W dynamic) and the outputs ``probability`` and ``logits``
  (float32, rank 4).

Each refusal is one line naming the file and what is wrong.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import file_error
from .meta import ModelMeta, meta_from_dict

MAX_ONNX_BYTES = 256 * 2**20
STANDARD_DOMAINS = ("", "ai.onnx")


def read_checked_onnx(path: Path, meta_key: str, input_name: str, outputs) -> tuple:
    """``(bytes, ModelMeta, metadata_props)`` of a checked file, or a one-line error."""
    import onnx

    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise file_error(path, f"{size / 2**20:.0f} MiB; an ONNX model file may be at most "
                               f"{MAX_ONNX_BYTES // 2**20} MiB")
    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)  # follows no external-data path
    except Exception as exc:  # protobuf raises its own types for a bad file
        raise file_error(path, f"not a readable ONNX model ({type(exc).__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if meta_key not in props:
        raise file_error(path, f"not exported by retinaseg (no {meta_key!r} metadata)")
    try:
        values = json.loads(props[meta_key])
    except ValueError:
        raise file_error(path, f"its {meta_key!r} metadata is not JSON") from None
    meta = meta_from_dict(values, path, network=False)  # every field's rule; the graph is the net
    _check_operators(model, path)
    _check_tensors_inside(model, path)
    _check_signature(model.graph, meta, path, input_name, outputs)
    return data, meta, props


def _graphs(graph):
    """``graph`` and every graph nested in a node's attributes (If, Loop, Scan)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.g.ByteSize():
                yield from _graphs(attribute.g)
            for sub in attribute.graphs:
                yield from _graphs(sub)


def _check_operators(model, path: Path) -> None:
    import onnx

    if len(model.functions):
        raise file_error(path, "defines its own functions (custom operators); only standard "
                               "ONNX operators are run")
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise file_error(path, f"imports the operator domain {opset.domain!r}; only the "
                                   "standard ONNX domain is run")
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain not in STANDARD_DOMAINS:
                raise file_error(path, f"uses operator {node.op_type!r} of the custom domain "
                                       f"{node.domain!r}; only standard ONNX operators are run")
            if not onnx.defs.has(node.op_type):
                raise file_error(path, f"uses the unknown operator {node.op_type!r}; only "
                                       "standard ONNX operators are run")


def _check_tensors_inside(model, path: Path) -> None:
    import onnx

    for graph in _graphs(model.graph):
        tensors = list(graph.initializer) + [s.values for s in graph.sparse_initializer]
        tensors += [a.t for n in graph.node for a in n.attribute if a.t.ByteSize()]
        for tensor in tensors:
            if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
                raise file_error(path, f"tensor {tensor.name!r} refers to data outside the "
                                       "file (external data); a model must be one "
                                       "self-contained file")


def _dims(value) -> list:
    """A value's shape: an int for a fixed dimension, a name or None for a dynamic one."""
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in shape.dim]


def _check_signature(graph, meta: ModelMeta, path: Path, input_name: str, outputs) -> None:
    import onnx

    from ..data.preprocess import pipeline_channels

    channels = pipeline_channels(meta.preprocess)
    constants = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in constants]
    wanted = f"one input {input_name!r}: float32 (N, {channels}, H, W), N, H and W dynamic"
    if len(inputs) != 1 or inputs[0].name != input_name:
        raise file_error(path, f"has input(s) {[v.name for v in inputs]}; expected {wanted}")
    value = inputs[0]
    dims = _dims(value)
    floating = value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    if not floating or len(dims) != 4 or dims[1] != channels or any(
            isinstance(d, int) for d in (dims[0], dims[2], dims[3])):
        raise file_error(path, f"its input {input_name!r} is {_described(value)}; expected "
                               f"{wanted} (the channels its meta's preprocess "
                               f"{meta.preprocess} gives)")
    found = {v.name: v for v in graph.output}
    maps = len(meta.outputs)
    for name in outputs:
        if name not in found:
            raise file_error(path, f"has no output {name!r} (outputs: {', '.join(found)}); "
                                   f"expected {', '.join(outputs)}, float32 (N, {maps}, H, W)")
        out = found[name]
        dims = _dims(out)
        if (out.type.tensor_type.elem_type != onnx.TensorProto.FLOAT or len(dims) != 4
                or (isinstance(dims[1], int) and dims[1] != maps)):
            raise file_error(path, f"its output {name!r} is {_described(out)}; expected "
                                   f"float32 (N, {maps}, H, W), a map per output its meta "
                                   f"declares ({', '.join(meta.outputs)})")


def _described(value) -> str:
    import onnx

    kind = onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type) \
        if value.type.HasField("tensor_type") else "not a tensor"
    return f"{kind.lower()} {tuple(_dims(value))}"
