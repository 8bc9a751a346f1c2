"""``retinaseg train`` in a process that SIGKILLs itself at a chosen moment.

    python killed_training.py KILL_AT EPOCH -- <retinaseg train arguments>

KILL_AT is where, in epoch EPOCH, the process dies (``none`` runs to the end):

- ``mid-epoch``: after the epoch's first training batch;
- ``before-rename``: the last checkpoint fully written to its temporary file,
  not yet renamed into place;
- ``half-written``: half of the last checkpoint's bytes in its temporary file;
- ``before-row``: the last checkpoint in place, its log row not yet written.

SIGKILL gives the process no chance to clean up: what it leaves on disk is what
a power cut or the out-of-memory killer would leave.
"""
from __future__ import annotations

import os
import signal
import sys

import retinaseg.hub.checkpoint as checkpoint
import retinaseg.train.loop as loop
from retinaseg.cli import main
from retinaseg.io.atomic import temp_beside


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def patch(kill_at: str, epoch: int) -> None:
    epochs = {"seen": 0}
    train_one_epoch = loop.train_one_epoch

    def counting_epoch(module, optimizer, batches, *args, **kwargs):
        epochs["seen"] += 1
        if kill_at == "mid-epoch" and epochs["seen"] == epoch:
            batches = kill_after_first(batches)
        return train_one_epoch(module, optimizer, batches, *args, **kwargs)

    def kill_after_first(batches):
        for index, batch in enumerate(batches):
            if index == 1:
                die()
            yield batch

    def is_target(path) -> bool:
        return epochs["seen"] == epoch and os.path.basename(path) == "last.safetensors"

    write_bytes, replace = checkpoint.atomic_write_bytes, os.replace

    def half_write(path, data):
        if kill_at == "half-written" and is_target(path):
            temp_beside(path).write_bytes(data[:len(data) // 2])
            die()
        write_bytes(path, data)

    def killing_replace(src, dst):
        if kill_at == "before-rename" and is_target(dst):
            die()
        replace(src, dst)

    write_row = loop.RunLog.write

    def killing_row(log, row):
        if kill_at == "before-row" and row["epoch"] == epoch:
            die()
        write_row(log, row)

    loop.train_one_epoch = counting_epoch
    checkpoint.atomic_write_bytes = half_write
    checkpoint.os.replace = killing_replace
    loop.RunLog.write = killing_row


if __name__ == "__main__":
    kill_at, epoch, separator, *train_args = sys.argv[1:]
    assert separator == "--", "usage: killed_training.py KILL_AT EPOCH -- <train arguments>"
    if kill_at != "none":
        patch(kill_at, int(epoch))
    sys.exit(main(["train", *train_args]))
