"""Vessel segments of one class's mask (arteries or veins) and each one's width in a zone.

The mask's skeleton (``skimage`` ``skeletonize``, short spurs pruned) is cut into
segments between branch and end points by :mod:`.graph`. A segment's width is the
**median over its centreline pixels inside the zone** of the width across the vessel
at each pixel, measured on a **perpendicular profile**: the mask, bilinearly
interpolated, is sampled every :data:`PROFILE_STEP` px along the normal to the local
centreline, and the width is the run above 0.5 around the centre, its ends placed
between samples. Why not ``2 d`` of the distance transform, as
:func:`retinaseg.measure.measure_vessels` does: along a row or a column ``2 d`` reads a
band ``w`` px wide as ``w + 1``, and the big vessels leave the disc mostly up and down
the photo, along its columns. A +1 px bias on a 7 px vessel is 14%, and Knudtson's
formulas square it. The profile reads such bands exactly and oblique ones within half a
pixel (tests/test_calibres.py).

Pixels are not sampled where the width is not the vessel's own:

* near a segment's ends: where the pixel's inscribed disc (``d`` of the distance
  transform) overlaps the end's, i.e. where a branch point or a tip is in view;
* in a **crossing** (the ``crossings`` mask: the pixels where an artery and a vein
  overlap, grown by :data:`CROSSING_MARGIN_PX`). A crossing does not cut a segment:
  the caller adds the crossing's pixels to both classes' masks, so each vessel runs on
  through it, one segment and one vessel, not two pieces counted twice among the six
  widest.

A **branch** inside the zone is measured at its trunk (the rule of the graders'
protocols, Hubbard et al. 1999): a segment that leaves a branch point lying in the
zone, outwards (its pixels further from the disc than the branch point), is not
counted where the segment arriving at that point from the disc side is measured.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from .graph import Segment, skeleton_graph, trace_segments

PROFILE_STEP = 0.25  # px between samples along a profile
TANGENT_STEP = 3  # the centreline direction at a pixel: from the pixels this far each way
CROSSING_MARGIN_PX = 2  # crossings grown by this much before their pixels are skipped
SPUR_WIDTHS = 1.0  # a tip segment shorter than this many of its branch's widths is a spur


@dataclass(frozen=True)
class SegmentWidth:
    """One measured segment: the median width over its samples in the zone, in px."""

    width_px: float
    samples: int
    row: float  # the middle sample, for drawing and for reading a table by eye
    col: float


def class_skeleton(mask: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The mask's skeleton with spurs pruned: a tip segment shorter than its branch
    point's width is the skeleton's answer to a bump in the vessel's edge, not a
    vessel, and it would cut the vessel into two segments both counted."""
    skeleton = skeletonize(mask)
    graph = skeleton_graph(skeleton)
    degree = np.zeros(mask.shape, dtype=int)
    degree[tuple(graph.coords.T)] = graph.degree
    pruned = skeleton.copy()
    for segment in trace_segments(graph):
        ends = segment.coords[[0, -1]].astype(int)
        tips = degree[tuple(ends.T)]
        if segment.closed or sorted(tips.tolist())[:1] != [1] or max(tips) < 3:
            continue  # not a tip joined to a branch point
        branch = ends[int(np.argmax(tips))]
        if segment.length_px < SPUR_WIDTHS * 2 * distance[tuple(branch)]:
            inner = segment.coords.astype(int)
            keep = (inner == branch).all(axis=1)
            pruned[tuple(inner[~keep].T)] = False
    return skeletonize(pruned)


def segment_normals(coords: np.ndarray) -> np.ndarray:
    """Unit normals to a pixel path, from the direction over +-TANGENT_STEP pixels."""
    index = np.arange(len(coords))
    ahead = coords[np.minimum(index + TANGENT_STEP, len(coords) - 1)]
    behind = coords[np.maximum(index - TANGENT_STEP, 0)]
    tangent = ahead - behind
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def profile_widths(mask: np.ndarray, points: np.ndarray, normals: np.ndarray,
                   reach_px: float) -> np.ndarray:
    """The width across the mask at each point along its normal (NaN where the run
    around the point reaches ``reach_px`` either way: the profile ran along a vessel)."""
    offsets = np.arange(-reach_px, reach_px + PROFILE_STEP / 2, PROFILE_STEP)
    rows = points[:, :1] + normals[:, :1] * offsets
    cols = points[:, 1:] + normals[:, 1:] * offsets
    values = ndimage.map_coordinates(mask.astype(np.float32), [rows, cols], order=1,
                                     mode="constant")
    centre = len(offsets) // 2
    outside = values < 0.5
    left = centre - 1 - np.argmax(outside[:, centre - 1::-1], axis=1)  # last outside before
    right = centre + 1 + np.argmax(outside[:, centre + 1:], axis=1)  # first outside after
    closed = outside[:, :centre].any(axis=1) & outside[:, centre + 1:].any(axis=1)
    at = np.arange(len(points))
    left_edge = left + _crossing(values[at, left], values[at, left + 1])
    right_edge = right - 1 + _crossing(values[at, right - 1], values[at, right])
    widths = (right_edge - left_edge) * PROFILE_STEP
    return np.where(closed & ~outside[:, centre], widths, np.nan)


