"""Evaluate a model on a dataset split at native resolution, inside the FOV."""
from __future__ import annotations

import datetime
import time
from dataclasses import asdict, dataclass

import numpy as np

from .bootstrap import bootstrap_intervals
from .checkpoint import ModelBundle
from .data import Dataset
from .devices import precision_label, precision_of
from .errors import RetinasegError
from .inference import model_tta, predict_probabilities
from .metrics import SegmentationMetrics
from .topology import TopologyCounts, topology_counts, topology_scores
from .utils import machine_info, software_versions

SCORE_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "iou", "fpr", "mcc",
              "auc_roc", "auc_pr")


CURVE_BITS = 10  # the pooled histogram kept in metrics.json: 1025 bins, curves exact on them


@dataclass
class EvalOptions:
    threshold: float | None = None   # None: the model's own (validation-chosen) threshold
    tta: str | None = None           # None: the model's own (the one its threshold was chosen under)
    bf16: bool = False
    topology: bool = False           # clDice and connected components (skeletons: slower)
    bootstrap: int = 0               # resamples for 95% intervals over images; 0 = none
    precision: str | None = None     # auto / fp32 / bf16 / fp16; None: bf16 if set, else auto


class Scorer:
    """One row of the results table (the model or a human observer), streamed image by image."""

    def __init__(self, threshold: float, options: EvalOptions):
        self.threshold = threshold
        self.options = options
        self.metrics = SegmentationMetrics(threshold, keep_images=options.bootstrap > 0)
        self.topology = TopologyCounts() if options.topology else None

    def update(self, prob, truth, fov, image_id) -> dict:
        row = self.metrics.update(prob, truth, fov, image_id)
        if self.topology is not None:
            counts = topology_counts(prob >= self.threshold, truth, fov, image_id)
            self.topology = self.topology + counts
            row.update(topology_scores(counts))
        return row

    def compute(self) -> dict:
        result = self.metrics.compute()
        result["histogram"] = self.metrics.hist.coarsened(CURVE_BITS).to_dict()
        if self.topology is not None:
            result["topology"] = topology_scores(self.topology)
            names = list(result["topology"])
            result["mean"].update({k: float(np.mean([r[k] for r in result["per_image"]]))
                                   for k in names})
        if self.options.bootstrap > 0:
            result["ci95"] = bootstrap_intervals(self.metrics, self.options.bootstrap)
        return result


def evaluate_model(bundle: ModelBundle, data: Dataset, options: EvalOptions | None = None,
                   progress=None, on_image=None) -> dict:
    """Score ``bundle`` on a split; also score any second human observer.

    Returns the metrics.json structure: ``pooled``, ``per_image``, ``mean``,
    ``sd`` plus provenance, ``histogram`` (pooled, coarse, for curves),
    ``observers`` with the human reference rows scored the same way, and with
    the options on, ``topology`` and ``ci95``. ``on_image(sample, prob, row)``
    is called for every image (a report draws its panels there) so no
    probability map has to be kept.
    """
    options = options or EvalOptions()
    threshold = options.threshold if options.threshold is not None else bundle.meta.threshold
    source = "command line" if options.threshold is not None else bundle.meta.threshold_source
    tta = model_tta(bundle, options.tta)
    if len(data) == 0:
        raise RetinasegError(f"dataset {data.name!r} split {data.split!r} has no images")
    model_scorer = Scorer(threshold, options)
    observer_scorers: dict[str, Scorer] = {}
    seconds, estimated_fov = [], False
    for sample in (progress(data) if progress else data):
        if sample.vessel is None:
            raise RetinasegError(f"{sample.image_path}: no vessel annotation to evaluate against")
        started = time.perf_counter()
        prob = predict_probabilities(bundle, sample.image, sample.fov, tta, options.bf16,
                                     options.precision)
        seconds.append(time.perf_counter() - started)
        estimated_fov |= sample.fov_estimated
        row = model_scorer.update(prob, sample.vessel, sample.fov, sample.id)
        for name, mask in sample.observers.items():
            observer_scorers.setdefault(name, Scorer(0.5, options)).update(
                mask.astype(np.float32), sample.vessel, sample.fov, sample.id)
        if on_image is not None:
            on_image(sample, prob, row)
    result = model_scorer.compute()
    result["pooled"]["threshold"] = threshold
    result.update(
        model=bundle.source, checkpoint_sha256=bundle.sha256, architecture=bundle.meta.architecture,
        dataset=data.name, split=data.split, images=len(data), threshold=threshold,
        threshold_source=source, tta=tta, bf16=options.bf16, device=str(bundle.device),
        precision=precision_label(bundle.device, precision_of(options.bf16, options.precision)),
        fov="estimated from the images" if estimated_fov else "dataset masks",
        seconds_per_image=float(np.mean(seconds)), machine=machine_info(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        software=software_versions(), model_meta=asdict(bundle.meta), model_config=bundle.config,
        observers={name: scorer.compute() for name, scorer in observer_scorers.items()},
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
