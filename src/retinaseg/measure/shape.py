"""Width, tortuosity and fractal dimension: the per-pixel and per-segment arithmetic.

Definitions (all in pixels; :mod:`retinaseg.measure` converts to mm):

* **Width** here (:func:`widths_px`; the working-scale calibre of
  :mod:`retinaseg.pipeline.caliber` uses it, and the measured width columns did until
  ``MEASURES_VERSION`` 2, which reads them on perpendicular profiles instead,
  :func:`retinaseg.measure.mask_widths.centreline_widths`)
  at a skeleton pixel is ``2 d``, with ``d`` the Euclidean distance
  transform of the vessel mask (distance to the nearest background pixel's
  centre), and no -1 or +1 correction. Across a band rasterised from a
  rectangle ``w`` pixels wide at 10 to 80 degrees, the nearest background
  centre lies about ``w / 2`` from the centre line, so ``2 d`` reads ``w``
  (tests/test_measure.py draws them; the mean is within half a pixel). Only
  bands along the lattice read more: along a row or column exactly ``w + 1``
  (the nearest background centre is half a pixel beyond the edge), along a
  diagonal ``w + 0.7`` to ``w + 1``. The -1 that would make those exact would
  make every other vessel a pixel too thin, and vessels run at every angle. Near end points
  and branch points the skeleton leaves the vessel's middle, so the mean reads
  a little low; ``d`` takes few values on thin vessels (1, 1.41, 2, 2.24, ...),
  so the median is coarse there.
* **Centre line.** A segment's pixel path is replaced by a cubic smoothing
  spline (``scipy.interpolate.splprep``, parametrised by 8-neighbour arc
  length) whose squared residuals may sum to ``m / 6`` over its ``m`` pixels:
  the variance of rounding a point to the pixel grid is 1/12 px^2 per
  coordinate. So the spline may ignore the staircase a digital line is drawn
  with, and no more. Without it, the raw 8-neighbour length of a straight
  line at 22.5 degrees is 8% longer than the line, and a shallow staircase has
  curvature at every step: both would read as tortuosity.
* **Arc over chord** of an open segment: the spline's length over the distance
  between its ends (Hart et al. 1999's distance tortuosity, the one AutoMorph
  reports).
* **Squared-curvature tortuosity** of a segment: ``(1/L) * integral of k(s)^2 ds``
  along the spline, ``k`` its curvature, ``L`` its length: Hart et al. 1999's
  total squared curvature, normalised by arc length (AutoMorph's
  ``squared_curvature_tortuosity`` cites the same paper). Units 1/px^2; a
  circular arc of radius R gives ``1/R^2``, a straight line 0.
  Hart, Goldbaum, Cote, Kube, Nelson, "Measurement and classification of
  retinal vascular tortuosity", Int J Med Inform 53(2):239-252, 1999.
* **Box-counting dimension** of the vessel mask inside the FOV's bounding box:
  ``N(s)``, the boxes of side ``s = 2, 4, 8, ...`` (up to a quarter of the
  box's shorter side) holding any vessel pixel; the dimension is the slope of
  ``log N`` against ``log 1/s`` (least squares). Size 1 is left out: at one
  pixel every set counts its own area, whatever its shape.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

# scipy.integrate's formula, without its import (0.08 s of every process); NumPy < 2 names it trapz
trapezoid = getattr(np, "trapezoid", None) or np.trapz

ROUNDING_VARIANCE_PX2 = 2 / 12  # of a point rounded to the grid: 1/12 per coordinate
SAMPLES_PER_PX = 4  # where the spline is evaluated, per pixel of arc
MIN_BOX_SIZES = 3  # fewer points than this is no slope


def widths_px(distance: np.ndarray, skeleton: np.ndarray) -> np.ndarray:
    """``2 d`` at every skeleton pixel (see the module docstring for why no correction)."""
    return 2.0 * distance[skeleton]


@dataclass(frozen=True)
class CentreLineShape:
    """Of one segment's smoothing spline: its length, chord and total squared curvature."""

    arc_px: float
    chord_px: float
    squared_curvature_integral: float  # integral of k^2 ds, 1/px

    @property
    def arc_over_chord(self) -> float:
        return self.arc_px / self.chord_px if self.chord_px > 0 else math.nan

    @property
    def squared_curvature_per_px2(self) -> float:
        return self.squared_curvature_integral / self.arc_px if self.arc_px > 0 else math.nan


def centre_line_shape(coords: np.ndarray) -> CentreLineShape | None:
    """Fit the smoothing spline to an open pixel path; None when it is too short to fit."""
    from scipy.interpolate import splev, splprep  # lazily: see retinaseg.cohort.worker.warm_imports

    if len(coords) <= 3:
        return None
    steps = np.linalg.norm(np.diff(coords, axis=0), axis=1)
    u = np.concatenate([[0.0], np.cumsum(steps)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # splprep warns where it stops short of s
            tck, _ = splprep(coords.T, u=u, s=len(coords) * ROUNDING_VARIANCE_PX2, k=3)
    except (ValueError, TypeError):
        return None
    t = np.linspace(0.0, u[-1], max(8, int(u[-1] * SAMPLES_PER_PX)))
    # The positions are needed at the two ends only (the chord); splev evaluates each
    # point on its own, so they are the same numbers as on the whole grid.
    (x, y), (x1, y1), (x2, y2) = (splev(t[[0, -1]], tck), splev(t, tck, der=1),
                                  splev(t, tck, der=2))
    speed = np.hypot(x1, y1)
    moving = speed > 1e-9
    kappa_sq = np.zeros_like(speed)
    kappa_sq[moving] = ((x1 * y2 - y1 * x2)[moving] / speed[moving] ** 3) ** 2
    chord = math.hypot(x[-1] - x[0], y[-1] - y[0])
    return CentreLineShape(float(trapezoid(speed, t)), float(chord),
                           float(trapezoid(kappa_sq * speed, t)))


def box_counting_dimension(mask: np.ndarray) -> float:
    """Slope of log N(s) against log 1/s over dyadic sizes; NaN for an empty mask."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return math.nan
    sizes, counts = dyadic_box_counts(mask)
    if len(sizes) < MIN_BOX_SIZES:
        return math.nan
    slope, _ = np.polyfit(np.log(1.0 / np.asarray(sizes)), np.log(counts), 1)
    return float(slope)


def dyadic_box_counts(mask: np.ndarray) -> tuple[list[int], list[int]]:
    """Occupied boxes of side 2, 4, ... up to a quarter of the shorter side.

    The mask is padded with background to a multiple of the largest box, so a
    partial box at the far edges counts when it holds a pixel; each size is
    the previous one's 2x2 blocks merged.
    """
    largest = max(2 ** int(math.floor(math.log2(max(min(mask.shape) // 4, 1)))), 1)
    height, width = (-(-n // largest) * largest for n in mask.shape)
    boxes = np.zeros((height, width), dtype=bool)
    boxes[:mask.shape[0], :mask.shape[1]] = mask
    sizes, counts, size = [], [], 1
    while size < largest:
        boxes = boxes.reshape(boxes.shape[0] // 2, 2, boxes.shape[1] // 2, 2).any(axis=(1, 3))
        size *= 2
        sizes.append(size)
        counts.append(int(np.count_nonzero(boxes)))
    return sizes, counts
