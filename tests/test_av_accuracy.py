"""The A/V scoring (retinaseg.evaluation.artery_vein, benchmarks/av_accuracy.py) on
hand-made arrays, LWNet's map combination, and a tiny run end to end on the synthetic
A/V layouts."""
import json

import numpy as np
import pytest
from av_accuracy import Maps, Row, main, score_set
from conftest import TINY_TRAINING
from synthetic import write_drive, write_drive_av, write_les_av

from retinaseg.evaluation.artery_vein import add_counts, av_counts, av_rates, score_av, with_rates

from retinaseg.data.av import ARTERY, BACKGROUND, CROSSING, UNCERTAIN, VEIN

A, V, X, U, B = ARTERY, VEIN, CROSSING, UNCERTAIN, BACKGROUND


def test_pure_pixels_in_the_fov_are_scored_by_artery_at_least_vein():
    classes = np.array([[A, A, V, V, V],
                        [X, U, A, B, V]], np.uint8)
    fov = np.ones(classes.shape, bool)
    fov[1, 2] = fov[1, 4] = False
    artery = np.array([[0.02, 0.2, 0.3, 0.6, 0.05],
                       [0.0, 1.0, 1.0, 0.0, 0.0]])
    vein = np.array([[0.01, 0.8, 0.7, 0.6, 0.9],
                     [1.0, 0.0, 0.0, 0.0, 1.0]])
    counts = av_counts(artery, vein, classes, fov)
    # (0,0) is called artery though the model barely sees a vessel there: it counts, right;
    # (0,3) is a tie, so artery: a vein wrong; the crossing, the uncertain pixel and the
    # pixels outside the FOV are not scored, whatever the maps say
    assert counts == {"artery": 2, "artery_right": 1, "vein": 3, "vein_right": 2}
    assert av_rates(counts) == {"accuracy": 3 / 5, "artery_sensitivity": 1 / 2,
                                "vein_sensitivity": 2 / 3}


def test_the_centreline_is_the_skeleton_of_the_manual_vessels():
    classes = np.zeros((5, 9), np.uint8)
    classes[1:4, 1:8] = ARTERY          # a 3 px wide artery, 7 long
    artery = np.zeros(classes.shape)
    artery[2] = 1.0                     # called artery on its middle row only
    vein = np.full(classes.shape, 0.5)
    scores = with_rates(score_av(artery, vein, classes, np.ones(classes.shape, bool)))
    assert scores["pixels"]["artery"] == 21 and scores["pixels"]["accuracy"] == 7 / 21
    # skimage thins it to (2,1)..(2,5) and (1,6): five of its six pixels on the middle row
    assert scores["centreline"]["artery"] == 6 and scores["centreline"]["accuracy"] == 5 / 6
    assert np.isnan(scores["centreline"]["vein_sensitivity"])  # no vein: undefined, not 0


def test_pooling_sums_counts_so_a_photo_weighs_by_its_pixels():
    one = {"pixels": {"artery": 1, "artery_right": 1, "vein": 0, "vein_right": 0}}
    three = {"pixels": {"artery": 0, "artery_right": 0, "vein": 3, "vein_right": 0}}
    pooled = with_rates(add_counts(one, three))["pixels"]
    assert pooled["accuracy"] == 1 / 4  # not the photos' mean, 1/2
    assert (pooled["artery_sensitivity"], pooled["vein_sensitivity"]) == (1.0, 0.0)


def test_maps_of_another_shape_are_refused():
    classes = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="one shape"):
        av_counts(np.zeros((4, 5)), np.zeros((4, 4)), classes, np.ones((4, 4), bool))


def test_lwnet_shares_its_uncertain_class_and_keeps_background_by_argmax():
    from peer_lwnet_av import av_maps

    # classes background, uncertain, artery, vein of two pixels
    probs = np.array([[0.1, 0.6], [0.4, 0.2], [0.2, 0.1], [0.3, 0.1]])[:, None, :]
    maps = av_maps(probs)
    assert np.allclose(maps.artery, [[0.4, 0.2]]) and np.allclose(maps.vein, [[0.5, 0.2]])
    assert np.allclose(maps.vessel_prob, [[0.9, 0.4]])
    assert maps.vessel_mask.tolist() == [[True, False]]


@pytest.fixture(scope="module")
def av_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("av-bench-data")
    write_drive(root)
    write_drive_av(root)
    write_les_av(root)
    return root


def _label_row(name: str, flip: bool) -> Row:
    """A row whose maps are the manual label itself (or its opposite)."""
    def predict(sample):
        artery = (sample.av == ARTERY).astype(float)
        vein = (sample.av == VEIN).astype(float)
        artery, vein = (vein, artery) if flip else (artery, vein)
        return Maps(artery, vein, sample.vessel.astype(float), sample.vessel)
    return Row(name, predict, {})


def test_a_set_is_scored_row_by_row_on_the_same_photos(av_root):
    from retinaseg.data import load_dataset

    table = score_set([_label_row("label", False), _label_row("opposite", True)],
                      load_dataset("les_av", "test", av_root)[:3])
    label, opposite = table["rows"]
    assert label["pixels"]["accuracy"] == 1.0 and opposite["pixels"]["accuracy"] == 0.0
    assert label["vessel"]["f1"] == 1.0 and len(label["photos"]) == 3
    assert label["pixels"]["artery"] == opposite["pixels"]["artery"] > 0


def test_a_tiny_av_model_is_scored_end_to_end(av_root, tmp_path):
    from retinaseg.config.schema import load_config
    from retinaseg.train import fit

    tiny = [entry for entry in TINY_TRAINING if entry != "--set"]
    model = fit(load_config(None, [f"data.root={av_root}", f"out_dir={tmp_path / 'run'}", *tiny,
                                   "epochs=1", "data.targets=av", "data.fov_range=[20, 64]"]))
    out = tmp_path / "av"
    assert main(["--model", str(model), "--data-root", str(av_root), "--sets", "drive",
                 "les_av:all", "--limit", "2", "--out", str(out), "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert [t["set"] for t in result["tables"]] == ["drive", "les_av:all"]
    row = result["tables"][1]["rows"][0]
    assert 0 <= row["pixels"]["accuracy"] <= 1 and len(row["photos"]) == 2
    assert "## LES-AV all (2 photos)" in out.with_suffix(".md").read_text()


def test_a_set_may_name_its_photos():
    from av_accuracy import only_photos, parse_set

    from retinaseg.data.registry import Dataset
    from retinaseg.data.sample import SampleFiles

    assert parse_set("drive") == ("drive", "test", None)
    assert parse_set("hrf:train@05_h,05_g") == ("hrf", "train", ["05_h", "05_g"])
    files = [SampleFiles(id=i, image=f"{i}.png") for i in ("21", "22", "23")]
    data = Dataset("drive", "train", files)
    assert only_photos(data, ["22", "21"]).ids == ["21", "22"]
    assert only_photos(data, None) is data
    with pytest.raises(SystemExit, match="drive train: no photo 99"):
        only_photos(data, ["21", "99"])
