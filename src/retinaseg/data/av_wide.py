"""AV-WIDE (Estrada et al. 2015), wide-field photos, the layout of the deepdyn copy.

30 ultra-wide-field photos (Optos 200Tx), each its own size (1217-1551 x
727-1046): ``images/wide_image_NN.png`` with ``manual/wide_image_NN_vessels.png``
(8-bit, vessel > 0). There are no FOV masks, so :func:`load_sample`
estimates them (``tests/test_datasets_new.py`` checks the estimate keeps the
labelled vessels).

No official split: ``train`` is images 01-15 and ``test`` 16-30, by number.
Each photo is a different person (Estrada et al. 2015), so halving by number
keeps people apart, and a fixed rule needs no list to copy.
"""
from __future__ import annotations

from pathlib import Path

from .registry import DatasetSpec, SampleFiles, register_dataset, require_file

IDS = [f"{i:02d}" for i in range(1, 31)]
TRAIN_IDS, TEST_IDS = IDS[:15], IDS[15:]


def _files(folder: Path, image_id: str) -> SampleFiles:
    name = f"wide_image_{image_id}"
    return SampleFiles(
        id=image_id,
        image=require_file(folder / "images" / f"{name}.png"),
        vessel=require_file(folder / "manual" / f"{name}_vessels.png"),
    )


def list_av_wide_files(folder: Path, split: str) -> list[SampleFiles]:
    ids = {"train": TRAIN_IDS, "test": TEST_IDS, "all": IDS}[split]
    return [_files(folder, i) for i in ids]


AV_WIDE = register_dataset(DatasetSpec(
    name="av_wide",
    folder="AV-WIDE",
    description="AV-WIDE, 30 ultra-wide-field (Optos) images of 30 sizes, no FOV masks "
                "(estimated), fixed 15/15 split by number",
    splits={"train": "wide_image_01-15 (first half by number; one person per image)",
            "test": "wide_image_16-30 (second half by number)", "all": "all 30"},
    expected_counts={"train": 15, "test": 15, "all": 30},
    list_files=list_av_wide_files,
    fov_degrees=None,
    fov_degrees_note="Optos 200Tx ultra-wide field, up to ~200 deg with a strongly non-linear "
                     "projection: no single degrees-per-pixel factor holds",
))
