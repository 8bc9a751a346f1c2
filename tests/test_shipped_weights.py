"""The shipped weights: pinned, loadable, and accurate on real DRIVE images."""
import hashlib
from pathlib import Path

import pytest
import torch
import yaml

from retinaseg import RetinasegError
from retinaseg.config.schema import load_config
from retinaseg.data import load_dataset
from retinaseg.evaluation.evaluate import EvalOptions, evaluate_model
from retinaseg.hub.checkpoint import read_checkpoint, sha256_of
from retinaseg.hub.load import load_model
from retinaseg.hub.pretrained import PRETRAINED, pretrained_path

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", PRETRAINED.names())
def test_every_shipped_model_is_present_pinned_and_loads(name):
    entry = PRETRAINED.get(name)
    assert pretrained_path(name).is_file()
    assert sha256_of(pretrained_path(name)) == entry.sha256
    bundle = load_model(name)
    assert bundle.meta.architecture == entry.architecture
    # Chosen on validation images, or the column paper's fixed 0.5, never on test images.
    assert (bundle.meta.threshold_source.startswith("validation-f1")
            or bundle.meta.threshold_source == "fixed")
    assert pretrained_path(name).stat().st_size < 8 * 2**20  # "a few MB"
    # The recipe named in the registry exists and is the one the file was calibrated by
    # (a study file, which lists several recipes, is only checked to exist).
    recipe = REPO / entry.config
    assert recipe.is_file()
    if "variants" not in yaml.safe_load(recipe.read_text()):
        config = load_config(recipe, [])
        assert (bundle.meta.tta, bundle.meta.threshold_rule) == (config.tta, config.threshold_rule)


def test_a_replaced_weights_file_is_refused(tmp_path, monkeypatch):
    import retinaseg.hub.pretrained as pretrained

    fake = tmp_path / "weights"
    fake.mkdir()
    (fake / "unet-drive.safetensors").write_bytes(pretrained_path("unet-drive").read_bytes()
                                                  + b"x")
    monkeypatch.setattr(pretrained, "weights_dir", lambda: fake)
    with pytest.raises(RetinasegError, match="does not match the pinned hash"):
        load_model("unet-drive")


def test_unet_drive_on_two_real_drive_test_images(shared_data):
    data = load_dataset("drive", "test", shared_data)[:2]
    result = evaluate_model(load_model("unet-drive"), data, EvalOptions())
    # The full test set gives F1 >= 0.81 (benchmarks/results/drive_unet.md); two
    # images vary, so a looser bound that still catches a broken pipeline.
    assert result.pooled["f1"] > 0.78
    assert result.pooled["auc_roc"] > 0.97
    assert result.observers["2nd_manual"].pooled["f1"] > 0.75


def test_convlstm_unet_drive_on_two_real_drive_test_images(shared_data):
    data = load_dataset("drive", "test", shared_data)[:2]
    result = evaluate_model(load_model("convlstm-unet-drive"), data, EvalOptions())
    # Full test set: AUC 0.9786, F1 0.809, specificity 0.9849
    # (benchmarks/results/drive_convlstm_unet.md); its threshold was chosen under flip
    # TTA for specificity >= 0.9876 on validation, and flip TTA is its default.
    # These two images give F1 0.836, AUC 0.984, specificity 0.978.
    assert result.tta == "flip"
    assert result.pooled["f1"] > 0.81
    assert result.pooled["auc_roc"] > 0.98
    assert result.pooled["specificity"] > 0.97


def test_column_bilstm_hrf_on_two_real_hrf_test_images(shared_data):
    data = load_dataset("hrf", "test", shared_data)[:2]
    bundle = load_model("column-bilstm-hrf")
    assert bundle.meta.square_size == 512 and bundle.meta.kwargs["direction"] == "rows+columns"
    result = evaluate_model(bundle, data, EvalOptions())
    # All 30 test images: F1 0.659, AUC 0.941 at the paper's threshold 0.5
    # (benchmarks/results/compare-hrf-cpu.md). These two give F1 0.688, AUC 0.957.
    assert result.threshold == 0.5
    assert result.pooled["f1"] > 0.64
    assert result.pooled["auc_roc"] > 0.94


