"""RETA benchmark (Lyu et al. 2022), IDRiD vessel subset, figshare ``images.rar`` layout.

``images/train/img/<stem>.jpg`` pairs with ``images/train/vessel/<stem>_vessel.png``;
``images/test/img`` holds the leaderboard images, whose masks are withheld.

Splits follow the column Bi-LSTM paper's deterministic 44/10 protocol: the
labelled images sorted by file name (plain string order, as a ``dir`` listing
gives), the last 10 test and the others train. The split is derived from what
is on disk: with the official 54 labelled images it is exactly 44/10; with any
other number the last 10 still test, and ``expected_counts`` (the official
numbers) lets ``retinaseg datasets`` flag the mismatch rather than this loader
guessing which files are missing.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import RetinasegError, file_error
from .registry import DatasetSpec, SampleFiles, register_dataset

TEST_COUNT = 10
IMAGE_SUFFIXES = (".jpg", ".jpeg")
MASK_SUFFIX = "_vessel.png"


def _listing(folder: Path, keep) -> list[Path]:
    if not folder.is_dir():
        raise RetinasegError(f"{folder}: missing folder (dataset folder incomplete)")
    files = (p for p in folder.iterdir() if p.is_file() and keep(p.name))
    return sorted(files, key=lambda p: p.name)


def _images(folder: Path) -> list[Path]:
    return _listing(folder, lambda name: name.lower().endswith(IMAGE_SUFFIXES))


def _labelled(folder: Path) -> list[SampleFiles]:
    """Pair every training image with its mask; an unpaired file on either side is an error."""
    img_dir, vessel_dir = folder / "images/train/img", folder / "images/train/vessel"
    masks = {p.name: p for p in _listing(vessel_dir, lambda name: name.endswith(MASK_SUFFIX))}
    files = []
    for image in _images(img_dir):
        mask = masks.pop(image.stem + MASK_SUFFIX, None)
        if mask is None:
            raise file_error(image, f"no vessel mask {image.stem + MASK_SUFFIX} in {vessel_dir}")
        files.append(SampleFiles(id=image.stem, image=image, vessel=mask))
    if masks:
        raise file_error(next(iter(masks.values())),
                         f"vessel mask without a matching image in {img_dir}")
    return files


def list_reta_files(folder: Path, split: str) -> list[SampleFiles]:
    if split == "unlabelled":
        return [SampleFiles(id=p.stem, image=p) for p in _images(folder / "images/test/img")]
    labelled = _labelled(folder)
    if len(labelled) <= TEST_COUNT:
        raise RetinasegError(f"{folder}: only {len(labelled)} labelled RETA images; the 44/10 "
                             f"protocol needs more than {TEST_COUNT}")
    return {"train": labelled[:-TEST_COUNT], "test": labelled[-TEST_COUNT:], "all": labelled}[split]


RETA = register_dataset(DatasetSpec(
    name="reta",
    folder="RETA",
    description="RETA (IDRiD subset), 1024x1024, 54 public masks, deterministic 44/10 split",
    splits={"train": "labelled images sorted by name, all but the last 10 (44 of 54)",
            "test": "the last 10 labelled images by name",
            "all": "every labelled image (54)",
            "unlabelled": "images/test/img, masks withheld for the leaderboard (27)"},
    expected_counts={"train": 44, "test": 10, "all": 54, "unlabelled": 27},
    list_files=list_reta_files,
    fov_degrees=50.0,
    fov_degrees_note="IDRiD photos (Porwal et al. 2018): Kowa VX-10 alpha, 50 deg",
))
