"""Optional clean-up of a thresholded vessel mask, for topology.

A pixel classifier leaves what a person never draws: specks of a few pixels,
dashes of a thin capillary cut where its probability dips under the threshold,
and pinholes inside wide vessels. They barely move F1 but they multiply the
connected components (DRIVE's test masks hold about 57; a model's, hundreds)
and the end points a vessel-tree analysis counts. Three steps, each one linear
labelling pass over the image (no iteration, memory of one label array):

* **hysteresis** ``LOW``: pixels with ``LOW <= prob < threshold`` are kept
  where they are 8-connected to a pixel at or above the threshold (Canny's
  rule, the usual cure for fragmented thin vessels). A ``LOW`` at or above the
  threshold changes nothing.
* **fill_holes** ``M``: background components (4-connected, the complement of
  8-connected vessel) that touch neither the image border nor the outside of
  the FOV and are smaller than ``M`` become vessel.
* **min_component** ``N``: 8-connected vessel components smaller than ``N``
  pixels go.

**Size unit.** ``M`` and ``N`` are areas in pixels *at a FOV 540 px wide*
(DRIVE's), scaled to each photo by the square of its FOV width over 540
(:func:`scaled_area`), so one setting removes the same physical size on a
565 px DRIVE photo and a 3504 px HRF one. The cohort measures' speck rule
(:func:`retinaseg.measure.speck_size`) uses the same unit.

Which setting helps a model is measured, not assumed:
benchmarks/postprocess.py sweeps them on the model's validation images
(results in benchmarks/results/postprocess.md); a model's default lives in
its meta (``ModelMeta.postprocess``) or its shipped-weights entry.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from skimage.measure import label

from ..errors import RetinasegError
from ..measure.scale import fov_width_px

REFERENCE_FOV_PX = 540  # sizes are pixel areas at this FOV width (DRIVE's); see the docstring
NONE = "none"
_KEYS = ("min_component", "fill_holes", "hysteresis")


@dataclass(frozen=True)
class Postprocess:
    """One post-processing setting; all zero is none. Spelled as text by
    :meth:`describe` (``min_component=30,fill_holes=10,hysteresis=0.3`` or ``none``),
    read back by :func:`parse_postprocess`."""

    min_component: float = 0.0  # px at a 540 px FOV; smaller vessel objects go
    fill_holes: float = 0.0     # px at a 540 px FOV; smaller enclosed holes are filled
    hysteresis: float = 0.0     # the low probability threshold; 0: off

    def __post_init__(self):
        for name in ("min_component", "fill_holes"):
            value = getattr(self, name)
            if not _finite_number(value) or value < 0:
                raise RetinasegError(f"post-processing {name} must be a number of pixels "
                                     f">= 0, got {value!r}")
        if not _finite_number(self.hysteresis) or not 0 <= self.hysteresis < 1:
            raise RetinasegError(f"post-processing hysteresis must be a probability in [0, 1) "
                                 f"(0: off), got {self.hysteresis!r}")

    @property
    def is_none(self) -> bool:
        return not (self.min_component or self.fill_holes or self.hysteresis)

    def describe(self) -> str:
        """The setting as one short string, for tables and result files."""
        parts = [f"{key}={_number_text(value)}" for key, value in asdict(self).items() if value]
        return ",".join(parts) or NONE

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value}


def _number_text(value: float) -> str:
    """30 for 30.0; otherwise the shortest text that reads back as the same float, so
    a setting passed on as text (to cohort workers) is the very same setting."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


NO_POSTPROCESS = Postprocess()


def postprocess_from_dict(values, where: str = "postprocess") -> Postprocess:
    """A setting from a mapping such as a model meta's ``{"min_component": 30}``."""
    if not isinstance(values, dict):
        raise RetinasegError(f"{where} must be a mapping of min_component, fill_holes, "
                             f"hysteresis, got {values!r}")
    unknown = sorted(set(values) - set(_KEYS))
    if unknown:
        raise RetinasegError(f"{where} has unknown key(s) {', '.join(unknown)}; known: "
                             f"{', '.join(_KEYS)}")
    return Postprocess(**values)


