"""Training on several processes (GPUs or CPU processes, one or more machines),
started by PyTorch's own launcher::

    torchrun --nproc_per_node 8 -m retinaseg train --config FILE
    torchrun --nnodes 2 --node_rank R --master_addr HOST --master_port 29500 \\
        --nproc_per_node 8 -m retinaseg train --config FILE

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; with a world of one
(or run without torchrun) training is a plain single process. ``data.batch_size``
is the global batch: each rank trains on its share of every batch, rank 0
validates, writes the log and the checkpoints, and the others wait for it.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..devices import resolve_device
from ..errors import RetinasegError

# Rank 0 validates alone while the others wait: a generous limit for large validations.
WAIT_LIMIT = datetime.timedelta(hours=2)


@dataclass
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    started_here: bool = False   # this process set up the group, and takes it down

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def from_main(self, value):
        """Rank 0's ``value`` (any picklable object), on every rank."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the ranks (a new tensor; the argument is untouched)."""
        total = value.detach().clone()
        if self.size > 1:
            dist.all_reduce(total)
        return total

    def close(self) -> None:
        if self.started_here and dist.is_initialized():
            dist.destroy_process_group()


def environment_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun's environment gives them."""
    try:
        return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise RetinasegError("RANK, WORLD_SIZE and LOCAL_RANK must be integers "
                             "(they are set by torchrun)") from None


def join_world(device_name: str) -> tuple[World, torch.device]:
    """This process's world and training device: under torchrun a CUDA device is
    the GPU of the process's local rank, and the ranks talk over NCCL (GPUs) or
    gloo (CPUs)."""
    rank, size, local_rank = environment_world()
    device = resolve_device(device_name)
    if size == 1:
        return World(), device
    if device.type == "mps":
        raise RetinasegError("training on several processes needs CUDA or the CPU, not MPS")
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RetinasegError(f"local rank {local_rank} has no GPU: only "
                                 f"{torch.cuda.device_count()} CUDA device(s) on this machine")
        device = torch.device("cuda", local_rank)
    started = not dist.is_initialized()
    if started:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=WAIT_LIMIT,
                                device_id=device if device.type == "cuda" else None)
    return World(rank, size, local_rank, started), device


def wrap_for_world(module: torch.nn.Module, world: World, device: torch.device):
    """The module as the training step calls it: itself alone, or under
    DistributedDataParallel, whose backward averages the gradients over the ranks.
    On CUDA, batch norms become SyncBatchNorm (statistics of the global batch);
    PyTorch has no SyncBatchNorm on the CPU, where each rank normalises its share."""
    if world.size == 1:
        return module
    if device.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)
