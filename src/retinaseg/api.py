"""The top-level Python API: ``retinaseg.load_model``, ``segment`` and ``evaluate``.

Thin wrappers over :mod:`retinaseg.hub.load`, :mod:`retinaseg.pipeline.segment` and
:mod:`retinaseg.evaluation.evaluate` that take names, paths or arrays and a ``device``,
so a script needs one import::

    import retinaseg

    model = retinaseg.load_model("unet-drive", device="auto")
    result = retinaseg.segment("photo.jpg", model=model)
    result.mask, result.probabilities, result.threshold

``import retinaseg`` does not import torch; this module is loaded (and torch
with it) the first time one of these names is used.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

import numpy as np

from .data import Dataset, load_dataset, read_image
from .errors import RetinasegError
from .evaluation.evaluate import EvalOptions, evaluate_model
from .evaluation.results import EvaluationResult
from .hub.checkpoint import ModelBundle
from .hub.load import load_model  # the one loader, public here as retinaseg.load_model
from .hub.onnx_model import OnnxModel
from .hub.meta import ModelMeta
from .hub.pretrained import DEFAULT_MODEL
from .measure import VesselMeasures, measure_vessels, speck_size
from .measure.scale import FLAG, Scale, photo_scale
from .pipeline.postprocess import Postprocess
from .pipeline.segment import output_masks, segment_at_scale
from .pipeline.settings import InferenceSettings, backend_of, precision_used, resolve_settings

if TYPE_CHECKING:
    import torch
    from PIL import Image


ImageInput = Union[str, Path, np.ndarray, "Image.Image"]
ModelInput = Union[str, Path, ModelBundle, OnnxModel]


@dataclass(frozen=True)
class Segmentation:
    """One photo's segmentation, at the photo's own resolution.

    ``probabilities``: float32 ``(H, W)`` vessel probabilities in [0, 1], 0 outside
    the FOV; ``mask``: bool ``(H, W)``, ``probabilities >= threshold`` after the
    mask post-processing ``postprocess`` names (``none``, or e.g.
    ``min_component=30``; :mod:`retinaseg.pipeline.postprocess`); ``fov``:
    bool ``(H, W)`` field of view (estimated unless given); ``model``: the model's
    :class:`~retinaseg.hub.checkpoint.ModelMeta` (architecture, preprocessing, scale,
    calibrated threshold and TTA); ``model_source``: the file it was loaded from;
    ``tta``, ``device``, ``precision`` (``fp32``, ``bf16`` or ``fp16``), ``scale``
    and ``backend`` (``torch`` or ``onnxruntime``) say how it was run, ``fov_width`` the FOV width (px) it was segmented at (0 for
    a model that resizes photos to a square). A model with more outputs than
    ``vessel`` (its meta's ``outputs``) gives theirs in ``other_probabilities`` and
    ``other_masks``; ``artery`` and ``vein`` split ``mask`` between them.
    ``pixel_scale``: how long a pixel is
    on the retina and where that came from (:func:`retinaseg.measure.scale.photo_scale`:
    ``flag`` for the ``mm_per_pixel``/``fov_degrees`` keywords, else ``assumed``);
    :meth:`measures` measures the mask with it.
    """

    probabilities: np.ndarray
    mask: np.ndarray
    fov: np.ndarray
    threshold: float
    model: ModelMeta
    model_source: str
    tta: str
    device: str
    precision: str
    postprocess: str = "none"
    scale: str = "fov"
    fov_width: float = 0.0
    # The model's other outputs (artery, vein, ...): probabilities and masks by name.
    other_probabilities: dict = field(default_factory=dict)
    other_masks: dict = field(default_factory=dict)
    pixel_scale: Scale | None = None
    backend: str = "torch"

    @property
    def outputs(self) -> list[str]:
        """The maps the model gives, ``vessel`` first."""
        return ["vessel", *self.other_probabilities]

    @property
    def artery(self) -> np.ndarray | None:
        """The artery mask (a part of :attr:`mask`), for a model with artery/vein outputs."""
        return self.other_masks.get("artery")

    @property
    def vein(self) -> np.ndarray | None:
        """The vein mask (the rest of :attr:`mask`), for a model with artery/vein outputs."""
        return self.other_masks.get("vein")

    def measures(self) -> VesselMeasures:
        """The vessel measures of :attr:`mask` in :attr:`fov`, in :attr:`pixel_scale`'s
        units, specks dropped by the same rule as ``retinaseg segment``'s results table."""
        return measure_vessels(self.mask, self.fov, min_object_px=speck_size(self.fov),
                               scale=self.pixel_scale)


PostprocessInput = Union[None, bool, str, dict, Postprocess]


def segment(image: ImageInput, model: ModelInput = DEFAULT_MODEL,
            device: torch.device | str | None = None, tta: str | None = None,
            threshold: float | str | None = None, precision: str | None = None,
            fov: np.ndarray | None = None,
            postprocess: PostprocessInput = None, scale: str | None = None,
            settings: InferenceSettings | None = None,
            mm_per_pixel: float | None = None, fov_degrees: float | None = None,
            strict_units: bool = False, backend: str = "auto") -> Segmentation:
    """Segment the vessels of one colour fundus photograph.

    Args:
        image: a file path, an ``(H, W, 3)`` uint8 RGB array, or a PIL image.
        model: shipped weights name, checkpoint path, or a model from
            :func:`load_model` (load once when segmenting many photos).
        device: where to run; None means the loaded model's device, or ``auto``
            for a name or path. A loaded model on another device is moved there.
        tta: test-time augmentation (``none``, ``flip``, ``flip+rot90``,
            ``rot<K>``); None: the one the model's threshold was chosen under.
        threshold: a number in (0, 1]; ``"otsu"``: the photo cut at the Otsu
            threshold of its own FOV probabilities (:mod:`retinaseg.pipeline.cut`), which
            follows a camera whose probabilities run lower or higher; None: the
            model's own rule (its validated threshold, or ``otsu`` where its
            meta says so). ``result.threshold`` is the cut the mask was made at.
        precision: autocast ``auto`` (bf16/fp16 on CUDA, fp32 elsewhere),
            ``fp32``, ``bf16`` or ``fp16``.
        fov: a boolean ``(H, W)`` field of view; estimated when None.
        postprocess: mask post-processing (:mod:`retinaseg.pipeline.postprocess`): None
            for the model's default (none unless measured to help it), False or
            ``"none"``, or a setting: ``"min_component=30,fill_holes=10"``,
            ``{"hysteresis": 0.3}`` or a :class:`~retinaseg.pipeline.postprocess.Postprocess`.
        scale: how the working scale is chosen: ``"fov"`` (None; by the photo's
            FOV width), ``"caliber"`` (then again where the first segmentation's
            wide vessels come out wider or narrower than on the model's validation
            photos, and the mean of both passes' probabilities cut: for a camera
            the model never saw) or ``"band"`` (again only where they lie outside
            the range of its validation datasets, the second pass kept;
            :mod:`retinaseg.pipeline.caliber`). ``result.fov_width`` is the FOV width the
            last pass worked at.
        settings: all of the above at once, as
            :func:`~retinaseg.pipeline.settings.resolve_settings` made them for this
            model (resolve once, segment many photos); then leave the others None.
        backend: what runs a model given by name or path: ``auto``, ``torch`` or
            ``onnxruntime`` (:func:`load_model`); a loaded model keeps its own.
    """
    bundle = _bundle_on(model, device, backend, precision)
    settings = _settings_for(bundle, settings, threshold=threshold, tta=tta,
                             precision=precision, postprocess=postprocess, scale=scale)
    rgb = as_rgb(image)
    if fov is not None:
        fov = _checked_fov(fov, rgb.shape[:2])
    else:
        from .data.fov import estimate_fov

        fov = estimate_fov(rgb)
    # Checked before the model runs: a bad figure fails at once.
    pixel_scale = photo_scale(fov, [(FLAG, mm_per_pixel, fov_degrees)], strict=strict_units)
    done = segment_at_scale(bundle, rgb, fov, settings)
    return Segmentation(done.prob, done.mask, fov, done.cut, bundle.meta,
                        bundle.source, settings.tta, str(bundle.device),
                        precision_used(bundle, settings.precision),
                        settings.postprocess.describe(), settings.scale, done.fov_width,
                        dict(done.others), output_masks(done.others, done.mask, fov),
                        pixel_scale, backend_of(bundle))


def evaluate(model: ModelInput = DEFAULT_MODEL, dataset: str | Path | Dataset = "drive",
             split: str = "test", data_root: str | Path | None = None,
             device: torch.device | str | None = None, tta: str | None = None,
             threshold: float | str | None = None, precision: str | None = None,
             topology: bool = False, bootstrap: int = 0,
             progress: Callable | None = None,
             postprocess: PostprocessInput = None, scale: str | None = None,
             settings: InferenceSettings | None = None,
             backend: str = "auto") -> EvaluationResult:
    """Score a model on a dataset split at native resolution, inside the FOV.

    ``dataset`` is a registered name (``retinaseg.list_datasets()``), a folder
    with ``images/ masks/ [fov/]``, or a :class:`~retinaseg.data.Dataset`;
    ``data_root`` is the folder holding DRIVE/, HRF/ ... (default
    ``$RETINASEG_DATA``). Returns the typed :class:`~retinaseg.evaluation.results.EvaluationResult`:
    pooled and per-image metrics, the human observers, provenance (``.to_dict()``
    is what ``metrics.json`` holds). ``postprocess``, ``scale`` and ``settings`` are as
    in :func:`segment`: the threshold scores are those of the mask ``segment`` would return;
    ``backend`` as in :func:`segment`.
    """
    data = dataset if isinstance(dataset, Dataset) else load_dataset(str(dataset), split, data_root)
    bundle = _bundle_on(model, device, backend, precision)
    settings = _settings_for(bundle, settings, threshold=threshold, tta=tta,
                             precision=precision, postprocess=postprocess, scale=scale)
    options = EvalOptions(settings, topology=topology, bootstrap=bootstrap)
    return evaluate_model(bundle, data, options, progress)


def _settings_for(bundle: ModelBundle, settings: InferenceSettings | None, **choices):
    """``settings`` as given, or resolved from the choices; never both."""
    if settings is None:
        return resolve_settings(bundle, **choices)
    given = sorted(name for name, value in choices.items() if value is not None)
    if given:
        raise RetinasegError(f"give either settings or {', '.join(given)}, not both")
    if not isinstance(settings, InferenceSettings):
        raise RetinasegError(f"settings must be an InferenceSettings, not "
                             f"{type(settings).__name__}")
    return settings


def _bundle_on(model: ModelInput, device, backend: str | None = "auto",
               precision: str | None = None) -> ModelBundle | OnnxModel:
    """The model loaded (``auto`` device unless told), or a loaded one moved to ``device``."""
    if isinstance(model, OnnxModel):
        return model if device is None else model.to(device)
    if isinstance(model, ModelBundle):
        from .devices import resolve_device

        return model if device is None else model.to(resolve_device(device))
    if not isinstance(model, (str, Path)):
        raise RetinasegError(f"model must be a shipped weights name, a checkpoint path or a "
                             f"model from retinaseg.load_model, not {type(model).__name__}")
    if backend == "auto" and precision in ("bf16", "fp16"):
        backend = "torch"  # the ONNX graph is fp32
    return load_model(model, "auto" if device is None else device, backend)


def as_rgb(image: ImageInput) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 array from a path, an array or a PIL image."""
    if isinstance(image, (str, Path)):
        return read_image(image)
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        return np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise RetinasegError(f"image must be a file path, a numpy RGB array or a PIL image, "
                             f"not {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise RetinasegError(f"image array must be (H, W, 3) uint8 RGB, got {image.shape} "
                             f"{image.dtype}")
    if min(image.shape[:2]) < 16:
        raise RetinasegError(f"image is too small to segment ({image.shape[1]}x{image.shape[0]})")
    return np.ascontiguousarray(image)


def _checked_fov(fov: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    fov = np.asarray(fov)
    if fov.shape != shape:
        raise RetinasegError(f"fov is {fov.shape[1]}x{fov.shape[0]} but the image is "
                             f"{shape[1]}x{shape[0]}")
    return fov.astype(bool)
