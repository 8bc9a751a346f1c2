"""Binary vessel-segmentation metrics, counted inside the field of view only.

A functional core (validate, reduce an image to counts, compute scores) and a
thin stateful :class:`SegmentationMetrics` that streams images through the same
functions, so a test set never has to be held in memory.

Conventions, shared by every function here:

* **Threshold.** A pixel is predicted vessel when ``prob >= threshold``, with
  ``threshold`` in ``(0, 1]``.
* **Field of view.** Pixels outside the FOV mask are ignored entirely; an
  image whose FOV is empty is an error, not a silent NaN.
* **Zero division.** A ratio whose denominator is zero is NaN (undefined,
  not 0 or 1): sensitivity with no true vessel pixels, precision with no
  predicted vessel pixels, specificity and fpr with no background pixels.
  F1 and IoU are 1.0 when truth and prediction are both empty (they agree
  perfectly); otherwise their denominators are positive. MCC is 0.0 whenever
  a marginal is empty, as in ``sklearn.metrics.matthews_corrcoef``. These are
  sklearn's ``zero_division=np.nan`` (precision, recall) and
  ``zero_division=1.0`` (``f1_score``, ``jaccard_score``).
* **AUCs** come from a :class:`ScoreHistogram` of quantised scores, so pooled
  AUCs over millions of pixels need 1 MB, not the pixels. Both are NaN when
  undefined: ROC AUC without positive or negative pixels, average precision
  without positive pixels (sklearn returns 0.0 there, with a warning).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import RetinasegError

SCORE_NAMES = ("accuracy", "sensitivity", "specificity", "precision", "f1", "iou", "fpr", "mcc")
AUC_NAMES = ("auc_roc", "auc_pr")
BEST_THRESHOLD_METRICS = ("f1", "iou", "mcc", "accuracy")


# --------------------------------------------------------------------------- validation

def _where(image_id) -> str:
    return "" if image_id is None else f"image {image_id!r}: "


def check_threshold(threshold) -> float:
    """Return ``threshold`` as a float, or raise: 0 would call every pixel vessel."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value <= 1.0:  # also rejects NaN
        raise RetinasegError(f"threshold must be in (0, 1] (a pixel is vessel when "
                             f"prob >= threshold); got {threshold!r}")
    return value


def _as_mask(array, name: str, image_id) -> np.ndarray:
    """Accept bool or 0/1 arrays; anything else (0/255, interpolated masks) is an error."""
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf" or not ((array == 0) | (array == 1)).all():
        raise RetinasegError(f"{_where(image_id)}{name} must be binary (bool or 0/1), got "
                             f"dtype {array.dtype}; threshold it first, e.g. mask > 127")
    return array.astype(bool)


def _as_prob(prob, image_id) -> np.ndarray:
    """Return finite probabilities in [0, 1] as float32/float64 (binning stays exact)."""
    prob = np.asarray(prob)
    if prob.dtype.kind not in "biuf":
        raise RetinasegError(f"{_where(image_id)}probabilities must be real numbers, "
                             f"got dtype {prob.dtype}")
    if prob.dtype not in (np.float32, np.float64):
        prob = prob.astype(np.float64)  # float16 * 2**16 would overflow
    bad = prob.size - np.count_nonzero(np.isfinite(prob))
    if bad:
        raise RetinasegError(f"{_where(image_id)}probabilities must be finite; "
                             f"found {bad} NaN or infinite values")
    if prob.size and (prob.min() < 0 or prob.max() > 1):
        raise RetinasegError(f"{_where(image_id)}probabilities must lie in [0, 1], found "
                             f"min {prob.min():g} and max {prob.max():g}; apply a sigmoid "
                             "to logits first")
    return prob


def _check_shapes(first_name: str, first, truth, fov, image_id) -> None:
    shapes = {first_name: np.shape(first), "truth": np.shape(truth), "fov": np.shape(fov)}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise RetinasegError(f"{_where(image_id)}shapes must match pixel for pixel, got {listed}")


def validated_inputs(first_name: str, first, truth, fov, image_id):
    """Check one image at the boundary; return (first, truth, fov) as clean arrays."""
    _check_shapes(first_name, first, truth, fov, image_id)
    truth = _as_mask(truth, "truth", image_id)
    fov = _as_mask(fov, "fov", image_id)
    if not fov.any():
        raise RetinasegError(f"{_where(image_id)}field of view is empty (the FOV mask has "
                             "no True pixel), so there is nothing to evaluate")
    if first_name == "prob":
        return _as_prob(first, image_id), truth, fov
    return _as_mask(first, first_name, image_id), truth, fov


