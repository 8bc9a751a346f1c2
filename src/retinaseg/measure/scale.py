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

A cohort row (``retinaseg segment``) names the source more finely, in its
``scale_source`` column (:func:`photo_scale`; docs/units.md): ``manifest`` (the
photo's ``mm_per_pixel`` or ``fov_degrees`` manifest cell), ``flag``
(``--mm-per-pixel`` / ``--fov-degrees``, or the API's keywords), ``dataset`` (the
photo comes from a registered dataset whose camera angle is known:
:data:`CAMERA_FOV_DEGREES`), ``assumed`` (none of these: a
``DEFAULT_FOV_DEGREES`` camera) or ``none``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import RetinasegError

MM_PER_DEGREE = 0.288
DEFAULT_FOV_DEGREES = 45.0  # the commonest camera (DRIVE, HRF, most screening programmes)

# The field angle of each registered dataset's camera, as its paper states it. A stop-gap
# until the dataset specs carry a ``fov_degrees`` field (dataset_fov_degrees reads that first).
CAMERA_FOV_DEGREES = {
    # Canon CR5 non-mydriatic 3CCD, 45 degrees: Staal et al., IEEE TMI 23(4):501-509, 2004.
    "drive": 45.0,
    # Nidek NM-200-D, 30 degrees: Owen et al., IOVS 50(5):2004-2010, 2009; Fraz et al.,
    # IEEE TBME 59(9):2538-2548, 2012.
    "chase_db1": 30.0,
    # Canon CR-1 with an EOS 20D, 45 degrees: Budai et al., Int J Biomed Imaging 2013:154860.
    "hrf": 45.0,
}

# Where a cohort row's pixel size came from (its scale_source column), most specific first.
MANIFEST, FLAG, DATASET, ASSUMED, NONE = "manifest", "flag", "dataset", "assumed", "none"
SCALE_SOURCES = (MANIFEST, FLAG, DATASET, ASSUMED, NONE)


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


def dataset_fov_degrees(dataset: str | None) -> float | None:
    """The camera angle of a registered dataset's photos, or None when unknown.

    The hook the dataset specs' ``fov_degrees`` field (when it lands) plugs into;
    until then :data:`CAMERA_FOV_DEGREES`.
    """
    if not dataset:
        return None
    name = dataset.strip().lower()
    try:
        from ..data.registry import DATASETS

        stated = getattr(DATASETS.get(name), "fov_degrees", None)
    except Exception:  # noqa: BLE001 - an unregistered name is simply not known here
        stated = None
    return float(stated) if stated else CAMERA_FOV_DEGREES.get(name)


def photo_scale(fov: np.ndarray | None, candidates: list[tuple[str, float | None, float | None]],
                strict: bool = False) -> Scale:
    """One photo's pixel size from ranked ``(source, mm_per_pixel, fov_degrees)`` candidates.

    The first candidate that states either figure wins (its mm per pixel before its
    angle); without one, a ``DEFAULT_FOV_DEGREES`` camera is assumed, unless
    ``strict``: then there are no mm, and the note says why.
    """
    for source, mm_per_pixel, fov_degrees in candidates:
        if mm_per_pixel is not None or fov_degrees is not None:
            found = resolve_scale(fov, mm_per_pixel, None if mm_per_pixel else fov_degrees)
            note = found.note.removeprefix("assumed: ")
            return Scale(found.mm_per_pixel, source if found.mm_per_pixel else found.source,
                         f"{source}: {note}")
    if strict:
        return Scale(None, ASSUMED, "strict units: no mm per pixel or camera angle for this "
                                    "photo (manifest, --mm-per-pixel, --fov-degrees or a known "
                                    "dataset), so its mm columns are left empty")
    found = resolve_scale(fov, None, DEFAULT_FOV_DEGREES)
    return Scale(found.mm_per_pixel, found.source,
                 f"{found.note} (no angle given: the default camera)")
