import numpy as np
import torch

from retinaseg.config.schema import AugmentConfig
from retinaseg.data.augment import photometric, random_crops, whole_image_size


def _pattern(height=80, width=90, seed=0):
    rng = np.random.default_rng(seed)
    vessel = np.zeros((height, width), np.float32)
    for _ in range(6):  # thick random lines, so nearest/bilinear differences stay at edges
        y = rng.integers(5, height - 5)
        vessel[y - 2:y + 3, :] = 1
        x = rng.integers(5, width - 5)
        vessel[:, x - 2:x + 3] = 1
    fov = np.zeros((height, width), np.float32)
    fov[4:-4, 4:-4] = 1
    return torch.from_numpy(vessel), torch.from_numpy(fov)


def test_rotated_crops_keep_image_mask_and_fov_aligned():
    vessel, fov = _pattern()
    image = torch.stack([vessel, fov])  # the image *is* the masks: any misalignment shows
    cfg = AugmentConfig(rotate=180, scale=0.2, flip=True)
    crops, masks, fovs = random_crops(image, vessel, fov, 16, 48, cfg, np.random.default_rng(1))
    assert crops.shape == (16, 2, 48, 48) and masks.shape == fovs.shape == (16, 1, 48, 48)
    agree_vessel = ((crops[:, :1] > 0.5) == (masks > 0.5)).float().mean()
    agree_fov = ((crops[:, 1:] > 0.5) == (fovs > 0.5)).float().mean()
    assert agree_vessel > 0.99 and agree_fov > 0.99


def test_masks_are_rebinarised():
    vessel, fov = _pattern()
    _, masks, fovs = random_crops(vessel[None], vessel, fov, 4, 32, AugmentConfig(),
                                  np.random.default_rng(2))
    assert set(masks.unique().tolist()) <= {0.0, 1.0} and set(fovs.unique().tolist()) <= {0.0, 1.0}


def test_crops_outside_the_image_have_no_fov():
    vessel, fov = _pattern(40, 40)
    _, _, fovs = random_crops(vessel[None], vessel, fov, 8, 120, AugmentConfig(rotate=0, scale=0),
                              np.random.default_rng(3))
    # A 120 px crop of a 40 px image is mostly outside it: FOV must be 0 there.
    assert fovs.mean() < 0.15


def test_no_augmentation_reproduces_the_image():
    vessel, fov = _pattern(64, 64)
    cfg = AugmentConfig(flip=False, rotate=0, scale=0)
    crops, _, _ = random_crops(vessel[None], vessel, fov, 1, 64, cfg, np.random.default_rng(0))
    # Sampling points on pixel centres: a shifted copy, no interpolated grey values.
    values = crops.numpy()
    assert np.all(np.minimum(np.abs(values), np.abs(values - 1)) < 1e-4)


def test_photometric_changes_intensity_but_not_shape():
    image = np.full((10, 10, 3), 120, np.uint8)
    out = photometric(image, AugmentConfig(brightness=0.3, contrast=0.3, gamma=0.3),
                      np.random.default_rng(5))
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    none = AugmentConfig(brightness=0, contrast=0, gamma=0)
    assert np.array_equal(photometric(image, none, np.random.default_rng(5)), image)


def test_whole_image_size_is_a_stride_multiple_holding_the_fov():
    side = whole_image_size((584, 565), 16)
    assert side % 16 == 0 and side >= 584


def test_rotation_by_multiples_of_90_is_exact_and_turns_like_interpolation():
    from retinaseg.data.augment import rotate

    x = torch.rand(1, 2, 12, 12)
    for degrees in (90, 180, 270, -90):
        exact = rotate(x, degrees)
        assert torch.equal(exact, torch.rot90(x, -degrees // 90, (-2, -1)))
        # a hair off the right angle takes the interpolating path: same direction
        assert torch.allclose(rotate(x, degrees + 1e-9), exact, atol=1e-5)
    wide = torch.rand(1, 1, 6, 10)
    assert torch.allclose(rotate(rotate(wide, 180), 180), wide)


def test_a_whole_image_rotated_keeps_image_mask_and_fov_aligned():
    from retinaseg.data.augment import rotated_whole

    vessel, fov = _pattern(64, 72)
    image = torch.stack([vessel, fov])  # the image *is* the masks: any misalignment shows
    cfg = AugmentConfig(rotate=0, scale=0, flip=True)
    for angle in (30.0, 90.0, 225.0):
        crops, masks, fovs = rotated_whole(image, vessel, fov, angle, cfg, np.random.default_rng(4))
        assert crops.shape == (1, 2, 64, 72) and masks.shape == fovs.shape == (1, 1, 64, 72)
        assert set(masks.unique().tolist()) <= {0.0, 1.0} and set(fovs.unique().tolist()) <= {0.0, 1.0}
        assert ((crops[:, :1] > 0.5) == (masks > 0.5)).float().mean() > 0.99
        assert ((crops[:, 1:] > 0.5) == (fovs > 0.5)).float().mean() > 0.99
    # at 45 degrees the frame's corners come from outside the photo: no FOV there
    _, _, fovs = rotated_whole(image, vessel, torch.ones(64, 72), 45.0, AugmentConfig(flip=False, scale=0),
                               np.random.default_rng(0))
    assert fovs[0, 0, 0, 0] == 0 and fovs[0, 0, 32, 36] == 1
    # the same angle turns the same way as inference's rotate()
    square, _ = _pattern(40, 40)
    turned, _, _ = rotated_whole(square[None], square, square, 90.0,
                                 AugmentConfig(flip=False, scale=0), np.random.default_rng(0))
    assert torch.allclose(turned[0, 0], torch.rot90(square, -1), atol=1e-5)


def test_crops_at_a_fixed_angle_match_the_rotated_image():
    from retinaseg.data.augment import rotate

    vessel, fov = _pattern(64, 64)
    fov[:] = 0
    fov[16:48, 16:48] = 1  # crop centres far enough from the edges to stay inside the image
    cfg = AugmentConfig(rotate=0, scale=0, flip=False)
    crops, masks, _ = random_crops(vessel[None], vessel, fov, 8, 16, cfg, np.random.default_rng(6),
                                   angle=90.0)
    turned = rotate(vessel[None, None], 90.0)[0, 0]
    # every 90-degree crop is an exact window of the rotated image
    windows = turned.unfold(0, 16, 1).unfold(1, 16, 1).reshape(-1, 16, 16)
    for crop in crops[:, 0]:
        assert ((windows - crop).abs().amax(dim=(1, 2)) < 1e-5).any()
    assert torch.equal(crops, masks)
