"""Where probabilities become vessel: a fixed threshold or each photo's own Otsu cut,
the same wherever a photo is cut (API, evaluation, cohorts, the command line)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from skimage.filters import threshold_otsu

import retinaseg
from retinaseg.hub.checkpoint import HEADER_KEY, load_checkpoint, save_model
from retinaseg.cli import main
from retinaseg.cohort import JobSpec, collect_cohort, run_cohort
from retinaseg.pipeline.cut import OTSU, OTSU_BOUNDS, otsu_cut, parse_threshold, rule_of
from retinaseg.data import load_dataset
from retinaseg.errors import RetinasegError
from retinaseg.pipeline.predict import predict_probabilities
from retinaseg.pipeline.segment import segment_photo
from conftest import TINY_TRAINING, assert_one_line_error
from synthetic import synthetic_fundus


def bimodal(seed: int, vessel_fraction: float, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = 10_000
    vessel = int(n * vessel_fraction)
    values = np.concatenate([rng.beta(1.5, 12, n - vessel), rng.beta(9, 3, vessel)]) + shift
    return np.clip(values, 0, 1).astype(np.float32).reshape(100, 100)


# --------------------------------------------------------------------------- the rule itself

def test_otsu_cut_is_scikit_images_inside_the_fov():
    prob = bimodal(0, 0.12)
    fov = np.zeros_like(prob, bool)
    fov[:, :60] = True
    prob[:, 60:] = 0.99  # outside the FOV: must not move the cut
    assert otsu_cut(prob, fov, 0.5) == pytest.approx(threshold_otsu(prob[fov]))
    assert otsu_cut(prob, fov, 0.5) != pytest.approx(threshold_otsu(prob))


def test_otsu_cut_follows_a_camera_whose_probabilities_run_low():
    usual, dimmer = bimodal(1, 0.12), bimodal(1, 0.12, shift=-0.15)
    fov = np.ones_like(usual, bool)
    assert otsu_cut(dimmer, fov, 0.5) < otsu_cut(usual, fov, 0.5) - 0.1


def test_a_photo_without_vessels_is_not_cut_in_its_noise():
    blank = np.random.default_rng(2).uniform(0, 0.05, (100, 100)).astype(np.float32)
    fov = np.ones_like(blank, bool)
    assert threshold_otsu(blank) < 0.05  # unbounded, half the FOV would be vessel
    assert otsu_cut(blank, fov, 0.5) == OTSU_BOUNDS[0]
    assert not (blank >= otsu_cut(blank, fov, 0.5)).any()


@pytest.mark.parametrize("prob, fov", [
    (np.full((8, 8), 0.3, np.float32), np.ones((8, 8), bool)),   # no valley to find
    (np.random.default_rng(3).random((8, 8), np.float32), np.zeros((8, 8), bool)),  # no FOV
])
def test_no_valley_falls_back_to_the_models_threshold(prob, fov):
    assert otsu_cut(prob, fov, 0.437) == 0.437


@pytest.mark.parametrize("given, parsed", [
    ("otsu", OTSU), (" OTSU ", OTSU), ("0.4", 0.4), (0.25, 0.25), ("1", 1.0), (None, None)])
def test_thresholds_users_give(given, parsed):
    assert parse_threshold(given) == parsed


@pytest.mark.parametrize("given", ["median", "0", "-0.2", "1.5", "nan", "inf", "", [0.5]])
def test_thresholds_refused_in_one_line(given):
    with pytest.raises(RetinasegError, match="threshold must be") as caught:
        parse_threshold(given)
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- every entry point

@pytest.fixture(scope="module")
def photo():
    return synthetic_fundus(96, 112, seed=5)[0]


@pytest.fixture(scope="module")
def otsu_model(tiny_model, tmp_path_factory):
    """The tiny model with ``threshold_rule: otsu`` in its meta, as a recipe would ship it."""
    bundle = load_checkpoint(tiny_model, for_inference=False)
    bundle.meta.threshold_rule = OTSU
    path = tmp_path_factory.mktemp("otsu") / "model.safetensors"
    save_model(path, bundle.module, bundle.meta, config=bundle.config)
    return path


def test_segment_cuts_each_photo_at_its_own_otsu_threshold(tiny_model, photo):
    model = retinaseg.load_model(tiny_model, device="cpu")
    fixed = retinaseg.segment(photo, model=model)
    otsu = retinaseg.segment(photo, model=model, threshold="otsu")
    assert np.array_equal(otsu.probabilities, fixed.probabilities)
    assert otsu.threshold == otsu_cut(otsu.probabilities, otsu.fov, model.meta.threshold)
    assert otsu.threshold != fixed.threshold
    assert np.array_equal(otsu.mask, otsu.probabilities >= otsu.threshold)
    assert segment_photo(model, photo, "otsu").cut == otsu.threshold


def test_a_model_whose_meta_says_otsu_cuts_so_unless_told_a_number(otsu_model, tiny_model, photo):
    model = retinaseg.load_model(otsu_model, device="cpu")
    assert rule_of(None, model.meta) == OTSU and rule_of(0.3, model.meta) == 0.3
    result = retinaseg.segment(photo, model=model)
    assert result.threshold == otsu_cut(result.probabilities, result.fov, model.meta.threshold)
    assert retinaseg.segment(photo, model=model, threshold=0.3).threshold == 0.3
    # the fixed rule is not written: a model without it keeps its bytes (and pinned hash)
    assert stored_meta(otsu_model)["threshold_rule"] == OTSU
    assert "threshold_rule" not in stored_meta(tiny_model)


def stored_meta(path) -> dict:
    with safe_open(str(path), "np") as handle:
        return json.loads(handle.metadata()[HEADER_KEY])["meta"]


def test_evaluate_scores_each_image_at_its_own_cut(tiny_model, synthetic_root):
    model = retinaseg.load_model(tiny_model, device="cpu")
    result = retinaseg.evaluate(model, "drive", "test", data_root=synthetic_root,
                                threshold="otsu")
    data = load_dataset("drive", "test", synthetic_root)
    expected, tp = [], 0
    for sample in data:
        prob = predict_probabilities(model, sample.image, sample.fov)
        cut = otsu_cut(prob, sample.fov, model.meta.threshold)
        expected.append(cut)
        tp += int(((prob >= cut) & sample.vessel & sample.fov).sum())
    assert [row["threshold"] for row in result.per_image] == pytest.approx(expected)
    assert len(set(expected)) > 1
    assert result.threshold_rule == "otsu" and result.threshold == pytest.approx(np.median(expected))
    assert "Otsu" in result.threshold_source
    true_vessel = sum(int((s.vessel & s.fov).sum()) for s in data)
    assert result.pooled["sensitivity"] == pytest.approx(tp / true_vessel)
    fixed = retinaseg.evaluate(model, "drive", "test", data_root=synthetic_root, threshold=0.5)
    assert fixed.threshold_rule == "fixed" and fixed.threshold == 0.5
    assert {row["threshold"] for row in fixed.per_image} == {0.5}
    assert fixed.pooled["auc_roc"] == result.pooled["auc_roc"]  # the cut leaves the ranking


def test_a_cohort_names_the_rule_once_and_each_photos_cut(tiny_model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    images = [synthetic_fundus(96, 96, seed=seed)[0] for seed in range(3)]
    for k, image in enumerate(images):
        Image.fromarray(image).save(photos / f"p{k}.png")
    out = tmp_path / "out"
    rows = run_cohort(JobSpec(str(tiny_model), str(out), threshold="otsu"),
                      collect_cohort([str(photos)])).rows
    model = retinaseg.load_model(tiny_model, device="cpu")
    for row in rows:
        k = int(row["name"][1:])
        assert row["status"] == "ok" and row["threshold"] == "otsu"
        assert row["cut"] == pytest.approx(segment_photo(model, images[k], "otsu").cut, abs=1e-6)
    with pytest.raises(RetinasegError, match="threshold otsu, .*this run uses .*threshold 0.5"):
        run_cohort(JobSpec(str(tiny_model), str(out), threshold=0.5),
                   collect_cohort([str(photos)]))


def test_the_command_line_takes_otsu_and_refuses_nonsense(tiny_model, tmp_path, capsys):
    image = synthetic_fundus(96, 96, seed=7)[0]
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    out = tmp_path / "out"
    assert main(["segment", str(path), "--model", str(tiny_model), "--out", str(out),
                 "--threshold", "otsu"]) == 0
    assert "otsu" in (out / "results.csv").read_text()
    with pytest.raises(SystemExit) as caught:
        main(["segment", str(path), "--threshold", "median"])
    assert caught.value.code == 2
    assert "threshold must be a number in (0, 1] or 'otsu'" in capsys.readouterr().err


def test_a_recipe_ships_its_rule(synthetic_root, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--data-root", str(synthetic_root), "--out", str(out), "--set",
                 "epochs=1", "--set", "threshold_rule=otsu", *TINY_TRAINING]) == 0
    assert load_checkpoint(out / "model.safetensors").meta.threshold_rule == OTSU
    refused = subprocess.run([sys.executable, "-m", "retinaseg", "train", "--data-root",
                              str(synthetic_root), "--out", str(tmp_path / "no"), "--set",
                              "threshold_rule=median", *TINY_TRAINING],
                             capture_output=True, text=True, timeout=120)
    assert_one_line_error(refused, "threshold_rule")
    assert not (tmp_path / "no" / "model.safetensors").exists()
