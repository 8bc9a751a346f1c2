"""Segment one of a user's photographs: probability map, mask and FOV.

The batch job around it (inputs, the results table, pictures, workers) is
:mod:`retinaseg.cohort`; the Python entry point is :func:`retinaseg.segment`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checkpoint import ModelBundle
from .cut import image_cut, rule_of
from .data.fov import estimate_fov
from .data.quality import check_fundus
from .inference import predict_probabilities
from .postprocess import Postprocess, postprocess_mask, resolve_postprocess

SAMPLE_NAME = "skimage-retina"


class Segmented(NamedTuple):
    prob: np.ndarray   # vessel probability, 0 outside the FOV
    mask: np.ndarray   # the vessel mask, post-processed as asked
    fov: np.ndarray    # the field of view (estimated, within ``valid``)
    cut: float         # the threshold the mask was cut at (per photo under ``otsu``)


def segment_photo(bundle: ModelBundle, image: np.ndarray, threshold: float | str | None = None,
                  tta: str | None = None, bf16: bool = False, valid: np.ndarray | None = None,
                  quality_check: bool = True, precision: str | None = None,
                  postprocess: Postprocess | str | None = None) -> Segmented:
    """Probability map, mask, FOV and cut of one RGB photo (FOV estimated, within
    ``valid``), on ``bundle.device``.

    With ``quality_check`` a photo in which no usable fundus is seen is refused
    (:func:`~retinaseg.data.quality.check_fundus`) rather than segmented. The
    photo is cut as ``threshold`` says (a number, ``"otsu"``, or None for the
    model's own rule, :mod:`retinaseg.cut`) and the mask post-processed as
    ``postprocess`` says (None: the model's default,
    :func:`~retinaseg.postprocess.resolve_postprocess`).
    """
    rule = rule_of(threshold, bundle.meta)
    setting = resolve_postprocess(bundle.meta, postprocess)
    fov = estimate_fov(image, valid)
    if quality_check:
        check_fundus(image, fov)
    prob = predict_probabilities(bundle, image, fov, tta, bf16, precision)
    cut = image_cut(rule, prob, fov, bundle.meta.threshold)
    return Segmented(prob, postprocess_mask(prob, cut, fov, setting), fov, cut)


def segment_image(bundle: ModelBundle, image: np.ndarray, threshold: float | str | None = None,
                  tta: str | None = None, bf16: bool = False, valid: np.ndarray | None = None,
                  quality_check: bool = True, precision: str | None = None,
                  postprocess: Postprocess | str | None = None):
    """Probability map, mask, FOV of one RGB photo: :func:`segment_photo` without the cut."""
    prob, mask, fov, _ = segment_photo(bundle, image, threshold, tta, bf16, valid,
                                       quality_check, precision, postprocess)
    return prob, mask, fov


def sample_image() -> np.ndarray:
    """The real fundus photograph scikit-image ships (1411x1411, offline)."""
    from skimage import data

    return data.retina()
