"""The job's results table: ``results.csv`` and the same rows as ``results.jsonl``.

One row per input, appended as the image finishes: one ``write()`` of a whole
line to each file, then fsync, so a killed job loses at most the image in
flight. Only the driver process writes, and it holds an exclusive lock on the
output folder while it does, so two jobs never interleave lines in one table.

On start the existing rows are read back (a truncated last line is dropped) and
kept only where both files hold them: a kill between the two appends leaves a
row in one file only, and that image is simply done again. At the end the table
is rewritten in input order with one row per input (a retried failure replaces
its earlier row), so a resumed job's table equals an uninterrupted one's.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from ..errors import file_error
from ..io.atomic import write_all_or_nothing, writing
from ..io.tables import csv_text

TABLE_STEM = "results"
# Columns every row has; the quality and measurement hooks add theirs after these.
CORE_COLUMNS = ("file", "name", "status", "error", "width", "height", "fov_diameter_px",
                "working_scale", "mm_per_pixel", "model", "model_sha256", "threshold", "cut",
                "tta", "postprocess", "scale", "units", "measures", "seconds")
OK = "ok"
# What makes two rows comparable: a rerun that changes any of these is refused. `measures`
# is the definition of the measured columns (retinaseg.measure.MEASURES_VERSION): a job
# resumed after an upgrade that changed one would mix two definitions in one table.
JOB_IDENTITY = ("model_sha256", "threshold", "tta", "postprocess", "scale", "units",
                "measures")
AV_IDENTITY = ("av_decision",)  # an artery/vein model's job adds how A and V were decided


def shard_stem(k: int, n: int) -> str:
    return f"{TABLE_STEM}.shard-{k}-of-{n}"


class ResultsTable:
    """Append-only CSV + JSONL pair under ``out_dir``, with a resume index."""

    def __init__(self, out_dir: Path, columns: tuple[str, ...], stem: str = TABLE_STEM):
        self.out_dir, self.columns, self.stem = Path(out_dir), tuple(columns), stem
        self.csv_path = self.out_dir / f"{stem}.csv"
        self.jsonl_path = self.out_dir / f"{stem}.jsonl"
        self.rows: dict[str, dict] = {}
        self._lock_fd: int | None = None

    def __enter__(self) -> "ResultsTable":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self.rows = self._existing_rows()
            self._rewrite(list(self.rows.values()))
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._unlock()

    def append(self, row: dict) -> None:
        """Add one finished image: a full line to each file, flushed to disk."""
        row = plain_row(row, self.columns)
        _append_line(self.jsonl_path, json.dumps(row) + "\n")
        _append_line(self.csv_path, csv_text([row], self.columns, header=False))
        self.rows[row["file"]] = row

    def finish(self, order: list[str]) -> list[dict]:
        """Rewrite the table with one row per file, inputs first in ``order``."""
        position = {file: i for i, file in enumerate(order)}
        rows = sorted(self.rows.values(), key=lambda r: position.get(r["file"], len(order)))
        self._rewrite(rows)
        return rows

    # --- start-up: lock, read back, reconcile ------------------------------------------

    def _lock(self) -> None:
        # A lock on the folder itself leaves no stray lock file behind.
        self._lock_fd = os.open(self.out_dir, os.O_RDONLY)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._unlock()
            raise file_error(self.out_dir, "another retinaseg segment job is writing this "
                                           "folder; wait for it or use another --out") from None

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _existing_rows(self) -> dict[str, dict]:
        rows = self._read_own()
        if self.stem == TABLE_STEM:  # a whole-job run takes in what the shards finished
            for path in sorted(self.out_dir.glob(f"{TABLE_STEM}.shard-*.jsonl")):
                shard = ResultsTable(self.out_dir, self.columns, path.name[:-len(".jsonl")])
                for file, row in shard._read_own().items():
                    if file not in rows or (row["status"] == OK != rows[file]["status"]):
                        rows[file] = row
        return rows

    def _read_own(self) -> dict[str, dict]:
        json_rows = [json.loads(line) for line in _complete_lines(self.jsonl_path)]
        csv_lines = _complete_lines(self.csv_path)
        csv_rows = list(csv.DictReader(io.StringIO("".join(csv_lines))))
        if csv_lines and tuple(next(csv.reader(csv_lines[:1]))) != self.columns:
            raise file_error(self.csv_path, "has other columns than this version of retinaseg "
                                            "writes; use another --out")
        in_csv = {row["file"]: row["status"] for row in csv_rows}
        kept = {}
        for row in json_rows:  # later rows of a file replace earlier ones
            if set(row) != set(self.columns):
                raise file_error(self.jsonl_path, "has other columns than this version of "
                                                  "retinaseg writes; use another --out")
            kept[row["file"]] = row
        return {file: row for file, row in kept.items() if in_csv.get(file) == row["status"]}

    def _rewrite(self, rows: list[dict]) -> None:
        write_all_or_nothing({
            self.csv_path: csv_text(rows, self.columns, header=True),
            self.jsonl_path: "".join(json.dumps(row) + "\n" for row in rows),
        })


def check_same_job(table: ResultsTable, identity: dict) -> None:
    """Refuse, in one line, to mix rows of another model, threshold, TTA, mask
    post-processing, scale rule, unit flags or measure definitions into a table.

    Every ok row is checked: rows taken in from shard tables were each made by
    their own run.
    """
    keys = JOB_IDENTITY + tuple(key for key in AV_IDENTITY if key in identity)
    ours = {key: identity[key] for key in keys}
    for row in table.rows.values():
        theirs = {key: row.get(key) for key in keys}
        if row["status"] == OK and theirs != ours:
            raise file_error(table.csv_path, f"holds rows made with {_describe(theirs)}; "
                                             f"this run uses {_describe(ours)}: use "
                                             "another --out, or remove the table to redo all")


def _describe(identity: dict) -> str:
    return (f"model sha256 {str(identity['model_sha256'])[:12]}, threshold "
            f"{identity['threshold']}, tta {identity['tta']}, post-processing "
            f"{identity['postprocess']}, scale {identity['scale']}, measures version "
            f"{identity['measures'] or '1 (before it was recorded)'}, units {identity['units']}"
            + (f", A/V decision {identity['av_decision']}" if "av_decision" in identity else ""))


def _complete_lines(path: Path) -> list[str]:
    """The file's lines, without a last line cut short by a kill."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return lines


def _append_line(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    with writing(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            written = os.write(fd, data)  # one write: O_APPEND puts it whole at the end
            while written < len(data):  # a short write to a regular file is rare; finish it
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)


def plain_row(row: dict, columns: tuple[str, ...]) -> dict:
    """The row with exactly ``columns``, as JSON-safe Python values (NaN -> None).

    An unknown key is a bug in a hook, not user input: it fails loudly.
    """
    unknown = set(row) - set(columns)
    if unknown:
        raise ValueError(f"row has columns the table does not declare: {sorted(unknown)}")
    return {column: _plain(row.get(column)) for column in columns}


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
