"""Mask post-processing: exact outputs on drawn masks, the size unit, and the verbs using it."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import job_spec
from PIL import Image

from retinaseg.errors import RetinasegError
from retinaseg.pipeline.postprocess import (
    NO_POSTPROCESS,
    Postprocess,
    as_postprocess,
    fill_small_holes,
    hysteresis_mask,
    parse_postprocess,
    postprocess_mask,
    remove_small_components,
    scaled_area,
)


def drawn(rows: list[str]) -> np.ndarray:
    """A bool mask from rows of '#' (True) and '.' (False)."""
    return np.array([[c == "#" for c in row] for row in rows])


SPECKS = drawn(["##....#",
                "##.....",
                "......#",
                "...#...",
                "....#..",
                "###....",
                "###...."])


def test_small_components_go_and_diagonal_neighbours_count_as_connected():
    # objects: a 2x2 block (4 px), two singles (1 px), a diagonal pair (2 px), a 2x3 block (6 px)
    assert np.array_equal(remove_small_components(SPECKS, 2), drawn([
        "##.....", "##.....", ".......", "...#...", "....#..", "###....", "###...."]))
    assert np.array_equal(remove_small_components(SPECKS, 5), drawn([
        ".......", ".......", ".......", ".......", ".......", "###....", "###...."]))
    assert np.array_equal(remove_small_components(SPECKS, 1), SPECKS)  # 1 px: nothing is smaller
    assert not remove_small_components(SPECKS, 7).any()


RINGS = drawn(["..........",
               ".#####....",
               ".#...#.###",
               ".#...#.#.#",
               ".#...#.###",
               ".#####....",
               "..........",
               "####......",
               "#..#......",
               ".........."])


def test_only_enclosed_holes_under_the_size_are_filled():
    fov = np.ones(RINGS.shape, bool)
    # the 1 px hole of the small ring is filled; the 9 px one is not; the open cup
    # at the bottom (its gap reaches the image border) is no hole at all
    expected = RINGS.copy()
    expected[3, 8] = True
    assert np.array_equal(fill_small_holes(RINGS, fov, 5), expected)
    expected[2:5, 2:5] = True
    assert np.array_equal(fill_small_holes(RINGS, fov, 10), expected)
    assert np.array_equal(fill_small_holes(RINGS, fov, 1), RINGS)


def test_a_gap_that_runs_out_of_the_fov_is_not_a_hole():
    fov = np.ones(RINGS.shape, bool)
    fov[3, 8] = False  # the small ring's hole lies outside the FOV: it reaches the outside
    assert np.array_equal(fill_small_holes(RINGS & fov, fov, 5), RINGS & fov)


def test_hysteresis_keeps_weak_pixels_only_where_they_touch_strong_ones():
    prob = np.array([[0.9, 0.4, 0.4, 0.0, 0.4, 0.4],
                     [0.0, 0.0, 0.0, 0.3, 0.0, 0.0]])
    # (1, 3) touches (0, 2) diagonally, and (0, 4) touches (1, 3): one 8-connected chain
    assert np.array_equal(hysteresis_mask(prob, 0.3, 0.5), prob >= 0.3)
    assert np.array_equal(hysteresis_mask(prob, 0.35, 0.5),
                          np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]], bool))
    assert np.array_equal(hysteresis_mask(prob, 0.6, 0.5), prob >= 0.5)  # LOW above: no change


def test_the_size_unit_is_pixels_at_a_540_px_fov():
    fov = np.zeros((700, 1200), bool)
    fov[:, 30:30 + 1080] = True  # twice DRIVE's width: areas four times as large
    assert scaled_area(30, fov) == 120
    fov_drive = np.zeros((584, 565), bool)
    fov_drive[:, 10:550] = True
    assert scaled_area(30, fov_drive) == 30


@pytest.mark.parametrize("factor", [2, 4])
def test_one_setting_removes_the_same_objects_at_every_resolution(factor):
    """The same scene photographed at a higher resolution loses the same objects."""
    rng = np.random.default_rng(0)
    small = np.zeros((60, 60), bool)
    fov = np.zeros((60, 60), bool)
    fov[:, 3:57] = True  # 54 px wide: a tenth of DRIVE's FOV, so 100 px there are 1 px here
    for _ in range(12):  # objects of 1, 4 and 9 px, well away from the 2 px cut below
        y, x, side = rng.integers(2, 54), rng.integers(5, 52), rng.choice([1, 2, 3])
        small[y:y + side, x:x + side] = True
    setting = Postprocess(min_component=200, fill_holes=150)  # 2 px, 1.5 px at this scale
    expected = postprocess_mask(small.astype(np.float32), 0.5, fov, setting)
    assert expected.any() and not np.array_equal(expected, small & fov)  # the cut does something
    big = np.kron(small, np.ones((factor, factor), bool))
    big_fov = np.kron(fov, np.ones((factor, factor), bool))
    result = postprocess_mask(big.astype(np.float32), 0.5, big_fov, setting)
    assert np.array_equal(result, np.kron(expected, np.ones((factor, factor), bool)))


def test_no_setting_is_the_thresholded_mask_inside_the_fov():
    rng = np.random.default_rng(1)
    prob = rng.random((40, 50)).astype(np.float32)
    fov = np.zeros((40, 50), bool)
    fov[5:35, 5:45] = True
    assert np.array_equal(postprocess_mask(prob, 0.6, fov), (prob >= 0.6) & fov)


def test_steps_run_hysteresis_then_holes_then_components():
    prob = np.zeros((9, 9), np.float32)
    prob[1:7, 1:7] = 0.4          # a weak square ...
    prob[3, 3] = 0.0              # ... with a pinhole ...
    prob[1, 1] = 0.9              # ... seeded by one strong pixel
    prob[8, 8] = 0.9              # a strong speck of 1 px
    fov = np.ones((9, 9), bool)
    got = postprocess_mask(prob, 0.5, fov, Postprocess(min_component=2 * 540 ** 2 / 81,
                                                       fill_holes=2 * 540 ** 2 / 81,
                                                       hysteresis=0.3))
    expected = np.zeros((9, 9), bool)
    expected[1:7, 1:7] = True     # grown from the seed, hole filled; the speck removed
    assert np.array_equal(got, expected)


def test_settings_are_spelt_and_read_back():
    setting = Postprocess(min_component=30, hysteresis=0.3)
    assert setting.describe() == "min_component=30,hysteresis=0.3"
    assert parse_postprocess(setting.describe()) == setting
    assert parse_postprocess("none") == NO_POSTPROCESS and NO_POSTPROCESS.describe() == "none"
    odd = Postprocess(min_component=963.9669421487603, hysteresis=1 / 3)
    assert parse_postprocess(odd.describe()) == odd  # text carries the setting exactly
    assert as_postprocess(None) is None and as_postprocess(False) == NO_POSTPROCESS
    assert as_postprocess({"fill_holes": 10}) == Postprocess(fill_holes=10)


@pytest.mark.parametrize("text, problem", [
    ("min_component=-1", "min_component must be a number of pixels >= 0"),
    ("hysteresis=1.5", "hysteresis must be a probability in"),
    ("holes=3", "unknown key(s) holes"),
    ("min_component", "expected key=number pairs"),
    ("min_component=abc", "expected key=number pairs"),
    ("fill_holes=nan", "fill_holes must be a number"),
])
def test_bad_settings_are_one_clear_error(text, problem):
    with pytest.raises(RetinasegError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_postprocess(text)


# --- through the verbs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from synthetic import synthetic_fundus

    folder = tmp_path_factory.mktemp("photo")
    image, _, _ = synthetic_fundus(128, 128, seed=3)
    Image.fromarray(image).save(folder / "eye.png")
    return folder / "eye.png"


def segment_cli(tiny_model, photo, out, *flags) -> tuple[np.ndarray, dict]:
    from retinaseg.cli import main

    assert main(["segment", str(photo), "--model", str(tiny_model), "--device", "cpu",
                 "--out", str(out), *flags]) == 0
    row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    return np.asarray(Image.open(out / "eye_mask.png")) > 0, row


MIN_PX = 40 * (540 / 110) ** 2  # about 40 px on the tiny photo's FOV (about 110 px wide)


def test_segment_writes_the_post_processed_mask_and_says_so(tiny_model, photo, tmp_path):
    from retinaseg.data.fov import estimate_fov
    from retinaseg.data.io import read_photo

    plain, plain_row = segment_cli(tiny_model, photo, tmp_path / "plain")
    cleaned, row = segment_cli(tiny_model, photo, tmp_path / "clean",
                               "--min-component", str(MIN_PX))
    fov = estimate_fov(read_photo(photo).rgb, read_photo(photo).valid)
    assert plain_row["postprocess"] == "none" and row["postprocess"] == f"min_component={MIN_PX!r}"
    assert np.array_equal(cleaned, remove_small_components(plain, scaled_area(MIN_PX, fov)))
    assert cleaned.sum() < plain.sum()  # the tiny model leaves specks: some went
    assert row["components"] < plain_row["components"]


def test_a_table_is_not_mixed_with_another_post_processing(tiny_model, photo, tmp_path):
    from retinaseg.cohort import collect_cohort, run_cohort

    segment_cli(tiny_model, photo, tmp_path, "--fill-holes", "10")
    with pytest.raises(RetinasegError, match="post-processing fill_holes=10, scale fov, measures version 2, "
                                             "units camera; this run "
                                             "uses .* post-processing none"):
        run_cohort(job_spec(tiny_model, tmp_path, postprocess="none"),
                   collect_cohort([str(photo)]))


def test_conflicting_flags_are_a_usage_error(tiny_model, photo, tmp_path, capsys):
    from retinaseg.cli import main

    assert main(["segment", str(photo), "--model", str(tiny_model), "--out", str(tmp_path),
                 "--no-postprocess", "--min-component", "30"]) == 2
    assert "--no-postprocess cannot be combined with --min-component" in capsys.readouterr().err
    assert main(["segment", str(photo), "--model", str(tiny_model), "--out", str(tmp_path),
                 "--hysteresis", "2"]) == 2


def with_default(tiny_model, path, postprocess: dict):
    """The tiny model saved again with a post-processing default in its meta."""
    from retinaseg.hub.checkpoint import load_checkpoint, save_model

    bundle = load_checkpoint(tiny_model, for_inference=False)
    bundle.meta.postprocess = postprocess
    save_model(path, bundle.module, bundle.meta, config=bundle.config)
    return path


def test_a_model_default_applies_unless_turned_off(tiny_model, photo, tmp_path):
    import retinaseg

    model = with_default(tiny_model, tmp_path / "m.safetensors", {"min_component": MIN_PX})
    plain = retinaseg.segment(photo, model=tiny_model, device="cpu")
    default = retinaseg.segment(photo, model=model, device="cpu")
    off = retinaseg.segment(photo, model=model, device="cpu", postprocess=False)
    assert default.postprocess == f"min_component={MIN_PX!r}" and off.postprocess == "none"
    assert np.array_equal(off.mask, plain.mask)
    assert np.array_equal(default.mask, remove_small_components(
        plain.mask, scaled_area(MIN_PX, plain.fov)))
    _, row = segment_cli(model, photo, tmp_path / "off", "--no-postprocess")
    assert row["postprocess"] == "none"


def test_a_bad_default_in_a_checkpoint_names_the_file(tiny_model, tmp_path):
    from retinaseg.hub.checkpoint import load_checkpoint

    model = with_default(tiny_model, tmp_path / "bad.safetensors", {"min_component": -3})
    with pytest.raises(RetinasegError, match="bad.safetensors.*min_component must be"):
        load_checkpoint(model)


def test_a_model_without_a_default_is_written_as_before(tiny_model, tmp_path):
    from retinaseg.hub.checkpoint import read_checkpoint

    model = with_default(tiny_model, tmp_path / "same.safetensors", {})
    assert model.read_bytes() == tiny_model.read_bytes()  # no new key in the header
    assert read_checkpoint(model).meta.postprocess == {}


def test_evaluate_scores_the_mask_segment_writes(tiny_model, synthetic_root):
    import retinaseg
    from retinaseg.data import load_dataset
    from retinaseg.metrics import Counts, confusion_counts, scores_from_counts
    from retinaseg.pipeline.predict import predict_probabilities

    bundle = retinaseg.load_model(tiny_model, device="cpu")
    setting = Postprocess(min_component=MIN_PX, fill_holes=MIN_PX)
    plain = retinaseg.evaluate(bundle, "drive", "test", synthetic_root, topology=True)
    cleaned = retinaseg.evaluate(bundle, "drive", "test", synthetic_root, topology=True,
                                 postprocess=setting.describe())
    counts = Counts()
    for sample in load_dataset("drive", "test", synthetic_root):
        prob = predict_probabilities(bundle, sample.image, sample.fov)
        mask = postprocess_mask(prob, bundle.meta.threshold, sample.fov, setting)
        counts = counts + confusion_counts(mask, sample.vessel, sample.fov)
    assert cleaned.postprocess == setting.describe() and plain.postprocess == "none"
    assert cleaned.pooled["f1"] == pytest.approx(scores_from_counts(counts)["f1"], abs=1e-12)
    assert cleaned.pooled["f1"] != plain.pooled["f1"]
    assert cleaned.topology["components_pred"] < plain.topology["components_pred"]
    assert cleaned.pooled["auc_roc"] == plain.pooled["auc_roc"]  # AUCs stay on probabilities
    assert cleaned.observers["2nd_manual"].pooled == plain.observers["2nd_manual"].pooled


def test_evaluate_cli_records_the_post_processing(tiny_model, synthetic_root, tmp_path):
    from retinaseg.cli import main

    assert main(["evaluate", "--model", str(tiny_model), "--dataset", "drive", "--split", "test",
                 "--data-root", str(synthetic_root), "--out", str(tmp_path), "--device", "cpu",
                 "--hysteresis", "0.2"]) == 0
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["postprocess"] == "hysteresis=0.2"


def test_topology_against_a_precomputed_truth_reference_is_the_same():
    from retinaseg.evaluation.topology import topology_counts, truth_reference

    rng = np.random.default_rng(2)
    truth, pred = rng.random((2, 40, 40)) > 0.6
    fov = np.ones((40, 40), bool)
    fov[:5] = False
    assert topology_counts(pred, truth, fov, reference=truth_reference(truth, fov)) == \
        topology_counts(pred, truth, fov)


def test_on_image_gets_the_model_mask_not_an_observer_s(tiny_model, synthetic_root):
    # DRIVE test images carry a second observer: the per-image callback (report panels,
    # the general model's vessel measures) must see the mask the model was scored on.
    from retinaseg.data import load_dataset
    from retinaseg.evaluation.evaluate import EvalOptions, evaluate_model
    from retinaseg.hub.checkpoint import load_checkpoint

    bundle = load_checkpoint(tiny_model)
    data = load_dataset("drive", "test", synthetic_root)
    assert data[0].observers  # the case that went wrong
    seen = []
    evaluate_model(bundle, data, EvalOptions(),
                   on_image=lambda sample, prob, row, mask: seen.append((prob, mask)))
    for prob, mask in seen:
        assert np.array_equal(mask, prob >= bundle.meta.threshold)