# --------------------------------------------------------------------------- confusion counts

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


def _count(pred: np.ndarray, truth: np.ndarray) -> Counts:
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
    return _count(pred[fov], truth[fov])


# --------------------------------------------------------------------------- scores

def _ratio(num, den, empty: float) -> np.ndarray:
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
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn, math.nan),
        "sensitivity": _ratio(tp, tp + fn, math.nan),
        "specificity": _ratio(tn, tn + fp, math.nan),
        "precision": _ratio(tp, tp + fp, math.nan),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, 1.0),
        "iou": _ratio(tp, tp + fp + fn, 1.0),
        "fpr": _ratio(fp, fp + tn, math.nan),
        "mcc": _ratio(tp * tn - fp * fn, mcc_den, 0.0),
    }


def scores_from_counts(counts: Counts) -> dict[str, float]:
    """The eight threshold scores, keyed as :data:`SCORE_NAMES`.

    Zero-division conventions are in the module docstring.
    """
    arrays = score_arrays(counts.tp, counts.fp, counts.fn, counts.tn)
    return {name: float(arrays[name]) for name in SCORE_NAMES}


# --------------------------------------------------------------------------- histogram core
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
    precision = _ratio(tps, tps + fps, 0.0)  # only read where pos > 0, so tps > 0
    return float(np.sum(pos * precision) / n_pos)


def roc_curve_of_bins(pos: np.ndarray, neg: np.ndarray):
    """``(fpr, tpr, thresholds)`` as ``sklearn.metrics.roc_curve(drop_intermediate=False)``."""
    k = np.flatnonzero(pos + neg)[::-1]  # occupied bins, highest first: sklearn's scores
    tps, fps = at_or_above(pos), at_or_above(neg)
    tpr = np.concatenate([[0.0], _ratio(tps[k], int(pos.sum()), math.nan)])
    fpr = np.concatenate([[0.0], _ratio(fps[k], int(neg.sum()), math.nan)])
    return fpr, tpr, np.concatenate([[np.inf], k / (pos.size - 1)])


def pr_curve_of_bins(pos: np.ndarray, neg: np.ndarray):
    """``(precision, recall, thresholds)`` as ``sklearn.metrics.precision_recall_curve``."""
    k = np.flatnonzero(pos + neg)
    tps, fps = at_or_above(pos), at_or_above(neg)
    precision = np.concatenate([_ratio(tps[k], tps[k] + fps[k], math.nan), [1.0]])
    recall = np.concatenate([_ratio(tps[k], int(pos.sum()), math.nan), [0.0]])
    return precision, recall, k / (pos.size - 1)


def best_threshold_of_bins(pos: np.ndarray, neg: np.ndarray, metric: str = "f1",
                           min_specificity: float = 0.0) -> tuple[float, float]:
    """The grid threshold maximising ``metric`` (the highest among ties), and that maximum."""
    if metric not in BEST_THRESHOLD_METRICS:
        raise RetinasegError(f"unknown metric {metric!r}; choose one of "
                             f"{', '.join(BEST_THRESHOLD_METRICS)}")
    if pos.sum() + neg.sum() == 0:
        raise RetinasegError("the histogram is empty; update it with images first")
    _, c = sweep_counts(pos, neg)  # k = 1 .. scale; k = 0 is threshold 0
    sweep = score_arrays(c.tp, c.fp, c.fn, c.tn)
    values = sweep[metric]
    if min_specificity > 0:
        allowed = sweep["specificity"] >= min_specificity
        if not allowed.any():
            raise RetinasegError(f"no threshold reaches specificity {min_specificity}")
        values = np.where(allowed, values, -np.inf)
    scale = pos.size - 1
    best_k = scale - int(np.argmax(values[::-1]))
    return best_k / scale, float(values[best_k - 1])


# --------------------------------------------------------------------------- histogram

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


# --------------------------------------------------------------------------- whole evaluation

def _image_state(prob, truth, fov, threshold: float, image_id, bits: int):
    """Reduce one image to what evaluation keeps: its counts and its histogram."""
    prob, truth, fov = validated_inputs("prob", prob, truth, fov, image_id)
    prob, truth = prob[fov], truth[fov]
    return _count(prob >= threshold, truth), ScoreHistogram(bits).add_pixels(prob, truth)


