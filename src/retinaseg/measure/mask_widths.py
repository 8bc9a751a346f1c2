"""The whole mask's width columns: a width across the vessel at every other centreline
pixel, for :func:`retinaseg.measure.measure_vessels`.

The same perpendicular profile as the calibres (:func:`.vessel_widths.profile_widths`),
at the pixels out of sight of their segment's ends (the calibres' rule), each averaged
with its neighbours along the same segment (:func:`along_vessel_mean`). A zone's calibre
measures a dozen vessels; this measures every vessel of a photo, so it works on all
segments at once, with each profile's reach sized to its own pixel's radius.
"""
from __future__ import annotations

import numpy as np

from .graph import Segment
from .vessel_widths import TANGENT_STEP, _clear_of_ends, profile_widths

# centreline_widths: a profile first reaches 2 inscribed radii (d) + 2 px each way, which
# closes across a vessel crossed within about 60 degrees of its normal (a w-wide band
# crossed at angle a runs w / cos a), then 4 d + 2 for those still open; a profile still
# open runs along a vessel, not across one. Reaches are rounded up to groups this many px
# apart. Every CENTRELINE_STRIDE-th centreline pixel is sampled: neighbours' widths are
# nearly the same, and on a large photo the profiles are most of the measuring time.
# along_vessel_mean: each sampled width averaged with this many sampled neighbours each way
# on its segment (5 samples, about 9 px of centreline at stride 2)
ALONG_VESSEL_HALF = 2
PROFILE_REACH_RADII = (2.0, 4.0)
PROFILE_REACH_STEP = 2.0
CENTRELINE_STRIDE = 2


def centreline_widths(mask: np.ndarray, segments: list[Segment],
                      distance: np.ndarray) -> np.ndarray:
    """The perpendicular-profile width (:func:`.vessel_widths.profile_widths`) at every
    :data:`CENTRELINE_STRIDE`-th centreline pixel of the segments, out of sight of each
    one's ends (as in a zone: an inscribed disc not overlapping an end's), for the whole
    mask's width columns. Where no pixel is (only stubs), at all of them. Finite widths
    only, in px. All segments at once: a photo has thousands, most a few pixels long."""
    if not segments:
        return np.zeros(0)
    points, normals, use, segment_of = _centreline_samples(segments, distance)
    if not use.any():
        use[:] = True
    chosen = np.flatnonzero(use)[::CENTRELINE_STRIDE]
    points, normals, segment_of = points[chosen], normals[chosen], segment_of[chosen]
    # Cast once (on a large photo it costs as much as the profiles), with a ring of
    # background around: past the last pixel centre map_coordinates samples nothing, so a
    # vessel running along the image's edge would lose half a pixel.
    values = np.pad(np.asarray(mask, dtype=np.float32), 1)
    radius = distance[tuple(points.astype(int).T)]
    widths = np.full(len(points), np.nan)
    for radii in PROFILE_REACH_RADII:
        # each profile reaches a few of its own pixel's inscribed radii, not the widest
        # vessel's: most close at the first reach, the rest get one more try
        todo = np.flatnonzero(np.isnan(widths))
        reach = np.ceil((radii * radius[todo] + 2) / PROFILE_REACH_STEP) * PROFILE_REACH_STEP
        for r in np.unique(reach):
            group = todo[reach == r]
            widths[group] = profile_widths(values, points[group] + 1, normals[group], float(r))
    widths = along_vessel_mean(widths, segment_of, ALONG_VESSEL_HALF)
    return widths[np.isfinite(widths)]


def along_vessel_mean(widths: np.ndarray, segment_of: np.ndarray, half: int) -> np.ndarray:
    """Each finite width replaced by the mean of the finite widths within ``half`` samples
    of it on its own segment (``segment_of``: each sample's segment, ascending). One
    profile across a binary mask takes one of a few values its pixel staircase allows
    (3.16 = sqrt 10 px, 3.50, ...), so a median of single profiles sticks to those; a
    vessel's width changes slowly along it, and the mean over a few neighbours reads
    between them."""
    finite = np.isfinite(widths)
    total = np.concatenate([[0.0], np.cumsum(np.where(finite, widths, 0.0))])
    count = np.concatenate([[0], np.cumsum(finite)])
    index = np.arange(len(widths))
    first = np.searchsorted(segment_of, segment_of, side="left")
    last = np.searchsorted(segment_of, segment_of, side="right") - 1
    low, high = np.maximum(index - half, first), np.minimum(index + half, last) + 1
    n = count[high] - count[low]
    return np.where(finite, (total[high] - total[low]) / np.maximum(n, 1), np.nan)


def _centreline_samples(segments: list[Segment], distance: np.ndarray):
    """Every segment's pixels, concatenated, with the normal at each (as
    :func:`.vessel_widths.segment_normals`, within its own segment) and whether it is out of sight of
    its segment's ends (as :func:`.vessel_widths._out_of_sight_of_ends`), and each one's segment:
    ``(points, normals, use, segment_of)``."""
    coords = np.concatenate([s.coords for s in segments])
    lengths = np.array([len(s.coords) for s in segments])
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    last = first + np.repeat(lengths, lengths) - 1
    index = np.arange(len(coords))
    tangent = (coords[np.minimum(index + TANGENT_STEP, last)]
               - coords[np.maximum(index - TANGENT_STEP, first)])
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normals = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    use = _clear_of_ends(coords, distance, first, last)
    use |= np.repeat([s.closed for s in segments], lengths)  # a ring has no ends
    return coords, normals, use, np.repeat(np.arange(len(segments)), lengths)
