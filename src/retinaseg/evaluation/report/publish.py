"""Putting a report in place: panels staged while evaluating, then figures and
pages swapped in together, so a failure never leaves half a report."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ...io.atomic import staged_files, write_all_or_nothing, writing
from ..results import EvaluationResult, read_result, rendering
from .html import render_html
from .markdown import render_markdown
from .panels import ASSETS
from .rows import figure_files, topology_rows


@contextmanager
def staged_report(out_dir):
    """A scratch folder for a report's panels, published by :func:`publish_report`.

    If anything fails before publishing, the scratch folder is removed and the
    previous report (if any) is left untouched: nothing half-written.
    """
    out_dir = Path(out_dir)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".report-"))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def render_report(result: EvaluationResult, folder: Path,
                  figures: dict[str, bytes]) -> tuple[str, str]:
    """The HTML page and its Markdown twin for one evaluation."""
    title = f"{result.label} on {result.dataset} / {result.split}"
    topology = topology_rows(result)
    return (render_html(result, folder, figures, title, topology),
            render_markdown(result, folder, title, topology))


def publish_report(result: EvaluationResult, out_dir, staging: Path,
                   extra_files: dict | None = None) -> list:
    """Write figures into the staged assets, then swap them in with the pages.

    Returns the paths written (pages first).
    """
    out_dir = Path(out_dir)
    figures = figure_files(result)
    with writing(staging / ASSETS):
        (staging / ASSETS).mkdir(parents=True, exist_ok=True)
        for name, data in figures.items():
            (staging / ASSETS / name).write_bytes(data)
    page, markdown = render_report(result, staging, figures)
    pages = {out_dir / "report.html": page, out_dir / "report.md": markdown}
    # Pages and metrics are staged first, so a full disk fails before the swap.
    with staged_files({**pages, **(extra_files or {})}), writing(out_dir / ASSETS):
        old = out_dir / ASSETS
        if old.exists():  # moved into the staging folder, which is removed on exit
            os.replace(old, staging / "previous")
        os.replace(staging / ASSETS, old)
    return [*pages, *(extra_files or {})]


def rebuild_report(run_dir) -> list:
    """Re-render a finished evaluation's pages and figures from its metrics.json.

    The panels written while evaluating stay where they are; pages and figures
    are replaced together.
    """
    run_dir = Path(run_dir)
    result = read_result(run_dir)
    with rendering(run_dir / "metrics.json"):
        figures = figure_files(result)
        page, markdown = render_report(result, run_dir, figures)
    files = {run_dir / "report.html": page, run_dir / "report.md": markdown}
    files.update({run_dir / ASSETS / name: data for name, data in figures.items()})
    write_all_or_nothing(files)
    return list(files)[:2]
