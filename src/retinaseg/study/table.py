"""A study's table: one row per finished run (study.csv) and the variants' mean ± sd
over seeds, best validation AUC first (study.md)."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..evaluation.results import PAPER_COLUMNS, read_result
from ..io.tables import markdown_table
from .sessions import SESSIONS_FILE, read_sessions, wall_seconds

if TYPE_CHECKING:
    from .plan import PlannedRun, Study

#: The test-set columns: the papers' headline metrics first.
TEST_KEYS = PAPER_COLUMNS


def run_row(study: Study, run: PlannedRun) -> dict | None:
    folder = study.out_dir / run.name
    metrics_path = folder / "eval" / "metrics.json"
    if not metrics_path.is_file():
        return None
    result = read_result(folder / "eval")
    with open(folder / "log.csv", newline="") as handle:
        log = list(csv.DictReader(handle))
    scored = [r for r in log if r["val_auc_roc"]]
    best = max(scored, key=lambda r: float(r["val_auc_roc"])) if scored else {}
    row = {"variant": run.variant, "seed": run.seed,
           "val_auc_roc": float(best.get("val_auc_roc", "nan")),
           "val_f1": float(best.get("val_f1", "nan"))}
    row.update({f"test_{k}": result.pooled[k] for k in TEST_KEYS})
    row.update(train_minutes=total_seconds(log[-1]) / 60 if log else math.nan,
               epochs=len(log), epochs_to_best=int(best.get("epoch", 0)),
               report=str(Path(run.name) / "eval" / "report.html"))
    return row


def total_seconds(row: dict) -> float:
    """A log row's training time so far (``seconds`` in logs older than ``epoch_seconds``)."""
    return float(row.get("total_seconds") or row["seconds"])


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and sd over seeds per variant, best validation AUC first."""
    by_variant: dict[str, list[dict]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    numeric = [k for k in rows[0] if k not in ("variant", "seed", "report")] if rows else []
    summary = []
    for variant, group in by_variant.items():
        entry = {"variant": variant, "seeds": len(group)}
        for key in numeric:
            values = np.array([r[key] for r in group], dtype=float)
            entry[key] = float(values.mean())
            entry[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        summary.append(entry)
    return sorted(summary, key=lambda e: -e["val_auc_roc"] if not math.isnan(e["val_auc_roc"]) else 0)


def write_table(study: Study, runs: list[PlannedRun]) -> list[dict]:
    """Rewrite study.csv and study.md from the finished ones of ``runs``."""
    rows = [row for run in runs for row in [run_row(study, run)] if row]
    if not rows:
        return rows
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    (study.out_dir / "study.csv").write_text(buffer.getvalue())
    (study.out_dir / "study.md").write_text(study_markdown(study, rows))
    return rows


def cell(entry: dict, key: str) -> str:
    value, sd = entry[key], entry.get(f"{key}_sd", math.nan)
    if key in ("train_minutes", "epochs", "epochs_to_best"):
        text = f"{value:.1f}"
        return text if math.isnan(sd) else f"{text} ± {sd:.1f}"
    return f"{value:.4f}" if math.isnan(sd) else f"{value:.4f} ± {sd:.4f}"


def study_markdown(study: Study, rows: list[dict]) -> str:
    keys = ["val_auc_roc", "val_f1", *[f"test_{k}" for k in TEST_KEYS], "train_minutes",
            "epochs_to_best"]
    lines = [f"# Study {study.path.name}: {len(rows)} runs", "", *provenance_lines(study), "",
             f"Test set: {study.dataset}/{study.split} (FOV, pooled, threshold from validation). "
             "Variants ranked by validation AUC; mean ± sd over seeds where there are several.",
             "", markdown_table(["variant", "seeds", *keys],
                                [[entry["variant"], entry["seeds"], *(cell(entry, k) for k in keys)]
                                 for entry in summarise(rows)])]
    lines += ["", "Per run (each has a report with ROC / PR curves and per-image panels):", ""]
    lines += [f"- {r['variant']} seed {r['seed']}: [{r['report']}]({r['report']})" for r in rows]
    return "\n".join(lines) + "\n"


def provenance_lines(study: Study) -> list[str]:
    """Wall time, commands, commits and machines of every sitting of the study."""
    sessions = read_sessions(study.out_dir / SESSIONS_FILE)
    if not sessions:
        return []
    process = sum(entry["seconds"] for entry in sessions)
    wall = wall_seconds(sessions)
    parallel = (f" ({process / 60:.1f} process-minutes: some sittings ran side by side)"
                if process - wall > 1 else "")
    lines = [f"Wall time {wall / 60:.1f} min in {len(sessions)} sitting(s){parallel}, "
             "training and evaluation included:"]
    for entry in sessions:
        machine = entry["machine"]
        threads = f", {machine['torch_threads']} thread(s)" if "torch_threads" in machine else ""
        lines.append(f"- {entry['started']}: `{entry['command']}`, commit `{entry['commit']}`, "
                     f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores{threads}), "
                     f"{entry['seconds'] / 60:.1f} min, {len(entry['finished'])} run(s)")
    return lines
