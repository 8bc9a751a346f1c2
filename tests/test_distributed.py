"""Training on two processes through the real torchrun (gloo, CPU) against one process.

Tolerance: with a model without batch norm (the column Bi-LSTM here) and a
masked-mean loss (bce), two ranks x half the batch compute the single
process's gradient up to the order of floating-point sums, so after every
step the weights agree to within 1e-5 (absolute); one epoch moves them by
more than 1e-3. With batch norm on the CPU, each rank normalises its own half
(PyTorch has no SyncBatchNorm there), and runs agree only approximately.
"""
import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

from retinaseg.hub.checkpoint import load_checkpoint, read_checkpoint
from retinaseg.config.schema import load_config
from retinaseg.train import fit

SRC = Path(__file__).resolve().parents[1] / "src"
TOLERANCE = 1e-5
BN_FREE = ["model.name=column-bilstm",
           "model.kwargs={hidden_size: 4, num_layers: 1, dropout: 0.0}",
           "data.crop_size=32", "data.crops_per_image=6", "data.batch_size=8",
           "schedule.name=constant", "progress=false", "threads=1"]
# (constant: a resumed cosine keeps its first total of steps, and its third epoch
# would run at rate 0, which would leave nothing for the resume check to see)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(root, out, cwd, *overrides) -> subprocess.CompletedProcess:
    settings = [arg for item in [*BN_FREE, *overrides] for arg in ("--set", item)]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "retinaseg", "train", "--data-root", str(root), "--out", str(out),
               *settings]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _single(root, out, *overrides):
    return fit(load_config(None, [f"data.root={root}", f"out_dir={out}", *BN_FREE, *overrides]))


def _weights(out) -> dict:
    return read_checkpoint(out / "last.safetensors").state_dict


def _largest_difference(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point())


def _epochs(out) -> list[str]:
    with open(out / "log.csv") as handle:
        return [row["epoch"] for row in csv.DictReader(handle)]


def test_two_ranks_match_one_process_with_the_same_global_batch(synthetic_root, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    single, ranks = tmp_path / "single", tmp_path / "ranks"
    _single(synthetic_root, single, "epochs=2")
    done = _torchrun(synthetic_root, ranks, cwd, "epochs=2")
    # one run folder, written once: same files as one process, one log row per epoch
    assert sorted(p.name for p in ranks.iterdir()) == sorted(p.name for p in single.iterdir())
    assert list(cwd.iterdir()) == [] and _epochs(ranks) == ["1", "2"]
    assert done.stdout.count("wrote ") == 1
    assert _largest_difference(_weights(single), _weights(ranks)) < TOLERANCE
    one, two = load_checkpoint(single / "model.safetensors"), load_checkpoint(ranks / "model.safetensors")
    assert abs(one.meta.threshold - two.meta.threshold) < 1e-3
    with open(single / "log.csv") as a, open(ranks / "log.csv") as b:
        for x, y in zip(csv.DictReader(a), csv.DictReader(b)):
            assert abs(float(x["val_auc_roc"]) - float(y["val_auc_roc"])) < 1e-4
            assert abs(float(x["train_loss"]) - float(y["train_loss"])) < 1e-4

    # --resume under torchrun continues the same run, as one process does
    after_two = _weights(ranks)
    _torchrun(synthetic_root, ranks, cwd, "epochs=3", "resume=true")
    _single(synthetic_root, single, "epochs=3", "resume=true")
    assert _epochs(ranks) == ["1", "2", "3"]
    assert _largest_difference(after_two, _weights(ranks)) > 100 * TOLERANCE  # an epoch counts
    assert _largest_difference(_weights(single), _weights(ranks)) < TOLERANCE
