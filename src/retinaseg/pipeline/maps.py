"""A photo's probability maps at its native resolution, whichever backend runs the
network.

The steps both backends share (the FOV, the working geometry and the preprocessing,
on numpy) are :mod:`retinaseg.pipeline.working`'s. The network, the TTA views, the
tiles and the resize back to the photo are the backend's:
:mod:`retinaseg.pipeline.predict` on PyTorch tensors, or
:mod:`retinaseg.pipeline.predict_numpy` on numpy arrays for a model run by
onnxruntime, so that such a process never imports torch.
"""
from __future__ import annotations

import numpy as np

from ..data.fov import estimate_fov
from ..errors import RetinasegError
from ..names import ONNXRUNTIME, VESSEL
from .settings import InferenceSettings, LoadedModel, backend_of, resolve_settings
from .working import output_names, working_fov_width, working_input  # noqa: F401


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
