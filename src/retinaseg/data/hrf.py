"""HRF (Budai et al. 2013), official ``all.zip`` layout.

No official split; ``train``/``test`` follow Orlando et al. 2017: images 01-05
of each category (healthy ``h``, glaucoma ``g``, diabetic retinopathy ``dr``)
train, the other 30 test.

Where ``HRF-AV/`` (Hemelings et al. 2019) sits beside ``HRF/`` under the data
root, each sample's ``av`` is ``HRF-AV/NN_c_AVmanual.png`` (RITE colours, no
white); without it, or for a photo it lacks, ``av`` is ``None`` and HRF loads
exactly as before.
"""
from __future__ import annotations

from pathlib import Path

from .registry import DatasetSpec, SampleFiles, optional_file, register_dataset, require_file

CATEGORIES = ("h", "g", "dr")
IDS = [f"{i:02d}_{c}" for c in CATEGORIES for i in range(1, 16)]
TRAIN_IDS = [i for i in IDS if int(i[:2]) <= 5]
TEST_IDS = [i for i in IDS if int(i[:2]) > 5]
AV_FOLDER = "HRF-AV"  # beside HRF/ under the data root


def _image_path(folder: Path, image_id: str) -> Path:
    # The official archive names the _dr photos *.JPG; accept a lower-cased copy too.
    official = folder / "images" / f"{image_id}.{'JPG' if image_id.endswith('_dr') else 'jpg'}"
    swapped = official.with_suffix(official.suffix.swapcase())
    if not official.is_file() and swapped.is_file():
        return swapped
    return require_file(official)


def _files(folder: Path, image_id: str) -> SampleFiles:
    return SampleFiles(
        id=image_id,
        image=_image_path(folder, image_id),
        vessel=require_file(folder / "manual1" / f"{image_id}.tif"),
        fov=require_file(folder / "mask" / f"{image_id}_mask.tif"),
        av=optional_file(folder.parent / AV_FOLDER / f"{image_id}_AVmanual.png"),
    )


def list_hrf_files(folder: Path, split: str) -> list[SampleFiles]:
    ids = {"train": TRAIN_IDS, "test": TEST_IDS, "all": IDS}[split]
    return [_files(folder, i) for i in ids]


HRF = register_dataset(DatasetSpec(
    name="hrf",
    folder="HRF",
    description="HRF, 45 images 3504x2336 (15 healthy, 15 glaucoma, 15 DR), Orlando 2017 split",
    splits={"train": "images 01-05 of each category, 15 (Orlando et al. 2017)",
            "test": "images 06-15 of each category, 30 (Orlando et al. 2017)", "all": "all 45"},
    expected_counts={"train": 15, "test": 30, "all": 45},
    list_files=list_hrf_files,
    fov_degrees=45.0,
    fov_degrees_note="Budai et al. 2013: Canon CR-1 fundus camera, 45 deg",
))
