"""The optic disc of a photo, found without disc labels: centre, radius and a confidence.

The disc is the brightest large blob of the fundus and the place its large vessels
converge. :func:`find_disc` works at a fixed scale (the FOV resampled to
:data:`WORK_WIDTH_PX` wide), where the expected disc radius is
``R0 = FOV width / (2 * FOV_WIDTHS_PER_DISC)`` (a 45-degree photo is 5.5-7 disc
diameters wide; DRIVE's zone B discs measure 6.6). Two maps, each a z-score over the
FOV, both computed by normalised convolution so that the dark surround does not bleed in:

* **brightness**: the mean of the red and green channels smoothed at ``R0 / 2``
  minus its smoothing at ``4 R0`` (a difference of Gaussians tuned to the disc's size);
* **convergence**: the vessel mask weighted by its local width (the distance
  transform; the thick vessels leave through the disc) and smoothed at ``R0``.

The centre is the maximum of ``brightness + CONVERGENCE_WEIGHT * convergence``; the
weight was chosen on the 20 DRIVE training photos (benchmarks/disc.py). Without a vessel
mask the brightness alone is used (and the confidence says so). The radius starts at
``R0`` and is refined by the bright blob: the equivalent-circle radius of the pixels
near the centre above halfway between the blob's peak and its surround, kept within
:data:`RADIUS_RANGE` of ``R0``.

``confidence`` (0-1) is how far the winning score stands above the best score at least
three disc radii away, in the scores' own spread: a clear single blob scores near 1, two
equal candidates near 0. A disc is not given (``None``, with the reason) where the
centre lies less than one radius inside the FOV edge (a disc at or beyond the edge of
the photo, whose centre and size cannot be measured), or where nothing stands out
(confidence under :data:`MIN_CONFIDENCE`): no number is better than a wrong one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# The FOV's width at which the disc is sought: 256 px places it as well as 512 did on
# DRIVE's training photos (benchmarks/results/disc.md) at a quarter of the pixels.
WORK_WIDTH_PX = 256
FOV_WIDTHS_PER_DISC = 6.6  # FOV width over disc diameter, 45-degree photo (DRIVE zone B)
CONVERGENCE_WEIGHT = 1.0  # chosen on DRIVE training (benchmarks/results/disc.md)
RADIUS_RANGE = (0.75, 1.35)  # the refined radius, as a share of the expected one
MIN_CONFIDENCE = 0.05
EXCLUSION_RADII = 3.0  # the runner-up candidate lies at least this many radii away


@dataclass(frozen=True)
class Disc:
    """A disc found: centre ``(row, col)`` and radius in photo pixels, and a 0-1 confidence."""

    row: float
    col: float
    radius: float
    confidence: float
    method: str  # "brightness+convergence" or "brightness"


@dataclass(frozen=True)
class DiscResult:
    """:func:`find_disc`'s answer: a :class:`Disc`, or None and why."""

    disc: Disc | None
    reason: str = ""


def expected_radius(fov_width: float) -> float:
    """The disc radius a 45-degree photo whose FOV is ``fov_width`` px wide should show."""
    return fov_width / (2 * FOV_WIDTHS_PER_DISC)


