"""Two more measured signals of a photo: how sharp it is, and how much of the fundus the frame cuts off.

Both are measured relative to the field of view, not to pixels, so that the
same camera blur or the same crop gives the same number on a 565 px DRIVE
photo and on a 3504 px HRF one: the sharpness on a copy whose FOV is
:data:`FOCUS_FOV_WIDTH` px wide, the cut-off as a share of the fitted FOV circle.
The thresholds the verdict puts on them are in :mod:`retinaseg.quality.verdict`.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

# Sharpness is measured with the FOV resampled to this width: vessel calibres
# scale with the fundus, so a fixed FOV width makes "sharp" mean the same at any
# resolution (a FOV under this width is enlarged and reads as soft: it has less detail).
FOCUS_FOV_WIDTH = 512
# Two bands of the green channel, as differences of Gaussian blurs (sigmas in
# working pixels): fine detail (1-2 px: thin vessels, vessel edges) over the mid
# band (2-8 px: the larger vessels, the disc). Their ratio does not depend on
# exposure or contrast; a blur empties the fine band first. (The band above 1 px
# is left out: 8-bit rounding and JPEG noise stay there however blurred a photo is.)
FINE_SIGMAS, MID_SIGMAS = (1.0, 2.0), (2.0, 8.0)
# The FOV rim is a strong edge; keep three of the widest sigma away from it.
RIM_MARGIN = 24
# The FOV circle is fitted on a copy whose longer side is 512-1023 px.
CIRCLE_WORK_SIZE = 512
# A rim shorter than this (pixels on the reduced copy) fits no circle reliably.
MIN_RIM_PIXELS = 40


def measure_sharpness(image: np.ndarray, fov: np.ndarray) -> float:
    """Fine-band over mid-band energy (standard deviations) of the green channel in the FOV.

    About 0.35-0.55 on the public photos; a defocused photo falls towards 0.1
    (``benchmarks/results/quality_verdict.md``). NaN when the FOV is too small to
    leave an interior after the rim margin.
    """
    green, inside = _green_at_focus_scale(image, fov)
    if np.count_nonzero(inside) < 100:
        return float("nan")
    blurred = {s: ndimage.gaussian_filter(green, s) for s in {*FINE_SIGMAS, *MID_SIGMAS}}
    fine = float(np.std((blurred[FINE_SIGMAS[0]] - blurred[FINE_SIGMAS[1]])[inside]))
    mid = float(np.std((blurred[MID_SIGMAS[0]] - blurred[MID_SIGMAS[1]])[inside]))
    return fine / mid if mid > 0 else 0.0


def _green_at_focus_scale(image: np.ndarray, fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    columns = np.flatnonzero(fov.any(axis=0))
    if columns.size == 0:
        return np.zeros((1, 1), np.float32), np.zeros((1, 1), bool)
    scale = FOCUS_FOV_WIDTH / (columns[-1] - columns[0] + 1)
    height, width = fov.shape
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    green = Image.fromarray(np.ascontiguousarray(image[..., 1]))
    green = np.asarray(green.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    small_fov = np.asarray(Image.fromarray(fov).resize(size, Image.Resampling.NEAREST))
    # border_value=1: a FOV cut by the frame keeps its interior up to the frame
    inside = ndimage.binary_erosion(small_fov.astype(bool), iterations=RIM_MARGIN,
                                    border_value=1)
    return green, inside


def fov_circle(fov: np.ndarray) -> tuple[float, float, float] | None:
    """``(row, column, radius)`` of the circle fitted to the FOV rim inside the frame,
    in pixels of ``fov``; None when too little rim is visible to fit one."""
    factor = max(1, max(fov.shape) // CIRCLE_WORK_SIZE)
    small = fov[::factor, ::factor]
    rim = small & ~ndimage.binary_erosion(small, border_value=1)
    rim[[0, -1], :] = rim[:, [0, -1]] = False  # the frame's edge is not the FOV's
    rows, columns = np.nonzero(rim)
    if rows.size < MIN_RIM_PIXELS:
        return None
    # Kasa fit: x^2 + y^2 + D x + E y + F = 0, linear least squares
    design = np.column_stack([columns, rows, np.ones(rows.size)]).astype(np.float64)
    target = -(columns.astype(np.float64) ** 2 + rows.astype(np.float64) ** 2)
    (d, e, f), *_ = np.linalg.lstsq(design, target, rcond=None)
    centre_col, centre_row = -d / 2, -e / 2
    radius_sq = centre_col ** 2 + centre_row ** 2 - f
    if radius_sq <= 0:
        return None
    return centre_row * factor, centre_col * factor, float(np.sqrt(radius_sq)) * factor


def circle_outside_share(circle: tuple[float, float, float], shape: tuple[int, int]) -> float:
    """Share of the circle's area that lies outside a frame of ``shape`` (rows, columns)."""
    row, column, radius = circle
    step = max(radius / 200.0, 1e-6)  # a 400x400 grid over the circle's square
    offsets = np.arange(-radius + step / 2, radius, step)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    in_circle = dy ** 2 + dx ** 2 <= radius ** 2
    y, x = row + dy[in_circle], column + dx[in_circle]
    in_frame = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
    return float(1.0 - np.count_nonzero(in_frame) / max(in_circle.sum(), 1))


def measure_fov_cut_off(fov: np.ndarray) -> float:
    """Share of the fundus circle outside the frame (0: the whole circle is in the
    photo); NaN when no circle can be fitted (no FOV rim inside the frame)."""
    circle = fov_circle(fov)
    return float("nan") if circle is None else circle_outside_share(circle, fov.shape)
