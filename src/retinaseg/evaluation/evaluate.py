"""Evaluate a model on a dataset split at native resolution, inside the FOV.

:func:`evaluate_model` returns an :class:`~retinaseg.evaluation.results.EvaluationResult`;
:func:`evaluate_to_folder` is the one way a result reaches disk (metrics.json,
and with a report its pages and panels), used by ``retinaseg evaluate`` and by
studies alike.
"""
from __future__ import annotations

import datetime
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..checks import BOOTSTRAP
from ..data import Dataset
from ..errors import RetinasegError, naming_file
from ..hub.checkpoint import ModelBundle
from ..io.atomic import write_all_or_nothing
from ..io.provenance import machine_info, software_versions
from ..io.tables import text_table
from ..metrics import SegmentationMetrics
from ..pipeline.cut import OTSU, image_cut, rule_kind, rule_of
from ..pipeline.postprocess import NO_POSTPROCESS, Postprocess, postprocess_mask
from ..pipeline.segment import ARTERY, VEIN, segment_at_scale
from ..pipeline.settings import InferenceSettings, backend_of, precision_used, resolve_settings
from .artery_vein import AVTally
from .bootstrap import bootstrap_intervals
from .results import METRIC_NAMES, EvaluationResult, Scores
from .topology import TopologyCounts, topology_counts, topology_scores

CURVE_BITS = 10  # the pooled histogram kept in metrics.json: 1025 bins, curves exact on them


@dataclass
class EvalOptions:
    # How the model segments (pipeline.settings.resolve_settings); None: the model's own
    # settings. Scored is the mask `segment` would write under them.
    settings: InferenceSettings | None = None
    topology: bool = False           # clDice and connected components (skeletons: slower)
    bootstrap: int = 0               # resamples for 95% intervals over images; 0 = none

    def __post_init__(self):
        self.bootstrap = BOOTSTRAP.check(self.bootstrap, "bootstrap")  # checks.BOOTSTRAP


class Scorer:
    """One row of the results table (the model or a human observer), streamed image by image.

    The threshold scores and topology score the mask ``postprocess`` makes of
    each probability map cut by ``rule`` (:mod:`retinaseg.pipeline.cut`: a number, or
    ``otsu`` for each image's own cut, ``fallback`` where an image has no valley);
    AUCs stay on the map. Each image's row holds the cut it was scored at.
    """

    def __init__(self, rule: float | str, options: EvalOptions,
                 postprocess: Postprocess = NO_POSTPROCESS, fallback: float = 0.5):
        self.rule = rule
        self.fallback = float(fallback) if rule == OTSU else float(rule)
        self.options = options
        self.postprocess = postprocess
        self.metrics = SegmentationMetrics(self.fallback, keep_images=options.bootstrap > 0)
        self.topology = TopologyCounts() if options.topology else None
        self.cuts: list[float] = []

    @property
    def per_image_cut(self) -> bool:
        return self.rule == OTSU

    def cut(self, prob, fov) -> float:
        return image_cut(self.rule, prob, np.asarray(fov, dtype=bool), self.fallback)

    def update(self, prob, truth, fov, image_id, mask=None, cut=None) -> dict:
        """Score one image; ``mask`` and ``cut``, when given, are the mask already made
        of ``prob`` (``segment.segment_at_scale``, cut by this rule and post-processed
        by this setting) and its cut."""
        if cut is None:
            cut = self.cut(prob, fov)
        if mask is None and (self.per_image_cut or not self.postprocess.is_none):
            mask = postprocess_mask(prob, cut, np.asarray(fov, dtype=bool), self.postprocess)
        row = self.metrics.update(prob, truth, fov, image_id, mask=mask)
        row["threshold"] = cut
        self.cuts.append(cut)
        if self.topology is not None:
            pred = (np.asarray(prob) >= cut) if mask is None else mask
            counts = topology_counts(pred, truth, fov, image_id)
            self.topology = self.topology + counts
            row.update(topology_scores(counts))
        return row

    def shown_threshold(self) -> float:
        """The threshold a result names: the fixed one, or the median of the images' cuts."""
        return float(np.median(self.cuts)) if self.per_image_cut and self.cuts else self.fallback

    def compute(self) -> Scores:
        scores = Scores.from_dict(self.metrics.compute())
        scores.histogram = self.metrics.hist.coarsened(CURVE_BITS).to_dict()
        if self.topology is not None:
            scores.topology = topology_scores(self.topology)
            scores.mean.update({k: float(np.mean([r[k] for r in scores.per_image]))
                                for k in scores.topology})
        if self.options.bootstrap > 0:
            scores.ci95 = bootstrap_intervals(self.metrics, self.options.bootstrap)
        return scores


