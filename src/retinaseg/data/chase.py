"""CHASE_DB1 (Fraz et al. 2012), official flat ``CHASEDB1/`` layout.

There is no official split. The splits here follow the most common "20/8"
protocol: train on the first 20 images (``01L``-``10R``), test on the last 8
(``11L``-``14R``), ``1stHO`` as ground truth and ``2ndHO`` as the human
reference. There are no FOV masks, so :func:`load_sample` estimates them.
"""
from __future__ import annotations

from pathlib import Path

from .registry import DatasetSpec, SampleFiles, register_dataset, require_file

IDS = [f"{child:02d}{eye}" for child in range(1, 15) for eye in "LR"]
TRAIN_IDS, TEST_IDS = IDS[:20], IDS[20:]


def _files(folder: Path, image_id: str) -> SampleFiles:
    name = f"Image_{image_id}"
    return SampleFiles(
        id=image_id,
        image=require_file(folder / f"{name}.jpg"),
        vessel=require_file(folder / f"{name}_1stHO.png"),
        observers={"2ndHO": require_file(folder / f"{name}_2ndHO.png")},
    )


def list_chase_files(folder: Path, split: str) -> list[SampleFiles]:
    ids = {"train": TRAIN_IDS, "test": TEST_IDS, "all": IDS}[split]
    return [_files(folder, i) for i in ids]


CHASE_DB1 = register_dataset(DatasetSpec(
    name="chase_db1",
    folder="CHASEDB1",
    description="CHASE_DB1, 28 images 999x960, no FOV masks (estimated), common 20/8 split",
    splits={"train": "first 20 images, 01L-10R (common 20/8 protocol)",
            "test": "last 8 images, 11L-14R (common 20/8 protocol)", "all": "all 28"},
    expected_counts={"train": 20, "test": 8, "all": 28},
    list_files=list_chase_files,
    second_observer="2ndHO",
    fov_degrees=30.0,
    fov_degrees_note="Fraz et al. 2012: Nidek NM-200-D fundus camera, 30 deg",
))
