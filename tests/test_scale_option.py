"""``--scale caliber``: a second pass at the width where a photo's wide vessels are as
wide as on the model's validation photos (retinaseg.pipeline.caliber), through every entry
point: the library, ``calibrate`` (which measures the reference), ``segment`` (its
table and its resume identity), ``evaluate`` and the Python API."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from retinaseg import api
from retinaseg.pipeline.caliber import (band_pass_width, caliber_band, caliber_fov_width,
                               reference_caliber, second_pass_width, working_caliber)
from retinaseg.hub.checkpoint import load_checkpoint
from retinaseg.cli import main
from retinaseg.pipeline.cut import OTSU, image_cut
from retinaseg.data import load_dataset
from retinaseg.errors import RetinasegError
from retinaseg.pipeline.predict import predict_probabilities, working_fov_width
from retinaseg.hub.pretrained import load_model
from retinaseg.pipeline.segment import segment_at_scale, segment_photo


@pytest.fixture(scope="module")
def photo(synthetic_root):
    sample = next(iter(load_dataset("chase_db1", "test", str(synthetic_root))))
    return sample


def _first_caliber(bundle, sample) -> tuple[float, float]:
    """The default pass's FOV width and its calibre in its own pixels."""
    first = segment_at_scale(bundle, sample.image, sample.fov)
    return first.fov_width, working_caliber(first.mask, sample.fov, first.fov_width)


def test_second_pass_runs_at_the_width_the_calibre_asks_for(two_camera_model, photo):
    bundle = load_model(str(two_camera_model))
    width, caliber = _first_caliber(bundle, photo)
    assert width == working_fov_width(bundle, photo.fov) and caliber > 0
    bundle.meta.caliber_px = 1.5 * caliber  # its vessels look thin: enlarge 1.5x
    done = segment_photo(bundle, photo.image, valid=photo.fov, quality_check=False,
                         scale="caliber")
    assert done.fov_width == pytest.approx(1.5 * width)
    first = predict_probabilities(bundle, photo.image, done.fov)
    second = predict_probabilities(bundle, photo.image, done.fov, fov_width=1.5 * width)
    assert not np.array_equal(first, second)
    np.testing.assert_allclose(done.prob, (first + second) / 2, atol=1e-6)


def test_caliber_cuts_the_mean_of_both_passes_as_one_map(two_camera_model, photo):
    """The two-scale ensemble is cut at its own Otsu threshold and cleaned once: the
    mask is that of the averaged map, not of either pass."""
    bundle = load_model(str(two_camera_model))
    width, caliber = _first_caliber(bundle, photo)
    bundle.meta.caliber_px = 1.5 * caliber
    done = segment_photo(bundle, photo.image, valid=photo.fov, quality_check=False,
                         threshold="otsu", postprocess="none", scale="caliber")
    inside = done.prob[done.fov]
    assert done.cut == pytest.approx(image_cut(OTSU, done.prob, done.fov, bundle.meta.threshold))
    np.testing.assert_array_equal(done.mask[done.fov], inside >= done.cut)
    assert not done.mask[~done.fov].any()


def test_a_photo_already_at_the_reference_is_segmented_once(two_camera_model, photo):
    bundle = load_model(str(two_camera_model))
    width, caliber = _first_caliber(bundle, photo)
    bundle.meta.caliber_px = caliber
    plain = segment_photo(bundle, photo.image, valid=photo.fov, quality_check=False)
    twice = segment_photo(bundle, photo.image, valid=photo.fov, quality_check=False,
                          scale="caliber")
    assert twice.fov_width == plain.fov_width == width
    np.testing.assert_array_equal(twice.prob, plain.prob)


def test_band_moves_only_a_calibre_outside_it_to_its_nearest_edge(two_camera_model, photo):
    bundle = load_model(str(two_camera_model))
    width, caliber = _first_caliber(bundle, photo)
    plain = segment_photo(bundle, photo.image, valid=photo.fov, quality_check=False)
    bundle.meta.caliber_band = [0.5 * caliber, 1.05 * caliber]  # inside: one pass
    inside = segment_photo(bundle, photo.image, valid=photo.fov, quality_check=False,
                           scale="band")
    assert inside.fov_width == width
    np.testing.assert_array_equal(inside.prob, plain.prob)
    bundle.meta.caliber_band = [0.3 * caliber, 0.8 * caliber]  # too wide: to the top edge
    narrowed = segment_photo(bundle, photo.image, valid=photo.fov, quality_check=False,
                             scale="band")
    assert narrowed.fov_width == pytest.approx(0.8 * width)
    np.testing.assert_array_equal(
        narrowed.prob, predict_probabilities(bundle, photo.image, photo.fov, fov_width=0.8 * width))


