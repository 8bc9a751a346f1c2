"""Vessel calibre: the width of the wide vessels, and the FOV width it asks for."""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import line

from retinaseg.pipeline.caliber import caliber_fov_width, reference_caliber, vessel_caliber


def bars(widths: list[int], size: int = 200) -> np.ndarray:
    """Horizontal bars of the given widths (px), each 150 px long, well apart."""
    mask = np.zeros((size, size), dtype=bool)
    for row, width in zip(range(20, size, 40), widths):
        mask[row:row + width, 25:175] = True
    return mask


@pytest.mark.parametrize("width", [3, 7, 12])
def test_caliber_of_a_bar_is_close_to_its_width(width):
    assert vessel_caliber(bars([width])) == pytest.approx(width, abs=1.5)


def test_the_wide_vessels_set_the_caliber_not_the_many_thin_ones():
    many_thin = bars([2, 2, 2, 10])  # 3 of 4 centrelines are 2 px wide
    assert vessel_caliber(many_thin) > 8
    assert vessel_caliber(many_thin, quantile=10) < 4


def test_a_thin_diagonal_line_has_a_small_caliber():
    mask = np.zeros((100, 100), dtype=bool)
    mask[line(5, 5, 90, 80)] = True
    assert vessel_caliber(mask) < 3


def test_an_empty_mask_has_no_caliber_and_keeps_the_first_width():
    assert math.isnan(vessel_caliber(np.zeros((50, 50), dtype=bool)))
    assert caliber_fov_width(900, float("nan"), 10.0) == 900


def test_width_scales_the_vessels_to_the_reference_in_a_bounded_step():
    assert caliber_fov_width(1000, 20.0, 10.0) == pytest.approx(500)  # vessels twice too wide
    assert caliber_fov_width(540, 6.0, 9.0) == pytest.approx(810)
    assert caliber_fov_width(1000, 1.0, 10.0) == pytest.approx(2000)  # at most 2x either way
    assert caliber_fov_width(1000, 40.0, 10.0) == pytest.approx(500)
    assert caliber_fov_width(1000, 40.0, 10.0, max_change=8) == pytest.approx(250)


def test_reference_counts_each_dataset_once():
    # one dataset's many photos do not outweigh another's few
    assert reference_caliber({"a": [8.0] * 20, "b": [12.0, 12.0]}) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        reference_caliber({"a": [float("nan")]})
