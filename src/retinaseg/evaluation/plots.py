"""Figures of an evaluation: ROC, precision-recall, metrics versus threshold.

Every curve is read off a pooled :class:`~retinaseg.metrics.ScoreHistogram`,
the same object the AUCs in the tables come from, so a figure can never
disagree with its table. Figures are drawn with matplotlib's object API
(no pyplot state, no display needed) and returned as PNG bytes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from ..metrics import ScoreHistogram

SWEEP_METRICS = ("f1", "sensitivity", "specificity", "precision", "accuracy", "mcc")


@dataclass
class CurveSource:
    """One model's pooled scores: its histogram, AUCs and operating point."""

    label: str
    hist: ScoreHistogram
    auc_roc: float
    auc_pr: float
    threshold: float
    operating_point: dict            # pooled scores at ``threshold``
    observers: dict = field(default_factory=dict)  # name -> pooled scores of a human


def curve_source(label: str, result) -> CurveSource:
    """Build a :class:`CurveSource` from an :class:`~retinaseg.evaluation.results.EvaluationResult`."""
    pooled = result.pooled
    observers = {name: obs.pooled for name, obs in result.observers.items()}
    return CurveSource(label, ScoreHistogram.from_dict(result.histogram), pooled["auc_roc"],
                       pooled["auc_pr"], result.threshold, pooled, observers)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _human_points(ax, sources: list[CurveSource], x_key: str, y_key: str) -> None:
    """Each human observer once, as a point: a binary annotation has no curve."""
    drawn = set()
    for source in sources:
        for name, scores in source.observers.items():
            if name in drawn:
                continue
            drawn.add(name)
            ax.plot(scores[x_key], scores[y_key], marker="*", markersize=12, linestyle="none",
                    color="black", label=f"human observer ({name})")


def roc_figure(sources: list[CurveSource]) -> bytes:
    """ROC curves, full range and a zoom on the low false-positive rates vessels live at."""
    fig = Figure(figsize=(10, 4.6))
    full, zoom = fig.subplots(1, 2)
    for ax in (full, zoom):
        for source in sources:
            fpr, tpr, _ = source.hist.roc_curve()
            line, = ax.plot(fpr, tpr, linewidth=1.6,
                            label=f"{source.label} (AUC {source.auc_roc:.4f})")
            point = source.operating_point
            ax.plot(point["fpr"], point["sensitivity"], "o", color=line.get_color(),
                    label=f"{source.label} at threshold {source.threshold:.3f}")
        _human_points(ax, sources, "fpr", "sensitivity")
        ax.set_xlabel("false positive rate (1 - specificity)")
        ax.set_ylabel("true positive rate (sensitivity)")
        ax.grid(alpha=0.3)
    full.plot([0, 1], [0, 1], ":", color="grey", linewidth=1)
    full.set_title("ROC curve")
    zoom.set_xlim(0, 0.2)
    zoom.set_ylim(0.5, 1.0)
    zoom.set_title("ROC curve, zoom on FPR <= 0.2")
    zoom.legend(loc="lower right", fontsize=8)
    return _png(fig)


def pr_figure(sources: list[CurveSource]) -> bytes:
    fig = Figure(figsize=(5.6, 4.6))
    ax = fig.subplots()
    for source in sources:
        precision, recall, _ = source.hist.pr_curve()
        line, = ax.plot(recall, precision, linewidth=1.6,
                        label=f"{source.label} (AP {source.auc_pr:.4f})")
        point = source.operating_point
        ax.plot(point["sensitivity"], point["precision"], "o", color=line.get_color(),
                label=f"{source.label} at threshold {source.threshold:.3f}")
    _human_points(ax, sources, "sensitivity", "precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (sensitivity)")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def threshold_figure(source: CurveSource) -> bytes:
    """Each threshold score against the threshold, the model's own threshold marked."""
    thresholds, sweep = source.hist.scores_sweep()
    fig = Figure(figsize=(7.5, 4.6))
    ax = fig.subplots()
    for name in SWEEP_METRICS:
        ax.plot(thresholds, sweep[name], linewidth=1.4, label=name)
    ax.axvline(source.threshold, color="black", linestyle="--", linewidth=1.2,
               label=f"threshold used {source.threshold:.3f}")
    best = int(np.nanargmax(sweep["f1"]))
    ax.axvline(thresholds[best], color="grey", linestyle=":", linewidth=1.2,
               label=f"best F1 on these images {thresholds[best]:.3f} (hindsight)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("threshold (vessel when probability >= threshold)")
    ax.set_ylabel("score (pooled)")
    ax.set_title(f"{source.label}: metrics versus threshold")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower center", fontsize=8, ncol=2)
    return _png(fig)