def image_scores(counts: Counts, hist: ScoreHistogram, threshold: float) -> dict[str, float]:
    """The 8 scores, both AUCs and the threshold, for one image or a pooled set."""
    return {**scores_from_counts(counts), "auc_roc": hist.auc_roc(),
            "auc_pr": hist.auc_pr(), "threshold": float(threshold)}


def summarize(per_image: list[dict], pooled_counts: Counts, pooled_hist: ScoreHistogram,
              threshold: float) -> dict:
    """Assemble the result of :func:`evaluate_arrays` from per-image rows and pooled state.

    Mean and SD are over images, unweighted. SD uses ``ddof=1`` (the sample SD
    papers report); with one image it is NaN, not a misleading 0. A NaN score
    in any image makes its mean NaN: skipping that image would overstate.
    """
    if not per_image:
        raise RetinasegError("no images to evaluate")
    names = SCORE_NAMES + AUC_NAMES
    table = np.array([[row[name] for name in names] for row in per_image], dtype=np.float64)
    mean = table.mean(axis=0)
    sd = table.std(axis=0, ddof=1) if len(per_image) > 1 else np.full(len(names), math.nan)
    return {"pooled": image_scores(pooled_counts, pooled_hist, threshold),
            "per_image": per_image,
            "mean": {name: float(v) for name, v in zip(names, mean)},
            "sd": {name: float(v) for name, v in zip(names, sd)}}


class SegmentationMetrics:
    """Stream images one at a time; keeps only counts, a histogram and score rows.

    Example::

        metrics = SegmentationMetrics(threshold=0.5)
        for sample, prob in zip(dataset, probs):
            metrics.update(prob, sample.vessel, sample.fov, id=sample.id)
        result = metrics.compute()
    """

    def __init__(self, threshold: float = 0.5, bits: int = 16, keep_images: bool = False):
        self.threshold = check_threshold(threshold)
        self.bits = bits
        # Per-image counts and histograms, for bootstrap intervals: 1 MB an image.
        self.keep_images = keep_images
        self.reset()

    def reset(self) -> None:
        self.counts = Counts()
        self.hist = ScoreHistogram(self.bits)
        self.per_image: list[dict] = []
        self.image_counts: list[Counts] = []
        self.image_hists: list[ScoreHistogram] = []
        self._ids: set = set()

    def update(self, prob, truth, fov, id=None) -> dict[str, float]:  # noqa: A002
        """Add one image; returns its own row. ``id`` defaults to its index."""
        image_id = str(len(self.per_image)) if id is None else id
        if image_id in self._ids:
            raise RetinasegError(f"image {image_id!r} was already added; pooled metrics "
                                 "would count it twice")
        counts, hist = _image_state(prob, truth, fov, self.threshold, image_id, self.bits)
        self.counts, self.hist = self.counts + counts, self.hist + hist
        row = {"id": image_id, **image_scores(counts, hist, self.threshold)}
        self.per_image.append(row)
        self._ids.add(image_id)
        if self.keep_images:
            self.image_counts.append(counts)
            self.image_hists.append(hist)
        return row

    def compute(self) -> dict:
        """Pooled, per-image, mean and SD results; see :func:`summarize`."""
        return summarize(self.per_image, self.counts, self.hist, self.threshold)


def evaluate_arrays(probs, truths, fovs, threshold: float = 0.5, ids=None) -> dict:
    """Evaluate a set of images: pooled, per-image, mean and SD scores.

    Args:
        probs: Per-image vessel probabilities in [0, 1].
        truths, fovs: Per-image binary ground truth and field-of-view masks.
        threshold: Vessel is ``prob >= threshold``; must be in (0, 1].
        ids: Per-image names for the table and error messages; default "0", "1", ...

    Returns:
        ``{"pooled", "per_image", "mean", "sd"}``. Pooled sums counts and
        histograms over all FOV pixels (every pixel weighs the same); mean and
        SD weigh every image the same. Keys: :data:`SCORE_NAMES`,
        :data:`AUC_NAMES` and, in pooled and per-image rows, ``threshold``.
    """
    probs, truths, fovs = list(probs), list(truths), list(fovs)
    ids = [str(i) for i in range(len(probs))] if ids is None else list(ids)
    if not len(probs) == len(truths) == len(fovs) == len(ids):
        raise RetinasegError(f"got {len(probs)} probability maps, {len(truths)} truths, "
                             f"{len(fovs)} FOV masks and {len(ids)} ids; they must pair up")
    metrics = SegmentationMetrics(threshold)
    for prob, truth, fov, image_id in zip(probs, truths, fovs, ids):
        metrics.update(prob, truth, fov, id=image_id)
    return metrics.compute()
