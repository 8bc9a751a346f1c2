"""Every file and number a user hands us is checked once, at the door: a model's meta
(every field, mutated by hypothesis on a real tiny checkpoint), ONNX files built to
be bad, numeric options and config values, crop sizes against the photos."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAINING, assert_one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save
from synthetic import synthetic_fundus

from retinaseg.checks import BOOTSTRAP, JOBS, THRESHOLD, Range
from retinaseg.errors import RetinasegError
from retinaseg.hub.checkpoint import HEADER_KEY
from retinaseg.hub.meta import ModelMeta
from retinaseg.hub.meta_rules import FIELD_RULES

SRC = Path(__file__).resolve().parents[1] / "src"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "retinaseg", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin"})


def _read(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()[HEADER_KEY])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    return header, tensors


def _with_meta(source: Path, target: Path, meta: dict) -> Path:
    header, tensors = _read(source)
    target.write_bytes(save(tensors, {HEADER_KEY: json.dumps({**header, "meta": meta})}))
    return target


# --------------------------------------------------------------------------- the meta

def test_every_meta_field_has_a_rule():
    assert list(FIELD_RULES) and set(FIELD_RULES) == {f.name for f in fields(ModelMeta)}


# A value hypothesis may put in any field: JSON of every kind, with the edge cases
# (NaN, infinities, negatives, huge numbers, empty and odd strings) drawn often.
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                      st.floats(allow_nan=True, allow_infinity=True),
                      st.sampled_from([0, -1, 1, 0.5, 2, 1e-9, 1e9, 16, 540, 100000]),
                      st.text(max_size=12),
                      st.sampled_from(["", "unet", "otsu", "fixed", "flip", "rot99", "green",
                                       "lab", "gamma:nan", "none"]))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
NEUTRAL = {"threshold_source", "trained_on", "extra"}  # free text: no effect on a mask


def _mutations():
    """(field, value) for a top-level field, or ("kwargs.KEY", value) inside kwargs."""
    kwarg = st.tuples(st.sampled_from(["kwargs.depth", "kwargs.base_channels",
                                       "kwargs.in_channels", "kwargs.dropout",
                                       "kwargs.upsample", "kwargs.unknown"]),
                      st.one_of(JSON_LEAF, st.integers(-3, 70)))
    top = st.tuples(st.sampled_from(sorted(FIELD_RULES)), JSON)
    return st.one_of(top, kwarg)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> np.ndarray:
    return synthetic_fundus(96, 96, seed=3)[0]


@pytest.fixture(scope="module")
def reference(tiny_model, photo):
    from retinaseg import segment

    return segment(photo, model=str(tiny_model), device="cpu")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=_mutations())
def test_a_mutated_meta_is_refused_in_one_line_or_segments_as_before(
        tiny_model, photo, reference, tmp_path, mutation):
    from retinaseg import segment
    from retinaseg.hub.load import load_model

    key, value = mutation
    header, _ = _read(tiny_model)
    meta = json.loads(json.dumps(header["meta"]))
    if key.startswith("kwargs."):
        meta["kwargs"][key[7:]] = value
    else:
        meta[key] = value
    path = _with_meta(tiny_model, tmp_path / "mutated.safetensors", meta)
    try:
        bundle = load_model(path, device="cpu")  # the door: nothing read but the file
    except RetinasegError as exc:
        text = str(exc)
        assert text.startswith(f"{path}: ") and "\n" not in text, text
        field = key.split(".")[0]
        assert f"'{field}'" in text or "weights do not fit" in text, text
        return
    result = segment(photo, model=bundle)  # accepted: it must run, and run as before
    effect = key.split(".")[0] not in NEUTRAL and not _same_value(header["meta"], key, value)
    if not effect:
        assert np.array_equal(result.mask, reference.mask)
        assert np.array_equal(result.probabilities, reference.probabilities)
    else:  # a valid, different setting: a clean mask of the photo, probabilities finite
        assert result.mask.shape == photo.shape[:2]
        assert np.isfinite(result.probabilities).all()


def _same_value(original: dict, key: str, value) -> bool:
    if key.startswith("kwargs."):
        old = original["kwargs"].get(key[7:], _MISSING)
    else:
        old = original.get(key, _MISSING)
    return old is not _MISSING and json.dumps(old) == json.dumps(value)


_MISSING = object()


@pytest.mark.parametrize("change, field", [
    ({"threshold": float("nan")}, "threshold"), ({"threshold": 0}, "threshold"),
    ({"fov_diameter": float("nan")}, "fov_diameter"), ({"fov_diameter": -5}, "fov_diameter"),
    ({"kwargs": {"in_channels": 1, "base_channels": 4, "depth": -1}}, "kwargs"),
    ({"kwargs": {"in_channels": 1, "base_channels": 10**5, "depth": 2}}, "kwargs"),
    ({"architecture": "unet3d"}, "architecture"), ({"tta": "rot99"}, "tta"),
    ({"preprocess": ["blue"]}, "preprocess"), ({"fov_range": [50, 10]}, "fov_range"),
    ({"square_size": 3}, "square_size"),
])
def test_known_bad_metas_exit_2_naming_the_file_and_leave_nothing(tiny_model, tmp_path, change,
                                                                   field):
    header, _ = _read(tiny_model)
    path = _with_meta(tiny_model, tmp_path / "bad.safetensors", {**header["meta"], **change})
    Image.fromarray(synthetic_fundus(96, 96, seed=4)[0]).save(tmp_path / "photo.png")
    result = _cli("segment", tmp_path / "photo.png", "--model", path, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert_one_line_error(result, f"{path}: its model meta field '{field}' should be")
    assert not (tmp_path / "out").exists()  # no header-only results.csv, no empty jsonl


# --------------------------------------------------------------------------- ONNX

def _graph_file(path: Path, meta: dict, *, domain="", op="Identity", channels=1,
                external=False, batch="N", outputs=("probability", "logits")) -> Path:
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, channels, "H", "W"])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 1, "H", "W"])
            for n in outputs]
    nodes = [helper.make_node(op, ["image"], [outs[0].name], domain=domain)]
    nodes += [helper.make_node("Identity", ["image"], [o.name]) for o in outs[1:]]
    inits = []
    if external:
        weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
        weight.ClearField("float_data")
        weight.data_location = TensorProto.EXTERNAL
        weight.external_data.add(key="location", value="/etc/passwd")
        inits.append(weight)
    graph = helper.make_graph(nodes, "g", [image], outs, initializer=inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.metadata_props.add(key="retinaseg.meta", value=json.dumps(meta))
    path.write_bytes(model.SerializeToString())
    return path


ONNX_META = {"architecture": "unet", "kwargs": {"in_channels": 1, "base_channels": 4,
                                                "depth": 2},
             "preprocess": ["green"], "fov_diameter": 50.0}


@pytest.mark.parametrize("build, message", [
    (dict(domain="com.evil", op="Steal"), "domain 'com.evil'"),
    (dict(op="NotAnOperator"), "unknown operator 'NotAnOperator'"),
    (dict(external=True), "refers to data outside the file"),
    (dict(channels=3), "expected one input 'image': float32 (N, 1, H, W)"),
    (dict(batch=1), "N, H and W dynamic"),
    (dict(outputs=("probability",)), "has no output 'logits'"),
    (dict(meta={**ONNX_META, "threshold": float("nan")}), "field 'threshold' should be"),
    (dict(meta={**ONNX_META, "kwargs": {"depth": -1}}), "field 'kwargs' should be"),
])
def test_crafted_bad_onnx_files_are_refused_in_one_line(tmp_path, build, message):
    from retinaseg.hub.load import load_model

    meta = build.pop("meta", ONNX_META)
    path = _graph_file(tmp_path / "bad.onnx", meta, **build)
    with pytest.raises(RetinasegError) as caught:
        load_model(path, device="cpu")
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_well_formed_graph_passes_the_checks(tmp_path):
    from retinaseg.hub.load import load_model

    bundle = load_model(_graph_file(tmp_path / "ok.onnx", ONNX_META), device="cpu")
    assert bundle.meta.architecture == "unet" and bundle.module.in_channels == 1


def test_an_onnx_file_past_the_size_bound_is_refused_unread(tmp_path, monkeypatch):
    import retinaseg.hub.onnx_checks as checks
    from retinaseg.hub.load import load_model

    path = _graph_file(tmp_path / "big.onnx", ONNX_META)
    monkeypatch.setattr(checks, "MAX_ONNX_BYTES", path.stat().st_size - 1)
    with pytest.raises(RetinasegError, match="an ONNX model file may be at most"):
        load_model(path, device="cpu")
    assert checks.MAX_ONNX_BYTES < 256 * 2**20


# --------------------------------------------------------------------------- numbers

def test_one_range_helper_in_words_and_values():
    assert THRESHOLD.describe() == "in (0, 1]" and BOOTSTRAP.describe() == \
        "an integer in [0, 100000]"
    for bad in (math.nan, math.inf, 0, 1.5, True, "0.5", None):
        assert not THRESHOLD.contains(bad)
    assert THRESHOLD.contains(1) and JOBS.contains(3) and not JOBS.contains(2.5)
    assert Range(0, low_open=True).describe() == "> 0"
    with pytest.raises(RetinasegError, match=r"^--jobs must be an integer in \[1, 1024\], not 0$"):
        JOBS.check(0, "--jobs")


@pytest.mark.parametrize("args, fragment", [
    (["--bootstrap", "-5"], "argument --bootstrap: must be an integer in [0, 100000], not '-5'"),
    (["--bootstrap", "1e9"], "argument --bootstrap: must be an integer"),
    (["--threshold", "nan"], "argument --threshold: threshold must be in (0, 1]"),
    (["--threshold", "2"], "argument --threshold: threshold must be in (0, 1]"),
])
def test_bad_numeric_options_are_one_line_without_the_usage_block(tmp_path, args, fragment):
    result = _cli("evaluate", "--model", "unet-drive", "--dataset", "drive", "--out",
                  tmp_path / "out", *args)
    assert result.returncode == 2 and "usage:" not in result.stderr
    assert_one_line_error(result, "retinaseg: error: " + fragment)
    assert not (tmp_path / "out").exists()


def test_bootstrap_through_the_api_is_held_to_the_same_range():
    from retinaseg.evaluation.evaluate import EvalOptions

    with pytest.raises(RetinasegError, match=r"bootstrap must be an integer in \[0, 100000\]"):
        EvalOptions(bootstrap=-5)


def test_a_crop_larger_than_every_training_photo_is_refused(synthetic_root, tmp_path):
    result = _cli("train", "--data-root", synthetic_root, "--out", tmp_path / "run",
                  *TINY_TRAINING, "--set", "epochs=1", "--set", "data.crop_size=1000")
    assert result.returncode == 2
    assert_one_line_error(result, "data.crop_size=1000 is not allowed: must be at most",
                          "the longest side of the largest training photo")
    assert not (tmp_path / "run").exists()
