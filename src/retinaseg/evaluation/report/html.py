"""The HTML page of a report: self-contained (figures and thumbnails embedded as
``data:`` URIs), no network; a thumbnail links to its full-size file in report_files/."""
from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path

import yaml

from ..overlays import ERROR_COLOURS
from ..results import METRIC_NAMES, METRIC_TITLES, EvaluationResult
from .panels import PANEL_TITLES, PANELS, has_panel, panel_path
from .rows import (
    SUMMARY_HEADER,
    TOPOLOGY_HEADER,
    image_keys,
    num,
    provenance,
    summary_rows,
    worst_first,
)

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1400px;
color:#1d1d1f;padding:0 16px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 7px;text-align:right;vertical-align:middle}
th{background:#f4f4f6;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
.ci{display:block;color:#777;font-size:11px}
table.prov td{text-align:left}table.prov td:first-child{font-weight:600;white-space:nowrap}
th.sortable{cursor:pointer}th.sortable:hover{background:#e6e6ef}
td.panel{padding:2px}td.panel img{display:block;max-width:180px;max-height:180px}
.legend span{display:inline-block;width:14px;height:14px;margin:0 4px 0 14px;
vertical-align:middle;border:1px solid #999}
img.figure{max-width:100%;border:1px solid #eee;margin:6px 0}
.warn{background:#fff4e5;border:1px solid #f0b37e;padding:8px 12px}
pre{background:#f6f6f8;padding:8px;overflow:auto;font-size:12px}
"""

# Sorts the per-image table by a clicked column (numbers in data-value), and
# records for tests whether every image on the page loaded.
SCRIPT = """
function sortBy(th){const table=th.closest('table');const body=table.tBodies[0];
const col=[...th.parentNode.children].indexOf(th);const asc=th.dataset.order!=='asc';
th.dataset.order=asc?'asc':'desc';const rows=[...body.rows];
const key=r=>{const v=parseFloat(r.cells[col].dataset.value);return isNaN(v)?(asc?Infinity:-Infinity):v};
rows.sort((a,b)=>asc?key(a)-key(b):key(b)-key(a));rows.forEach(r=>body.appendChild(r));}
window.addEventListener('load',()=>{const imgs=[...document.images];
document.body.dataset.imagesTotal=imgs.length;
document.body.dataset.imagesBroken=imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).length;});
"""


def escape(text) -> str:
    return html.escape(str(text))


def table_html(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table of cells already escaped (or built as HTML); the header is escaped here."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def data_uri(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(png).decode("ascii")


def file_data_uri(path: Path) -> str:
    """A picture file as a ``data:`` URI, so the page shows it without the file."""
    mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    return data_uri(path.read_bytes(), mime)


def figure_html(alt: str, png: bytes) -> str:
    return f'<img class=figure alt="{escape(alt)}" src="{data_uri(png)}">'


def summary_html(result: EvaluationResult) -> str:
    rows = [[escape(r.label)] + [f"{escape(r.values[k])}<span class=ci>{escape(r.intervals[k])}"
                                 "</span>" for k in METRIC_NAMES] for r in summary_rows(result)]
    return table_html(SUMMARY_HEADER, rows)


def legend_html() -> str:
    swatches = "".join(f'<span style="background:rgb{tuple(colour)}"></span>{escape(name)}'
                       for name, colour in ERROR_COLOURS.items())
    return f'<p class="legend">Error overlay:{swatches}</p>'


def panel_cell(folder: Path, image_id: str, panel: str) -> str:
    if not has_panel(folder, image_id, panel):
        return "<td class=panel>-</td>"
    thumb, full = panel_path(image_id, panel, True), panel_path(image_id, panel, False)
    embedded = file_data_uri(folder / thumb)
    return (f'<td class=panel><a href="{escape(full)}"><img src="{embedded}" '
            f'alt="{escape(PANEL_TITLES[panel])} {escape(image_id)}"></a></td>')


def per_image_html(result: EvaluationResult, folder: Path) -> str:
    keys = image_keys(result)
    has_topology = "components_pred" in result.per_image[0]
    header = "<th>image</th>" + "".join(f"<th>{PANEL_TITLES[p]}</th>" for p in PANELS)
    header += "".join(f'<th class=sortable onclick="sortBy(this)">{METRIC_TITLES[k]}</th>'
                      for k in keys)
    if has_topology:
        header += '<th class=sortable onclick="sortBy(this)">components pred / true</th>'
    rows = []
    for row in worst_first(result.per_image):
        cells = f"<td>{escape(row['id'])}</td>"
        cells += "".join(panel_cell(folder, row["id"], p) for p in PANELS)
        cells += "".join(f'<td data-value="{row[k]}">{num(row[k])}</td>' for k in keys)
        if has_topology:
            cells += (f'<td data-value="{row["components_pred"] - row["components_true"]}">'
                      f'{row["components_pred"]} / {row["components_true"]}</td>')
        rows.append(f"<tr>{cells}</tr>")
    return (f"<table id=per-image><thead><tr>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def config_block(result: EvaluationResult) -> str:
    if not result.model_config:
        return ""
    return ("<details><summary>training config of the model</summary><pre>"
            f"{escape(yaml.safe_dump(result.model_config, sort_keys=False))}</pre></details>")


def render_html(result: EvaluationResult, folder: Path, figures: dict[str, bytes],
                title: str, topology: list) -> str:
    """The HTML page of one evaluation."""
    sections = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Scored inside the field of view at the dataset's native resolution; pooled "
        f"scores count every pixel of the split once, means weigh every image the same. "
        f"Threshold {num(result.threshold)} ({escape(result.threshold_source)}).</p>",
        "<h2>Summary</h2>", summary_html(result),
        "<p>Small grey numbers: 95% bootstrap confidence intervals over images.</p>",
    ]
    if topology:
        sections += ["<h2>Topology</h2>",
                     "<p>clDice compares skeletons (1 = every centreline covered, no spurious "
                     "branches); a broken vessel adds components that pixel scores barely "
                     "notice.</p>",
                     table_html(TOPOLOGY_HEADER, [[escape(c) for c in row] for row in topology])]
    sections += ["<h2>Curves</h2>", figure_html("ROC curve", figures["roc.png"]),
                 figure_html("precision-recall curve", figures["pr.png"]),
                 figure_html("metrics versus threshold", figures["threshold.png"]),
                 "<h2>Per image, worst F1 first</h2>",
                 "<p>Click a score's column title to sort by it; click a picture for full "
                 "size.</p>", legend_html(), per_image_html(result, folder),
                 "<h2>Provenance</h2>",
                 table_html(["", ""], [[escape(k), escape(v)] for k, v in provenance(result)],
                            "prov"),
                 config_block(result)]
    return page(title, "\n".join(sections))


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script>"
            f"</head><body>\n{body}\n<p style='color:#888'>retinaseg report, written "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
            f"</body></html>\n")
