import csv

import numpy as np
import pytest
import torch

from retinaseg import RetinasegError
from retinaseg.hub.checkpoint import load_checkpoint, read_checkpoint
from retinaseg.config.schema import load_config
from retinaseg.train import fit

TINY = ["model.kwargs={base_channels: 4, depth: 2}", "data.crop_size=32",
        "data.crops_per_image=2", "data.batch_size=8", "progress=false", "threads=1"]


def _config(root, out, *extra):
    return load_config(None, [f"data.root={root}", f"out_dir={out}", *TINY, *extra])


def _log(out):
    with open(out / "log.csv") as handle:
        return list(csv.DictReader(handle))


def test_run_folder_holds_config_log_and_checkpoints(synthetic_root, tmp_path):
    out = tmp_path / "run"
    model_path = fit(_config(synthetic_root, out, "epochs=2"))
    assert model_path == out / "model.safetensors"
    for name in ("config.yaml", "log.csv", "last.safetensors", "best.safetensors", "model.safetensors"):
        assert (out / name).is_file(), name
    rows = _log(out)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(0 < float(r["val_auc_roc"]) <= 1 for r in rows)
    bundle = load_checkpoint(model_path)
    assert bundle.meta.threshold_source == "validation-f1"
    assert 0 < bundle.meta.threshold <= 1
    assert len(bundle.meta.extra["val_ids"]) == 2
    assert bundle.meta.fov_diameter > 20


def test_resume_continues_where_the_run_stopped(synthetic_root, tmp_path):
    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=2"))
    first = _log(out)
    fit(_config(synthetic_root, out, "epochs=3", "resume=true"))
    rows = _log(out)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[:2] == first


def test_resuming_with_more_epochs_replans_the_schedule(synthetic_root, tmp_path):
    # The cosine must reach its floor at the new last epoch, not stop half-way down
    # (or keep decaying past the old end).
    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=2", "schedule.warmup_epochs=0"))
    fit(_config(synthetic_root, out, "epochs=4", "schedule.warmup_epochs=0", "resume=true"))
    longer = [float(r["lr"]) for r in _log(out)]
    straight = tmp_path / "straight"
    fit(_config(synthetic_root, straight, "epochs=4", "schedule.warmup_epochs=0"))
    planned = [float(r["lr"]) for r in _log(straight)]
    assert longer[2:] == planned[2:]  # from the resumed epoch on, the 4-epoch curve
    assert longer[1] < planned[1]  # before it, the 2-epoch curve had decayed faster


def test_training_learns_vessels(synthetic_root, tmp_path):
    # Real training on synthetic vessel trees: validation AUC must clearly beat chance.
    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=12", "data.crops_per_image=4",
                "optim.lr=0.01", "schedule.name=constant"))
    best = max(float(r["val_auc_roc"]) for r in _log(out))
    assert best > 0.85


@pytest.mark.parametrize("loss", ["weighted_bce", "dice", "bce+dice"])
def test_every_loss_trains(synthetic_root, tmp_path, loss):
    fit(_config(synthetic_root, tmp_path / loss, "epochs=1", f"loss={loss}"))
    assert torch.isfinite(torch.tensor(float(_log(tmp_path / loss)[0]["train_loss"])))


def test_bad_loss_and_validation_split_are_clear_errors(synthetic_root, tmp_path):
    with pytest.raises(RetinasegError, match="loss=.focal. is not allowed: must be one of bce"):
        fit(_config(synthetic_root, tmp_path / "a", "loss=focal"))
    with pytest.raises(RetinasegError, match="leaves no training images"):
        fit(_config(synthetic_root, tmp_path / "b", "data.val_count=99"))
    with pytest.raises(RetinasegError, match="not in the training split"):
        fit(_config(synthetic_root, tmp_path / "c", "data.val_ids=['nope']"))


def test_resuming_from_a_corrupt_checkpoint_is_a_clear_error(synthetic_root, tmp_path):
    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=1"))
    (out / "last.safetensors").write_bytes(b"truncated")
    with pytest.raises(RetinasegError, match="last.safetensors: not a readable checkpoint"):
        fit(_config(synthetic_root, out, "epochs=2", "resume=true"))


def test_weight_average_is_what_gets_validated_and_saved(synthetic_root, tmp_path):
    out = tmp_path / "ema"
    fit(_config(synthetic_root, out, "epochs=2", "ema=0.9", "val_every=99"))
    last = read_checkpoint(out / "last.safetensors")
    best = read_checkpoint(out / "best.safetensors")
    name = next(k for k, v in last.state_dict.items() if v.is_floating_point() and "weight" in k)
    # best holds the average, which lags the raw weights kept for resuming
    assert torch.equal(best.state_dict[name], last.average[name])
    assert not torch.allclose(last.average[name], last.state_dict[name])
    fit(_config(synthetic_root, out, "epochs=3", "ema=0.9", "resume=true"))
    assert [r["epoch"] for r in _log(out)] == ["1", "2", "3"]


