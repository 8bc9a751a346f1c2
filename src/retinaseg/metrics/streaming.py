"""A whole evaluation: images streamed one at a time into counts, histograms and
per-image rows, then pooled, mean and SD scores."""
from __future__ import annotations

import math

import numpy as np

from ..errors import RetinasegError
from .checks import check_threshold, validated_inputs
from .counts import SCORE_NAMES, Counts, count_pixels, scores_from_counts
from .histogram import AUC_NAMES, ScoreHistogram


def image_state(prob, truth, fov, threshold: float, image_id, bits: int, mask=None):
    """Reduce one image to what evaluation keeps: its counts and its histogram.

    ``mask``, when given, is the binary prediction the counts score (a
    post-processed one) in place of ``prob >= threshold``; AUCs stay on ``prob``.
    """
    prob, truth, fov = validated_inputs("prob", prob, truth, fov, image_id)
    if mask is None:
        pred = prob[fov] >= threshold
    else:
        pred = validated_inputs("mask", mask, truth, fov, image_id)[0][fov]
    prob, truth = prob[fov], truth[fov]
    return count_pixels(pred, truth), ScoreHistogram(bits).add_pixels(prob, truth)


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

    def update(self, prob, truth, fov, id=None, mask=None) -> dict[str, float]:  # noqa: A002
        """Add one image; returns its own row. ``id`` defaults to its index;
        ``mask`` replaces ``prob >= threshold`` for the threshold scores."""
        image_id = str(len(self.per_image)) if id is None else id
        if image_id in self._ids:
            raise RetinasegError(f"image {image_id!r} was already added; pooled metrics "
                                 "would count it twice")
        counts, hist = image_state(prob, truth, fov, self.threshold, image_id, self.bits, mask)
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
