"""Benchmark result files: the provenance lines and the tuning-probe table."""
import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from common import provenance, provenance_markdown, shown_path

TABULATE = Path(__file__).resolve().parents[1] / "benchmarks" / "tabulate_runs.py"


def test_provenance_markdown_names_command_commit_date_and_machine(tmp_path):
    result = provenance(tmp_path, commit="abc123")
    text = provenance_markdown(result)
    assert "- commit: `abc123`" in text and f"- date: {result['date']}" in text
    assert f"{result['machine']['cores']} cores, torch {result['machine']['torch']}" in text
    assert text.count("\n") == 4


def _run(folder: Path, lr: float, aucs: list[float], time_column: str) -> Path:
    folder.mkdir()
    config = {"optim": {"name": "adam", "lr": lr}, "epochs": len(aucs), "out_dir": str(folder)}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    rows = [f"{e + 1},{lr},0.3,{auc},0.5,0.4,{10.0 * (e + 1)}" for e, auc in enumerate(aucs)]
    (folder / "log.csv").write_text("epoch,lr,train_loss,val_auc_roc,val_f1,val_threshold,"
                                    f"{time_column}\n" + "\n".join(rows) + "\n")
    return folder


def test_result_files_name_a_file_in_the_tree_by_its_path_in_it(tmp_path):
    root = tmp_path / "repo"
    (root / "runs").mkdir(parents=True)
    assert shown_path(root / "runs" / "model.safetensors", root) == "runs/model.safetensors"
    assert shown_path(str(root / "runs" / ".." / "x.md"), root) == "x.md"
    assert shown_path(tmp_path / "elsewhere.safetensors", root) == str(tmp_path / "elsewhere.safetensors")
    assert shown_path("general", root) == "general"  # a shipped model's name, as given


