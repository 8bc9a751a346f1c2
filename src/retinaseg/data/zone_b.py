"""The optic disc of the DRIVE test photos, from the zone B annuli of DRIVE-ZoneB.

``DRIVE-ZoneB/NN_test_B.png`` (RGBA, from the RITE evaluation masks) marks
zone B, the ring from 0.5 to 1 disc diameter beyond the disc margin: around
the disc centre, its inner radius is two disc radii and its outer radius
three. Channel 0 above 127 is the ring. The ring is cut where it leaves the
photo in 18 of the 20 (the disc sits near the photo's side), so the ring's
own centroid is pulled inwards; :func:`disc_from_zone_b` fits the circle.

Nothing here is wired into the segmentation; it is for an optic-disc task.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize

from ..errors import RetinasegError, file_error
from .io import _decode, _mask_array

ZONE_B_FOLDER = "DRIVE-ZoneB"  # beside DRIVE/ under the data root
RING_LEVEL = 127
INNER_DISC_RADII, OUTER_DISC_RADII = 2.0, 3.0


@dataclass(frozen=True)
class OpticDisc:
    """Disc centre ``(row, col)`` and radius, in pixels of the photo."""

    row: float
    col: float
    radius: float


def zone_b_path(root, image_id: str) -> Path:
    """The zone B file of DRIVE test photo ``image_id`` ("01"-"20") under the data root."""
    return Path(root) / ZONE_B_FOLDER / f"{image_id}_test_B.png"


def read_zone_b(path) -> np.ndarray:
    """The zone B ring as a bool ``(H, W)`` mask (channel 0 above 127)."""
    pixels = _decode(path, _mask_array)
    ring = (pixels[..., 0] if pixels.ndim == 3 else pixels) > RING_LEVEL
    if not ring.any():
        raise file_error(path, "zone B mask is empty (no pixel above 127 in channel 0)")
    return ring


def disc_from_zone_b(ring: np.ndarray, path="<array>") -> OpticDisc:
    """Fit the disc to a zone B ring: the ring's centre, and the radius from its radii.

    The centre starts at the ring's centroid and is refined by a geometric
    least-squares circle fit through the ring pixels: the ring is the same
    width in every direction, so its true centre fits best even where the
    photo's edge cuts it (18 of the 20 DRIVE rings are cut, some right
    through, and their centroid alone is up to 27 px off). The ring's inner
    edge lies at two disc radii and its outer edge at three, so the radius is
    ``(inner + outer) / 5``, both around that centre: the 2nd and 98th
    percentiles of the ring pixels' distances, robust to a ragged drawn edge.
    """
    rows, cols = np.nonzero(ring)
    points = np.stack([rows, cols], axis=1).astype(float)

    def residuals(params):
        return np.hypot(*(points - params[:2]).T) - params[2]

    start = [rows.mean(), cols.mean(), np.hypot(*(points - points.mean(0)).T).mean()]
    row, col = optimize.least_squares(residuals, start).x[:2]
    distance = np.hypot(rows - row, cols - col)
    inner, outer = (float(v) for v in np.percentile(distance, [2, 98]))
    if inner <= 0 or outer <= inner:
        raise file_error(path, "zone B mask is not a ring around a centre")
    return OpticDisc(float(row), float(col),
                     (inner + outer) / (INNER_DISC_RADII + OUTER_DISC_RADII))


def drive_optic_disc(root, image_id: str) -> OpticDisc:
    """The optic disc of DRIVE test photo ``image_id`` ("01"-"20"), from its zone B file."""
    path = zone_b_path(root, image_id)
    if not path.is_file():
        raise RetinasegError(f"{path}: missing file (no zone B mask for DRIVE test photo "
                             f"{image_id!r}; DRIVE-ZoneB has the 20 test photos)")
    return disc_from_zone_b(read_zone_b(path), path)
