"""The Dask distributed backend (``--dask ADDRESS`` or ``--dask local:N``).

Optional: ``pip install retinaseg[dask]``. Workers must see the same paths as the
driver (inputs, output folder, and the checkpoint if ``--model`` is a file):
a shared file system, as on any cluster. Each worker process loads the model
once (the cached loader in :mod:`retinaseg.cohort.worker`); rows come back as
images finish, with a bounded number of tasks in flight.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from ..errors import RetinasegError
from .inputs import CohortInput
from .stages import process_input
from .worker import JobSpec, cpu_threads_per_worker

IN_FLIGHT_PER_WORKER = 2
LOCAL_PREFIX = "local:"


def dask_rows(spec: JobSpec, todo: list[CohortInput], address: str) -> Iterator[dict]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise RetinasegError("--dask needs Dask distributed: pip install 'retinaseg[dask]'") \
            from None
    cluster, spec = _cluster(address, spec)
    try:
        with Client(cluster or address) as client:
            workers = max(1, len(client.scheduler_info()["workers"]))
            queue = iter(todo)
            first = [client.submit(process_input, spec, item, pure=False)
                     for _, item in zip(range(workers * IN_FLIGHT_PER_WORKER), queue)]
            running = as_completed(first)
            for future in running:
                yield future.result()
                future.release()
                for item in queue:  # top up: one new task per finished one
                    running.add(client.submit(process_input, spec, item, pure=False))
                    break
    finally:
        if cluster is not None:
            cluster.close()


def _cluster(address: str, spec: JobSpec):
    """A LocalCluster for ``local:N`` (torch threads split between its workers), else None."""
    if not address.startswith(LOCAL_PREFIX):
        return None, spec
    from distributed import LocalCluster

    try:
        workers = int(address[len(LOCAL_PREFIX):])
    except ValueError:
        workers = 0
    if workers < 1:
        raise RetinasegError(f"--dask {address!r}: expected local:N with N >= 1 workers, "
                             "or a scheduler address such as tcp://host:8786")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return cluster, replace(spec, threads=cpu_threads_per_worker(workers))
