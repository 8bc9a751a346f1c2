"""Segment one of a user's photographs: probability map, mask and FOV.

The batch job around it (inputs, the results table, pictures, workers) is
:mod:`retinaseg.cohort`; the Python entry point is :func:`retinaseg.segment`.
"""
from __future__ import annotations

import numpy as np

from .checkpoint import ModelBundle
from .data.fov import estimate_fov
from .data.quality import check_fundus
from .inference import predict_probabilities
from .postprocess import Postprocess, postprocess_mask, resolve_postprocess

SAMPLE_NAME = "skimage-retina"


def segment_image(bundle: ModelBundle, image: np.ndarray, threshold: float | None = None,
                  tta: str | None = None, bf16: bool = False, valid: np.ndarray | None = None,
                  quality_check: bool = True, precision: str | None = None,
                  postprocess: Postprocess | str | None = None):
    """Probability map, mask, FOV of one RGB photo (FOV estimated, within ``valid``),
    on ``bundle.device``.

    With ``quality_check`` a photo in which no usable fundus is seen is refused
    (:func:`~retinaseg.data.quality.check_fundus`) rather than segmented. The
    mask is post-processed as ``postprocess`` says (None: the model's default,
    :func:`~retinaseg.postprocess.resolve_postprocess`).
    """
    setting = resolve_postprocess(bundle.meta, postprocess)
    fov = estimate_fov(image, valid)
    if quality_check:
        check_fundus(image, fov)
    prob = predict_probabilities(bundle, image, fov, tta, bf16, precision)
    cut = bundle.meta.threshold if threshold is None else threshold
    return prob, postprocess_mask(prob, cut, fov, setting), fov


def sample_image() -> np.ndarray:
    """The real fundus photograph scikit-image ships (1411x1411, offline)."""
    from skimage import data

    return data.retina()
