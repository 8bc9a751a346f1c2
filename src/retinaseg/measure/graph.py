"""The vessel skeleton as a pixel graph, cut into segments between branch and end points.

A skeleton pixel's neighbours are its 8-neighbours on the skeleton, with one
exception: a diagonal step is dropped when one of the two pixels of the corner
it cuts is also on the skeleton. Without that, every staircase corner that
``skeletonize`` leaves (an L of three pixels) would be a triangle, and its
pixels would look like branch points. With it, a pixel's degree tells its role:

* degree 1: an end point; degree 0: an isolated pixel (a component, no length);
* degree 2: inside a segment;
* degree 3 or more: part of a branch point. Touching branch pixels form one
  branch point (8-connected clusters), and the steps between them belong to no
  segment.

Segments run from a node pixel (degree other than 2) through degree-2 pixels
to the next node pixel. A ring of degree-2 pixels with no node is a closed
segment (a loop). Each walk marks the pixels it passes, so no walk is longer
than the skeleton: the loops are bounded by the pixel count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from skimage.measure import label

# (row, col) steps to the 8 neighbours; index k and 7 - k are opposite steps.
STEPS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclass(frozen=True)
class SkeletonGraph:
    """Skeleton pixels (``coords``, row/col) and each one's kept neighbours (-1: none)."""

    coords: np.ndarray      # (n, 2) int
    neighbours: np.ndarray  # (n, 8) int, index into coords or -1
    shape: tuple[int, int]

    @property
    def degree(self) -> np.ndarray:
        return np.count_nonzero(self.neighbours >= 0, axis=1)


@dataclass(frozen=True)
class Segment:
    """One walk along the skeleton: pixel coordinates in order, and whether it closes on itself."""

    coords: np.ndarray  # (m, 2) float, row/col
    closed: bool

    @cached_property  # read by the total length, the tortuosity filter and its weights
    def length_px(self) -> float:
        """Sum of 8-neighbour steps: 1 along a row or column, sqrt(2) diagonally."""
        steps = np.abs(np.diff(self.coords, axis=0)).sum(axis=1)
        return float(np.count_nonzero(steps == 1) + math.sqrt(2) * np.count_nonzero(steps == 2))


def skeleton_graph(skeleton: np.ndarray) -> SkeletonGraph:
    """Index the skeleton's pixels and find each one's kept neighbours."""
    on = np.pad(np.asarray(skeleton, dtype=bool), 1)
    index = np.full(on.shape, -1, dtype=np.int64)
    rows, cols = np.nonzero(on)
    index[rows, cols] = np.arange(rows.size)
    neighbours = np.stack([index[rows + dr, cols + dc] for dr, dc in STEPS], axis=1)
    for k, (dr, dc) in enumerate(STEPS):
        if dr and dc:  # a diagonal: drop it where the corner it cuts is on the skeleton
            corner = on[rows + dr, cols] | on[rows, cols + dc]
            neighbours[corner, k] = -1
    coords = np.stack([rows - 1, cols - 1], axis=1)
    return SkeletonGraph(coords, neighbours, tuple(skeleton.shape))


def branch_point_count(graph: SkeletonGraph) -> int:
    """Clusters of touching pixels of degree >= 3, each one branch point."""
    junction = np.zeros(graph.shape, dtype=bool)
    rows, cols = graph.coords[graph.degree >= 3].T
    junction[rows, cols] = True
    return int(label(junction, connectivity=2).max())


def end_point_count(graph: SkeletonGraph) -> int:
    return int(np.count_nonzero(graph.degree == 1))


def trace_segments(graph: SkeletonGraph) -> list[Segment]:
    """Every segment between node pixels, then every closed ring of degree-2 pixels."""
    degree_array = graph.degree
    # The walks step pixel by pixel in Python: on plain lists, not numpy scalars (several
    # times faster), and for a degree-2 pixel only its two neighbours, the walk's whole need.
    degree = degree_array.tolist()
    ordered = np.sort(graph.neighbours, axis=1)  # -1s first: a degree-2 pixel's two come last
    ahead, behind = ordered[:, -1].tolist(), ordered[:, -2].tolist()
    passed = [False] * len(degree)  # degree-2 pixels already in a segment
    paths: list[tuple[list[int], bool]] = []
    node_pairs: set[tuple[int, int]] = set()
    for start in np.flatnonzero(degree_array != 2).tolist():
        for first in graph.neighbours[start].tolist():
            if first < 0 or (degree[first] == 2 and passed[first]):
                continue
            if degree[first] != 2:  # two nodes side by side: a one-step segment
                if _one_step_segment(start, first, degree, node_pairs):
                    paths.append(([start, first], False))
                continue
            paths.append((_walk(start, first, degree, (ahead, behind), passed), False))
    for start in np.flatnonzero(degree_array == 2).tolist():
        if not passed[start]:
            paths.append((_walk_ring(start, (ahead, behind), passed), True))
    return [Segment(graph.coords[path].astype(float), closed) for path, closed in paths]


def _one_step_segment(a: int, b: int, degree: np.ndarray, seen: set) -> bool:
    """A step between two nodes is a segment once, unless both are branch pixels
    (then it lies inside one branch point)."""
    pair = (min(a, b), max(a, b))
    if (degree[a] >= 3 and degree[b] >= 3) or pair in seen:
        return False
    seen.add(pair)
    return True


def _walk(start: int, first: int, degree: list, pair: tuple, passed: list) -> list[int]:
    """From node ``start`` through degree-2 pixels to the next node (maybe ``start``);
    ``pair``: each pixel's two neighbours (meaningful for degree-2 pixels)."""
    ahead, behind = pair
    path, previous, current = [start], start, first
    for _ in range(len(degree)):  # each step passes a new pixel: bounded by the skeleton
        if degree[current] != 2 or passed[current]:
            break
        passed[current] = True
        path.append(current)
        a, b = ahead[current], behind[current]
        previous, current = current, (b if a == previous else a)
    path.append(current)
    return path


def _walk_ring(start: int, pair: tuple, passed: list) -> list[int]:
    """Around a ring of degree-2 pixels back to ``start``; the path ends where it began."""
    ahead, behind = pair
    path, previous, current = [], -1, start
    for _ in range(len(passed)):
        if passed[current]:
            break
        passed[current] = True
        path.append(current)
        a, b = ahead[current], behind[current]
        previous, current = current, (b if a == previous else a)
    path.append(start)
    return path
