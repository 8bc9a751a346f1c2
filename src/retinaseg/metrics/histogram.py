"""Quantised score histograms: AUCs, curves and the best threshold over millions
of pixels in 1 MB. A functional core on the two bin arrays, as torchmetrics'
functional API sits under its classes, and :class:`ScoreHistogram`, a thin
stateful wrapper over it."""
from __future__ import annotations

import math

import numpy as np

from ..errors import RetinasegError
from .checks import check_threshold, validated_inputs
from .counts import Counts, ratio, score_arrays

AUC_NAMES = ("auc_roc", "auc_pr")
BEST_THRESHOLD_METRICS = ("f1", "iou", "mcc", "accuracy")


# Stateless functions on a histogram's two bin arrays (``pos``, ``neg``: pixel
# counts per quantised score, ``2**bits + 1`` bins), as torchmetrics' functional
# API sits under its classes; :class:`ScoreHistogram` is a thin wrapper over them.

def bin_pixels(prob: np.ndarray, truth: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pos, neg)`` bin counts of validated 1-D FOV pixels, with one bincount."""
    scale = 2 ** bits
    bins = (prob * scale).astype(np.int64)  # exact: scale is a power of two
    both = np.bincount(2 * bins + truth, minlength=2 * (scale + 1)).reshape(-1, 2)
    return both[:, 1], both[:, 0]


def at_or_above(bins: np.ndarray) -> np.ndarray:
    """Pixels in bin ``k`` or higher, for every ``k``: tp (or fp) at threshold ``k / scale``."""
    return np.cumsum(bins[::-1])[::-1]


def coarsen_bins(bins: np.ndarray, bits_from: int, bits_to: int) -> np.ndarray:
    """The same pixels in ``2**bits_to + 1`` bins; the lone top bin (score 1.0) stays on top."""
    group = 2 ** (bits_from - bits_to)
    return np.concatenate([bins[:-1].reshape(-1, group).sum(axis=1), bins[-1:]])


def sweep_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, Counts]:
    """Thresholds ``k / scale`` for k = 1..scale and their confusion counts as arrays."""
    scale = pos.size - 1
    tps, fps = at_or_above(pos)[1:], at_or_above(neg)[1:]
    thresholds = np.arange(1, scale + 1) / scale
    return thresholds, Counts(tps, fps, int(pos.sum()) - tps, int(neg.sum()) - fps)


def auc_roc_of_bins(pos: np.ndarray, neg: np.ndarray) -> float:
    """Trapezoid ROC area; each bin is one threshold, so ties form one diagonal segment
    (as ``sklearn.metrics.roc_auc_score``). NaN without both classes."""
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    tps = np.concatenate([[0], np.cumsum(pos[::-1])]).astype(np.float64)
    fps = np.concatenate([[0], np.cumsum(neg[::-1])]).astype(np.float64)
    area = np.sum(np.diff(fps) * (tps[1:] + tps[:-1])) / 2
    return float(area / n_pos / n_neg)


def auc_pr_of_bins(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision, ``sum_k (R_k - R_{k-1}) P_k`` (step-wise, as sklearn; the
    trapezoid would overestimate). NaN without positive pixels."""
    n_pos = int(pos.sum())
    if n_pos == 0:
        return math.nan
    tps, fps = at_or_above(pos), at_or_above(neg)
    precision = ratio(tps, tps + fps, 0.0)  # only read where pos > 0, so tps > 0
    return float(np.sum(pos * precision) / n_pos)


def roc_curve_of_bins(pos: np.ndarray, neg: np.ndarray):
    """``(fpr, tpr, thresholds)`` as ``sklearn.metrics.roc_curve(drop_intermediate=False)``."""
    k = np.flatnonzero(pos + neg)[::-1]  # occupied bins, highest first: sklearn's scores
    tps, fps = at_or_above(pos), at_or_above(neg)
    tpr = np.concatenate([[0.0], ratio(tps[k], int(pos.sum()), math.nan)])
    fpr = np.concatenate([[0.0], ratio(fps[k], int(neg.sum()), math.nan)])
    return fpr, tpr, np.concatenate([[np.inf], k / (pos.size - 1)])


def pr_curve_of_bins(pos: np.ndarray, neg: np.ndarray):
    """``(precision, recall, thresholds)`` as ``sklearn.metrics.precision_recall_curve``."""
    k = np.flatnonzero(pos + neg)
    tps, fps = at_or_above(pos), at_or_above(neg)
    precision = np.concatenate([ratio(tps[k], tps[k] + fps[k], math.nan), [1.0]])
    recall = np.concatenate([ratio(tps[k], int(pos.sum()), math.nan), [0.0]])
    return precision, recall, k / (pos.size - 1)


