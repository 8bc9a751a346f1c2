"""The batches of a run through a torch DataLoader, so that worker processes cut
and augment the next crops while the model trains on these.

One loader serves every remaining epoch of the run, so the workers run ahead
across epoch ends (and while rank 0 validates). Batches are the same for any
``num_workers``: each is built from its own random streams (``data.stream``).
Workers are forked on Linux and share the training images with the main
process until one writes to them (nothing does); each keeps the current
epoch's preprocessed images, about one more copy of the training set per
worker at float32 (an HRF photo, 3504 x 2336, is 33 MB per channel).
"""
from __future__ import annotations

import functools
import random

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config.schema import TrainConfig
from .data import EpochBatches

PREFETCH_PER_WORKER = 2  # batches each worker keeps ready


def batch_loader(dataset: EpochBatches, first_epoch: int, cfg: TrainConfig,
                 device: torch.device) -> DataLoader:
    """Batches ``(epoch, b)`` for epochs ``first_epoch .. cfg.epochs``, in order."""
    keys = [(epoch, b) for epoch in range(first_epoch, cfg.epochs + 1)
            for b in range(len(dataset))]
    workers = cfg.num_workers
    return DataLoader(dataset, batch_size=None, sampler=keys, num_workers=workers,
                      pin_memory=device.type == "cuda",
                      prefetch_factor=PREFETCH_PER_WORKER if workers else None,
                      worker_init_fn=functools.partial(seed_worker, cfg.seed, dataset.rank))


def seed_worker(seed: int, rank: int, worker_id: int) -> None:
    """Seed a worker's global generators from (seed, rank, worker). The batches do
    not draw from them (they have their own streams); anything that would, stays
    repeatable instead of inheriting a copy of the parent's state."""
    sequence = np.random.SeedSequence([seed, rank, worker_id])
    value = int(sequence.generate_state(1)[0])
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
