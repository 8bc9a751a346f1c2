"""Validation scores, and the threshold a finished model ships with.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import metrics
from ..config.schema import TrainConfig
from ..data.av import ARTERY, BACKGROUND, VEIN
from ..devices import prepare_device, resolve_device, training_dtype
from ..errors import RetinasegError, file_error
from ..evaluation.artery_vein import av_counts, av_rates
from ..hub.checkpoint import SUFFIX, load_checkpoint, save_model
from ..hub.meta import ModelMeta
from ..pipeline.predict import predict_maps_tensor
from .checks import check_config
from .data import (
    TrainingData,
    load_training_data,
    named_training_samples,
    trained_fov_range,
)
from .finetune import set_training_mode
from .seeding import seed_everything


def validate(module, data: TrainingData, cfg: TrainConfig, tta: str = "none",
             device=None) -> dict:
    """Pooled validation AUC, and the best F1 with the threshold that reaches it.

    On ``device`` (the module's; None = the CPU), in bf16 where training autocasts
    to bf16 and in fp32 otherwise (fp16 training validates in fp32).
    """
    if not data.val_inputs:
        return {}
    device = resolve_device(device or "cpu")
    bf16 = training_dtype(device, cfg.precision, cfg.bf16) is torch.bfloat16
    precision = "bf16" if bf16 else "auto"
    module.eval()
    histogram, decided = metrics.ScoreHistogram(), AVDecisions()
    for index, (x, vessel, fov) in enumerate(zip(data.val_inputs, data.val_vessels,
                                                 data.val_fovs)):
        maps = predict_maps_tensor(module, x, tta, device=device, precision=precision).numpy()
        histogram.update(maps[0], vessel, fov)
        if data.val_av:
            decided.update(maps, data.val_av[index], fov)
    set_training_mode(module, cfg)
    threshold, f1 = histogram.best_threshold("f1", cfg.threshold_min_specificity)
    scores = {"auc_roc": histogram.auc_roc(), "f1": f1, "threshold": threshold}
    if data.val_av:
        scores["av_accuracy"] = decided.accuracy()
    return scores


class AVDecisions:
    """Validation A/V accuracy, scored as ``retinaseg evaluate`` scores it
    (:func:`~retinaseg.evaluation.artery_vein.av_counts`) on the validation planes'
    pure artery and pure vein pixels where their class is known."""

    def __init__(self):
        self.counts = None

    def update(self, maps, planes, fov) -> None:
        _, artery, vein, known = planes
        classes = np.full(artery.shape, BACKGROUND, dtype=np.uint8)
        classes[artery & ~vein], classes[vein & ~artery] = ARTERY, VEIN
        counts = av_counts(maps[1], maps[2], classes, fov & known)
        self.counts = counts if self.counts is None else {k: self.counts[k] + counts[k]
                                                          for k in counts}

    def accuracy(self) -> float:
        return av_rates(self.counts)["accuracy"] if self.counts else float("nan")


def threshold_source(cfg: TrainConfig) -> str:
    if cfg.threshold_min_specificity > 0:
        return f"validation-f1 at specificity >= {cfg.threshold_min_specificity:g}"
    return "validation-f1"


def choose_threshold(module, data: TrainingData, meta: ModelMeta, cfg: TrainConfig,
                     device=None) -> None:
    """Set ``meta``'s threshold as the recipe says: fixed, or chosen on the
    validation images under the recipe's test-time augmentation, and its rule
    (fixed at that threshold, or each photo at its own Otsu cut)."""
    meta.tta = cfg.tta
    meta.threshold_rule = cfg.threshold_rule
    if cfg.fixed_threshold:
        meta.threshold, meta.threshold_source = cfg.fixed_threshold, "fixed"
    elif data.val_inputs:
        scores = validate(module, data, cfg, cfg.tta, device)
        meta.threshold, meta.threshold_source = scores["threshold"], threshold_source(cfg)


def calibrate(model_path, cfg: TrainConfig, out_path, postprocess=None) -> ModelMeta:
    """Re-choose a trained model's threshold as ``cfg`` now says (a new ``tta`` or
    ``threshold_min_specificity``) on the same validation images, without training
    again, its working FOV range from the training images' widths
    (:func:`~retinaseg.train.data.trained_fov_range`) and, for a model that works at
    a FOV width, its reference vessel calibre (:func:`validation_caliber`); the
    weights are unchanged. ``postprocess`` (anything
    :func:`~retinaseg.pipeline.postprocess.as_postprocess` takes; None keeps the model's) becomes
    the model's default mask post-processing before the calibre is measured, which
    depends on it. Writes ``out_path``; returns its meta."""
    from ..pipeline.postprocess import as_postprocess

    check_config(cfg)
    setting = as_postprocess(postprocess)  # a bad setting is refused before any work
    if Path(out_path).suffix != SUFFIX:
        raise file_error(out_path, f"calibrate writes a safetensors checkpoint: name it *{SUFFIX}")
    bundle = load_checkpoint(model_path, for_inference=False)
    if setting is not None:
        bundle.meta.postprocess = setting.to_dict()
    data = load_training_data(cfg, seed_everything(cfg.seed))
    trained_on = bundle.meta.extra.get("val_ids")
    if trained_on is not None and sorted(map(str, trained_on)) != sorted(data.val_ids):
        raise RetinasegError(f"{model_path}: was validated on {trained_on}, but the config's "
                             f"validation images are {data.val_ids}")
    device = resolve_device(cfg.device)
    prepare_device(device)
    bundle.module.to(device).eval()
    # What the training images decide is re-derived with the threshold: a model
    # trained before the working range was narrowed to the widths training saw gets it.
    bundle.meta.fov_range = trained_fov_range(cfg, data)
    choose_threshold(bundle.module, data, bundle.meta, cfg, device)
    if not bundle.meta.square_size:
        bundle.module.eval()  # validation handed it back in training mode
        bundle.meta.caliber_px, bundle.meta.caliber_band = validation_caliber(
            bundle, cfg, data.val_ids)
    # The recorded recipe keeps its training keys; only the threshold rule changed.
    config = {**bundle.config, "tta": cfg.tta, "fixed_threshold": cfg.fixed_threshold,
              "threshold_min_specificity": cfg.threshold_min_specificity}
    save_model(out_path, bundle.module, bundle.meta, config=config)
    return bundle.meta


def validation_caliber(bundle, cfg: TrainConfig, val_ids: list[str]) -> tuple[float, list]:
    """The model's reference vessel calibre and band (``ModelMeta.caliber_px``,
    ``caliber_band``): its validation photos segmented at native size as ``retinaseg
    segment`` does by default (FOV-width scale, the model's cut and post-processing),
    each dataset's median calibre at the working scale; the reference is their mean,
    the band their lowest and highest (:mod:`retinaseg.pipeline.caliber`)."""
    from ..pipeline.caliber import caliber_band, reference_caliber, validation_calibers
    from ..pipeline.segment import segment_at_scale
    from ..pipeline.settings import resolve_settings

    settings = resolve_settings(bundle, scale="fov")
    passes = []
    for dataset, sample in named_training_samples(cfg, set(val_ids)):
        done = segment_at_scale(bundle, sample.image, sample.fov, settings)
        passes.append((dataset, done.mask, sample.fov, done.fov_width))
    if not passes:
        raise RetinasegError("calibrate measures the vessel calibre on validation images; "
                             "the config names none (data.val_count or data.val_ids)")
    calibers = validation_calibers(passes)
    try:
        band = [round(v, 4) for v in caliber_band(calibers)]
        return round(reference_caliber(calibers), 4), band
    except ValueError as exc:
        raise RetinasegError(f"cannot measure the vessel calibre: {exc}") from None
