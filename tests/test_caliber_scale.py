"""benchmarks/caliber_scale.py: the FOV-width scale and the two-pass calibre scale,
run on a tiny real model's validation images and checked against a direct computation."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def caliber_scale():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("caliber_scale", BENCHMARKS / "caliber_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["caliber_scale"] = module
    spec.loader.exec_module(module)
    return module


def test_both_rules_are_scored_as_computed_directly(caliber_scale, two_camera_model,
                                                    synthetic_root, tmp_path):
    from retinaseg.pipeline.caliber import (DEAD_ZONE, caliber_fov_width, reference_caliber,
                                   vessel_caliber)
    from retinaseg.data import fov_diameter
    from retinaseg.data.geometry import target_fov_width
    from retinaseg.metrics import confusion_counts, scores_from_counts

    out = tmp_path / "caliber"
    assert caliber_scale.main(["--model", str(two_camera_model), "--data-root",
                               str(synthetic_root), "--out", str(out), "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    (run,) = result["runs"]
    assert run["holdout"] is None and {r["group"] for r in run["rows"]} == {"validation"}
    assert run["reference_caliber_px"] == pytest.approx(
        reference_caliber(run["validation_calibers"]))
    assert result["summary"]["fov"]["unseen"] is None

    model = caliber_scale.TwoPass(str(two_camera_model))
    model.reference = run["reference_caliber_px"]
    low, high = run["band_px"]
    medians = [float(np.median(v)) for v in run["validation_calibers"].values()]
    assert (low, high) == (pytest.approx(min(medians)), pytest.approx(max(medians)))
    validation = caliber_scale.image_groups(model.bundle, [], str(synthetic_root))
    for row in run["rows"]:
        counts = {"fov": None, "caliber": None, "band": None, "mean": None}
        widths = []
        for sample in validation[row["dataset"]]:
            first_prob = model.probabilities(sample, model.trained_range)
            first = model.segment(sample, model.trained_range)  # as segment cuts it by default
            working = target_fov_width(sample.fov, 0.0, model.trained_range)
            in_working_px = vessel_caliber(first) * working / fov_diameter(sample.fov)
            width = caliber_fov_width(working, in_working_px, model.reference)
            widths.append(width)
            second = model.segment(sample, [width, width])
            mean = model.cut(sample, (first_prob + model.probabilities(sample, [width, width])) / 2)
            # band: brought to the nearest edge, only when that moves it more than the dead zone
            band_width = caliber_fov_width(working, in_working_px,
                                           min(max(in_working_px, low), high))
            banded = (model.segment(sample, [band_width, band_width])
                      if max(band_width / working, working / band_width) > DEAD_ZONE else first)
            for rule, mask in (("fov", first), ("caliber", second), ("band", banded),
                               ("mean", mean)):
                c = confusion_counts(mask, sample.vessel, sample.fov)
                counts[rule] = c if counts[rule] is None else counts[rule] + c
        for rule in ("fov", "caliber", "band", "mean"):
            assert row[f"{rule}_f1"] == pytest.approx(scores_from_counts(counts[rule])["f1"])
        assert row["caliber_fov_px"][0] == pytest.approx(min(widths))
        assert row["caliber_fov_px"][2] == pytest.approx(max(widths))
    text = out.with_suffix(".md").read_text()
    assert "own validation images" in text and "| fov |" in text


def _photo(first, second, fov_counts, caliber_counts):
    return {"first_fov_px": first, "second_fov_px": second,
            "fov_counts": fov_counts, "caliber_counts": caliber_counts}


def test_dead_zone_sends_only_far_photos_to_the_second_pass(caliber_scale):
    near = _photo(1000, 1100, [10, 0, 10, 80], [20, 0, 0, 80])   # 1.1x: inside a 1.2 zone
    far = _photo(1000, 500, [0, 10, 10, 80], [10, 0, 10, 80])    # 2x smaller: outside
    row = {"photos": [near, far]}
    assert caliber_scale.twice(far, 1.5) and not caliber_scale.twice(near, 1.2)
    # zone 1.2: near keeps its first pass, far takes its second -> tp 20, fp 0, fn 20
    assert caliber_scale.zone_f1(row, 1.2) == pytest.approx(2 * 20 / (2 * 20 + 0 + 20))
    # zone 1: both take the second pass -> tp 30, fp 0, fn 10
    assert caliber_scale.zone_f1(row, 1.0) == pytest.approx(2 * 30 / (2 * 30 + 10))


def test_chosen_zone_prefers_the_wider_of_near_ties(caliber_scale):
    table = [{"zone": 1.0, "average": 0.800}, {"zone": 1.2, "average": 0.7995},
             {"zone": 1.5, "average": 0.790}]
    assert caliber_scale.chosen_zone(table) == 1.2
    assert caliber_scale.chosen_zone([{"zone": 1.0, "average": None}]) is None


def test_the_shipped_caliber_scale_is_the_benchmarks_mean_of_both_passes(
        caliber_scale, two_camera_model, synthetic_root, tmp_path):
    """What ``--scale caliber`` does (retinaseg.segment) is what the benchmark scores as
    ``mean`` at the shipped dead zone, photo by photo, so its figures are the option's."""
    from retinaseg.pipeline.caliber import DEAD_ZONE
    from retinaseg.pipeline.cut import OTSU
    from retinaseg.metrics import confusion_counts
    from retinaseg.pipeline.segment import segment_at_scale

    out = tmp_path / "caliber"
    assert caliber_scale.main(["--model", str(two_camera_model), "--data-root",
                               str(synthetic_root), "--out", str(out), "--allow-dirty"]) == 0
    (run,) = json.loads(out.with_suffix(".json").read_text())["runs"]
    model = caliber_scale.TwoPass(str(two_camera_model))
    bundle = model.bundle
    bundle.meta.caliber_px = run["reference_caliber_px"]
    validation = caliber_scale.image_groups(bundle, [], str(synthetic_root))
    bundle.meta.fov_range = model.trained_range
    checked = {True: 0, False: 0}
    for row in run["rows"]:
        for photo, sample in zip(row["photos"], validation[row["dataset"]]):
            shipped = segment_at_scale(bundle, sample.image, sample.fov, threshold=OTSU,
                                       scale="caliber")
            twice = caliber_scale.twice(photo, DEAD_ZONE)
            c = confusion_counts(shipped.mask, sample.vessel, sample.fov)
            assert [c.tp, c.fp, c.fn, c.tn] == photo["mean_counts" if twice else "fov_counts"]
            checked[twice] += 1
    assert checked[True] >= 1  # the check reached a photo given its second pass
