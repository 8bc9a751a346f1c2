"""Kill and resume, for real: a plain ``retinaseg train`` process (nothing patched in
it) is SIGKILLed from outside in the middle of an epoch, resumed with ``--resume``,
and ends with the weights and log of an uninterrupted run of the same seed.

tests/test_checkpoint.py kills a run at chosen moments from inside (a patched
process); this one kills an unmodified process at whatever moment the clock gives,
as the out-of-memory killer or a cluster's pre-emption would.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_checkpoint import TINY, _same_result

SRC = Path(__file__).resolve().parents[1] / "src"
LONGER = [*TINY, "data.crops_per_image=24", "epochs=3", "seed=7"]  # epochs of about a second


def _train(out: Path, root: Path, *extra: str) -> subprocess.Popen:
    settings = [item for setting in LONGER for item in ("--set", setting)]
    return subprocess.Popen([sys.executable, "-m", "retinaseg", "train", "--data-root",
                             str(root), "--out", str(out), *settings, *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"})


def _rows(out: Path) -> list[dict]:
    try:
        with open(out / "log.csv", newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


@pytest.fixture(scope="module")
def uninterrupted(synthetic_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole")
    run = _train(out, synthetic_root)
    assert run.wait(timeout=600) == 0, run.stderr.read()
    return out


def test_a_plain_training_killed_mid_epoch_resumes_to_the_uninterrupted_result(
        uninterrupted, synthetic_root, tmp_path):
    epoch = float(_rows(uninterrupted)[1]["epoch_seconds"])
    out = tmp_path / "run"
    run = _train(out, synthetic_root)
    deadline = time.monotonic() + 300
    while len(_rows(out)) < 1 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(epoch * 0.5)  # inside epoch 2: after its start, before its checkpoint
    run.send_signal(signal.SIGKILL)
    assert run.wait(timeout=60) == -signal.SIGKILL
    assert len(_rows(out)) in (1, 2), "not killed mid-run"  # 3 rows would be a finished run
    assert not (out / "model.safetensors").exists()
    resumed = _train(out, synthetic_root, "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    _same_result(uninterrupted, out)  # same weights, threshold, log rows once each, no .tmp
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no orphan temp file
