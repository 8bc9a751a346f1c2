"""How a job segments, resolved once: the cut, TTA, precision, post-processing,
working scale and quality check, from the model's meta and the user's choices.

Every entry point (``retinaseg segment`` and ``evaluate``, cohort workers, the API,
the benchmarks) calls :func:`resolve_settings` once, after the model is loaded
and before any photo is read, and hands the :class:`InferenceSettings` down.
Nothing below re-reads the user's choices or the model's defaults, so a job's
settings are one value that can be logged, compared and pickled to a worker.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import RetinasegError
from ..names import ONNXRUNTIME, PRECISIONS, TORCH
from .av_vote import DEFAULT_AV_DECISION, check_av_decision
from .cut import OTSU, describe_rule, rule_of
from .postprocess import Postprocess, resolve_postprocess

# Besides these, "rot<K>" averages over K equally spaced rotations (see tta_rotations).
TTA_MODES = ("none", "flip", "flip+rot90")
MAX_TTA_ROTATIONS = 36  # every 10 degrees; beyond that, "rot90" is a likely typo for a quarter turn


def tta_rotations(mode: str) -> int:
    """K of a ``rot<K>`` mode (2 <= K <= 36), 0 for any other mode."""
    match = re.fullmatch(r"rot(\d+)", mode)
    return int(match.group(1)) if match and 2 <= int(match.group(1)) <= MAX_TTA_ROTATIONS else 0


def check_tta(mode: str) -> str:
    if mode not in TTA_MODES and not tta_rotations(mode):
        raise RetinasegError(f"unknown test-time augmentation {mode!r}; known: "
                             f"{', '.join(TTA_MODES)}, rot<K> (K equally spaced rotations, "
                             f"2 <= K <= {MAX_TTA_ROTATIONS}, e.g. rot12; rot4 is the quarter "
                             "turns)")
    return mode


SCALES = ("fov", "caliber", "band")  # how a photo's working scale is chosen (pipeline.segment)
DEFAULT_SCALE = "fov"


class LoadedModel(Protocol):
    """What the pipeline needs of a model: its network, its meta and where it came
    from (:class:`retinaseg.hub.checkpoint.ModelBundle` is one). The pipeline does
    not import the hub, which stands above it and builds these."""

    module: Any
    meta: Any
    source: str

    @property
    def device(self) -> Any: ...


def backend_of(model: LoadedModel) -> str:
    """What runs ``model``'s network: ``onnxruntime`` (an OnnxModel says so) or ``torch``."""
    return getattr(model, "backend", TORCH)


@dataclass(frozen=True)
class InferenceSettings:
    """One job's inference settings, every field resolved (no None left)."""

    rule: float | str          # the cut: a fixed threshold in (0, 1], or "otsu" (per photo)
    tta: str                   # test-time augmentation (pipeline.predict.TTA_MODES)
    precision: str             # autocast: auto, fp32, bf16 or fp16 (devices.PRECISIONS)
    postprocess: Postprocess   # mask post-processing (pipeline.postprocess)
    scale: str                 # working scale rule (SCALES)
    quality_check: bool = True  # refuse photos in which no usable fundus is seen
    av_decision: str = DEFAULT_AV_DECISION  # artery or vein by vessel, segment or pixel (av_vote)

    def describe(self) -> dict:
        """The settings as a results table or a log records them."""
        return {"threshold": describe_rule(self.rule), "tta": self.tta,
                "precision": self.precision, "postprocess": self.postprocess.describe(),
                "scale": self.scale, "quality_check": self.quality_check,
                "av_decision": self.av_decision}


def resolve_settings(model: LoadedModel, threshold: float | str | None = None,
                     tta: str | None = None, precision: str | None = None,
                     postprocess: Postprocess | str | dict | bool | None = None,
                     scale: str | None = None, quality_check: bool = True,
                     av_decision: str | None = None) -> InferenceSettings:
    """The settings a job runs with: each choice the user made, checked, else the
    model's own (its meta's threshold rule, TTA and post-processing), else the default.

    A choice the model cannot honour (``--scale caliber`` on a model with no
    measured calibre) is a one-line :class:`RetinasegError` naming the model file.
    """
    return InferenceSettings(
        rule=rule_of(threshold, model.meta),
        tta=check_tta(model.meta.tta if tta is None else tta),
        precision=check_precision(precision, backend_of(model)),
        postprocess=resolve_postprocess(model.meta, postprocess),
        scale=check_scale_choice(model, scale),
        quality_check=bool(quality_check),
        av_decision=check_av_decision(av_decision))


def check_precision(precision: str | None, backend: str = TORCH) -> str:
    """``precision`` (None: ``auto``) if it is one of :data:`~retinaseg.devices.PRECISIONS`
    and the backend runs it (an exported graph is fp32)."""
    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise RetinasegError(f"unknown precision {precision!r}: choose one of "
                             f"{', '.join(PRECISIONS)}")
    if backend == ONNXRUNTIME and precision not in ("auto", "fp32"):
        raise RetinasegError(f"--precision {precision} runs on the torch backend; the ONNX "
                             "graph is fp32 (use --backend torch)")
    return precision


def precision_used(model: LoadedModel, precision: str = "auto") -> str:
    """What ``precision`` amounts to for ``model``: ``fp32``, ``bf16`` or ``fp16``
    (recorded beside results, since ``auto`` differs between machines)."""
    if backend_of(model) == ONNXRUNTIME:
        return "fp32"
    from ..devices import precision_label

    return precision_label(model.device, precision)


def check_scale_choice(model: LoadedModel, scale: str | None) -> str:
    """``scale`` (None: the default) if ``model`` can segment at it; a one-line error if not."""
    scale = scale or DEFAULT_SCALE
    if scale not in SCALES:
        raise RetinasegError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    if scale == "fov":
        return scale
    if model.meta.square_size:
        raise RetinasegError(f"{model.source}: --scale {scale} needs a model that works at "
                             "a FOV width; this one resizes photos to a square")
    measured = model.meta.caliber_px if scale == "caliber" else len(model.meta.caliber_band) == 2
    if not measured:
        raise RetinasegError(f"{model.source}: the model has no reference vessel calibre "
                             f"for --scale {scale}; measure it with 'retinaseg calibrate'")
    return scale


def per_photo_cut(settings: InferenceSettings) -> bool:
    """Whether each photo is cut at its own threshold (Otsu) rather than one for all."""
    return settings.rule == OTSU