def test_exporting_the_same_model_again_keeps_the_file_and_its_hash(tiny_model, tmp_path,
                                                                    monkeypatch):
    import dataclasses

    import retinaseg.hub.pretrained as pretrained
    from retinaseg.hub.checkpoint import write_checkpoint

    monkeypatch.setattr(pretrained, "weights_dir", lambda: tmp_path / "weights")
    target = pretrained.export_weights(tiny_model, "tiny")
    first = target.read_bytes()
    assert "tiny" in pretrained.unpinned("tiny", target)  # not registered: says what to pin
    # Exporting the shipped file itself, or the same model again, writes the same bytes.
    assert pretrained.export_weights(target, "tiny").read_bytes() == first
    assert pretrained.export_weights(tiny_model, "tiny").read_bytes() == first
    model = read_checkpoint(tiny_model)
    other = dataclasses.replace(model, meta=dataclasses.replace(model.meta, threshold=0.25))
    write_checkpoint(tmp_path / "other.safetensors", other)  # another model: another hash
    pretrained.export_weights(tmp_path / "other.safetensors", "tiny")
    assert sha256_of(target) != hashlib.sha256(first).hexdigest()
    assert load_model(str(target)).meta.threshold == 0.25


def test_shipped_files_hold_fp16_weights_and_no_resume_state():
    for name in PRETRAINED:
        shipped = read_checkpoint(pretrained_path(name))
        floats = [v for v in shipped.state_dict.values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float16 for v in floats)
        assert shipped.optimizer is None and shipped.average is None and not shipped.training
        assert shipped.config["model"]["name"] == PRETRAINED.get(name).architecture


def test_general_carries_its_measured_calibre_and_segments_by_it():
    """The registry's calibre is the one caliber_scale measured on general's validation
    photos, and `--scale caliber` runs with it on a photo of a camera general never saw."""
    import json

    from retinaseg import api
    from retinaseg.pipeline.segment import sample_image

    measured = json.loads((REPO / "benchmarks/results/caliber_scale_general.json").read_text())
    (run,) = measured["runs"]
    assert run["run"] == "general"
    entry = PRETRAINED.get("general")
    assert entry.caliber_px == round(run["reference_caliber_px"], 4)
    assert list(entry.caliber_band) == [round(v, 4) for v in run["band_px"]]
    bundle = load_model("general")
    assert (bundle.meta.caliber_px, bundle.meta.caliber_band) == (entry.caliber_px,
                                                                  list(entry.caliber_band))
    plain = api.segment(sample_image(), bundle)
    scaled = api.segment(sample_image(), bundle, scale="caliber")
    assert scaled.scale == "caliber" and plain.scale == "fov"
    assert plain.fov_width / 2 <= scaled.fov_width <= plain.fov_width * 2
    assert scaled.mask.any() and scaled.mask.shape == plain.mask.shape


def test_general_av_splits_the_vessels_into_arteries_and_veins_on_real_drive_photos(shared_data):
    """The shipped A/V model on the first two DRIVE test photos: its artery and vein masks
    split its vessel mask between them, and the A/V decision on the manual pure artery
    and vein pixels is well above chance (its whole test split:
    benchmarks/results/av_accuracy_general_av.md)."""
    from retinaseg import api

    data = load_dataset("drive", "test", shared_data)[:2]
    bundle = load_model("general-av")
    assert bundle.meta.outputs == ["vessel", "artery", "vein"]
    result = evaluate_model(bundle, data, EvalOptions())
    assert result.artery_vein["pooled"]["pixels"]["accuracy"] > AV_ACCURACY_FLOOR
    segmented = api.segment(data[0].image, bundle)
    assert not (segmented.artery & segmented.vein).any()
    assert ((segmented.artery | segmented.vein) == segmented.mask).all()
    assert segmented.artery.any() and segmented.vein.any()


# The two photos measured 0.757 and 0.780 (benchmarks/results/av_accuracy_general_av.json,
# per photo): a floor below them, far above the 0.45 or 0.55 of a model that calls every
# vessel one kind (the photos' share of manual artery or vein pixels).
AV_ACCURACY_FLOOR = 0.65
