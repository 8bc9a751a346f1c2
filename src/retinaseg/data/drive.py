"""DRIVE (Staal et al. 2004), official DRIVE.zip layout.

Protocol: train on ``training/`` (21-40), test on ``test/`` (01-20) with
``1st_manual`` as ground truth and ``2nd_manual`` as the human reference.
"""
from __future__ import annotations

from pathlib import Path

from .registry import DatasetSpec, SampleFiles, register_dataset, require_file

TRAIN_IDS = [f"{i:02d}" for i in range(21, 41)]
TEST_IDS = [f"{i:02d}" for i in range(1, 21)]


def _training_files(folder: Path, image_id: str) -> SampleFiles:
    part = folder / "training"
    return SampleFiles(
        id=image_id,
        image=require_file(part / "images" / f"{image_id}_training.tif"),
        vessel=require_file(part / "1st_manual" / f"{image_id}_manual1.gif"),
        fov=require_file(part / "mask" / f"{image_id}_training_mask.gif"),
    )


def _test_files(folder: Path, image_id: str) -> SampleFiles:
    part = folder / "test"
    return SampleFiles(
        id=image_id,
        image=require_file(part / "images" / f"{image_id}_test.tif"),
        vessel=require_file(part / "1st_manual" / f"{image_id}_manual1.gif"),
        fov=require_file(part / "mask" / f"{image_id}_test_mask.gif"),
        observers={"2nd_manual": require_file(part / "2nd_manual" / f"{image_id}_manual2.gif")},
    )


def list_drive_files(folder: Path, split: str) -> list[SampleFiles]:
    train = [_training_files(folder, i) for i in TRAIN_IDS] if split in ("train", "all") else []
    test = [_test_files(folder, i) for i in TEST_IDS] if split in ("test", "all") else []
    return test + train if split == "all" else train or test


DRIVE = register_dataset(DatasetSpec(
    name="drive",
    folder="DRIVE",
    description="DRIVE, 40 images 565x584, official 20/20 split",
    splits={"train": "training/ images 21-40", "test": "test/ images 01-20", "all": "all 40"},
    expected_counts={"train": 20, "test": 20, "all": 40},
    list_files=list_drive_files,
    second_observer="2nd_manual",
))
