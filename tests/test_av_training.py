"""Training an artery/vein model (``data.targets: av``): the targets the RITE labels
give, the loss, the widened start from a vessel model, and a real tiny run whose
model segments arteries and veins through the whole pipeline."""
import numpy as np
import pytest
import torch
from conftest import TINY_TRAINING
from synthetic import write_drive, write_drive_av, write_hrf, write_les_av

from retinaseg.data.av import ARTERY, BACKGROUND, CROSSING, UNCERTAIN, VEIN
from retinaseg.errors import RetinasegError
from retinaseg.train.losses import artery_vein_loss, compute_loss
from retinaseg.train.targets import av_planes

TINY = [entry for entry in TINY_TRAINING if entry != "--set"]


@pytest.fixture(scope="module")
def av_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("av-data")
    write_drive(root)
    write_drive_av(root)
    write_les_av(root)
    write_hrf(root)  # without HRF-AV: its photos have no A/V label
    return root


def test_the_planes_follow_the_rite_classes():
    classes = np.array([[BACKGROUND, ARTERY, VEIN, CROSSING, UNCERTAIN, BACKGROUND]], np.uint8)
    vessel = np.array([[False, True, True, True, True, True]])
    planes = av_planes(vessel, classes)
    vessel_plane, artery, vein, known = planes
    assert vessel_plane.tolist() == vessel.tolist()
    assert artery.tolist() == [[False, True, False, True, False, False]]
    assert vein.tolist() == [[False, False, True, True, False, False]]
    # uncertain is not taught, nor a pixel the vessel label draws and the A/V label does not
    assert known.tolist() == [[True, True, True, True, False, False]]


def test_the_av_decision_term_pulls_the_likelier_output_to_the_right_class():
    target = torch.zeros(1, 2, 1, 2)
    target[0, 0, 0, 0] = 1  # pixel 0 an artery
    target[0, 1, 0, 1] = 1  # pixel 1 a vein
    known = torch.ones(1, 1, 1, 2)
    right = torch.tensor([[[[3.0, -3.0]], [[-3.0, 3.0]]]])
    assert artery_vein_loss(right, target, known) < artery_vein_loss(-right, target, known)
    unknown = torch.zeros(1, 1, 1, 2)
    assert artery_vein_loss(-right, target, unknown) == 0  # nothing known, nothing taught


def test_an_av_target_adds_to_the_vessel_loss_and_a_vessel_target_is_unchanged():
    logits = torch.randn(2, 3, 8, 8)
    fov = torch.ones(2, 1, 8, 8)
    planes = (torch.rand(2, 4, 8, 8) > 0.5).float()
    vessel_only = compute_loss("bce", logits[:, :1], planes[:, :1], fov)
    with_av = compute_loss("bce", logits, planes, fov)
    assert with_av > vessel_only
    assert torch.isclose(with_av - vessel_only,
                         artery_vein_loss(logits[:, 1:3], planes[:, 1:3], fov * planes[:, 3:4]))


def test_widened_state_start_each_new_map_as_the_vessel_one():
    from retinaseg.models import create_model
    from retinaseg.train.finetune import widened_state

    vessel = create_model("unet", base_channels=4, depth=2).state_dict()
    av = create_model("unet", base_channels=4, depth=2, out_channels=3)
    state = widened_state(av.state_dict(), vessel, "vessel.safetensors")
    av.load_state_dict(state)
    for channel in (1, 2):
        assert torch.equal(av.head.weight[channel], vessel["head.weight"][0])
    wider = create_model("unet", base_channels=8, depth=2, out_channels=3).state_dict()
    with pytest.raises(RetinasegError, match="cannot be widened"):
        widened_state(wider, vessel, "vessel.safetensors")


def test_a_green_model_widened_to_rgb_starts_as_the_green_model():
    from retinaseg.data.preprocess import preprocess
    from retinaseg.models import create_model
    from retinaseg.train.finetune import widened_state

    torch.manual_seed(0)
    green_model = create_model("unet", base_channels=4, depth=2).eval()
    rgb_model = create_model("unet", base_channels=4, depth=2, in_channels=3, out_channels=3)
    rgb_model.load_state_dict(widened_state(rgb_model.state_dict(), green_model.state_dict(),
                                            "vessel.safetensors"))
    rgb_model.eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    fov = np.ones((32, 32), bool)
    green = torch.from_numpy(preprocess(image, fov, ["green", "clahe", "fov_normalise"]))[None]
    rgb = torch.from_numpy(preprocess(image, fov, ["rgb", "clahe", "fov_normalise"]))[None]
    with torch.no_grad():
        expected = green_model(green)[:, 0]
        for channel in range(3):
            assert torch.allclose(rgb_model(rgb)[:, channel], expected, atol=1e-5)


