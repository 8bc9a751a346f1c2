"""benchmarks/general_speed.py on two tiny real models and a synthetic photo: both are
timed as real ``retinaseg segment`` processes and by their forward pass, alternated."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("dataset", ["drive", "hrf"])
def test_general_speed_times_both_models_on_the_chosen_photo(
        dataset, tiny_model, two_camera_model, synthetic_root, tmp_path):
    spec = importlib.util.spec_from_file_location("general_speed",
                                                  BENCHMARKS / "general_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    models = [str(two_camera_model), str(tiny_model)]
    out = tmp_path / "speed"
    assert module.main(["--models", *models, "--photo", dataset, "--data-root",
                        str(synthetic_root), "--runs", "2", "--forward-runs", "2",
                        "--out", str(out), "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    photo = module.test_photo(dataset, synthetic_root)
    assert result["photo"] == str(photo) and result["photo_dataset"] == dataset
    height, width = module.read_photo(photo).rgb.shape[:2]
    assert result["photo_size"] == f"{width}x{height}"
    for part in (result["whole_process"], result["forward"]):
        assert all(len(times) == 2 and min(times) > 0 for times in part["all_s"].values())
        medians = part["median_s"]
        assert part["ratio"] == pytest.approx(medians[models[0]] / medians[models[1]])
    assert f"on a {dataset.upper()}-size photo" in out.with_suffix(".md").read_text()
