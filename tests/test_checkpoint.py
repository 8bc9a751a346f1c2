"""Checkpoint files: safetensors without pickle, checked meta, malicious .pt files
refused at every entry point, and training that survives SIGKILL."""
import csv
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_TRAINING, assert_one_line_error
from safetensors.torch import save

from retinaseg import RetinasegError
from retinaseg.hub.checkpoint import (HEADER_KEY, LEGACY_FORMAT, Checkpoint, ModelMeta,
                                  checkpoint_bytes, load_checkpoint, pack_optimizer,
                                  read_checkpoint, unpack_optimizer)
from retinaseg.config.schema import load_config
from retinaseg.models import create_model
from retinaseg.train import fit

TESTS = Path(__file__).resolve().parent
KILLER = TESTS / "killed_training.py"
BAD_INPUT = TESTS.parent / "benchmarks" / "bad_input.py"
META = {"architecture": "unet", "kwargs": {"in_channels": 1, "base_channels": 4, "depth": 2},
        "preprocess": ["green"], "fov_diameter": 50.0}


def _cli(*args, env=None):
    exe = Path(sys.executable).with_name("retinaseg")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=env)



def _file_with_meta(path: Path, meta: dict) -> Path:
    module = create_model("unet", in_channels=1, base_channels=4, depth=2)
    header = {"format": "retinaseg-checkpoint-2", "meta": meta, "config": {}}
    tensors = {k: v.contiguous() for k, v in module.state_dict().items()}
    path.write_bytes(save(tensors, {HEADER_KEY: json.dumps(header)}))
    return path


# --------------------------------------------------------------------------- meta

def test_a_field_with_a_default_may_be_missing(tmp_path):
    bundle = load_checkpoint(_file_with_meta(tmp_path / "old.safetensors", META))
    assert bundle.meta.tta == "none" and bundle.meta.square_size == 0


@pytest.mark.parametrize("change, message", [
    ({"architecture": None}, "lacks the field 'architecture'"),
    ({"fov_diameter": None}, "lacks the field 'fov_diameter'"),
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"threshold": "0.5"}, "field 'threshold' should be a number"),
    ({"kwargs": [1, 2]}, "field 'kwargs' should be a mapping"),
    ({"preprocess": ["green", 3]}, "field 'preprocess' should be a list of strings"),
    ({"square_size": 1.5}, "field 'square_size' should be an integer"),
    ({"square_size": True}, "field 'square_size' should be an integer"),
    ({"threshold_rule": "median"}, "field 'threshold_rule' should be one of fixed, otsu"),
    ({"caliber_px": -1.0}, "field 'caliber_px' should be a number >= 0"),
    ({"caliber_px": float("nan")}, "field 'caliber_px' should be a number >= 0"),
    ({"caliber_band": ["a", "b"]}, "field 'caliber_band' should be [low, high]"),
    ({"caliber_band": [9.0, 3.0]}, "field 'caliber_band' should be [low, high]"),
    ({"caliber_band": [0.0, 3.0, 4.0]}, "field 'caliber_band' should be [low, high]"),
])
def test_missing_extra_or_wrong_typed_meta_is_aassert_one_line_error(tmp_path, change, message):
    meta = {k: v for k, v in {**META, **change}.items() if v is not None}
    path = _file_with_meta(tmp_path / "bad.safetensors", meta)
    with pytest.raises(RetinasegError, match="bad.safetensors: ") as caught:
        load_checkpoint(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_same_checkpoint_is_the_same_bytes():
    module = create_model("unet", in_channels=1, base_channels=4, depth=2)
    optimizer = torch.optim.Adam(module.parameters())
    module(torch.randn(1, 1, 16, 16)).mean().backward()
    optimizer.step()
    checkpoint = Checkpoint(ModelMeta(**META), module.state_dict(), {"b": 1, "a": [2]},
                            optimizer=optimizer.state_dict(), torch_rng=torch.get_rng_state(),
                            training={"epoch": 3, "row": {"epoch": 3}, "best": -float("inf")})
    assert checkpoint_bytes(checkpoint) == checkpoint_bytes(checkpoint)


def test_optimizer_state_survives_the_file_without_pickle(tmp_path):
    module = create_model("unet", in_channels=1, base_channels=4, depth=2)
    optimizer = torch.optim.AdamW(module.parameters(), lr=0.01, betas=(0.8, 0.9))
    module(torch.randn(1, 1, 16, 16)).mean().backward()
    optimizer.step()
    state = optimizer.state_dict()
    path = tmp_path / "last.safetensors"
    path.write_bytes(checkpoint_bytes(Checkpoint(ModelMeta(**META), module.state_dict(),
                                                 optimizer=state)))
    restored = read_checkpoint(path).optimizer
    assert restored["state"].keys() == state["state"].keys()  # int parameter indices
    for index, values in state["state"].items():
        for name, value in values.items():
            assert torch.equal(restored["state"][index][name], value), (index, name)
    assert restored["param_groups"][0]["betas"] == [0.8, 0.9]
    unpacked = unpack_optimizer(*pack_optimizer(state))
    assert unpacked["state"].keys() == state["state"].keys()


# --------------------------------------------------------------------------- pickles

def _malicious_pt(path: Path, marker: Path, tiny_model: Path | None) -> Path:
    """The bad-input corpus's attack file (benchmarks/bad_input.py), one definition for both."""
    spec = importlib.util.spec_from_file_location("bad_input", BAD_INPUT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bad_input"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.malicious_pt(path, marker, tiny_model)


@pytest.mark.parametrize("with_weights", [False, True], ids=["bare", "with-weights"])
def test_the_malicious_files_do_run_code_when_fully_unpickled(tiny_model, tmp_path, with_weights):
    # The control for the tests below: these files are real attacks.
    marker = tmp_path / "marker"
    path = _malicious_pt(tmp_path / "evil.pt", marker, tiny_model if with_weights else None)
    payload = torch.load(path, weights_only=False)  # what the old code did
    assert marker.exists()
    if with_weights:
        model = create_model(payload["meta"]["architecture"], **payload["meta"]["kwargs"])
        model.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})