def test_weight_average_decay_must_be_below_one(synthetic_root, tmp_path):
    with pytest.raises(RetinasegError, match="ema"):
        fit(_config(synthetic_root, tmp_path / "x", "ema=1.0"))


def test_fine_tuning_with_a_frozen_encoder_changes_only_the_decoder(synthetic_root, tmp_path):
    first = fit(_config(synthetic_root, tmp_path / "a", "epochs=1"))
    start = read_checkpoint(first).state_dict
    tuned = fit(_config(synthetic_root, tmp_path / "b", "epochs=1", f"init_from={first}",
                        "freeze_encoder=true", "val_every=99"))
    after = read_checkpoint(tmp_path / "b" / "last.safetensors").state_dict
    assert tuned.is_file()
    encoder = [k for k in start if k.startswith("encoders.")]
    decoder = [k for k in start if k.startswith("decoders.") and after[k].is_floating_point()]
    # encoder weights and batch-norm statistics are untouched, the decoder moved
    assert all(torch.equal(start[k], after[k]) for k in encoder)
    assert any(not torch.equal(start[k], after[k]) for k in decoder)


def test_encoder_learning_rate_scale_slows_the_encoder(synthetic_root, tmp_path):
    first = fit(_config(synthetic_root, tmp_path / "a", "epochs=1"))
    start = read_checkpoint(first).state_dict

    def encoder_shift(scale):
        out = tmp_path / f"s{scale}"
        fit(_config(synthetic_root, out, "epochs=1", f"init_from={first}", "val_every=99",
                    f"encoder_lr_scale={scale}", "optim.name=sgd", "optim.lr=0.05"))
        after = read_checkpoint(out / "last.safetensors").state_dict
        return sum((after[k] - start[k]).abs().sum().item() for k in start
                   if k.startswith("encoders.") and k.endswith("weight"))

    assert encoder_shift(0.01) < 0.05 * encoder_shift(1.0)


def test_init_from_weights_of_another_shape_is_a_clear_error(synthetic_root, tmp_path):
    with pytest.raises(RetinasegError, match="do not fit"):
        fit(_config(synthetic_root, tmp_path / "x", "epochs=1", "init_from=unet-drive"))


def test_a_unet_encoder_starts_a_convlstm_unet(synthetic_root, tmp_path):
    first = fit(_config(synthetic_root, tmp_path / "a", "epochs=1", "model.kwargs.depth=3"))
    unet = read_checkpoint(first).state_dict
    convlstm = ["model.name=convlstm-unet", "model.kwargs={base_channels: 4, depth: 2}",
                f"init_from={first}", "init_scope=encoder", "epochs=1", "val_every=99",
                "freeze_encoder=true"]
    fit(_config(synthetic_root, tmp_path / "b", *convlstm))
    after = read_checkpoint(tmp_path / "b" / "last.safetensors").state_dict
    encoder = [k for k in after if k.startswith("encoders.")]
    assert encoder and all(torch.equal(unet[k], after[k]) for k in encoder)
    with pytest.raises(RetinasegError, match="encoder does not fit"):
        fit(_config(synthetic_root, tmp_path / "c", *convlstm, "model.kwargs.base_channels=8"))


def test_specificity_floor_sets_the_shipped_threshold(synthetic_root, tmp_path):
    loose = load_checkpoint(fit(_config(synthetic_root, tmp_path / "a", "epochs=1")))
    strict = load_checkpoint(fit(_config(synthetic_root, tmp_path / "b", "epochs=1",
                                         "threshold_min_specificity=0.999")))
    assert strict.meta.threshold_source == "validation-f1 at specificity >= 0.999"
    assert strict.meta.threshold >= loose.meta.threshold


def test_joined_datasets_train_at_one_scale(synthetic_root, tmp_path):
    with pytest.raises(RetinasegError, match="fov_diameter"):
        fit(_config(synthetic_root, tmp_path / "x", "data.dataset=chase_db1+hrf",
                    "data.split=all"))
    out = tmp_path / "joined"
    fit(_config(synthetic_root, out, "epochs=1", "data.dataset=chase_db1+hrf", "data.split=all",
                "data.fov_diameter=48"))
    bundle = load_checkpoint(out / "model.safetensors")
    assert bundle.meta.fov_diameter == pytest.approx(48, abs=2)
    assert all(":" in i for i in bundle.meta.extra["val_ids"])  # dataset-prefixed ids


