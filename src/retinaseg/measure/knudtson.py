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

The Hubbard variant (Hubbard et al., "Methods for evaluation of retinal microvascular
abnormalities associated with hypertension/sclerosis in the Atherosclerosis Risk in
Communities Study", Ophthalmology 106(12):2269-2280, 1999) replaces each pair
``(narrower wa, wider wb)`` by ``sqrt(0.87 wa^2 + 1.01 wb^2 - 0.22 wa wb - 10.76)``
(arterioles) or ``sqrt(0.72 wa^2 + 0.91 wb^2 + 450.05)`` (venules). Its constants are in
micrometres, so it takes widths in micrometres only. It is run here on the same six widest
vessels and the same pairing as Knudtson's, as AutoMorph does, so the two variants differ
by the pair formula alone.
"""
from __future__ import annotations

import math

ARTERIOLE_COEFFICIENT = 0.88
VENULE_COEFFICIENT = 0.95
VESSELS = 6  # the widest six of each kind


def knudtson_pair(coefficient: float):
    """Knudtson's pair formula, ``coefficient * sqrt(w1^2 + w2^2)``."""
    return lambda narrow, wide: coefficient * math.hypot(narrow, wide)


def knudtson_round(widths: list[float], coefficient: float) -> list[float]:
    """One round: widest with narrowest, and so on; the middle one carried when odd."""
    return pairing_round(widths, knudtson_pair(coefficient))


def pairing_round(widths: list[float], pair) -> list[float]:
    """One round of the iteration: ``pair(narrower, wider)`` of the widest with the
    narrowest, the second widest with the second narrowest, ...; the middle one carried
    when the count is odd."""
    ordered = sorted(widths, reverse=True)
    half = len(ordered) // 2
    paired = [pair(ordered[-1 - i], ordered[i]) for i in range(half)]
    return paired + ([ordered[half]] if len(ordered) % 2 else [])


def knudtson(widths, coefficient: float, vessels: int = VESSELS) -> float:
    """The summary calibre of the ``vessels`` widest of ``widths``; NaN with fewer."""
    return summary_calibre(widths, knudtson_pair(coefficient), vessels)


def summary_calibre(widths, pair, vessels: int = VESSELS) -> float:
    """The ``vessels`` widest of ``widths`` paired round by round (:func:`pairing_round`)
    down to one; NaN with fewer, or where a pair has no real value."""
    chosen = sorted((float(w) for w in widths if math.isfinite(w)), reverse=True)[:vessels]
    if len(chosen) < vessels:
        return math.nan
    while len(chosen) > 1:
        chosen = pairing_round(chosen, pair)
    return chosen[0]


def crae(widths, vessels: int = VESSELS) -> float:
    """Central retinal arteriolar equivalent of arteriolar widths (revised Knudtson)."""
    return knudtson(widths, ARTERIOLE_COEFFICIENT, vessels)


def crve(widths, vessels: int = VESSELS) -> float:
    """Central retinal venular equivalent of venular widths (revised Knudtson)."""
    return knudtson(widths, VENULE_COEFFICIENT, vessels)


def _hubbard_arteriole(narrow: float, wide: float) -> float:
    square = 0.87 * narrow ** 2 + 1.01 * wide ** 2 - 0.22 * narrow * wide - 10.76
    return math.sqrt(square) if square >= 0 else math.nan


def _hubbard_venule(narrow: float, wide: float) -> float:
    return math.sqrt(0.72 * narrow ** 2 + 0.91 * wide ** 2 + 450.05)


def crae_hubbard_um(widths_um, vessels: int = VESSELS) -> float:
    """CRAE by Hubbard's arteriolar pair formula, from widths in micrometres."""
    return summary_calibre(widths_um, _hubbard_arteriole, vessels)


def crve_hubbard_um(widths_um, vessels: int = VESSELS) -> float:
    """CRVE by Hubbard's venular pair formula, from widths in micrometres."""
    return summary_calibre(widths_um, _hubbard_venule, vessels)
