"""Metrics checked against scikit-learn on FOV pixels, plus edge cases and pooling."""
import math
import time
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from retinaseg.errors import RetinasegError
from retinaseg.metrics import (
    AUC_NAMES,
    SCORE_NAMES,
    Counts,
    ScoreHistogram,
    SegmentationMetrics,
    confusion_counts,
    evaluate_arrays,
    scores_from_counts,
)

SEEDS = [0, 1, 2, 3, 4]
GRID = 2 ** 16  # ScoreHistogram's default resolution


def _image(seed, shape=(24, 20), grid=None):
    """Random prob/truth/fov; truth-correlated probs so scores are not all ~0.5.

    ``grid``: put probabilities on multiples of 1/grid (ties when grid is small).
    """
    rng = np.random.default_rng(seed)
    truth = rng.random(shape) < 0.3
    fov = rng.random(shape) < 0.8
    prob = np.clip(0.35 * truth + 0.65 * rng.random(shape), 0, 1)
    if grid is not None:
        prob = np.round(prob * grid) / grid
    return prob, truth, fov


def _sklearn_scores(truth, pred):
    """Reference scores with the module's documented zero-division conventions."""
    with warnings.catch_warnings():  # sklearn warns on single-label inputs, on purpose here
        warnings.simplefilter("ignore")
        return _sklearn_scores_unchecked(truth, pred)


def _sklearn_scores_unchecked(truth, pred):
    return {
        "accuracy": skm.accuracy_score(truth, pred),
        "sensitivity": skm.recall_score(truth, pred, zero_division=np.nan),
        "specificity": skm.recall_score(truth, pred, pos_label=0, zero_division=np.nan),
        "precision": skm.precision_score(truth, pred, zero_division=np.nan),
        "f1": skm.f1_score(truth, pred, zero_division=1.0),
        "iou": skm.jaccard_score(truth, pred, zero_division=1.0),
        "fpr": 1 - skm.recall_score(truth, pred, pos_label=0, zero_division=np.nan),
        "mcc": skm.matthews_corrcoef(truth, pred),
    }


def _assert_scores(ours, reference, rtol=1e-12):
    for name in SCORE_NAMES:
        np.testing.assert_allclose(ours[name], reference[name], rtol=rtol, atol=1e-12,
                                   err_msg=name)  # NaN == NaN here