def _entry_points(tmp_path: Path, synthetic_root: Path, user_folder: Path, evil: Path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"root": str(synthetic_root)},
                                      "model": {"kwargs": {"base_channels": 4, "depth": 2}}}))
    resume = tmp_path / "run"
    resume.mkdir()
    os.link(evil, resume / "last.pt")  # a run folder from before safetensors
    train = ["train", "--data-root", synthetic_root, *TINY_TRAINING, "--set", "epochs=1"]
    return {
        "segment": (["segment", user_folder / "images", "--model", evil,
                     "--out", tmp_path / "seg"], evil.name),
        "evaluate": (["evaluate", "--model", evil, "--dataset", "drive", "--data-root",
                      synthetic_root, "--out", tmp_path / "eval"], evil.name),
        "calibrate": (["calibrate", "--model", evil, "--config", config, "--data-root",
                       synthetic_root, "--out", tmp_path / "cal.safetensors"], evil.name),
        "init_from": ([*train, "--out", tmp_path / "init", "--set", f"init_from={evil}"],
                      evil.name),
        "resume": ([*train, "--out", resume, "--resume"], "last.pt"),
    }


@pytest.mark.parametrize("with_weights", [False, True], ids=["bare", "with-weights"])
@pytest.mark.parametrize("entry", ["segment", "evaluate", "calibrate", "init_from", "resume"])
def test_a_malicious_pt_runs_no_code_at_any_entry_point(tiny_model, synthetic_root, user_folder,
                                                        tmp_path, capsys, entry, with_weights):
    from retinaseg.cli import main

    marker = tmp_path / "marker"
    evil = _malicious_pt(tmp_path / "evil.pt", marker, tiny_model if with_weights else None)
    args, named = _entry_points(tmp_path, synthetic_root, user_folder, evil)[entry]
    capsys.readouterr()
    status = main([str(a) for a in args])  # what the console script runs, in this process
    result = subprocess.CompletedProcess(args, status, "", capsys.readouterr().err)
    assert_one_line_error(result, named, "contains pickled code/objects; not loaded")
    assert not marker.exists()
    assert not any(p.suffix == ".safetensors" for p in tmp_path.rglob("*"))  # nothing written


