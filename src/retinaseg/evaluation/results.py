"""The typed result of an evaluation, and the one list of metric names.

:class:`EvaluationResult` is what :func:`~retinaseg.evaluation.evaluate.evaluate_model`
returns and what reports, studies and benchmarks read. On disk it is
``metrics.json``, whose shape has not changed: :meth:`EvaluationResult.to_dict`
writes it and :meth:`EvaluationResult.from_dict` reads any earlier one (keys a
version did not write are left empty; keys this version does not know are kept
in ``extra`` and written back).
"""
from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import file_error
from ..metrics import AUC_NAMES, SCORE_NAMES

#: Every metric of a result row, in the order tables show them.
METRIC_NAMES = SCORE_NAMES + AUC_NAMES
#: Short column titles, as the papers write them.
METRIC_TITLES = {"accuracy": "Acc", "sensitivity": "Se", "specificity": "Sp",
                 "precision": "Pr", "f1": "F1", "iou": "IoU", "fpr": "FPR", "mcc": "MCC",
                 "auc_roc": "AUC-ROC", "auc_pr": "AUC-PR", "cldice": "clDice"}
#: What the papers lead with; tables that follow them put these first.
HEADLINE = ("auc_roc", "f1")
#: The topology score shown beside the metrics (evaluation.topology computes it).
CLDICE = "cldice"


def metric_columns(first: tuple = (), drop: tuple = ()) -> tuple[str, ...]:
    """A selection of :data:`METRIC_NAMES`: ``first`` in front, ``drop`` left out,
    the rest in their usual order."""
    unknown = [k for k in (*first, *drop) if k not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"not a metric: {', '.join(unknown)}")
    return tuple(first) + tuple(k for k in METRIC_NAMES if k not in first and k not in drop)


def metrics_named(*names: str) -> tuple[str, ...]:
    """``names``, each checked to be one of :data:`METRIC_NAMES` (a typo fails at once)."""
    return metric_columns(first=names, drop=tuple(k for k in METRIC_NAMES if k not in names))


#: The fine-tuning paper's Table 1 columns (plus MCC), headline first: studies and
#: the DRIVE benchmark compare against it.
PAPER_COLUMNS = metric_columns(first=HEADLINE, drop=("iou", "fpr", "auc_pr"))

# Read by older and newer versions alike; a report needs these.
REPORTABLE = ("pooled", "per_image", "mean", "histogram", "threshold")


@dataclass
class Scores:
    """One row of a results table, the model or a human observer, over one split."""

    pooled: dict                      # metric -> value over every FOV pixel (and threshold)
    per_image: list[dict]             # one row per image: id, metrics, threshold
    mean: dict                        # metric -> mean over images
    sd: dict                          # metric -> sample SD over images (NaN for one image)
    histogram: dict | None = None     # the pooled ScoreHistogram.to_dict(), for curves
    topology: dict | None = None      # pooled clDice and component counts
    ci95: dict | None = None          # bootstrap intervals: pooled / mean -> metric -> [lo, hi]

    @classmethod
    def from_dict(cls, data: dict) -> "Scores":
        return cls(**_known(cls, data))

    def to_dict(self) -> dict:
        return _without_none({f.name: getattr(self, f.name) for f in fields(Scores)})

    def interval(self, kind: str, metric: str):
        """The 95% interval of ``metric`` (``kind`` pooled or mean), or None."""
        return (self.ci95 or {}).get(kind, {}).get(metric)