def _assert_same_result(a, b):
    """Equal evaluate_arrays results, NaN-aware."""
    for part in ("pooled", "mean", "sd"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            np.testing.assert_array_equal(a[part][key], b[part][key], err_msg=f"{part}.{key}")
    for ra, rb in zip(a["per_image"], b["per_image"], strict=True):
        assert ra.keys() == rb.keys()
        for key in ra:
            np.testing.assert_array_equal(ra[key], rb[key], err_msg=f"per_image.{key}")


# --------------------------------------------------------------------------- counts and scores

@pytest.mark.parametrize("seed", SEEDS)
def test_counts_match_sklearn_confusion_matrix_inside_fov(seed):
    prob, truth, fov = _image(seed)
    counts = confusion_counts(prob >= 0.5, truth, fov)
    tn, fp, fn, tp = skm.confusion_matrix(truth[fov], prob[fov] >= 0.5, labels=[0, 1]).ravel()
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (tp, fp, fn, tn)
    assert all(type(v) is int for v in (counts.tp, counts.fp, counts.fn, counts.tn))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_scores_match_sklearn_inside_fov(seed, threshold):
    prob, truth, fov = _image(seed)
    pred = prob >= threshold
    ours = scores_from_counts(confusion_counts(pred, truth, fov))
    _assert_scores(ours, _sklearn_scores(truth[fov], pred[fov]))


def test_pixels_outside_fov_are_ignored():
    prob, truth, fov = _image(0)
    garbage_prob, garbage_truth = prob.copy(), truth.copy()
    garbage_prob[~fov], garbage_truth[~fov] = 1.0, False  # all false positives if counted
    clean = evaluate_arrays([prob], [truth], [fov])
    dirty = evaluate_arrays([garbage_prob], [garbage_truth], [fov])
    _assert_same_result(clean, dirty)
    whole = evaluate_arrays([garbage_prob], [garbage_truth], [np.ones_like(fov)])
    assert whole["pooled"]["precision"] < clean["pooled"]["precision"]


def test_threshold_is_inclusive():
    prob = np.array([0.5, 0.5, 0.25, 0.75])
    truth = np.array([True, False, False, True])
    counts = SegmentationMetrics(0.5)
    counts.update(prob, truth, np.ones(4, bool))
    assert counts.counts == Counts(tp=2, fp=1, fn=0, tn=1)


def test_accepts_zero_one_masks_like_bool():
    prob, truth, fov = _image(1)
    as_bool = evaluate_arrays([prob], [truth], [fov])
    as_uint8 = evaluate_arrays([prob], [truth.astype(np.uint8)], [fov.astype(np.float32)])
    _assert_same_result(as_bool, as_uint8)


EDGE_CASES = {
    # name: (truth, pred) over 6 FOV pixels
    "all_background_truth": ([0, 0, 0, 0, 0, 0], [0, 1, 0, 1, 0, 0]),
    "all_vessel_prediction": ([0, 1, 1, 0, 0, 1], [1, 1, 1, 1, 1, 1]),
    "no_predicted_positives": ([0, 1, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]),
    "perfect_prediction": ([0, 1, 1, 0, 0, 1], [0, 1, 1, 0, 0, 1]),
    "both_empty": ([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]),
    "all_vessel_truth": ([1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1]),
}

EXPECTED_EDGE = {  # the documented conventions, spelled out
    "all_background_truth": {"sensitivity": math.nan, "precision": 0.0, "f1": 0.0, "mcc": 0.0},
    "all_vessel_prediction": {"specificity": 0.0, "fpr": 1.0, "sensitivity": 1.0, "mcc": 0.0},
    "no_predicted_positives": {"precision": math.nan, "f1": 0.0, "iou": 0.0, "mcc": 0.0},
    "perfect_prediction": {name: 1.0 for name in SCORE_NAMES if name != "fpr"} | {"fpr": 0.0},
    "both_empty": {"f1": 1.0, "iou": 1.0, "precision": math.nan, "sensitivity": math.nan,
                   "specificity": 1.0, "accuracy": 1.0, "mcc": 0.0},
    "all_vessel_truth": {"specificity": math.nan, "fpr": math.nan, "precision": 1.0},
}


@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_cases_match_sklearn_and_conventions(case):
    truth, pred = (np.array(a, dtype=bool) for a in EDGE_CASES[case])
    ours = scores_from_counts(confusion_counts(pred, truth, np.ones(6, bool)))
    _assert_scores(ours, _sklearn_scores(truth, pred))
    for name, expected in EXPECTED_EDGE[case].items():
        np.testing.assert_equal(ours[name], expected, err_msg=name)


def test_mcc_does_not_overflow_on_huge_counts():
    counts = Counts(tp=6_000_000_000, fp=1_000_000_000, fn=2_000_000_000, tn=5_000_000_000)
    num = counts.tp * counts.tn - counts.fp * counts.fn  # exact Python ints; int64 overflows
    den = (counts.tp + counts.fp) * (counts.tp + counts.fn) * (counts.tn + counts.fp) \
        * (counts.tn + counts.fn)
    expected = num / math.sqrt(den)
    assert scores_from_counts(counts)["mcc"] == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- AUCs and curves

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("grid", [GRID, 8], ids=["fine_grid", "tied_grid"])
def test_aucs_equal_sklearn_on_the_bin_grid(seed, grid):
    prob, truth, fov = _image(seed, grid=grid)
    hist = ScoreHistogram().update(prob, truth, fov)
    assert hist.auc_roc() == pytest.approx(skm.roc_auc_score(truth[fov], prob[fov]),
                                           rel=0, abs=1e-12)
    assert hist.auc_pr() == pytest.approx(skm.average_precision_score(truth[fov], prob[fov]),
                                          rel=0, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_aucs_close_to_sklearn_off_the_grid(seed):
    prob, truth, fov = _image(seed, shape=(100, 100))
    hist = ScoreHistogram().update(prob, truth, fov)
    assert hist.auc_roc() == pytest.approx(skm.roc_auc_score(truth[fov], prob[fov]), abs=1e-4)
    assert hist.auc_pr() == pytest.approx(
        skm.average_precision_score(truth[fov], prob[fov]), abs=1e-4)


@pytest.mark.parametrize("grid", [GRID, 8])
def test_curves_equal_sklearn_on_the_bin_grid(grid):
    prob, truth, fov = _image(7, grid=grid)
    hist = ScoreHistogram().update(prob, truth, fov)
    for ours, theirs in zip(hist.roc_curve(),
                            skm.roc_curve(truth[fov], prob[fov], drop_intermediate=False)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    for ours, theirs in zip(hist.pr_curve(), skm.precision_recall_curve(truth[fov], prob[fov])):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_aucs_undefined_without_both_classes():
    prob = np.array([0.1, 0.5, 0.9, 0.5])
    fov = np.ones(4, bool)
    no_vessel = ScoreHistogram().update(prob, np.zeros(4, bool), fov)
    assert math.isnan(no_vessel.auc_roc()) and math.isnan(no_vessel.auc_pr())
    all_vessel = ScoreHistogram().update(prob, np.ones(4, bool), fov)
    assert math.isnan(all_vessel.auc_roc())
    assert all_vessel.auc_pr() == 1.0 == skm.average_precision_score(np.ones(4), prob)


def test_float32_probs_bin_like_their_float64_values():
    prob, truth, fov = _image(3, shape=(64, 64))
    prob32 = prob.astype(np.float32)
    a = ScoreHistogram().update(prob32, truth, fov)
    b = ScoreHistogram().update(prob32.astype(np.float64), truth, fov)
    np.testing.assert_array_equal(a.pos, b.pos)
    np.testing.assert_array_equal(a.neg, b.neg)
    assert a.pos[-1] + a.neg[-1] == np.count_nonzero(prob32[fov] == 1.0)  # 1.0 has its own bin


# --------------------------------------------------------------------------- best threshold

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["f1", "mcc"])
def test_best_threshold_score_is_reproduced_with_ge(seed, dtype, metric):
    prob, truth, fov = _image(seed, grid=8 if seed % 2 else None)  # odd seeds: heavy ties
    prob = prob.astype(dtype)
    threshold, claimed = ScoreHistogram().update(prob, truth, fov).best_threshold(metric)
    assert 0 < threshold <= 1
    recomputed = scores_from_counts(confusion_counts(prob >= threshold, truth, fov))[metric]
    assert claimed == recomputed


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("bits", [16, 3], ids=["sparse_bins", "every_bin_occupied"])
def test_best_threshold_is_the_maximum_over_all_thresholds(seed, bits):
    prob, truth, fov = _image(seed, grid=8)
    threshold, best = ScoreHistogram(bits).update(prob, truth, fov).best_threshold("f1")
    f1_at = {t: skm.f1_score(truth[fov], prob[fov] >= t, zero_division=1.0)
             for t in np.unique(prob[fov]) if t > 0}
    assert best == pytest.approx(max(f1_at.values()), rel=1e-12)
    assert best == pytest.approx(f1_at[threshold], rel=1e-12)  # a score seen, not a gap


@pytest.mark.parametrize("seed", SEEDS)
def test_specificity_floor_gives_the_best_f1_among_specific_enough_thresholds(seed):
    prob, truth, fov = _image(seed, grid=8)
    hist = ScoreHistogram(3).update(prob, truth, fov)
    free, _ = hist.best_threshold("f1")
    spec_at_free = skm.recall_score(truth[fov], prob[fov] >= free, pos_label=False)
    floor = (spec_at_free + 1) / 2  # stricter than the free choice, still reachable
    threshold, best = hist.best_threshold("f1", min_specificity=floor)
    allowed = {}
    for t in np.unique(prob[fov]):
        pred = prob[fov] >= t
        if t > 0 and skm.recall_score(truth[fov], pred, pos_label=False) >= floor:
            allowed[t] = skm.f1_score(truth[fov], pred, zero_division=1.0)
    assert threshold >= free and threshold in allowed
    assert best == pytest.approx(max(allowed.values()), rel=1e-12)
    with pytest.raises(RetinasegError, match="specificity"):
        ScoreHistogram().update(prob, 1 - truth, fov).best_threshold("f1", min_specificity=1.5)


@pytest.mark.parametrize("seed", SEEDS)
def test_mean_threshold_maximises_the_mean_f1_of_the_datasets_each_counted_once(seed):
    from retinaseg.metrics import best_mean_threshold

    # a small "dataset" and one with 16x the pixels: pooling would follow the big one
    small, big = _image(seed, shape=(16, 16), grid=8), _image(seed + 100, shape=(64, 64), grid=8)
    hists = [ScoreHistogram(3).update(*small), ScoreHistogram(3).update(*big)]
    threshold, mean_f1 = best_mean_threshold(hists, "f1")
    mean_at = {}
    for t in np.arange(1, 9) / 8:
        mean_at[t] = np.mean([skm.f1_score(truth[fov], prob[fov] >= t, zero_division=1.0)
                              for prob, truth, fov in (small, big)])
    assert mean_f1 == pytest.approx(max(mean_at.values()), rel=1e-12)
    assert mean_f1 == pytest.approx(mean_at[threshold], rel=1e-12)
    # one histogram: the pooled rule exactly
    assert best_mean_threshold(hists[1:], "f1") == hists[1].best_threshold("f1")
    with pytest.raises(RetinasegError, match="same number of bins"):
        best_mean_threshold([hists[0], ScoreHistogram(4).update(*big)])


def test_best_threshold_rejects_unknown_metric():
    hist = ScoreHistogram().update(*_image(0))
    with pytest.raises(RetinasegError, match="f1"):
        hist.best_threshold("auc")


# --------------------------------------------------------------------------- pooling

def _three_images():
    return [_image(seed, shape=shape, grid=GRID) for seed, shape in
            [(10, (20, 16)), (11, (12, 30)), (12, (8, 8))]]


def test_pooled_counts_equal_counts_of_concatenated_pixels():
    images = _three_images()
    pooled = sum((confusion_counts(p >= 0.5, t, f) for p, t, f in images), Counts())
    flat = [np.concatenate([im[i].ravel() for im in images]) for i in range(3)]
    assert pooled == confusion_counts(flat[0] >= 0.5, flat[1], flat[2])


def test_histogram_merge_equals_histogram_of_concatenation():
    images = _three_images()
    parts = [ScoreHistogram().update(p, t, f) for p, t, f in images]
    before = parts[0].pos.copy()
    merged = parts[0] + parts[1] + parts[2]
    flat = [np.concatenate([im[i].ravel() for im in images]) for i in range(3)]
    whole = ScoreHistogram().update(*flat)
    np.testing.assert_array_equal(merged.pos, whole.pos)
    np.testing.assert_array_equal(merged.neg, whole.neg)
    np.testing.assert_array_equal(parts[0].pos, before)  # merging leaves operands alone


def test_evaluate_arrays_pools_pixels_and_averages_images():
    images = _three_images()
    probs, truths, fovs = zip(*images)
    result = evaluate_arrays(probs, truths, fovs, threshold=0.5, ids=["a", "b", "c"])
    p, t = (np.concatenate([x[f] for x, f in zip(arrays, fovs)]) for arrays in (probs, truths))
    _assert_scores(result["pooled"], _sklearn_scores(t, p >= 0.5))
    assert result["pooled"]["auc_roc"] == pytest.approx(skm.roc_auc_score(t, p), abs=1e-12)
    assert result["pooled"]["auc_pr"] == pytest.approx(skm.average_precision_score(t, p),
                                                       abs=1e-12)
    assert [row["id"] for row in result["per_image"]] == ["a", "b", "c"]
    for row, (prob, truth, fov) in zip(result["per_image"], images):
        _assert_scores(row, _sklearn_scores(truth[fov], prob[fov] >= 0.5))
        assert row["auc_roc"] == pytest.approx(skm.roc_auc_score(truth[fov], prob[fov]),
                                               abs=1e-12)
    for name in SCORE_NAMES + AUC_NAMES:
        values = [row[name] for row in result["per_image"]]
        assert result["mean"][name] == pytest.approx(np.mean(values), rel=1e-12)
        assert result["sd"][name] == pytest.approx(np.std(values, ddof=1), rel=1e-12)


def test_result_keys_and_threshold():
    result = evaluate_arrays(*zip(*_three_images()), threshold=0.25)
    row_keys = {*SCORE_NAMES, *AUC_NAMES, "threshold"}
    assert set(result) == {"pooled", "per_image", "mean", "sd"}
    assert set(result["pooled"]) == row_keys and result["pooled"]["threshold"] == 0.25
    assert all(set(row) == row_keys | {"id"} for row in result["per_image"])
    assert set(result["mean"]) == set(result["sd"]) == {*SCORE_NAMES, *AUC_NAMES}
    assert [row["id"] for row in result["per_image"]] == ["0", "1", "2"]


def test_single_image_sd_is_nan():
    result = evaluate_arrays(*zip(_image(0)))
    assert all(math.isnan(v) for v in result["sd"].values())
    assert result["mean"]["f1"] == result["pooled"]["f1"] == result["per_image"][0]["f1"]


def test_streaming_class_equals_evaluate_arrays():
    images = _three_images()
    metrics = SegmentationMetrics(threshold=0.4)
    for i, (prob, truth, fov) in enumerate(images):
        metrics.update(prob, truth, fov, id=f"im{i}")
    streamed = metrics.compute()
    _assert_same_result(streamed, evaluate_arrays(*zip(*images), threshold=0.4,
                                                  ids=["im0", "im1", "im2"]))
    assert streamed["pooled"]["threshold"] == 0.4


def test_drive_sized_evaluation_is_fast():
    rng = np.random.default_rng(0)
    shape = (584, 565)
    truth = rng.random(shape) < 0.12
    fov = rng.random(shape) < 0.7
    prob = rng.random(shape, dtype=np.float32)
    start = time.perf_counter()
    evaluate_arrays([prob] * 20, [truth] * 20, [fov] * 20)
    assert time.perf_counter() - start < 3.0  # ~0.3 s; a per-pixel Python loop takes minutes


# --------------------------------------------------------------------------- input errors

def test_empty_fov_is_an_error_naming_the_image():
    prob, truth, fov = _image(0)
    with pytest.raises(RetinasegError, match="image '07': field of view is empty"):
        evaluate_arrays([prob, prob], [truth, truth], [fov, np.zeros_like(fov)], ids=["01", "07"])
    with pytest.raises(RetinasegError, match="field of view is empty"):
        confusion_counts(prob > 0.5, truth, np.zeros_like(fov))


def test_mismatched_shapes_name_both_shapes():
    prob, truth, fov = _image(0, shape=(24, 20))
    with pytest.raises(RetinasegError, match=r"prob \(24, 20\).*truth \(20, 24\)"):
        evaluate_arrays([prob], [truth.T], [fov])
    with pytest.raises(RetinasegError, match=r"fov \(24, 21\)"):
        confusion_counts(prob > 0.5, truth, np.ones((24, 21), bool))


@pytest.mark.parametrize("bad, message", [(math.nan, "finite"), (math.inf, "finite"),
                                          (1.5, r"\[0, 1\]"), (-0.1, r"\[0, 1\]")])
def test_bad_probabilities_are_errors(bad, message):
    prob, truth, fov = _image(0)
    prob[3, 4] = bad
    with pytest.raises(RetinasegError, match=message):
        evaluate_arrays([prob], [truth], [fov])
    with pytest.raises(RetinasegError, match=message):
        ScoreHistogram().update(prob, truth, fov)


@pytest.mark.parametrize("threshold", [0, -0.5, 1.01, math.nan, "high"])
def test_bad_threshold_is_an_error(threshold):
    with pytest.raises(RetinasegError, match=r"threshold must be in \(0, 1\]"):
        SegmentationMetrics(threshold)


def test_non_binary_masks_are_errors():
    prob, truth, fov = _image(0)
    with pytest.raises(RetinasegError, match="truth must be binary"):
        evaluate_arrays([prob], [truth.astype(np.uint8) * 255], [fov])
    with pytest.raises(RetinasegError, match="pred must be binary"):
        confusion_counts(prob, truth, fov)


def test_list_length_mismatch_and_duplicate_ids_are_errors():
    prob, truth, fov = _image(0)
    with pytest.raises(RetinasegError, match="must pair up"):
        evaluate_arrays([prob, prob], [truth], [fov, fov])
    with pytest.raises(RetinasegError, match="already added"):
        evaluate_arrays([prob, prob], [truth, truth], [fov, fov], ids=["01", "01"])
    with pytest.raises(RetinasegError, match="no images"):
        SegmentationMetrics().compute()


def test_counts_at_uses_the_same_threshold_rule():
    prob, truth, fov = _image(2, grid=8)
    hist = ScoreHistogram().update(prob, truth, fov)
    assert hist.counts_at(0.5) == confusion_counts(prob >= 0.5, truth, fov)
    with pytest.raises(RetinasegError, match="not a multiple"):
        hist.counts_at(0.3)


def test_coarsened_histogram_is_exact_on_its_own_grid_and_round_trips_through_json():
    import json

    rng = np.random.default_rng(11)
    truth = rng.random((60, 70)) < 0.2
    prob = np.clip(truth * 0.5 + rng.random(truth.shape) * 0.6, 0, 1)
    prob[0, :5] = 1.0  # the lone top bin must survive coarsening
    fov = np.ones_like(truth)
    fine = ScoreHistogram(16).update(prob, truth, fov)
    coarse = fine.coarsened(8)
    assert (coarse.n_pos, coarse.n_neg) == (fine.n_pos, fine.n_neg)
    for threshold in (1 / 256, 0.25, 100 / 256, 1.0):
        assert coarse.counts_at(threshold) == fine.counts_at(threshold)
    assert abs(coarse.auc_roc() - fine.auc_roc()) <= 2 ** -8
    thresholds, sweep = coarse.scores_sweep()
    k = 64  # threshold 0.25
    assert thresholds[k - 1] == 0.25
    assert sweep["f1"][k - 1] == pytest.approx(scores_from_counts(fine.counts_at(0.25))["f1"])
    back = ScoreHistogram.from_dict(json.loads(json.dumps(coarse.to_dict())))
    assert back.auc_roc() == coarse.auc_roc() and back.bits == 8
    with pytest.raises(RetinasegError, match="bins"):
        ScoreHistogram.from_dict({"bits": 8, "pos": [0] * 3, "neg": [0] * 3})
    with pytest.raises(RetinasegError, match="coarsen"):
        coarse.coarsened(12)


def test_the_functional_histogram_core_matches_sklearn_without_the_class():
    from retinaseg.metrics import (
        auc_pr_of_bins,
        auc_roc_of_bins,
        best_threshold_of_bins,
        bin_pixels,
        coarsen_bins,
    )

    rng = np.random.default_rng(7)
    truth = rng.random(5000) < 0.3
    prob = np.clip(truth * 0.35 + rng.random(5000) * 0.65, 0, 1)
    prob = np.round(prob * 2**10) / 2**10  # on the grid: AUCs exact
    pos, neg = bin_pixels(prob, truth, bits=10)
    assert pos.sum() == truth.sum() and neg.sum() == (~truth).sum()
    assert auc_roc_of_bins(pos, neg) == pytest.approx(skm.roc_auc_score(truth, prob), abs=1e-12)
    assert auc_pr_of_bins(pos, neg) == pytest.approx(skm.average_precision_score(truth, prob),
                                                     abs=1e-12)
    threshold, best = best_threshold_of_bins(pos, neg, "f1")
    assert best == pytest.approx(skm.f1_score(truth, prob >= threshold), abs=1e-12)
    coarse = coarsen_bins(pos, 10, 4)
    assert coarse.size == 2**4 + 1 and coarse.sum() == pos.sum() and coarse[-1] == pos[-1]
