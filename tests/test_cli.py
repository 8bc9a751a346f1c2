"""The CLI end to end, as a user runs it: real files in, real files out."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image

from retinaseg.hub.checkpoint import ModelMeta, save_model
from retinaseg.cli import main
from retinaseg.models import create_model

def run_cli(*args):
    """Run the installed console script as a user would, in a subprocess."""
    exe = Path(sys.executable).with_name("retinaseg")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)



def test_evaluate_writes_metrics_json_and_prints_a_table(tiny_model, synthetic_root, tmp_path,
                                                         capsys):
    assert main(["evaluate", "--model", str(tiny_model), "--dataset", "drive", "--split", "test",
                 "--data-root", str(synthetic_root), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "metrics.json").read_text())
    keys = "accuracy sensitivity specificity precision f1 iou fpr mcc auc_roc auc_pr threshold"
    assert set(keys.split()) <= set(result["pooled"])
    assert len(result["per_image"]) == result["images"] > 0
    assert set(keys.split()) - {"threshold"} <= set(result["mean"])
    assert "2nd_manual" in result["observers"]
    assert result["threshold_source"] == "validation-f1"
    assert "auc_roc" in capsys.readouterr().out


def test_segment_folder_keeps_going_past_bad_files(tiny_model, user_folder, tmp_path):
    images = tmp_path / "in"
    shutil.copytree(user_folder / "images", images)
    (images / "empty.png").write_bytes(b"")
    good = next(p for p in images.iterdir() if p.suffix == ".jpg")
    (images / "truncated.jpg").write_bytes(good.read_bytes()[:300])
    out = tmp_path / "out"
    result = run_cli("segment", images, "--model", tiny_model, "--out", out,
                     "--save", "mask,prob,overlay")
    assert result.returncode == 1
    assert "empty.png: file is empty" in result.stderr
    assert "truncated.jpg: cannot be read" in result.stderr
    written = sorted(p.name for p in out.glob("*.png"))
    stems = sorted({p.stem for p in (user_folder / "images").iterdir()})
    assert written == sorted(f"{s}_{kind}.png" for s in stems for kind in ("mask", "overlay", "prob"))
    mask = Image.open(out / f"{stems[0]}_mask.png")
    assert mask.size == Image.open(next((user_folder / "images").glob(f"{stems[0]}.*"))).size


@pytest.mark.parametrize("args,fragments", [
    (["segment", "--sample", "--model", "no-such-model"], ["unknown model 'no-such-model'"]),
    (["evaluate", "--dataset", "nosuch", "--data-root", "."], ["unknown dataset 'nosuch'"]),
    (["segment", "missing.png"], ["missing.png: no such file"]),
    (["train", "--config", "missing.yaml"], ["missing.yaml: no such config file"]),
    (["segment"], ["nothing to segment"]),
    (["calibrate", "--model", "missing.pt", "--config", "missing.yaml", "--out", "x.pt"],
     ["missing.yaml: no such config file"]),
])
def test_user_mistakes_are_one_line_errors(args, fragments, tmp_path):
    assert_one_line_error(run_cli(*args), *fragments)


def test_checkpoint_of_another_architecture_is_refused(tmp_path, user_folder):
    path = tmp_path / "odd.safetensors"
    meta = ModelMeta("unet", {"in_channels": 1, "base_channels": 4, "depth": 2}, ["green"], 50.0)
    module = create_model("unet", in_channels=1, base_channels=8, depth=2)  # weights do not fit
    save_model(path, module, meta)
    assert_one_line_error(run_cli("segment", user_folder / "images", "--model", path, "--out",
                            tmp_path / "o"), "odd.safetensors", "do not fit")
    assert not (tmp_path / "o").exists()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert_one_line_error(run_cli("segment", user_folder / "images", "--model", garbage),
                    "garbage.pt", "not a readable checkpoint")


def test_mask_of_another_size_fails_evaluation_naming_the_file(tiny_model, make_dataset, tmp_path):
    root, folder = make_dataset("drive")
    mask = folder / "test" / "1st_manual" / "01_manual1.gif"
    Image.open(mask).resize((10, 10)).save(mask)
    result = run_cli("evaluate", "--model", tiny_model, "--dataset", "drive", "--data-root", root,
                     "--out", tmp_path / "out")
    assert_one_line_error(result, "01_manual1.gif", "mask is 10x10")
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_models_and_datasets_listings(synthetic_root):
    models = run_cli("models")
    assert models.returncode == 0 and "unet" in models.stdout and "unet-drive" in models.stdout
    datasets = run_cli("datasets", "--data-root", synthetic_root)
    assert datasets.returncode == 0
    assert "drive" in datasets.stdout and "complete" in datasets.stdout


def test_sample_segments_the_bundled_photo_with_shipped_weights(tmp_path):
    result = run_cli("segment", "--sample", "--out", tmp_path, "--save", "mask,prob,overlay")
    assert result.returncode == 0, result.stderr
    for kind in ("prob", "mask", "overlay"):
        image = Image.open(tmp_path / f"skimage-retina_{kind}.png")
        assert image.size == (1411, 1411)
    share = (np.asarray(Image.open(tmp_path / "skimage-retina_mask.png")) > 0).mean()
    assert 0.03 < share < 0.2  # a vessel tree, not an empty or flooded mask


def test_outputs_are_readable_by_others(tiny_model, user_folder, tmp_path):
    out = tmp_path / "out"
    assert run_cli("segment", user_folder / "images", "--model", tiny_model, "--out", out).returncode == 0
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in out.iterdir())


def test_calibrate_ships_a_tta_that_evaluate_then_uses(tiny_model, synthetic_root, tmp_path,
                                                      capsys):
    calibrated = tmp_path / "calibrated.safetensors"
    assert main(["calibrate", "--model", str(tiny_model), "--config",
                 str(tiny_model.with_name("config.yaml")), "--data-root", str(synthetic_root),
                 "--tta", "flip", "--out", str(calibrated)]) == 0
    assert "TTA flip" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(calibrated), "--dataset", "drive", "--split", "test",
                 "--data-root", str(synthetic_root), "--out", str(tmp_path / "eval")]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["tta"] == "flip"
    assert main(["evaluate", "--model", str(calibrated), "--dataset", "drive", "--split", "test",
                 "--data-root", str(synthetic_root), "--tta", "none",
                 "--out", str(tmp_path / "plain")]) == 0
    assert json.loads((tmp_path / "plain" / "metrics.json").read_text())["tta"] == "none"
