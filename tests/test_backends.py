"""The onnxruntime backend against torch, the reference: the same masks and cuts on
synthetic and real photos, a process that never imports torch, the graph cache."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from synthetic import synthetic_fundus  # noqa: E402

import retinaseg.pipeline.working as working  # noqa: E402
import retinaseg.pipeline.predict as torch_predict  # noqa: E402
from retinaseg import RetinasegError  # noqa: E402
from retinaseg.hub import backend as backends  # noqa: E402
from retinaseg.hub.load import load_model  # noqa: E402
from retinaseg.pipeline.segment import segment_photo  # noqa: E402
from retinaseg.pipeline.settings import resolve_settings  # noqa: E402

SAME_PIXELS = 0.999  # the bar: at least 99.9% of a photo's pixels identical
CUT_TOLERANCE = 1e-4  # fp32 on both sides; an Otsu cut moves by about 1e-7
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_graph(tiny_model, tmp_path_factory):
    """The tiny checkpoint copied with its graph beside it (STEM.onnx), as
    ``retinaseg export`` writes one."""
    from retinaseg.hub.export import export_onnx

    folder = tmp_path_factory.mktemp("beside")
    checkpoint = folder / "model.safetensors"
    shutil.copy(tiny_model, checkpoint)
    export_onnx(load_model(str(checkpoint), "cpu"), folder / "model.onnx")
    return checkpoint


def assert_same(reference, other):
    same = float((reference.mask == other.mask).mean())
    assert same >= SAME_PIXELS, same
    assert abs(reference.cut - other.cut) <= CUT_TOLERANCE
    assert np.abs(reference.prob - other.prob).max() < 1e-3


def both(checkpoint, **choices):
    torch_model = load_model(str(checkpoint), "cpu", backend="torch")
    onnx_model = load_model(str(checkpoint), "cpu", backend="onnxruntime")
    assert getattr(torch_model, "backend", "torch") == "torch"
    assert onnx_model.backend == "onnxruntime"
    return [(m, resolve_settings(m, **choices)) for m in (torch_model, onnx_model)]


@pytest.mark.parametrize("tta", ["none", "flip", "flip+rot90", "rot3"])
@pytest.mark.parametrize("threshold", [None, "otsu"])
def test_synthetic_photos_give_the_same_masks(tiny_graph, tta, threshold):
    (t, ts), (o, os_) = both(tiny_graph, tta=tta, threshold=threshold)
    for seed, (height, width) in enumerate([(150, 170), (97, 131)]):
        image, _, _ = synthetic_fundus(height, width, seed=seed)
        assert_same(segment_photo(t, image, ts), segment_photo(o, image, os_))


def test_tiles_and_resizes_are_the_same(tiny_graph, monkeypatch):
    """Tiled prediction (both backends' bound lowered) and a photo twice the model's
    scale, so its maps are resized back down with the antialiased filter."""
    monkeypatch.setattr(working, "MAX_WHOLE_IMAGE_PIXELS", 60 * 60)
    monkeypatch.setattr(torch_predict, "MAX_WHOLE_IMAGE_PIXELS", 60 * 60)
    import retinaseg.pipeline.predict_numpy as numpy_predict

    for module in (torch_predict, numpy_predict):  # 48 px tiles, 12 px overlap, both sides
        monkeypatch.setattr(module.sliding_window_logits, "__defaults__",
                            (48, 12, *module.sliding_window_logits.__defaults__[2:]))
    (t, ts), (o, os_) = both(tiny_graph, tta="flip")
    width = 2 * t.meta.fov_diameter
    image, _, _ = synthetic_fundus(int(width * 1.05), int(width * 1.1), seed=3)
    assert_same(segment_photo(t, image, ts), segment_photo(o, image, os_))


def test_auto_takes_the_graph_beside_a_checkpoint(tiny_graph, tiny_model):
    assert load_model(str(tiny_graph), "cpu", backend="auto").backend == "onnxruntime"
    assert not hasattr(load_model(str(tiny_model), "cpu", backend="auto"), "graph")


def test_a_graph_of_other_weights_is_refused(tiny_graph, tmp_path, two_camera_model):
    shutil.copy(two_camera_model, tmp_path / "model.safetensors")
    shutil.copy(tiny_graph.with_suffix(".onnx"), tmp_path / "model.onnx")
    with pytest.raises(RetinasegError, match="not exported from"):
        load_model(str(tmp_path / "model.safetensors"), "cpu", backend="onnxruntime")
    # auto falls back to torch rather than run a graph of other weights
    assert not hasattr(load_model(str(tmp_path / "model.safetensors"), "cpu", "auto"), "graph")


def test_the_cache_is_keyed_and_checked_by_hash(tmp_path, monkeypatch, onnx_cache):
    model = load_model("unet-drive", "cpu", backend="onnxruntime")  # exported once, or cached
    graph = Path(model.graph)
    assert graph == backends.cached_graph_path("unet-drive", model.sha256)
    assert graph.parent == onnx_cache / "onnx"
    copy = tmp_path / "onnx"
    copy.mkdir()
    shutil.copy(graph, copy / graph.name)
    (copy / (graph.name + ".sha256")).write_text("0" * 64 + "\n")
    monkeypatch.setenv("RETINASEG_CACHE", str(tmp_path))
    with pytest.raises(RetinasegError, match="SHA-256"):
        load_model("unet-drive", "cpu", backend="onnxruntime")


def test_torch_on_an_onnx_file_and_bf16_on_onnxruntime_are_refused(tiny_graph):
    with pytest.raises(RetinasegError, match="runs on onnxruntime"):
        load_model(str(tiny_graph.with_suffix(".onnx")), "cpu", backend="torch")
    model = load_model(str(tiny_graph.with_suffix(".onnx")))
    with pytest.raises(RetinasegError, match="torch backend"):
        resolve_settings(model, precision="bf16")


NO_TORCH = """
import sys
from retinaseg.cli import main
code = main(sys.argv[1:])
assert code == 0, code
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))
assert not loaded, loaded
print('no torch')
"""


def run_without_torch(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", NO_TORCH, *map(str, args)], env=env,
                          capture_output=True, text=True)


def test_a_segment_run_on_onnxruntime_never_imports_torch(tiny_graph, tmp_path):
    from PIL import Image

    image, _, _ = synthetic_fundus(150, 170, seed=2)
    Image.fromarray(image).save(tmp_path / "photo.png")
    done = run_without_torch("segment", tmp_path / "photo.png", "--model",
                             tiny_graph.with_suffix(".onnx"), "--out", tmp_path / "out",
                             "--save", "mask,prob,overlay", "--report", "--tta", "rot3")
    assert done.returncode == 0 and "no torch" in done.stdout, done.stderr
    assert "ran on backend onnxruntime" in done.stderr


def test_the_measurement_imports_wait_for_the_first_mask():
    """What only the measurements need is not imported with the pipeline, so that the
    worker's thread can import it while the first photo's network runs (start-up)."""
    from retinaseg.cohort.worker import DEFERRED_IMPORTS

    code = ("import sys, retinaseg.cli, retinaseg.cohort.worker, retinaseg.pipeline.segment; "
            f"print([m for m in {DEFERRED_IMPORTS!r} if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_shipped_graph_is_the_export_of_the_shipped_weights(tmp_path):
    """``weights/general.onnx`` is what exporting the pinned weights gives, byte for byte
    (a new torch that exports other bytes fails here: export again and pin the hash)."""
    from retinaseg.hub.export import export_onnx
    from retinaseg.hub.pretrained import PRETRAINED, weights_dir

    report = export_onnx(load_model("general", "cpu"), tmp_path / "g.onnx", name="general")
    digest = backends.file_sha256(report.path)
    assert digest == backends.file_sha256(weights_dir() / "general.onnx")
    assert digest == PRETRAINED.get("general").onnx_sha256
    model = load_model("general", "cpu", backend="auto")
    assert model.backend == "onnxruntime" and Path(model.graph).parent == weights_dir()


def test_a_shipped_model_runs_from_its_graph_without_torch(tmp_path):
    from PIL import Image

    image, _, _ = synthetic_fundus(600, 620, seed=4)
    Image.fromarray(image).save(tmp_path / "photo.png")
    done = run_without_torch("segment", tmp_path / "photo.png", "--out", tmp_path / "out",
                             "--device", "cpu", "--no-quality-check")
    assert done.returncode == 0 and "no torch" in done.stdout, done.stderr


@pytest.mark.data
def test_drive_test_photos_give_the_same_masks_on_both_backends(shared_data):
    """The shipped default on every DRIVE test photo, its own settings (each photo's
    Otsu cut, post-processing): torch is the reference."""
    from retinaseg.data import load_dataset

    data = load_dataset("drive", "test", shared_data)
    (t, ts), (o, os_) = both_shipped("general")
    for sample in data:
        assert_same(segment_photo(t, sample.image, ts, None), segment_photo(o, sample.image,
                                                                            os_, None))


def both_shipped(name):
    models = [load_model(name, "cpu", backend=b) for b in ("torch", "onnxruntime")]
    return [(m, resolve_settings(m)) for m in models]
