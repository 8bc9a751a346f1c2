"""A quality verdict per photo: ``good``, ``usable`` or ``reject``, with its reasons.

The verdict is read off simple measured signals, each with two thresholds
(good -> usable -> reject), all chosen on the training photos of DRIVE,
CHASE_DB1 and HRF and on graded degradations of them, and checked on the test
photos: ``benchmarks/quality_verdict.py``, result in
``benchmarks/results/quality_verdict.md`` (which also says how each was chosen).
A photo the fundus gate refuses (:mod:`retinaseg.quality.gate`) is ``reject``
with the gate's reason. The grade is the worst over the signals; every signal
that is not good gives one reason, ``code: phrase``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .gate import QualitySignals, gate_failure, measure_quality
from .signals import measure_fov_cut_off, measure_sharpness

GOOD, USABLE, REJECT = "good", "usable", "reject"
GRADES = (GOOD, USABLE, REJECT)  # best first
# A pixel is uncertain when its probability lies halfway or less from the threshold
# to either end (0.25-0.75 for a threshold of 0.5): neither clearly vessel nor background.
UNCERTAIN_BAND = 0.5


@dataclass(frozen=True)
class Limit:
    """Two thresholds on one signal: at or better than ``good`` is good, at or
    better than ``usable`` is usable, worse is reject."""

    signal: str
    code: str  # the reason a photo gets when this signal is not good
    good: float
    usable: float
    higher_is_better: bool
    what: str  # the phrase before the value, e.g. "sharpness"

    def grade(self, value: float) -> str:
        sign = 1.0 if self.higher_is_better else -1.0
        if sign * value >= sign * self.good:
            return GOOD
        return USABLE if sign * value >= sign * self.usable else REJECT

    def phrase(self, value: float, grade: str) -> str:
        bound, side = (self.good, "good") if grade == USABLE else (self.usable, "usable")
        compare = "<" if self.higher_is_better else ">"
        return f"{self.code}: {self.what} {value:.3g} ({compare} {bound:.3g} for {side})"


# --- the thresholds: every value is in benchmarks/results/quality_verdict.md, where the
# benchmark chose it (the midpoint of the gap between the photos that should pass and
# those that should not, or the fewest misgraded photos where they overlap) -------------

# sharpness (fine/mid band energy, data.focus.measure_sharpness): real training photos >= 0.35
SHARPNESS_GOOD, SHARPNESS_USABLE = 0.344, 0.148
# 95th percentile luminance in the FOV (0-255): real training photos >= 93
BRIGHT_LEVEL_GOOD, BRIGHT_LEVEL_USABLE = 67.5, 45.5
# share of the FOV clipped white (>= 250/255): real training photos <= 0.00001
CLIPPED_SHARE_GOOD, CLIPPED_SHARE_USABLE = 1.05e-05, 0.00359
# share of the fitted FOV circle outside the frame: HRF's camera mask cuts 0.175 off
FOV_CUT_OFF_GOOD, FOV_CUT_OFF_USABLE = 0.297, 0.441
# fine detail / broad shading (data.quality): real training photos <= 0.27
NOISE_RATIO_GOOD, NOISE_RATIO_USABLE = 0.239, 0.408
# share of FOV pixels the model leaves uncertain: 1.25x and 2x the worst real training photo
# (the benchmark says why not from degradations); this pair is for the `general` model
UNCERTAIN_FRACTION_GOOD, UNCERTAIN_FRACTION_USABLE = 0.103, 0.165

LIMITS: tuple[Limit, ...] = (
    Limit("sharpness", "out_of_focus", SHARPNESS_GOOD, SHARPNESS_USABLE, True, "sharpness"),
    Limit("bright_level", "under_exposed", BRIGHT_LEVEL_GOOD, BRIGHT_LEVEL_USABLE, True,
          "95th percentile brightness"),
    Limit("clipped_share", "over_exposed", CLIPPED_SHARE_GOOD, CLIPPED_SHARE_USABLE, False,
          "share clipped white"),
    Limit("fov_cut_off", "fov_cut_off", FOV_CUT_OFF_GOOD, FOV_CUT_OFF_USABLE, False,
          "share of the fundus circle outside the frame"),
    Limit("noise_ratio", "noisy", NOISE_RATIO_GOOD, NOISE_RATIO_USABLE, False, "noise ratio"),
    Limit("uncertain_fraction", "low_confidence", UNCERTAIN_FRACTION_GOOD,
          UNCERTAIN_FRACTION_USABLE, False, "share of uncertain vessel probabilities"),
)
# What cannot be measured: the photo is usable at best, and says why.
UNMEASURED = {"sharpness": "out_of_focus: the field of view is too small to measure sharpness",
              "fov_cut_off": "fov_cut_off: no edge of the field of view is in the frame, so "
                             "how much of it is cut off is unknown"}


@dataclass(frozen=True)
class Verdict:
    grade: str  # good, usable or reject
    reasons: tuple[str, ...]  # "code: phrase", worst first; empty when good

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.split(":", 1)[0] for reason in self.reasons)


def verdict_signals(quality: QualitySignals, sharpness: float, fov_cut_off: float,
                    uncertain_fraction: float | None = None) -> dict:
    """The flat ``{signal: value}`` the verdict reads; ``uncertain_fraction`` None
    when no model has seen the photo (the confidence limit is then skipped)."""
    return {**quality.as_dict(), "sharpness": sharpness, "fov_cut_off": fov_cut_off,
            "uncertain_fraction": uncertain_fraction}


def measure_signals(image: np.ndarray, fov: np.ndarray, prob: np.ndarray | None = None,
                    threshold: float = 0.5, quality: QualitySignals | None = None) -> dict:
    """Every signal of one photo (and of the model's probabilities, when given);
    ``quality``: the gate's signals of the same photo and FOV, when already measured."""
    uncertain = None if prob is None else uncertain_fraction(prob, fov, threshold)
    if quality is None:
        quality = measure_quality(image, fov)
    return verdict_signals(quality, measure_sharpness(image, fov),
                           measure_fov_cut_off(fov), uncertain)


def uncertain_fraction(prob: np.ndarray, fov: np.ndarray, threshold: float = 0.5) -> float:
    """Share of FOV pixels whose probability is in the uncertain band around ``threshold``.

    A blurred, dark or non-fundus photo leaves many pixels there; a sharp one
    puts almost all near 0 or 1.
    """
    low, high = threshold * (1 - UNCERTAIN_BAND), threshold + (1 - threshold) * UNCERTAIN_BAND
    inside = prob[fov]
    uncertain = np.count_nonzero((inside >= low) & (inside <= high))
    return uncertain / max(inside.size, 1)


def grade_photo(signals: dict, limits: tuple[Limit, ...] = LIMITS) -> Verdict:
    """The verdict on one photo's signals (:func:`measure_signals`)."""
    failure = gate_failure(QualitySignals(**{k: signals[k] for k in _GATE_FIELDS}))
    if failure:
        return Verdict(REJECT, (f"{failure[0]}: {failure[1]}",))
    graded = [_grade_one(limit, signals.get(limit.signal)) for limit in limits]
    graded = sorted((g for g in graded if g[0] != GOOD), key=lambda g: -GRADES.index(g[0]))
    grade = graded[0][0] if graded else GOOD
    return Verdict(grade, tuple(reason for _, reason in graded))


def gate_verdict(code: str, problem: str) -> Verdict:
    """The verdict on a photo the fundus gate refused."""
    return Verdict(REJECT, (f"{code}: {problem}",))


def _grade_one(limit: Limit, value) -> tuple[str, str]:
    if value is None:
        return GOOD, ""  # not measured here (no model): nothing to say
    if isinstance(value, float) and math.isnan(value):
        return USABLE, UNMEASURED.get(limit.signal, f"{limit.code}: not measurable")
    grade = limit.grade(value)
    return grade, limit.phrase(value, grade)


_GATE_FIELDS = tuple(QualitySignals.__dataclass_fields__)
