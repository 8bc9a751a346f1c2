"""What a run leaves on disk to be resumed: ``last.pt`` and the CSV log.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import read_checkpoint, save_model
from ..config import config_to_dict
from ..outputs import writing


LOG_FIELDS = ["epoch", "lr", "train_loss", "val_auc_roc", "val_f1", "val_threshold", "seconds"]


class RunLog:
    """The per-epoch CSV log, appended to (so a resumed run continues it)."""

    def __init__(self, path: Path, fresh: bool):
        self.path = path
        if fresh or not path.exists():
            with writing(path), open(path, "w", newline="") as handle:
                csv.writer(handle).writerow(LOG_FIELDS)

    def write(self, row: dict) -> None:
        with writing(self.path), open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([row.get(k, "") for k in LOG_FIELDS])


def save_last(path, module, optimizer, meta, cfg, state, rng, average=None) -> None:
    payload_state = {**state, "plateau": state["plateau"].state_dict()}
    extra = {"average": average.module.state_dict()} if average is not None else {}
    save_model(path, module, meta, config=config_to_dict(cfg), optimizer=optimizer.state_dict(),
               state=payload_state, rng=rng.bit_generator.state,
               torch_rng=torch.get_rng_state(), **extra)


def resume_from(path: Path, module, optimizer, state: dict, average=None) -> np.random.Generator:
    payload = read_checkpoint(path)  # a corrupt file is a one-line error, not a traceback
    module.load_state_dict(payload["state_dict"])
    if average is not None:
        # A run started without averaging resumes with the average seeded from its weights.
        average.module.load_state_dict(payload.get("average", payload["state_dict"]))
    optimizer.load_state_dict(payload["optimizer"])
    saved = payload["state"]
    state.update({k: v for k, v in saved.items() if k != "plateau"})
    state["plateau"].load_state_dict(saved["plateau"])
    torch.set_rng_state(payload["torch_rng"])
    rng = np.random.default_rng()
    rng.bit_generator.state = payload["rng"]
    return rng
