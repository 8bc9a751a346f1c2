"""The general model's two new training tools: a FOV-width range instead of one
scale, and augmentations that imitate other cameras."""
import numpy as np
import pytest

from retinaseg import RetinasegError
from retinaseg.hub.checkpoint import load_checkpoint
from retinaseg.config.schema import AugmentConfig, load_config
from retinaseg.data.augment import photometric
from retinaseg.data.geometry import seen_fov_range, target_fov_width, to_working_geometry
from retinaseg.pipeline.predict import working_scale
from retinaseg.train import fit, load_training_data
from retinaseg.utils import seed_everything

TINY = ["model.kwargs={base_channels: 4, depth: 2}", "data.crop_size=32",
        "data.crops_per_image=2", "data.batch_size=8", "progress=false", "threads=1"]
CAMERA = {"colour": 0.2, "illumination": 0.3, "blur": 1.5, "jpeg": 30, "noise": 0.02}


def _disc(size: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo ``size`` pixels square holding a bright FOV disc ``width`` wide."""
    rows, cols = np.mgrid[:size, :size]
    fov = (rows - size / 2) ** 2 + (cols - size / 2) ** 2 <= (width / 2) ** 2
    image = np.zeros((size, size, 3), np.uint8)
    image[fov] = (150, 80, 40)
    return image, fov


@pytest.mark.parametrize("width, expected", [(100, 200), (300, 300), (900, 600)])
def test_a_fov_range_clamps_each_photos_width(width, expected):
    _, fov = _disc(1000, width)
    assert target_fov_width(fov, 0.0, [200, 600]) == pytest.approx(expected, abs=2)
    assert target_fov_width(fov, 540.0) == 540.0  # without a range: the one scale


def test_working_geometry_brings_a_large_photo_only_down_to_the_range_top():
    image, fov = _disc(1000, 900)
    work_image, work_fov = to_working_geometry(image, fov, 0.0, 0, [200, 600])
    columns = np.flatnonzero(work_fov.any(axis=0))
    assert columns[-1] - columns[0] + 1 == pytest.approx(600, abs=3)
    assert work_image.shape[:2] == work_fov.shape


def test_camera_changes_off_draw_exactly_what_they_always_drew():
    image, _ = _disc(64, 50)
    plain = AugmentConfig()
    first, second = np.random.default_rng(3), np.random.default_rng(3)
    photometric(image, plain, first)
    photometric(image, AugmentConfig(colour=0, illumination=0, blur=0, jpeg=0, noise=0), second)
    assert first.random() == second.random()


@pytest.mark.parametrize("change", sorted(CAMERA))
def test_each_camera_change_changes_the_photo_and_keeps_it_a_photo(change):
    image, _ = _disc(64, 50)
    cfg = AugmentConfig(brightness=0, contrast=0, gamma=0, **{change: CAMERA[change]})
    changed = [photometric(image, cfg, np.random.default_rng(seed)) for seed in range(6)]
    assert all(c.shape == image.shape and c.dtype == np.uint8 for c in changed)
    assert any(not np.array_equal(c, image) for c in changed)


def test_the_light_field_stays_within_its_amplitude():
    image = np.full((40, 60, 3), 100, np.uint8)
    cfg = AugmentConfig(brightness=0, contrast=0, gamma=0, illumination=0.25)
    for seed in range(5):
        lit = photometric(image, cfg, np.random.default_rng(seed)).astype(float)
        assert 74 <= lit.min() and lit.max() <= 126


@pytest.mark.parametrize("key, value", [("augment.colour", 1.5), ("augment.jpeg", 99),
                                        ("augment.blur", -1), ("data.fov_range", [50, 20]),
                                        ("data.fov_range", [10, 20, 30])])
def test_bad_camera_or_range_values_are_clear_errors(synthetic_root, tmp_path, key, value):
    with pytest.raises(RetinasegError, match=key.split(".")[1]):
        load_config(None, [f"data.root={synthetic_root}", f"out_dir={tmp_path / 'x'}", *TINY,
                           f"{key}={value}"])


def test_a_model_trained_on_a_range_segments_at_its_photos_own_scale(synthetic_root, tmp_path):
    out = tmp_path / "run"
    extra = ["epochs=1", "data.dataset=chase_db1+hrf", "data.split=all", "data.fov_range=[40, 60]",
             *(f"augment.{k}={v}" for k, v in CAMERA.items())]
    cfg = load_config(None, [f"data.root={synthetic_root}", f"out_dir={out}", *TINY, *extra])
    data = load_training_data(cfg, seed_everything(0))
    widths = [np.ptp(np.flatnonzero(f.any(axis=0))) + 1 for f in data.train_fovs]
    assert all(38 <= w <= 62 for w in widths)
    fit(cfg)
    bundle = load_checkpoint(out / "model.safetensors")
    # the configured range, narrowed to the widths training saw (scale jitter included)
    seen = [max(40, min(data.fov_widths) * (1 - cfg.augment.scale)),
            min(60, max(data.fov_widths) * (1 + cfg.augment.scale))]
    assert bundle.meta.fov_range == pytest.approx(seen)
    assert 40 <= seen[0] <= seen[1] <= 60
    _, inside = _disc(200, round(sum(seen) / 2))
    _, large = _disc(400, 300)
    assert working_scale(bundle, inside) == 1.0
    assert working_scale(bundle, large) == pytest.approx(seen[1] / 300, rel=0.02)


@pytest.mark.parametrize("widths, jitter, expected", [
    ([536, 541, 920, 1280], 0.2, [512, 1280]),   # general: every scale of the range was seen
    ([894, 922, 1280], 0.2, [715.2, 1280]),      # CHASE_DB1 + HRF: DRIVE is enlarged to 715
    ([536, 930], 0.2, [512, 1116]),              # DRIVE + CHASE_DB1: HRF is reduced to 1116
    ([300], 0.0, [512, 512]),                    # all below the range: its low end
    ([2000], 0.0, [1280, 1280]),                 # all above: its high end
])
def test_the_working_range_is_narrowed_to_the_widths_training_saw(widths, jitter, expected):
    assert seen_fov_range([512, 1280], widths, jitter) == pytest.approx(expected)
    assert seen_fov_range([], widths, jitter) == []  # no range: one scale, as before


def test_calibrate_gives_an_older_model_the_range_its_training_saw(synthetic_root, tmp_path):
    from retinaseg.hub.checkpoint import load_checkpoint, save_model
    from retinaseg.train import calibrate

    out = tmp_path / "run"
    cfg = load_config(None, [f"data.root={synthetic_root}", f"out_dir={out}", *TINY, "epochs=1",
                             "data.dataset=chase_db1+hrf", "data.fov_range=[20, 60]"])
    fit(cfg)
    old = load_checkpoint(out / "model.safetensors", for_inference=False)
    old.meta.fov_range = [20, 60]  # as the model was written before the range was narrowed
    save_model(tmp_path / "old.safetensors", old.module, old.meta, config=old.config)
    meta = calibrate(tmp_path / "old.safetensors", cfg, tmp_path / "new.safetensors")
    assert meta.fov_range == load_checkpoint(out / "model.safetensors").meta.fov_range
    assert meta.fov_range != [20, 60]