def test_max_train_images_keeps_the_first_n_besides_validation(synthetic_root, tmp_path):
    from retinaseg.train import load_training_data

    cfg = _config(synthetic_root, tmp_path, "data.max_train_images=2", "data.val_ids=['21']")
    data = load_training_data(cfg, np.random.default_rng(0))
    assert len(data.train_images) == 2 and data.val_ids == ["21"]


def test_square_size_trains_square_and_predicts_at_native_size(synthetic_root, tmp_path):
    from synthetic import synthetic_fundus

    from retinaseg.pipeline.predict import predict_probabilities
    from retinaseg.train import load_training_data

    cfg = _config(synthetic_root, tmp_path / "sq", "epochs=1", "data.square_size=48")
    data = load_training_data(cfg, np.random.default_rng(0))
    assert {i.shape for i in data.train_images} == {(48, 48, 3)}
    assert {v.shape for v in data.val_vessels + data.val_fovs} == {(48, 48)}
    assert set(torch.cat([v.flatten() for v in data.train_vessels]).unique().tolist()) == {0.0, 1.0}
    bundle = load_checkpoint(fit(cfg))
    assert bundle.meta.square_size == 48
    image, _, fov = synthetic_fundus(50, 70, seed=3)  # not square, not the training size
    prob = predict_probabilities(bundle, image, fov)
    assert prob.shape == (50, 70) and np.all(prob[~fov] == 0)


def test_a_checkpoint_from_before_square_size_loads(tiny_model, tmp_path):
    from dataclasses import asdict

    from retinaseg.hub.checkpoint import LEGACY_FORMAT

    model = read_checkpoint(tiny_model)
    meta = asdict(model.meta)
    del meta["square_size"]
    torch.save({"format": LEGACY_FORMAT, "meta": meta, "state_dict": model.state_dict},
               tmp_path / "old.pt")  # a format-1 file, as training wrote before safetensors
    assert load_checkpoint(tmp_path / "old.pt").meta.square_size == 0


@pytest.mark.parametrize("extra, message", [
    (["data.square_size=48", "data.fov_diameter=40"], "square_size and data.fov_diameter"),
    (["augment.fixed_rotations=4"], "set augment.rotate=0"),
    (["augment.fixed_rotations=-1", "augment.rotate=0"], "fixed_rotations=-1 is not allowed"),
    (["fixed_threshold=1.5"], "fixed_threshold"),
    (["pos_weight=-1"], "pos_weight"),
    (["tta=mirror"], "mirror"),
])
def test_conflicting_or_bad_options_are_clear_errors(synthetic_root, tmp_path, extra, message):
    with pytest.raises(RetinasegError, match=message):
        fit(_config(synthetic_root, tmp_path / "x", *extra))


def _aligned_data(count=2, height=40, width=48):
    """Images whose red channel *is* the vessel mask: any misalignment shows."""
    from retinaseg.train import TrainingData

    rng = np.random.default_rng(0)
    data = TrainingData([], [], [])
    for _ in range(count):
        vessel = np.zeros((height, width), bool)
        for _ in range(4):
            vessel[rng.integers(4, height - 4) + np.arange(-1, 2), :] = True
            vessel[:, rng.integers(4, width - 4) + np.arange(-1, 2)] = True
        image = np.zeros((height, width, 3), np.uint8)
        image[..., 0] = vessel * 255
        data.train_images.append(image)
        data.train_vessels.append(torch.from_numpy(vessel.astype(np.float32)))
        data.train_fovs.append(np.ones((height, width), bool))
    return data


