"""CRAE, CRVE and AVR in zones B and C, from artery and vein masks and the optic disc.

:func:`calibre_columns` gives one photo's columns, units in their names:

* the disc: ``disc_x_px``, ``disc_y_px`` (column and row of its centre),
  ``disc_radius_px``, ``disc_confidence``, ``disc_note`` (why there is none);
* zone B (:mod:`.zones`): ``crae_px``, ``crve_px`` and in micrometres ``crae_um``,
  ``crve_um``, ``avr`` (CRAE / CRVE), the Hubbard variant ``crae_hubbard_um``,
  ``crve_hubbard_um``, ``avr_hubbard`` (micrometres only: its constants are),
  ``arterioles_measured``, ``venules_measured`` and ``calibre_note``, the reason where a
  value is empty;
* zone C: the same with ``_zone_c``; its rings one disc radius wide are measured as
  zone B is, and CRAE and CRVE are the mean over the rings that give one (at least
  :data:`MIN_ZONE_C_RINGS`); the counts are the fewest in any ring used.

Widths are :mod:`.vessel_widths`' (a perpendicular profile, the median over the
segment's centreline pixels in the ring) and the summary is the revised Knudtson
formula (:mod:`.knudtson`). A value is empty, with its reason, where there is no disc,
the disc is outside the photo or its ring mostly is, the photo is too small to resolve
the ring, or fewer than six vessels of the kind could be measured in it. Micrometres are
empty where the photo has no pixel size (``scale_note`` says why: under strict units an
assumed one is not used). :func:`label_calibre_columns` does the same from a manual
RITE label (validation), :func:`no_av_columns` is the row of a model with no A/V outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from scipy import ndimage

from ..data.av import ARTERY, CROSSING, VEIN
from .knudtson import VESSELS, crae, crae_hubbard_um, crve, crve_hubbard_um
from .specks import speck_size
from .vessel_widths import ClassSegments, class_segments, zone_vessel_widths
from .zones import (
    ZONE_B,
    ZONE_C,
    ZONE_C_RINGS,
    Zone,
    distance_from,
    zone_mask,
    zone_problem,
)

MIN_SAMPLES_RADII = 0.25  # a segment needs this many disc radii of centreline in the ring
MIN_ZONE_C_RINGS = 2  # of the three rings of zone C
# Vessels are cut this many disc radii from the centre before their skeleton is traced:
# inside, they converge into the disc, where one artery would run on into another;
# half a radius inside zone B leaves room for the samples kept clear of a cut end.
CUT_RADII = 1.5
CROSSING_BRIDGE_RADII = 0.15  # gaps a crossing cuts into a predicted class, in disc radii
DISC_COLUMNS = ("disc_x_px", "disc_y_px", "disc_radius_px", "disc_confidence", "disc_note")
ZONE_FIELDS = ("crae_px", "crve_px", "crae_um", "crve_um", "avr", "crae_hubbard_um",
               "crve_hubbard_um", "avr_hubbard", "arterioles_measured", "venules_measured",
               "calibre_note")
CALIBRE_COLUMNS = DISC_COLUMNS + ZONE_FIELDS + tuple(f"{f}_zone_c" for f in ZONE_FIELDS)
AV_MEASURES = {"vessel_area_fraction": "density", "fractal_dimension": "fractal_dimension",
               "tortuosity_arc_chord": "tortuosity_arc_chord"}
AV_MEASURE_COLUMNS = tuple(f"{kind}_{name}" for kind in ("artery", "vein")
                           for name in AV_MEASURES.values())
NO_AV = "no A/V outputs in the model"


@dataclass(frozen=True)
class ZoneCalibres:
    """One zone's summary calibres (px; NaN where empty), the counts, and why empty."""

    crae_px: float
    crve_px: float
    arterioles: int
    venules: int
    note: str = ""
    crae_hubbard_um: float = math.nan  # NaN also where the photo has no pixel size
    crve_hubbard_um: float = math.nan

    @property
    def avr(self) -> float:
        return _ratio(self.crae_px, self.crve_px)

    @property
    def avr_hubbard(self) -> float:
        return _ratio(self.crae_hubbard_um, self.crve_hubbard_um)


def _ratio(artery: float, vein: float) -> float:
    return artery / vein if math.isfinite(artery) and math.isfinite(vein) and vein > 0 else math.nan


