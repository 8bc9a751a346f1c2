"""From pixels to millimetres on the retina: a stated pixel size, or a stated assumption.

Fundus cameras are sold by their field angle (30, 45, 50 degrees), not by the
retinal distance a pixel covers, and that distance also depends on the eye
(axial length, refraction). So a pixel size can come from three places, and
every result says which:

* ``given``: the user's ``mm_per_pixel`` (e.g. from the camera's calibration).
* ``assumed``: the FOV's width in pixels is taken to span ``fov_degrees`` of
  visual angle at ``MM_PER_DEGREE`` mm per degree. 0.288 mm/degree is the
  retinal magnification of the standard emmetropic schematic eye near the
  posterior pole (Drasdo & Fowler, "Non-linear projection of the retinal image
  in a wide-angle schematic eye", Br J Ophthalmol 58(8):709-714, 1974; the
  figure OCT and perimetry work quotes as ~288 um per degree). A 45 degree FOV
  is then about 12.96 mm wide. Expect errors of 10% or more in a given eye (a
  myopic eye is larger), and more towards a wide field's edge, where the
  projection is not linear; compare mm across cameras with care.
* ``none``: no pixel size, no FOV to assume one from: measures stay in pixels
  and the mm fields are empty.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import RetinasegError

MM_PER_DEGREE = 0.288
DEFAULT_FOV_DEGREES = 45.0  # the commonest camera (DRIVE, HRF, most screening programmes)


@dataclass(frozen=True)
class Scale:
    """How long one pixel is on the retina, and where that figure came from."""

    mm_per_pixel: float | None
    source: str  # "given", "assumed" or "none"
    note: str


def fov_width_px(fov: np.ndarray) -> int:
    """Width of the FOV (columns it spans): cameras crop the fundus circle's top and
    bottom, rarely its sides, so the width is the diameter."""
    columns = np.flatnonzero(fov.any(axis=0))
    return int(columns[-1] - columns[0] + 1) if columns.size else 0


def resolve_scale(fov: np.ndarray | None, mm_per_pixel: float | None = None,
                  fov_degrees: float | None = None) -> Scale:
    """The pixel size to use: given, else assumed from the FOV's width, else none."""
    if mm_per_pixel is not None:
        if not (math.isfinite(mm_per_pixel) and mm_per_pixel > 0):
            raise RetinasegError(f"mm per pixel must be a positive number, got {mm_per_pixel}")
        return Scale(float(mm_per_pixel), "given", f"{mm_per_pixel:g} mm per pixel, as given")
    if fov_degrees is None or fov is None:
        return Scale(None, "none", "no pixel size: give mm per pixel, or a FOV and its angle")
    if not (math.isfinite(fov_degrees) and 0 < fov_degrees <= 200):
        raise RetinasegError(f"FOV angle must be between 0 and 200 degrees, got {fov_degrees}")
    width = fov_width_px(fov)
    if width == 0:
        return Scale(None, "none", "empty FOV: no width to assume a pixel size from")
    width_mm = fov_degrees * MM_PER_DEGREE
    return Scale(width_mm / width, "assumed",
                 f"assumed: the FOV ({width} px wide) spans {fov_degrees:g} degrees = "
                 f"{width_mm:.2f} mm at {MM_PER_DEGREE} mm/degree")
