"""Evaluate a model on a dataset split at native resolution, inside the FOV."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .checkpoint import ModelBundle
from .data import Dataset
from .errors import RetinasegError
from .inference import predict_probabilities
from .metrics import SegmentationMetrics
from .utils import machine_info

SCORE_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "iou", "fpr", "mcc",
              "auc_roc", "auc_pr")


@dataclass
class EvalOptions:
    threshold: float | None = None   # None: the model's own (validation-chosen) threshold
    tta: str = "none"
    bf16: bool = False


def evaluate_model(bundle: ModelBundle, data: Dataset, options: EvalOptions | None = None,
                   progress=None) -> dict:
    """Score ``bundle`` on a split; also score any second human observer.

    Returns the metrics.json structure: ``pooled``, ``per_image``, ``mean``,
    ``sd`` plus provenance, and ``observers`` with the human reference rows.
    """
    options = options or EvalOptions()
    threshold = options.threshold if options.threshold is not None else bundle.meta.threshold
    source = "command line" if options.threshold is not None else bundle.meta.threshold_source
    if len(data) == 0:
        raise RetinasegError(f"dataset {data.name!r} split {data.split!r} has no images")
    model_metrics = SegmentationMetrics(threshold)
    observer_metrics: dict[str, SegmentationMetrics] = {}
    seconds, estimated_fov = [], False
    for sample in (progress(data) if progress else data):
        if sample.vessel is None:
            raise RetinasegError(f"{sample.image_path}: no vessel annotation to evaluate against")
        started = time.perf_counter()
        prob = predict_probabilities(bundle, sample.image, sample.fov, options.tta, options.bf16)
        seconds.append(time.perf_counter() - started)
        estimated_fov |= sample.fov_estimated
        model_metrics.update(prob, sample.vessel, sample.fov, sample.id)
        for name, mask in sample.observers.items():
            observer_metrics.setdefault(name, SegmentationMetrics(0.5)).update(
                mask.astype(np.float32), sample.vessel, sample.fov, sample.id)
    result = model_metrics.compute()
    result["pooled"]["threshold"] = threshold
    result.update(
        model=bundle.source, checkpoint_sha256=bundle.sha256, architecture=bundle.meta.architecture,
        dataset=data.name, split=data.split, images=len(data), threshold=threshold,
        threshold_source=source, tta=options.tta, bf16=options.bf16,
        fov="estimated from the images" if estimated_fov else "dataset masks",
        seconds_per_image=float(np.mean(seconds)), machine=machine_info(),
        observers={name: m.compute() for name, m in observer_metrics.items()},
    )
    return result


def format_table(result: dict) -> str:
    """A plain-text table: pooled, per-image mean +- sd, and human observers."""
    header = f"{'':<22}" + "".join(f"{k:>12}" for k in SCORE_KEYS)
    rows = [header, _row("model (pooled)", result["pooled"]),
            _row("model (mean/image)", result["mean"]), _row("  sd", result["sd"])]
    for name, observer in result.get("observers", {}).items():
        rows.append(_row(f"{name} (pooled)", observer["pooled"]))
    title = (f"{result.get('model_name', result['architecture'])} on {result['dataset']}:{result['split']} "
             f"({result['images']} images, FOV only, threshold {result['threshold']:.3f} "
             f"from {result['threshold_source']})")
    return "\n".join([title, *rows])


def _row(label: str, scores: dict) -> str:
    cells = "".join(f"{_fmt(scores.get(k)):>12}" for k in SCORE_KEYS)
    return f"{label:<22}{cells}"


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.4f}"
