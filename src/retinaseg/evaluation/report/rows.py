"""What a report's tables say, whatever the format: summary, topology and
provenance rows of an :class:`~retinaseg.evaluation.results.EvaluationResult`, as strings."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from .. import plots
from ..results import METRIC_NAMES, METRIC_TITLES, EvaluationResult

IMAGE_KEYS = ("f1", "sensitivity", "specificity", "precision", "mcc", "auc_roc", "cldice")
SUMMARY_HEADER = ["row", *(METRIC_TITLES[k] for k in METRIC_NAMES)]
TOPOLOGY_HEADER = ["row", "clDice (pooled)", "clDice (mean ± sd over images) [95% CI]",
                   "components predicted", "components in ground truth", "ratio"]


def num(value, digits: int = 4) -> str:
    """A score as a table shows it; '-' for a missing or undefined one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"


def interval(ci) -> str:
    if not ci or any(v is None or math.isnan(v) for v in ci):
        return ""
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


@dataclass
class SummaryRow:
    label: str
    values: dict          # metric -> str
    intervals: dict       # metric -> str (may be empty)


def summary_rows(result: EvaluationResult) -> list[SummaryRow]:
    """The papers' table: pooled and per-image mean +- sd, for the model and each human."""
    rows = []
    for label, scores in result.rows():
        rows.append(SummaryRow(f"{label}, pooled",
                               {k: num(scores.pooled.get(k)) for k in METRIC_NAMES},
                               {k: interval(scores.interval("pooled", k)) for k in METRIC_NAMES}))
        rows.append(SummaryRow(f"{label}, mean ± sd over images",
                               {k: f"{num(scores.mean.get(k))} ± {num(scores.sd.get(k))}"
                                for k in METRIC_NAMES},
                               {k: interval(scores.interval("mean", k)) for k in METRIC_NAMES}))
    return rows


def topology_rows(result: EvaluationResult) -> list[list[str]]:
    """clDice and connected components, pooled and per image, model and humans."""
    rows = []
    for label, scores in result.rows():
        if scores.topology is None:
            continue
        cldice = [r["cldice"] for r in scores.per_image]
        sd = float(np.std(cldice, ddof=1)) if len(cldice) > 1 else math.nan
        mean_ci = interval(scores.interval("mean", "cldice"))
        topo = scores.topology
        rows.append([label, num(topo["cldice"]),
                     f"{num(scores.mean['cldice'])} ± {num(sd)} {mean_ci}".strip(),
                     str(topo["components_pred"]), str(topo["components_true"]),
                     num(topo["components_ratio"], 2)])
    return rows


def provenance(result: EvaluationResult) -> list[tuple[str, str]]:
    """Enough to trace a report back to its run."""
    machine, meta = result.machine, result.model_meta
    items = [
        ("model", f"{result.model_name or ''} ({result.model})"),
        ("checkpoint sha256", result.checkpoint_sha256),
        ("architecture", f"{result.architecture} {json.dumps(meta.get('kwargs', {}))}"),
        ("trained on", meta.get("trained_on", "")),
        ("preprocessing", ", ".join(meta.get("preprocess", []))),
        ("dataset / split", f"{result.dataset} / {result.split} ({result.images} images)"),
        ("threshold", f"{num(result.threshold)} ({result.threshold_source})"),
        ("field of view", result.fov),
        ("test-time augmentation", f"{result.tta}, bf16 {result.bf16}"),
        ("mask post-processing", result.postprocess),
        ("working scale", result.scale),
        ("confidence intervals", ci_note(result)),
        ("command", result.command or ""),
        ("date", result.date),
        ("software", ", ".join(f"{k} {v}" for k, v in result.software.items())),
        ("machine", f"{machine.get('cpu', '')}, {machine.get('cores', '')} cores, "
                    f"{machine.get('platform', '')}"),
        ("seconds per image", num(result.seconds_per_image, 3)),
    ]
    return [(k, str(v)) for k, v in items]


def ci_note(result: EvaluationResult) -> str:
    ci = result.ci95
    if not ci:
        return "not computed"
    return (f"{int(ci['level'] * 100)}% percentile bootstrap over images, "
            f"{ci['resamples']} resamples, seed {ci['seed']}")


def worst_first(per_image: list[dict]) -> list[dict]:
    """Images by F1, worst first (undefined scores last)."""
    return sorted(per_image, key=lambda r: (math.isnan(r["f1"]), r["f1"]))


def image_keys(result: EvaluationResult) -> list[str]:
    """The per-image columns this result has (clDice only with topology)."""
    return [k for k in IMAGE_KEYS if k in result.per_image[0]]


def figure_files(result: EvaluationResult) -> dict[str, bytes]:
    source = plots.curve_source(result.label, result)
    return {"roc.png": plots.roc_figure([source]), "pr.png": plots.pr_figure([source]),
            "threshold.png": plots.threshold_figure(source)}
