"""What a cohort job segments: files, folders and CSV manifests, split into shards.

Every input becomes a :class:`CohortInput` whose ``file`` is an absolute path
(symlinks kept as named: a folder of links to repeated photos stays one input
per link). That string is the row's key in the results table, so a rerun from
another working directory still finds the rows of an earlier one.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..data.io import IMAGE_SUFFIXES
from ..errors import RetinasegError, file_error
from ..pipeline.segment import SAMPLE_NAME

SAMPLE_FILE = f"{SAMPLE_NAME} (scikit-image sample)"
MANIFEST_PATH_COLUMN = "path"
MANIFEST_SCALE_COLUMN = "mm_per_pixel"
MANIFEST_NAME_COLUMN = "name"  # optional: what the pictures are named, when stems repeat
MANIFEST_DEGREES_COLUMN = "fov_degrees"  # optional: the camera's field angle, per photo
MANIFEST_DATASET_COLUMN = "dataset"  # optional: the registered dataset a photo comes from


@dataclass(frozen=True)
class CohortInput:
    """One photo of the job: where it is, what its outputs are called, its scale if known."""

    file: str
    name: str
    mm_per_pixel: float | None = None
    fov_degrees: float | None = None
    dataset: str | None = None  # a registered dataset's name, whose camera angle is known
    # Why a file found in an input folder is not segmented (not a photo); "" for a photo.
    # It still gets a row (status "skipped"), so nothing in a folder goes unmentioned.
    skipped: str = ""

    @property
    def is_sample(self) -> bool:
        return self.file == SAMPLE_FILE


def sample_input() -> CohortInput:
    return CohortInput(SAMPLE_FILE, SAMPLE_NAME)


def collect_cohort(items: list[str], manifest: str | None = None,
                   sample: bool = False) -> list[CohortInput]:
    """The job's inputs in a stable order: the sample, named files and folders, manifest rows.

    A file listed twice is segmented once; two files whose outputs would share a
    name are refused before anything runs.
    """
    found = [sample_input()] if sample else []
    for item in items:
        found += _from_item(Path(item))
    if manifest:
        found += read_manifest(Path(manifest))
    unique = list({entry.file: entry for entry in found}.values())
    _check_unique_names(unique)
    return unique


def accepted_formats() -> str:
    return ", ".join(IMAGE_SUFFIXES)


def is_photo_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _from_item(path: Path) -> list[CohortInput]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not any(is_photo_file(p) for p in files):
            others = f"; it holds {', '.join(p.name for p in files[:5])}" if files else ""
            raise file_error(path, f"folder holds no images ({accepted_formats()}){others}")
        return [_input(p) if is_photo_file(p) else _skipped(p) for p in files]
    if path.exists():
        return [_input(path)]
    raise file_error(path, "no such file or folder")


def _skipped(path: Path) -> CohortInput:
    # Named with its suffix: notes.txt must not take the name of a photo notes.png.
    reason = (f"not a photo: {path.suffix or 'no suffix'} is not one of the accepted formats "
              f"({accepted_formats()})")
    return CohortInput(os.path.abspath(path), path.name, skipped=reason)


def _input(path: Path, mm_per_pixel: float | None = None) -> CohortInput:
    return CohortInput(os.path.abspath(path), path.stem, mm_per_pixel)


def read_manifest(path: Path) -> list[CohortInput]:
    """Rows of a CSV with a ``path`` column (relative paths are taken from the
    manifest's folder) and optional ``mm_per_pixel``, ``fov_degrees`` (the camera's
    field angle), ``dataset`` (a registered dataset, whose camera angle is then
    known; measure.scale) and ``name`` columns (``name``
    replaces the file's stem in the pictures' names: cohorts often repeat stems,
    ``site1/0001.jpg`` and ``site2/0001.jpg``).

    A listed file that is missing is not an error here: it becomes a failed row,
    like any other photo that cannot be read, so one bad line never stops a cohort.
    """
    if not path.is_file():
        raise file_error(path, "no such manifest file")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if MANIFEST_PATH_COLUMN not in (reader.fieldnames or []):
            raise file_error(path, f"manifest has no {MANIFEST_PATH_COLUMN!r} column "
                                   f"(columns: {', '.join(reader.fieldnames or []) or 'none'})")
        return [_manifest_input(path, line, row) for line, row in enumerate(reader, start=2)]


def _manifest_input(manifest: Path, line: int, row: dict) -> CohortInput:
    value = (row.get(MANIFEST_PATH_COLUMN) or "").strip()
    if not value:
        raise file_error(manifest, f"line {line}: empty {MANIFEST_PATH_COLUMN!r}")
    mm_per_pixel = _positive_cell(manifest, line, row, MANIFEST_SCALE_COLUMN)
    fov_degrees = _positive_cell(manifest, line, row, MANIFEST_DEGREES_COLUMN)
    if fov_degrees is not None and fov_degrees > 200:
        raise file_error(manifest, f"line {line}: {MANIFEST_DEGREES_COLUMN} must be at most "
                                   "200 degrees")
    dataset = (row.get(MANIFEST_DATASET_COLUMN) or "").strip().lower() or None
    image = Path(value) if Path(value).is_absolute() else manifest.parent / value
    name = (row.get(MANIFEST_NAME_COLUMN) or "").strip() or image.stem
    if Path(name).name != name or name.startswith("."):
        raise file_error(manifest, f"line {line}: {MANIFEST_NAME_COLUMN} {name!r} must be a "
                                   "plain file name (no folders, not hidden)")
    return CohortInput(os.path.abspath(image), name, mm_per_pixel, fov_degrees, dataset)


def _positive_cell(manifest: Path, line: int, row: dict, column: str) -> float | None:
    """A manifest cell that must be a positive number when not empty."""
    text = (row.get(column) or "").strip()
    try:
        value = float(text) if text else None
    except ValueError:
        raise file_error(manifest, f"line {line}: {column} {text!r} is not a number") from None
    if value is not None and not value > 0:
        raise file_error(manifest, f"line {line}: {column} must be positive")
    return value


def _check_unique_names(inputs: list[CohortInput]) -> None:
    seen: dict[str, str] = {}
    for entry in inputs:
        if entry.name in seen:
            raise file_error(entry.file, f"same name as {seen[entry.name]}; their outputs "
                                         "would overwrite each other (a manifest's 'name' "
                                         "column can tell them apart)")
        seen[entry.name] = entry.file


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``, with 1 <= K <= N (Slurm's ``--array=1-N``)."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise RetinasegError(f"--shard {text!r}: expected K/N, e.g. 3/8") from None
    if not 1 <= k <= n:
        raise RetinasegError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def shard(inputs: list[CohortInput], k: int, n: int) -> list[CohortInput]:
    """Shard ``k`` of ``n``: every n-th input, so that each shard gets a mix of the
    folders (and photo sizes) rather than one folder's worth."""
    return inputs[k - 1::n]
