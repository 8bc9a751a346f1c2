"""Shared fixtures: synthetic datasets in the official layouts, and the real data if present."""
from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import WRITERS, write_folder

# The real datasets live next to the repository: <repo>/../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A data root holding every registered layout, written once. Do not modify it."""
    root = tmp_path_factory.mktemp("data")
    for write in WRITERS.values():
        write(root)
    return root


TINY_TRAINING = ["--set", "model.kwargs={base_channels: 4, depth: 2}", "--set",
                 "data.crop_size=32", "--set", "data.crops_per_image=2", "--set",
                 "progress=false", "--set", "threads=1"]


@pytest.fixture(scope="session")
def tiny_model(synthetic_root, tmp_path_factory) -> Path:
    """A checkpoint trained through the CLI on the synthetic DRIVE layout (seconds)."""
    from retinaseg.cli import main

    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--data-root", str(synthetic_root), "--out", str(out),
                 "--set", "epochs=2", *TINY_TRAINING]) == 0
    return out / "model.safetensors"


@pytest.fixture(scope="session")
def two_camera_model(synthetic_root, tmp_path_factory) -> Path:
    """A tiny model trained on the synthetic CHASE_DB1 and HRF layouts, working range
    20-32 px, validated on photos of both (one epoch)."""
    from retinaseg.config.schema import load_config
    from retinaseg.train import fit

    out = tmp_path_factory.mktemp("two-camera-run")
    tiny = [entry for entry in TINY_TRAINING if entry != "--set"]
    fit(load_config(None, [f"data.root={synthetic_root}", f"out_dir={out}", *tiny, "epochs=1",
                           "data.dataset=chase_db1+hrf", "data.fov_range=[20, 32]"]))
    return out / "model.safetensors"


@pytest.fixture
def make_dataset(tmp_path):
    """``make_dataset(name, **kwargs) -> (root, folder)``: a fresh copy a test may damage."""
    def make(name: str, **kwargs):
        return tmp_path, WRITERS[name](tmp_path, **kwargs)
    return make


@pytest.fixture
def user_folder(tmp_path) -> Path:
    """A generic ``images/ masks/ fov/`` folder (see ``synthetic.write_folder``)."""
    return write_folder(tmp_path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets (DRIVE, CHASE_DB1, HRF); skips the test where they are absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.slow`` tests run only when asked for (``-m slow``)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def assert_one_line_error(result, *fragments):
    """A finished CLI subprocess failed with exactly one stderr line holding every fragment."""
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def job_spec(model_path, out, save=None, **choices):
    """A cohort JobSpec whose settings are ``choices`` resolved for the model at
    ``model_path``, as the CLI resolves them once per job."""
    from retinaseg.cohort import JobSpec
    from retinaseg.hub.checkpoint import load_checkpoint
    from retinaseg.pipeline.settings import resolve_settings

    settings = resolve_settings(load_checkpoint(model_path), **choices)
    extra = {} if save is None else {"save": save}
    return JobSpec(str(model_path), str(out), settings, **extra)


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory):
    """The graphs ``--backend auto`` exports of the shipped models go to a folder of
    the session's own, never the user's cache (subprocesses inherit it)."""
    import os

    folder = tmp_path_factory.mktemp("retinaseg-cache")
    before = os.environ.get("RETINASEG_CACHE")
    os.environ["RETINASEG_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("RETINASEG_CACHE", None)
    else:
        os.environ["RETINASEG_CACHE"] = before
