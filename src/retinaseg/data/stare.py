"""STARE (Hoover et al. 2000), vessel subset, official names without ``.gz``.

The official tarballs hold gzipped files; they must be decompressed first
(``gunzip */*.gz``). The ``labels-ah`` files are greyscale PGM despite their
``.ppm`` extension, which Pillow reads by content. No official split: ``train``
and ``test`` are the 10/10 split of Maninis et al. 2016 (DRIU). ``labels-ah``
is the ground truth, ``labels-vk`` the second observer. There are no FOV
masks, so :func:`load_sample` estimates them.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import file_error
from .registry import DatasetSpec, SampleFiles, register_dataset, require_file

IDS = ["0001", "0002", "0003", "0004", "0005", "0044", "0077", "0081", "0082", "0139",
       "0162", "0163", "0235", "0236", "0239", "0240", "0255", "0291", "0319", "0324"]
TRAIN_IDS, TEST_IDS = IDS[:10], IDS[10:]  # Maninis et al. 2016: the ten lowest IDs train


def _require(path: Path) -> Path:
    """``require_file``, with a hint when only the official gzipped file is there."""
    gz = path.with_name(path.name + ".gz")
    if not path.is_file() and gz.is_file():
        raise file_error(path, f"missing; found {gz.name}: decompress the STARE files (gunzip)")
    return require_file(path)


def _files(folder: Path, image_id: str) -> SampleFiles:
    name = f"im{image_id}"
    return SampleFiles(
        id=image_id,
        image=_require(folder / "stare-images" / f"{name}.ppm"),
        vessel=_require(folder / "labels-ah" / f"{name}.ah.ppm"),
        observers={"labels-vk": _require(folder / "labels-vk" / f"{name}.vk.ppm")},
    )


def list_stare_files(folder: Path, split: str) -> list[SampleFiles]:
    ids = {"train": TRAIN_IDS, "test": TEST_IDS, "all": IDS}[split]
    return [_files(folder, i) for i in ids]


STARE = register_dataset(DatasetSpec(
    name="stare",
    folder="STARE",
    description="STARE, 20 images 700x605, no FOV masks (estimated), Maninis 2016 10/10 split",
    splits={"train": "im0001-0005, 0044, 0077, 0081, 0082, 0139 (Maninis et al. 2016)",
            "test": "the other ten (Maninis et al. 2016)", "all": "all 20"},
    expected_counts={"train": 10, "test": 10, "all": 20},
    list_files=list_stare_files,
    second_observer="labels-vk",
    fov_degrees=35.0,
    fov_degrees_note="Hoover et al. 2000: TopCon TRV-50 fundus camera, 35 deg",
))
