"""Overlays checked pixel by pixel on small synthetic photos."""
import numpy as np
import pytest

from retinaseg.evaluation import overlays
from retinaseg.errors import RetinasegError
from retinaseg.evaluation.overlays import (ERROR_COLOURS, OUTLINE_COLOUR, error_overlay, mask_image,
                                probability_overlay, thumbnail)
from retinaseg.evaluation.overlays import probability_overlay as overlay

SHAPE = (40, 48)


def _disc_fov(shape=SHAPE):
    rows, cols = np.indices(shape)
    centre_r, centre_c = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    return (rows - centre_r) ** 2 + (cols - centre_c) ** 2 <= (0.45 * min(shape)) ** 2


def _photo(seed=0, shape=SHAPE):
    """A reddish fundus-like photo with every brightness up to white."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*shape, 3)).astype(np.uint8)
    image[0, 0] = 255
    return image


def _random_masks(seed=0, shape=SHAPE):
    rng = np.random.default_rng(seed)
    return rng.random(shape) < 0.3, rng.random(shape) < 0.3


def _has_colour(rgb, colour):
    return np.all(rgb == np.array(colour, dtype=np.uint8), axis=2)


def _border_by_shifts(mask):
    """Mask pixels with a 4-neighbour outside the mask (or off the image)."""
    padded = np.pad(mask, 1, constant_values=False)
    neighbours = [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    return mask & ~np.logical_and.reduce(neighbours)


# -- error_overlay -------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_error_colours_land_exactly_on_their_pixels(seed):
    image, fov = _photo(seed), _disc_fov()
    pred, truth = _random_masks(seed)
    out = error_overlay(image, pred, truth, fov)
    regions = {"true positive": pred & truth, "false positive": pred & ~truth,
               "false negative": ~pred & truth}
    for name, region in regions.items():
        painted = _has_colour(out, ERROR_COLOURS[name]) & fov
        np.testing.assert_array_equal(painted, region & fov, err_msg=name)


def test_error_colours_are_distinct_from_each_other():
    assert len(set(ERROR_COLOURS.values())) == 3


def test_true_negatives_are_dark_grey_following_the_photo():
    ramp = np.linspace(0, 255, SHAPE[1]).astype(np.uint8)
    image = np.repeat(np.tile(ramp, (SHAPE[0], 1))[..., None], 3, axis=2)
    nothing = np.zeros(SHAPE, dtype=bool)
    fov = np.ones(SHAPE, dtype=bool)
    out = error_overlay(image, nothing, nothing, fov).astype(int)
    assert np.all(out[..., 0] == out[..., 1]) and np.all(out[..., 1] == out[..., 2])
    row = out[0, :, 0]
    assert row.max() <= 100, "true negatives must stay dark"
    assert row[-1] > row[0] + 30, "the photo's anatomy must still show"
    assert np.all(np.diff(row) >= 0)


def test_error_overlay_is_darker_outside_the_fov():
    image = np.full((*SHAPE, 3), 200, dtype=np.uint8)
    nothing = np.zeros(SHAPE, dtype=bool)
    fov = _disc_fov()
    out = error_overlay(image, nothing, nothing, fov)[..., 0]
    assert out[~fov].max() < out[fov].min()


def test_error_overlay_leaves_outside_fov_uncoloured():
    image, fov = _photo(), _disc_fov()
    everything = np.ones(SHAPE, dtype=bool)
    out = error_overlay(image, everything, everything, fov)
    assert not _has_colour(out, ERROR_COLOURS["true positive"])[~fov].any()


# -- probability_overlay -------------------------------------------------------

def test_outline_pixels_are_exactly_the_mask_border():
    mask = np.zeros(SHAPE, dtype=bool)
    mask[5:15, 6:20] = True          # a block: only its rim is outline
    mask[25, 3:40] = True            # a 1-px vessel: all of it is outline
    mask[30:, 30:34] = True          # runs off the bottom edge
    rows, cols = np.indices(SHAPE)
    mask |= (rows - 33) ** 2 + (cols - 14) ** 2 <= 25  # a disc: diagonal steps stay 1 px
    image, fov = _photo(), np.ones(SHAPE, dtype=bool)
    prob = mask * 0.9 + 0.05
    out = probability_overlay(image, prob.astype(np.float32), mask, fov)
    expected = _border_by_shifts(mask)
    assert expected.sum() < mask.sum(), "the block's inside must not be outlined"
    np.testing.assert_array_equal(_has_colour(out, OUTLINE_COLOUR), expected)


def test_heat_is_stronger_where_probability_is_high():
    prob = np.tile(np.linspace(0, 1, SHAPE[1], dtype=np.float32), (SHAPE[0], 1))
    image = np.full((*SHAPE, 3), 128, dtype=np.uint8)
    nothing, fov = np.zeros(SHAPE, dtype=bool), np.ones(SHAPE, dtype=bool)
    out = probability_overlay(image, prob, nothing, fov)[0].astype(float)
    np.testing.assert_array_equal(out[0], [128, 128, 128])  # probability 0 leaves the photo
    change = np.linalg.norm(out - out[0], axis=1)
    assert np.all(np.diff(change) >= -1.0), "colour change must grow with probability"
    assert change[-1] > 4 * change[SHAPE[1] // 8]
    assert out[-1].mean() > out[SHAPE[1] // 8].mean() + 40, "high probability must be brighter"


def test_probability_overlay_is_darker_outside_the_fov():
    image = np.full((*SHAPE, 3), 200, dtype=np.uint8)
    prob, mask = np.zeros(SHAPE, dtype=np.float32), np.zeros(SHAPE, dtype=bool)
    fov = _disc_fov()
    out = probability_overlay(image, prob, mask, fov).mean(axis=2)
    assert out[~fov].max() < 0.5 * out[fov].min()


def test_probability_overlay_returns_uint8_rgb():
    image, fov = _photo(), _disc_fov()
    prob = np.random.default_rng(0).random(SHAPE).astype(np.float32)
    out = probability_overlay(image, prob, prob > 0.5, fov)
    assert out.shape == image.shape and out.dtype == np.uint8


def test_segment_overlay_uses_the_probability_style():
    image, fov = _photo(), _disc_fov()
    prob = np.random.default_rng(1).random(SHAPE).astype(np.float32)
    np.testing.assert_array_equal(overlay(image, prob, prob > 0.5, fov),
                                  probability_overlay(image, prob, prob > 0.5, fov))


# -- mask_image ----------------------------------------------------------------

def test_mask_image_white_vessels_grey_outside_fov():
    mask, _ = _random_masks()
    fov = _disc_fov()
    out = mask_image(mask, fov)
    assert out.dtype == np.uint8 and out.shape == SHAPE
    assert np.all(out[mask] == 255)
    assert np.all(out[~mask & fov] == 0)
    grey = out[~mask & ~fov]
    assert np.all(grey == grey[0]) and 30 <= grey[0] <= 110


def test_mask_image_without_fov_is_black_and_white():
    mask, _ = _random_masks()
    np.testing.assert_array_equal(mask_image(mask), np.where(mask, 255, 0))


# -- thumbnail -----------------------------------------------------------------

@pytest.mark.parametrize("shape, expected", [
    ((2336, 3504, 3), (213, 320, 3)),   # HRF, landscape
    ((3504, 2336), (320, 213)),         # greyscale, portrait
    ((584, 565, 3), (320, 310, 3)),     # DRIVE
])
def test_thumbnail_fits_the_longer_side(shape, expected):
    array = np.full(shape, 90, dtype=np.uint8)
    small = thumbnail(array)
    assert small.shape == expected and small.dtype == np.uint8
    assert abs(int(small.mean()) - 90) <= 1


def test_thumbnail_keeps_small_images_unchanged():
    image = _photo(shape=(200, 150))
    assert thumbnail(image) is image
    assert thumbnail(image, max_side=100).shape == (100, 75, 3)


def test_thumbnail_rejects_bool_masks():
    with pytest.raises(RetinasegError, match="mask_image"):
        thumbnail(np.zeros((400, 400), dtype=bool))


# -- validation ----------------------------------------------------------------

def _call_with_one_plane_too_small(function, which):
    image, fov = _photo(), _disc_fov()
    planes = [np.zeros(SHAPE, dtype=np.float32), np.zeros(SHAPE, dtype=bool), fov]
    planes[which] = planes[which][:-1]
    return function(image, *planes)


@pytest.mark.parametrize("function", [probability_overlay, error_overlay])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_shape_mismatch_raises_one_line(function, which):
    with pytest.raises(RetinasegError) as caught:
        _call_with_one_plane_too_small(function, which)
    assert "\n" not in str(caught.value) and "(39, 48)" in str(caught.value)


def test_non_rgb_image_raises():
    grey = np.zeros(SHAPE, dtype=np.uint8)
    plane = np.zeros(SHAPE, dtype=bool)
    with pytest.raises(RetinasegError, match="RGB"):
        error_overlay(grey, plane, plane, plane)


def test_mask_image_shape_mismatch_raises():
    with pytest.raises(RetinasegError):
        mask_image(np.zeros(SHAPE, dtype=bool), np.zeros((10, 10), dtype=bool))


def test_outline_of_empty_mask_is_empty():
    assert not overlays.mask_outline(np.zeros(SHAPE, dtype=bool)).any()
