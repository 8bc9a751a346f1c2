"""The quality verdict: each reason on a photo degraded to show it, and its columns in a real job."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from synthetic import synthetic_fundus

from retinaseg.cli import main
from retinaseg.data import estimate_fov
from retinaseg.quality.signals import (
    circle_outside_share,
    measure_fov_cut_off,
    measure_sharpness,
)
from retinaseg.quality.verdict import (
    FOV_CUT_OFF_GOOD,
    GOOD,
    LIMITS,
    REJECT,
    grade_photo,
    measure_signals,
)

RESULT = Path(__file__).resolve().parents[1] / "benchmarks/results/quality_verdict.json"
SIZE = 1000  # a FOV about twice as wide as the one sharpness is measured at


@pytest.fixture(scope="module")
def fundus() -> tuple[np.ndarray, np.ndarray]:
    image, vessel, _ = synthetic_fundus(SIZE, SIZE, seed=3)
    return image, vessel


def verdict_of(image: np.ndarray, prob: np.ndarray | None = None):
    fov = estimate_fov(image)
    return grade_photo(measure_signals(image, fov, prob))


def confident(vessel: np.ndarray) -> np.ndarray:
    return np.where(vessel, 0.97, 0.02).astype(np.float32)


def test_a_sharp_well_exposed_whole_fundus_is_good(fundus):
    image, vessel = fundus
    verdict = verdict_of(image, confident(vessel))
    assert verdict.grade == GOOD and verdict.reasons == ()


def test_the_same_photo_blurred_is_rejected_as_out_of_focus(fundus):
    blurred = np.asarray(Image.fromarray(fundus[0]).filter(ImageFilter.GaussianBlur(8)))
    verdict = verdict_of(blurred)
    assert verdict.grade == REJECT and verdict.codes[0] == "out_of_focus"
    assert verdict.reasons[0].startswith("out_of_focus: sharpness ")


@pytest.mark.parametrize("gain, code", [(0.2, "under_exposed"), (3.0, "over_exposed")])
def test_under_and_over_exposure_are_rejected(fundus, gain, code):
    image = np.clip(fundus[0] * gain, 0, 255).astype(np.uint8)
    verdict = verdict_of(image)
    assert verdict.grade == REJECT and code in verdict.codes


def test_a_photo_with_half_its_fov_outside_the_frame_is_cut_off(fundus):
    image = np.ascontiguousarray(fundus[0][:, SIZE // 2:])  # the left half of the disc is gone
    assert measure_fov_cut_off(estimate_fov(image)) == pytest.approx(0.5, abs=0.03)
    verdict = verdict_of(image)
    assert verdict.grade == REJECT and verdict.codes[0] == "fov_cut_off"


def test_a_camera_mask_cut_at_top_and_bottom_is_measured_and_still_good():
    """HRF's camera cuts its FOV circle at the top and bottom: a normal photo."""
    rows, columns = np.mgrid[:300, :500]
    fov = np.hypot(rows - 150, columns - 250) <= 200  # radius 200 in a 300 px high frame
    expected = circle_outside_share((150.0, 250.0, 200.0), (300, 500))
    assert 0.1 < expected < FOV_CUT_OFF_GOOD
    assert measure_fov_cut_off(fov) == pytest.approx(expected, abs=0.02)


def test_an_undecided_probability_map_is_low_confidence(fundus):
    image, vessel = fundus
    verdict = verdict_of(image, np.full(vessel.shape, 0.5, np.float32))
    assert verdict.grade == REJECT and verdict.codes[0] == "low_confidence"


def test_sharpness_does_not_depend_on_resolution(fundus):
    image = fundus[0]
    double = np.asarray(Image.fromarray(image).resize((2 * SIZE, 2 * SIZE),
                                                      Image.Resampling.LANCZOS))
    small = measure_sharpness(image, estimate_fov(image))
    large = measure_sharpness(double, estimate_fov(double))
    assert large == pytest.approx(small, rel=0.15)


def test_thresholds_in_the_code_are_the_ones_the_benchmark_chose():
    chosen = {c["signal"]: c for c in json.loads(RESULT.read_text())["limits"]}
    for limit in LIMITS:
        assert (limit.good, limit.usable) == (chosen[limit.signal]["good"],
                                               chosen[limit.signal]["usable"]), limit.signal


def test_results_csv_carries_the_verdict_and_a_refused_photo_is_reject(tiny_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(2):
        Image.fromarray(synthetic_fundus(96, 96, seed=seed)[0]).save(folder / f"p{seed}.png")
    Image.fromarray(np.zeros((96, 96, 3), np.uint8)).save(folder / "black.png")
    out = tmp_path / "out"
    assert main(["segment", str(folder), "--model", str(tiny_model), "--out", str(out)]) == 1
    with open(out / "results.csv", newline="") as handle:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(handle)}
    black = rows["black.png"]
    assert black["status"] == "failed" and black["quality"] == REJECT
    assert black["quality_reasons"] == "under_exposed" and "under-exposed" in black["quality_notes"]
    known = {limit.code for limit in LIMITS}
    for name in ("p0.png", "p1.png"):
        row = rows[name]
        assert row["status"] == "ok" and row["quality"] in ("good", "usable", "reject")
        assert set(filter(None, row["quality_reasons"].split(";"))) <= known
        assert (row["quality_reasons"] == "") == (row["quality"] == GOOD)
        assert 0 <= float(row["uncertain_fraction"]) <= 1 and float(row["sharpness"]) > 0


def test_a_gate_refusal_keeps_its_code_across_processes():
    import pickle

    from retinaseg.quality.gate import NoFundusError, check_fundus

    with pytest.raises(NoFundusError) as caught:
        check_fundus(np.zeros((64, 64, 3), np.uint8), np.ones((64, 64), bool))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.code, str(copy)) == ("under_exposed", str(caught.value))
    assert copy.signals == caught.value.signals


def test_gate_signals_reused_give_the_same_signals(fundus):
    """segment hands the gate's signals to the verdict rather than measuring them twice."""
    from retinaseg.quality.gate import check_fundus

    image, vessel = fundus
    fov = estimate_fov(image)
    prob = confident(vessel)
    assert measure_signals(image, fov, prob, 0.5, check_fundus(image, fov)) == \
        measure_signals(image, fov, prob, 0.5)