def best_threshold_of_bins(pos: np.ndarray, neg: np.ndarray, metric: str = "f1",
                           min_specificity: float = 0.0) -> tuple[float, float]:
    """The grid threshold maximising ``metric`` (the highest among ties), and that maximum."""
    return best_mean_threshold_of_bins([(pos, neg)], metric, min_specificity)


def best_mean_threshold_of_bins(bins: list[tuple[np.ndarray, np.ndarray]], metric: str = "f1",
                                min_specificity: float = 0.0) -> tuple[float, float]:
    """The grid threshold maximising the mean of ``metric`` over several
    ``(pos, neg)`` histograms (the highest among ties), and that mean.

    Each histogram counts once, however many pixels it holds: one per dataset,
    each camera weighs the same. ``min_specificity`` must hold in every one.
    """
    if metric not in BEST_THRESHOLD_METRICS:
        raise RetinasegError(f"unknown metric {metric!r}; choose one of "
                             f"{', '.join(BEST_THRESHOLD_METRICS)}")
    if not bins or len({pos.size for pos, _ in bins}) != 1:
        raise RetinasegError("need one or more histograms with the same number of bins")
    if any(pos.sum() + neg.sum() == 0 for pos, neg in bins):
        raise RetinasegError("the histogram is empty; update it with images first")
    values, allowed = 0.0, True
    for pos, neg in bins:
        _, c = sweep_counts(pos, neg)  # k = 1 .. scale; k = 0 is threshold 0
        sweep = score_arrays(c.tp, c.fp, c.fn, c.tn)
        values = values + sweep[metric] / len(bins)
        allowed = allowed & (sweep["specificity"] >= min_specificity)
    if min_specificity > 0:
        if not np.any(allowed):
            raise RetinasegError(f"no threshold reaches specificity {min_specificity}")
        values = np.where(allowed, values, -np.inf)
    scale = bins[0][0].size - 1
    best_k = scale - int(np.argmax(values[::-1]))
    return best_k / scale, float(values[best_k - 1])


def best_mean_threshold(histograms: list, metric: str = "f1",
                        min_specificity: float = 0.0) -> tuple[float, float]:
    """:func:`best_mean_threshold_of_bins` of :class:`ScoreHistogram` objects."""
    return best_mean_threshold_of_bins([(h.pos, h.neg) for h in histograms], metric,
                                       min_specificity)


