"""``retinaseg measure``'s file side: which masks, which FOV for each, and the table.

One row per mask, failures included: a file that cannot be read, a FOV that
cannot be found or does not fit becomes a row with ``status`` "failed" and a
one-line ``error``, and the other masks are still measured. The table is
written once, at the end, all or nothing.

FOV lookup when ``--fov`` is a folder, for a mask with stem ``S`` (and ``T``,
``S`` without its last ``_part``: ``01_manual1`` -> ``01``): the first file in
the folder, other than the mask itself, whose stem is ``S_fov``, ``T_fov``,
``S_mask``, ``T_mask``, ``S`` or ``T``; failing that, the only file whose stem
starts with ``S_``, or else the only one starting with ``T_``. So DRIVE's
``01_manual1`` finds ``01_test_mask``, HRF's ``01_h`` finds ``01_h_mask``, and
``X_mask.png`` finds ``X_fov.png`` beside it. When ``--fov`` is a file it is
every mask's FOV.

Calibres (CRAE, CRVE, AVR in zones B and C, :mod:`.calibres`) are measured where a mask
has artery and vein maps: ``NAME_artery_mask.png`` and ``NAME_vein_mask.png`` beside a
``NAME_mask.png`` (what ``retinaseg segment`` writes for an A/V model), or with ``--av``
a RITE-coded manual label (a file, or a folder searched as for the FOV). The disc is
found in the photo (``--photos``: a folder holding ``NAME.*``, or a file), fed the
vessel mask; without a photo, or a mask without artery/vein maps, the calibre columns
are empty and their notes say why.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..data.io import IMAGE_SUFFIXES, read_mask
from ..errors import RetinasegError, file_error
from ..io.tables import csv_text, jsonl_text
from . import VesselMeasures, measure_vessels
from .calibres import CALIBRE_COLUMNS, calibre_columns, label_calibre_columns, no_av_columns
from .scale import resolve_scale

ROW_HEAD = ("file", "fov_file", "status", "error")
COLUMNS = (ROW_HEAD + tuple(f.name for f in fields(VesselMeasures))
           + ("av_source", "photo_file") + CALIBRE_COLUMNS)
NO_PHOTO = "no photo to find the disc in (--photos)"
NO_AV_MAPS = "no artery/vein maps for this mask (NAME_artery_mask.png beside it, or --av)"


@dataclass(frozen=True)
class MeasureOptions:
    fov: Path | None = None
    mm_per_pixel: float | None = None
    fov_degrees: float | None = None
    min_object_px: int | None = None  # None: the speck rule (retinaseg.measure.specks)
    av: Path | None = None      # RITE label file or folder (else NAME_artery/vein_mask beside)
    photos: Path | None = None  # photo file or folder, for the disc
    listings: dict = field(default_factory=dict, compare=False, repr=False)  # see fov_for

    def check(self) -> None:
        """Refuse bad options once, before any mask, rather than failing every row."""
        for given, what in ((self.fov, "FOV"), (self.av, "A/V label"), (self.photos, "photo")):
            if given is not None and not given.exists():
                raise file_error(given, f"no such {what} file or folder")
        if self.min_object_px is not None and self.min_object_px < 0:
            raise RetinasegError(f"--min-object-px must be 0 or more, got {self.min_object_px}")
        resolve_scale(None, self.mm_per_pixel)
        if self.fov_degrees is not None:
            resolve_scale(np.ones((1, 1), dtype=bool), None, self.fov_degrees)


def collect_masks(inputs: list[str]) -> list[Path]:
    """Files as named (a missing one becomes a failed row), folders' image files."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise RetinasegError(f"{path}: folder holds no masks ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        else:
            paths.append(path)
    return paths


