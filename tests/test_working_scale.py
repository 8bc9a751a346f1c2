"""benchmarks/working_scale.py: the top of a model's working FOV range, tried on a tiny
real model's validation images and chosen by the stated rule."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def working_scale():
    spec = importlib.util.spec_from_file_location("working_scale", BENCHMARKS / "working_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["working_scale"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _rows(result: dict) -> dict:
    return {(row["high"], row["dataset"]): row for row in result["rows"]}


def test_each_candidate_is_scored_as_segment_cuts_and_the_rule_chooses(
        working_scale, two_camera_model, synthetic_root, tmp_path):
    from retinaseg.data import fov_diameter, load_dataset
    from retinaseg.metrics import confusion_counts, scores_from_counts
    from retinaseg.hub.pretrained import load_model
    from retinaseg.pipeline.cut import model_cut
    from retinaseg.pipeline.predict import predict_probabilities
    from retinaseg.pipeline.postprocess import model_postprocess, postprocess_mask

    out = tmp_path / "scale"
    assert working_scale.main(["--model", str(two_camera_model), "--data-root", str(synthetic_root),
                               "--highs", "10,40,48", "--out", str(out), "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    rows = _rows(result)
    assert sorted({high for high, _ in rows}) == [32.0, 40.0, 48.0]  # the trained top in, none below low
    bundle = load_model(str(two_camera_model))
    wanted = {entry.split(":", 1)[1] for entry in bundle.meta.extra["val_ids"]
              if entry.startswith("hrf:")}
    samples = [s for s in load_dataset("hrf", "train", synthetic_root) if s.id in wanted]
    assert samples and all(fov_diameter(s.fov) > 48 for s in samples)  # every candidate reduces them
    for high in (40.0, 48.0):
        bundle.meta.fov_range = [bundle.meta.fov_range[0], high]
        counts = None
        for sample in samples:  # as `retinaseg segment` cuts a photo, at this working range
            prob = predict_probabilities(bundle, sample.image, sample.fov)
            mask = postprocess_mask(prob, model_cut(bundle.meta, prob, sample.fov), sample.fov,
                                    model_postprocess(bundle.meta))
            image_counts = confusion_counts(mask, sample.vessel, sample.fov)
            counts = image_counts if counts is None else counts + image_counts
        assert rows[(high, "hrf")]["f1"] == pytest.approx(scores_from_counts(counts)["f1"])
        assert rows[(high, "hrf")]["working_fov_px"] == pytest.approx(high)
    means = {high: sum(rows[(high, name)]["f1"] for name in result["image_counts"])
             for high in (32.0, 40.0, 48.0)}
    best = max(means.values()) / len(result["image_counts"])
    assert result["chosen_high"] == min(high for high, total in means.items()
                                        if total / len(result["image_counts"]) >= best - 0.002)


def test_the_smallest_candidate_within_the_tolerance_is_chosen(working_scale):
    rows = {1280.0: {"a": {"f1": 0.80}, "b": {"f1": 0.70}},
            1792.0: {"a": {"f1": 0.80}, "b": {"f1": 0.739}},
            2048.0: {"a": {"f1": 0.80}, "b": {"f1": 0.740}}}
    assert working_scale.choose_high(rows, 0.002) == 1792.0
    assert working_scale.choose_high(rows, 0.0) == 2048.0
    assert working_scale.choose_high(rows, 0.1) == 1280.0


def test_images_not_for_validation_give_a_table_and_no_choice(
        working_scale, two_camera_model, synthetic_root, tmp_path):
    out = tmp_path / "unseen"
    assert working_scale.main(["--model", str(two_camera_model), "--data-root", str(synthetic_root),
                               "--images", "drive:train", "--highs", "48", "--out", str(out),
                               "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    from retinaseg.data import load_dataset

    count = len(load_dataset("drive", "train", synthetic_root))
    assert result["chosen_high"] is None and result["image_counts"] == {"drive:train": count}
    assert "nothing is chosen" in out.with_suffix(".md").read_text()