def zone_calibres(artery, vein, fov, disc, zone: Zone = ZONE_B, crossings=None,
                  um_per_px: float = math.nan, measured: dict | None = None) -> ZoneCalibres:
    """CRAE and CRVE of one ring, or NaN with the reason (:func:`.zones.zone_problem`);
    with ``um_per_px`` the Hubbard variant too. ``measured`` (the same masks' widths by
    ring, filled as rings are measured) lets a ring drawn twice be measured once: zone B
    is also zone C's first ring."""
    problem = zone_problem(disc, fov, zone)
    if problem:
        return ZoneCalibres(math.nan, math.nan, 0, 0, problem)
    ring_key = (zone.inner, zone.outer)
    if measured is not None and ring_key in measured:
        widths = measured[ring_key]
    else:
        widths = _ring_widths(artery, vein, fov, disc, zone, crossings)
        if measured is not None:
            measured[ring_key] = widths
    notes = [f"fewer than six measurable {kind} in {zone.name} ({len(w)})"
             for kind, w in widths.items() if len(w) < VESSELS]
    return ZoneCalibres(crae(widths["arterioles"]), crve(widths["venules"]),
                        len(widths["arterioles"]), len(widths["venules"]), "; ".join(notes),
                        crae_hubbard_um([w * um_per_px for w in widths["arterioles"]]),
                        crve_hubbard_um([w * um_per_px for w in widths["venules"]]))


def _ring_widths(artery, vein, fov, disc, zone: Zone, crossings) -> dict[str, list[float]]:
    """The measured arterioles' and venules' widths (px) in one ring."""
    ring = zone_mask(fov.shape, disc, zone) & fov
    samples = max(3, round(MIN_SAMPLES_RADII * disc.radius))
    found = {kind: zone_vessel_widths(_in_fov(mask, fov), ring, (disc.row, disc.col),
                                       samples, crossings)
             for kind, mask in (("arterioles", artery), ("venules", vein))}
    return {kind: [w.width_px for w in segments] for kind, segments in found.items()}


def zone_c_calibres(artery, vein, fov, disc, crossings=None,
                    um_per_px: float = math.nan, measured: dict | None = None) -> ZoneCalibres:
    """Zone C: the mean of its rings' CRAE and CRVE (each needs MIN_ZONE_C_RINGS rings),
    and of their Hubbard values likewise (``measured``: see :func:`zone_calibres`)."""
    rings = [zone_calibres(artery, vein, fov, disc, ring, crossings, um_per_px, measured)
             for ring in ZONE_C_RINGS]
    if rings[0].note.startswith(("no disc", "disc outside", "photo too small")):
        return rings[0]  # the disc's own problem: the same for every ring
    values = {}
    for field in ("crae_px", "crve_px", "crae_hubbard_um", "crve_hubbard_um"):
        found = [getattr(r, field) for r in rings if math.isfinite(getattr(r, field))]
        values[field] = float(np.mean(found)) if len(found) >= MIN_ZONE_C_RINGS else math.nan
    notes = [f"ring {k + 1}: {r.note}" for k, r in enumerate(rings) if r.note]
    empty = [name for name in ("crae_px", "crve_px") if not math.isfinite(values[name])]
    if empty:
        notes.insert(0, f"fewer than {MIN_ZONE_C_RINGS} rings of zone C measured")
    return ZoneCalibres(values["crae_px"], values["crve_px"], min(r.arterioles for r in rings),
                        min(r.venules for r in rings), "; ".join(notes) if empty else "",
                        values["crae_hubbard_um"], values["crve_hubbard_um"])


def predicted_crossings(artery: np.ndarray, vein: np.ndarray, disc_radius: float):
    """Where a model's artery and vein masks cut each other: the other class's pixels
    in the gap a closing of one class bridges. Returns ``(artery, vein, crossings)``
    with the bridges added to both classes, as a manual label's crossings are."""
    k = max(2.0, CROSSING_BRIDGE_RADII * disc_radius)
    bridge_a, bridge_v = _closing(artery, k) & vein, _closing(vein, k) & artery
    crossings = bridge_a | bridge_v
    return artery | crossings, vein | crossings, crossings


def _closing(mask: np.ndarray, radius: float) -> np.ndarray:
    """Binary closing by a disc, by two distance transforms (fast at any radius)."""
    dilated = ndimage.distance_transform_edt(~mask) <= radius
    return ndimage.distance_transform_edt(dilated) > radius


