"""The steps both backends share before the network: the working geometry a photo is
segmented at (:mod:`retinaseg.data.geometry`), its preprocessing, and the tiling bounds,
all on numpy. :mod:`retinaseg.pipeline.maps` runs them and hands the input to a backend.
"""
from __future__ import annotations

import numpy as np

from ..data.fov import fov_diameter
from ..data.geometry import scale_to, target_fov_width, to_working_geometry
from ..data.preprocess import preprocess
from ..names import VESSEL
from .settings import LoadedModel

# Working images larger than this many pixels are segmented in tiles (both backends).
MAX_WHOLE_IMAGE_PIXELS = 1200 * 1200
TILE_SIZE, TILE_OVERLAP = 512, 64


def working_fov_width(model: LoadedModel, fov: np.ndarray) -> float:
    """The FOV width (px) a photo is segmented at by default: the model's scale, or
    the photo's own width for a model without one."""
    target = target_fov_width(fov, model.meta.fov_diameter, model.meta.fov_range)
    return target or fov_diameter(fov)


def working_scale(model: LoadedModel, fov: np.ndarray, fov_width: float | None = None) -> float:
    """Factor taking this photo to the model's training scale (1.0 = as is), or
    to a FOV ``fov_width`` px wide when given."""
    return scale_to(fov_width or working_fov_width(model, fov), fov)


def working_copy(model: LoadedModel, image: np.ndarray, fov: np.ndarray,
                 fov_width: float | None = None):
    """The photo and its FOV brought to the geometry the model was trained at, or
    to a FOV ``fov_width`` px wide (:mod:`retinaseg.pipeline.caliber`'s second pass)."""
    meta = model.meta
    if fov_width:
        return to_working_geometry(image, fov, fov_width)
    return to_working_geometry(image, fov, meta.fov_diameter, meta.square_size, meta.fov_range)


def working_input(model: LoadedModel, image: np.ndarray, fov: np.ndarray,
                  fov_width: float | None = None) -> np.ndarray:
    """The network's ``(C, h, w)`` float32 input: the photo at the working geometry,
    preprocessed as the model was trained."""
    work_image, work_fov = working_copy(model, image, fov, fov_width)
    return preprocess(work_image, work_fov, model.meta.preprocess)


def output_names(model: LoadedModel) -> list[str]:
    """The names of the model's maps, in channel order (one ``vessel`` for older files)."""
    return list(getattr(model.meta, "outputs", None) or [VESSEL])
