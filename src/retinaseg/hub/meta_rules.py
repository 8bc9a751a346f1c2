"""The rule each field of a model's meta keeps, one line per field, checked when a
checkpoint or an ONNX file is opened, before any photo is read.

:func:`retinaseg.hub.meta.meta_from_dict` checks the fields' JSON types first, then
runs :data:`FIELD_RULES` in order. A rule takes the field's value and the whole
meta (for the rules that read another field) and returns None, or what the value
should be; the error names the file, the field, what is allowed and the value:
``m.safetensors: its model meta field 'threshold' should be in (0, 1], not nan``.
A new field is one more line here (``tests/test_meta_rules.py`` fails for a field
without one).

``kwargs`` are checked by building the architecture on PyTorch's ``meta`` device
(an ONNX file, whose graph is its network and which is opened without torch: plain
values, and its sizes counts),
which allocates no memory, inside a guard that turns any exception into a
refusal naming the field; the built network must have at most
:data:`MAX_PARAMETERS` parameters and take the channels its ``preprocess`` gives.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Callable

from ..checks import FOV_DIAMETER, MAX_SIDE, THRESHOLD, Range
from ..errors import RetinasegError, file_error
from ..names import ARCHITECTURES

MAX_PARAMETERS = 200_000_000  # the shipped models have at most 1.9 M
MAX_KWARG = 100_000           # |a number| among an architecture's keyword arguments
CALIBER = Range(0, MAX_SIDE)

Rule = Callable[[Any, dict], "str | None"]


def check_meta_values(values: dict, path, network: bool = True) -> None:
    """Run every field's rule on a meta whose types are already right. ``network``
    False (an ONNX file, whose graph is the network) checks ``kwargs`` as plain
    values only, without building the architecture, so no torch is imported."""
    rules = FIELD_RULES if network else {**FIELD_RULES, "kwargs": _plain_kwargs}
    for name, rule in rules.items():
        if name in values:
            problem = rule(values[name], values)
            if problem:
                raise file_error(path, f"its model meta field {name!r} should be {problem}, "
                                       f"not {_shown(values[name])}")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _range(allowed: Range) -> Rule:
    return lambda value, meta: allowed.problem(value)


def _anything(value, meta) -> None:  # free text or a free mapping: its type was checked
    return None


def _architecture(value: str, meta) -> str | None:
    # The live registry once the architectures are imported, else their table: an ONNX
    # file is checked without torch.
    registry = sys.modules.get("retinaseg.models")
    known = registry.list_models() if registry is not None else sorted(ARCHITECTURES)
    return None if value in known else f"one of {', '.join(known)}"


def _preprocess(value: list, meta) -> str | None:
    from ..data.preprocess import validate_pipeline

    try:
        validate_pipeline(value)
    except RetinasegError as exc:
        return f"a preprocessing pipeline ({exc})"
    return None


def _plain(value) -> bool:
    """A JSON scalar (finite, not huge) or a list of them."""
    if isinstance(value, list):
        return all(_plain(v) and not isinstance(v, list) for v in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    return isinstance(value, (int, float)) and math.isfinite(value) and abs(value) <= MAX_KWARG


def _kwargs(value: dict, meta: dict) -> str | None:
    from ..models._registry import builder_parameters

    architecture = meta.get("architecture", "")
    known = builder_parameters(architecture)
    unknown = sorted(set(value) - known) if known is not None else []
    if unknown:
        return (f"keyword arguments of {architecture!r} ({', '.join(sorted(known))}); "
                f"unknown: {', '.join(map(repr, unknown))}")
    return _plain_kwargs(value, meta) or build_problem(architecture, value,
                                                       meta.get("preprocess") or [])


# Sizes every convolutional architecture reads: without building one (an ONNX file, checked
# without torch) at least these must be counts.
SIZE_KWARGS = ("depth", "base_channels", "in_channels", "out_channels")


def _plain_kwargs(value: dict, meta: dict) -> str | None:
    bad = [k for k, v in value.items() if not _plain(v)]
    if bad:
        return (f"plain values (finite numbers up to {MAX_KWARG}, strings, true/false); "
                f"{', '.join(map(repr, bad))} is not")
    sizes = [k for k in SIZE_KWARGS if k in value and not (
        isinstance(value[k], int) and not isinstance(value[k], bool) and value[k] >= 1)]
    if sizes:
        return f"whole numbers >= 1 for {', '.join(sizes)}"
    return None


def build_problem(architecture: str, kwargs: dict, preprocess: list) -> str | None:
    """Why ``architecture(**kwargs)`` is not a network this meta can run, or None.
    Built on the ``meta`` device: shapes only, no memory, so a huge width costs nothing."""
    import torch

    from ..data.preprocess import pipeline_channels
    from ..models import create_model

    try:
        with torch.device("meta"):
            module = create_model(architecture, **kwargs)
    except Exception as exc:  # any builder's failure is the file's fault, never a bug
        reason = str(exc).removeprefix(f"model {architecture!r}: ")
        return f"keyword arguments a {architecture!r} builds with ({type(exc).__name__}: " \
               f"{' '.join(reason.split())[:160]})"
    count = sum(p.numel() for p in module.parameters())
    if count > MAX_PARAMETERS:
        return f"a network of at most {MAX_PARAMETERS:,} parameters (these give {count:,})"
    channels = pipeline_channels(preprocess)
    if int(getattr(module, "in_channels", channels)) != channels:
        return (f"a network taking the {channels} channel(s) its preprocess "
                f"{preprocess} gives (in_channels {module.in_channels})")
    return None


def _square_size(value: int, meta) -> str | None:
    ok = value == 0 or 16 <= value <= MAX_SIDE
    return None if ok else f"0 (off) or an integer in [16, {MAX_SIDE}]"


def _tta(value: str, meta) -> str | None:
    from ..pipeline.settings import check_tta

    try:
        check_tta(value)
    except RetinasegError as exc:
        return "a TTA mode: " + str(exc).split("; ", 1)[-1].removeprefix("known: ")
    return None


def _pair(value: list, low: float, high: float) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                  for v in value)
    return len(value) == 2 and numbers and low <= value[0] <= value[1] <= high


def _fov_range(value: list, meta) -> str | None:
    ok = value == [] or _pair(value, FOV_DIAMETER.low, FOV_DIAMETER.high)
    return None if ok else (f"[] (off) or [low, high] with {FOV_DIAMETER.low:g} <= low <= high "
                            f"<= {FOV_DIAMETER.high:g}")


def _postprocess(value: dict, meta) -> str | None:
    from ..pipeline.postprocess import postprocess_from_dict

    try:
        postprocess_from_dict(value, "it")
    except (RetinasegError, TypeError) as exc:
        return f"a post-processing mapping ({exc})"
    return None


def _threshold_rule(value: str, meta) -> str | None:
    from ..pipeline.cut import RULES

    return None if value in RULES else f"one of {', '.join(RULES)}"


def _caliber_band(value: list, meta) -> str | None:
    ok = value == [] or (_pair(value, 0, MAX_SIDE) and value[0] > 0)
    return None if ok else f"[] (not measured) or [low, high] with 0 < low <= high <= {MAX_SIDE}"


def _outputs(value: list, meta) -> str | None:
    from ..names import OUTPUT_NAMES, VESSEL

    names = f"distinct names of {', '.join(OUTPUT_NAMES)}, vessel first"
    if not value or value[0] != VESSEL or len(set(value)) != len(value) or any(
            name not in OUTPUT_NAMES for name in value):
        return names
    kwargs = meta.get("kwargs") if isinstance(meta.get("kwargs"), dict) else {}
    channels = kwargs.get("out_channels", 1)
    return None if channels == len(value) else (
        f"one name per channel the network gives (kwargs.out_channels {channels!r})")


# Every field of ModelMeta, in the order they are checked (kwargs after the two it reads).
FIELD_RULES: dict[str, Rule] = {
    "architecture": _architecture,
    "preprocess": _preprocess,
    "kwargs": _kwargs,
    "fov_diameter": _range(FOV_DIAMETER),
    "threshold": _range(THRESHOLD),
    "threshold_source": _anything,
    "trained_on": _anything,
    "extra": _anything,
    "square_size": _square_size,
    "tta": _tta,
    "fov_range": _fov_range,
    "postprocess": _postprocess,
    "threshold_rule": _threshold_rule,
    "caliber_px": _range(CALIBER),
    "caliber_band": _caliber_band,
    "outputs": _outputs,
}
