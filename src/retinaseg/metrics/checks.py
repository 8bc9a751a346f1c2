"""The boundary checks every metric applies to one image, so all of them (and
:mod:`~retinaseg.evaluation.topology`) reject the same inputs with the same messages."""
from __future__ import annotations

import math

import numpy as np

from ..errors import RetinasegError


def where(image_id) -> str:
    return "" if image_id is None else f"image {image_id!r}: "


def check_threshold(threshold) -> float:
    """Return ``threshold`` as a float, or raise: 0 would call every pixel vessel."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value <= 1.0:  # also rejects NaN
        raise RetinasegError(f"threshold must be in (0, 1] (a pixel is vessel when "
                             f"prob >= threshold); got {threshold!r}")
    return value


def as_mask(array, name: str, image_id) -> np.ndarray:
    """Accept bool or 0/1 arrays; anything else (0/255, interpolated masks) is an error."""
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf" or not ((array == 0) | (array == 1)).all():
        raise RetinasegError(f"{where(image_id)}{name} must be binary (bool or 0/1), got "
                             f"dtype {array.dtype}; threshold it first, e.g. mask > 127")
    return array.astype(bool)


def as_prob(prob, image_id) -> np.ndarray:
    """Return finite probabilities in [0, 1] as float32/float64 (binning stays exact)."""
    prob = np.asarray(prob)
    if prob.dtype.kind not in "biuf":
        raise RetinasegError(f"{where(image_id)}probabilities must be real numbers, "
                             f"got dtype {prob.dtype}")
    if prob.dtype not in (np.float32, np.float64):
        prob = prob.astype(np.float64)  # float16 * 2**16 would overflow
    bad = prob.size - np.count_nonzero(np.isfinite(prob))
    if bad:
        raise RetinasegError(f"{where(image_id)}probabilities must be finite; "
                             f"found {bad} NaN or infinite values")
    if prob.size and (prob.min() < 0 or prob.max() > 1):
        raise RetinasegError(f"{where(image_id)}probabilities must lie in [0, 1], found "
                             f"min {prob.min():g} and max {prob.max():g}; apply a sigmoid "
                             "to logits first")
    return prob


def check_shapes(first_name: str, first, truth, fov, image_id) -> None:
    shapes = {first_name: np.shape(first), "truth": np.shape(truth), "fov": np.shape(fov)}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise RetinasegError(f"{where(image_id)}shapes must match pixel for pixel, got {listed}")


def validated_inputs(first_name: str, first, truth, fov, image_id):
    """Check one image at the boundary; return (first, truth, fov) as clean arrays."""
    check_shapes(first_name, first, truth, fov, image_id)
    truth = as_mask(truth, "truth", image_id)
    fov = as_mask(fov, "fov", image_id)
    if not fov.any():
        raise RetinasegError(f"{where(image_id)}field of view is empty (the FOV mask has "
                             "no True pixel), so there is nothing to evaluate")
    if first_name == "prob":
        return as_prob(first, image_id), truth, fov
    return as_mask(first, first_name, image_id), truth, fov
