"""Segment one of a user's photographs: probability map, mask and FOV.

The batch job around it (inputs, the results table, pictures, workers) is
:mod:`retinaseg.cohort`; the Python entry point is :func:`retinaseg.segment`.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from ..data.fov import estimate_fov
from ..data.geometry import largest_fov_width
from ..names import VESSEL
from ..quality.gate import QualitySignals, check_fundus
from .caliber import band_pass_width, second_pass_width, working_caliber
from .av_vote import decide_av
from .cut import image_cut
from .postprocess import postprocess_mask
from .maps import predict_maps, working_fov_width
from .settings import DEFAULT_SCALE, SCALES, InferenceSettings, LoadedModel  # noqa: F401

SAMPLE_NAME = "skimage-retina"
ARTERY, VEIN = "artery", "vein"
NO_OTHERS: Mapping = MappingProxyType({})  # a vessel-only model's other outputs


class Pass(NamedTuple):
    prob: np.ndarray   # vessel probability, 0 outside the FOV
    mask: np.ndarray   # the vessel mask, post-processed as asked
    cut: float         # the threshold the mask was cut at (per photo under ``otsu``)
    fov_width: float   # the FOV width (px) it worked at; 0 for a square-resize model
    others: Mapping = NO_OTHERS  # the other outputs' probabilities by name (artery, vein, ...)


class Segmented(NamedTuple):
    prob: np.ndarray
    mask: np.ndarray
    fov: np.ndarray    # the field of view (estimated, within ``valid``)
    cut: float
    fov_width: float = 0.0
    others: Mapping = NO_OTHERS  # as in Pass
    # The fundus gate's signals (None without ``settings.quality_check``), kept so that
    # the quality verdict does not measure them a second time.
    quality: QualitySignals | None = None

    @property
    def masks(self) -> dict[str, np.ndarray]:
        """Every output's mask by name: ``vessel`` and the others' (:func:`output_masks`)."""
        return {VESSEL: self.mask, **output_masks(self.others, self.mask, self.fov)}


def segment_photo(model: LoadedModel, image: np.ndarray, settings: InferenceSettings,
                  valid: np.ndarray | None = None) -> Segmented:
    """Probability map, mask, FOV and cut of one RGB photo (FOV estimated, within
    ``valid``), on ``model.device``, as ``settings`` say.

    Under ``settings.quality_check`` a photo in which no usable fundus is seen is
    refused (:func:`~retinaseg.quality.gate.check_fundus`) rather than segmented.
    """
    fov = estimate_fov(image, valid)
    quality = check_fundus(image, fov) if settings.quality_check else None
    kept = segment_at_scale(model, image, fov, settings)
    return Segmented(kept.prob, kept.mask, fov, kept.cut, kept.fov_width, kept.others, quality)


def segment_at_scale(model: LoadedModel, image: np.ndarray, fov: np.ndarray,
                     settings: InferenceSettings) -> Pass:
    """One photo with a known FOV segmented as :func:`segment_photo` says: the pass
    at the model's working scale, or, where the first one's vessel calibre asks for a
    second (:func:`retinaseg.pipeline.caliber.second_pass_width`,
    :func:`~retinaseg.pipeline.caliber.band_pass_width`), under ``scale="band"`` that second
    pass and under ``scale="caliber"`` the mean of both passes' probabilities, cut and
    cleaned as one map. ``fov_width`` is the second pass's where there was one. An
    artery/vein model's decision (``settings.av_decision``) is taken once, on the kept pass."""
    kept = _kept_pass(model, image, fov, settings)
    others = kept.others
    if ARTERY in others and VEIN in others:
        artery, vein = decide_av(settings.av_decision, others[ARTERY], others[VEIN],
                                 kept.mask, fov)
        kept = kept._replace(others={**others, ARTERY: artery, VEIN: vein})
    return kept


def _kept_pass(model: LoadedModel, image: np.ndarray, fov: np.ndarray,
               settings: InferenceSettings) -> Pass:
    """:func:`segment_at_scale`'s pass, each output's probabilities as the network gave them."""
    meta = model.meta

    def cut_and_clean(maps: dict[str, np.ndarray], width: float) -> Pass:
        prob = maps[VESSEL]
        cut = image_cut(settings.rule, prob, fov, meta.threshold)
        mask = postprocess_mask(prob, cut, fov, settings.postprocess)
        others = {name: value for name, value in maps.items() if name != VESSEL}
        return Pass(prob, mask, cut, width, others)

    def segment_at(width: float | None) -> Pass:
        maps = predict_maps(model, image, fov, settings, fov_width=width)
        shown_width = 0.0 if meta.square_size else (width or working_fov_width(model, fov))
        return cut_and_clean(maps, shown_width)

    first = segment_at(None)
    if settings.scale == "fov":
        return first
    caliber = working_caliber(first.mask, fov, first.fov_width)
    if settings.scale == "caliber":
        width = second_pass_width(first.fov_width, caliber, meta.caliber_px)
    else:
        width = band_pass_width(first.fov_width, caliber, meta.caliber_band)
    if width is None:
        return first
    second = segment_at(min(width, largest_fov_width(fov)))
    if settings.scale == "band":
        return second
    # caliber: both passes' probabilities averaged, a two-scale ensemble. On the
    # leave-one-dataset-out runs it led the second pass alone on the unseen cameras and
    # on the known ones (benchmarks/results/caliber_scale.md, caliber_scale_general.md).
    return cut_and_clean(_mean_maps(first, second), second.fov_width)


def _mean_maps(first: Pass, second: Pass) -> dict[str, np.ndarray]:
    """Every output's probabilities averaged over two passes."""
    return {VESSEL: (first.prob + second.prob) / 2,
            **{name: (first.others[name] + second.others[name]) / 2 for name in first.others}}


def output_masks(others: dict[str, np.ndarray], vessel: np.ndarray,
                 fov: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of the outputs beside ``vessel``. Artery and vein, where a model gives both,
    split the vessel mask: each vessel pixel goes to the likelier of the two (ties to the
    artery), so the two masks never overlap and together are the vessel mask; a
    crossing is drawn as the vessel on top. Any other output (a disc map) is cut at
    0.5 inside the FOV."""
    masks = {}
    if ARTERY in others and VEIN in others:
        arterial = others[ARTERY] >= others[VEIN]
        masks[ARTERY], masks[VEIN] = vessel & arterial, vessel & ~arterial
    for name, prob in others.items():
        masks.setdefault(name, (prob >= 0.5) & fov)
    return masks


def segment_image(model: LoadedModel, image: np.ndarray, settings: InferenceSettings,
                  valid: np.ndarray | None = None):
    """Probability map, mask, FOV of one RGB photo: :func:`segment_photo` without the cut."""
    done = segment_photo(model, image, settings, valid)
    return done.prob, done.mask, done.fov


def sample_image() -> np.ndarray:
    """The real fundus photograph scikit-image ships (1411x1411, offline)."""
    from skimage import data

    return data.retina()
