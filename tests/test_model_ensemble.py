"""benchmarks/model_ensemble.py: two tiny real models and the mean of their maps, on
their validation images, checked against a direct computation."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def model_ensemble():
    sys.path.insert(0, str(BENCHMARKS))
    for name in ("working_scale", "model_ensemble"):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def second_model(two_camera_model, tmp_path_factory) -> Path:
    """The two-camera model with its convolution kernels nudged: another model, the same
    validation photos (batch-norm statistics are left alone: a variance must stay positive)."""
    import torch

    from retinaseg.hub.checkpoint import read_checkpoint, write_checkpoint

    checkpoint = read_checkpoint(two_camera_model)
    generator = torch.Generator().manual_seed(0)
    for tensor in checkpoint.state_dict.values():
        if tensor.is_floating_point() and tensor.dim() == 4:
            noise = torch.randn(tensor.shape, generator=generator)
            tensor.add_(0.3 * noise * tensor.abs().mean())
    path = tmp_path_factory.mktemp("second") / "model.safetensors"
    write_checkpoint(path, checkpoint)
    return path


def _run(module, models, root, out) -> dict:
    assert module.main(["--models", *map(str, models), "--data-root", str(root),
                        "--out", str(out), "--allow-dirty"]) == 0
    return json.loads(out.with_suffix(".json").read_text())


def test_the_mean_is_scored_as_the_first_model_cuts(model_ensemble, two_camera_model,
                                                   second_model, synthetic_root, tmp_path):
    from retinaseg.pipeline.cut import model_cut
    from retinaseg.data import load_dataset
    from retinaseg.pipeline.predict import predict_probabilities
    from retinaseg.metrics import confusion_counts, scores_from_counts
    from retinaseg.pipeline.postprocess import model_postprocess, postprocess_mask
    from retinaseg.hub.pretrained import load_model

    result = _run(model_ensemble, [two_camera_model, second_model], synthetic_root,
                  tmp_path / "ensemble")
    first, second = load_model(str(two_camera_model)), load_model(str(second_model))
    wanted = {entry.split(":", 1)[1] for entry in first.meta.extra["val_ids"]
              if entry.startswith("hrf:")}
    samples = [s for s in load_dataset("hrf", "train", synthetic_root) if s.id in wanted]
    assert samples
    counts = None
    for sample in samples:
        prob = (predict_probabilities(first, sample.image, sample.fov)
                + predict_probabilities(second, sample.image, sample.fov)) / 2
        mask = postprocess_mask(prob, model_cut(first.meta, prob, sample.fov), sample.fov,
                                model_postprocess(first.meta))
        photo = confusion_counts(mask, sample.vessel, sample.fov)
        counts = photo if counts is None else counts + photo
    rows = {(row["dataset"], row["member"]): row for row in result["rows"]}
    assert {member for _, member in rows} == {*result["models"], model_ensemble.MEAN}
    mean_row = rows[("hrf", model_ensemble.MEAN)]
    assert mean_row["f1"] == pytest.approx(scores_from_counts(counts)["f1"])
    # the two members differ, so the mean is a third map, not a copy of either
    members = [rows[("hrf", name)]["auc_roc"] for name in result["models"]]
    assert members[0] != members[1]
    means = result["means"][model_ensemble.MEAN]
    assert means["f1"] == pytest.approx(np.mean([row["f1"] for (_, member), row in rows.items()
                                                 if member == model_ensemble.MEAN]))


def test_a_model_averaged_with_itself_scores_as_itself(model_ensemble, two_camera_model,
                                                       synthetic_root, tmp_path):
    result = _run(model_ensemble, [two_camera_model, two_camera_model], synthetic_root,
                  tmp_path / "self")
    for dataset in result["image_counts"]:
        alone, mean = (next(r for r in result["rows"]
                            if r["dataset"] == dataset and r["member"] == member)
                       for member in (result["models"][0], model_ensemble.MEAN))
        assert mean["f1"] == pytest.approx(alone["f1"])
        assert mean["auc_roc"] == pytest.approx(alone["auc_roc"])


def test_models_validated_on_different_photos_are_refused(model_ensemble, tiny_model,
                                                          two_camera_model, synthetic_root,
                                                          tmp_path):
    with pytest.raises(SystemExit, match="validated on different photos"):
        model_ensemble.main(["--models", str(tiny_model), str(two_camera_model), "--data-root",
                             str(synthetic_root), "--out", str(tmp_path / "x"), "--allow-dirty"])
