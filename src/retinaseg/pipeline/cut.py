"""Where a probability map is cut into a vessel mask: one threshold, or one per photo.

A threshold chosen on validation images fits the cameras those images came from.
On a camera the model never saw its probabilities come out lower or higher
overall, and the best cut moves with them (benchmarks/results/threshold_rule.md:
on the leave-one-dataset-out runs, 0.22 on unseen DRIVE and 0.35 on unseen
CHASE_DB1 against validated 0.48 and 0.69). Two rules are offered:

* a fixed threshold (a number, or the model's own validated one);
* ``otsu``: each photo cut at the Otsu threshold of its own FOV probabilities,
  the valley between the background and vessel modes, which follows such a shift.

Every entry point (``retinaseg segment``/``evaluate``/cohorts, :func:`retinaseg.segment`)
resolves the cut here, so a photo is cut the same way wherever it is scored.
"""
from __future__ import annotations

import numpy as np

from ..errors import RetinasegError

OTSU = "otsu"
FIXED = "fixed"
RULES = (FIXED, OTSU)

# A photo with no vessel has no second mode: its Otsu cut can fall into the
# background's noise and mark half the FOV as vessel. The cut is kept inside
# this band, which holds every best cut measured on an unseen camera (0.22-0.63,
# benchmarks/results/threshold_rule.md) and every Otsu cut of a photo with vessels.
OTSU_BOUNDS = (0.2, 0.8)


def parse_threshold(value) -> float | str | None:
    """A threshold as a user gives it: None (the model's own), ``"otsu"``, or a
    number in (0, 1] (a string of one too, as the command line gives it)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == OTSU:
        return OTSU
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RetinasegError(f"threshold must be a number in (0, 1] or {OTSU!r}, "
                             f"not {value!r}") from None
    if not 0.0 < number <= 1.0:
        raise RetinasegError(f"threshold must be in (0, 1] or {OTSU!r}, not {number}")
    return number


def rule_of(threshold, meta) -> str | float:
    """The rule a photo is cut by: ``threshold`` when given, else the model's own
    (``"otsu"`` where its meta says so, else its validated threshold)."""
    parsed = parse_threshold(threshold)
    if parsed is not None:
        return parsed
    return OTSU if meta.threshold_rule == OTSU else float(meta.threshold)


def rule_kind(rule) -> str:
    """``otsu`` or ``fixed``: the kind of a rule from :func:`rule_of`."""
    return OTSU if rule == OTSU else FIXED


def describe_rule(rule) -> str:
    """How a table or a file names the rule: the number, or ``otsu``."""
    return OTSU if rule == OTSU else f"{float(rule):.4f}"


def otsu_cut(prob: np.ndarray, fov: np.ndarray, fallback: float) -> float:
    """The Otsu threshold of the FOV probabilities (scikit-image's, 256 bins),
    inside :data:`OTSU_BOUNDS`; ``fallback`` where the FOV is empty or its
    probabilities all alike (no valley to find)."""
    from skimage.filters import threshold_otsu  # scikit-image's import is slow: only when used

    values = np.asarray(prob, dtype=np.float32)[np.asarray(fov, dtype=bool)]
    if values.size == 0 or not values.max() > values.min():
        return float(fallback)
    low, high = OTSU_BOUNDS
    return float(min(max(threshold_otsu(values), low), high))


def image_cut(rule, prob: np.ndarray, fov: np.ndarray, fallback: float) -> float:
    """The threshold one photo is cut at under ``rule`` (from :func:`rule_of`)."""
    return otsu_cut(prob, fov, fallback) if rule == OTSU else float(rule)


def model_cut(meta, prob: np.ndarray, fov: np.ndarray) -> float:
    """The threshold a model cuts this photo at by default (its own rule)."""
    return image_cut(rule_of(None, meta), prob, fov, meta.threshold)
