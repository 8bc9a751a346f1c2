"""data.source_weights (each source's share of an epoch's crops) and the lesion and haze
augmentations (augment.lesions, augment.haze)."""
from __future__ import annotations

import numpy as np
import pytest

from retinaseg import RetinasegError
from retinaseg.config.schema import AugmentConfig, load_config
from retinaseg.data.augment import photometric
from retinaseg.train.data import (
    TrainingData,
    epoch_views,
    steps_per_epoch,
    views_per_image,
)


def _data(sources):
    blank = [np.zeros((8, 8))] * len(sources)
    return TrainingData(list(blank), list(blank), list(blank), train_sources=list(sources))


def _config(*overrides):
    return load_config(None, ["data.dataset=a+b", "data.crops_per_image=4",
                              "data.batch_size=5", *overrides])


def test_without_weights_every_image_gets_crops_per_image():
    data, cfg = _data("aaab"), _config()
    assert views_per_image(data, cfg) == [4, 4, 4, 4]
    assert len(epoch_views(data, cfg)) == 16 and steps_per_epoch(data, cfg) == 4


def test_equal_source_shares_spread_over_each_sources_images():
    data, cfg = _data("aaab"), _config('data.source_weights={"*": 1}')
    assert views_per_image(data, cfg) == [3, 3, 2, 8]  # 8 crops for each source
    views = epoch_views(data, cfg)
    assert [sum(v.image == j for v in views) for j in range(4)] == [3, 3, 2, 8]
    assert len({(v.image, v.index) for v in views}) == 16  # every view its own draw
    assert steps_per_epoch(data, cfg) == 4


def test_weights_by_name_unnamed_weigh_one_and_zero_drops_a_source():
    data = _data("aaab")
    assert views_per_image(data, _config("data.source_weights={b: 3}")) == [2, 1, 1, 12]
    assert views_per_image(data, _config("data.source_weights={a: 0}")) == [0, 0, 0, 16]
    with pytest.raises(RetinasegError, match="weight 0"):  # sources not in data.dataset
        views_per_image(_data("cd"), _config("data.source_weights={a: 1, '*': 0}"))


def test_fixed_rotations_repeat_each_images_share():
    data, cfg = _data("ab"), _config('data.source_weights={"*": 1}', "augment.rotate=0",
                                     "augment.fixed_rotations=2")
    views = epoch_views(data, cfg)
    assert len(views) == 16 and {v.angle for v in views} == {0.0, 180.0}


@pytest.mark.parametrize("weights, message", [
    ("{c: 1}", "keyed by the sources of data.dataset"),
    ("{a: -1}", "weight >= 0"),
    ("{a: 0}", None),
    ("{a: 0, b: 0}", "a weight > 0 for at least one source"),
    ("{a: 0, '*': 0}", "a weight > 0 for at least one source"),
])
def test_source_weights_are_checked_when_the_config_loads(weights, message):
    if message is None:
        assert _config(f"data.source_weights={weights}").data.source_weights == {"a": 0}
        return
    with pytest.raises(RetinasegError, match=message):
        _config(f"data.source_weights={weights}")


def test_a_training_run_records_each_images_source_and_trains_with_weights(synthetic_root,
                                                                              tmp_path):
    from retinaseg.train import fit
    from retinaseg.train.data import load_training_data

    cfg = load_config(None, [f"data.root={synthetic_root}", f"out_dir={tmp_path}",
                             "data.dataset=drive+vevio", "data.fov_range=[40, 64]",
                             "data.crop_size=32", "data.crops_per_image=2",
                             'data.source_weights={"*": 1}', "epochs=1", "progress=false",
                             "model.kwargs={base_channels: 4, depth: 2}", "threads=1",
                             "augment.lesions=3", "augment.haze=0.4"])
    data = load_training_data(cfg, np.random.default_rng(0))
    assert set(data.train_sources) == {"drive", "vevio"}
    counts = views_per_image(data, cfg)
    for source in ("drive", "vevio"):
        share = sum(c for c, s in zip(counts, data.train_sources) if s == source)
        assert abs(share - sum(counts) / 2) <= 1
    fit(cfg)
    assert (tmp_path / "model.safetensors").is_file()


def _photo(seed=0):
    from synthetic import synthetic_fundus

    return synthetic_fundus(96, 96, seed)[0]


def test_lesions_and_haze_off_draw_nothing_new():
    image = _photo()
    plain = AugmentConfig(colour=0.1, blur=1.0)
    off = AugmentConfig(colour=0.1, blur=1.0, lesions=0, haze=0.0)
    a = photometric(image, plain, np.random.default_rng(3))
    b = photometric(image, off, np.random.default_rng(3))
    assert np.array_equal(a, b)


def test_lesions_add_bright_and_dark_blobs_and_repeat_for_a_seed():
    from retinaseg.data.augment import _with_lesions

    image = _photo()
    out = _with_lesions(image, 12, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    changed = np.abs(out.astype(int) - image.astype(int)).sum(axis=2) > 30
    assert 0 < changed.mean() < 0.5  # local blobs, not the whole photo
    assert np.array_equal(out, _with_lesions(image, 12, np.random.default_rng(0)))
    brighter = out.astype(int).sum(axis=2) > image.astype(int).sum(axis=2) + 30
    darker = out.astype(int).sum(axis=2) < image.astype(int).sum(axis=2) - 30
    assert brighter.any() and darker.any()
    cfg = AugmentConfig(brightness=0, contrast=0, gamma=0, lesions=5)
    results = [photometric(image, cfg, np.random.default_rng(s)) for s in range(8)]
    assert any(not np.array_equal(r, image) for r in results)  # on about half the photos
    assert any(np.array_equal(r, image) for r in results)


def test_haze_lowers_contrast():
    from retinaseg.data.augment import _hazed

    image = _photo()
    hazed = _hazed(image, 0.5, np.random.default_rng(0))
    assert hazed.shape == image.shape and hazed.dtype == np.uint8
    assert hazed[..., 1].std() < 0.6 * image[..., 1].std()


def test_lesion_and_haze_ranges_are_checked():
    with pytest.raises(RetinasegError, match="augment.lesions"):
        load_config(None, ["augment.lesions=-1"])
    with pytest.raises(RetinasegError, match="augment.haze"):
        load_config(None, ["augment.haze=1"])
