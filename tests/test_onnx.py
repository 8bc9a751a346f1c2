"""ONNX export: dynamic height and width, meta in metadata_props, the same
probabilities as PyTorch in onnxruntime."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from synthetic import synthetic_fundus  # noqa: E402

from retinaseg import RetinasegError  # noqa: E402
from retinaseg.hub.export import ExportGraph, export_onnx, load_onnx, onnx_session  # noqa: E402
from retinaseg.hub.load import load_model  # noqa: E402
from retinaseg.hub.pretrained import PRETRAINED  # noqa: E402
from retinaseg.pipeline.predict import predict_probabilities  # noqa: E402
from retinaseg.pipeline.settings import resolve_settings

TOLERANCE = 1e-4  # fp32 in both; the differences seen are about 1e-6


def test_cli_export_carries_the_meta_and_segments_like_pytorch(tiny_model, tmp_path):
    out = tmp_path / "tiny.onnx"
    exe = Path(sys.executable).with_name("retinaseg")
    result = subprocess.run([str(exe), "export", "--model", str(tiny_model), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "largest probability difference" in result.stdout
    bundle = load_model(str(tiny_model))
    props = onnx_session(out).get_modelmeta().custom_metadata_map
    assert float(props["threshold"]) == bundle.meta.threshold
    assert float(props["fov_diameter"]) == bundle.meta.fov_diameter
    assert json.loads(props["fov_range"]) == bundle.meta.fov_range
    assert json.loads(props["preprocess"]) == bundle.meta.preprocess
    assert props["tta"] == bundle.meta.tta and props["source_sha256"] == bundle.sha256
    # The whole pipeline (resampling, preprocessing, TTA, FOV) on a synthetic photo,
    # once with PyTorch and once with the ONNX file whose meta came from the file alone.
    image, _, fov = synthetic_fundus(150, 170, seed=5)
    onnx_bundle = load_onnx(out)
    assert onnx_bundle.meta == bundle.meta
    for tta in ("none", "flip"):
        expected = predict_probabilities(bundle, image, fov, resolve_settings(bundle, tta=tta))
        got = predict_probabilities(onnx_bundle, image, fov, resolve_settings(onnx_bundle, tta=tta))
        assert np.abs(got - expected).max() < TOLERANCE


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_every_shipped_model_exports_with_dynamic_height_and_width(name, tmp_path):
    bundle = load_model(name)
    report = export_onnx(bundle, tmp_path / f"{name}.onnx", name=name)
    assert report.max_difference < TOLERANCE
    session = onnx_session(report.path)
    graph = ExportGraph(bundle.module).eval()
    rng = np.random.default_rng(0)
    # a square, a batch of two, sizes off the network's stride
    for batch, height, width in [(1, 64, 64), (2, 40, 56), (1, 33, 101)]:
        x = rng.standard_normal((batch, bundle.module.in_channels, height, width), np.float32)
        with torch.inference_mode():
            expected = graph(torch.from_numpy(x))[0].numpy()
        got = session.run(["probability"], {"image": x})[0]
        assert got.shape == (batch, len(bundle.meta.outputs), height, width)  # one per output
        assert np.abs(got - expected).max() < TOLERANCE
    assert not bundle.module.training  # exporting a copy leaves the user's model alone


def test_not_an_onnx_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(RetinasegError, match="bad.onnx: not a readable ONNX model"):
        load_onnx(bad)
    with pytest.raises(RetinasegError, match="no such ONNX file"):
        load_onnx(tmp_path / "missing.onnx")


def test_export_of_an_unknown_model_writes_nothing(tmp_path, capsys):
    from retinaseg.cli import main

    out = tmp_path / "x.onnx"
    assert main(["export", "--model", "no-such-model", "--out", str(out)]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the exporter's own
def test_an_onnx_file_not_from_retinaseg_is_refused(tmp_path):
    path = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Conv2d(1, 1, 3), (torch.zeros(1, 1, 8, 8),), str(path),
                      dynamo=False)
    with pytest.raises(RetinasegError, match="not exported by retinaseg"):
        load_onnx(path)
