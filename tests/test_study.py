"""Training studies end to end on the synthetic layouts, with a tiny network."""
import csv

import pytest
import yaml

from retinaseg import RetinasegError
from retinaseg.cli import main
from retinaseg.study import load_study, planned_runs

BASE = {"model": {"name": "convlstm-unet", "kwargs": {"base_channels": 4, "depth": 2}},
        "data": {"dataset": "drive", "crop_size": 32, "crops_per_image": 2},
        "epochs": 1, "progress": False, "threads": 1}


def _study(tmp_path, **changes):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    study = {"base": "base.yaml", "out_dir": str(tmp_path / "out"), "seeds": [0],
             "variants": {"baseline": {}, "sgd-step": {"optim.name": "sgd_nesterov",
                                                       "schedule.name": "step"}},
             "repeat": {"variants": ["baseline"], "seeds": [1]}, **changes}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_study_trains_evaluates_tables_and_skips_finished_runs(synthetic_root, tmp_path, capsys):
    path = _study(tmp_path, pretrain={"set": {"data.dataset": "chase_db1+hrf",
                                              "data.split": "all", "data.fov_diameter": 48}},
                  variants={"baseline": {},
                            "sgd-step": {"optim.name": "sgd_nesterov", "schedule.name": "step"},
                            "frozen": {"init_from": "@pretrain", "freeze_encoder": True}})
    assert main(["study", "--config", str(path), "--data-root", str(synthetic_root)]) == 0
    out = tmp_path / "out"
    with open(out / "study.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["variant"], r["seed"]) for r in rows] == [
        ("baseline", "0"), ("sgd-step", "0"), ("frozen", "0"), ("baseline", "1")]
    assert all(0 < float(r["test_auc_roc"]) <= 1 for r in rows)
    assert (out / "pretrain" / "model.pt").is_file()
    for r in rows:
        assert (out / r["report"]).is_file()
        assert (out / f"{r['variant']}-seed{r['seed']}" / "eval" / "report_files" / "roc.png").is_file()
    table = (out / "study.md").read_text()
    assert "| baseline | 2 |" in table and " ± " in table  # two seeds: mean ± sd
    assert "Wall time" in table and "in 1 sitting(s)" in table
    capsys.readouterr()
    # a rerun trains nothing; a run whose evaluation is missing is redone alone
    (out / "sgd-step-seed0" / "eval" / "metrics.json").unlink()
    assert main(["study", "--config", str(path), "--data-root", str(synthetic_root)]) == 0
    said = capsys.readouterr().out
    assert "finished earlier, kept: baseline-seed0, frozen-seed0, baseline-seed1" in said
    assert "sgd-step-seed0: training" in said


def test_ranked_repeat_adds_a_seed_to_the_best_variant_by_validation_auc(synthetic_root, tmp_path):
    path = _study(tmp_path, repeat={"top": 1, "seeds": [1]})
    study = load_study(path)
    assert [run.name for run in planned_runs(study)] == ["baseline-seed0", "sgd-step-seed0"]
    assert main(["study", "--config", str(path), "--data-root", str(synthetic_root)]) == 0
    with open(tmp_path / "out" / "study.csv") as handle:
        rows = list(csv.DictReader(handle))
    first = {r["variant"]: float(r["val_auc_roc"]) for r in rows if r["seed"] == "0"}
    assert [(r["variant"], r["seed"]) for r in rows[2:]] == [(max(first, key=first.get), "1")]


def test_a_bad_variant_is_refused_before_any_training(tmp_path):
    path = _study(tmp_path, variants={"typo": {"optim.lr": "fast"}}, repeat={})
    with pytest.raises(RetinasegError, match="variant 'typo'.*optim.lr"):
        load_study(path)
    path = _study(tmp_path, variants={"x": {"init_from": "@pretrain"}}, repeat={})
    with pytest.raises(RetinasegError, match="no 'pretrain'"):
        load_study(path)


def test_repeat_adds_seeds_only_for_the_named_variants(tmp_path):
    study = load_study(_study(tmp_path))
    assert [run.name for run in planned_runs(study)] == [
        "baseline-seed0", "sgd-step-seed0", "baseline-seed1"]
