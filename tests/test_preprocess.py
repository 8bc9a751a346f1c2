import numpy as np
import pytest

from retinaseg import RetinasegError
from retinaseg.data.preprocess import pipeline_channels, preprocess


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    fov = np.zeros((40, 50), bool)
    fov[5:35, 5:45] = True
    return image, fov


@pytest.mark.parametrize("steps,channels", [
    (["green"], 1), (["grey", "clahe"], 1), (["rgb", "gamma:1.2"], 3),
    (["lab", "fov_normalise"], 3), (["green", "clahe:0.02", "gamma:0.8", "fov_normalise"], 1),
])
def test_pipelines_give_chw_float32(photo, steps, channels):
    out = preprocess(*photo, steps)
    assert out.shape == (channels, 40, 50) and out.dtype == np.float32
    assert pipeline_channels(steps) == channels
    assert np.isfinite(out).all()


def test_green_is_the_green_channel_scaled(photo):
    image, fov = photo
    assert np.allclose(preprocess(image, fov, ["green"])[0], image[..., 1] / 255.0)


def test_fov_normalise_standardises_inside_and_zeroes_outside(photo):
    image, fov = photo
    out = preprocess(image, fov, ["green", "fov_normalise"])[0]
    assert abs(out[fov].mean()) < 1e-4 and abs(out[fov].std() - 1) < 1e-3
    assert np.all(out[~fov] == 0)


def test_gamma_brightens_below_one(photo):
    image, fov = photo
    plain = preprocess(image, fov, ["green"])
    assert (preprocess(image, fov, ["green", "gamma:0.5"]) >= plain - 1e-6).all()


def test_lab_lightness_of_white_is_one():
    white = np.full((20, 20, 3), 255, np.uint8)
    out = preprocess(white, np.ones((20, 20), bool), ["lab"])
    assert np.allclose(out[0], 1.0, atol=1e-3) and np.allclose(out[1:], 0.0, atol=1e-3)


@pytest.mark.parametrize("steps,message", [
    (["sharpen"], "unknown preprocessing step"),
    (["clahe"], "must start with"),
    (["green", "grey"], "only the first"),
    (["green", "gamma:x"], "must be a finite number > 0"),
    (["green", "clahe:nan"], "must be a finite number > 0"),
])
def test_bad_pipelines_are_clear_errors(photo, steps, message):
    with pytest.raises(RetinasegError, match=message):
        preprocess(*photo, steps)


def test_clahe_in_threads_gives_the_same_numbers_as_one_thread():
    from retinaseg.data.preprocess import clahe, set_preprocess_threads

    rng = np.random.default_rng(8)
    channels = rng.random((150, 170, 3)).astype(np.float32)
    try:
        set_preprocess_threads(1)
        alone = clahe(channels)
        set_preprocess_threads(3)
        threaded = clahe(channels)
    finally:
        set_preprocess_threads(None)
    assert np.array_equal(alone, threaded)
    assert not np.array_equal(alone[..., 0], alone[..., 1])  # each channel its own