def fov_for(mask_path: Path, fov: Path | None, listings: dict | None = None,
            what: str = "FOV") -> Path | None:
    """The FOV file of one mask (module docstring); None means the whole image. The
    same lookup finds a mask's A/V label and photo (``what`` names it in errors).

    ``listings`` keeps each folder's listing for the rest of a run: a cohort's
    FOV folder may hold thousands of files, read once rather than per mask.
    """
    if fov is None or fov.is_file():
        return fov
    if not fov.is_dir():
        raise file_error(fov, f"no such {what} file or folder")
    listings = {} if listings is None else listings
    if fov not in listings:
        listings[fov] = _image_files(fov)
    files = {stem: p for stem, p in listings[fov].items() if p != mask_path.resolve()}
    stem = mask_path.stem
    stems = [stem] + ([stem.rsplit("_", 1)[0]] if "_" in stem else [])
    for candidate in (s + tail for tail in ("_fov", "_mask", "") for s in stems):
        if candidate in files:
            return files[candidate]
    for prefix in stems:
        starting = [p for s, p in files.items() if s.startswith(prefix + "_")]
        if len(starting) == 1:
            return starting[0]
    raise file_error(mask_path, f"no {what} for it in {fov} (looked for {stems[-1]}, "
                                f"{stems[-1]}_fov, {stems[-1]}_mask or one file {stems[-1]}_*)")


def _image_files(folder: Path) -> dict[str, Path]:
    """Stem -> resolved path of a folder's image files."""
    return {p.stem: p.resolve() for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


def measure_file(path: Path, options: MeasureOptions) -> dict:
    """One table row: the measures, or the error that stopped them."""
    fov_path = None
    try:
        mask = read_mask(path)
        fov_path = fov_for(path, options.fov, options.listings)
        fov = read_mask(fov_path, mask.shape) if fov_path is not None else None
        row = measure_vessels(mask, fov, options.mm_per_pixel, options.fov_degrees,
                              options.min_object_px).as_row()
        row.update(_calibres(path, mask, fov, options))
        return {"file": str(path), "fov_file": _name(fov_path), "status": "ok", "error": None,
                **row}
    except RetinasegError as exc:
        error = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        return {"file": str(path), "fov_file": _name(fov_path), "status": "failed",
                "error": error}


def _calibres(path: Path, mask: np.ndarray, fov, options: MeasureOptions) -> dict:
    """The calibre columns of one mask (module docstring), or empty ones with the reason."""
    fov = np.ones(mask.shape, dtype=bool) if fov is None else fov
    try:
        av_label = fov_for(path, options.av, options.listings, "A/V label")
        photo_path = fov_for(path, options.photos, options.listings, "photo")
    except RetinasegError as exc:  # one mask without its label or photo: its other columns stay
        return {**no_av_columns(str(exc)), "av_source": None, "photo_file": None}
    pair = _av_masks_beside(path)
    if av_label is None and pair is None:
        return {**no_av_columns(NO_AV_MAPS), "av_source": None, "photo_file": None}
    source = str(av_label or pair[0])
    if photo_path is None:
        return {**no_av_columns(NO_PHOTO), "av_source": source, "photo_file": None}
    disc = _disc(photo_path, mask, fov)
    scale = resolve_scale(fov, options.mm_per_pixel, options.fov_degrees)
    if av_label is not None:
        from ..data.av import read_av_label

        columns = label_calibre_columns(read_av_label(av_label, mask.shape), fov, disc, scale)
    else:
        artery, vein = (read_mask(p, mask.shape) for p in pair)
        columns = calibre_columns(artery, vein, fov, disc, scale)
    return {**columns, "av_source": source, "photo_file": str(photo_path)}


def _av_masks_beside(path: Path) -> tuple[Path, Path] | None:
    """``NAME_artery_mask.png`` and ``NAME_vein_mask.png`` beside ``NAME_mask.png``."""
    if not path.stem.endswith("_mask"):
        return None
    name = path.stem[:-len("_mask")]
    pair = tuple(path.with_name(f"{name}_{kind}_mask{path.suffix}") for kind in ("artery", "vein"))
    return pair if all(p.is_file() for p in pair) else None


def _disc(photo_path: Path, mask: np.ndarray, fov: np.ndarray):
    from ..data.io import read_photo
    from .disc import find_disc

    image = read_photo(photo_path).rgb
    if image.shape[:2] != mask.shape:
        raise file_error(photo_path, f"photo is {image.shape[1]}x{image.shape[0]} but its mask "
                                     f"is {mask.shape[1]}x{mask.shape[0]}")
    return find_disc(image, fov, mask)


def _name(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def table_csv(rows: list[dict]) -> str:
    """CSV text, every column in every row; undefined values are empty cells."""
    return csv_text(rows, COLUMNS)


def table_jsonl(rows: list[dict]) -> str:
    """One JSON object a line, every column (null where undefined)."""
    return jsonl_text(rows, COLUMNS)
