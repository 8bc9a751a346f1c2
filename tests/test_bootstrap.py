import math

import numpy as np
import pytest

from retinaseg import RetinasegError
from retinaseg.evaluation.bootstrap import bootstrap_intervals, resample_weights
from retinaseg.metrics import SegmentationMetrics, evaluate_arrays


def _images(count, seed, size=24):
    """Noisy probability maps of random vessel masks, each image its own difficulty."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        truth = rng.random((size, size)) < 0.15 + 0.1 * rng.random()
        noise = 0.2 + 0.3 * rng.random()
        prob = np.clip(truth * 0.6 + rng.normal(0.2, noise, truth.shape), 0, 1).astype(np.float32)
        fov = np.ones_like(truth)
        fov[:2] = False
        images.append((prob, truth, fov, f"im{i}"))
    return images


def _metrics(images, threshold=0.5):
    metrics = SegmentationMetrics(threshold, keep_images=True)
    for prob, truth, fov, image_id in images:
        metrics.update(prob, truth, fov, image_id)
    return metrics


def test_pooled_intervals_match_re_pooling_the_drawn_images_pixel_by_pixel():
    images = _images(5, seed=1)
    got = bootstrap_intervals(_metrics(images), resamples=40, seed=7)
    weights = resample_weights(len(images), 40, seed=7)
    draws = {"f1": [], "auc_roc": [], "mcc": []}
    for row in weights:
        drawn = [images[i] for i, times in enumerate(row) for _ in range(int(times))]
        # Whole drawn images side by side: a pixel-level pooled evaluation of the resample.
        prob, truth, fov = (np.concatenate([im[k] for im in drawn], axis=1) for k in range(3))
        pooled = evaluate_arrays([prob], [truth], [fov], 0.5)["pooled"]
        for name in draws:
            draws[name].append(pooled[name])
    for name, values in draws.items():
        expected = np.percentile(values, [2.5, 97.5])
        assert got["pooled"][name] == pytest.approx(expected, abs=1e-9), name


def test_mean_intervals_are_percentiles_of_resampled_row_means():
    images = _images(6, seed=2)
    metrics = _metrics(images)
    got = bootstrap_intervals(metrics, resamples=30, seed=3)
    weights = resample_weights(len(images), 30, seed=3)
    f1 = np.array([row["f1"] for row in metrics.per_image])
    means = [np.repeat(f1, row.astype(int)).mean() for row in weights]
    assert got["mean"]["f1"] == pytest.approx(np.percentile(means, [2.5, 97.5]))


def test_identical_images_give_a_zero_width_interval_at_the_point_estimate():
    prob, truth, fov, _ = _images(1, seed=3)[0]
    metrics = _metrics([(prob, truth, fov, f"copy{i}") for i in range(4)])
    intervals = bootstrap_intervals(metrics, resamples=50)
    pooled = metrics.compute()["pooled"]
    for name in ("f1", "auc_roc", "sensitivity"):
        assert intervals["pooled"][name] == pytest.approx([pooled[name]] * 2)


def test_more_images_narrow_the_interval_and_it_holds_the_estimate():
    def width(count):
        metrics = _metrics(_images(count, seed=4))
        low, high = bootstrap_intervals(metrics, resamples=300)["pooled"]["f1"]
        assert low <= metrics.compute()["pooled"]["f1"] <= high
        return high - low

    assert width(40) < width(4)


def test_bootstrap_needs_kept_images_and_reports_nan_for_one_image():
    prob, truth, fov, _ = _images(1, seed=5)[0]
    plain = SegmentationMetrics(0.5)
    plain.update(prob, truth, fov)
    with pytest.raises(RetinasegError, match="keep_images"):
        bootstrap_intervals(plain)
    single = bootstrap_intervals(_metrics([(prob, truth, fov, "only")]))
    assert all(math.isnan(v) for v in single["pooled"]["f1"])
