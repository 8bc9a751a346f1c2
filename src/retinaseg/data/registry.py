"""Dataset registry: each layout is a ``DatasetSpec`` that lists its files per split.

The published datasets live in a fixed folder under the data root; the generic
``folder`` layout (a user's images/ masks/ [fov/]) is registered the same way,
with no fixed folder: the user names its path instead of a registered name.

Loaders only list paths (cheap, and where missing files are detected); pixels
are read lazily by :class:`Dataset`, so opening HRF does not decode 45 images.

Each spec states its camera's field of view in degrees (``fov_degrees``), so
that a FOV width in pixels can become millimetres on the retina; ``None``
where one angle does not describe the photos, with the reason in
``fov_degrees_note``. Sources, per dataset:

- DRIVE 45: Staal et al. 2004, Canon CR5 non-mydriatic 3CCD camera, 45 deg.
- CHASE_DB1 30: Fraz et al. 2012, Nidek NM-200-D fundus camera, 30 deg.
- HRF 45: Budai et al. 2013, Canon CR-1 fundus camera, 45 deg.
- STARE 35: Hoover et al. 2000, TopCon TRV-50 fundus camera, 35 deg.
- RETA 50: its photos are IDRiD's (Porwal et al. 2018), Kowa VX-10 alpha, 50 deg.
- LES-AV 30: Orlando et al. 2018 (MICCAI) give 30 deg; the dataset's own
  README.txt states no angle, and the shared data README says 30-45 deg:
  image 34, the one at 2196x1958 rather than 1620x1444, is likely the 45 deg
  exception, so treat millimetres on it with care.
- AV-WIDE None: Estrada et al. 2015, Optos 200Tx ultra-wide-field scanning
  laser ophthalmoscope, up to ~200 deg; its projection is far from linear, so
  one degrees-per-pixel factor is wrong across the photo.
- VEVIO None: Estrada et al. 2012, indirect-ophthalmoscope video of neonates
  (frames) and mosaics of them: the angle depends on the hand-held lens and
  the mosaics' scale on the stitching, neither recorded.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import RetinasegError, file_error
from ..registry import Registry
from .fov import estimate_fov
from .io import read_fov_mask, read_mask, read_photo
from .sample import Sample, SampleFiles

DATA_ROOT_ENV = "RETINASEG_DATA"


@dataclass(frozen=True)
class DatasetSpec:
    """How to find a dataset's files and which splits (protocols) it has.

    ``list_files(folder, split)`` returns the split's :class:`SampleFiles` and
    raises :class:`RetinasegError` naming the first missing file.
    ``splits`` maps split name to a one-line description of the protocol;
    ``expected_counts`` the number of images per split in the official release.
    ``fov_degrees`` is the camera's field of view (the angle the FOV width
    spans), or ``None`` where no single angle applies; ``fov_degrees_note``
    names the source, or why there is no angle (see the module docstring).
    """

    name: str
    folder: str | None      # under the data root; None: a layout given by its own path
    description: str
    splits: dict[str, str]
    expected_counts: dict[str, int]
    list_files: Callable[[Path, str], list[SampleFiles]]
    second_observer: str | None = None
    fov_degrees: float | None = None
    fov_degrees_note: str = ""


DATASETS: Registry[DatasetSpec] = Registry("dataset")
FOLDER_LAYOUT = "folder"  # the registered name of the generic images/ masks/ [fov/] layout


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if "all" not in spec.splits:
        raise ValueError(f"dataset {spec.name!r} must define the split 'all'")
    return DATASETS.register(spec.name, spec)


def list_datasets() -> list[str]:
    """The published datasets, found by name under the data root."""
    return [name for name, spec in DATASETS.items() if spec.folder is not None]


def get_dataset_spec(name: str) -> DatasetSpec:
    key = name.lower().replace("-", "_")
    if key not in DATASETS or DATASETS.get(key).folder is None:
        raise RetinasegError(f"unknown dataset {name!r}; known: {', '.join(list_datasets())}, "
                             "or a folder with images/ and masks/")
    return DATASETS.get(key)


def default_data_roots() -> list[Path]:
    """The documented places a data root is looked for (README, "Datasets"): ``./data``,
    then ``../shared/data`` beside the working directory, then beside this checkout."""
    here = Path.cwd()
    checkout = Path(__file__).resolve().parents[3]  # src/retinaseg/data/ -> the repository
    found = [here / "data", here.parent / "shared" / "data", checkout.parent / "shared" / "data"]
    return list(dict.fromkeys(found))


def find_data_root(root=None) -> tuple[Path | None, str]:
    """The data root and how it was found: the argument, ``$RETINASEG_DATA``, then the
    documented defaults; ``(None, what was tried)`` when none exists."""
    if root:
        return Path(root).expanduser(), "--data-root"
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser(), f"${DATA_ROOT_ENV}"
    for candidate in default_data_roots():
        if candidate.is_dir():
            return candidate, "the default location"
    return None, ", ".join(str(c) for c in default_data_roots())


def resolve_data_root(root=None) -> Path:
    """The data root: the argument, else ``$RETINASEG_DATA``, else ``./data`` or
    ``../shared/data`` (:func:`find_data_root` also says which was used)."""
    found, how = find_data_root(root)
    if found is None:
        raise RetinasegError(f"no data root: pass --data-root DIR, set {DATA_ROOT_ENV}, or put "
                             f"the datasets in one of {how}")
    root = found
    if not root.is_dir():
        raise RetinasegError(f"{root}: data root is not a directory")
    return root


def dataset_status(root=None) -> list[dict]:
    """What each registered dataset looks like under ``root``, for ``retinaseg datasets``.

    Lists files only (no decoding), so it is quick even for HRF. Each entry has
    ``name``, ``folder``, ``found`` (the folder exists), ``complete`` (every
    split lists without error and with the official count), ``counts``
    (split -> ``(found, expected)``; found is 0 without the folder, ``None``
    when a missing file stops the split from listing) and ``problem`` (the
    first error message, or ``None``). A root that does not exist reports every
    dataset as not found.
    """
    root = Path(root).expanduser() if root else resolve_data_root()
    specs = [DATASETS.get(name) for name in list_datasets()]
    return [_spec_status(spec, root / spec.folder) for spec in specs]


def _spec_status(spec: DatasetSpec, folder: Path) -> dict:
    found = folder.is_dir()
    counts, problems = {}, [] if found else [f"{folder}: not found"]
    for split in spec.splits:
        count, problem = _count_split(spec, folder, split) if found else (0, None)
        counts[split] = (count, spec.expected_counts.get(split))
        problems += [problem] if problem else []
    return {"name": spec.name, "folder": str(folder), "found": found,
            "complete": found and not problems, "counts": counts,
            "problem": problems[0] if problems else None}


def _count_split(spec: DatasetSpec, folder: Path, split: str) -> tuple[int | None, str | None]:
    """The split's image count and what is wrong with it, if anything."""
    try:
        count = len(spec.list_files(folder, split))
    except RetinasegError as exc:
        return None, str(exc)
    expected = spec.expected_counts.get(split)
    if expected is not None and count != expected:
        return count, f"{folder}: split {split!r} has {count} images, expected {expected}"
    return count, None


