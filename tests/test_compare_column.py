"""benchmarks/compare_column.py end to end on the synthetic HRF layout, tiny models."""
import importlib.util
import json
from pathlib import Path

import yaml

from retinaseg.models import create_model

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_column.py"
BASE = {"model": {"name": "column-bilstm", "kwargs": {"hidden_size": 4, "num_layers": 1}},
        "data": {"dataset": "hrf", "split": "train", "val_count": 2, "preprocess": ["lab"],
                 "square_size": 32, "crop_size": 0, "batch_size": 2},
        "augment": {"fixed_rotations": 2, "flip": False, "rotate": 0, "scale": 0,
                    "brightness": 0, "contrast": 0, "gamma": 0},
        "schedule": {"name": "constant"}, "epochs": 1, "fixed_threshold": 0.5,
        "progress": False, "threads": 1}


def _benchmark():
    spec = importlib.util.spec_from_file_location("compare_column", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_comparison_table_has_every_model_and_each_fused_column_model(synthetic_root, tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    study = {"base": "base.yaml", "out_dir": str(tmp_path / "runs"), "seeds": [0],
             "evaluate": {"dataset": "hrf", "split": "test"},
             "variants": {"column-bilstm": {},
                          "column-bilstm-rows+columns": {"model.kwargs.direction": "rows+columns"},
                          "unet": {"model.name": "unet",
                                   "model.kwargs": {"base_channels": 4, "depth": 2}}}}
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    out = tmp_path / "result"
    assert _benchmark().main(["--study", str(path), "--data-root", str(synthetic_root),
                              "--fusion", "rot4", "--out", str(out), "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert [r["model"] for r in result["rows"]] == [
        "column-bilstm", "column-bilstm + rotation fusion (rot4)", "column-bilstm-rows+columns",
        "column-bilstm-rows+columns + rotation fusion (rot4)", "unet"]
    for row in result["rows"]:
        assert 0 <= row["f1"] <= 1 and abs(row["fpr"] + row["specificity"] - 1) < 1e-9
        assert row["parameters"] > 0 and row["threshold"] == 0.5
    plain, fused = result["rows"][:2]
    assert fused["tta"] == "rot4" and plain["tta"] == "none"
    assert fused["parameters"] == plain["parameters"]
    unet = create_model("unet", in_channels=3, base_channels=4, depth=2)
    assert result["rows"][4]["parameters"] == sum(p.numel() for p in unet.parameters())
    both, both_fused = result["rows"][2:4]
    assert both_fused["tta"] == "rot4" and both["parameters"] == both_fused["parameters"]
    assert both["parameters"] > plain["parameters"]  # the row pass has weights of its own
    text = out.with_suffix(".md").read_text()
    assert "| column-bilstm + rotation fusion (rot4) |" in text
    assert "sittings of the study" in text and result["sittings"][0].startswith("Wall time")
    assert result["sittings"][1].endswith("3 run(s)")  # the sitting that trained the models


def test_export_ships_the_column_model_with_the_best_validation_auc(
        synthetic_root, tmp_path, monkeypatch):
    import retinaseg.hub.pretrained as pretrained
    from retinaseg.hub.checkpoint import load_checkpoint, sha256_of
    from retinaseg.study import load_study, planned_runs, run_row

    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(pretrained, "weights_dir", lambda: weights)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    study = {"base": "base.yaml", "out_dir": str(tmp_path / "runs"), "seeds": [0],
             "evaluate": {"dataset": "hrf", "split": "test"},
             "variants": {"column-bilstm": {},
                          "column-bilstm-rows+columns": {"model.kwargs.direction": "rows+columns"}}}
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    out = tmp_path / "result"
    assert _benchmark().main(["--study", str(path), "--data-root", str(synthetic_root),
                              "--fusion", "rot4", "--out", str(out), "--export", "column-test",
                              "--allow-dirty"]) == 0

    loaded = load_study(path)
    val_auc = {run.variant: run_row(loaded, run)["val_auc_roc"] for run in planned_runs(loaded)}
    best = max(val_auc, key=val_auc.get)
    exported = json.loads(out.with_suffix(".json").read_text())["exported"]
    assert exported["variant"] == best and exported["val_auc_roc"] == val_auc[best]
    shipped = load_checkpoint(weights / "column-test.safetensors", for_inference=False)
    assert shipped.meta.kwargs.get("direction", "columns") == ("rows+columns" if "rows" in best else "columns")
    # Not registered yet: the result says which hash to pin in the registry.
    assert exported["sha256"] == sha256_of(weights / "column-test.safetensors")
    assert exported["sha256"] in exported["to_pin"] and "pretrained.py" in exported["to_pin"]
    assert f"Shipped as `column-test`: {best}" in out.with_suffix(".md").read_text()
