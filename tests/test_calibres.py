"""Zones, segment widths, the Knudtson arithmetic and the calibre columns, on drawn
vessels of known width around a drawn disc, and on one real DRIVE-AV photo."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
from skimage.draw import polygon

from retinaseg.data.av import ARTERY, CROSSING, VEIN
from retinaseg.measure.calibres import (
    CALIBRE_COLUMNS,
    calibre_columns,
    label_calibre_columns,
    no_av_columns,
)
from retinaseg.measure.knudtson import (
    crae,
    crae_hubbard_um,
    crve,
    crve_hubbard_um,
    knudtson_round,
)
from retinaseg.measure.scale import Scale
from retinaseg.measure.vessel_widths import (
    profile_widths,
    segment_normals,
    zone_vessel_widths,
)
from retinaseg.measure.zones import ZONE_B, ZONE_C, zone_mask, zone_problem

SHAPE, CENTRE, RADIUS = (520, 520), (260.3, 260.3), 30.0
DISC = SimpleNamespace(row=CENTRE[0], col=CENTRE[1], radius=RADIUS)
ARTERY_WIDTHS = [9, 8, 7, 6, 5, 4, 3]
VEIN_WIDTHS = [11, 10, 9, 8, 7, 6]


def _band(mask, start, angle_deg, width, r0, r1):
    """Pixels whose centres fall in a band ``width`` wide from ``r0`` to ``r1`` along
    ``angle_deg`` from ``start`` (row, col)."""
    a = math.radians(angle_deg)
    along, across = np.array([math.sin(a), math.cos(a)]), np.array([math.cos(a), -math.sin(a)])
    corners = np.array([np.asarray(start) + s * along + t * across * width / 2
                        for s, t in ((r0, -1), (r1, -1), (r1, 1), (r0, 1))])
    mask[polygon(corners[:, 0], corners[:, 1], mask.shape)] = True
    return mask


def _radiating(widths, first_angle, step=45.0):
    mask = np.zeros(SHAPE, dtype=bool)
    for k, width in enumerate(widths):
        _band(mask, CENTRE, first_angle + k * step, width, 0.9 * RADIUS, 7.5 * RADIUS)
    return mask


def _fundus():
    """Seven arteries and six veins leaving a disc, none touching."""
    return _radiating(ARTERY_WIDTHS, 0.0), _radiating(VEIN_WIDTHS, 22.5)


# ---------------------------------------------------------------- Knudtson arithmetic

def test_knudtson_by_hand():
    # round 1: (10,5) (9,6) (8,7); round 2: widest with narrowest, the middle carried
    r1 = [0.88 * math.sqrt(125), 0.88 * math.sqrt(117), 0.88 * math.sqrt(113)]
    r2 = [0.88 * math.hypot(r1[0], r1[2]), r1[1]]
    assert knudtson_round([10, 9, 8, 7, 6, 5], 0.88) == pytest.approx(r1)
    assert crae([10, 9, 8, 7, 6, 5, 4, 3]) == pytest.approx(0.88 * math.hypot(*r2))
    assert crae([10, 9, 8, 7, 6, 5]) == pytest.approx(13.4425, abs=1e-3)
    w = 7.0  # six equal: 3 x 0.95 sqrt2 w, then a pair and the carried one, then one
    one, two = 0.95 * math.sqrt(2) * w, 0.95 * math.sqrt(2) * 0.95 * math.sqrt(2) * w
    assert crve([w] * 6) == pytest.approx(0.95 * math.hypot(two, one))


def test_fewer_than_six_gives_nan():
    assert math.isnan(crae([9, 8, 7, 6, 5]))
    assert math.isnan(crve([]))
    assert math.isnan(crae_hubbard_um([90, 80, 70])) and math.isnan(crve_hubbard_um([]))


def test_hubbard_by_hand():
    def artery(a, b):  # a the narrower, b the wider (micrometres)
        return math.sqrt(0.87 * a * a + 1.01 * b * b - 0.22 * a * b - 10.76)

    def vein(a, b):
        return math.sqrt(0.72 * a * a + 0.91 * b * b + 450.05)

    widths = [100, 90, 80, 70, 60, 50]
    for pair, summary in ((artery, crae_hubbard_um), (vein, crve_hubbard_um)):
        r1 = [pair(50, 100), pair(60, 90), pair(70, 80)]  # widest with narrowest, ...
        ordered = sorted(r1)
        r2 = [pair(ordered[0], ordered[2]), ordered[1]]  # then the middle is carried
        assert summary(widths + [40]) == pytest.approx(pair(min(r2), max(r2)))  # six widest


# ---------------------------------------------------------------- widths

@pytest.mark.parametrize("width", [3, 5, 8])
@pytest.mark.parametrize("angle", [0, 10, 30, 45, 60, 90])
def test_profile_reads_a_band_width(width, angle):
    c = 100.3  # off the grid, so no band edge runs through pixel centres
    mask = _band(np.zeros((200, 200), dtype=bool), (c, c), angle, width, -80, 80)
    a = math.radians(angle)
    points = np.array([[c + t * math.sin(a), c + t * math.cos(a)] for t in range(-40, 41)])
    normals = segment_normals(points)
    widths = profile_widths(mask, points, normals, 20)
    # at 45 degrees the band holds whole diagonals of pixel centres, 0.71 px apart, so the
    # drawn width itself is only known to within a half of that
    assert abs(np.median(widths) - width) <= (0.6 if angle == 45 else 0.5)
    if angle in (0, 90):  # along the lattice the profile is exact (2 d reads w + 1)
        assert np.median(widths) == pytest.approx(width, abs=0.05)


def test_vessel_widths_match_the_drawn_ones():
    arteries, veins = _fundus()
    ring = zone_mask(SHAPE, DISC, ZONE_B)
    for mask, drawn in ((arteries, ARTERY_WIDTHS), (veins, VEIN_WIDTHS)):
        found = sorted(w.width_px for w in zone_vessel_widths(mask, ring, CENTRE, 8))
        assert found == pytest.approx(sorted(drawn), abs=0.5)


# ---------------------------------------------------------------- the columns

def test_columns_of_a_drawn_fundus():
    arteries, veins = _fundus()
    row = calibre_columns(arteries, veins, np.ones(SHAPE, bool), DISC,
                          Scale(0.01, "flag", "given"))
    assert set(row) == set(CALIBRE_COLUMNS)
    assert row["crae_px"] == pytest.approx(crae(ARTERY_WIDTHS), rel=0.04)
    assert row["crve_px"] == pytest.approx(crve(VEIN_WIDTHS), rel=0.04)
    assert row["crae_um"] == pytest.approx(10 * row["crae_px"], rel=1e-3)
    assert row["avr"] == pytest.approx(row["crae_px"] / row["crve_px"], rel=1e-3)
    # Hubbard in micrometres, from the same widths (its constants are micrometres)
    assert row["crae_hubbard_um"] == pytest.approx(
        crae_hubbard_um([10 * w for w in ARTERY_WIDTHS]), rel=0.04)
    assert row["crve_hubbard_um"] == pytest.approx(
        crve_hubbard_um([10 * w for w in VEIN_WIDTHS]), rel=0.04)
    assert row["avr_hubbard"] == pytest.approx(row["crae_hubbard_um"] / row["crve_hubbard_um"],
                                               rel=1e-3)
    assert row["crae_hubbard_um_zone_c"] is not None
    assert (row["arterioles_measured"], row["venules_measured"]) == (7, 6)
    assert row["calibre_note"] == "" and row["calibre_note_zone_c"] == ""
    assert row["crae_px_zone_c"] == pytest.approx(row["crae_px"], rel=0.04)  # straight vessels


def test_strict_units_leave_micrometres_empty():
    arteries, veins = _fundus()
    row = calibre_columns(arteries, veins, np.ones(SHAPE, bool), DISC,
                          Scale(None, "assumed", "strict units"))
    assert row["crae_px"] is not None and row["crae_um"] is None and row["crve_um"] is None
    assert row["crae_hubbard_um"] is None and row["avr_hubbard"] is None  # micrometres only


def test_fewer_than_six_veins_says_so():
    arteries, _ = _fundus()
    veins = _radiating(VEIN_WIDTHS[:4], 22.5)
    row = calibre_columns(arteries, veins, np.ones(SHAPE, bool), DISC)
    assert row["crae_px"] is not None and row["crve_px"] is None and row["avr"] is None
    assert "fewer than six measurable venules in zone B (4)" in row["calibre_note"]


@pytest.mark.parametrize("disc, fov_radius, expected", [
    (None, None, "no disc found"),
    (SimpleNamespace(row=260, col=600, radius=30), None, "disc outside the photo"),
    (SimpleNamespace(row=260, col=260, radius=12), None, "photo too small to resolve zone B"),
    (SimpleNamespace(row=260, col=260, radius=30), 75, "disc at the edge"),  # 45% of the ring
])
def test_a_disc_that_cannot_carry_a_zone(disc, fov_radius, expected):
    fov = np.ones(SHAPE, dtype=bool)
    if fov_radius:
        rr, cc = np.ogrid[:SHAPE[0], :SHAPE[1]]
        fov = np.hypot(rr - 260, cc - 260) < fov_radius
    assert expected in zone_problem(disc, fov, ZONE_B)
    arteries, veins = _fundus()
    row = calibre_columns(arteries, veins, fov, disc)
    assert set(row) == set(CALIBRE_COLUMNS) and row["crae_px"] is None
    assert expected in row["calibre_note"] and row["calibre_note_zone_c"]


def test_disc_finder_reason_is_kept():
    result = SimpleNamespace(disc=None, reason="disc at the FOV edge (centre 3 px inside it)")
    row = calibre_columns(*_fundus(), np.ones(SHAPE, bool), result)
    assert row["disc_note"].startswith("disc at the FOV edge")
    assert row["calibre_note"] == "no disc found: disc at the FOV edge (centre 3 px inside it)"


def test_no_av_outputs_row():
    row = no_av_columns()
    assert set(row) == set(CALIBRE_COLUMNS) and row["crae_px"] is None
    assert row["calibre_note"] == "no A/V outputs in the model"


def test_zone_c_spans_two_to_five_radii():
    ring = zone_mask(SHAPE, DISC, ZONE_C)
    assert ring[260, 260 + 61] and ring[260, 260 + 149] and not ring[260, 260 + 151]
    assert not ring[260, 260 + 59]


# ---------------------------------------------------------------- crossings and branches

def _label_with_crossing():
    """The drawn fundus as a RITE class map, with one vein crossing an artery in zone B."""
    arteries, veins = _fundus()
    # across the 7 px artery going down the photo, 2.5 disc radii out, between two veins
    crossing_vein = _band(np.zeros(SHAPE, bool), (CENTRE[0] + 2.5 * RADIUS, CENTRE[1]), 0, 6,
                          -22, 22)
    classes = np.zeros(SHAPE, dtype=np.uint8)
    classes[arteries] = ARTERY
    classes[veins | crossing_vein] = VEIN
    classes[arteries & crossing_vein] = CROSSING
    return classes, arteries, veins | crossing_vein


def test_a_crossed_artery_is_one_vessel():
    classes, arteries, veins = _label_with_crossing()
    row = label_calibre_columns(classes, np.ones(SHAPE, bool), DISC)
    assert row["arterioles_measured"] == 7
    assert row["crae_px"] == pytest.approx(crae(ARTERY_WIDTHS), rel=0.04)
    # a model's masks: the vein on top cuts the artery; the bridge joins it again
    row = calibre_columns(arteries & ~veins, veins, np.ones(SHAPE, bool), DISC)
    assert row["arterioles_measured"] == 7
    assert row["crae_px"] == pytest.approx(crae(ARTERY_WIDTHS), rel=0.04)


def test_a_branch_in_the_zone_counts_its_trunk_only(monkeypatch):
    """A 9 px artery forking into two 6 px ones inside zone B: the trunk is measured,
    the branches are not (a disc of 60 px, so that all three have enough centreline)."""
    from retinaseg.measure import vessel_widths

    radius, centre, shape = 60.0, (400.3, 200.3), (800, 800)
    mask = _band(np.zeros(shape, bool), centre, 0, 9, 0.9 * radius, 2.45 * radius)
    fork = (centre[0], centre[1] + 2.4 * radius)
    _band(mask, fork, -20, 6, 0, 3 * radius)
    _band(mask, fork, 20, 6, 0, 3 * radius)
    ring = zone_mask(shape, SimpleNamespace(row=centre[0], col=centre[1], radius=radius), ZONE_B)
    found = [w.width_px for w in zone_vessel_widths(mask, ring, centre, 15)]
    assert found == pytest.approx([9.0], abs=0.3)
    # the trunk runs on into the straighter branch (here a tie), the other is a side branch
    monkeypatch.setattr(vessel_widths, "_side_branches", lambda *args: set())
    found = sorted(w.width_px for w in zone_vessel_widths(mask, ring, centre, 15))
    assert found == pytest.approx([6, 9], abs=0.3)  # what the rule keeps out


# ---------------------------------------------------------------- a real photo

def test_drive_av_photo_from_its_manual_label(shared_data):
    from retinaseg.data import load_dataset
    from retinaseg.data.zone_b import drive_optic_disc
    from retinaseg.measure.scale import resolve_scale

    sample = next(iter(load_dataset("drive", "test", shared_data)))
    if sample.av is None:
        pytest.skip("no DRIVE-AV labels")
    disc = drive_optic_disc(shared_data, sample.id)
    scale = resolve_scale(sample.fov, None, 45.0)
    row = label_calibre_columns(sample.av, sample.fov, disc, scale)
    assert row["arterioles_measured"] >= 6 and row["venules_measured"] >= 6, row
    assert 5 < row["crae_px"] < 20 and 6 < row["crve_px"] < 25
    assert 0.4 < row["avr"] < 1.1
    assert 80 < row["crae_um"] < 300