def test_a_legacy_checkpoint_of_plain_tensors_still_loads(tiny_model, tmp_path):
    model = read_checkpoint(tiny_model)
    path = tmp_path / "old.pt"
    torch.save({"format": LEGACY_FORMAT, "meta": asdict(model.meta), "config": model.config,
                "state_dict": {k: v.half() if v.is_floating_point() else v
                               for k, v in model.state_dict.items()}}, path)
    legacy, current = load_checkpoint(path), load_checkpoint(tiny_model)
    assert legacy.meta == current.meta and legacy.config == current.config
    for name, value in current.module.state_dict().items():
        assert torch.allclose(legacy.module.state_dict()[name], value, atol=1e-2), name


# --------------------------------------------------------------------------- resume

TINY = ["model.kwargs={base_channels: 4, depth: 2}", "data.crop_size=32",
        "data.crops_per_image=2", "data.batch_size=2", "data.max_train_images=4",
        "progress=false", "threads=1", "ema=0.9"]


def _config(root, out, *extra):
    return load_config(None, [f"data.root={root}", f"out_dir={out}", *TINY, *extra])


def _log(out: Path) -> list[dict]:
    with open(out / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]


def test_resuming_a_checkpoint_of_another_width_is_aassert_one_line_error(synthetic_root, tmp_path):
    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=1", "model.kwargs.base_channels=8"))
    with pytest.raises(RetinasegError) as caught:
        fit(_config(synthetic_root, out, "epochs=2", "resume=true"))
    assert str(caught.value) == (f"{out / 'last.safetensors'}: holds a unet with base_channels "
                                 "8, but the config asks for base_channels 4")
    result = _cli("train", "--data-root", synthetic_root, "--out", out, "--resume",
                  *TINY_TRAINING, "--set", "model.name=column-bilstm", "--set",
                  "model.kwargs={hidden_size: 4}")
    assert_one_line_error(result, "last.safetensors: holds a unet model, but the config asks for "
                            "a column-bilstm")


def test_a_finished_model_or_a_partial_state_is_not_a_resume_point(synthetic_root, tmp_path):
    from retinaseg.hub.checkpoint import write_checkpoint

    out = tmp_path / "run"
    fit(_config(synthetic_root, out, "epochs=1"))
    last = read_checkpoint(out / "last.safetensors")
    os.replace(out / "model.safetensors", out / "last.safetensors")
    with pytest.raises(RetinasegError, match="holds no training state to resume from"):
        fit(_config(synthetic_root, out, "epochs=2", "resume=true"))
    training = {k: v for k, v in last.training.items() if k != "numpy_rng"}
    write_checkpoint(out / "last.safetensors", dataclasses.replace(last, training=training))
    with pytest.raises(RetinasegError, match="last.safetensors: its training state is "
                                             "incomplete \\('numpy_rng'\\)"):
        fit(_config(synthetic_root, out, "epochs=2", "resume=true"))


def _as_format_1(out: Path) -> None:
    """Turn a run folder into one the previous release wrote: torch.save'd
    last.pt and best.pt, and a log whose cumulative time column is ``seconds``."""
    last = read_checkpoint(out / "last.safetensors")
    training = dict(last.training)
    rng = training.pop("numpy_rng")
    training.pop("row")
    torch.save({"format": LEGACY_FORMAT, "meta": asdict(last.meta), "state_dict": last.state_dict,
                "config": last.config, "optimizer": last.optimizer, "state": training,
                "rng": rng, "torch_rng": last.torch_rng, "average": last.average},
               out / "last.pt")
    best = read_checkpoint(out / "best.safetensors")
    torch.save({"format": LEGACY_FORMAT, "meta": asdict(best.meta), "state_dict": best.state_dict,
                "config": best.config}, out / "best.pt")
    rows = _log(out)
    with open(out / "log.csv", "w", newline="") as handle:
        fields = ["epoch", "lr", "train_loss", "val_auc_roc", "val_f1", "val_threshold", "seconds"]
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows([{**{k: r[k] for k in fields[:-1]}, "seconds": r["total_seconds"]}
                          for r in rows])
    for name in ("last", "best", "model"):
        (out / f"{name}.safetensors").unlink(missing_ok=True)