def test_band_width_rules():
    assert band_pass_width(500, 10, [8, 12]) is None             # inside the band
    assert band_pass_width(500, 10, [10.4, 12]) is None          # 1.04x: inside the dead zone
    assert band_pass_width(500, 10, [15, 20]) == pytest.approx(750)
    assert band_pass_width(500, 40, [5, 10]) == pytest.approx(250)  # the 2x bound
    assert band_pass_width(500, float("nan"), [5, 10]) is None
    assert caliber_band({"a": [1.0, 3.0], "b": [5.0, float("nan")]}) == [2.0, 5.0]


def test_dead_zone_and_bounds_of_the_second_width():
    assert second_pass_width(500, 10, 10.5, dead_zone=1.1) is None  # 5 % off: kept
    assert second_pass_width(500, 10, 12, dead_zone=1.1) == pytest.approx(600)
    assert second_pass_width(500, 10, 100, dead_zone=1.0) == pytest.approx(1000)  # 2x bound
    assert caliber_fov_width(500, float("nan"), 10) == 500


@pytest.mark.parametrize("scale, change, problem", [
    ("caliber", {"caliber_px": 0.0}, "retinaseg calibrate"),
    ("band", {"caliber_px": 5.0, "caliber_band": []}, "retinaseg calibrate"),
    ("caliber", {"caliber_px": 5.0, "square_size": 64}, "square"),
    ("band", {"caliber_band": [4.0, 6.0], "square_size": 64}, "square")])
def test_a_model_that_cannot_scale_by_calibre_is_refused(two_camera_model, photo, scale, change,
                                                         problem):
    bundle = load_model(str(two_camera_model))
    for key, value in change.items():
        setattr(bundle.meta, key, value)
    with pytest.raises(RetinasegError, match=problem):
        segment_photo(bundle, photo.image, quality_check=False, scale=scale)
    with pytest.raises(RetinasegError, match="unknown scale"):
        segment_photo(bundle, photo.image, quality_check=False, scale="vessels")


def _validation_calibers(bundle, root) -> dict[str, list[float]]:
    """What calibrate measures, computed directly: each validation photo's calibre at
    its working scale, segmented as segment does by default, by dataset."""
    calibers: dict[str, list[float]] = {}
    for entry in bundle.meta.extra["val_ids"]:
        dataset, image_id = entry.split(":", 1)
        split = load_dataset(dataset, "train", str(root))
        split.files = [f for f in split.files if f.id == image_id]
        (sample,) = list(split)
        first = segment_at_scale(bundle, sample.image, sample.fov)
        calibers.setdefault(dataset, []).append(
            working_caliber(first.mask, sample.fov, first.fov_width))
    return calibers


