"""Training's device, precision, DataLoader workers and reproducibility."""
import numpy as np
import pytest
import torch


from retinaseg import RetinasegError
from retinaseg.hub.checkpoint import read_checkpoint
from retinaseg.cli import main
from retinaseg.config.schema import config_from_dict, load_config
from retinaseg.devices import grad_scaler, resolve_device, training_dtype
from retinaseg.train import EpochBatches, fit, steps_per_epoch
from retinaseg.train.data import rank_share

TINY = ["model.kwargs={base_channels: 4, depth: 2}", "data.crop_size=32",
        "data.crops_per_image=2", "data.batch_size=8", "progress=false", "threads=1"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _config(root, out, *extra):
    return load_config(None, [f"data.root={root}", f"out_dir={out}", *TINY, *extra])


def _last_weights(out) -> dict:
    return read_checkpoint(out / "last.safetensors").state_dict


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_runs_are_identical_for_any_number_of_workers(synthetic_root, tmp_path):
    fit(_config(synthetic_root, tmp_path / "w0", "epochs=2", "num_workers=0"))
    fit(_config(synthetic_root, tmp_path / "w2", "epochs=2", "num_workers=2"))
    assert _same_weights(_last_weights(tmp_path / "w0"), _last_weights(tmp_path / "w2"))
    # and a different seed is a different run (the comparison can fail)
    fit(_config(synthetic_root, tmp_path / "s1", "epochs=2", "seed=1"))
    assert not _same_weights(_last_weights(tmp_path / "w0"), _last_weights(tmp_path / "s1"))


def test_a_resumed_run_repeats_the_uninterrupted_one(synthetic_root, tmp_path):
    # A constant rate: a cosine over 2 epochs would differ from one over 3 anyway.
    fit(_config(synthetic_root, tmp_path / "straight", "epochs=3", "schedule.name=constant"))
    fit(_config(synthetic_root, tmp_path / "resumed", "epochs=2", "num_workers=1",
                "schedule.name=constant"))
    fit(_config(synthetic_root, tmp_path / "resumed", "epochs=3", "resume=true",
                "schedule.name=constant"))
    assert _same_weights(_last_weights(tmp_path / "straight"),
                         _last_weights(tmp_path / "resumed"))


def _batch_data():
    from test_train import _aligned_data

    return _aligned_data()


@pytest.mark.parametrize("rotations", [0, 3])
def test_rank_shares_of_a_batch_make_up_the_single_process_batch(rotations):
    data = _batch_data()
    cfg = config_from_dict({
        "data": {"preprocess": ["rgb"], "crop_size": 16, "crops_per_image": 3, "batch_size": 4},
        "augment": {"fixed_rotations": rotations, "rotate": 0 if rotations else 180}})
    whole = EpochBatches(data, cfg, 8)
    halves = [EpochBatches(data, cfg, 8, rank, 2) for rank in (0, 1)]
    for b in range(steps_per_epoch(data, cfg)):
        single = whole[5, b]
        joined = [torch.cat(parts) for parts in zip(*(h[5, b] for h in halves))]
        assert all(torch.equal(s, j) for s, j in zip(single, joined))
    # batches are built from their key alone: backwards, in a fresh dataset, the same
    again = EpochBatches(data, cfg, 8)
    assert torch.equal(again[5, 1][0], whole[5, 1][0])
    assert not torch.equal(again[6, 1][0], whole[5, 1][0])


def test_a_tail_batch_smaller_than_the_world_is_padded():
    assert rank_share(np.array([7]), 1, 2).tolist() == [7]
    assert [rank_share(np.arange(5), r, 2).tolist() for r in (0, 1)] == [[0, 1, 2], [3, 4]]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_the_cpu(synthetic_root, tmp_path, precision):
    # fp16 takes the gradient-scaler path a CUDA GPU without bf16 would take.
    out = tmp_path / precision
    fit(_config(synthetic_root, out, "epochs=1", f"precision={precision}", "optim.grad_clip=1.0"))
    last = read_checkpoint(out / "last.safetensors")
    assert np.isfinite(float(open(out / "log.csv").read().splitlines()[1].split(",")[2]))
    assert all(v.dtype == torch.float32 for v in last.state_dict.values()
               if v.is_floating_point())
    if precision == "fp16":
        assert last.training["scaler"]["scale"] > 0  # the scaler's state is kept for resuming


def test_precision_per_device():
    cpu = torch.device("cpu")
    assert training_dtype(cpu) is None
    assert training_dtype(cpu, "bf16") is torch.bfloat16
    assert training_dtype(cpu, "auto", bf16=True) is torch.bfloat16
    assert training_dtype(cpu, "fp16") is torch.float16
    assert not grad_scaler(cpu, torch.bfloat16).is_enabled()
    assert grad_scaler(cpu, torch.float16).is_enabled()


@pytest.mark.parametrize("override, message", [
    ("device=gpu", "device=.gpu. is not allowed: must be one of auto, cpu"),
    ("precision=fp8", "precision=.fp8. is not allowed: must be one of"),
    ("num_workers=-1", "num_workers=-1 is not allowed"),
])
def test_bad_runtime_options_are_clear_errors(synthetic_root, tmp_path, override, message):
    with pytest.raises(RetinasegError, match=message):  # refused when the config is loaded
        _config(synthetic_root, tmp_path / "x", override)
    with pytest.raises(RetinasegError, match="bf16: true asks for bf16"):
        _config(synthetic_root, tmp_path / "y", "bf16=true", "precision=fp32")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_missing_gpu_is_a_one_line_error(synthetic_root, tmp_path, capsys):
    code = main(["train", "--data-root", str(synthetic_root), "--out", str(tmp_path / "run"),
                 "--device", "cuda", "--set", "epochs=1"])
    assert code == 2
    assert "no CUDA GPU is available" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_auto_takes_the_best_device_present():
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected


@needs_cuda
def test_training_on_cuda_writes_cpu_checkpoints(synthetic_root, tmp_path):
    out = tmp_path / "cuda"
    payload = torch.load(fit(_config(synthetic_root, out, "epochs=1", "device=cuda")),
                         weights_only=False)  # no map_location: the tensors say where they are
    assert all(v.device.type == "cpu" for v in payload["state_dict"].values())
    assert payload["meta"]["threshold_source"] == "validation-f1"


@needs_cuda
def test_cuda_and_cpu_runs_agree(synthetic_root, tmp_path):
    fit(_config(synthetic_root, tmp_path / "cpu", "epochs=1", "device=cpu"))
    fit(_config(synthetic_root, tmp_path / "gpu", "epochs=1", "device=cuda", "precision=fp32"))
    cpu, gpu = _last_weights(tmp_path / "cpu"), _last_weights(tmp_path / "gpu")
    for name, value in cpu.items():
        if value.is_floating_point():
            assert torch.allclose(value, gpu[name], rtol=1e-3, atol=1e-4), name


@pytest.mark.slow
def test_a_compiled_model_trains(synthetic_root, tmp_path):
    out = tmp_path / "compiled"
    fit(_config(synthetic_root, out, "epochs=1", "compile=true"))
    assert not any(k.startswith("_orig_mod") for k in _last_weights(out))


def test_calibrate_takes_a_device(tiny_model, synthetic_root, tmp_path, capsys):
    from retinaseg.cli import build_parser

    common = ["calibrate", "--model", str(tiny_model), "--config",
              str(tiny_model.with_name("config.yaml")), "--data-root", str(synthetic_root)]
    assert main([*common, "--device", "cpu", "--out", str(tmp_path / "cpu.safetensors")]) == 0
    assert (tmp_path / "cpu.safetensors").is_file()
    assert main([*common, "--device", "tpu", "--out", str(tmp_path / "tpu.safetensors")]) == 2
    assert "device='tpu' is not allowed: must be one of auto, cpu" in capsys.readouterr().err
    assert not (tmp_path / "tpu.safetensors").exists()
    for verb in (["train"], ["study", "--config", "s.yaml"]):
        assert build_parser().parse_args([*verb, "--device", "cuda:1"]).device == "cuda:1"
