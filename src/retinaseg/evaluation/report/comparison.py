"""Several evaluations side by side: one table like the papers' and every curve on one plot."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import plots
from ...io.atomic import write_all_or_nothing
from ..results import METRIC_NAMES, METRIC_TITLES, EvaluationResult, read_result
from ...io.tables import markdown_table
from .html import escape, figure_html, page, table_html
from .panels import ASSETS
from .rows import num

COMPARISON_HEADER = ["run", *(METRIC_TITLES[k] for k in METRIC_NAMES), "clDice", "s / image"]
RUNS_HEADER = ["run", "report", "sha256", "scored on", "threshold", "TTA"]


@dataclass
class Run:
    label: str
    folder: Path
    result: EvaluationResult


def load_runs(folders) -> list[Run]:
    runs = [Run(result.label, Path(folder), result)
            for folder in folders for result in [read_result(folder)]]
    labels = [run.label for run in runs]
    for run in runs:
        if labels.count(run.label) > 1:  # the same model evaluated twice: name the folders
            run.label = f"{run.label} ({run.folder.name})"
    return runs


def comparison_rows(runs: list[Run]) -> list[list[str]]:
    """Each run's pooled scores, then each human observer once."""
    rows, humans = [], {}
    for run in runs:
        result = run.result
        rows.append([run.label, *(num(result.pooled.get(k)) for k in METRIC_NAMES),
                     num((result.topology or {}).get("cldice")),
                     num(result.seconds_per_image, 3)])
        for name, obs in result.observers.items():
            humans.setdefault(name, obs)
    for name, obs in humans.items():
        rows.append([f"human observer ({name})", *(num(obs.pooled.get(k)) for k in METRIC_NAMES),
                     num((obs.topology or {}).get("cldice")), "-"])
    return rows


def data_warning(runs: list[Run]) -> str:
    scored_on = {run.result.scored_on for run in runs}
    if len(scored_on) > 1:
        return (f"These runs were scored on different images ({', '.join(sorted(scored_on))}): "
                "their numbers are not comparable.")
    return ""


def run_rows(runs: list[Run]) -> list[list[str]]:
    """Where each run's numbers come from (the report column is filled per format)."""
    return [[run.label, "", run.result.checkpoint_sha256[:12],
             f"{run.result.scored_on} ({run.result.images} images)",
             f"{num(run.result.threshold)} ({run.result.threshold_source})", run.result.tta]
            for run in runs]


def run_page_path(run: Run, out_dir: Path) -> str:
    report = run.folder / "report.html"
    return os.path.relpath(report, out_dir) if report.is_file() else ""


def run_link(run: Run, out_dir: Path) -> str:
    href = run_page_path(run, out_dir)
    return f'<a href="{escape(href)}">report</a>' if href else "-"


def comparison_html(runs: list[Run], out_dir: Path, figures: dict[str, bytes]) -> str:
    warning = data_warning(runs)
    provenance = [[escape(row[0]), run_link(run, out_dir), *map(escape, row[2:])]
                  for row, run in zip(run_rows(runs), runs)]
    body = ["<h1>Comparison of runs</h1>",
            f"<p class=warn>{escape(warning)}</p>" if warning else "",
            "<p>Pooled over every FOV pixel of the split, each model at its own threshold.</p>",
            table_html(COMPARISON_HEADER, [[escape(c) for c in row] for row in comparison_rows(runs)]),
            figure_html("ROC curves", figures["comparison_roc.png"]),
            figure_html("PR curves", figures["comparison_pr.png"]),
            "<h2>Runs</h2>", table_html(RUNS_HEADER, provenance, "prov")]
    return page("Comparison of runs", "\n".join(body))


def comparison_markdown(runs: list[Run], out_dir: Path) -> str:
    warning = data_warning(runs)
    provenance = [[row[0], run_page_path(run, out_dir) or "-", *row[2:]]
                  for row, run in zip(run_rows(runs), runs)]
    return "\n".join(["# Comparison of runs", "", f"> {warning}" if warning else "",
                      markdown_table(COMPARISON_HEADER, comparison_rows(runs)), "",
                      f"![ROC curves]({ASSETS}/comparison_roc.png)", "",
                      f"![PR curves]({ASSETS}/comparison_pr.png)", "",
                      markdown_table(RUNS_HEADER, provenance), ""])


def write_comparison(folders, out_dir) -> list[Path]:
    """One table like the papers' (pooled scores, FOV) and all ROC / PR curves on one plot."""
    runs = load_runs(folders)
    out_dir = Path(out_dir)
    sources = [plots.curve_source(run.label, run.result) for run in runs]
    figures = {"comparison_roc.png": plots.roc_figure(sources),
               "comparison_pr.png": plots.pr_figure(sources)}
    files = {out_dir / "comparison.html": comparison_html(runs, out_dir, figures),
             out_dir / "comparison.md": comparison_markdown(runs, out_dir)}
    files.update({out_dir / ASSETS / name: data for name, data in figures.items()})
    write_all_or_nothing(files)
    return list(files)