def evaluate_model(bundle: ModelBundle, data: Dataset, options: EvalOptions | None = None,
                   progress=None, on_image=None) -> EvaluationResult:
    """Score ``bundle`` on a split; also score any second human observer.

    The result holds ``pooled``, ``per_image``, ``mean``, ``sd`` plus
    provenance, ``histogram`` (pooled, coarse, for curves), ``observers`` with
    the human reference rows scored the same way, and with the options on,
    ``topology`` and ``ci95``. The threshold scores are those of the mask
    ``options.settings`` make (the model's own when None), the one
    ``retinaseg segment`` writes; human observers are scored as drawn.
    ``on_image(sample, prob, row, mask)`` is called for every image (a report
    draws its panels there) so no probability map has to be kept.
    """
    options = options or EvalOptions()
    settings = options.settings or resolve_settings(bundle)
    rule = settings.rule
    source = _threshold_source(bundle, rule)
    if len(data) == 0:
        raise RetinasegError(f"dataset {data.name!r} split {data.split!r} has no images")
    model_scorer = Scorer(rule, options, settings.postprocess, fallback=bundle.meta.threshold)
    observer_scorers: dict[str, Scorer] = {}
    seconds, estimated_fov, av_tally = [], False, AVTally()
    for sample in (progress(data) if progress else data):
        if sample.vessel is None:
            raise RetinasegError(f"{sample.image_path}: no vessel annotation to evaluate against")
        started = time.perf_counter()
        try:
            done = segment_at_scale(bundle, sample.image, sample.fov, settings)
            prob, mask, cut = done.prob, done.mask, done.cut
        except RetinasegError as exc:
            raise naming_file(sample.image_path, exc) from None
        seconds.append(time.perf_counter() - started)
        estimated_fov |= sample.fov_estimated
        row = model_scorer.update(prob, sample.vessel, sample.fov, sample.id, mask, cut)
        if ARTERY in done.others and VEIN in done.others and sample.av_path is not None:
            av_tally.update(sample.id, done.others[ARTERY], done.others[VEIN], sample.av,
                            sample.fov)
        for name, drawn in sample.observers.items():
            observer_scorers.setdefault(name, Scorer(0.5, options)).update(
                drawn.astype(np.float32), sample.vessel, sample.fov, sample.id)
        if on_image is not None:
            on_image(sample, prob, row, mask)
    scores = model_scorer.compute()
    threshold = model_scorer.shown_threshold()
    scores.pooled["threshold"] = threshold
    return EvaluationResult(
        **vars(scores), model=bundle.source, checkpoint_sha256=bundle.sha256, architecture=bundle.meta.architecture,
        dataset=data.name, split=data.split, images=len(data), threshold=threshold,
        threshold_rule=rule_kind(rule), threshold_source=source, tta=settings.tta,
        postprocess=settings.postprocess.describe(), scale=settings.scale,
        bf16=settings.precision == "bf16", device=str(bundle.device),
        backend=backend_of(bundle), precision=precision_used(bundle, settings.precision),
        fov="estimated from the images" if estimated_fov else "dataset masks",
        seconds_per_image=float(np.mean(seconds)), machine=machine_info(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        software=software_versions(), model_meta=asdict(bundle.meta), model_config=bundle.config,
        observers={name: scorer.compute() for name, scorer in observer_scorers.items()},
        artery_vein=av_tally.result(),
    )


def _threshold_source(bundle: ModelBundle, rule) -> str:
    """Where the cut came from: the model's own rule, or one the caller chose."""
    source = (bundle.meta.threshold_source if rule == rule_of(None, bundle.meta)
              else "command line")
    return f"each image's Otsu cut, median shown; {source}" if rule == OTSU else source


def evaluate_to_folder(bundle: ModelBundle, data: Dataset, options: EvalOptions, out,
                       report: bool = False, model_name: str | None = None,
                       command: str | None = None, progress=None):
    """Evaluate and write ``out/metrics.json``, with ``report``: the HTML and Markdown
    report and its panels too. Nothing is half-written: a failure leaves any
    earlier result and report in ``out`` as they were.

    Returns the result and the paths written.
    """
    from .report import PanelWriter, publish_report, staged_report

    out = Path(out)
    if not report:
        result = _named(evaluate_model(bundle, data, options, progress), model_name, command)
        write_all_or_nothing({out / "metrics.json": result.to_dict()})
        return result, [out / "metrics.json"]
    with staged_report(out) as staging:
        result = _named(evaluate_model(bundle, data, options, progress,
                                       on_image=PanelWriter(staging)), model_name, command)
        written = publish_report(result, out, staging, {out / "metrics.json": result.to_dict()})
    return result, written


def _named(result: EvaluationResult, model_name, command) -> EvaluationResult:
    result.model_name, result.command = model_name, command
    return result


def format_table(result: EvaluationResult) -> str:
    """A plain-text table: pooled, per-image mean +- sd, and human observers."""
    rows = [_row("model (pooled)", result.pooled), _row("model (mean/image)", result.mean),
            _row("  sd", result.sd)]
    rows += [_row(f"{name} (pooled)", obs.pooled) for name, obs in result.observers.items()]
    title = (f"{result.model_name or result.architecture} on {result.dataset}:{result.split} "
             f"({result.images} images, FOV only, threshold {result.threshold:.3f} "
             f"from {result.threshold_source}, post-processing {result.postprocess}"
             + (f", scale {result.scale}" if result.scale != "fov" else "") + ")")
    lines = [title, text_table(["", *METRIC_NAMES], rows)]
    if result.artery_vein:
        lines.append(av_line(result.artery_vein["pooled"]))
    return "\n".join(lines)


def av_line(pooled: dict) -> str:
    """The pooled artery/vein scores in one line (:mod:`.artery_vein`)."""
    pixels, centre = pooled["pixels"], pooled["centreline"]
    return (f"artery/vein (pooled, manual pure artery and vein pixels in the FOV): accuracy "
            f"{_fmt(pixels['accuracy'])}, on the centreline {_fmt(centre['accuracy'])}; "
            f"artery sensitivity {_fmt(pixels['artery_sensitivity'])}, vein sensitivity "
            f"{_fmt(pixels['vein_sensitivity'])}")


def _row(label: str, scores: dict) -> list[str]:
    return [label, *(_fmt(scores.get(k)) for k in METRIC_NAMES)]


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.4f}"
