"""A photo's probability maps at its native resolution, whichever backend runs the
network.

What both backends share lives here: the FOV, the working geometry (the model's
scale, :mod:`retinaseg.data.geometry`) and the preprocessing, all on numpy. The
network, the TTA views, the tiles and the resize back to the photo are the
backend's: :mod:`retinaseg.pipeline.predict` on PyTorch tensors, or
:mod:`retinaseg.pipeline.predict_numpy` on numpy arrays for a model run by
onnxruntime, so that such a process never imports torch.
"""
from __future__ import annotations

import numpy as np

from ..data.fov import estimate_fov, fov_diameter
from ..data.geometry import scale_to, target_fov_width, to_working_geometry
from ..data.preprocess import preprocess
from ..errors import RetinasegError
from ..names import ONNXRUNTIME, VESSEL
from .settings import InferenceSettings, LoadedModel, backend_of, resolve_settings

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


def predict_maps(model: LoadedModel, image: np.ndarray, fov: np.ndarray | None = None,
                 settings: InferenceSettings | None = None,
                 fov_width: float | None = None) -> dict[str, np.ndarray]:
    """The probability map of every output the model's meta declares, by name, for an
    RGB photo at its native resolution.

    ``fov`` is estimated when not given; probabilities outside it are 0. The TTA
    and precision are ``settings``' (None: the model's own, as
    :func:`~retinaseg.pipeline.settings.resolve_settings` gives them). It runs on
    ``model.device``. ``fov_width``, when given, is the FOV width to segment at
    instead of the model's working scale.
    """
    if settings is None:
        settings = resolve_settings(model)
    if fov is None:
        fov = estimate_fov(image)
    if not fov.any():
        raise RetinasegError("the field of view is empty: nothing to segment")
    x = working_input(model, image, fov, fov_width)
    maps = _native_maps(model, x, fov.shape, settings)
    maps[:, ~fov] = 0.0
    return dict(zip(output_names(model), maps))


def _native_maps(model: LoadedModel, x: np.ndarray, shape: tuple[int, int],
                 settings: InferenceSettings) -> np.ndarray:
    """``(out_channels, H, W)`` float32 probabilities in [0, 1] at the photo's ``shape``."""
    if backend_of(model) == ONNXRUNTIME:
        from .predict_numpy import native_maps
    else:
        from .predict import native_maps  # torch: imported only for a PyTorch model
    return native_maps(model, x, shape, settings)


def predict_probabilities(model: LoadedModel, image: np.ndarray, fov: np.ndarray | None = None,
                          settings: InferenceSettings | None = None,
                          fov_width: float | None = None) -> np.ndarray:
    """Vessel probability map of an RGB photo at its native resolution
    (:func:`predict_maps`' ``vessel``)."""
    return predict_maps(model, image, fov, settings, fov_width)[VESSEL]


def output_names(model: LoadedModel) -> list[str]:
    """The names of the model's maps, in channel order (one ``vessel`` for older files)."""
    return list(getattr(model.meta, "outputs", None) or [VESSEL])