def test_a_photo_without_an_av_label_is_refused_by_name(av_root, tmp_path):
    from retinaseg.config.schema import load_config
    from retinaseg.train import fit

    cfg = load_config(None, [f"data.root={av_root}", f"out_dir={tmp_path / 'run'}", *TINY,
                             "epochs=1", "data.targets=av", "data.dataset=drive+hrf",
                             "data.fov_range=[20, 64]"])
    with pytest.raises(RetinasegError, match="artery/vein label"):
        fit(cfg)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_tiny_av_model_trains_from_a_vessel_model_and_segments_arteries_and_veins(
        av_root, tiny_model, tmp_path):
    from retinaseg.config.schema import load_config
    from retinaseg.data import load_dataset
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.segment import segment_photo
    from retinaseg.pipeline.settings import resolve_settings
    from retinaseg.train import fit

    cfg = load_config(None, [f"data.root={av_root}", f"out_dir={tmp_path / 'run'}", *TINY,
                             "epochs=2", "data.targets=av", "data.dataset=drive+les_av",
                             f"init_from={tiny_model}", "init_scope=widen",
                             "data.fov_range=[20, 64]"])
    model = load_model(str(fit(cfg)))
    assert model.meta.outputs == ["vessel", "artery", "vein"]
    sample = load_dataset("drive", "test", av_root)[0]
    done = segment_photo(model, sample.image, resolve_settings(model))
    artery, vein = done.masks["artery"], done.masks["vein"]
    assert not (artery & vein).any() and np.array_equal(artery | vein, done.mask)


def test_an_av_run_is_chosen_by_its_validation_av_accuracy(av_root, tmp_path):
    import csv

    from retinaseg.config.schema import load_config
    from retinaseg.train import fit

    cfg = load_config(None, [f"data.root={av_root}", f"out_dir={tmp_path / 'run'}", *TINY,
                             "epochs=2", "data.targets=av", "select_metric=av_accuracy"])
    fit(cfg)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    scores = [float(row["val_av_accuracy"]) for row in rows]
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)


def test_av_accuracy_is_refused_for_a_vessel_model(tmp_path):
    from retinaseg.config.schema import load_config

    with pytest.raises(RetinasegError, match="data.targets=av"):
        load_config(None, ["select_metric=av_accuracy"])


def test_evaluate_reports_av_scores_for_an_av_model_and_nothing_new_for_a_vessel_one(
        av_root, tiny_model, tmp_path):
    from retinaseg.config.schema import load_config
    from retinaseg.data import load_dataset
    from retinaseg.evaluation.evaluate import evaluate_model, format_table
    from retinaseg.hub.load import load_model
    from retinaseg.train import fit

    cfg = load_config(None, [f"data.root={av_root}", f"out_dir={tmp_path / 'run'}", *TINY,
                             "epochs=1", "data.targets=av"])
    av_model = load_model(str(fit(cfg)))
    data = load_dataset("drive", "test", av_root)
    result = evaluate_model(av_model, data)
    pooled = result.artery_vein["pooled"]
    assert 0 <= pooled["pixels"]["accuracy"] <= 1 and pooled["pixels"]["artery"] > 0
    assert len(result.artery_vein["per_image"]) == len(data)
    assert "artery/vein (pooled" in format_table(result)
    assert result.to_dict()["artery_vein"]["pooled"] == pooled
    vessel_only = evaluate_model(load_model(str(tiny_model)), data)
    assert vessel_only.artery_vein == {} and "artery_vein" not in vessel_only.to_dict()


def test_the_training_targets_are_the_ones_the_config_rules_allow():
    from retinaseg.config.rules import TRAINING_TARGETS
    from retinaseg.train.targets import TARGETS

    assert tuple(TARGETS) == TRAINING_TARGETS