def _normalised_blur(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    num = coarse_gaussian_blur(values * weight, sigma)
    den = coarse_gaussian_blur(weight.astype(float), sigma)
    return num / np.maximum(den, 1e-6)


COARSE_SIGMA_PX = 8.0  # a blur this wide or wider is computed on a map decimated to it
COARSE_MIN_SIDE_PX = 32  # ... but no smaller than this, or its edges' reflection shows


def coarse_gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """:func:`gaussian_blur` for a wide ``sigma``, on a map decimated by block means so
    that the blur there is about :data:`COARSE_SIGMA_PX` wide, then interpolated back.
    A blur that wide has no detail a decimation loses (tests/test_disc.py bounds the
    difference), and the disc's widest blur costs a small share of the exact one: the
    exact one pads the map by more than its own width each side."""
    factor = min(int(sigma // COARSE_SIGMA_PX), min(np.shape(values)) // COARSE_MIN_SIDE_PX)
    if factor < 2:
        return gaussian_blur(values, sigma)
    values = np.asarray(values, dtype=float)
    rows, cols = values.shape
    padded = np.pad(values, ((0, -rows % factor), (0, -cols % factor)), mode="symmetric")
    blocks = padded.reshape(padded.shape[0] // factor, factor,
                            padded.shape[1] // factor, factor).mean(axis=(1, 3))
    # the block mean and the linear interpolation back each smooth a little: take their
    # variance off the blur's, so that the whole is the asked-for width
    spent = (factor ** 2 - 1) / 12 + factor ** 2 / 6
    small_sigma = math.sqrt(max(sigma ** 2 - spent, 1.0)) / factor
    small = gaussian_blur(blocks, small_sigma)
    return _linear_upsample(_linear_upsample(small, factor, rows, 0), factor, cols, 1)


def _linear_upsample(values: np.ndarray, factor: int, length: int, axis: int) -> np.ndarray:
    """``values`` of blocks ``factor`` wide along ``axis``, interpolated linearly back to
    ``length`` pixels (block centres to pixel centres; the ends held). Two gathers and a
    weighted sum: ndimage.zoom did the same several times slower."""
    where = (np.arange(length) + 0.5) / factor - 0.5
    low = np.clip(np.floor(where).astype(int), 0, values.shape[axis] - 1)
    high = np.minimum(low + 1, values.shape[axis] - 1)
    weight = np.clip(where - low, 0.0, 1.0)
    shape = [1, 1]
    shape[axis] = length
    weight = weight.reshape(shape)
    return (np.take(values, low, axis=axis) * (1 - weight)
            + np.take(values, high, axis=axis) * weight)


def gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """``ndimage.gaussian_filter(values, sigma)`` (mode reflect, truncated at 4 sigma), the
    same numbers to rounding (tests/test_disc.py), by FFT along each axis. The disc's
    widest blur had a kernel of 1241 taps on a 512 px map: direct, it took longer than
    the network; by FFT its cost no longer grows with sigma."""
    from scipy import fft

    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = np.asarray(values, dtype=float)
    for axis in (0, 1):
        widths = [(0, 0), (0, 0)]
        widths[axis] = (radius, radius)
        padded = np.pad(out, widths, mode="symmetric")  # numpy's symmetric is scipy's reflect
        length = fft.next_fast_len(padded.shape[axis] + taps.size - 1, real=True)
        shape = [1, 1]
        shape[axis] = taps.size
        spectrum = (fft.rfft(padded, length, axis=axis)
                    * fft.rfft(taps.reshape(shape), length, axis=axis))
        full = fft.irfft(spectrum, length, axis=axis)
        out = np.take(full, np.arange(2 * radius, 2 * radius + out.shape[axis]), axis=axis)
    return out


def _zscore(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    sd = values[inside].std()
    return (values - values[inside].mean()) / (sd if sd > 0 else 1.0)


def _fov_width(fov: np.ndarray) -> int:
    columns = np.flatnonzero(fov.any(axis=0))
    return int(columns[-1] - columns[0] + 1) if columns.size else 0


def disc_scores(image: np.ndarray, fov: np.ndarray, vessels: np.ndarray | None = None,
                convergence_weight: float = CONVERGENCE_WEIGHT):
    """The working-scale maps: ``(score, brightness, fov, factor, r0)`` where ``factor``
    is working over photo pixels and ``r0`` the expected radius at working scale."""
    factor = WORK_WIDTH_PX / max(_fov_width(fov), 1)
    rgb = image[..., :3].astype(float)
    plane = (rgb[..., 0] + rgb[..., 1]) / 2
    small = ndimage.zoom(plane, factor, order=1)
    small_fov = ndimage.zoom(fov.astype(np.uint8), factor, order=0).astype(bool)
    small_fov = small_fov[:small.shape[0], :small.shape[1]]
    small = small[:small_fov.shape[0], :small_fov.shape[1]]
    r0 = expected_radius(WORK_WIDTH_PX)
    weight = small_fov.astype(float)
    brightness = (_normalised_blur(small, weight, r0 / 2)
                  - _normalised_blur(small, weight, 4 * r0))
    inside = ndimage.binary_erosion(small_fov, iterations=2) if small_fov.sum() > 100 else small_fov
    score = _zscore(brightness, inside)
    if vessels is not None:
        thick = ndimage.distance_transform_edt(vessels & fov)
        small_thick = ndimage.zoom(thick, factor, order=1)[:small.shape[0], :small.shape[1]]
        convergence = _normalised_blur(small_thick, weight, r0)
        score = score + convergence_weight * _zscore(convergence, inside)
    score = np.where(inside, score, -np.inf)
    return score, brightness, small_fov, factor, r0


def find_disc(image: np.ndarray, fov: np.ndarray, vessels: np.ndarray | None = None,
              convergence_weight: float = CONVERGENCE_WEIGHT) -> DiscResult:
    """The optic disc of an RGB photo inside its FOV (see the module docstring)."""
    fov = np.asarray(fov, dtype=bool)
    if _fov_width(fov) < 64:
        return DiscResult(None, "FOV too small to find a disc in")
    score, brightness, small_fov, factor, r0 = disc_scores(image, fov, vessels,
                                                           convergence_weight)
    if not np.isfinite(score).any():
        return DiscResult(None, "FOV too small to find a disc in")
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    radius = _refined_radius(brightness, small_fov, row, col, r0)
    confidence = _confidence(score, row, col, radius)
    edge = _distance_to_outside(small_fov, row, col)
    method = "brightness+convergence" if vessels is not None else "brightness"
    if edge < radius:
        return DiscResult(None, f"disc at the FOV edge (centre {edge / factor:.0f} px "
                                f"inside it, radius {radius / factor:.0f} px)")
    if confidence < MIN_CONFIDENCE:
        return DiscResult(None, f"no disc stands out (confidence {confidence:.2f})")
    return DiscResult(Disc(float((row + 0.5) / factor - 0.5), float((col + 0.5) / factor - 0.5),
                           float(radius / factor), round(float(confidence), 4), method))


def _distance_to_outside(fov: np.ndarray, row: int, col: int) -> float:
    """How far ``(row, col)`` lies from the nearest pixel outside ``fov`` or the map (the
    distance transform's value there, for the one pixel that is asked about)."""
    outside = np.argwhere(~np.pad(fov, 1)) - 1
    return float(np.sqrt(((outside - (row, col)) ** 2).sum(axis=1).min()))


def _refined_radius(brightness: np.ndarray, fov: np.ndarray, row: int, col: int,
                    r0: float) -> float:
    """The equivalent-circle radius of the bright blob at ``(row, col)``, within bounds."""
    reach = int(math.ceil(2 * r0))
    r_lo, c_lo = max(row - reach, 0), max(col - reach, 0)
    window = brightness[r_lo:row + reach + 1, c_lo:col + reach + 1]
    inside = fov[r_lo:row + reach + 1, c_lo:col + reach + 1]
    rr, cc = np.ogrid[r_lo:r_lo + window.shape[0], c_lo:c_lo + window.shape[1]]
    near = np.hypot(rr - row, cc - col) <= 1.5 * r0
    ring = inside & ~near
    if not ring.any() or not (inside & near).any():
        return r0
    peak, surround = float(window[inside & near].max()), float(np.median(window[ring]))
    blob = ndimage.label((window >= (peak + surround) / 2) & inside)[0]
    at = blob[row - r_lo, col - c_lo]
    if at == 0:
        return r0
    radius = math.sqrt(np.count_nonzero((blob == at) & near) / math.pi)
    return float(np.clip(radius, RADIUS_RANGE[0] * r0, RADIUS_RANGE[1] * r0))


def _confidence(score: np.ndarray, row: int, col: int, radius: float) -> float:
    """Winner over runner-up (>= EXCLUSION_RADII radii away), in the scores' spread, in 0-1."""
    finite = np.isfinite(score)
    rr, cc = np.ogrid[:score.shape[0], :score.shape[1]]
    far = finite & (np.hypot(rr - row, cc - col) >= EXCLUSION_RADII * radius)
    if not far.any():
        return 1.0
    spread = float(score[finite].std()) or 1.0
    margin = (float(score[row, col]) - float(score[far].max())) / spread
    return float(np.clip(margin / 2.0, 0.0, 1.0))