def calibre_columns(artery, vein, fov, disc, scale=None, crossings=None,
                    find_crossings: bool = True) -> dict:
    """One photo's disc and calibre columns (module docstring). ``disc``: a
    :class:`~retinaseg.measure.disc.DiscResult`, or anything with ``row``, ``col``,
    ``radius`` (e.g. the DRIVE-ZoneB disc), or None. Without ``crossings`` a model's
    crossings are found (:func:`predicted_crossings`) unless ``find_crossings`` is off."""
    found, note, confidence = _disc_parts(disc)
    disc_xy = (found.col, found.row) if found is not None else (None, None)
    fov = np.asarray(fov, dtype=bool)
    artery, vein = np.asarray(artery, dtype=bool), np.asarray(vein, dtype=bool)
    if found is not None:  # only the zones' surround is measured: a crop, at any photo size
        window, found = _zone_window(fov.shape, found)
        artery, vein, fov = artery[window], vein[window], fov[window]
        crossings = None if crossings is None else np.asarray(crossings, dtype=bool)[window]
    if crossings is None and find_crossings and found is not None:
        artery, vein, crossings = predicted_crossings(artery, vein, found.radius)
    row = {"disc_x_px": disc_xy[0], "disc_y_px": disc_xy[1],
           "disc_radius_px": found.radius if found else None, "disc_confidence": confidence,
           "disc_note": note}
    mm = getattr(scale, "mm_per_pixel", None)
    if found is not None:  # skeletonised once, measured in every ring
        kept = fov & (distance_from(fov.shape, found.row, found.col)
                      >= CUT_RADII * found.radius)
        artery, vein = (class_segments(m & kept, crossings) for m in (artery, vein))
    um_per_px = 1000 * mm if mm else math.nan
    measured = {}  # zone B's ring is zone C's first: measured once
    for suffix, zone in (("", zone_calibres(artery, vein, fov, found, ZONE_B, crossings,
                                            um_per_px, measured)),
                         ("_zone_c", zone_c_calibres(artery, vein, fov, found, crossings,
                                                     um_per_px, measured))):
        row.update({f"{k}{suffix}": v for k, v in _zone_row(zone, mm).items()})
    if found is None and note != "no disc found":  # the finder's own reason says more
        row.update(calibre_note=f"no disc found: {note}",
                   calibre_note_zone_c=f"no disc found: {note}")
    return {k: _rounded(v) for k, v in row.items()}


def label_calibre_columns(classes: np.ndarray, fov, disc, scale=None) -> dict:
    """The columns from a manual RITE label (:mod:`retinaseg.data.av` classes): crossings
    belong to both kinds, so each vessel runs on through them; uncertain pixels to neither."""
    crossings = classes == CROSSING
    return calibre_columns((classes == ARTERY) | crossings, (classes == VEIN) | crossings,
                           fov, disc, scale, crossings)


def no_av_columns(reason: str = NO_AV) -> dict:
    """Every calibre column empty, each note saying why."""
    row = dict.fromkeys(CALIBRE_COLUMNS)
    row.update(disc_note=reason, calibre_note=reason, calibre_note_zone_c=reason)
    return row


def av_measure_columns(artery, vein, fov, scale=None) -> dict:
    """Artery- and vein-specific density, fractal dimension and tortuosity: the vessel
    measures of each class's mask, specks dropped by the one rule. None of the three
    needs a pixel size: ``scale`` is taken for the columns' common signature."""
    from . import shape_measures

    row = {}
    for kind, mask in (("artery", artery), ("vein", vein)):
        measures = shape_measures(mask, fov, min_object_px=speck_size(fov))
        row.update({f"{kind}_{name}": _rounded(measures[field])
                    for field, name in AV_MEASURES.items()})
    return row


def _zone_row(zone: ZoneCalibres, mm_per_pixel) -> dict:
    um = 1000 * mm_per_pixel if mm_per_pixel else math.nan
    return {"crae_px": zone.crae_px, "crve_px": zone.crve_px, "crae_um": zone.crae_px * um,
            "crve_um": zone.crve_px * um, "avr": zone.avr,
            "crae_hubbard_um": zone.crae_hubbard_um, "crve_hubbard_um": zone.crve_hubbard_um,
            "avr_hubbard": zone.avr_hubbard, "arterioles_measured": zone.arterioles,
            "venules_measured": zone.venules, "calibre_note": zone.note}


def _in_fov(mask, fov):
    return mask if isinstance(mask, ClassSegments) else np.asarray(mask, dtype=bool) & fov


def _zone_window(shape, disc):
    """The photo's part within the outer zone's reach (plus a disc radius for the
    profiles), and the disc in its coordinates."""
    reach = (ZONE_C.outer + 1) * disc.radius
    top, left = (max(0, int(c - reach)) for c in (disc.row, disc.col))
    bottom, right = int(disc.row + reach) + 1, int(disc.col + reach) + 1
    moved = SimpleNamespace(row=disc.row - top, col=disc.col - left, radius=disc.radius)
    return (slice(top, min(bottom, shape[0])), slice(left, min(right, shape[1]))), moved


def _disc_parts(disc):
    """``(disc or None, note, confidence)`` of a DiscResult, a bare disc or None."""
    if disc is None:
        return None, "no disc found", None
    if hasattr(disc, "reason"):  # a DiscResult
        if disc.disc is None:
            return None, disc.reason or "no disc found", None
        disc = disc.disc
    return disc, "", getattr(disc, "confidence", None)


def _rounded(value):
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else round(float(value), 4)
    return value
