"""Vessel measures on shapes whose values are known, and their edges (empty, FOV, mm)."""
import math

import numpy as np
import pytest
from scipy.integrate import trapezoid
from skimage.draw import circle_perimeter, line, polygon

from retinaseg.errors import RetinasegError
from retinaseg.measure import MM_PER_DEGREE, measure_vessels, segment_shapes
from retinaseg.measure.graph import skeleton_graph, trace_segments
from retinaseg.measure.shape import box_counting_dimension


def _polyline(points, shape) -> np.ndarray:
    """A 1-pixel digital curve through (row, col) points, rounded to the grid."""
    mask = np.zeros(shape, dtype=bool)
    points = np.round(np.asarray(points)).astype(int)
    for (r0, c0), (r1, c1) in zip(points[:-1], points[1:]):
        rows, cols = line(r0, c0, r1, c1)
        mask[rows, cols] = True
    return mask


def _bar(width: int, length: int = 160, shape=(60, 200)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    top = shape[0] // 2 - width // 2
    mask[top:top + width, 20:20 + length] = True
    return mask


def _quarter_arc(radius: int) -> np.ndarray:
    t = np.linspace(0, np.pi / 2, 20 * radius)
    centre = radius + 10
    return _polyline(np.stack([centre + radius * np.sin(t), centre + radius * np.cos(t)], 1),
                     (2 * radius + 20, 2 * radius + 20))


# ---------------------------------------------------------------- width and length

def _band(width: float, degrees: float, length: float = 200, size: int = 300) -> np.ndarray:
    """Pixels whose centres fall in a ``width`` x ``length`` rectangle at ``degrees``."""
    a = math.radians(degrees)
    along, across = np.array([math.sin(a), math.cos(a)]), np.array([math.cos(a), -math.sin(a)])
    centre = np.array([size / 2, size / 2])
    corners = np.array([centre + s * along * length / 2 + t * across * width / 2
                        for s, t in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    mask = np.zeros((size, size), dtype=bool)
    mask[polygon(corners[:, 0], corners[:, 1], mask.shape)] = True
    return mask


@pytest.mark.parametrize("degrees", [10, 22.5, 30, 60, 80])
@pytest.mark.parametrize("width", [5, 7, 9])
def test_oblique_band_reads_its_width(width, degrees):
    m = measure_vessels(_band(width, degrees))
    assert abs(m.width_mean_px - width) <= 0.25
    # the profile's edges fall between samples: the median is not held to 2 d's few values
    assert abs(m.width_median_px - width) <= 0.3


@pytest.mark.parametrize("width", [5, 7, 9])
def test_diagonal_band_reads_its_width_within_its_rasterisation(width):
    # at 45 degrees the pixel centres inside a w-wide rectangle span up to 0.7 px more or less
    assert abs(measure_vessels(_band(width, 45)).width_mean_px - width) <= 0.7


@pytest.mark.parametrize("width", [1, 3, 5, 7, 9])
def test_band_along_a_row_reads_its_width_exactly(width):
    # 2 d of the distance transform read w + 1 here: the bias the profile removes
    m = measure_vessels(_bar(width))
    assert m.width_median_px == pytest.approx(width)
    assert m.width_mean_px == pytest.approx(width, abs=0.05)


def test_widths_skip_the_pixels_in_sight_of_a_branch_point():
    # a T of two 5 px bars: the junction, where a profile runs along the other bar, is
    # out of the sample, so the widths stay those of the bars
    mask = np.zeros((120, 200), dtype=bool)
    mask[58:63, 10:190] = True
    mask[60:115, 98:103] = True
    m = measure_vessels(mask)
    assert m.width_median_px == pytest.approx(5)
    assert abs(m.width_mean_px - 5) <= 0.25


def test_straight_lengths_count_one_and_root_two_steps():
    horizontal = np.zeros((20, 120), dtype=bool)
    horizontal[10, 10:110] = True
    assert measure_vessels(horizontal).skeleton_length_px == pytest.approx(99)
    diagonal = np.eye(80, dtype=bool)
    assert measure_vessels(diagonal).skeleton_length_px == pytest.approx(79 * math.sqrt(2))


def test_a_bar_is_one_segment_between_two_end_points():
    m = measure_vessels(_bar(5))
    assert (m.segments, m.end_points, m.branch_points, m.components, m.loops) == (1, 2, 0, 1, 0)
    assert 150 <= m.skeleton_length_px <= 160  # skeletonize shortens each end by about w/2


# ---------------------------------------------------------------- tortuosity

def test_quarter_circle_curvature_and_arc_over_chord():
    for radius in (30, 60):
        m = measure_vessels(_quarter_arc(radius))
        assert m.tortuosity_segments == 1
        assert m.tortuosity_sq_curvature_per_px2 == pytest.approx(1 / radius ** 2, rel=0.15)
        assert m.tortuosity_arc_chord == pytest.approx((math.pi / 2) / math.sqrt(2), abs=0.01)
        # 8-neighbour steps overestimate a curve's length by up to 8%
        assert radius * math.pi / 2 <= m.skeleton_length_px <= 1.09 * radius * math.pi / 2


@pytest.mark.parametrize("degrees", [0, 3, 10, 22.5, 30, 45, 60, 87])
def test_straight_lines_have_no_tortuosity_at_any_angle(degrees):
    a = math.radians(degrees)
    mask = _polyline([(20, 20), (20 + 250 * math.sin(a), 20 + 250 * math.cos(a))], (290, 290))
    m = measure_vessels(mask)
    assert m.tortuosity_arc_chord == pytest.approx(1.0, abs=1e-3)
    assert m.tortuosity_sq_curvature_per_px2 < 1e-5


def test_sine_against_its_analytic_tortuosity():
    amplitude, wavelength = 10.0, 100.0
    x = np.arange(20, 480, dtype=float)
    mask = _polyline(np.stack([100 + amplitude * np.sin(2 * np.pi * x / wavelength), x], 1),
                     (200, 500))
    fine = np.linspace(x[0], x[-1], 200_001)
    w = 2 * np.pi / wavelength
    slope, bend = amplitude * w * np.cos(w * fine), -amplitude * w ** 2 * np.sin(w * fine)
    speed = np.sqrt(1 + slope ** 2)
    arc = trapezoid(speed, fine)
    chord = math.hypot(fine[-1] - fine[0], amplitude * (np.sin(w * fine[-1]) - np.sin(w * fine[0])))
    mean_sq_curvature = trapezoid(bend ** 2 / speed ** 6 * speed, fine) / arc
    m = measure_vessels(mask)
    assert m.tortuosity_arc_chord == pytest.approx(arc / chord, abs=0.005)
    assert m.tortuosity_sq_curvature_per_px2 == pytest.approx(mean_sq_curvature, rel=0.1)


def test_short_and_closed_segments_have_no_tortuosity():
    stub = np.zeros((20, 20), dtype=bool)
    stub[10, 5:12] = True  # 6 px < MIN_SEGMENT_PX
    ring = np.zeros((60, 60), dtype=bool)
    ring[circle_perimeter(30, 30, 20)] = True
    for mask in (stub, ring):
        m = measure_vessels(mask)
        assert m.tortuosity_segments == 0 and math.isnan(m.tortuosity_arc_chord)
    assert segment_shapes(trace_segments(skeleton_graph(ring))) == []


# ---------------------------------------------------------------- graph counts

def test_plus_sign_is_one_branch_point_four_ends_four_segments():
    plus = np.zeros((81, 81), dtype=bool)
    plus[40, 10:71] = True
    plus[10:71, 40] = True
    m = measure_vessels(plus)
    assert (m.branch_points, m.end_points, m.segments, m.components) == (1, 4, 4, 1)
    assert m.skeleton_length_px == pytest.approx(120, abs=2)  # the branch point's own steps


def test_ring_is_one_loop_and_two_bars_two_components():
    ring = np.zeros((60, 60), dtype=bool)
    ring[circle_perimeter(30, 30, 20)] = True
    m = measure_vessels(ring)
    assert (m.loops, m.segments, m.end_points, m.branch_points) == (1, 1, 0, 0)
    assert m.skeleton_length_px == pytest.approx(2 * math.pi * 20, rel=0.1)
    two = np.zeros((40, 100), dtype=bool)
    two[10, 10:90] = two[30, 10:90] = True
    assert measure_vessels(two).components == 2


def test_staircase_corners_are_not_branch_points():
    stairs = np.zeros((40, 40), dtype=bool)
    for k in range(15):  # an L at every step: 4-connected staircase
        stairs[5 + 2 * k, 5 + 2 * k:8 + 2 * k] = True
        stairs[5 + 2 * k:8 + 2 * k, 7 + 2 * k] = True
    graph = skeleton_graph(stairs)
    assert graph.degree.max() <= 2


# ---------------------------------------------------------------- fractal dimension

def test_sierpinski_triangle_dimension():
    rows, cols = np.mgrid[:512, :512]
    assert box_counting_dimension((rows & cols) == 0) == pytest.approx(math.log2(3), abs=0.05)


def _koch_snowflake(depth: int, size: int) -> np.ndarray:
    corners = np.array([[0, 0], [1, 0], [0.5, -math.sqrt(3) / 2], [0, 0]])
    turn = np.array([[0.5, -math.sqrt(3) / 2], [math.sqrt(3) / 2, 0.5]])
    points = corners
    for _ in range(depth):
        refined = []
        for a, b in zip(points[:-1], points[1:]):
            third = (b - a) / 3
            refined += [a, a + third, a + third + turn @ third, a + 2 * third]
        points = np.array(refined + [points[-1]])
    points = (points - points.min(0)) / np.ptp(points, axis=0).max() * (size - 1)
    return _polyline(points[:, ::-1], (size, size))


def test_koch_snowflake_dimension():
    assert box_counting_dimension(_koch_snowflake(6, 1024)) == pytest.approx(
        math.log(4) / math.log(3), abs=0.05)


def test_line_and_filled_square_dimensions():
    line_mask = np.zeros((512, 512), dtype=bool)
    line_mask[256, :] = True
    assert box_counting_dimension(line_mask) == pytest.approx(1.0, abs=0.05)
    assert box_counting_dimension(np.ones((512, 512), dtype=bool)) == pytest.approx(2.0, abs=0.05)


def test_fractal_dimension_uses_the_fov_bounding_box():
    rows, cols = np.mgrid[:128, :128]
    padded = np.zeros((300, 300), dtype=bool)
    padded[50:178, 100:228] = (rows & cols) == 0
    fov = np.zeros_like(padded)
    fov[50:178, 100:228] = True
    assert measure_vessels(padded, fov).fractal_dimension == pytest.approx(math.log2(3), abs=1e-9)


# ---------------------------------------------------------------- empty, FOV, mm, errors

def test_empty_mask_measures_zero_or_undefined():
    m = measure_vessels(np.zeros((64, 64), dtype=bool), mm_per_pixel=0.01)
    assert (m.vessel_area_px2, m.vessel_area_fraction, m.skeleton_length_px) == (0, 0.0, 0.0)
    assert (m.segments, m.branch_points, m.end_points, m.components) == (0, 0, 0, 0)
    for value in (m.width_mean_px, m.width_median_px, m.fractal_dimension,
                  m.tortuosity_arc_chord, m.width_mean_mm):
        assert math.isnan(value)
    row = m.as_row()
    assert row["width_mean_px"] is None and row["skeleton_length_mm"] == 0.0


def test_outside_the_fov_is_background():
    mask = _bar(5)
    fov = np.zeros_like(mask)
    fov[:, :100] = True
    inside = measure_vessels(mask, fov)
    assert inside.vessel_area_px2 == 5 * 80
    assert inside.vessel_area_fraction == pytest.approx(400 / fov.sum())
    assert inside.skeleton_length_px < 80


def test_mm_given_scales_every_unit():
    m = measure_vessels(_bar(5), mm_per_pixel=0.02)
    assert m.scale_source == "given" and m.mm_per_pixel == 0.02
    assert m.width_median_mm == pytest.approx(m.width_median_px * 0.02)
    assert m.skeleton_length_mm == pytest.approx(m.skeleton_length_px * 0.02)
    assert m.vessel_area_mm2 == pytest.approx(m.vessel_area_px2 * 0.0004)
    assert m.tortuosity_sq_curvature_per_mm2 == pytest.approx(
        m.tortuosity_sq_curvature_per_px2 / 0.0004)


def test_mm_assumed_from_the_fov_width_and_angle_says_so():
    fov = np.zeros((100, 300), dtype=bool)
    fov[10:90, 50:250] = True  # 200 px wide
    mask = np.zeros_like(fov)
    mask[50, 60:240] = True
    m = measure_vessels(mask, fov, fov_degrees=45)
    assert m.scale_source == "assumed"
    assert m.mm_per_pixel == pytest.approx(45 * MM_PER_DEGREE / 200)
    assert "200 px wide" in m.scale_note and "45 degrees" in m.scale_note
    assert measure_vessels(mask, fov, mm_per_pixel=0.01, fov_degrees=45).scale_source == "given"
    none = measure_vessels(mask, fov)
    assert none.scale_source == "none" and none.as_row()["width_mean_mm"] is None


def test_small_objects_can_be_dropped_first():
    mask = _bar(5)
    mask[2:4, 2:4] = True  # a 4 px speck
    assert measure_vessels(mask).components == 2
    cleaned = measure_vessels(mask, min_object_px=10)
    assert (cleaned.components, cleaned.objects_dropped) == (1, 1)


@pytest.mark.parametrize("mask, fov, kwargs, message", [
    (np.full((8, 8), 255, np.uint8), None, {}, "binary"),
    (np.zeros((8, 8, 3), bool), None, {}, "2-D"),
    (np.zeros((8, 8), bool), np.ones((9, 8), bool), {}, "FOV is 8x9"),
    (np.zeros((8, 8), bool), np.zeros((8, 8), bool), {}, "FOV is empty"),
    (np.zeros((8, 8), bool), None, {"mm_per_pixel": -1.0}, "positive"),
    (np.zeros((8, 8), bool), None, {"min_object_px": -3}, "min_object_px"),
])
def test_bad_inputs_are_user_errors(mask, fov, kwargs, message):
    with pytest.raises(RetinasegError, match=message):
        measure_vessels(mask, fov, **kwargs)


def test_real_manual_masks_give_plausible_values(shared_data):
    from retinaseg.data import read_mask

    fov = read_mask(shared_data / "DRIVE/test/mask/01_test_mask.gif")
    first = measure_vessels(read_mask(shared_data / "DRIVE/test/1st_manual/01_manual1.gif"), fov,
                            fov_degrees=45)
    assert 0.08 < first.vessel_area_fraction < 0.2
    assert 1.3 < first.fractal_dimension < 1.7  # retinal trees: ~1.4-1.6 in the literature
    assert first.branch_points > 50 and first.components < 30
    assert 0.02 < first.mm_per_pixel < 0.03  # 45 degrees over DRIVE's ~540 px


def test_the_shape_measures_are_measure_vessels_own_numbers():
    # the artery and vein columns take these three from the lighter function
    from retinaseg.measure import shape_measures

    rng = np.random.default_rng(5)
    mask = np.zeros((240, 260), dtype=bool)
    for _ in range(12):
        points = rng.integers(10, 230, size=(4, 2))
        mask |= _polyline(points, mask.shape)
    mask |= rng.random(mask.shape) > 0.997  # specks, for the speck rule to drop
    fov = np.zeros_like(mask)
    fov[5:235, 5:255] = True
    for min_object_px in (None, 0, 20):
        full = measure_vessels(mask, fov, min_object_px=min_object_px)
        light = shape_measures(mask, fov, min_object_px=min_object_px)
        assert full.tortuosity_segments > 3
        for name, value in light.items():
            assert value == getattr(full, name), name


def test_along_vessel_mean_stays_on_its_segment_and_skips_gaps():
    from retinaseg.measure.mask_widths import along_vessel_mean

    widths = np.array([3.0, 4.0, 3.0, 4.0, np.nan, 8.0, 8.0, 8.0])
    segment_of = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    smoothed = along_vessel_mean(widths, segment_of, half=1)
    assert smoothed[:4] == pytest.approx([3.5, 10 / 3, 11 / 3, 3.5])  # a gap is not a zero
    assert np.isnan(smoothed[4])  # a profile that found no width gets none
    assert smoothed[5:] == pytest.approx([8.0, 8.0, 8.0])  # the next segment's own widths