class ScoreHistogram:
    """Positive and negative FOV pixel counts per quantised score bin.

    Bin ``k`` holds scores in ``[k / 2**bits, (k + 1) / 2**bits)``; a score of
    exactly 1.0 gets its own top bin ``2**bits``. Because the bin width is a
    power of two, ``prob >= k / 2**bits`` holds exactly when ``bin(prob) >= k``,
    for float32 and float64 alike: thresholds read off the histogram mean the
    same as thresholds applied to the probabilities. Scores on the grid
    ``k / 2**bits`` never share a bin, so AUCs then match sklearn's exactly
    (up to float rounding); otherwise to within about ``2**-bits``.

    State and merging only; every computation is a function of the histogram
    core above.
    """

    def __init__(self, bits: int = 16):
        if not 1 <= int(bits) <= 24:
            raise RetinasegError(f"bits must be between 1 and 24, got {bits!r}")
        self.bits = int(bits)
        self.pos = np.zeros(self.scale + 1, dtype=np.int64)
        self.neg = np.zeros(self.scale + 1, dtype=np.int64)

    @property
    def scale(self) -> int:
        return 2 ** self.bits

    @property
    def n_pos(self) -> int:
        return int(self.pos.sum())

    @property
    def n_neg(self) -> int:
        return int(self.neg.sum())

    def update(self, prob, truth, fov, image_id=None) -> ScoreHistogram:
        """Add one image's FOV pixels; returns ``self`` for chaining."""
        prob, truth, fov = validated_inputs("prob", prob, truth, fov, image_id)
        return self.add_pixels(prob[fov], truth[fov])

    def add_pixels(self, prob: np.ndarray, truth: np.ndarray) -> ScoreHistogram:
        """Add validated 1-D FOV pixels (see :func:`validated_inputs`)."""
        pos, neg = bin_pixels(prob, truth, self.bits)
        self.pos += pos
        self.neg += neg
        return self

    def __add__(self, other: ScoreHistogram) -> ScoreHistogram:
        if not isinstance(other, ScoreHistogram):
            return NotImplemented
        if other.bits != self.bits:
            raise RetinasegError(f"cannot merge histograms with {self.bits} and "
                                 f"{other.bits} bits")
        merged = ScoreHistogram(self.bits)
        merged.pos, merged.neg = self.pos + other.pos, self.neg + other.neg
        return merged

    def coarsened(self, bits: int) -> ScoreHistogram:
        """The same pixels in ``2**bits`` bins (``bits`` <= this one's).

        Bin edges of the coarse grid are edges of the fine one, so curves read
        off it are exact at its thresholds; AUCs differ by at most ``2**-bits``.
        """
        if not 1 <= bits <= self.bits:
            raise RetinasegError(f"can only coarsen {self.bits}-bit histograms to 1..{self.bits} "
                                 f"bits, not {bits!r}")
        coarse = ScoreHistogram(bits)
        coarse.pos = coarsen_bins(self.pos, self.bits, bits)
        coarse.neg = coarsen_bins(self.neg, self.bits, bits)
        return coarse

    def to_dict(self) -> dict:
        """JSON-ready form (plain int lists), read back by :meth:`from_dict`."""
        return {"bits": self.bits, "pos": self.pos.tolist(), "neg": self.neg.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> ScoreHistogram:
        hist = cls(int(data["bits"]))
        pos, neg = np.asarray(data["pos"], np.int64), np.asarray(data["neg"], np.int64)
        if pos.shape != hist.pos.shape or neg.shape != hist.neg.shape:
            raise RetinasegError(f"a {hist.bits}-bit histogram needs {hist.scale + 1} bins, "
                                 f"got {pos.size} and {neg.size}")
        hist.pos, hist.neg = pos, neg
        return hist

    def counts_sweep(self) -> tuple[np.ndarray, Counts]:
        """Thresholds ``k / scale`` for k = 1..scale and their confusion counts as arrays."""
        return sweep_counts(self.pos, self.neg)

    def scores_sweep(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Every threshold score at every grid threshold (for metric-versus-threshold plots)."""
        thresholds, c = self.counts_sweep()
        return thresholds, score_arrays(c.tp, c.fp, c.fn, c.tn)

    def counts_at(self, threshold: float) -> Counts:
        """Confusion counts for ``prob >= threshold``; threshold must be on the grid."""
        k = check_threshold(threshold) * self.scale
        if k != int(k):
            raise RetinasegError(f"threshold {threshold!r} is not a multiple of "
                                 f"1/{self.scale}; use confusion_counts for other thresholds")
        tp, fp = int(self.pos[int(k):].sum()), int(self.neg[int(k):].sum())
        return Counts(tp=tp, fp=fp, fn=self.n_pos - tp, tn=self.n_neg - fp)

    def auc_roc(self) -> float:
        """Area under the ROC curve (:func:`auc_roc_of_bins`)."""
        return auc_roc_of_bins(self.pos, self.neg)

    def auc_pr(self) -> float:
        """Average precision as sklearn defines it (:func:`auc_pr_of_bins`)."""
        return auc_pr_of_bins(self.pos, self.neg)

    def roc_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fpr, tpr, thresholds)`` as ``sklearn.metrics.roc_curve(drop_intermediate=False)``.

        Thresholds decrease, one per occupied bin (its lower edge), after a
        leading ``inf`` that gives the point (0, 0).
        """
        return roc_curve_of_bins(self.pos, self.neg)

    def pr_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(precision, recall, thresholds)`` as ``sklearn.metrics.precision_recall_curve``.

        Thresholds increase, one per occupied bin; the last point is
        (recall 0, precision 1) and has no threshold.
        """
        return pr_curve_of_bins(self.pos, self.neg)

    def best_threshold(self, metric: str = "f1",
                       min_specificity: float = 0.0) -> tuple[float, float]:
        """The grid threshold in (0, 1] that maximises ``metric``, and that maximum.

        Applying ``prob >= threshold`` to the same pixels reproduces the score
        exactly. Among tied thresholds the highest wins, which is an occupied
        bin's edge, i.e. a score actually seen. ``min_specificity`` restricts
        the choice to thresholds at least that specific (an operating point
        matched to a published table, chosen without looking at its test set).
        """
        return best_threshold_of_bins(self.pos, self.neg, metric, min_specificity)