@pytest.fixture(scope="module")
def calibrated(two_camera_model, synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("calibrated") / "model.safetensors"
    assert main(["calibrate", "--model", str(two_camera_model), "--config",
                 str(two_camera_model.with_name("config.yaml")), "--data-root",
                 str(synthetic_root), "--out", str(out)]) == 0
    return out


def test_calibrate_measures_the_reference_on_the_validation_photos(calibrated, synthetic_root):
    bundle = load_checkpoint(calibrated, for_inference=False)  # as calibrate held it
    assert bundle.meta.caliber_px > 0
    calibers = _validation_calibers(bundle, synthetic_root)
    assert calibers  # one group per dataset among the validation photos
    assert bundle.meta.caliber_px == pytest.approx(reference_caliber(calibers), abs=1e-4)
    assert bundle.meta.caliber_band == pytest.approx(caliber_band(calibers), abs=1e-4)


def test_calibrate_stores_a_post_processing_and_measures_the_calibre_under_it(
        two_camera_model, calibrated, photo, synthetic_root, tmp_path, capsys):
    """``calibrate --min-component N`` makes N the model's default: the checkpoint holds
    it, segment applies it unasked, and the calibre is measured on masks cleaned by it;
    ``--no-postprocess`` takes a default away again. A bad setting writes nothing."""
    from retinaseg.pipeline.postprocess import Postprocess, model_postprocess, postprocess_mask

    common = ["calibrate", "--config", str(two_camera_model.with_name("config.yaml")),
              "--data-root", str(synthetic_root)]
    cleaned = tmp_path / "cleaned.safetensors"
    assert main([*common, "--model", str(two_camera_model), "--min-component", "400",
                 "--out", str(cleaned)]) == 0
    assert "post-processing min_component=400" in capsys.readouterr().out
    bundle = load_checkpoint(cleaned, for_inference=False)
    assert bundle.meta.postprocess == {"min_component": 400.0}
    plain = load_checkpoint(calibrated, for_inference=False)  # same model, none stored
    assert model_postprocess(plain.meta).is_none
    # the stored default is what segment applies when not told otherwise
    done = segment_at_scale(bundle, photo.image, photo.fov)
    raw = segment_at_scale(bundle, photo.image, photo.fov, postprocess="none")
    np.testing.assert_array_equal(
        done.mask, postprocess_mask(raw.prob, raw.cut, photo.fov, Postprocess(min_component=400)))
    assert done.mask.sum() < raw.mask.sum()  # the filter removed something here
    # the calibre is measured under it (the reference moves with the setting)
    calibers = _validation_calibers(bundle, synthetic_root)
    assert bundle.meta.caliber_px == pytest.approx(reference_caliber(calibers), abs=1e-4)
    # --no-postprocess: the default becomes none again
    undone = tmp_path / "undone.safetensors"
    assert main([*common, "--model", str(cleaned), "--no-postprocess", "--out", str(undone)]) == 0
    assert load_checkpoint(undone, for_inference=False).meta.postprocess == {}
    # a setting that is not one: one line, exit 2, no file
    bad = tmp_path / "bad.safetensors"
    assert main([*common, "--model", str(cleaned), "--hysteresis", "1.5", "--out", str(bad)]) == 2
    assert "hysteresis must be a probability" in capsys.readouterr().err
    assert not bad.exists()


def test_segment_writes_the_scale_and_refuses_to_mix_scales(calibrated, user_folder, tmp_path,
                                                            capsys):
    out = tmp_path / "out"
    images = str(user_folder / "images")
    args = ["segment", images, "--model", str(calibrated), "--out", str(out), "--save", "none"]
    assert main([*args, "--scale", "caliber", "--no-quality-check"]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert rows and {r["scale"] for r in rows} == {"caliber"}
    band_out = tmp_path / "band"
    assert main(["segment", images, "--model", str(calibrated), "--out", str(band_out),
                 "--save", "none", "--scale", "band", "--no-quality-check"]) == 0
    assert {r["scale"] for r in csv.DictReader((band_out / "results.csv").open())} == {"band"}
    capsys.readouterr()
    assert main([*args, "--no-quality-check"]) == 2  # the default scale is fov: another job
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "scale caliber" in error and "scale fov" in error


def test_segment_refuses_caliber_for_a_model_without_a_reference(two_camera_model, user_folder,
                                                                 tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["segment", str(user_folder / "images"), "--model", str(two_camera_model),
                 "--out", str(out), "--scale", "caliber"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "retinaseg calibrate" in error
    assert not (out / "results.csv").exists()


def test_evaluate_scores_the_mask_segment_writes(calibrated, synthetic_root):
    from retinaseg.metrics import confusion_counts, scores_from_counts

    result = api.evaluate(str(calibrated), "chase_db1", "test", synthetic_root, scale="caliber")
    from retinaseg.evaluation.report.rows import provenance

    assert result.scale == "caliber" and result.to_dict()["scale"] == "caliber"
    assert ("working scale", "caliber") in provenance(result)  # what a report shows
    bundle = load_model(str(calibrated))
    total = None
    for sample in load_dataset("chase_db1", "test", str(synthetic_root)):
        done = api.segment(sample.image, bundle, fov=sample.fov, scale="caliber")
        assert done.scale == "caliber" and done.fov_width > 0
        counts = confusion_counts(done.mask, sample.vessel, sample.fov)
        total = counts if total is None else total + counts
    assert result.pooled["f1"] == pytest.approx(scores_from_counts(total)["f1"])


def test_the_widest_second_pass_stays_inside_the_resample_bounds():
    from retinaseg.data.fov import fov_diameter
    from retinaseg.data.geometry import MAX_UPSCALE, largest_fov_width, to_working_geometry

    for side, radius in ((2600, 20), (300, 20), (4000, 1900)):
        yy, xx = np.mgrid[:side, :side]
        fov = (yy - side / 2) ** 2 + (xx - side / 2) ** 2 <= radius ** 2
        widest = largest_fov_width(fov)
        assert widest <= MAX_UPSCALE * fov_diameter(fov)
        to_working_geometry(np.zeros((side, side, 3), np.uint8), fov, widest)  # not refused


def test_a_photo_without_vessels_keeps_its_first_pass(two_camera_model, photo):
    bundle = load_model(str(two_camera_model))
    bundle.meta.caliber_px, bundle.meta.caliber_band = 5.0, [4.0, 6.0]
    blank = np.full_like(photo.image, 120)
    plain = segment_photo(bundle, blank, valid=photo.fov, quality_check=False,
                          threshold=0.999999)
    assert not plain.mask.any()
    for scale in ("caliber", "band"):
        done = segment_photo(bundle, blank, valid=photo.fov, quality_check=False,
                             threshold=0.999999, scale=scale)
        assert done.fov_width == plain.fov_width