def parse_postprocess(text: str) -> Postprocess:
    """``"min_component=30,hysteresis=0.3"`` (what :meth:`Postprocess.describe` writes)
    or ``"none"`` -> a :class:`Postprocess`."""
    text = text.strip()
    if text in (NONE, ""):
        return NO_POSTPROCESS
    values = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise RetinasegError(f"post-processing {text!r}: expected key=number pairs "
                                 f"separated by commas ({', '.join(_KEYS)}), or none")
    return postprocess_from_dict(values, f"post-processing {text!r}")


def as_postprocess(value) -> Postprocess | None:
    """What the API accepts: None (the model's default), False or ``"none"``, a
    :class:`Postprocess`, a mapping or a :meth:`~Postprocess.describe` string."""
    if value is None or isinstance(value, Postprocess):
        return value
    if value is False:
        return NO_POSTPROCESS
    if isinstance(value, str):
        return parse_postprocess(value)
    if isinstance(value, dict):
        return postprocess_from_dict(value)
    raise RetinasegError(f"postprocess must be None (the model's default), False, 'none', a "
                         f"mapping or a string such as 'min_component=30', not "
                         f"{type(value).__name__}")


def model_postprocess(meta) -> Postprocess:
    """The default a model's meta carries (none for models without one)."""
    values = getattr(meta, "postprocess", None) or {}
    return postprocess_from_dict(values, "the model's postprocess")


def resolve_postprocess(meta, requested) -> Postprocess:
    """The setting to apply: ``requested`` (see :func:`as_postprocess`), else the model's."""
    chosen = as_postprocess(requested)
    return model_postprocess(meta) if chosen is None else chosen


# --- the three steps ----------------------------------------------------------------------

def scaled_area(px_at_reference: float, fov: np.ndarray) -> int:
    """An area given at a 540 px wide FOV, in pixels of this ``fov``."""
    return int(round(px_at_reference * (fov_width_px(fov) / REFERENCE_FOV_PX) ** 2))


def remove_small_components(mask: np.ndarray, min_px: int) -> np.ndarray:
    """``mask`` without its 8-connected components of fewer than ``min_px`` pixels."""
    mask = np.asarray(mask, dtype=bool)
    if min_px <= 1 or not mask.any():
        return mask.copy()
    labels = label(mask, connectivity=2)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


def fill_small_holes(mask: np.ndarray, fov: np.ndarray, max_px: int) -> np.ndarray:
    """``mask`` with enclosed background components under ``max_px`` pixels filled.

    A hole is a 4-connected background component that touches neither the image
    border nor a pixel outside ``fov``: the gap between two vessels that runs out
    of the FOV is not a hole, however small its part inside.
    """
    mask, fov = np.asarray(mask, dtype=bool), np.asarray(fov, dtype=bool)
    if max_px <= 1:
        return mask.copy()
    labels = label(~mask, connectivity=1)
    open_to_outside = np.zeros(labels.max() + 1, dtype=bool)
    open_to_outside[labels[~fov]] = True
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        open_to_outside[edge] = True
    sizes = np.bincount(labels.ravel(), minlength=open_to_outside.size)
    fill = (sizes < max_px) & ~open_to_outside
    fill[0] = False  # label 0 is the vessel itself
    return mask | fill[labels]


def hysteresis_mask(prob: np.ndarray, low: float, threshold: float) -> np.ndarray:
    """``prob >= threshold``, plus the pixels ``>= low`` 8-connected to one of those."""
    high = prob >= threshold
    if low >= threshold:
        return high
    labels = label(prob >= low, connectivity=2)
    seeded = np.zeros(labels.max() + 1, dtype=bool)
    seeded[labels[high]] = True
    seeded[0] = False
    return seeded[labels]


def postprocess_mask(prob: np.ndarray, threshold: float, fov: np.ndarray,
                     setting: Postprocess = NO_POSTPROCESS) -> np.ndarray:
    """The vessel mask of a probability map under ``setting``: threshold (or
    hysteresis), then holes filled, then small components removed; always inside
    the FOV. With no setting this is ``(prob >= threshold) & fov``."""
    prob, fov = np.asarray(prob), np.asarray(fov, dtype=bool)
    if setting.hysteresis:
        mask = hysteresis_mask(prob, setting.hysteresis, threshold)
    else:
        mask = prob >= threshold
    mask &= fov
    if setting.fill_holes:
        mask = fill_small_holes(mask, fov, scaled_area(setting.fill_holes, fov))
    if setting.min_component:
        mask = remove_small_components(mask, scaled_area(setting.min_component, fov))
    return mask
