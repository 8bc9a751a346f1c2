"""The optic disc finder on drawn photos with a known disc: found where it is, its
radius near the drawn one, and refused (None, with a reason) where there is none to
see or it lies beyond the photo's edge."""
from __future__ import annotations

import numpy as np
import pytest

from retinaseg.measure.disc import expected_radius, find_disc


def fundus(size=540, disc=(270, 120), radius=40, seed=0, with_disc=True):
    """An orange disc of a FOV with noise, a bright optic disc and vessels leaving it."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:size, :size]
    fov = np.hypot(rr - size / 2, cc - size / 2) <= size / 2 - 2
    plane = 120 + rng.normal(0, 4, (size, size))
    vessels = np.zeros((size, size), dtype=bool)
    if with_disc:
        plane += 90 * (np.hypot(rr - disc[0], cc - disc[1]) <= radius)
        for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            t = np.arange(0, size)
            r = (disc[0] + t * np.sin(angle)).astype(int)
            c = (disc[1] + t * np.cos(angle)).astype(int)
            keep = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            vessels[r[keep], c[keep]] = True
        from scipy import ndimage
        vessels = ndimage.binary_dilation(vessels, iterations=3) & fov
        plane[vessels] -= 30
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[..., 0] = np.clip(plane + 40, 0, 255)
    image[..., 1] = np.clip(plane - 40, 0, 255)
    image[..., 2] = np.clip(plane - 90, 0, 255)
    image[~fov] = 0
    return image, fov, vessels


def test_a_drawn_disc_is_found_with_its_radius():
    image, fov, vessels = fundus()
    found = find_disc(image, fov, vessels)
    assert found.disc is not None, found.reason
    disc = found.disc
    assert np.hypot(disc.row - 270, disc.col - 120) < 0.25 * 40
    assert 30 < disc.radius < 50 and disc.confidence > 0.5
    assert disc.method == "brightness+convergence"


def test_without_vessels_brightness_alone_finds_it():
    image, fov, _ = fundus(disc=(200, 380), seed=1)
    disc = find_disc(image, fov).disc
    assert disc is not None and disc.method == "brightness"
    assert np.hypot(disc.row - 200, disc.col - 380) < 0.25 * 40


def test_a_disc_beyond_the_edge_or_none_at_all_gives_no_number():
    image, fov, vessels = fundus(disc=(270, 5))
    found = find_disc(image, fov, vessels)
    assert found.disc is None and "edge" in found.reason
    image, fov, _ = fundus(with_disc=False, seed=2)
    found = find_disc(image, fov)
    assert found.disc is None and found.reason


def test_the_expected_radius_is_a_share_of_the_fov_width():
    assert 38 < expected_radius(540) < 45


def test_the_disc_blur_is_scipys_gaussian_filter_to_rounding():
    from scipy import ndimage

    from retinaseg.measure.disc import gaussian_blur

    rng = np.random.default_rng(3)
    # the disc's blurs (r0/2 to 4 r0 at a 512 px working width), and kernels wider
    # than the map, where the reflection folds more than once
    for shape, sigma in (((520, 512), 155.2), ((520, 512), 19.4), ((30, 40), 100.0),
                         ((7, 5), 2.0), ((1, 9), 3.0)):
        values = rng.random(shape) * 100
        np.testing.assert_allclose(gaussian_blur(values, sigma),
                                   ndimage.gaussian_filter(values, sigma), rtol=0, atol=1e-9)


def test_the_disc_blur_is_exact_on_awkward_map_sizes():
    from scipy import ndimage

    from retinaseg.measure.disc import gaussian_blur

    rng = np.random.default_rng(4)
    # a map whose sides are not fast FFT lengths, either way round
    for shape in ((512, 547), (547, 512)):
        values = rng.random(shape) * 100
        np.testing.assert_allclose(gaussian_blur(values, 155.2),
                                   ndimage.gaussian_filter(values, 155.2), rtol=0, atol=1e-9)


def test_the_coarse_disc_blur_stays_within_half_a_percent_of_the_exact_one():
    from scipy import ndimage

    from retinaseg.measure.disc import coarse_gaussian_blur, gaussian_blur

    rng = np.random.default_rng(6)
    values = ndimage.gaussian_filter(rng.random((520, 512)) * 100, 2)
    values[:, :40] = 0  # a hard edge, as the FOV's is
    for sigma in (19.4, 38.8, 155.2, 200.0):
        exact, coarse = gaussian_blur(values, sigma), coarse_gaussian_blur(values, sigma)
        assert np.abs(coarse - exact).max() <= 0.005 * np.ptp(exact), sigma
    for sigma in (2.0, 15.9):  # too narrow to decimate: the exact blur itself
        assert np.array_equal(coarse_gaussian_blur(values, sigma), gaussian_blur(values, sigma))


def test_the_disc_at_the_edge_check_reads_the_distance_transform():
    from scipy import ndimage

    from retinaseg.measure.disc import _distance_to_outside

    rng = np.random.default_rng(7)
    for _ in range(50):
        fov = rng.random((40, 50)) > 0.05
        fov[:rng.integers(0, 10)] = False
        row, col = int(rng.integers(0, 40)), int(rng.integers(0, 50))
        exact = ndimage.distance_transform_edt(np.pad(fov, 1))[1:-1, 1:-1][row, col]
        assert _distance_to_outside(fov, row, col) == pytest.approx(exact, abs=1e-9)
