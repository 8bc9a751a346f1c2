"""The top-level API (retinaseg.load_model / segment / evaluate / list_*), devices,
and the light start-up of the command line."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import synthetic_fundus

import retinaseg
from retinaseg import RetinasegError
from retinaseg.devices import precision_label, resolve_device
from retinaseg.evaluation.results import EvaluationResult
from retinaseg.pipeline.segment import sample_image, segment_image
from retinaseg.pipeline.settings import resolve_settings

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _imports_torch(code: str) -> bool:
    """Whether running ``code`` in a fresh interpreter imports torch."""
    probe = f"{code}\nimport sys\nprint('TORCH', 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] == "TORCH True"


def _cli(*args: str) -> str:
    """Python code running ``retinaseg ARGS`` (argparse exits after --help)."""
    return (f"from retinaseg.cli import main\ntry:\n    main({list(args)!r})\n"
            f"except SystemExit:\n    pass")


@pytest.mark.parametrize("args", [["--help"], ["segment", "--help"], ["models"]])
def test_light_verbs_do_not_import_torch(args):
    assert not _imports_torch(_cli(*args))


def test_datasets_and_import_retinaseg_do_not_import_torch(synthetic_root):
    assert not _imports_torch(_cli("datasets", "--data-root", str(synthetic_root)))
    assert not _imports_torch("import retinaseg; retinaseg.list_models(); "
                              "retinaseg.list_pretrained()")
    assert _imports_torch("import retinaseg; retinaseg.load_model")  # the probe can tell


def test_static_architecture_table_matches_the_registry():
    from retinaseg.hub.catalog import ARCHITECTURES
    from retinaseg.models import list_models

    assert sorted(ARCHITECTURES) == list_models()
    assert retinaseg.list_models("*unet*") == ["convlstm-unet", "unet"]


def test_list_pretrained_names_every_shipped_model():
    from retinaseg.hub.pretrained import PRETRAINED

    assert retinaseg.list_pretrained() == sorted(PRETRAINED)
    assert retinaseg.list_pretrained("*-drive") == ["convlstm-unet-drive", "unet-drive"]


def test_api_functions_survive_importing_their_namesake_modules():
    import retinaseg.evaluation.evaluate  # noqa: F401
    import retinaseg.pipeline.segment  # noqa: F401

    assert callable(retinaseg.segment) and retinaseg.segment.__module__ == "retinaseg.api"
    assert callable(retinaseg.evaluate) and retinaseg.evaluate.__module__ == "retinaseg.api"
    with pytest.raises(AttributeError):
        retinaseg.no_such_name


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    image, _, _ = synthetic_fundus(96, 112, seed=3)
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(image).save(path)
    return image, path


def test_segment_round_trip_from_path_array_and_pil(tiny_model, photo):
    image, path = photo
    model = retinaseg.load_model(tiny_model, device="cpu")
    result = retinaseg.segment(path, model=model)
    assert isinstance(result, retinaseg.Segmentation)
    assert result.probabilities.shape == result.mask.shape == result.fov.shape == (96, 112)
    assert result.probabilities.dtype == np.float32 and result.mask.dtype == bool
    assert result.threshold == model.meta.threshold
    assert np.array_equal(result.mask, result.probabilities >= result.threshold)
    assert np.all(result.probabilities[~result.fov] == 0)
    assert (result.device, result.precision, result.tta) == ("cpu", "fp32", model.meta.tta)
    assert result.model == model.meta and result.model_source == str(tiny_model)
    prob, mask, fov = segment_image(model, image, resolve_settings(model))  # what the CLI writes
    assert np.array_equal(result.probabilities, prob) and np.array_equal(result.fov, fov)
    for same in (image, Image.fromarray(image)):
        assert np.array_equal(retinaseg.segment(same, model=model).probabilities, prob)


def test_segment_options_threshold_fov_and_names(tiny_model, photo):
    image, _ = photo
    fov = np.zeros(image.shape[:2], bool)
    fov[20:70, 30:90] = True
    result = retinaseg.segment(image, model=str(tiny_model), device="cpu", threshold=0.9,
                               fov=fov, tta="flip")
    assert result.threshold == 0.9 and result.tta == "flip"
    assert np.array_equal(result.fov, fov) and np.all(result.probabilities[~fov] == 0)
    assert np.array_equal(result.mask, result.probabilities >= 0.9)


def test_auto_device_picks_the_best_present(tiny_model, photo):
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    model = retinaseg.load_model(tiny_model, device="auto")
    assert model.device.type == expected
    assert retinaseg.segment(photo[1], model=model).device.startswith(expected)


def test_bf16_precision_runs_on_the_cpu(tiny_model, photo):
    model = retinaseg.load_model(tiny_model, device="cpu")
    fp32 = retinaseg.segment(photo[0], model=model)
    bf16 = retinaseg.segment(photo[0], model=model, precision="bf16")
    assert bf16.precision == "bf16"
    assert np.abs(bf16.probabilities - fp32.probabilities).max() < 0.05


def test_precision_labels_per_device():
    cpu = torch.device("cpu")
    assert precision_label(cpu) == "fp32" and precision_label(cpu, "bf16") == "bf16"
    assert precision_label(cpu, "fp16") == "fp16"
    if torch.cuda.is_available():
        assert precision_label(torch.device("cuda")) in ("bf16", "fp16")


@pytest.mark.parametrize("call,message", [
    (lambda m: retinaseg.segment(np.zeros((64, 64), np.uint8), model=m), "(H, W, 3) uint8"),
    (lambda m: retinaseg.segment(np.zeros((64, 64, 3), np.float32), model=m), "(H, W, 3) uint8"),
    (lambda m: retinaseg.segment([1, 2, 3], model=m), "file path, a numpy RGB array"),
    (lambda m: retinaseg.segment(np.zeros((64, 64, 3), np.uint8), model=42), "model must be"),
    (lambda m: retinaseg.segment("missing.png", model=m), "missing.png: no such file"),
    (lambda m: retinaseg.segment(np.zeros((64, 64, 3), np.uint8), model=m,
                                 fov=np.ones((5, 5), bool)), "fov is 5x5"),
    (lambda m: retinaseg.load_model("unet-drive", device="gpu"), "unknown device 'gpu'"),
])
def test_api_mistakes_are_clear_errors(tiny_model, call, message):
    model = retinaseg.load_model(tiny_model, device="cpu")
    with pytest.raises(RetinasegError, match=re.escape(message)):
        call(model)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_without_a_gpu_is_one_clear_error(tiny_model):
    with pytest.raises(RetinasegError, match="no CUDA GPU"):
        retinaseg.load_model(tiny_model, device="cuda")


def test_evaluate_wrapper_matches_evaluate_model(tiny_model, synthetic_root):
    from retinaseg.data import load_dataset
    from retinaseg.evaluation.evaluate import evaluate_model
    from retinaseg.hub.load import load_model

    result = retinaseg.evaluate(tiny_model, "drive", "test", data_root=synthetic_root,
                                device="cpu")
    direct = evaluate_model(load_model(str(tiny_model)),
                            load_dataset("drive", "test", synthetic_root))
    assert isinstance(result, EvaluationResult)
    assert result.pooled == direct.pooled and result.images == direct.images > 0
    assert (result.device, result.precision) == ("cpu", "fp32")
    assert EvaluationResult.from_dict(result.to_dict()).device == "cpu"  # kept in metrics.json
    with pytest.raises(RetinasegError, match="unknown dataset 'nosuch'"):
        retinaseg.evaluate(tiny_model, "nosuch", data_root=synthetic_root)


def test_shipped_model_through_the_api_equals_the_cli_path():
    image = sample_image()
    result = retinaseg.segment(image, model="unet-drive", device="cpu", backend="torch")
    bundle = retinaseg.load_model("unet-drive", device="cpu")
    prob, mask, _ = segment_image(bundle, image, resolve_settings(bundle))
    assert np.array_equal(result.probabilities, prob) and np.array_equal(result.mask, mask)
    assert result.model.architecture == "unet" and 0.03 < result.mask.mean() < 0.2


def test_cli_device_option(tiny_model, photo, tmp_path):
    from retinaseg.cli import main

    assert main(["segment", str(photo[1]), "--model", str(tiny_model), "--device", "cpu",
                 "--precision", "fp32", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "photo_mask.png").is_file()
    # a misspelt device is a usage error: one line, exit 2
    assert main(["segment", str(photo[1]), "--device", "gpu"]) == 2


def test_cli_evaluate_records_device_and_precision(tiny_model, synthetic_root, tmp_path):
    from retinaseg.cli import main

    assert main(["evaluate", "--model", str(tiny_model), "--dataset", "drive", "--data-root",
                 str(synthetic_root), "--device", "cpu", "--bf16", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert (result["device"], result["precision"], result["bf16"]) == ("cpu", "bf16", True)


# --- CUDA: skipped cleanly without a GPU -------------------------------------------------

@needs_cuda
def test_cuda_fp32_matches_the_cpu(tiny_model, photo):
    cpu = retinaseg.segment(photo[0], model=retinaseg.load_model(tiny_model, device="cpu"))
    gpu = retinaseg.segment(photo[0], model=retinaseg.load_model(tiny_model, device="cuda"),
                            precision="fp32")
    assert gpu.device.startswith("cuda") and gpu.precision == "fp32"
    assert isinstance(gpu.probabilities, np.ndarray)
    assert np.abs(gpu.probabilities - cpu.probabilities).max() < 1e-3


@needs_cuda
@pytest.mark.parametrize("tta", ["none", "flip+rot90", "rot12"])
def test_cuda_auto_precision_shipped_model(tta):
    image = sample_image()
    cpu = retinaseg.segment(image, model="unet-drive", device="cpu", tta=tta)
    gpu = retinaseg.segment(image, model="unet-drive", device="cuda", tta=tta)
    assert gpu.precision in ("bf16", "fp16")
    assert np.abs(gpu.probabilities - cpu.probabilities).max() < 0.1
    assert (gpu.mask != cpu.mask).mean() < 0.01


@needs_cuda
def test_cuda_tiles_accumulate_on_the_device(monkeypatch):
    import retinaseg.pipeline.predict as inference
    from retinaseg.pipeline.predict import predict_tensor

    monkeypatch.setattr(inference, "MAX_WHOLE_IMAGE_PIXELS", 100 * 100)
    bundle = retinaseg.load_model("unet-drive", device="cuda")
    x = torch.randn(1, 300, 260)
    gpu = predict_tensor(bundle.module, x, precision="fp32")
    assert gpu.device.type == "cpu"  # probabilities come back to the CPU
    cpu = predict_tensor(bundle.to("cpu").module, x)
    assert (gpu - cpu).abs().max() < 1e-3


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_the_cpu_runs_the_lstm_model(precision):
    from retinaseg.models import create_model
    from retinaseg.pipeline.predict import predict_tensor

    # oneDNN's CPU LSTM cannot run under bf16/fp16 autocast on CPUs without bf16
    # instructions: the model steps its LSTMs out of autocast there.
    model = create_model("column-bilstm", in_channels=3, hidden_size=4, num_layers=2,
                         direction="rows+columns").eval()
    x = torch.randn(3, 20, 24)
    fp32 = predict_tensor(model, x)
    reduced = predict_tensor(model, x, precision=precision)
    assert (reduced - fp32).abs().max() < 0.05
