"""What a training image teaches: the vessel mask alone, or, for an artery/vein
model (``data.targets: av``), the vessel mask with artery and vein maps beside it.

An A/V target is four planes at the image's size, bool:

- ``vessel``: the dataset's own vessel label (the one the vessel output is scored on);
- ``artery``: RITE artery or crossing pixels; ``vein``: vein or crossing pixels
  (at a crossing both vessels are there, so both outputs should say so);
- ``known``: where the artery and vein outputs are taught at all. Uncertain pixels
  (RITE white, and the magenta/cyan overlaps :mod:`retinaseg.data.av` maps to it)
  are left out: whose vessel they are is not known. So are pixels the vessel label
  calls vessel but the A/V label calls background (the two were drawn apart, and
  DRIVE's differ on a few hundred pixels a photo): nothing is known there either.

A vessel target is the vessel mask alone, one plane, as it always was.
"""
from __future__ import annotations

import numpy as np

from ..data.av import ARTERY as AV_ARTERY
from ..data.av import BACKGROUND, CROSSING, UNCERTAIN
from ..data.av import VEIN as AV_VEIN
from ..errors import file_error
from ..models.contract import VESSEL
from ..pipeline.segment import ARTERY as ARTERY_OUTPUT
from ..pipeline.segment import VEIN as VEIN_OUTPUT

TARGETS = {"vessel": [VESSEL], "av": [VESSEL, ARTERY_OUTPUT, VEIN_OUTPUT]}
AV_PLANES = ("vessel", "artery", "vein", "known")


def target_outputs(targets: str) -> list[str]:
    """The outputs a model trained on ``targets`` gives, one per channel, vessel first."""
    return list(TARGETS[targets])


def target_planes(sample, targets: str) -> np.ndarray:
    """``sample``'s training target, ``(planes, H, W)`` bool (see the module doc)."""
    if targets == "vessel":
        return sample.vessel[None]
    classes = sample.av
    if classes is None:
        raise file_error(sample.image_path, "has no artery/vein label, which data.targets: av "
                                            "needs for every training image")
    return av_planes(sample.vessel, classes)


def av_planes(vessel: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The four A/V planes from a vessel mask and a RITE class map of the same size."""
    artery = (classes == AV_ARTERY) | (classes == CROSSING)
    vein = (classes == AV_VEIN) | (classes == CROSSING)
    disagree = vessel & (classes == BACKGROUND)
    known = (classes != UNCERTAIN) & ~disagree
    return np.stack([vessel, artery, vein, known])