@pytest.mark.parametrize("crop", [0, 16])
def test_fixed_rotations_show_every_image_at_every_angle_aligned(tmp_path, crop):
    from retinaseg.config.schema import config_from_dict
    from retinaseg.train import epoch_batches, steps_per_epoch

    data = _aligned_data()
    cfg = config_from_dict({
        "data": {"preprocess": ["rgb"], "crop_size": crop, "crops_per_image": 2, "batch_size": 4},
        "augment": {"fixed_rotations": 6, "rotate": 0, "scale": 0, "flip": False,
                    "brightness": 0, "contrast": 0, "gamma": 0}})
    views = 2 * 6 * (2 if crop else 1)  # images x angles x crops
    assert steps_per_epoch(data, cfg) == -(-views // 4)
    batches = list(epoch_batches(data, cfg, 8, epoch=1))
    assert len(batches) == steps_per_epoch(data, cfg)
    images, vessels, fovs = (torch.cat(t) for t in zip(*batches))
    assert len(images) == views
    assert images.shape[-2:] == ((16, 16) if crop else (40, 48))  # stride 8 divides both
    assert set(vessels.unique().tolist()) <= {0.0, 1.0} and set(fovs.unique().tolist()) <= {0.0, 1.0}
    assert ((images[:, :1] > 0.5) == (vessels > 0.5)).float().mean() > 0.99
    if not crop:  # at 60 degrees the corners rotate in from outside the photo
        assert fovs.mean() < 1.0 and fovs[:, :, 20, 24].all()


def test_fixed_rotations_train_on_whole_images(synthetic_root, tmp_path):
    out = tmp_path / "rot"
    fit(_config(synthetic_root, out, "epochs=1", "augment.fixed_rotations=4", "augment.rotate=0",
                "data.crop_size=0", "data.batch_size=4", "val_every=99"))
    assert np.isfinite(float(_log(out)[0]["train_loss"]))


def test_fixed_threshold_is_shipped_and_validation_still_picks_the_epoch(synthetic_root, tmp_path):
    out = tmp_path / "fixed"
    bundle = load_checkpoint(fit(_config(synthetic_root, out, "epochs=2", "fixed_threshold=0.5")))
    assert bundle.meta.threshold == 0.5 and bundle.meta.threshold_source == "fixed"
    assert (out / "best.safetensors").is_file() and all(r["val_auc_roc"] for r in _log(out))


def test_automatic_pos_weight_is_the_class_balance_inside_the_fov(synthetic_root, tmp_path):
    from retinaseg.config.schema import load_config as reload
    from retinaseg.train import load_training_data

    cfg = _config(synthetic_root, tmp_path / "auto", "epochs=1", "loss=weighted_bce",
                  "pos_weight=0", "val_every=99")
    data = load_training_data(cfg, np.random.default_rng(0))
    vessel = sum(int(v.numpy()[f].sum()) for v, f in zip(data.train_vessels, data.train_fovs))
    inside = sum(int(f.sum()) for f in data.train_fovs)
    assert data.pos_weight == pytest.approx((inside - vessel) / vessel, rel=1e-4)
    bundle = load_checkpoint(fit(cfg))
    assert bundle.meta.extra["pos_weight_auto"] == data.pos_weight
    assert reload(tmp_path / "auto" / "config.yaml").pos_weight == data.pos_weight


def test_a_recipe_tta_chooses_the_threshold_and_becomes_the_models_default(synthetic_root,
                                                                           tmp_path):
    from synthetic import synthetic_fundus

    from retinaseg.pipeline.predict import predict_probabilities

    bundle = load_checkpoint(fit(_config(synthetic_root, tmp_path / "flip", "epochs=1",
                                         "tta=flip")))
    assert bundle.meta.tta == "flip" and 0 < bundle.meta.threshold < 1
    image, _, fov = synthetic_fundus(48, 48, seed=5)
    default = predict_probabilities(bundle, image, fov)
    assert np.array_equal(default, predict_probabilities(bundle, image, fov, "flip"))
    assert not np.array_equal(default, predict_probabilities(bundle, image, fov, "none"))


def test_calibrate_rechooses_the_threshold_without_touching_the_weights(synthetic_root, tmp_path):
    from retinaseg.train import calibrate

    out = tmp_path / "run"
    plain = load_checkpoint(fit(_config(synthetic_root, out, "epochs=1")), for_inference=False)
    same = calibrate(out / "model.safetensors", _config(synthetic_root, out), tmp_path / "same.safetensors")
    assert same.threshold == pytest.approx(plain.meta.threshold)  # same rule: same answer
    calibrate(out / "model.safetensors", _config(synthetic_root, out, "tta=flip",
                                        "threshold_min_specificity=0.999"), tmp_path / "strict.safetensors")
    strict = load_checkpoint(tmp_path / "strict.safetensors", for_inference=False)
    assert strict.meta.tta == "flip"
    assert strict.meta.threshold_source == "validation-f1 at specificity >= 0.999"
    assert strict.meta.threshold != plain.meta.threshold
    assert strict.config["tta"] == "flip"
    for name, weight in plain.module.state_dict().items():
        assert torch.equal(weight, strict.module.state_dict()[name]), name


def test_calibrating_on_other_validation_images_is_a_clear_error(synthetic_root, tmp_path):
    from retinaseg.train import calibrate

    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=1", "data.val_ids=['21', '22']"))
    with pytest.raises(RetinasegError, match="was validated on"):
        calibrate(out / "model.safetensors", _config(synthetic_root, out, "data.val_ids=['23', '24']"),
                  tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
