"""Logs for machines: off a terminal, no carriage-return bars, and a line early."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from conftest import TINY_TRAINING
from retinaseg.io.logs import progress
from synthetic import synthetic_fundus

SRC = Path(__file__).resolve().parents[1] / "src"


def _run(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a subprocess whose stderr is a pipe, as under Slurm or CI."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "retinaseg", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_plain_lines_start_with_the_first_item_and_never_use_carriage_returns():
    stream = io.StringIO()
    started = time.monotonic()
    seen = []
    for item in progress(range(3), "evaluate", stream=stream, interval=3600):
        seen.append(item)
        if item == 0:
            first = stream.getvalue()
    lines = stream.getvalue().splitlines()
    assert seen == [0, 1, 2] and "\r" not in stream.getvalue()
    assert first == "" and lines[0].startswith("evaluate: 1/3 images")  # after item 0 finished
    assert lines[-1].startswith("evaluate: 3/3 images") and len(lines) == 2
    assert time.monotonic() - started < 5


def test_segment_and_evaluate_log_lines_not_bars_into_a_pipe(tiny_model, synthetic_root,
                                                              tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(3):
        image, _, _ = synthetic_fundus(96, 96, seed=seed)
        Image.fromarray(image).save(photos / f"p{seed}.png")
    segment = _run("segment", str(photos), "--model", str(tiny_model), "--out",
                   str(tmp_path / "seg"))
    assert segment.returncode == 0, segment.stderr
    assert "\r" not in segment.stderr
    assert "segment: 1/3 images" in segment.stderr  # the first photo is a line at once
    evaluate = _run("evaluate", "--model", str(tiny_model), "--dataset", "drive",
                    "--data-root", str(synthetic_root), "--out", str(tmp_path / "ev"))
    assert evaluate.returncode == 0, evaluate.stderr
    assert "\r" not in evaluate.stderr and "evaluate: 1/" in evaluate.stderr


def test_train_logs_lines_not_bars_into_a_pipe(synthetic_root, tmp_path):
    tiny = [a for a in TINY_TRAINING if a != "progress=false"]
    tiny = [a for i, a in enumerate(tiny) if not (a == "--set" and i + 1 < len(tiny)
                                                   and tiny[i + 1] == "--set")]
    done = _run("train", "--data-root", str(synthetic_root), "--out", str(tmp_path / "run"),
                "--set", "epochs=1", *tiny, "--set", "progress=true")
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "epoch 1/1: 1/" in done.stderr
