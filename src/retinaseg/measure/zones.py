"""The measurement zones around the optic disc: rings at stated distances from its margin.

The calibre studies (ARIC, Blue Mountains, Beaver Dam; Hubbard et al. 1999, Knudtson
et al. 2003) measure vessels in rings around the disc, in disc diameters (DD) from the
disc *margin*, so in disc radii ``r`` from its *centre*:

* **zone B**: 0.5 to 1 DD from the margin, the ring ``2 r`` to ``3 r`` from the centre
  (DRIVE-ZoneB draws exactly this: inner radius two disc radii, outer three);
* **zone C**: 0.5 to 2 DD from the margin, ``2 r`` to ``5 r``. Measured, as the
  extended-zone software does, in rings one disc radius wide (``2-3 r``, ``3-4 r``,
  ``4-5 r``: :data:`ZONE_C_RINGS`), whose values :mod:`.calibres` averages; a single
  wide annulus would let the trunks next to the disc win every time.

:func:`zone_problem` says why a zone cannot be measured (no disc, the disc outside the
photo, the ring mostly outside the FOV, a disc too small to resolve the ring), so a
caller leaves the value empty with that reason instead of giving a wrong number.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

# The smallest disc radius (px) whose zone B is resolved: at 20 px (a FOV about 260 px
# wide) the main vessels are about 3 px wide; below that one pixel is a third of a width.
MIN_DISC_RADIUS_PX = 20.0
# A ring with less than this share of its area inside the FOV is not measured: most of
# its vessels would be missing, and CRAE from the few left would read low.
MIN_RING_INSIDE = 0.5


@dataclass(frozen=True)
class Zone:
    """A ring around the disc centre, from ``inner`` to ``outer`` disc radii."""

    name: str
    inner: float
    outer: float


ZONE_B = Zone("zone B", 2.0, 3.0)
ZONE_C = Zone("zone C", 2.0, 5.0)
ZONE_C_RINGS = (Zone("zone C ring 1", 2.0, 3.0), Zone("zone C ring 2", 3.0, 4.0),
                Zone("zone C ring 3", 4.0, 5.0))


def distance_from(shape: tuple[int, int], row: float, col: float) -> np.ndarray:
    """Each pixel's distance from ``(row, col)``, in pixels, read-only: one photo's zones
    and checks all ask for the same map, so each thread keeps its last one."""
    key = (tuple(shape), float(row), float(col))
    last = getattr(_LAST_DISTANCE, "value", None)
    if last is None or last[0] != key:
        rr, cc = np.ogrid[:shape[0], :shape[1]]
        distance = np.hypot(rr - row, cc - col)
        distance.flags.writeable = False
        last = _LAST_DISTANCE.value = (key, distance)
    return last[1]


_LAST_DISTANCE = threading.local()  # a cohort worker may measure photos in threads


def zone_mask(shape: tuple[int, int], disc, zone: Zone) -> np.ndarray:
    """The ring of ``zone`` around ``disc`` (anything with ``row``, ``col``, ``radius``)."""
    distance = distance_from(shape, disc.row, disc.col)
    return (distance >= zone.inner * disc.radius) & (distance < zone.outer * disc.radius)


def zone_problem(disc, fov: np.ndarray, zone: Zone) -> str:
    """Why ``zone`` cannot be measured in this photo, or "" when it can."""
    if disc is None:
        return "no disc found"
    height, width = fov.shape
    row, col = round(disc.row), round(disc.col)
    if not (0 <= row < height and 0 <= col < width) or not fov[row, col]:
        return "disc outside the photo"
    if disc.radius < MIN_DISC_RADIUS_PX:
        return (f"photo too small to resolve {zone.name} (disc radius {disc.radius:.0f} px, "
                f"needs {MIN_DISC_RADIUS_PX:.0f})")
    ring = zone_mask(fov.shape, disc, zone)
    inside = np.count_nonzero(ring & fov) / max(_ring_area(disc, zone), 1.0)
    if inside < MIN_RING_INSIDE:
        return f"disc at the edge: {100 * inside:.0f}% of {zone.name} lies inside the photo"
    return ""


def _ring_area(disc, zone: Zone) -> float:
    """The ring's whole area, also the part beyond the photo's border."""
    return float(np.pi * disc.radius ** 2 * (zone.outer ** 2 - zone.inner ** 2))