def _crossing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where between two samples (0-1) the profile passes 0.5."""
    return np.clip((0.5 - a) / np.where(b != a, b - a, 1.0), 0.0, 1.0)


def zone_segment_widths(mask: np.ndarray, zone: np.ndarray, disc_centre: tuple[float, float],
                        min_samples: int, crossings: np.ndarray | None = None
                        ) -> list[SegmentWidth]:
    """The measured segments of one class's mask in ``zone`` (module docstring)."""
    mask = np.asarray(mask, dtype=bool)
    distance = ndimage.distance_transform_edt(mask)
    graph = skeleton_graph(class_skeleton(mask, distance))
    segments = [s for s in trace_segments(graph) if len(s.coords) > 2]
    skip = np.zeros(mask.shape, dtype=bool) if crossings is None else \
        ndimage.binary_dilation(crossings, iterations=CROSSING_MARGIN_PX)
    reach = 2 * float(distance.max()) + 2
    measured = {}
    for k, segment in enumerate(segments):
        found = _segment_width(mask, segment, zone, skip, distance, reach, min_samples)
        if found is not None:
            measured[k] = found
    covered = _branches_of_measured(segments, measured, graph, zone, disc_centre)
    return [width for k, width in measured.items() if k not in covered]


def _segment_width(mask, segment: Segment, zone, skip, distance, reach,
                   min_samples: int) -> SegmentWidth | None:
    coords = segment.coords
    pixels = coords.astype(int)
    d = distance[tuple(pixels.T)]
    use = zone[tuple(pixels.T)] & ~skip[tuple(pixels.T)]
    if not segment.closed:  # the ends' inscribed discs in view: a branch point or a tip
        for end in (0, -1):
            use &= np.hypot(*(coords - coords[end]).T) > d + d[end] + 1
    if np.count_nonzero(use) < min_samples:
        return None
    widths = profile_widths(mask, coords[use], segment_normals(coords)[use], reach)
    finite = widths[np.isfinite(widths)]
    if finite.size < min_samples:
        return None
    middle = coords[use][len(widths) // 2]
    return SegmentWidth(float(np.median(finite)), int(finite.size), float(middle[0]),
                        float(middle[1]))


def _branches_of_measured(segments: list[Segment], measured: dict, graph, zone,
                          centre) -> set[int]:
    """Segments leaving, outwards, a branch point in the zone whose inward segment is
    measured (or is itself such a branch): the trunk is measured, not its branches."""
    clusters = _branch_clusters(graph)
    radius = [float(np.hypot(*(s.coords - centre).T).mean()) for s in segments]
    at_cluster: dict[int, list[int]] = {}
    for k, segment in enumerate(segments):
        for end in segment.coords[[0, -1]].astype(int):
            label = int(clusters[tuple(end)])
            if label and zone[tuple(end)]:
                at_cluster.setdefault(label, []).append(k)
    covered: set[int] = set()
    for k in sorted(range(len(segments)), key=radius.__getitem__):  # trunks first
        for members in at_cluster.values():
            if k not in members:
                continue
            trunk = min(members, key=radius.__getitem__)
            if trunk != k and radius[k] > radius[trunk] and (trunk in measured
                                                             or trunk in covered):
                covered.add(k)
    return covered


def _branch_clusters(graph) -> np.ndarray:
    """Touching branch pixels (degree >= 3) labelled as one branch point each."""
    junction = np.zeros(graph.shape, dtype=bool)
    junction[tuple(graph.coords[graph.degree >= 3].T)] = True
    return ndimage.label(junction, structure=np.ones((3, 3)))[0]
