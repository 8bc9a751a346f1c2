"""What a run leaves on disk to be resumed: ``last.safetensors`` and the CSV log.

Each epoch writes its checkpoint first (atomically) and its log row after it;
the row is also stored inside the checkpoint. Resuming rewrites the log as the
checkpoint sees it: the rows of earlier epochs, then the checkpoint's own row.
So a kill at any moment (mid-epoch, mid-write, between the two writes) leaves
neither a gap nor a repeated epoch, and no temporary file survives the resume.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import torch

from ..config.schema import config_to_dict
from ..errors import file_error
from ..hub.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from ..hub.meta import ModelMeta
from ..io.atomic import write_all_or_nothing, writing

LAST, BEST, MODEL = "last.safetensors", "best.safetensors", "model.safetensors"
LEGACY_NAMES = {LAST: "last.pt", BEST: "best.pt", MODEL: "model.pt"}  # format-1 run folders
LOG = "log.csv"
LOG_FIELDS = ["epoch", "lr", "train_loss", "val_auc_roc", "val_f1", "val_threshold",
              "epoch_seconds", "total_seconds", "val_av_accuracy"]  # the last: A/V models
LEGACY_LOG_FIELDS = {"seconds": "total_seconds"}  # logs written before epoch_seconds


def run_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, or the format-1 file a run started before safetensors left
    instead; None when neither exists."""
    for candidate in (folder / name, folder / LEGACY_NAMES.get(name, name)):
        if candidate.is_file():
            return candidate
    return None


def remove_stale_temps(folder: Path) -> None:
    """Temporary files a killed process left beside the run's files (``.last.safetensors.*.tmp``)."""
    for name in (*LEGACY_NAMES, *LEGACY_NAMES.values(), LOG, "config.yaml"):
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


class RunLog:
    """The per-epoch CSV log, appended to (so a resumed run continues it)."""

    def __init__(self, path: Path):
        self.path = path

    def start(self) -> None:
        self._rewrite([])

    def write(self, row: dict) -> None:
        with writing(self.path), open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([row.get(k, "") for k in LOG_FIELDS])

    def rows(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [{LEGACY_LOG_FIELDS.get(k, k): v for k, v in row.items()} for row in rows]

    def restore(self, epoch: int, row: dict | None) -> None:
        """Keep the rows before ``epoch``, then the checkpoint's own row of ``epoch``
        (a format-1 checkpoint has none: the log's row of that epoch is kept)."""
        rows = [r for r in self.rows() if r.get("epoch", "").isdigit()]
        kept = [r for r in rows if int(r["epoch"]) < epoch]
        ending = [row] if row else [r for r in rows if int(r["epoch"]) == epoch][:1]
        self._rewrite(kept + ending)

    def _rewrite(self, rows: list[dict]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(LOG_FIELDS)
        for row in rows:
            writer.writerow([row.get(k, "") for k in LOG_FIELDS])
        write_all_or_nothing({self.path: text.getvalue()})


def save_last(path, module, optimizer, meta, cfg, state, rng, average=None,
              row: dict | None = None) -> None:
    training = {**state, "plateau": state["plateau"].state_dict(),
                "numpy_rng": rng.bit_generator.state, "row": row or {}}
    write_checkpoint(path, Checkpoint(
        meta, module.state_dict(), config_to_dict(cfg),
        average=average.module.state_dict() if average is not None else None,
        optimizer=optimizer.state_dict(), torch_rng=torch.get_rng_state(), training=training))


def check_same_model(path, saved: ModelMeta, wanted: ModelMeta) -> None:
    """A resumed checkpoint must hold the model the config builds."""
    if saved.architecture != wanted.architecture:
        raise file_error(path, f"holds a {saved.architecture} model, but the config asks "
                               f"for a {wanted.architecture}")
    asked = json.loads(json.dumps(wanted.kwargs))  # tuples read back as lists
    differ = sorted(k for k in {*saved.kwargs, *asked} if saved.kwargs.get(k) != asked.get(k))
    if differ:
        held = ", ".join(f"{k} {saved.kwargs.get(k)}" for k in differ)
        want = ", ".join(f"{k} {asked.get(k)}" for k in differ)
        raise file_error(path, f"holds a {saved.architecture} with {held}, but the config "
                               f"asks for {want}")


def resume_from(path: Path, module, optimizer, state: dict, meta: ModelMeta,
                average=None) -> tuple[np.random.Generator, dict | None]:
    """Load a run's last checkpoint into the module, optimizer, weight average and
    loop state; returns the data generator and the checkpoint's log row."""
    checkpoint = read_checkpoint(path)  # a corrupt file is a one-line error, not a traceback
    check_same_model(path, checkpoint.meta, meta)
    if checkpoint.optimizer is None or not checkpoint.training:
        raise file_error(path, "holds no training state to resume from (a finished model?)")
    try:
        module.load_state_dict(checkpoint.state_dict)
        if average is not None:
            # A run started without averaging resumes with the average seeded from its weights.
            average.module.load_state_dict(checkpoint.average or checkpoint.state_dict)
        optimizer.load_state_dict(checkpoint.optimizer)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise file_error(path, f"does not fit this run's model or optimizer ({_first_line(exc)})"
                         ) from None
    try:
        return _restore_loop(checkpoint, state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise file_error(path, f"its training state is incomplete ({_first_line(exc)})") from None


OPTIONAL_STATE = ("scaler",)


def _restore_loop(checkpoint: Checkpoint, state: dict) -> tuple[np.random.Generator, dict | None]:
    training = checkpoint.training
    # The loss scaler's state came with fp16 training; older checkpoints lack it.
    state.update({k: training[k] for k in state
                  if k != "plateau" and (k in training or k not in OPTIONAL_STATE)})
    state["plateau"].load_state_dict(training["plateau"])
    torch.set_rng_state(checkpoint.torch_rng)
    rng = np.random.default_rng()
    rng.bit_generator.state = training["numpy_rng"]
    return rng, training.get("row") or None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
