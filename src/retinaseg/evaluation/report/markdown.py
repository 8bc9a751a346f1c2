"""The Markdown twin of a report's HTML page: the same tables, figures as links."""
from __future__ import annotations

from pathlib import Path

from ..overlays import ERROR_COLOURS
from ..results import METRIC_NAMES, METRIC_TITLES, EvaluationResult
from ...io.tables import markdown_table
from .panels import ASSETS, PANEL_TITLES, PANELS, has_panel, panel_path
from .rows import (SUMMARY_HEADER, TOPOLOGY_HEADER, image_keys, num, provenance,
                   summary_rows, worst_first)


def render_markdown(result: EvaluationResult, folder: Path, title: str, topology: list) -> str:
    summary = [[r.label] + [f"{r.values[k]} {r.intervals[k]}".strip() for k in METRIC_NAMES]
               for r in summary_rows(result)]
    parts = [f"# {title}", "",
             f"FOV only, native resolution; threshold {num(result.threshold)} "
             f"({result.threshold_source}). Brackets: 95% bootstrap intervals "
             "over images.", "", "## Summary", "",
             markdown_table(SUMMARY_HEADER, summary), ""]
    if topology:
        parts += ["## Topology", "", markdown_table(TOPOLOGY_HEADER, topology), ""]
    parts += ["## Curves", "", f"![ROC curve]({ASSETS}/roc.png)", "",
              f"![precision-recall curve]({ASSETS}/pr.png)", "",
              f"![metrics versus threshold]({ASSETS}/threshold.png)", "",
              "## Per image, worst F1 first", "",
              "Error overlay: " + ", ".join(f"{name} rgb{tuple(c)}"
                                           for name, c in ERROR_COLOURS.items()), "",
              per_image_markdown(result, folder), "", "## Provenance", "",
              markdown_table(["", ""], provenance(result)), ""]
    return "\n".join(parts)


def panel_link(folder: Path, image_id: str, panel: str) -> str:
    if not has_panel(folder, image_id, panel):
        return "-"
    thumb, full = panel_path(image_id, panel, True), panel_path(image_id, panel, False)
    return f"[![{panel}]({thumb})]({full})"


def per_image_markdown(result: EvaluationResult, folder: Path) -> str:
    keys = image_keys(result)
    rows = [[row["id"], *(panel_link(folder, row["id"], p) for p in PANELS),
             *(num(row[k]) for k in keys)] for row in worst_first(result.per_image)]
    header = ["image", *(PANEL_TITLES[p] for p in PANELS), *(METRIC_TITLES[k] for k in keys)]
    return markdown_table(header, rows)
