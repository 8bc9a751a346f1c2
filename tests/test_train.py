import csv

import numpy as np
import pytest
import torch

from retinaseg import RetinasegError
from retinaseg.checkpoint import load_checkpoint
from retinaseg.config import load_config
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
    assert model_path == out / "model.pt"
    for name in ("config.yaml", "log.csv", "last.pt", "best.pt", "model.pt"):
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
    with pytest.raises(RetinasegError, match="unknown loss"):
        fit(_config(synthetic_root, tmp_path / "a", "loss=focal"))
    with pytest.raises(RetinasegError, match="leaves no training images"):
        fit(_config(synthetic_root, tmp_path / "b", "data.val_count=99"))
    with pytest.raises(RetinasegError, match="not in the training split"):
        fit(_config(synthetic_root, tmp_path / "c", "data.val_ids=['nope']"))


def test_resuming_from_a_corrupt_checkpoint_is_a_clear_error(synthetic_root, tmp_path):
    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=1"))
    (out / "last.pt").write_bytes(b"truncated")
    with pytest.raises(RetinasegError, match="last.pt: not a readable checkpoint"):
        fit(_config(synthetic_root, out, "epochs=2", "resume=true"))


def test_weight_average_is_what_gets_validated_and_saved(synthetic_root, tmp_path):
    out = tmp_path / "ema"
    fit(_config(synthetic_root, out, "epochs=2", "ema=0.9", "val_every=99"))
    last = torch.load(out / "last.pt", weights_only=False)
    best = torch.load(out / "best.pt", weights_only=False)
    name = next(k for k, v in last["state_dict"].items() if v.is_floating_point() and "weight" in k)
    # best.pt holds the average, which lags the raw weights kept for resuming
    assert torch.equal(best["state_dict"][name], last["average"][name])
    assert not torch.allclose(last["average"][name], last["state_dict"][name])
    fit(_config(synthetic_root, out, "epochs=3", "ema=0.9", "resume=true"))
    assert [r["epoch"] for r in _log(out)] == ["1", "2", "3"]


def test_weight_average_decay_must_be_below_one(synthetic_root, tmp_path):
    with pytest.raises(RetinasegError, match="ema"):
        fit(_config(synthetic_root, tmp_path / "x", "ema=1.0"))


def test_fine_tuning_with_a_frozen_encoder_changes_only_the_decoder(synthetic_root, tmp_path):
    first = fit(_config(synthetic_root, tmp_path / "a", "epochs=1"))
    start = torch.load(first, weights_only=False)["state_dict"]
    tuned = fit(_config(synthetic_root, tmp_path / "b", "epochs=1", f"init_from={first}",
                        "freeze_encoder=true", "val_every=99"))
    after = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["state_dict"]
    assert tuned.is_file()
    encoder = [k for k in start if k.startswith("encoders.")]
    decoder = [k for k in start if k.startswith("decoders.") and after[k].is_floating_point()]
    # encoder weights and batch-norm statistics are untouched, the decoder moved
    assert all(torch.equal(start[k], after[k]) for k in encoder)
    assert any(not torch.equal(start[k], after[k]) for k in decoder)


def test_encoder_learning_rate_scale_slows_the_encoder(synthetic_root, tmp_path):
    first = fit(_config(synthetic_root, tmp_path / "a", "epochs=1"))
    start = torch.load(first, weights_only=False)["state_dict"]

    def encoder_shift(scale):
        out = tmp_path / f"s{scale}"
        fit(_config(synthetic_root, out, "epochs=1", f"init_from={first}", "val_every=99",
                    f"encoder_lr_scale={scale}", "optim.name=sgd", "optim.lr=0.05"))
        after = torch.load(out / "last.pt", weights_only=False)["state_dict"]
        return sum((after[k] - start[k]).abs().sum().item() for k in start
                   if k.startswith("encoders.") and k.endswith("weight"))

    assert encoder_shift(0.01) < 0.05 * encoder_shift(1.0)


def test_init_from_weights_of_another_shape_is_a_clear_error(synthetic_root, tmp_path):
    with pytest.raises(RetinasegError, match="do not fit"):
        fit(_config(synthetic_root, tmp_path / "x", "epochs=1", "init_from=unet-drive"))


def test_a_unet_encoder_starts_a_convlstm_unet(synthetic_root, tmp_path):
    first = fit(_config(synthetic_root, tmp_path / "a", "epochs=1", "model.kwargs.depth=3"))
    unet = torch.load(first, weights_only=False)["state_dict"]
    convlstm = ["model.name=convlstm-unet", "model.kwargs={base_channels: 4, depth: 2}",
                f"init_from={first}", "init_scope=encoder", "epochs=1", "val_every=99",
                "freeze_encoder=true"]
    fit(_config(synthetic_root, tmp_path / "b", *convlstm))
    after = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["state_dict"]
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
    bundle = load_checkpoint(out / "model.pt")
    assert bundle.meta.fov_diameter == pytest.approx(48, abs=2)
    assert all(":" in i for i in bundle.meta.extra["val_ids"])  # dataset-prefixed ids


def test_max_train_images_keeps_the_first_n_besides_validation(synthetic_root, tmp_path):
    from retinaseg.train import load_training_data

    cfg = _config(synthetic_root, tmp_path, "data.max_train_images=2", "data.val_ids=['21']")
    data = load_training_data(cfg, np.random.default_rng(0))
    assert len(data.train_images) == 2 and data.val_ids == ["21"]
