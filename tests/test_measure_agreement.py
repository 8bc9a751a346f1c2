"""Agreement statistics against textbook values and an independent implementation."""
import math

import numpy as np
import pytest
from scipy.stats import pearsonr

from retinaseg.measure.agreement import agreement, bland_altman, icc_2_1, pearson_r

# Shrout & Fleiss (1979)'s worked example: 6 targets rated by 4 judges; they give
# ICC(1,1) = .17, ICC(2,1) = .29 and ICC(3,1) = .71 for it.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
                 [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_icc_2_1_matches_shrout_and_fleiss_worked_example():
    assert icc_2_1(SHROUT_FLEISS) == pytest.approx(0.29, abs=0.005)


def test_icc_is_one_for_identical_raters_and_lower_for_an_offset_one():
    rng = np.random.default_rng(0)
    truth = rng.normal(10, 2, size=30)
    assert icc_2_1(np.stack([truth, truth], 1)) == pytest.approx(1.0)
    offset = icc_2_1(np.stack([truth, truth + 2], 1))
    assert offset < 0.8 and pearson_r(truth, truth + 2) == pytest.approx(1.0)


def test_pearson_matches_scipy_and_skips_undefined_pairs():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=25), rng.normal(size=25)
    assert pearson_r(a, b) == pytest.approx(pearsonr(a, b)[0])
    a_nan, b_nan = np.append(a, np.nan), np.append(b, 3.0)
    assert pearson_r(a_nan, b_nan) == pytest.approx(pearsonr(a, b)[0])
    assert math.isnan(pearson_r([1, 2], [3, 4]))  # too few pairs
    assert math.isnan(pearson_r([1, 1, 1], [1, 2, 3]))  # no spread


def test_bland_altman_bias_and_limits():
    a = np.array([10.0, 12.0, 14.0, 16.0])
    b = a - np.array([1.0, 2.0, 3.0, 2.0])
    stats = bland_altman(a, b)
    sd = np.std([1.0, 2.0, 3.0, 2.0], ddof=1)
    assert stats["bias"] == pytest.approx(2.0)
    assert (stats["loa_low"], stats["loa_high"]) == pytest.approx((2 - 1.96 * sd, 2 + 1.96 * sd))


def test_agreement_counts_the_pairs_it_used():
    result = agreement([1.0, 2.0, np.nan, 4.0, 5.0], [1.5, 2.5, 3.0, np.nan, 5.5])
    assert result["n"] == 3 and result["bias"] == pytest.approx(-0.5)
    assert result["mean_a"] == pytest.approx(8 / 3)
    empty = agreement([np.nan], [1.0])
    assert empty["n"] == 0 and math.isnan(empty["icc_2_1"])


def _benchmark_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "measure_agreement.py"
    spec = importlib.util.spec_from_file_location("measure_agreement", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_tables_every_measure_and_renders_undefined_as_dashes():
    bench = _benchmark_module()
    rng = np.random.default_rng(2)

    def rater(shift):
        return {m: float(rng.normal(10 + shift)) for m in bench.MEASURES}
    images = [{"id": str(i), "speck_px": 30, "model_objects_dropped": 5, "fov_estimated": False,
               "human": rater(0), "model": rater(1), "model_despeckled": rater(1),
               "observer2": {**rater(0), "width_median_px": 4.0}} for i in range(6)]
    table = bench.dataset_agreement(images)
    assert set(table) == set(bench.MEASURES)
    assert math.isnan(table["width_median_px"]["observer2"]["pearson_r"])  # never varies
    part = {"images": images, "agreement": table, "wall_s": 1.0, "median_inference_s": 0.1,
            "median_measure_s_per_mask": 0.1, "second_observer": "2nd_manual",
            "fov_estimated": False}
    text = bench.dataset_markdown("drive", part)
    assert text.count("\n| ") == len(bench.MEASURES) + 1
    assert "| - /" in text.split("width_median_px")[1].splitlines()[0]
    safe = bench.json_safe({"a": [math.nan, 1.0], "b": {"c": math.inf}})
    assert safe == {"a": [None, 1.0], "b": {"c": None}}


def test_the_models_mask_is_cut_as_asked(tiny_model, synthetic_root):
    """``--threshold``: the model's mask is its probabilities cut at that number, or at
    each photo's Otsu cut; the rule reaches every photo's measures."""
    from retinaseg.data import load_dataset
    from retinaseg.hub.load import load_model
    from retinaseg.measure import measure_vessels
    from retinaseg.pipeline.cut import otsu_cut, rule_of
    from retinaseg.pipeline.predict import predict_probabilities

    bench = _benchmark_module()
    bundle = load_model(str(tiny_model))
    sample = load_dataset("drive", "test", synthetic_root)[0]
    prob = predict_probabilities(bundle, sample.image, sample.fov)
    fractions = {}
    for asked in ("0.3", "0.7", "otsu"):
        row = bench.measure_image(bundle, sample, None, rule_of(asked, bundle.meta))
        cut = otsu_cut(prob, sample.fov, bundle.meta.threshold) if asked == "otsu" else float(asked)
        expected = measure_vessels(prob >= cut, sample.fov,  # as the benchmark: all objects
                                   min_object_px=0).as_row()["vessel_area_fraction"]
        assert row["model"]["vessel_area_fraction"] == pytest.approx(expected)
        fractions[asked] = expected
    assert fractions["0.3"] > fractions["0.7"]  # the cuts differ, so the check can fail
