"""VEVIO (Estrada et al. 2012), neonatal indirect-ophthalmoscope video, the deepdyn layout.

16 eyes, each with one video frame and one mosaic stitched from its video:
``frames/neoNNod1_d.png`` (640x480) and ``mosaics/neoNNod1_m.png`` (512-816
px), each with its vessel label (``*_manual_01_bw/bw_<stem>_black.png``,
vessel > 0) and FOV mask (``*_masks/mask_<stem>.png``). The stem names the
eye: ``neoNN`` the infant, ``od`` the right eye, ``_d`` a frame and ``_m`` a
mosaic. Six frame masks have a blurred edge (2-3% grey pixels): frame masks are
read as soft FOV masks (cut at half level) rather than refused.

No official split. A frame and the mosaic of the same eye show the same
vessels, so a split is by eye: the 16 eyes sorted by infant number, the first
8 (neo02-neo11) train and the last 8 (neo12-neo23) test, frames and mosaics
together. ``test_frames``/``test_mosaics`` and ``frames``/``mosaics`` keep
one kind, since their scale and quality differ: a score on each is worth
reporting apart.
"""
from __future__ import annotations

from pathlib import Path

from .registry import DatasetSpec, SampleFiles, register_dataset, require_file

EYES = ["neo02od1", "neo03od1", "neo04od1", "neo06od1", "neo07od1", "neo08od1", "neo10od1",
        "neo11od1", "neo12od1", "neo13od1", "neo14od1", "neo15od1", "neo17od1", "neo20od1",
        "neo22od1", "neo23od1"]
TRAIN_EYES, TEST_EYES = EYES[:8], EYES[8:]
KINDS = {"d": "frames", "m": "mosaics"}  # stem suffix -> folder prefix


def _files(folder: Path, eye: str, kind: str) -> SampleFiles:
    stem, prefix = f"{eye}_{kind}", KINDS[kind]
    return SampleFiles(
        id=stem,
        image=require_file(folder / prefix / f"{stem}.png"),
        vessel=require_file(folder / f"{prefix}_manual_01_bw" / f"bw_{stem}_black.png"),
        fov=require_file(folder / f"{prefix}_masks" / f"mask_{stem}.png"),
        soft_fov=kind == "d",  # six frame masks have a blurred edge; mosaic masks are binary
    )


# split -> (eyes, kinds); frames before mosaics within a split
SPLITS = {
    "train": (TRAIN_EYES, "dm"), "test": (TEST_EYES, "dm"), "all": (EYES, "dm"),
    "test_frames": (TEST_EYES, "d"), "test_mosaics": (TEST_EYES, "m"),
    "frames": (EYES, "d"), "mosaics": (EYES, "m"),
}


def list_vevio_files(folder: Path, split: str) -> list[SampleFiles]:
    eyes, kinds = SPLITS[split]
    return [_files(folder, eye, kind) for kind in kinds for eye in eyes]


def eye_of(sample_id: str) -> str:
    """The eye a VEVIO sample shows (``neo02od1`` for ``neo02od1_m``)."""
    return sample_id.rsplit("_", 1)[0]


VEVIO = register_dataset(DatasetSpec(
    name="vevio",
    folder="VEVIO",
    description="VEVIO, 16 neonatal eyes: 16 video frames 640x480 + 16 mosaics, vessel and "
                "FOV masks, fixed 8/8 split by eye (frame and mosaic together)",
    splits={"train": "frames and mosaics of the first 8 eyes by infant number (neo02-neo11)",
            "test": "frames and mosaics of the last 8 eyes (neo12-neo23)",
            "all": "all 16 frames and 16 mosaics",
            "test_frames": "the test eyes' frames only (8)",
            "test_mosaics": "the test eyes' mosaics only (8)",
            "frames": "all 16 frames", "mosaics": "all 16 mosaics"},
    expected_counts={"train": 16, "test": 16, "all": 32, "test_frames": 8,
                     "test_mosaics": 8, "frames": 16, "mosaics": 16},
    list_files=list_vevio_files,
    fov_degrees=None,
    fov_degrees_note="indirect ophthalmoscope video (hand-held lens, angle not recorded) and "
                     "mosaics stitched from it: no fixed angle",
))
