"""Vessel measurements from a binary vessel mask, inside the field of view.

``measure_vessels(mask, fov, mm_per_pixel)`` returns :class:`VesselMeasures`:

* vessel area fraction (vessel pixels over FOV pixels) and area;
* total skeleton length (``skimage.morphology.skeletonize``; 8-neighbour steps
  of 1 and sqrt 2, summed over the segments of :mod:`.graph`);
* mean and median vessel width over the centreline pixels, each across the vessel
  on a perpendicular profile of the mask, its edges placed between samples
  (:func:`.mask_widths.centreline_widths`, the profile the calibres use), at the
  pixels out of sight of a branch or an end point. So a band reads its own width at
  any angle, and the median is not held to the few values ``2 d`` of the distance
  transform takes on thin vessels (2, 2.83, 4, ...);
* box-counting fractal dimension of the mask in the FOV's bounding box;
* tortuosity of each open segment at least ``MIN_SEGMENT_PX`` long (arc over
  chord, and the mean squared curvature), aggregated per image as a
  length-weighted mean, so that the many short stubs near branch points do not
  outweigh the vessels;
* branch points, end points, segments, loops and 8-connected components.

Everything outside the FOV is background before anything is measured.
8-connected objects under ``min_object_px`` (by default the one speck rule,
:mod:`retinaseg.measure.specks`) are dropped first: a
model's mask often carries specks that a person never draws, and each one adds
a component and end points (the validation in benchmarks/ shows how many). Lengths,
widths and areas come in pixels and, where a pixel size is known, in mm; how
it was known is in ``scale_source`` / ``scale_note`` (see :mod:`.scale`).
Fields are named with their units (``_px``, ``_mm``, ``_px2``, ``_mm2``,
``_per_px2``, ``_per_mm2``); NaN (``None`` in :meth:`VesselMeasures.as_row`)
means undefined, e.g. a width with no vessel, or mm with no pixel size.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt
from skimage.measure import label

from ..errors import RetinasegError
from .graph import (
    Segment,
    branch_point_count,
    end_point_count,
    skeleton_graph,
    trace_segments,
)
from .mask_widths import centreline_widths
from .scale import DEFAULT_FOV_DEGREES, MM_PER_DEGREE, Scale, resolve_scale
from .shape import box_counting_dimension, centre_line_shape
from .specks import SPECK_PX, SPECK_REFERENCE_FOV_PX, speck_size  # noqa: F401 - the one rule

# The definitions of the measured columns, recorded in every row of a cohort table: raised
# whenever a column's definition changes, so that tables of two definitions are not mixed.
# 1: widths 2 d of the distance transform; 2: widths on perpendicular profiles.
MEASURES_VERSION = 2
MIN_SEGMENT_PX = 10.0  # shorter segments are mostly stubs; too few pixels for a curvature

__all__ = ["DEFAULT_FOV_DEGREES", "MEASURES_VERSION", "MIN_SEGMENT_PX", "MM_PER_DEGREE", "Scale", "Segment",
           "SegmentShape", "VesselMeasures", "measure_vessels", "resolve_scale",
           "segment_shapes"]


@dataclass(frozen=True)
class SegmentShape:
    """Length and tortuosity of one open segment (pixels)."""

    length_px: float
    arc_over_chord: float
    squared_curvature_per_px2: float


@dataclass(frozen=True)
class VesselMeasures:
    """One mask's measures; units in the field names. See the module docstring."""

    fov_area_px2: int
    vessel_area_px2: int
    vessel_area_fraction: float
    skeleton_length_px: float
    width_mean_px: float
    width_median_px: float
    fractal_dimension: float
    tortuosity_arc_chord: float
    tortuosity_sq_curvature_per_px2: float
    tortuosity_segments: int
    segments: int
    loops: int
    branch_points: int
    end_points: int
    components: int
    objects_dropped: int
    min_object_px: int
    mm_per_pixel: float
    scale_source: str
    scale_note: str
    vessel_area_mm2: float
    skeleton_length_mm: float
    width_mean_mm: float
    width_median_mm: float
    tortuosity_sq_curvature_per_mm2: float

    def as_row(self) -> dict:
        """A flat dict for a table: NaN becomes None (an empty cell, JSON null)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}


def measure_vessels(mask, fov=None, mm_per_pixel: float | None = None,
                    fov_degrees: float | None = None, min_object_px: int | None = None,
                    scale: Scale | None = None) -> VesselMeasures:
    """Measure one binary vessel mask inside its FOV (the whole image when ``fov`` is None).

    Args:
        mask, fov: 2-D arrays of one shape, bool or 0/1.
        mm_per_pixel: the pixel size on the retina, when known.
        fov_degrees: else assume the FOV's width spans this visual angle
            (``MM_PER_DEGREE`` mm per degree); ignored without a ``fov``.
        min_object_px: drop 8-connected objects of fewer pixels first; None (the
            default): the speck rule of :mod:`retinaseg.measure.specks`, as the results
            table does; 0: keep all (e.g. a manual annotation).
        scale: a pixel size already resolved (e.g. :func:`.scale.photo_scale`, which
            names its source); replaces ``mm_per_pixel`` and ``fov_degrees``.
    """
    mask, fov = _checked(mask, fov)
    if scale is None:
        scale = resolve_scale(fov if fov is not None else None, mm_per_pixel, fov_degrees)
    fov, min_object_px, vessels, dropped, _, graph, segments = _traced(mask, fov,
                                                                               min_object_px)
    widths = centreline_widths(vessels, segments, distance_transform_edt(vessels))
    arc_chord, curvature, used = _tortuosity(segment_shapes(segments))
    pixel = {
        "fov_area_px2": int(np.count_nonzero(fov)),
        "vessel_area_px2": int(np.count_nonzero(vessels)),
        "skeleton_length_px": float(sum(s.length_px for s in segments)),
        "width_mean_px": _mean(widths), "width_median_px": _median(widths),
        "tortuosity_sq_curvature_per_px2": curvature,
    }
    return VesselMeasures(
        **pixel, vessel_area_fraction=pixel["vessel_area_px2"] / pixel["fov_area_px2"],
        fractal_dimension=box_counting_dimension(vessels[_bounding_box(fov)]),
        tortuosity_arc_chord=arc_chord, tortuosity_segments=used, segments=len(segments),
        loops=sum(s.closed for s in segments), branch_points=branch_point_count(graph),
        end_points=end_point_count(graph), components=int(label(vessels, connectivity=2).max()),
        objects_dropped=dropped, min_object_px=int(min_object_px), **_in_mm(pixel, scale))


def shape_measures(mask, fov=None, min_object_px: int | None = None) -> dict[str, float]:
    """The three measures of a mask that need no width: ``vessel_area_fraction``,
    ``fractal_dimension`` and ``tortuosity_arc_chord``, the same numbers as
    :func:`measure_vessels` gives (tests/test_measure.py), for the artery and vein columns,
    which use no more: it skips the distance transform and the component count."""
    mask, fov = _checked(mask, fov)
    fov, _, vessels, _, _, _, segments = _traced(mask, fov, min_object_px)
    arc_chord, _, _ = _tortuosity(segment_shapes(segments))
    return {"vessel_area_fraction": np.count_nonzero(vessels) / np.count_nonzero(fov),
            "fractal_dimension": box_counting_dimension(vessels[_bounding_box(fov)]),
            "tortuosity_arc_chord": arc_chord}


def _traced(mask: np.ndarray, fov: np.ndarray | None, min_object_px: int | None):
    """The steps every measure starts from: the FOV (whole image without one), the speck
    size (the one rule by default), the mask without its specks, and its skeleton, graph
    and segments: ``(fov, min_object_px, vessels, dropped, skeleton, graph, segments)``."""
    from skimage.morphology import skeletonize  # lazily: see retinaseg.cohort.worker.warm_imports

    fov = np.ones(mask.shape, dtype=bool) if fov is None else fov
    if min_object_px is None:
        min_object_px = speck_size(fov)
    vessels, dropped = drop_small_objects(mask & fov, min_object_px)
    skeleton = skeletonize(vessels)
    graph = skeleton_graph(skeleton)
    return fov, min_object_px, vessels, dropped, skeleton, graph, trace_segments(graph)


def drop_small_objects(vessels: np.ndarray, min_object_px: int) -> tuple[np.ndarray, int]:
    """The mask without its 8-connected objects under ``min_object_px`` pixels,
    and how many objects went."""
    if min_object_px < 0:
        raise RetinasegError(f"min_object_px must be 0 or more, got {min_object_px}")
    if min_object_px <= 1:
        return vessels, 0
    labels = label(vessels, connectivity=2)
    sizes = np.bincount(labels.ravel())
    small = sizes < min_object_px
    small[0] = False  # the background
    return vessels & ~small[labels], int(np.count_nonzero(small))


def segment_shapes(segments: list[Segment], min_length_px: float = MIN_SEGMENT_PX):
    """Arc over chord and squared curvature of each open segment at least ``min_length_px`` long."""
    shapes = []
    for segment in segments:
        length = segment.length_px
        if segment.closed or length < min_length_px:
            continue
        line = centre_line_shape(segment.coords)
        if line is not None:
            shapes.append(SegmentShape(length, line.arc_over_chord,
                                       line.squared_curvature_per_px2))
    return shapes


def _tortuosity(shapes: list[SegmentShape]) -> tuple[float, float, int]:
    """Length-weighted means over the segments whose values are defined."""
    usable = [s for s in shapes if math.isfinite(s.arc_over_chord)
              and math.isfinite(s.squared_curvature_per_px2)]
    if not usable:
        return math.nan, math.nan, 0
    weights = np.array([s.length_px for s in usable])
    arc_chord = np.array([s.arc_over_chord for s in usable])
    curvature = np.array([s.squared_curvature_per_px2 for s in usable])
    return (float(np.average(arc_chord, weights=weights)),
            float(np.average(curvature, weights=weights)), len(usable))


def _in_mm(pixel: dict, scale: Scale) -> dict:
    """The mm fields of the pixel measures (NaN without a pixel size)."""
    mm = scale.mm_per_pixel if scale.mm_per_pixel is not None else math.nan
    return {
        "mm_per_pixel": mm, "scale_source": scale.source, "scale_note": scale.note,
        "vessel_area_mm2": pixel["vessel_area_px2"] * mm ** 2,
        "skeleton_length_mm": pixel["skeleton_length_px"] * mm,
        "width_mean_mm": pixel["width_mean_px"] * mm,
        "width_median_mm": pixel["width_median_px"] * mm,
        "tortuosity_sq_curvature_per_mm2": pixel["tortuosity_sq_curvature_per_px2"] / mm ** 2,
    }


def _checked(mask, fov) -> tuple[np.ndarray, np.ndarray | None]:
    mask = _binary("vessel mask", mask)
    if fov is None:
        return mask, None
    fov = _binary("FOV", fov)
    if fov.shape != mask.shape:
        raise RetinasegError(f"FOV is {fov.shape[1]}x{fov.shape[0]} but the vessel mask is "
                             f"{mask.shape[1]}x{mask.shape[0]}")
    if not fov.any():
        raise RetinasegError("the FOV is empty: nothing to measure in")
    return mask, fov


def _binary(name: str, array) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or 0 in array.shape:
        raise RetinasegError(f"{name} must be a non-empty 2-D array, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf" or not ((array == 0) | (array == 1)).all():
        raise RetinasegError(f"{name} must be binary (bool or 0/1), got dtype {array.dtype}; "
                             "threshold it first, e.g. mask > 127")
    return array.astype(bool)


def _bounding_box(fov: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(fov.any(axis=1)), np.flatnonzero(fov.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else math.nan
