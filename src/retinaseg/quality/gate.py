"""Is there a usable fundus in this photo? Simple measured signals and a gate.

``retinaseg segment`` refuses a photo in which no fundus can be seen (blank,
uniform, noise, or over- or under-exposed beyond use) instead of segmenting
garbage: it is reported as failed with the reason. The signals are exposed as
:class:`QualitySignals` so that cohort-level verdicts can be built on them.

Every threshold below sits far outside the range measured on the 113 real
photographs of DRIVE, CHASE_DB1 and HRF and the scikit-image sample, and far
inside the range of generated bad photos: ``benchmarks/quality_signals.py``
(result in ``benchmarks/results/quality_signals.md``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import RetinasegError
from ..data.geometry import MIN_FOV_SIZE

# Signals are measured on a copy whose longer side is 512-1023 px, like the FOV estimate.
WORK_SIZE = 512
# Luminance (0-255) at or above which a pixel counts as clipped white.
CLIPPED_LEVEL = 250
# Fine detail: the green channel minus its 5 px mean; broad structure: the spread
# of its 31 px mean (optic disc, vignetting, the fundus' own shading).
FINE_WINDOW, BROAD_WINDOW = 5, 31

# The gate. Real photos measured: FOV share >= 0.65, 95th percentile >= 93,
# median <= 151, clipped share <= 0.00001, range >= 31, noise ratio <= 0.27.
MIN_FOV_FRACTION = 0.10
MIN_BRIGHT_LEVEL = 30.0      # 95th percentile luminance inside the FOV
MAX_MEDIAN_LEVEL = 220.0
MAX_CLIPPED_SHARE = 0.50
MIN_DYNAMIC_RANGE = 10.0     # 95th - 5th percentile luminance inside the FOV
MAX_NOISE_RATIO = 1.0        # fine detail / broad structure


@dataclass(frozen=True)
class QualitySignals:
    """What the gate looks at; luminance levels are ITU-R 601 luma, 0-255, inside the FOV."""

    fov_fraction: float      # share of the image inside the FOV
    fov_width: int           # FOV bounding box, pixels at native resolution
    fov_height: int
    dark_level: float        # 5th percentile luminance
    median_level: float
    bright_level: float      # 95th percentile luminance
    clipped_share: float     # share of FOV pixels at >= CLIPPED_LEVEL
    noise_ratio: float       # fine detail / broad structure (high: noise, not a fundus)

    @property
    def dynamic_range(self) -> float:
        return self.bright_level - self.dark_level

    def as_dict(self) -> dict:
        return {**asdict(self), "dynamic_range": self.dynamic_range}


def measure_quality(image: np.ndarray, fov: np.ndarray) -> QualitySignals:
    """The signals of an ``(H, W, 3)`` uint8 photo and its (estimated) FOV."""
    rows, columns = np.flatnonzero(fov.any(axis=1)), np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        return QualitySignals(0.0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    small, small_fov = _reduced(image, fov)
    luma = small.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    inside = luma[small_fov]
    dark, median, bright = (float(v) for v in np.percentile(inside, [5, 50, 95]))
    return QualitySignals(
        fov_fraction=float(np.count_nonzero(fov) / fov.size),
        fov_width=int(columns[-1] - columns[0] + 1), fov_height=int(rows[-1] - rows[0] + 1),
        dark_level=dark, median_level=median, bright_level=bright,
        clipped_share=float(np.count_nonzero(inside >= CLIPPED_LEVEL) / inside.size),
        noise_ratio=_noise_ratio(small[..., 1].astype(np.float32), small_fov))


def _reduced(image: np.ndarray, fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box-reduced copies; a reduced pixel is FOV when most of its box is (any
    of it, for a FOV thinner than one box)."""
    factor = max(1, max(image.shape[:2]) // WORK_SIZE)
    if factor == 1:
        return image, fov
    small = np.asarray(Image.fromarray(image).reduce(factor))
    share = np.asarray(Image.fromarray(fov.astype(np.uint8) * 255).reduce(factor))
    small_fov = share > 127
    return small, small_fov if small_fov.any() else share > 0


def _noise_ratio(green: np.ndarray, fov: np.ndarray) -> float:
    fine = float(np.abs(green - ndimage.uniform_filter(green, FINE_WINDOW))[fov].mean())
    broad = float(np.std(ndimage.uniform_filter(green, BROAD_WINDOW)[fov]))
    if fine == 0.0:
        return 0.0
    return fine / broad if broad > 0 else float("inf")


# The machine-readable code of each gate failure, as the verdict reports it.
NO_FUNDUS, UNDER_EXPOSED, OVER_EXPOSED = "no_fundus", "under_exposed", "over_exposed"


class NoFundusError(RetinasegError):
    """The gate refused a photo; ``code`` says why in one word, ``signals`` what it measured."""

    def __init__(self, code: str, problem: str, signals: QualitySignals):
        super().__init__(f"no usable fundus: {problem}")
        self.code, self.problem, self.signals = code, problem, signals

    def __reduce__(self):  # rebuilt from its fields when it crosses to another process
        return type(self), (self.code, self.problem, self.signals)


def gate_failure(signals: QualitySignals) -> tuple[str, str] | None:
    """``(code, why)`` when no usable fundus is seen in a photo with these signals, else None."""
    s = signals
    checks = [
        (s.fov_width == 0, NO_FUNDUS, "no field of view found"),
        (min(s.fov_width, s.fov_height) < MIN_FOV_SIZE or s.fov_fraction < MIN_FOV_FRACTION,
         NO_FUNDUS, f"no fundus found: the field of view is {s.fov_width}x{s.fov_height} px, "
                    f"{100 * s.fov_fraction:.1f}% of the image"),
        (s.bright_level < MIN_BRIGHT_LEVEL, UNDER_EXPOSED,
         f"under-exposed: 95% of the field of view is darker than {s.bright_level:.0f}/255 "
         f"(at least {MIN_BRIGHT_LEVEL:.0f} needed)"),
        (s.median_level > MAX_MEDIAN_LEVEL or s.clipped_share > MAX_CLIPPED_SHARE,
         OVER_EXPOSED, f"over-exposed: median brightness {s.median_level:.0f}/255, "
                       f"{100 * s.clipped_share:.0f}% of the field of view clipped white"),
        (s.dynamic_range < MIN_DYNAMIC_RANGE, NO_FUNDUS,
         f"uniform: brightness varies by only {s.dynamic_range:.0f}/255 over the field of view"),
        (s.noise_ratio > MAX_NOISE_RATIO, NO_FUNDUS,
         f"no fundus structure: fine detail is {s.noise_ratio:.1f}x the broad shading "
         "(noise, not a photograph)"),
    ]
    return next(((code, why) for failed, code, why in checks if failed), None)


def quality_problem(signals: QualitySignals) -> str | None:
    """Why no usable fundus is seen in a photo with these signals, or None."""
    failure = gate_failure(signals)
    return failure[1] if failure else None


def check_fundus(image: np.ndarray, fov: np.ndarray) -> QualitySignals:
    """The photo's signals; :class:`NoFundusError` saying why when no usable fundus is seen."""
    signals = measure_quality(image, fov)
    failure = gate_failure(signals)
    if failure:
        raise NoFundusError(*failure, signals)
    return signals
