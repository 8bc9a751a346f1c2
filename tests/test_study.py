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
    assert (out / "pretrain" / "model.safetensors").is_file()
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


def test_a_claim_is_held_while_its_process_lives_and_taken_over_after(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    from retinaseg.study import CLAIM_FILE, claim, release

    run = tmp_path / "baseline-seed0"
    assert claim(run) and not claim(run)  # this process holds it
    release(run)
    assert claim(run)
    release(run)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    (run / CLAIM_FILE).write_text(json.dumps({"host": socket.gethostname(),
                                              "pid": int(finished.stdout)}))
    assert claim(run)  # its process has exited: the run is taken over
    (run / CLAIM_FILE).write_text(json.dumps({"host": "another-machine", "pid": 1}))
    assert not claim(run)  # cannot be checked from here, so it is respected


def test_sittings_that_overlap_count_once_in_the_wall_time():
    from retinaseg.study import wall_seconds

    def sitting(start, seconds):
        return {"started": f"2026-11-24T03:{start:02d}:00+00:00", "seconds": seconds}

    assert wall_seconds([sitting(0, 600), sitting(5, 600)]) == 900
    assert wall_seconds([sitting(0, 60), sitting(10, 60)]) == 120


def test_two_processes_share_a_study_and_train_each_run_once(synthetic_root, tmp_path):
    import json
    import subprocess
    import sys

    path = _study(tmp_path, variants={"a": {}, "b": {"optim.lr": 0.002},
                                      "c": {"optim.lr": 0.003}}, repeat={})
    command = [sys.executable, "-m", "retinaseg", "study", "--config", str(path),
               "--data-root", str(synthetic_root)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    sessions = json.loads((tmp_path / "out" / "sessions.json").read_text())["sessions"]
    assert 1 <= len(sessions) <= 2  # the second may find every run taken
    trained = [name for entry in sessions for name in entry["finished"]]
    assert sorted(trained) == ["a-seed0", "b-seed0", "c-seed0"]  # each once
    with open(tmp_path / "out" / "study.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 3
    assert not list((tmp_path / "out").glob("*/.claim"))
