"""Benchmark result files: the provenance lines and the tuning-probe table."""
import importlib.util
import json
from pathlib import Path

import yaml

from retinaseg.utils import provenance, provenance_markdown

TABULATE = Path(__file__).resolve().parents[1] / "benchmarks" / "tabulate_runs.py"


def test_provenance_markdown_names_command_commit_date_and_machine(tmp_path):
    result = provenance(tmp_path, commit="abc123")
    text = provenance_markdown(result)
    assert "- commit: `abc123`" in text and f"- date: {result['date']}" in text
    assert f"{result['machine']['cores']} cores, torch {result['machine']['torch']}" in text
    assert text.count("\n") == 4


def _run(folder: Path, lr: float, aucs: list[float]) -> Path:
    folder.mkdir()
    config = {"optim": {"name": "adam", "lr": lr}, "epochs": len(aucs), "out_dir": str(folder)}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    rows = [f"{e + 1},{lr},0.3,{auc},0.5,0.4,{10.0 * (e + 1)}" for e, auc in enumerate(aucs)]
    (folder / "log.csv").write_text("epoch,lr,train_loss,val_auc_roc,val_f1,val_threshold,"
                                    "seconds\n" + "\n".join(rows) + "\n")
    return folder


def test_tabulate_runs_shows_what_differs_and_auc_by_epoch(tmp_path):
    spec = importlib.util.spec_from_file_location("tabulate_runs", TABULATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    slow = _run(tmp_path / "slow", 0.001, [0.5, 0.6])
    fast = _run(tmp_path / "fast", 0.01, [0.8, 0.9, 0.95])
    out = tmp_path / "table"
    assert module.main([str(slow), str(fast), "--title", "probes", "--command", "by hand",
                        "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["differs"] == ["epochs", "optim.lr"]  # out_dir differs too, but is ignored
    assert [r["best_val_auc"] for r in result["runs"]] == [0.6, 0.95]
    text = out.with_suffix(".md").read_text()
    assert "| slow | 2 | 0.001 | 0.5000 | 0.6000 |  | 20 |" in text
    assert "| fast | 3 | 0.01 | 0.8000 | 0.9000 | 0.9500 | 30 |" in text
