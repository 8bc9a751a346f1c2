"""DRIVE (Staal et al. 2004), official DRIVE.zip layout.

Protocol: train on ``training/`` (21-40), test on ``test/`` (01-20) with
``1st_manual`` as ground truth and ``2nd_manual`` as the human reference.

Where ``DRIVE-AV/`` (the RITE A/V labels, Hu et al. 2013) sits beside
``DRIVE/`` under the data root, each sample's ``av`` is its
``DRIVE-AV/{training,test}/av/NN_{training,test}.png``; without it, or for a
photo it lacks, ``av`` is ``None`` and DRIVE loads exactly as before.
"""
from __future__ import annotations

from pathlib import Path

from .registry import DatasetSpec, SampleFiles, optional_file, register_dataset, require_file

TRAIN_IDS = [f"{i:02d}" for i in range(21, 41)]
TEST_IDS = [f"{i:02d}" for i in range(1, 21)]
AV_FOLDER = "DRIVE-AV"  # beside DRIVE/ under the data root


def _av_label(folder: Path, part: str, image_id: str) -> Path | None:
    return optional_file(folder.parent / AV_FOLDER / part / "av" / f"{image_id}_{part}.png")


def _training_files(folder: Path, image_id: str) -> SampleFiles:
    part = folder / "training"
    return SampleFiles(
        id=image_id,
        image=require_file(part / "images" / f"{image_id}_training.tif"),
        vessel=require_file(part / "1st_manual" / f"{image_id}_manual1.gif"),
        fov=require_file(part / "mask" / f"{image_id}_training_mask.gif"),
        av=_av_label(folder, "training", image_id),
    )


def _test_files(folder: Path, image_id: str) -> SampleFiles:
    part = folder / "test"
    return SampleFiles(
        id=image_id,
        image=require_file(part / "images" / f"{image_id}_test.tif"),
        vessel=require_file(part / "1st_manual" / f"{image_id}_manual1.gif"),
        fov=require_file(part / "mask" / f"{image_id}_test_mask.gif"),
        observers={"2nd_manual": require_file(part / "2nd_manual" / f"{image_id}_manual2.gif")},
        av=_av_label(folder, "test", image_id),
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
    fov_degrees=45.0,
    fov_degrees_note="Staal et al. 2004: Canon CR5 non-mydriatic 3CCD camera, 45 deg",
))
