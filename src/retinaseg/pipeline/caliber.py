"""Vessel calibre as a scale: how wide a photo's wide vessels are, in pixels.

A photo's working scale is set by its FOV width (:mod:`retinaseg.data.geometry`):
every camera is assumed to frame the retina alike and to be annotated alike. They
are not. Relative to the FOV width, the wide vessels of HRF's manual masks are about
half as wide as DRIVE's and CHASE_DB1's (``benchmarks/results/caliber_scale.md``), so
a model trained on two of those datasets meets the third's vessels at a width it
never saw. The calibre of the wide vessels, measured on a first segmentation, gives
a second working scale at which they come out as wide as in training.

The wide vessels rather than the mean width, so that how many capillaries a grader
or a model draws should weigh less: a choice made before measuring, not tuned.

A model's reference is :attr:`~retinaseg.hub.checkpoint.ModelMeta.caliber_px` (and the
band its validation datasets span, ``caliber_band``), measured on its validation photos
by ``retinaseg calibrate``; ``retinaseg segment --scale caliber`` (or ``band``) applies
it (:func:`retinaseg.pipeline.segment.segment_photo`).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from ..data.fov import fov_diameter
from ..measure.shape import widths_px

CALIBER_QUANTILE = 95.0  # percentile of the centreline widths: the wide vessels
MAX_CHANGE = 2.0  # the second pass works at most this factor larger or smaller than the first
# A second pass only where it would work more than this factor larger or smaller than
# the first: chosen by benchmarks/results/caliber_scale.md (its "dead zone" table).
DEAD_ZONE = 1.1


def vessel_caliber(mask: np.ndarray, quantile: float = CALIBER_QUANTILE) -> float:
    """The ``quantile`` percentile of the vessel widths along the centrelines, in px
    (twice the distance to the background, :func:`retinaseg.measure.shape.widths_px`);
    NaN for a mask without vessels."""
    from skimage.morphology import skeletonize  # lazily: see retinaseg.cohort.worker.warm_imports

    vessels = np.asarray(mask, dtype=bool)
    widths = widths_px(distance_transform_edt(vessels), skeletonize(vessels))
    return float(np.percentile(widths, quantile)) if widths.size else float("nan")


def reference_caliber(calibers: dict[str, list[float]]) -> float:
    """The calibre a model's validation photos show at their working scale: each
    dataset's median, averaged so that each dataset counts once."""
    measured = [[v for v in values if np.isfinite(v)] for values in calibers.values()]
    if not measured or not all(measured):
        raise ValueError("a validation dataset has no photo with vessels to measure")
    return float(np.mean([np.median(values) for values in measured]))


def caliber_fov_width(working_width_px: float, caliber_px: float, reference_px: float,
                      max_change: float = MAX_CHANGE) -> float:
    """The FOV width for a second pass: a first pass at ``working_width_px`` showed the
    wide vessels ``caliber_px`` wide (in its own pixels); at the returned width they
    would be ``reference_px`` wide. It stays within ``max_change`` times the first
    width either way, so one odd measurement (a mask full of haemorrhages, say) moves
    the scale a bounded step. A mask without measurable vessels keeps the first width.
    """
    if not np.isfinite(caliber_px) or caliber_px <= 0:
        return float(working_width_px)
    wanted = working_width_px * reference_px / caliber_px
    return float(np.clip(wanted, working_width_px / max_change, working_width_px * max_change))


def working_caliber(mask: np.ndarray, fov: np.ndarray, working_width_px: float) -> float:
    """The calibre of a native-size ``mask`` in the pixels of the pass that made it,
    which worked at a FOV ``working_width_px`` wide."""
    return vessel_caliber(mask) * working_width_px / fov_diameter(fov)


def second_pass_width(working_width_px: float, caliber_px: float, reference_px: float,
                      dead_zone: float = DEAD_ZONE) -> float | None:
    """The FOV width of the second pass (:func:`caliber_fov_width`), or None where it
    would change the first one's by no more than ``dead_zone`` either way."""
    width = caliber_fov_width(working_width_px, caliber_px, reference_px)
    change = width / working_width_px
    return width if max(change, 1.0 / change) > dead_zone else None


def caliber_band(calibers: dict[str, list[float]]) -> list[float]:
    """The band a model's validation datasets span: their lowest and highest median
    calibre at the working scale."""
    medians = [float(np.median([v for v in values if np.isfinite(v)]))
               for values in calibers.values() if any(np.isfinite(values))]
    if not medians or len(medians) != len(calibers):
        raise ValueError("a validation dataset has no photo with vessels to measure")
    return [min(medians), max(medians)]


def band_pass_width(working_width_px: float, caliber_px: float, band: list[float],
                    dead_zone: float = DEAD_ZONE) -> float | None:
    """The ``band`` rule's second pass: a calibre outside the band is brought to its
    nearest edge (:func:`second_pass_width`); one inside it, or one that cannot be
    measured, keeps the first pass (None). Like the FOV range, it moves only photos
    unlike every camera the model was validated on."""
    if not np.isfinite(caliber_px) or caliber_px <= 0:
        return None
    low, high = band
    return second_pass_width(working_width_px, caliber_px, float(np.clip(caliber_px, low, high)),
                             dead_zone)


def validation_calibers(first_passes) -> dict[str, list[float]]:
    """``{dataset: [calibre at the working scale, ...]}`` from ``(dataset, mask, fov,
    working width)`` of a model's validation photos' first passes."""
    calibers: dict[str, list[float]] = {}
    for dataset, mask, fov, width in first_passes:
        calibers.setdefault(dataset, []).append(working_caliber(mask, fov, width))
    return calibers
