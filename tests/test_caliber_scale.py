"""benchmarks/caliber_scale.py: the FOV-width scale and the two-pass calibre scale,
run on a tiny real model's validation images and checked against a direct computation."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

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
    from retinaseg.caliber import caliber_fov_width, reference_caliber, vessel_caliber
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
    validation = caliber_scale.image_groups(model.bundle, [], str(synthetic_root))
    for row in run["rows"]:
        counts = {"fov": None, "caliber": None}
        widths = []
        for sample in validation[row["dataset"]]:
            first = model.segment(sample, model.trained_range)  # as segment cuts it by default
            working = target_fov_width(sample.fov, 0.0, model.trained_range)
            in_working_px = vessel_caliber(first) * working / fov_diameter(sample.fov)
            width = caliber_fov_width(working, in_working_px, model.reference)
            widths.append(width)
            second = model.segment(sample, [width, width])
            for rule, mask in (("fov", first), ("caliber", second)):
                c = confusion_counts(mask, sample.vessel, sample.fov)
                counts[rule] = c if counts[rule] is None else counts[rule] + c
        for rule in ("fov", "caliber"):
            assert row[f"{rule}_f1"] == pytest.approx(scores_from_counts(counts[rule])["f1"])
        assert row["caliber_fov_px"][0] == pytest.approx(min(widths))
        assert row["caliber_fov_px"][2] == pytest.approx(max(widths))
    text = out.with_suffix(".md").read_text()
    assert "own validation images" in text and "| fov |" in text
