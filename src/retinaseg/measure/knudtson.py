"""The revised Knudtson formulas: a summary calibre from the six widest vessels of a kind.

Knudtson, Lee, Hubbard, Wong, Klein, Klein, "Revised formulas for summarizing retinal
vessel diameters", Curr Eye Res 27(3):143-149, 2003. From the widths of the six widest
arterioles (or venules) crossing the zone:

1. sort them; pair the widest with the narrowest, the second widest with the second
   narrowest, and so on, and replace each pair ``(w1, w2)`` by
   ``Wc = 0.88 * sqrt(w1^2 + w2^2)`` (arterioles) or ``0.95 * sqrt(w1^2 + w2^2)``
   (venules); with an odd count the middle width is carried to the next round as it is;
2. repeat until one width is left: the CRAE (arterioles) or CRVE (venules).

Six widths give 3, then 2 (a pair and the carried middle), then 1. With fewer than six
the study protocols give no value; so does :func:`knudtson` (NaN), and the caller says
why. The formula is linear in the widths, so pixels in give pixels out and a pixel size
converts the result.
"""
from __future__ import annotations

import math

ARTERIOLE_COEFFICIENT = 0.88
VENULE_COEFFICIENT = 0.95
VESSELS = 6  # the widest six of each kind


def knudtson_round(widths: list[float], coefficient: float) -> list[float]:
    """One round: widest with narrowest, and so on; the middle one carried when odd."""
    ordered = sorted(widths, reverse=True)
    half = len(ordered) // 2
    paired = [coefficient * math.hypot(ordered[i], ordered[-1 - i]) for i in range(half)]
    return paired + ([ordered[half]] if len(ordered) % 2 else [])


def knudtson(widths, coefficient: float, vessels: int = VESSELS) -> float:
    """The summary calibre of the ``vessels`` widest of ``widths``; NaN with fewer."""
    chosen = sorted((float(w) for w in widths if math.isfinite(w)), reverse=True)[:vessels]
    if len(chosen) < vessels:
        return math.nan
    while len(chosen) > 1:
        chosen = knudtson_round(chosen, coefficient)
    return chosen[0]


def crae(widths, vessels: int = VESSELS) -> float:
    """Central retinal arteriolar equivalent of arteriolar widths (revised Knudtson)."""
    return knudtson(widths, ARTERIOLE_COEFFICIENT, vessels)


def crve(widths, vessels: int = VESSELS) -> float:
    """Central retinal venular equivalent of venular widths (revised Knudtson)."""
    return knudtson(widths, VENULE_COEFFICIENT, vessels)