@dataclass
class EvaluationResult(Scores):
    """A model scored on a dataset split, with the humans and the provenance."""

    threshold: float = math.nan       # the cut; under "otsu" the median of the images' cuts
    threshold_rule: str = "fixed"     # fixed | otsu (each image's own cut, in its row)
    threshold_source: str = ""
    model: str = ""                   # what was loaded: shipped name or checkpoint path
    model_name: str | None = None     # the name the user gave it (--model, a study run)
    checkpoint_sha256: str = ""
    architecture: str = ""
    dataset: str = ""
    split: str = ""
    images: int = 0
    tta: str = "none"
    postprocess: str = "none"         # the mask post-processing scored ("none" in older files)
    scale: str = "fov"                # the working scale rule (segment.SCALES; "fov" in older files)
    bf16: bool = False
    device: str = ""                  # where it ran (cpu, cuda:0, ...); "" in older files
    backend: str = ""                 # what ran the network (torch, onnxruntime); "" in older files
    precision: str = ""               # what autocast amounted to there: fp32, bf16 or fp16
    fov: str = ""
    seconds_per_image: float = math.nan
    machine: dict = field(default_factory=dict)
    date: str = ""
    software: dict = field(default_factory=dict)
    model_meta: dict = field(default_factory=dict)
    model_config: dict = field(default_factory=dict)
    # an A/V model on a split with A/V labels: pooled and per-photo A/V scores
    # (evaluation/artery_vein.py); {} otherwise
    artery_vein: dict = field(default_factory=dict)
    command: str | None = None
    observers: dict[str, Scores] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept

    @classmethod
    def from_dict(cls, data: dict) -> "EvaluationResult":
        values = _known(cls, data)
        values["observers"] = {name: Scores.from_dict(obs)
                               for name, obs in (data.get("observers") or {}).items()}
        known = {f.name for f in fields(cls)}
        values["extra"] = {k: v for k, v in data.items() if k not in known}
        return cls(**values)

    def to_dict(self) -> dict:
        """The metrics.json structure (the same keys every earlier version wrote)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("observers", "extra")}
        if not self.artery_vein:  # a vessel model's file keeps the keys it always had
            del data["artery_vein"]
        data["observers"] = {name: obs.to_dict() for name, obs in self.observers.items()}
        return {**_without_none(data), **self.extra}

    @property
    def label(self) -> str:
        """The model's shipped name, or for a checkpoint file its folder and name
        (run/model.safetensors)."""
        name = str(self.model_name or self.model or "model")
        if name.endswith((".safetensors", ".pt")) or "/" in name:
            path = Path(name)
            return f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        return name

    @property
    def scored_on(self) -> str:
        return f"{self.dataset}/{self.split}"

    def rows(self) -> list[tuple[str, Scores]]:
        """The model's row and each human observer's, labelled for a table."""
        return [(self.label, self), *((f"human observer ({name})", obs)
                                      for name, obs in self.observers.items())]


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)} - {"observers", "extra"}
    return {k: v for k, v in data.items() if k in names}


def _without_none(data: dict) -> dict:
    """Optional parts absent rather than null, as metrics.json always had them."""
    return {k: v for k, v in data.items() if v is not None}


def read_result(run_dir) -> EvaluationResult:
    """The metrics.json of an evaluation folder, checked for what a report needs."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not run_dir.is_dir():
        raise file_error(run_dir, "no such folder")
    if not path.is_file():
        raise file_error(run_dir, "no metrics.json here; write one with "
                                  "'retinaseg evaluate ... --out DIR --report'")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise file_error(path, f"not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise file_error(path, "not an evaluation result (expected a JSON object)")
    missing = [k for k in REPORTABLE if k not in data]
    if missing:
        raise file_error(path, f"lacks {', '.join(missing)}; re-run 'retinaseg evaluate' "
                               "with this version to get a reportable result")
    problem = result_problem(data)
    if problem:
        raise file_error(path, f"{problem}; re-run 'retinaseg evaluate' to write it again")
    with rendering(path):
        return EvaluationResult.from_dict(data)


MAX_HISTOGRAM_BITS = 16  # evaluate writes 10; more would only allocate


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _scores_problem(scores, where: str) -> str | None:
    """What is wrong with one row's scores (the model's or an observer's), if anything."""
    if not isinstance(scores, dict):
        return f"{where or 'the result'} must be an object"
    for key in ("pooled", "mean", "sd", "topology"):
        table = scores.get(key, {})
        if not isinstance(table, dict) or not all(_number(v) for v in table.values()):
            return f"{where}{key} must map score names to numbers"
    rows = scores.get("per_image", [])
    if not isinstance(rows, list) or (not where and not rows):
        return f"{where}per_image must be a non-empty list"
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("id"), (str, int)) \
                or not _number(row.get("f1")) \
                or not all(_number(v) for k, v in row.items() if k != "id"):
            return f"{where}per_image rows must hold an id and numeric scores, f1 included"
    return None


def result_problem(result: dict) -> str | None:
    """What a report could not be built from, in words, or None."""
    problem = _scores_problem(result, "")
    if problem:
        return problem
    if not _number(result["threshold"]) or result["threshold"] is None:
        return "threshold must be a number"
    observers = result.get("observers", {})
    if not isinstance(observers, dict):
        return "observers must be an object"
    for name, scores in observers.items():
        problem = _scores_problem(scores, f"observers.{name}.")
        if problem:
            return problem
    for key in ("ci95", "model_meta", "model_config", "machine", "software"):
        if not isinstance(result.get(key, {}), dict):
            return f"{key} must be an object"
    return _histogram_problem(result["histogram"])


def _histogram_problem(histogram) -> str | None:
    bits = histogram.get("bits") if isinstance(histogram, dict) else None
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= MAX_HISTOGRAM_BITS:
        return f"histogram.bits must be a whole number from 1 to {MAX_HISTOGRAM_BITS}"
    for key in ("pos", "neg"):
        counts = histogram.get(key)
        if not isinstance(counts, list) or len(counts) != 2 ** bits + 1 or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            return f"histogram.{key} must be {2 ** bits + 1} counts >= 0"
    return None


@contextmanager
def rendering(path):
    """A result that passed :func:`result_problem` but still trips the renderer
    (a field of another shape deep inside) is the file's fault: one line naming it."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise file_error(path, f"a field has an unexpected type or shape "
                               f"({type(exc).__name__}: {exc})") from None

