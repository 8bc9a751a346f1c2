"""A photo in two stages, and the serial backend that overlaps them across photos.

Stage one reads the photo and runs the network; stage two computes the quality and
measurement columns and writes the pictures. :func:`process_input` runs both, one
photo at a time (pool processes, Dask workers); :func:`overlapped_rows` runs the next
photo's first stage in a thread while this one's second runs (the serial backend).
Either way a bad photo's failure is its row, never an exception.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OutputError, RetinasegError
from ..quality.gate import NoFundusError
from . import worker  # its hooks looked up when called (tests replace them)
from .inputs import CohortInput
from .table import OK
from .worker import ERROR, FAILED, SKIPPED, JobSpec


def process_input(spec: JobSpec, item: CohortInput) -> dict:
    """Segment one photo, write the pictures asked for, and return its row."""
    return finish_input(spec, start_input(spec, item))


@dataclass
class Started:
    """A photo after its first stage (read and segmented), waiting for the second
    (quality, measurements, pictures); ``done`` None once the row is final."""

    item: CohortInput
    row: dict
    busy: float = 0.0  # seconds spent in its stages (not waiting between them)
    image: np.ndarray | None = None
    done: object = None  # pipeline.segment.Segmented


def start_input(spec: JobSpec, item: CohortInput) -> Started:
    """The first stage of :func:`process_input`: read the photo and run the network.
    It may run in another thread than :func:`finish_input` (:func:`overlapped_rows`)."""
    started = Started(item, {"file": item.file, "name": item.name, "status": OK, "error": "",
                             "mm_per_pixel": item.mm_per_pixel, "model": spec.model})
    if item.skipped:
        started.row.update(status=SKIPPED, error=f"{item.file}: {item.skipped}")
        return started
    _guarded(started, lambda: _segment_stage(started, spec))
    return started


def finish_input(spec: JobSpec, started: Started) -> dict:
    """The second stage: the row's quality and measurement columns, then the pictures."""
    row = started.row
    if started.done is not None:
        _guarded(started, lambda: _measure_and_write(started, spec))
    row["seconds"] = round(started.busy, 3)
    return row


def _guarded(started: Started, stage) -> None:
    """Run one stage; a bad photo's failure becomes its row, never an exception."""
    item, row = started.item, started.row
    began = time.perf_counter()
    try:
        stage()
    except OutputError:
        raise  # a full or read-only disk ends the job: every later image would fail too
    except RetinasegError as exc:
        message = str(exc)
        if isinstance(exc, NoFundusError):
            row.update(worker.refused_columns(exc))
        row.update(status=FAILED, error=message if item.file in message else
                   f"{item.file}: {message}")
        started.done = None
    except Exception as exc:  # noqa: BLE001 - one odd photo must not end a cohort of 100,000
        where = traceback.extract_tb(exc.__traceback__)[-1]
        row.update(status=ERROR, error=f"{item.file}: {type(exc).__name__}: {exc} (at "
                                       f"{Path(where.filename).name}:{where.lineno}; a bug, "
                                       "please report it)")
        started.done = None
    finally:
        started.busy += time.perf_counter() - began


def _segment_stage(started: Started, spec: JobSpec) -> None:
    from ..data.io import Photo, read_photo
    from ..pipeline.segment import sample_image, segment_photo

    item, row = started.item, started.row
    bundle = worker.worker_bundle(spec)
    row.update(model_sha256=bundle.sha256, **worker.job_identity(spec))
    photo = Photo(sample_image()) if item.is_sample else read_photo(item.file)
    image, valid = photo.rgb, photo.valid
    row.update(width=image.shape[1], height=image.shape[0])
    started.image, started.done = image, segment_photo(bundle, image, spec.settings, valid)


def _measure_and_write(started: Started, spec: JobSpec) -> None:
    item, row, image, done = started.item, started.row, started.image, started.done
    bundle = worker.worker_bundle(spec)
    prob, mask, fov, cut, fov_width = done.prob, done.mask, done.fov, done.cut, done.fov_width
    row["cut"] = round(cut, 6)
    row.update(worker.geometry_columns(bundle, fov, fov_width))
    row.update(worker.quality_columns(image, fov, prob, cut, done.quality))
    scale = worker.photo_scale_of(spec, item, fov)
    row.update(worker.measurement_columns(mask, fov, {**row, "pixel_scale": scale}))
    masks = done.masks
    row.update(worker.output_fractions(masks, fov))
    disc = None
    if worker.has_av(spec.outputs) and worker.has_av(masks):
        columns, disc = worker.av_columns(image, fov, masks, scale)
        row.update(columns)
    worker.write_pictures(spec, item.name, image, prob, masks, fov, disc)


def overlapped_rows(spec: JobSpec, todo: list[CohortInput]):
    """:func:`process_input`'s rows for ``todo``, in order, with the next photo read and
    segmented in a thread while this one is measured and written. The network runs
    outside the GIL, so the measurements (one core) fill the core it leaves: on
    2 cores a photo then costs about its network time, not network plus the rest. Each
    photo's numbers are the same as run one by one; one photo waits at most."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="retinaseg-network") as ahead:
        upcoming = [ahead.submit(start_input, spec, item) for item in todo[:1]]
        for k in range(len(todo)):
            started = upcoming.pop().result()
            if k + 1 < len(todo):
                upcoming.append(ahead.submit(start_input, spec, todo[k + 1]))
            try:
                yield finish_input(spec, started)
            except BaseException:
                for future in upcoming:
                    future.cancel()
                raise
