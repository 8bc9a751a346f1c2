"""A table of finished training runs: what differs between their configs, and
their validation AUC epoch by epoch. For short tuning probes run with
``retinaseg train`` (every one on the training images' validation split).

    python benchmarks/tabulate_runs.py runs/probe-a runs/probe-b ... \
        --title "column-bilstm CPU tuning" --command "how the runs were started" \
        --out benchmarks/results/column_bilstm_cpu_tuning

Reads each run folder's config.yaml and log.csv; writes <out>.{json,md} with the
commit and machine of this tabulation (the runs' own command goes in --command).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import yaml

from retinaseg.io.tables import markdown_table
from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
IGNORED = {"out_dir", "data.root", "progress"}  # differ between runs without changing them


def flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def read_run(folder: Path) -> dict:
    config = flatten(yaml.safe_load((folder / "config.yaml").read_text()))
    with open(folder / "log.csv", newline="") as handle:
        log = [row for row in csv.DictReader(handle)]
    scored = [row for row in log if row["val_auc_roc"]]
    aucs = [float(row["val_auc_roc"]) for row in scored]
    best = max(range(len(aucs)), key=aucs.__getitem__) if aucs else None
    f1_at_best = scored[best].get("val_f1") if best is not None else None
    return {"run": folder.name, "config": config, "val_auc_by_epoch": aucs,
            "best_val_auc": max(aucs) if aucs else float("nan"),
            "best_epoch": int(scored[best]["epoch"]) if best is not None else None,
            "val_f1_at_best": float(f1_at_best) if f1_at_best else None,
            "seconds": total_seconds(log[-1]) if log else float("nan")}


def total_seconds(row: dict) -> float:
    """A log row's training time so far (``seconds`` in logs older than ``epoch_seconds``)."""
    return float(row.get("total_seconds") or row["seconds"])


def differing_keys(runs: list[dict]) -> list[str]:
    keys = sorted({k for run in runs for k in run["config"]} - IGNORED)
    return [k for k in keys if len({repr(run["config"].get(k)) for run in runs}) > 1]


def markdown(result: dict) -> str:
    keys = result["differs"]
    epochs = max(len(run["val_auc_by_epoch"]) for run in result["runs"])
    head = ["run", *keys, *(f"val AUC ep {e + 1}" for e in range(epochs)), "seconds"]
    rows = []
    for run in result["runs"]:
        aucs = run["val_auc_by_epoch"]
        rows.append([run["run"], *(str(run["config"].get(k)) for k in keys),
                     *(f"{aucs[e]:.4f}" if e < len(aucs) else "" for e in range(epochs)),
                     f"{run['seconds']:.0f}"])
    lines = [f"# {result['title']}", "", f"- runs started by: {result['run_command']}",
             "- tabulated by:", provenance_markdown(result),
             "Validation AUC on the held-out training images, by epoch.", "",
             markdown_table(head, rows), "", "Best epoch by validation AUC:", "",
             markdown_table(["run", "best epoch", "val AUC", "val F1 there", "seconds"],
                            [[run["run"], str(run.get("best_epoch")),
                              f"{run['best_val_auc']:.4f}",
                              "-" if run.get("val_f1_at_best") is None
                              else f"{run['val_f1_at_best']:.4f}", f"{run['seconds']:.0f}"]
                             for run in result["runs"]])]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--title", required=True)
    parser.add_argument("--command", required=True, help="how the runs were started")
    parser.add_argument("--out", required=True, help="result path without suffix")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    header = clean_provenance(ROOT, args.allow_dirty)
    runs = [read_run(folder) for folder in args.runs]
    result = {"title": args.title, "run_command": args.command,
              **header, "differs": differing_keys(runs), "runs": runs}
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
