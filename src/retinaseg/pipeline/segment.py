"""Segment one of a user's photographs: probability map, mask and FOV.

The batch job around it (inputs, the results table, pictures, workers) is
:mod:`retinaseg.cohort`; the Python entry point is :func:`retinaseg.segment`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .caliber import band_pass_width, second_pass_width, working_caliber
from ..hub.checkpoint import ModelBundle
from .cut import image_cut, rule_of
from ..data.fov import estimate_fov
from ..data.geometry import largest_fov_width
from ..quality.gate import check_fundus
from ..errors import RetinasegError
from .predict import predict_probabilities, working_fov_width
from .postprocess import Postprocess, postprocess_mask, resolve_postprocess

SAMPLE_NAME = "skimage-retina"
# How a photo's working scale is chosen: "fov", by its FOV width (one pass); "caliber",
# then again at the width where its wide vessels are as wide as the model's validation
# photos show theirs on average (a second pass where that differs enough, its map
# averaged with the first's); "band", then
# again only where they lie outside the range its validation datasets span, brought to
# the nearest edge (retinaseg.pipeline.caliber).
SCALES = ("fov", "caliber", "band")
DEFAULT_SCALE = "fov"


class Segmented(NamedTuple):
    prob: np.ndarray   # vessel probability, 0 outside the FOV
    mask: np.ndarray   # the vessel mask, post-processed as asked
    fov: np.ndarray    # the field of view (estimated, within ``valid``)
    cut: float         # the threshold the mask was cut at (per photo under ``otsu``)
    fov_width: float = 0.0  # the FOV width (px) of the pass kept; 0 for a square-resize model


class Pass(NamedTuple):
    prob: np.ndarray
    mask: np.ndarray
    cut: float
    fov_width: float


def segment_photo(bundle: ModelBundle, image: np.ndarray, threshold: float | str | None = None,
                  tta: str | None = None, bf16: bool = False, valid: np.ndarray | None = None,
                  quality_check: bool = True, precision: str | None = None,
                  postprocess: Postprocess | str | None = None,
                  scale: str | None = None) -> Segmented:
    """Probability map, mask, FOV and cut of one RGB photo (FOV estimated, within
    ``valid``), on ``bundle.device``.

    With ``quality_check`` a photo in which no usable fundus is seen is refused
    (:func:`~retinaseg.quality.gate.check_fundus`) rather than segmented. The
    photo is cut as ``threshold`` says (a number, ``"otsu"``, or None for the
    model's own rule, :mod:`retinaseg.pipeline.cut`) and the mask post-processed as
    ``postprocess`` says (None: the model's default,
    :func:`~retinaseg.pipeline.postprocess.resolve_postprocess`), at the working scale
    ``scale`` chooses (:data:`SCALES`; None: ``fov``).
    """
    fov = estimate_fov(image, valid)
    if quality_check:
        check_fundus(image, fov)
    kept = segment_at_scale(bundle, image, fov, threshold, tta, bf16, precision, postprocess,
                            scale)
    return Segmented(kept.prob, kept.mask, fov, kept.cut, kept.fov_width)


def segment_at_scale(bundle: ModelBundle, image: np.ndarray, fov: np.ndarray,
                     threshold: float | str | None = None, tta: str | None = None,
                     bf16: bool = False, precision: str | None = None,
                     postprocess: Postprocess | str | None = None,
                     scale: str | None = None) -> Pass:
    """One photo with a known FOV segmented as :func:`segment_photo` says: the pass
    at the model's working scale, or, where the first one's vessel calibre asks for a
    second (:func:`retinaseg.pipeline.caliber.second_pass_width`,
    :func:`~retinaseg.pipeline.caliber.band_pass_width`), under ``scale="band"`` that second
    pass and under ``scale="caliber"`` the mean of both passes' probabilities, cut and
    cleaned as one map. ``fov_width`` is the second pass's where there was one."""
    scale = check_scale_choice(bundle, scale)
    rule = rule_of(threshold, bundle.meta)
    setting = resolve_postprocess(bundle.meta, postprocess)

    def segment_at(width: float | None) -> Pass:
        prob = predict_probabilities(bundle, image, fov, tta, bf16, precision, fov_width=width)
        cut = image_cut(rule, prob, fov, bundle.meta.threshold)
        shown_width = 0.0 if bundle.meta.square_size else (width or working_fov_width(bundle, fov))
        return Pass(prob, postprocess_mask(prob, cut, fov, setting), cut, shown_width)

    first = segment_at(None)
    if scale == "fov":
        return first
    caliber = working_caliber(first.mask, fov, first.fov_width)
    if scale == "caliber":
        width = second_pass_width(first.fov_width, caliber, bundle.meta.caliber_px)
    else:
        width = band_pass_width(first.fov_width, caliber, bundle.meta.caliber_band)
    if width is None:
        return first
    second = segment_at(min(width, largest_fov_width(fov)))
    if scale == "band":
        return second
    # caliber: both passes' probabilities averaged, a two-scale ensemble. On the
    # leave-one-dataset-out runs it led the second pass alone on the unseen cameras and
    # on the known ones (benchmarks/results/caliber_scale.md, caliber_scale_general.md).
    prob = (first.prob + second.prob) / 2
    cut = image_cut(rule, prob, fov, bundle.meta.threshold)
    return Pass(prob, postprocess_mask(prob, cut, fov, setting), cut, second.fov_width)


def check_scale_choice(bundle: ModelBundle, scale: str | None) -> str:
    """``scale`` (None: the default) if ``bundle`` can segment at it; a one-line error if not."""
    scale = scale or DEFAULT_SCALE
    if scale not in SCALES:
        raise RetinasegError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    if scale == "fov":
        return scale
    if bundle.meta.square_size:
        raise RetinasegError(f"{bundle.source}: --scale {scale} needs a model that works at "
                             "a FOV width; this one resizes photos to a square")
    measured = bundle.meta.caliber_px if scale == "caliber" else len(bundle.meta.caliber_band) == 2
    if not measured:
        raise RetinasegError(f"{bundle.source}: the model has no reference vessel calibre "
                             f"for --scale {scale}; measure it with 'retinaseg calibrate'")
    return scale


def segment_image(bundle: ModelBundle, image: np.ndarray, threshold: float | str | None = None,
                  tta: str | None = None, bf16: bool = False, valid: np.ndarray | None = None,
                  quality_check: bool = True, precision: str | None = None,
                  postprocess: Postprocess | str | None = None, scale: str | None = None):
    """Probability map, mask, FOV of one RGB photo: :func:`segment_photo` without the cut."""
    done = segment_photo(bundle, image, threshold, tta, bf16, valid, quality_check, precision,
                         postprocess, scale)
    return done.prob, done.mask, done.fov


def sample_image() -> np.ndarray:
    """The real fundus photograph scikit-image ships (1411x1411, offline)."""
    from skimage import data

    return data.retina()
