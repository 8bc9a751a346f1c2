"""A model declares its outputs: a tiny three-output model (vessel, artery, vein) goes
through segment (API and CLI), evaluate, ONNX export and the cohort table, and every
step carries the declared maps rather than assuming one channel."""
from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import synthetic_fundus

import retinaseg
from retinaseg.cli import main
from retinaseg.errors import RetinasegError
from retinaseg.hub.checkpoint import load_checkpoint, read_checkpoint, save_model
from retinaseg.hub.meta import meta_from_dict, meta_header
from retinaseg.models import create_model

OUTPUTS = ["vessel", "artery", "vein"]


@pytest.fixture(scope="module")
def three_output_model(tiny_model, tmp_path_factory):
    """The tiny trained model's network with a three-channel head: its vessel channel
    keeps the trained weights; the artery channel is seeded at random and the vein
    channel is its opposite, so that the two split the vessels between them."""
    vessel = read_checkpoint(tiny_model)  # the unfused weights, as training wrote them
    kwargs = {**vessel.meta.kwargs, "out_channels": len(OUTPUTS)}
    torch.manual_seed(0)
    module = create_model(vessel.meta.architecture, **kwargs)
    state = module.state_dict()
    for key, value in vessel.state_dict.items():
        state[key] = value if state[key].shape == value.shape else torch.cat(
            [value, state[key][value.shape[0]:]])
    head_weight, head_bias = state["head.weight"], state["head.bias"]
    head_weight[2], head_bias[1:] = -head_weight[1], 0.0
    module.load_state_dict(state)
    meta = dataclasses.replace(vessel.meta, kwargs=kwargs, outputs=list(OUTPUTS))
    path = tmp_path_factory.mktemp("three-outputs") / "model.safetensors"
    save_model(path, module.eval(), meta)
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "eye.png"
    Image.fromarray(synthetic_fundus(96, 96, seed=3)[0]).save(path)
    return path


def test_the_api_gives_every_declared_map_and_artery_and_vein_split_the_vessels(
        three_output_model, tiny_model, photo):
    result = retinaseg.segment(photo, model=three_output_model, device="cpu")
    plain = retinaseg.segment(photo, model=tiny_model, device="cpu")
    assert result.outputs == OUTPUTS
    assert set(result.other_probabilities) == {"artery", "vein"}
    for prob in result.other_probabilities.values():
        assert prob.shape == result.mask.shape and 0 <= prob.min() and prob.max() <= 1
        assert not prob[~result.fov].any()
    assert not (result.artery & result.vein).any()
    assert np.array_equal(result.artery | result.vein, result.mask)
    assert result.artery.any() and result.vein.any()
    # The vessel channel is the trained one: the same map as the one-output model's.
    assert np.allclose(result.probabilities, plain.probabilities, atol=1e-5)
    assert plain.outputs == ["vessel"] and plain.artery is None and plain.other_masks == {}


def test_the_cohort_table_has_a_column_and_a_mask_per_declared_output(
        three_output_model, photo, tmp_path):
    out = tmp_path / "out"
    assert main(["segment", str(photo), "--model", str(three_output_model), "--device", "cpu",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert rows[0]["status"] == "ok"
    fractions = [float(rows[0][f"{name}_fraction"]) for name in ("artery", "vein")]
    assert all(0 < f < 1 for f in fractions)
    for name in ("eye_mask.png", "eye_artery_mask.png", "eye_vein_mask.png"):
        assert (out / name).is_file()
    vessel = np.asarray(Image.open(out / "eye_mask.png")) > 0
    artery = np.asarray(Image.open(out / "eye_artery_mask.png")) > 0
    assert (artery <= vessel).all() and artery.any()


def test_evaluate_scores_the_vessel_output_and_records_the_outputs(
        three_output_model, tiny_model, synthetic_root):
    three = retinaseg.evaluate(three_output_model, "drive", "test", data_root=synthetic_root,
                               device="cpu")
    one = retinaseg.evaluate(tiny_model, "drive", "test", data_root=synthetic_root,
                             device="cpu")
    assert three.model_meta["outputs"] == OUTPUTS
    assert three.pooled["f1"] == pytest.approx(one.pooled["f1"], abs=1e-4)


def test_an_onnx_export_keeps_every_output(three_output_model, photo, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", "--model", str(three_output_model), "--out", str(onnx_path)]) == 0
    torch_result = retinaseg.segment(photo, model=three_output_model, device="cpu")
    onnx_result = retinaseg.segment(photo, model=onnx_path)
    assert onnx_result.outputs == OUTPUTS
    for name in ("artery", "vein"):
        assert np.allclose(onnx_result.other_probabilities[name],
                           torch_result.other_probabilities[name], atol=1e-4)


def test_a_vessel_only_meta_is_written_as_before_the_field_existed(tiny_model):
    meta = load_checkpoint(tiny_model).meta
    assert meta.outputs == ["vessel"] and "outputs" not in meta_header(meta)


@pytest.mark.parametrize("outputs, kwargs, problem", [
    (["artery", "vessel"], {"out_channels": 2}, "vessel first"),
    (["vessel", "vessel"], {"out_channels": 2}, "distinct names"),
    (["vessel", "optic_cup"], {"out_channels": 2}, "distinct names of vessel, artery"),
    ([], {}, "vessel first"),
    (["vessel", "artery"], {}, "one name per channel the network gives (kwargs.out_channels 1)"),
])
def test_declared_outputs_that_cannot_be_are_refused_naming_the_file(
        tiny_model, outputs, kwargs, problem):
    values = dataclasses.asdict(load_checkpoint(tiny_model).meta)
    values.update(outputs=outputs, kwargs={**values["kwargs"], **kwargs})
    with pytest.raises(RetinasegError, match=r"model\.safetensors.*outputs?") as caught:
        meta_from_dict(values, tiny_model)
    assert problem in str(caught.value)


def test_an_av_model_adds_the_calibre_columns_with_reasons_and_an_av_overlay(
        three_output_model, photo, tmp_path):
    """A 96 px photo: too small for a disc or zone B, so every calibre is empty and says
    why, while the row keeps its other columns; the A/V overlay is still drawn."""
    from retinaseg.measure.calibres import AV_MEASURE_COLUMNS, CALIBRE_COLUMNS

    out = tmp_path / "out"
    assert main(["segment", str(photo), "--model", str(three_output_model), "--device", "cpu",
                 "--save", "mask,overlay", "--out", str(out)]) == 0
    row = next(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert row["status"] == "ok" and row["vessel_area_fraction"]
    assert set(CALIBRE_COLUMNS + AV_MEASURE_COLUMNS) <= set(row)
    assert row["crae_px"] == "" and row["avr_zone_c"] == ""
    assert row["calibre_note"] and row["calibre_note_zone_c"]
    assert row["artery_density"] != ""
    line = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert line["crae_um"] is None and line["calibre_note"] == row["calibre_note"]
    overlay = np.asarray(Image.open(out / "eye_av_overlay.png"))
    assert overlay.shape[:2] == (96, 96)


def test_a_vessel_only_table_has_no_calibre_columns(tiny_model, photo, tmp_path):
    out = tmp_path / "out"
    assert main(["segment", str(photo), "--model", str(tiny_model), "--device", "cpu",
                 "--out", str(out)]) == 0
    assert "crae_px" not in (out / "results.csv").read_text().splitlines()[0]
