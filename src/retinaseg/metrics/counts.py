"""Confusion counts inside the FOV and the eight threshold scores computed from them."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .checks import validated_inputs

SCORE_NAMES = ("accuracy", "sensitivity", "specificity", "precision", "f1", "iou", "fpr", "mcc")


@dataclass(frozen=True)
class Counts:
    """Confusion counts inside the FOV; Python ints so pooled sums never overflow."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.tp + other.tp, self.fp + other.fp,
                      self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def count_pixels(pred: np.ndarray, truth: np.ndarray) -> Counts:
    """Counts for 1-D bool arrays of FOV pixels (already validated)."""
    tp = int(np.count_nonzero(pred & truth))
    n_pred, n_truth = int(np.count_nonzero(pred)), int(np.count_nonzero(truth))
    return Counts(tp=tp, fp=n_pred - tp, fn=n_truth - tp, tn=pred.size - n_pred - n_truth + tp)


def confusion_counts(pred, truth, fov, image_id=None) -> Counts:
    """Count tp/fp/fn/tn over the FOV pixels of one binary prediction.

    Args:
        pred, truth, fov: Arrays of one shape, bool or 0/1.
        image_id: Named in error messages.
    """
    pred, truth, fov = validated_inputs("pred", pred, truth, fov, image_id)
    return count_pixels(pred[fov], truth[fov])


def ratio(num, den, empty: float) -> np.ndarray:
    """``num / den`` elementwise, ``empty`` where ``den == 0`` (no warnings)."""
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, empty)
    np.divide(num, den, out=out, where=den > 0)
    return out


def score_arrays(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """Every score for count arrays; floats throughout, so int64 cannot overflow."""
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    mcc_den = np.sqrt((tp + fp) * (tp + fn)) * np.sqrt((tn + fp) * (tn + fn))
    return {
        "accuracy": ratio(tp + tn, tp + fp + fn + tn, math.nan),
        "sensitivity": ratio(tp, tp + fn, math.nan),
        "specificity": ratio(tn, tn + fp, math.nan),
        "precision": ratio(tp, tp + fp, math.nan),
        "f1": ratio(2 * tp, 2 * tp + fp + fn, 1.0),
        "iou": ratio(tp, tp + fp + fn, 1.0),
        "fpr": ratio(fp, fp + tn, math.nan),
        "mcc": ratio(tp * tn - fp * fn, mcc_den, 0.0),
    }


def scores_from_counts(counts: Counts) -> dict[str, float]:
    """The eight threshold scores, keyed as :data:`SCORE_NAMES`.

    Zero-division conventions are in the module docstring.
    """
    arrays = score_arrays(counts.tp, counts.fp, counts.fn, counts.tn)
    return {name: float(arrays[name]) for name in SCORE_NAMES}