def test_a_run_started_before_safetensors_resumes_from_its_last_pt(uninterrupted, synthetic_root,
                                                                   tmp_path):
    out = tmp_path / "old"
    assert _killable_train(out, synthetic_root, "mid-epoch", 3).returncode == -9
    _as_format_1(out)  # as if the killed run had been started by the previous release
    _resume(out, synthetic_root)
    _same_result(uninterrupted, out, legacy_rows=2)


def _same_result(expected: Path, actual: Path, legacy_rows: int = 0) -> None:
    """The run in ``actual`` ended as the one in ``expected``: same weights, same
    threshold, the same log rows (times aside), once each, and no temporary files.
    The first ``legacy_rows`` rows come from a log written before epoch_seconds."""
    want, got = read_checkpoint(expected / "model.safetensors"), read_checkpoint(
        actual / "model.safetensors")
    assert want.state_dict.keys() == got.state_dict.keys()
    for name, value in want.state_dict.items():
        assert torch.equal(value, got.state_dict[name]), name
    assert got.meta.threshold == want.meta.threshold
    assert got.meta.extra["best_epoch"] == want.meta.extra["best_epoch"]
    assert _untimed(_log(actual)) == _untimed(_log(expected))
    assert [r["epoch"] for r in _log(actual)] == ["1", "2", "3"]
    rows = _log(actual)  # epoch_seconds per epoch, total_seconds their running sum
    assert all(r["epoch_seconds"] == "" and r["total_seconds"] for r in rows[:legacy_rows])
    timed = rows[legacy_rows:]
    start = float(rows[legacy_rows - 1]["total_seconds"]) if legacy_rows else 0.0
    assert timed and abs(start + sum(float(r["epoch_seconds"]) for r in timed)
                         - float(rows[-1]["total_seconds"])) <= 0.1 * len(rows)
    assert not [p.name for p in actual.iterdir() if p.name.endswith(".tmp")]


def _killable_train(out: Path, root: Path, kill_at: str, epoch: int = 2, *extra: str):
    settings = [item for setting in TINY for item in ("--set", setting)]
    return subprocess.run([sys.executable, str(KILLER), kill_at, str(epoch), "--",
                           "--data-root", str(root), "--out", str(out), *settings,
                           "--set", "epochs=3", *extra], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def _resume(out: Path, root: Path) -> None:
    """``retinaseg train --resume`` in this process (the killed one ran in another)."""
    from retinaseg.cli import main

    settings = [item for setting in TINY for item in ("--set", setting)]
    assert main(["train", "--data-root", str(root), "--out", str(out), *settings,
                 "--set", "epochs=3", "--resume"]) == 0


@pytest.fixture(scope="module")
def uninterrupted(synthetic_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    result = _killable_train(out, synthetic_root, "none")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("kill_at, leaves_temp", [
    ("mid-epoch", False), ("before-rename", True), ("half-written", True), ("before-row", False),
])
def test_a_run_killed_at_any_moment_resumes_to_the_uninterrupted_result(
        uninterrupted, synthetic_root, tmp_path, kill_at, leaves_temp):
    out = tmp_path / "run"
    killed = _killable_train(out, synthetic_root, kill_at)
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no clean-up ran
    temps = [p.name for p in out.iterdir() if p.name.startswith(".last.safetensors.")]
    assert bool(temps) == leaves_temp, temps
    assert read_checkpoint(out / "last.safetensors").training["epoch"] in (1, 2)
    _resume(out, synthetic_root)
    _same_result(uninterrupted, out)