# "seconds": the cumulative time's name in logs written before epoch_seconds
@pytest.mark.parametrize("time_column", ["total_seconds", "seconds"])
def test_tabulate_runs_shows_what_differs_and_auc_by_epoch(tmp_path, time_column):
    spec = importlib.util.spec_from_file_location("tabulate_runs", TABULATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    slow = _run(tmp_path / "slow", 0.001, [0.5, 0.6], time_column)
    fast = _run(tmp_path / "fast", 0.01, [0.8, 0.9, 0.95], time_column)
    out = tmp_path / "table"
    assert module.main([str(slow), str(fast), "--title", "probes", "--command", "by hand",
                        "--out", str(out), "--allow-dirty"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["differs"] == ["epochs", "optim.lr"]  # out_dir differs too, but is ignored
    assert [r["best_val_auc"] for r in result["runs"]] == [0.6, 0.95]
    text = out.with_suffix(".md").read_text()
    assert "| slow | 2 | 0.001 | 0.5000 | 0.6000 |  | 20 |" in text
    assert "| fast | 3 | 0.01 | 0.8000 | 0.9000 | 0.9500 | 30 |" in text
    assert [(r["best_epoch"], r["val_f1_at_best"]) for r in result["runs"]] == [(2, 0.5), (3, 0.5)]
    assert "| fast | 3 | 0.9500 | 0.5000 | 30 |" in text  # the best epoch's row


def _benchmark(name: str):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_drive_model_counts_the_training_of_every_stage_a_model_started_from(synthetic_root,
                                                                            tmp_path):
    from retinaseg.config.schema import load_config
    from retinaseg.hub.checkpoint import load_checkpoint
    from retinaseg.train import fit

    drive_model = _benchmark("drive_model")
    tiny = [f"data.root={synthetic_root}", "model.kwargs={base_channels: 4, depth: 2}",
            "data.crop_size=32", "data.crops_per_image=2", "progress=false", "threads=1"]
    first = fit(load_config(None, [*tiny, f"out_dir={tmp_path / 'a'}", "epochs=2"]))
    second = fit(load_config(None, [*tiny, f"out_dir={tmp_path / 'b'}", "epochs=1",
                                    f"init_from={first}"]))
    stages = drive_model.earlier_stages(load_checkpoint(second))
    assert [(s["source"], s["epochs"]) for s in stages] == [(str(first), 2)]
    assert stages[0]["train_seconds"] == load_checkpoint(first).meta.extra["train_seconds"]
    assert drive_model.earlier_stages(load_checkpoint(first)) == []


def test_the_paper_table_implies_its_own_mcc():
    drive_model = _benchmark("drive_model")
    # Se, Sp and precision fix the vessel fraction; the MCC they imply is about 0.775.
    assert 0.77 < drive_model.PAPER["mcc"] < 0.78
    verdict = drive_model.paper_verdict({**drive_model.PAPER, "auc_roc": 0.9774,
                                         "specificity": 0.9827})
    assert verdict["auc_roc"]["ok"] and verdict["specificity"]["ok"]
    assert not verdict["f1"]["ok"]  # equal is not better


def test_drive_model_says_where_the_papers_value_lies_in_our_interval():
    drive_model = _benchmark("drive_model")
    assert drive_model.interval_verdict("auc_roc", (0.9764, 0.9808)).endswith("inside)")
    assert drive_model.interval_verdict("f1", (0.7972, 0.8197)).endswith("below)")
    assert drive_model.interval_verdict("specificity", (0.9827, 0.9869)).endswith("above)")


RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def test_every_result_names_the_script_in_the_tree_that_rewrites_it():
    import re

    # The study folders' study.md are recorded by benchmarks/study_result.py, which
    # needs the study's run folders; the two there predate it (see their first line).
    for page in sorted(RESULTS.glob("*.md")):
        text = page.read_text()
        match = re.search(r"- command: `python (benchmarks/\w+\.py)", text)
        assert match, f"{page.relative_to(RESULTS)}: no '- command: `python benchmarks/...`' line"
        assert (RESULTS.parents[1] / match.group(1)).is_file(), f"{page.name}: {match.group(1)}"
    for data in sorted(RESULTS.rglob("*.json")) + sorted(RESULTS.rglob("*.csv")):
        assert data.with_suffix(".md").is_file() or (data.parent / "study.md").is_file(), data


def test_a_dirty_commit_is_refused_unless_allowed_and_then_marked(tmp_path):
    import pytest
    from common import require_clean_commit

    with pytest.raises(SystemExit, match="--allow-dirty"):
        require_clean_commit("abc123-dirty")
    assert require_clean_commit("abc123-dirty", allow_dirty=True) == "abc123-dirty"
    assert require_clean_commit("abc123") == "abc123"
    marked = provenance_markdown(provenance(tmp_path, commit="abc123-dirty"))
    assert "WARNING" in marked and "uncommitted" in marked


def test_what_the_benchmarks_write_does_not_make_the_tree_dirty(tmp_path):
    """A benchmark that writes several results (lodo.py finish: a run's working scale,
    then its post-processing) must not refuse its own second step."""
    import subprocess

    from common import BENCHMARK_OUTPUTS, git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    files = [tmp_path / folder / "run" / "result.md" for folder in BENCHMARK_OUTPUTS]
    files.append(tmp_path / "src" / "code.py")
    for path in files:
        path.parent.mkdir(parents=True)
        path.write_text("first\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "first")
    assert not git_commit(tmp_path).endswith("-dirty")
    for path in files[:-1]:
        path.write_text("rewritten by a benchmark\n")
    assert not git_commit(tmp_path).endswith("-dirty")
    files[-1].write_text("changed code\n")
    assert git_commit(tmp_path).endswith("-dirty")


def test_cohort_benchmark_names_each_row_that_differs_between_two_tables():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "cohort_throughput.py"
    spec = importlib.util.spec_from_file_location("cohort_throughput", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    serial = [{"file": "a.png", "vessel_area_px2": "10", "seconds": "1.0"},
              {"file": "b.png", "vessel_area_px2": "20", "seconds": "1.0"},
              {"file": "c.png", "vessel_area_px2": "30", "seconds": "1.0"}]
    pool = [{"file": "b.png", "vessel_area_px2": "21", "seconds": "0.5"},
            {"file": "a.png", "vessel_area_px2": "10", "seconds": "9.0"},  # timing aside
            {"file": "d.png", "vessel_area_px2": "40", "seconds": "1.0"}]
    assert module.table_differences(serial, pool) == [
        {"file": "b.png", "columns": {"vessel_area_px2": ["20", "21"]}},
        {"file": "c.png", "problem": "missing"},
        {"file": "d.png", "problem": "not in the reference"}]
    assert module.table_differences(serial, serial) == []
    assert module.table_differences(serial, serial[::-1]) == [
        {"file": "(every row)", "problem": "rows in another order"}]


def test_a_result_names_its_script_from_the_root_wherever_it_ran(tmp_path, monkeypatch):
    from common import provenance

    script = RESULTS.parent / "label_width.py"
    monkeypatch.setattr("sys.argv", [str(script), "--x", "1"])
    assert provenance(tmp_path, commit="abc")["command"] == "python benchmarks/label_width.py --x 1"
    monkeypatch.setattr("sys.argv", ["/elsewhere/tool.py"])
    assert provenance(tmp_path, commit="abc")["command"] == "python /elsewhere/tool.py"


def _entry(name: str, f1: dict, area: dict) -> dict:
    return {"model": name, "sources": {s: {"f1": f1[s], "area_ratio": area[s]} for s in f1}}


def test_the_ship_rule_needs_all_three_clauses():
    from ship_rule import judge

    sources = ("drive", "chase_db1", "hrf", "vevio")
    reference = _entry("general", dict.fromkeys(sources, 0.80),
                       dict(zip(sources, (1.1, 1.1, 1.1, 1.7))))
    better = _entry("c", {"drive": 0.795, "chase_db1": 0.80, "hrf": 0.80, "vevio": 0.85},
                    dict(zip(sources, (1.1, 1.1, 1.1, 1.2))))
    assert judge(reference, better, ["drive", "chase_db1", "hrf"], 0.01)["ships"]
    # one in-domain source 0.011 down sinks it, whatever the mean
    worse_drive = _entry("c", {**{s: 0.80 for s in sources}, "drive": 0.789, "vevio": 0.9},
                         dict(zip(sources, (1.1, 1.1, 1.1, 1.2))))
    verdict = judge(reference, worse_drive, ["drive", "chase_db1", "hrf"], 0.01)
    assert not verdict["ships"] and [c["holds"] for c in verdict["clauses"]] == \
        [True, False, True, True, True]
    # half the area is as far off as twice the area: drawing too little is no escape
    too_thin = _entry("c", {**{s: 0.80 for s in sources}, "vevio": 0.9},
                      dict(zip(sources, (1 / 1.1, 1 / 1.1, 1 / 1.1, 1 / 1.8))))
    assert not judge(reference, too_thin, ["drive"], 0.01)["ships"]
