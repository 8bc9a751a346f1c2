"""Run a cohort job: pick the inputs still to do, segment them on a backend, table the rows.

Backends yield rows as images finish, in any order: ``serial`` (this process),
``pool`` (``--jobs N`` processes on this machine) and ``dask`` (a Dask
distributed cluster, ``pip install retinaseg[dask]``). Each keeps a bounded
number of images in flight, so memory does not grow with the cohort, and only
this (driver) process writes the table.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ..checks import JOBS
from ..errors import OutputError, RetinasegError
from .inputs import CohortInput, shard
from .progress import Progress
from .stages import overlapped_rows, process_input
from .table import OK, TABLE_STEM, ResultsTable, check_same_job, shard_stem
from .worker import (
    SKIPPED,
    JobSpec,
    cpu_threads_per_worker,
    job_identity,
    output_paths,
    preload,
    table_columns,
)

# Images queued per worker beyond the one it runs: enough to hide the hand-over.
IN_FLIGHT_PER_WORKER = 2


@dataclass
class CohortResult:
    rows: list[dict]  # one per input of this run, in input order
    segmented: int  # images done in this run (the rest were done by an earlier one)
    table: ResultsTable

    @property
    def failures(self) -> list[dict]:
        """Photos that could not be segmented (a skipped non-photo is not one)."""
        return [row for row in self.rows if row["status"] not in (OK, SKIPPED)]

    @property
    def skipped(self) -> list[dict]:
        """Files of the input folders that are not photos: listed, not failed."""
        return [row for row in self.rows if row["status"] == SKIPPED]


def run_cohort(spec: JobSpec, inputs: list[CohortInput], jobs: int = 1,
               shard_of: tuple[int, int] | None = None, dask: str | None = None,
               bundle=None) -> CohortResult:
    """Segment ``inputs`` (or shard K of N of them) into ``spec.out_dir``, resuming.

    ``bundle``: ``spec.model`` already loaded in this process (else it is loaded
    here); ``spec.settings`` None takes the model's own settings.
    """
    JOBS.check(jobs, "--jobs")
    if dask and jobs > 1:
        raise RetinasegError("--jobs and --dask do not combine: a Dask cluster sets its own "
                             "workers")
    bundle = bundle or _load_checked(spec)  # a bad model fails before anything is written
    spec = with_settings(spec, bundle)  # so does a setting it cannot honour
    if shard_of:
        inputs = shard(inputs, *shard_of)
    stem = shard_stem(*shard_of) if shard_of else TABLE_STEM
    with ResultsTable(Path(spec.out_dir), table_columns(spec.outputs), stem) as table:
        check_same_job(table, _identity(spec, bundle))
        todo = [item for item in inputs if not is_done(table.rows.get(item.file), spec)]
        progress = Progress(len(todo), len(inputs) - len(todo))
        try:
            for row in _backend(spec, bundle, todo, jobs, dask):
                table.append(row)
                progress.update(row)
        except OutputError as exc:
            raise stopped_on_output(exc, table, inputs) from None
        finally:
            progress.close()
        rows = table.finish([item.file for item in inputs])
    wanted = {item.file for item in inputs}
    return CohortResult([row for row in rows if row["file"] in wanted], len(todo), table)


def stopped_on_output(exc: OutputError, table: ResultsTable,
                      inputs: list[CohortInput]) -> OutputError:
    """The write error that stopped a job, with what was and was not written: the
    rows already in the table stay, and a rerun resumes after them."""
    written = [item for item in inputs if (table.rows.get(item.file) or {}).get("status") == OK]
    missing = [Path(item.file).name for item in inputs if item not in written]
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return OutputError(exc.path, f"{exc.problem}; stopped with {len(written)} of {len(inputs)} "
                                 f"images written (their rows are in {table.csv_path.name}); not "
                                 f"written: {shown}; free space and rerun to resume")


def is_done(row: dict | None, spec: JobSpec) -> bool:
    """An image is done when its row is ok and every picture asked for exists."""
    return bool(row) and row["status"] == OK and all(
        path.is_file() for path in output_paths(spec, row["name"]))


def _load_checked(spec: JobSpec):
    from ..hub.load import load_model

    return load_model(spec.model, spec.device, spec.backend)


def with_settings(spec: JobSpec, bundle) -> JobSpec:
    """``spec`` with its settings resolved for ``bundle``, once, before any photo, and
    the model's outputs (the table's columns and the pictures depend on them)."""
    from ..pipeline.settings import backend_of, resolve_settings

    settings = spec.settings if spec.settings is not None else resolve_settings(bundle)
    return replace(spec, settings=settings, outputs=tuple(bundle.meta.outputs),
                   backend=backend_of(bundle))


def _identity(spec: JobSpec, bundle) -> dict:
    return {"model_sha256": bundle.sha256, **job_identity(spec)}


def _backend(spec: JobSpec, bundle, todo: list[CohortInput], jobs: int,
             dask: str | None) -> Iterator[dict]:
    if not todo:
        return iter(())
    if dask:
        from .dask_backend import dask_rows

        return dask_rows(spec, todo, dask)
    if jobs > 1:
        return pool_rows(replace(spec, threads=cpu_threads_per_worker(jobs)), todo, jobs)
    preload(spec, bundle)
    return overlapped_rows(spec, todo)


def pool_rows(spec: JobSpec, todo: list[CohortInput], jobs: int) -> Iterator[dict]:
    """Rows from ``jobs`` worker processes, each loading the model once.

    Workers are spawned, not forked: a fork of a process that has run torch can
    deadlock in its thread pools.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pending, queue = set(), iter(todo)
    limit = jobs * IN_FLIGHT_PER_WORKER
    with ProcessPoolExecutor(jobs, multiprocessing.get_context("spawn"),
                             initializer=worker_bundle_loader, initargs=(spec,)) as pool:
        try:
            while True:
                for item in queue:
                    pending.add(pool.submit(process_input, spec, item))
                    if len(pending) >= limit:
                        break
                if not pending:
                    return
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except BrokenProcessPool:
            raise RetinasegError("a worker process died (out of memory?); the rows written "
                                 "so far are kept: rerun the same command to resume") from None
        finally:
            for future in pending:
                future.cancel()


def worker_bundle_loader(spec: JobSpec) -> None:
    """Pool initializer: load the model before the first image arrives."""
    from .worker import worker_bundle

    worker_bundle(spec)
