"""A user's own data: a folder with ``images/``, ``masks/`` and optional ``fov/``.

Files are paired by file stem, whatever their image type (``IMAGE_SUFFIXES``,
any case). For an image ``<stem>.<ext>`` the vessel mask is ``masks/<stem>.*``
or, failing that, ``masks/<stem>_mask.*``; a FOV mask is ``fov/<stem>.*``,
``fov/<stem>_mask.*`` or ``fov/<stem>_fov.*``. Every image needs a mask (and
a FOV mask when ``fov/`` exists) and every mask an image: a stray file is more
often a naming mistake than intended. Without ``fov/`` the FOV is estimated.
Hidden files and files of other types are ignored. Only the split ``all`` exists.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import RetinasegError, file_error
from .io import IMAGE_SUFFIXES
from .registry import FOLDER_LAYOUT, DatasetSpec, register_dataset
from .sample import SampleFiles

MASK_SUFFIXES = ("", "_mask")
FOV_SUFFIXES = ("", "_mask", "_fov")


def _by_stem(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` keyed by stem; two files with one stem are an error."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in files:
            raise file_error(path, f"same file stem as {files[path.stem].name}; rename one")
        files[path.stem] = path
    return files


def _match(image: Path, candidates: dict[str, Path], suffixes: tuple[str, ...]) -> Path | None:
    """Take the first of ``<stem><suffix>`` out of ``candidates``."""
    for suffix in suffixes:
        if image.stem + suffix in candidates:
            return candidates.pop(image.stem + suffix)
    return None


def list_folder_files(folder: Path, split: str) -> list[SampleFiles]:
    if split != "all":
        raise RetinasegError(f"{folder}: a folder dataset has only the split 'all', not {split!r}")
    for sub in ("images", "masks"):
        if not (folder / sub).is_dir():
            raise RetinasegError(f"{folder}: no {sub}/ folder; expected images/, masks/ "
                                 "and optionally fov/")
    images, masks = _by_stem(folder / "images"), _by_stem(folder / "masks")
    fovs = _by_stem(folder / "fov") if (folder / "fov").is_dir() else None
    if not images:
        raise RetinasegError(f"{folder / 'images'}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    files = []
    for stem, image in images.items():
        vessel = _match(image, masks, MASK_SUFFIXES)
        if vessel is None:
            raise file_error(image, f"no mask in {folder / 'masks'} (expected {stem}.<ext> "
                                    f"or {stem}_mask.<ext>)")
        fov = _match(image, fovs, FOV_SUFFIXES) if fovs is not None else None
        if fovs is not None and fov is None:
            raise file_error(image, f"no FOV mask in {folder / 'fov'} (expected {stem}.<ext>, "
                                    f"{stem}_mask.<ext> or {stem}_fov.<ext>)")
        files.append(SampleFiles(id=stem, image=image, vessel=vessel, fov=fov))
    for leftover in (masks, fovs or {}):
        if leftover:
            raise file_error(next(iter(leftover.values())), "mask without a matching image in "
                                                            f"{folder / 'images'}")
    return files



FOLDER = register_dataset(DatasetSpec(
    name=FOLDER_LAYOUT, folder=None,
    description="your own data: images/, masks/ and optionally fov/, paired by file stem",
    splits={"all": "every image in the folder"}, expected_counts={},
    list_files=list_folder_files,
))
