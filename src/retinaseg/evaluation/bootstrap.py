"""Bootstrap confidence intervals over images.

A test set of 20 images is a small sample of the eyes a model will meet, so a
score is reported with the spread it would show on other samples of the same
size: images are drawn with replacement, every score is recomputed on each
draw with the functions of :mod:`retinaseg.metrics`, and the percentile
interval of the draws is the confidence interval. Pooled scores re-pool the
drawn images' confusion counts and histograms (an image drawn twice counts
twice); per-image means average the drawn images' rows.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import RetinasegError
from ..metrics import (AUC_NAMES, SCORE_NAMES, SegmentationMetrics, auc_pr_of_bins,
                      auc_roc_of_bins, score_arrays)

CHUNK = 64  # resamples whose pooled histograms are held at once (64 x 65537 floats)


def resample_weights(images: int, resamples: int, seed: int) -> np.ndarray:
    """How many times each image is drawn in each resample, shape (resamples, images)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, images, size=(resamples, images))
    weights = np.zeros((resamples, images), dtype=np.float64)
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1.0)
    return weights


def _interval(values: np.ndarray, level: float) -> list[float]:
    """Percentile interval of bootstrap values; NaN if any draw is undefined."""
    if np.isnan(values).any():
        return [math.nan, math.nan]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def pooled_threshold_scores(weights: np.ndarray, metrics: SegmentationMetrics) -> dict:
    counts = np.array([[c.tp, c.fp, c.fn, c.tn] for c in metrics.image_counts], np.float64)
    tp, fp, fn, tn = (weights @ counts).T
    return score_arrays(tp, fp, fn, tn)


def pooled_aucs(weights: np.ndarray, metrics: SegmentationMetrics) -> dict:
    pos = np.stack([h.pos for h in metrics.image_hists]).astype(np.float64)
    neg = np.stack([h.neg for h in metrics.image_hists]).astype(np.float64)
    values = {name: np.empty(len(weights)) for name in AUC_NAMES}
    for start in range(0, len(weights), CHUNK):
        chunk = weights[start:start + CHUNK]
        for offset, (p, n) in enumerate(zip(chunk @ pos, chunk @ neg)):
            p, n = p.round().astype(np.int64), n.round().astype(np.int64)
            values["auc_roc"][start + offset] = auc_roc_of_bins(p, n)
            values["auc_pr"][start + offset] = auc_pr_of_bins(p, n)
    return values


def per_image_means(weights: np.ndarray, rows: list[dict]) -> dict:
    """Bootstrap means of every numeric per-image column (scores, AUCs, topology)."""
    names = [k for k, v in rows[0].items() if k not in ("id", "threshold")
             and isinstance(v, (int, float)) and not isinstance(v, bool)]
    table = np.array([[row[name] for name in names] for row in rows], dtype=np.float64)
    means = weights @ table / len(rows)
    return {name: means[:, i] for i, name in enumerate(names)}


def bootstrap_intervals(metrics: SegmentationMetrics, resamples: int = 1000,
                        level: float = 0.95, seed: int = 0) -> dict:
    """Percentile intervals for pooled scores and per-image means.

    Returns ``{"level", "resamples", "seed", "pooled": {name: [low, high]},
    "mean": {name: [low, high]}}``. With one image there is nothing to resample
    and every interval is NaN.
    """
    if not metrics.keep_images:
        raise RetinasegError("bootstrap intervals need SegmentationMetrics(keep_images=True)")
    if not metrics.per_image:
        raise RetinasegError("no images to bootstrap")
    if resamples < 1 or not 0.0 < level < 1.0:
        raise RetinasegError(f"need resamples >= 1 and 0 < level < 1, got {resamples}, {level}")
    result = {"level": level, "resamples": resamples, "seed": seed}
    if len(metrics.per_image) < 2:
        names = SCORE_NAMES + AUC_NAMES
        return {**result, "pooled": {n: [math.nan] * 2 for n in names},
                "mean": {n: [math.nan] * 2 for n in names}}
    weights = resample_weights(len(metrics.per_image), resamples, seed)
    pooled = {**pooled_threshold_scores(weights, metrics), **pooled_aucs(weights, metrics)}
    means = per_image_means(weights, metrics.per_image)
    result["pooled"] = {name: _interval(pooled[name], level) for name in SCORE_NAMES + AUC_NAMES}
    result["mean"] = {name: _interval(values, level) for name, values in means.items()}
    return result