def dataset_folder(spec: DatasetSpec, root) -> Path:
    folder = resolve_data_root(root) / spec.folder
    if not folder.is_dir():
        raise RetinasegError(f"{folder}: {spec.name} not found under the data root")
    return folder


class Dataset(Sequence):
    """A split of a dataset: a lazily-loading sequence of :class:`Sample`."""

    def __init__(self, name: str, split: str, files: list[SampleFiles]):
        self.name, self.split, self.files = name, split, files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Dataset(self.name, self.split, self.files[index])
        return load_sample(self.files[index])

    @property
    def ids(self) -> list[str]:
        return [f.id for f in self.files]


def load_sample(files: SampleFiles) -> Sample:
    """Read one sample's pixels, checking every mask against the image size."""
    photo = read_photo(files.image)
    image, shape = photo.rgb, photo.rgb.shape[:2]
    vessel = read_mask(files.vessel, shape) if files.vessel else None
    if files.fov:
        fov, estimated = read_fov_mask(files.fov, shape, soft=files.soft_fov), False
        if not fov.any():
            raise file_error(files.fov, "FOV mask is empty (no pixel inside the field of view)")
    else:
        fov, estimated = estimate_fov(image, photo.valid), True
    observers = {name: read_mask(path, shape) for name, path in files.observers.items()}
    return Sample(files.id, image, vessel, fov, estimated, observers, files.image, files.av)


def load_dataset(name: str, split: str = "all", root=None) -> Dataset:
    """Open a dataset split by name, or a generic folder layout by path."""
    if Path(name).is_dir() and name.lower() not in list_datasets():
        layout = DATASETS.get(FOLDER_LAYOUT)  # checks the split itself, naming the folder
        return Dataset(Path(name).name, "all", layout.list_files(Path(name), split))
    spec = get_dataset_spec(name)
    if split not in spec.splits:
        raise RetinasegError(f"dataset {spec.name!r} has no split {split!r}; "
                             f"splits: {', '.join(spec.splits)}")
    return Dataset(spec.name, split, spec.list_files(dataset_folder(spec, root), split))


def require_file(path: Path) -> Path:
    """Return ``path`` if it exists, else raise the dataset's missing-file error."""
    if not path.is_file():
        raise RetinasegError(f"{path}: missing file (dataset folder incomplete)")
    return path


def optional_file(path: Path) -> Path | None:
    """``path`` if it exists, else ``None``: for labels that are an optional extra download
    (DRIVE-AV, HRF-AV), whose absence must not change how the photos load."""
    return path if path.is_file() else None
