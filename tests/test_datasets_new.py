"""The added sets (LES-AV, AV-WIDE, VEVIO), A/V labels, zone B and camera angles.

Synthetic tests build the real layouts in miniature (``synthetic.py``) and run
anywhere; ``@pytest.mark.data`` tests read ``../shared/data`` and skip without it.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from retinaseg import RetinasegError
from retinaseg.data import get_dataset_spec, list_datasets, load_dataset
from retinaseg.data.av import (ARTERY, BACKGROUND, CROSSING, MAX_OFF_CODE_FRACTION, UNCERTAIN,
                               VEIN, av_vessel, decode_av_label, read_av_label)
from retinaseg.data.registry import dataset_status
from retinaseg.data.vevio import eye_of
from retinaseg.data.zone_b import disc_from_zone_b, drive_optic_disc, read_zone_b

from synthetic import (LES_AV_ODD, RITE, SIZE, VEVIO_EYES, av_label, write_drive, write_drive_av,
                       write_hrf, write_hrf_av, zone_b_ring)

LES_AV_TEST = ["224", "240", "275", "279", "304", "318", "367", "370", "486", "529", "586"]


# --- splits ------------------------------------------------------------------------------------

def test_les_av_split_is_the_published_eleven(synthetic_root):
    assert load_dataset("les_av", "test", root=synthetic_root).ids == LES_AV_TEST
    train = load_dataset("les_av", "train", root=synthetic_root).ids
    assert train[0] == "12" and train[-1] == "119" and len(train) == 11


def test_les_av_odd_sized_photo_pairs_with_its_labels(synthetic_root):
    dataset = load_dataset("les_av", "all", root=synthetic_root)
    sample = dataset[dataset.ids.index(LES_AV_ODD[0])]
    assert sample.image.shape[:2] == sample.vessel.shape == sample.fov.shape == LES_AV_ODD[1]
    assert sample.av.shape == LES_AV_ODD[1]


def test_av_wide_halves_by_number(synthetic_root):
    assert load_dataset("av_wide", "train", root=synthetic_root).ids == [f"{i:02d}" for i in range(1, 16)]
    assert load_dataset("av_wide", "test", root=synthetic_root).ids[0] == "16"


def test_vevio_keeps_each_eye_in_one_split(synthetic_root):
    def eyes(split):
        return {eye_of(i) for i in load_dataset("vevio", split, root=synthetic_root).ids}

    assert eyes("train").isdisjoint(eyes("test"))
    assert eyes("train") == set(VEVIO_EYES[:8]) and eyes("test") == set(VEVIO_EYES[8:])
    test = load_dataset("vevio", "test", root=synthetic_root).ids
    assert sorted(test) == sorted(load_dataset("vevio", "test_frames", root=synthetic_root).ids
                                  + load_dataset("vevio", "test_mosaics", root=synthetic_root).ids)
    assert all(i.endswith("_d") for i in load_dataset("vevio", "frames", root=synthetic_root).ids)
    assert all(i.endswith("_m") for i in load_dataset("vevio", "mosaics", root=synthetic_root).ids)


def test_vevio_soft_frame_mask_is_read_not_refused(synthetic_root):
    dataset = load_dataset("vevio", "frames", root=synthetic_root)
    sample = dataset[0]  # neo02od1_d: written with a blurred edge
    assert not sample.fov_estimated and 0.4 < sample.fov.mean() < 0.8


def test_vevio_mosaic_masks_stay_strictly_binary(make_dataset):
    root, folder = make_dataset("vevio")
    path = folder / "mosaics_masks" / "mask_neo12od1_m.png"
    Image.fromarray(np.linspace(0, 255, 64 * 70).reshape(64, 70).astype(np.uint8)).save(path)
    dataset = load_dataset("vevio", "test_mosaics", root=root)
    with pytest.raises(RetinasegError, match=r"mask_neo12od1_m\.png: mask is not binary"):
        dataset[0]


def test_new_sets_are_listed_by_status(synthetic_root):
    status = {s["name"]: s for s in dataset_status(synthetic_root)}
    for name in ("les_av", "av_wide", "vevio"):
        assert name in list_datasets() and status[name]["complete"], status[name]
    assert status["vevio"]["counts"]["test_frames"] == (8, 8)


def test_names_with_hyphens_are_found():
    assert get_dataset_spec("LES-AV").name == "les_av"
    assert get_dataset_spec("av-wide").name == "av_wide"


# --- camera field of view --------------------------------------------------------------------

@pytest.mark.parametrize("name,degrees", [("drive", 45), ("chase_db1", 30), ("hrf", 45),
                                          ("stare", 35), ("reta", 50), ("les_av", 30),
                                          ("av_wide", None), ("vevio", None)])
def test_fov_degrees(name, degrees):
    spec = get_dataset_spec(name)
    assert spec.fov_degrees == degrees
    assert spec.fov_degrees_note  # a source, or why there is no angle


# --- A/V decoding ----------------------------------------------------------------------------

def _rgb(*colours):
    return np.array([colours], dtype=np.uint8)


def test_rite_colours_decode_to_classes():
    rgb = _rgb((0, 0, 0), RITE["artery"], RITE["vein"], RITE["crossing"], RITE["uncertain"])
    assert decode_av_label(rgb).tolist() == [[BACKGROUND, ARTERY, VEIN, CROSSING, UNCERTAIN]]


def test_near_colours_and_overlaps_are_tolerated_in_small_numbers():
    # as measured on the real files: anti-aliased blends (HRF-AV), magenta/cyan (DRIVE-AV)
    rgb = np.zeros((100, 100, 3), dtype=np.uint8)
    rgb[0, :5] = [(221, 0, 34), (22, 22, 253), (97, 43, 43), (255, 0, 255), (0, 255, 255)]
    classes = decode_av_label(rgb)
    # (97,43,43) is a dim red edge pixel: nearer black than red, so background
    assert classes[0, :5].tolist() == [ARTERY, VEIN, BACKGROUND, UNCERTAIN, UNCERTAIN]
    assert (classes[1:] == BACKGROUND).all()


def test_colour_between_classes_is_refused_naming_file_and_colour(tmp_path):
    rgb = av_label(np.eye(32, dtype=bool))
    rgb[3, 3] = (255, 255, 0)  # yellow: as near red, green and white
    path = tmp_path / "label.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(RetinasegError, match=r"label\.png: A/V label has colour \(255, 255, 0\)"):
        read_av_label(path)


def test_lossy_label_is_refused(tmp_path):
    rgb = np.zeros((50, 50, 3), dtype=np.uint8)
    rgb[:, :10] = (200, 10, 10)  # 20% of pixels off the code, though each is nearest red
    path = tmp_path / "label.png"
    Image.fromarray(rgb).save(path)
    assert 0.2 > MAX_OFF_CODE_FRACTION
    with pytest.raises(RetinasegError, match=r"label\.png: A/V label has 20\.00% of pixels off "
                                             r"the RITE colour code \(most common: \(200, 10, 10\)\)"):
        read_av_label(path)


def test_av_vessel_is_every_labelled_class():
    vessel = np.eye(16, dtype=bool)
    assert (av_vessel(decode_av_label(av_label(vessel))) == vessel).all()


# --- A/V labels through the loaders ----------------------------------------------------------

def test_les_av_samples_carry_av_labels_lazily(synthetic_root):
    sample = load_dataset("les_av", "test", root=synthetic_root)[0]
    assert sample.av_path.name == "224.png" and "av" not in sample.__dict__  # not read yet
    assert sample.av.dtype == np.uint8 and sample.av.shape == SIZE
    assert (av_vessel(sample.av) == sample.vessel).all()
    assert set(np.unique(sample.av)) == {BACKGROUND, ARTERY, VEIN, CROSSING, UNCERTAIN}


def test_drive_and_hrf_have_no_av_without_the_folders(synthetic_root):
    for name in ("drive", "hrf"):
        dataset = load_dataset(name, "all", root=synthetic_root)
        assert all(f.av is None for f in dataset.files)
        assert dataset[0].av is None


def test_drive_and_hrf_read_av_from_folders_beside_them(tmp_path):
    write_drive(tmp_path), write_drive_av(tmp_path), write_hrf(tmp_path), write_hrf_av(tmp_path)
    drive = load_dataset("drive", "all", root=tmp_path)
    assert len(drive) == 40 and all(f.av is not None for f in drive.files)
    assert drive.files[0].av.name == "01_test.png" and drive.files[-1].av.name == "40_training.png"
    sample = drive[0]
    assert (av_vessel(sample.av) == sample.vessel).all()
    hrf = load_dataset("hrf", "test", root=tmp_path)
    assert len(hrf) == 30 and hrf.files[0].av.name == "06_h_AVmanual.png"
    assert UNCERTAIN not in np.unique(hrf[0].av)


def test_a_photo_missing_from_the_av_folder_loads_without_av(tmp_path):
    write_drive(tmp_path), write_drive_av(tmp_path)
    (tmp_path / "DRIVE-AV" / "test" / "av" / "03_test.png").unlink()
    dataset = load_dataset("drive", "test", root=tmp_path)
    assert len(dataset) == 20 and dataset.files[2].av is None and dataset.files[3].av is not None


# --- bad files of the new loaders: one clear error naming the file ----------------------------

def _sample_with(dataset, path):
    index = next(i for i, f in enumerate(dataset.files)
                 if path in (f.image, f.vessel, f.fov, f.av, *f.observers.values()))
    return lambda: dataset[index]


BAD_FILES = [  # (dataset, file under its folder, split listing it, read it through sample.av)
    ("les_av", "vessel-segmentations/240.png", "test", False),
    ("les_av", "masks/12_mask.gif", "train", False),
    ("les_av", "arteries-and-veins/279.png", "test", True),
    ("av_wide", "manual/wide_image_03_vessels.png", "train", False),
    ("vevio", "frames_manual_01_bw/bw_neo13od1_d_black.png", "test_frames", False),
    ("vevio", "frames_masks/mask_neo02od1_d.png", "frames", False),  # a soft mask
    ("vevio", "mosaics/neo23od1_m.png", "test_mosaics", False),
]


def _read(dataset, path, through_av):
    sample = _sample_with(dataset, path)
    return (lambda: sample().av) if through_av else sample


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,relative,split,through_av", BAD_FILES)
@pytest.mark.parametrize("damage,message", [
    (lambda data: b"", "file is empty"),
    (lambda data: data[: len(data) // 2], "cannot be read as an image"),
    (lambda data: b"not an image at all" * 10, "cannot be read as an image"),
])
def test_broken_file_is_a_clear_error(make_dataset, name, relative, split, through_av,
                                      damage, message):
    root, folder = make_dataset(name)
    path = folder / relative
    path.write_bytes(damage(path.read_bytes()))
    read = _read(load_dataset(name, split, root=root), path, through_av)
    with pytest.raises(RetinasegError, match=rf"{path.name}: {message}"):
        read()


@pytest.mark.parametrize("name,relative,split,through_av", BAD_FILES)
def test_file_of_another_size_is_a_clear_error(make_dataset, name, relative, split, through_av):
    root, folder = make_dataset(name)
    path = folder / relative
    kind = "image" if "/neo" in relative and "mask" not in relative else None
    if kind:  # a photo of another size: then its labels are the ones that mismatch
        Image.open(path).resize((40, 30)).save(path)
    else:
        Image.open(path).resize((40, 30), Image.Resampling.NEAREST).save(
            path, format=Image.open(path).format)
    read = _read(load_dataset(name, split, root=root), path, through_av)
    pattern = (r"mask is \d+x\d+ but its image is 40x30" if kind else
               rf"{path.name}: (A/V label|mask) is 40x30 but its image is")
    with pytest.raises(RetinasegError, match=pattern):
        read()


def test_missing_av_label_of_les_av_names_it(make_dataset):
    root, folder = make_dataset("les_av")
    (folder / "arteries-and-veins" / "486.png").unlink()
    with pytest.raises(RetinasegError, match=r"486\.png: missing file"):
        load_dataset("les_av", "test", root=root)


def test_les_av_label_in_another_colour_code_names_the_file(make_dataset):
    root, folder = make_dataset("les_av")
    path = folder / "arteries-and-veins" / "367.png"
    rgb = np.asarray(Image.open(path)).copy()
    rgb[rgb[..., 0] == 255] = (255, 255, 0)  # arteries drawn yellow
    Image.fromarray(rgb).save(path)
    sample = _sample_with(load_dataset("les_av", "test", root=root), path)()
    with pytest.raises(RetinasegError, match=r"367\.png: A/V label has colour \(255, 255, 0\)"):
        _ = sample.av


# --- zone B ----------------------------------------------------------------------------------

def test_zone_b_fit_finds_a_cut_ring(tmp_path):
    path = tmp_path / "07_test_B.png"
    Image.fromarray(zone_b_ring(centre=(283, 60), disc_radius=40.0)).save(path)
    disc = disc_from_zone_b(read_zone_b(path))
    # cut right through (like real 07, 11, 13, 19): the ring's centroid is ~30 px off; the
    # fit is within 2 px (a cut ring loses its outer pixels on that side)
    assert disc.row == pytest.approx(283, abs=1) and disc.col == pytest.approx(60, abs=2)
    assert disc.radius == pytest.approx(40, abs=1)
    assert np.nonzero(read_zone_b(path))[1].mean() > 80  # the ring's own centroid


def test_zone_b_missing_or_empty_is_a_clear_error(tmp_path):
    with pytest.raises(RetinasegError, match=r"DRIVE-ZoneB/05_test_B\.png: missing file"):
        drive_optic_disc(tmp_path, "05")
    (tmp_path / "DRIVE-ZoneB").mkdir()
    Image.fromarray(np.zeros((20, 20, 4), dtype=np.uint8)).save(tmp_path / "DRIVE-ZoneB" / "05_test_B.png")
    with pytest.raises(RetinasegError, match=r"05_test_B\.png: zone B mask is empty"):
        drive_optic_disc(tmp_path, "05")


# --- the real datasets (skipped without ../shared/data) ---------------------------------------

REAL = {"les_av": {"train": 11, "test": 11, "all": 22},
        "av_wide": {"train": 15, "test": 15, "all": 30},
        "vevio": {"train": 16, "test": 16, "all": 32, "test_frames": 8, "test_mosaics": 8,
                  "frames": 16, "mosaics": 16}}
# mean vessel fraction per photo, as the shared data README gives it
VESSEL_FRACTION = {"les_av": 0.067, "av_wide": 0.065, "vevio": 0.045}


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_counts_and_status(shared_data, name):
    for split, count in REAL[name].items():
        assert len(load_dataset(name, split, root=shared_data)) == count
    assert {s["name"]: s for s in dataset_status(shared_data)}[name]["complete"]


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_every_sample_pairs_and_has_the_readme_vessel_fraction(shared_data, name):
    dataset = load_dataset(name, "all", root=shared_data)
    fractions = []
    for sample in dataset:  # load_sample checks every mask against its photo's size
        assert sample.vessel.shape == sample.fov.shape == sample.image.shape[:2]
        assert 0.5 < sample.fov.mean() <= 1.0
        fractions.append(sample.vessel.mean())
    assert np.mean(fractions) == pytest.approx(VESSEL_FRACTION[name], abs=0.005)


@pytest.mark.data
def test_real_les_av_image_34_is_the_large_one(shared_data):
    dataset = load_dataset("les_av", "all", root=shared_data)
    sizes = {s: load_dataset("les_av", "all", root=shared_data)[i].image.shape[:2]
             for i, s in enumerate(dataset.ids) if s in ("34", "12")}
    assert sizes == {"34": (1958, 2196), "12": (1444, 1620)}


@pytest.mark.data
def test_real_av_wide_fov_estimate_keeps_the_labelled_vessels(shared_data):
    """Measured: 99.80% of all labelled vessel pixels inside the estimate; the worst photo
    (28, eyelashes darkening the top) keeps 96.8%; 15 photos are FOV edge to edge."""
    inside = labelled = 0
    for sample in load_dataset("av_wide", "all", root=shared_data):
        assert sample.fov_estimated
        kept = np.count_nonzero(sample.vessel & sample.fov)
        assert kept >= 0.95 * np.count_nonzero(sample.vessel), sample.id
        assert 0.85 <= sample.fov.mean() <= 1.0, sample.id
        inside, labelled = inside + kept, labelled + np.count_nonzero(sample.vessel)
    assert inside >= 0.99 * labelled


@pytest.mark.data
@pytest.mark.parametrize("name,fractions", [
    # background, artery, vein, crossing, uncertain over the photos read (measured)
    ("les_av", (0.933, 0.030, 0.034, 0.001, 0.002)),
    ("drive", (0.916, 0.035, 0.043, 0.003, 0.003)),
])
def test_real_av_class_fractions(shared_data, name, fractions):
    dataset = load_dataset(name, "all", root=shared_data)
    counts = sum(np.bincount(sample.av.ravel(), minlength=5) for sample in dataset)
    assert counts / counts.sum() == pytest.approx(fractions, abs=0.002)


@pytest.mark.data
@pytest.mark.parametrize("image_id", ["11_h", "12_h", "13_h", "01_dr"])  # the blended ones, and one
def test_real_hrf_av_decodes_and_matches_the_vessels(shared_data, image_id):
    dataset = load_dataset("hrf", "all", root=shared_data)
    sample = dataset[dataset.ids.index(image_id)]
    # HRF-AV has no white; 11_h-13_h have 1, 4 and 1 anti-aliased pixels nearest white
    assert np.count_nonzero(sample.av == UNCERTAIN) <= 4
    assert (av_vessel(sample.av) == sample.vessel).mean() > 0.999


@pytest.mark.data
def test_real_drive_zone_b_gives_a_40_px_disc(shared_data):
    for number in range(1, 21):
        disc = drive_optic_disc(shared_data, f"{number:02d}")
        assert 37 < disc.radius < 42
        assert 250 < disc.row < 290 and (60 < disc.col < 130 or 180 < disc.col < 500)
