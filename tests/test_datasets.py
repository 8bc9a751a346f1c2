"""Dataset loaders against synthetic copies of the official layouts, and the real data."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from synthetic import HRF_GREY_IDS, SIZE, STARE_IDS

from retinaseg import RetinasegError
from retinaseg.data import get_dataset_spec, list_datasets, load_dataset, load_sample
from retinaseg.data.registry import dataset_status

DATASETS = list_datasets()
SPLITS = [(name, split) for name in DATASETS for split in get_dataset_spec(name).splits]
# What each layout's fixture must yield for its first sample.
EXPECTED = {  # name: (first id in "all", (H, W), observers, FOV read from disk)
    "drive": ("01", SIZE, {"2nd_manual"}, True),
    "chase_db1": ("01L", SIZE, {"2ndHO"}, False),
    "hrf": ("01_h", (64, 96), set(), True),
    "stare": ("0001", (61, 70), {"labels-vk"}, False),
    "reta": ("IDRiD_01", SIZE, set(), False),
    "les_av": ("12", SIZE, set(), True),
    "av_wide": ("01", (64, 80), set(), False),
    "vevio": ("neo02od1_d", (48, 64), set(), True),
}


def test_every_registered_layout_has_a_fixture():
    assert set(EXPECTED) == set(DATASETS)


@pytest.mark.parametrize("name,split", SPLITS)
def test_split_counts_match_the_official_release(synthetic_root, name, split):
    dataset = load_dataset(name, split, root=synthetic_root)
    assert len(dataset) == get_dataset_spec(name).expected_counts[split]
    assert len(set(dataset.ids)) == len(dataset)


@pytest.mark.parametrize("name", DATASETS)
def test_train_and_test_partition_all(synthetic_root, name):
    ids = {split: set(load_dataset(name, split, root=synthetic_root).ids)
           for split in ("train", "test", "all")}
    assert ids["train"].isdisjoint(ids["test"])
    assert ids["train"] | ids["test"] == ids["all"]


@pytest.mark.parametrize("name", DATASETS)
def test_first_sample_loads_with_binary_masks(synthetic_root, name):
    first_id, shape, observers, fov_on_disk = EXPECTED[name]
    sample = load_dataset(name, "all", root=synthetic_root)[0]
    assert sample.id == first_id
    assert sample.image.shape == (*shape, 3) and sample.image.dtype == np.uint8
    for mask in (sample.vessel, sample.fov, *sample.observers.values()):
        assert mask.shape == shape and mask.dtype == bool
    assert 0.02 < sample.vessel[sample.fov].mean() < 0.3
    assert set(sample.observers) == observers
    assert sample.fov_estimated is not fov_on_disk
    assert 0.4 < sample.fov.mean() < 0.8


def test_split_ids_follow_the_published_protocols(synthetic_root):
    def ids(name, split):
        return load_dataset(name, split, root=synthetic_root).ids

    assert ids("drive", "train") == [f"{i}" for i in range(21, 41)]
    assert ids("chase_db1", "train")[-1] == "10R" and ids("chase_db1", "test")[0] == "11L"
    assert ids("hrf", "train") == [f"{i:02d}_{c}" for c in ("h", "g", "dr") for i in range(1, 6)]
    assert ids("stare", "train") == STARE_IDS[:10]
    assert ids("stare", "test")[0] == "0162"
    assert ids("reta", "train")[-1] == "IDRiD_44" and ids("reta", "test")[0] == "IDRiD_45"


def test_drive_second_observer_is_a_palette_gif(synthetic_root):
    path = synthetic_root / "DRIVE" / "test" / "2nd_manual" / "01_manual2.gif"
    assert Image.open(path).mode == "P"
    sample = load_dataset("drive", "test", root=synthetic_root)[0]
    assert sample.observers["2nd_manual"].sum() > 0


def test_hrf_reads_upper_case_jpg_and_grey_pixel_masks(synthetic_root):
    dataset = load_dataset("hrf", "all", root=synthetic_root)
    assert dataset.files[-1].image.name == "15_dr.JPG"
    for image_id in HRF_GREY_IDS:
        sample = dataset[dataset.ids.index(image_id)]
        assert sample.vessel.dtype == bool and sample.vessel.any()


def test_hrf_accepts_a_lower_cased_extension(make_dataset):
    root, folder = make_dataset("hrf")
    (folder / "images" / "01_dr.JPG").rename(folder / "images" / "01_dr.jpg")
    dataset = load_dataset("hrf", "all", root=root)
    assert dataset.files[dataset.ids.index("01_dr")].image.name == "01_dr.jpg"


def test_stare_labels_are_pgm_in_ppm_files(synthetic_root):
    path = synthetic_root / "STARE" / "labels-ah" / "im0001.ah.ppm"
    assert path.read_bytes().startswith(b"P5\n# CREATOR: XV")
    assert load_dataset("stare", "all", root=synthetic_root)[0].vessel.any()


def test_stare_still_gzipped_says_so(make_dataset):
    root, folder = make_dataset("stare")
    image = folder / "stare-images" / "im0044.ppm"
    image.rename(image.with_name("im0044.ppm.gz"))
    with pytest.raises(RetinasegError, match=r"im0044\.ppm: missing; found im0044\.ppm\.gz"):
        load_dataset("stare", "train", root=root)


# --- RETA: split derived from the files on disk ----------------------------------------------

def test_reta_unlabelled_images_have_no_vessel_mask(synthetic_root):
    dataset = load_dataset("reta", "unlabelled", root=synthetic_root)
    assert dataset.ids[0] == "IDRiD_55"
    sample = dataset[0]
    assert sample.vessel is None and sample.fov_estimated


def test_reta_with_fewer_masks_keeps_ten_for_test(make_dataset):
    root, _ = make_dataset("reta", labelled=14, unlabelled=0)
    assert len(load_dataset("reta", "train", root=root)) == 4
    assert load_dataset("reta", "test", root=root).ids[0] == "IDRiD_05"
    status = {s["name"]: s for s in dataset_status(root)}["reta"]
    assert not status["complete"] and status["counts"]["train"] == (4, 44)


def test_reta_image_without_mask_is_an_error(make_dataset):
    root, folder = make_dataset("reta", labelled=12, unlabelled=0)
    (folder / "images" / "train" / "vessel" / "IDRiD_03_vessel.png").unlink()
    with pytest.raises(RetinasegError, match=r"IDRiD_03\.jpg: no vessel mask IDRiD_03_vessel\.png"):
        load_dataset("reta", "all", root=root)


def test_reta_mask_without_image_is_an_error(make_dataset):
    root, folder = make_dataset("reta", labelled=12, unlabelled=0)
    (folder / "images" / "train" / "img" / "IDRiD_07.jpg").unlink()
    with pytest.raises(RetinasegError, match=r"IDRiD_07_vessel\.png: vessel mask without"):
        load_dataset("reta", "all", root=root)


def test_reta_too_few_labelled_images(make_dataset):
    root, _ = make_dataset("reta", labelled=10, unlabelled=0)
    with pytest.raises(RetinasegError, match="only 10 labelled"):
        load_dataset("reta", "train", root=root)


# --- broken files: one clear error naming the file -------------------------------------------

# A file of each layout to damage: (dataset, path under the dataset folder, split that lists it).
VICTIMS = [
    ("drive", "test/2nd_manual/05_manual2.gif", "test"),
    ("chase_db1", "Image_03R_1stHO.png", "train"),
    ("hrf", "mask/07_g_mask.tif", "test"),
    ("stare", "labels-vk/im0239.vk.ppm", "test"),
    ("reta", "images/train/vessel/IDRiD_50_vessel.png", "test"),
    ("les_av", "masks/275_mask.gif", "test"),
    ("av_wide", "manual/wide_image_20_vessels.png", "test"),
    ("vevio", "mosaics_manual_01_bw/bw_neo14od1_m_black.png", "test"),
]


@pytest.mark.parametrize("name,relative,split", VICTIMS)
def test_missing_file_names_the_file(make_dataset, name, relative, split):
    root, folder = make_dataset(name)
    (folder / relative).unlink()
    with pytest.raises(RetinasegError, match=relative.rsplit("/", 1)[-1].replace(".", r"\.")):
        load_dataset(name, split, root=root)


@pytest.mark.parametrize("name,relative,split", VICTIMS)
def test_mask_of_wrong_size_names_the_file(make_dataset, name, relative, split):
    root, folder = make_dataset(name)
    path = folder / relative
    Image.open(path).resize((40, 30)).save(path, format=Image.open(path).format)
    dataset = load_dataset(name, split, root=root)
    index = next(i for i, f in enumerate(dataset.files)
                 if path in (f.vessel, f.fov, *f.observers.values()))
    with pytest.raises(RetinasegError, match=rf"{path.name}.*mask is 40x30 but its image is"):
        dataset[index]


def test_non_binary_mask_is_an_error(make_dataset):
    root, folder = make_dataset("chase_db1")
    path = folder / "Image_02L_1stHO.png"
    Image.fromarray(np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)).save(path)
    with pytest.raises(RetinasegError, match=r"Image_02L_1stHO\.png: mask is not binary"):
        load_dataset("chase_db1", "train", root=root)[2]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's note on a truncated TIFF
@pytest.mark.parametrize("name,relative,index", [("drive", "training/images/22_training.tif", 1),
                                                 ("chase_db1", "Image_02L.jpg", 2)])
@pytest.mark.parametrize("damage,message", [
    (lambda data: b"", "file is empty"),
    (lambda data: data[: len(data) // 3], "cannot be read as an image"),
])
def test_broken_image_is_an_error(make_dataset, name, relative, index, damage, message):
    root, folder = make_dataset(name)
    path = folder / relative
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(RetinasegError, match=rf"{path.name}: {message}"):
        load_dataset(name, "train", root=root)[index]


def test_unknown_split_lists_the_splits(synthetic_root):
    with pytest.raises(RetinasegError, match="splits: train, test, all, unlabelled"):
        load_dataset("reta", "val", root=synthetic_root)


# --- generic folder layout -------------------------------------------------------------------

def test_folder_pairs_files_by_stem(user_folder):
    dataset = load_dataset(str(user_folder))
    assert dataset.ids == ["a", "b", "c"] and dataset.split == "all"
    assert [f.vessel.name for f in dataset.files] == ["a.png", "b_mask.png", "c_mask.tif"]
    assert [f.fov.name for f in dataset.files] == ["a.png", "b_fov.gif", "c_mask.png"]
    sample = dataset[1]
    assert sample.vessel.any() and not sample.fov_estimated


def test_folder_without_fov_estimates_it(tmp_path):
    from synthetic import write_folder

    sample = load_dataset(str(write_folder(tmp_path, with_fov=False)))[0]
    assert sample.fov_estimated and sample.fov.any()


def test_folder_image_without_mask_names_the_image(user_folder):
    (user_folder / "masks" / "b_mask.png").unlink()
    with pytest.raises(RetinasegError, match=r"b\.jpg: no mask in .*masks"):
        load_dataset(str(user_folder))


def test_folder_mask_without_image_names_the_mask(user_folder):
    (user_folder / "masks" / "d.png").write_bytes((user_folder / "masks" / "a.png").read_bytes())
    with pytest.raises(RetinasegError, match=r"d\.png: mask without a matching image"):
        load_dataset(str(user_folder))


def test_folder_missing_fov_for_one_image(user_folder):
    (user_folder / "fov" / "c_mask.png").unlink()
    with pytest.raises(RetinasegError, match=r"c\.tif: no FOV mask"):
        load_dataset(str(user_folder))


def test_folder_two_images_with_one_stem(user_folder):
    (user_folder / "images" / "a.jpg").write_bytes(b"")
    with pytest.raises(RetinasegError, match="same file stem"):
        load_dataset(str(user_folder))


def test_folder_ignores_hidden_and_other_files(user_folder):
    (user_folder / "images" / ".DS_Store").write_bytes(b"\0")
    (user_folder / "masks" / "notes.txt").write_text("drawn by hand")
    assert len(load_dataset(str(user_folder))) == 3


def test_folder_has_only_split_all(user_folder):
    with pytest.raises(RetinasegError, match="only the split 'all'"):
        load_dataset(str(user_folder), split="test")


def test_folder_without_masks_dir(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(RetinasegError, match="no masks/ folder"):
        load_dataset(str(tmp_path))


# --- dataset_status ----------------------------------------------------------------------------

def test_status_of_complete_synthetic_root(synthetic_root):
    status = dataset_status(synthetic_root)
    assert [s["name"] for s in status] == DATASETS
    for entry in status:
        assert entry["found"] and entry["complete"] and entry["problem"] is None, entry
        assert all(found == expected for found, expected in entry["counts"].values())


def test_status_of_missing_root(tmp_path):
    for entry in dataset_status(tmp_path / "nowhere"):
        assert not entry["found"] and not entry["complete"]
        assert "not found" in entry["problem"]
        assert all(found == 0 for found, _ in entry["counts"].values())


def test_status_names_the_missing_file(make_dataset):
    root, folder = make_dataset("hrf")
    (folder / "manual1" / "09_g.tif").unlink()
    entry = {s["name"]: s for s in dataset_status(root)}["hrf"]
    assert entry["found"] and not entry["complete"]
    assert "09_g.tif: missing file" in entry["problem"]
    assert entry["counts"]["train"] == (15, 15) and entry["counts"]["test"] == (None, 30)


def test_status_does_not_decode_images(make_dataset):
    root, folder = make_dataset("chase_db1")
    (folder / "Image_01L.jpg").write_bytes(b"not an image")  # listing cannot tell
    assert {s["name"]: s for s in dataset_status(root)}["chase_db1"]["complete"]


# --- the real datasets (skipped without ../shared/data) ---------------------------------------

REAL = {"drive": ((584, 565), {"train": 20, "test": 20, "all": 40}),
        "chase_db1": ((960, 999), {"train": 20, "test": 8, "all": 28}),
        "hrf": ((2336, 3504), {"train": 15, "test": 30, "all": 45})}


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_split_counts(shared_data, name):
    for split, count in REAL[name][1].items():
        assert len(load_dataset(name, split, root=shared_data)) == count


@pytest.mark.data
@pytest.mark.parametrize("name,index", [("drive", 0), ("chase_db1", 27), ("hrf", 10)])
def test_real_sample_loads(shared_data, name, index):
    sample = load_dataset(name, "all", root=shared_data)[index]
    shape = REAL[name][0]
    assert sample.image.shape == (*shape, 3)
    assert sample.vessel.shape == shape and 0.04 < sample.vessel.mean() < 0.15
    assert sample.fov_estimated is (name == "chase_db1")
    assert 0.6 < sample.fov.mean() < 0.9


@pytest.mark.data
def test_real_hrf_grey_pixel_masks_load(shared_data):
    dataset = load_dataset("hrf", "all", root=shared_data)
    files = dataset.files[dataset.ids.index("11_h")]
    sample = load_sample(files)
    assert 0.04 < sample.vessel.mean() < 0.15


@pytest.mark.data
def test_real_status(shared_data):
    status = {s["name"]: s for s in dataset_status(shared_data)}
    assert all(status[name]["complete"] for name in REAL)
    assert not status["stare"]["found"] and not status["reta"]["found"]


def test_the_folder_layout_is_registered_like_the_published_datasets(user_folder):
    from retinaseg.data.registry import DATASETS, FOLDER_LAYOUT

    spec = DATASETS.get(FOLDER_LAYOUT)
    assert spec.folder is None and list(spec.splits) == ["all"]
    assert DATASETS.names() == sorted([*list_datasets(), FOLDER_LAYOUT])
    assert FOLDER_LAYOUT not in list_datasets()  # found by path, not under the data root
    assert len(load_dataset(str(user_folder))) == len(spec.list_files(user_folder, "all"))
