"""Evaluation reports: an HTML page and its Markdown twin, per run or comparing runs.

A report is built from a metrics.json result alone (plus the per-image panels
written while evaluating), so ``retinaseg report`` can rebuild or compare
finished runs without a model. Nothing is recomputed differently: tables read
the result's scores, figures read its pooled histogram (see :mod:`plots`).

Layout of an evaluation folder with a report::

    metrics.json  report.html  report.md
    report_files/  roc.png pr.png threshold.png
                   images/<id>_{photo.jpg,truth.png,prediction.png,errors.png}
                   thumbs/<id>_{...}   (at most THUMB_SIDE px, linked to the full size)

The page embeds its figures and loads the thumbnails from report_files/, so a
report of HRF's 3504x2336 images stays small; it needs no network.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import html
import json
import math
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from . import plots
from .errors import file_error
from .outputs import staged_files, write_all_or_nothing, writing
from .overlays import ERROR_COLOURS, error_overlay, mask_image, thumbnail

ASSETS = "report_files"
THUMB_SIDE = 240
PANELS = ("photo", "truth", "prediction", "errors")
PANEL_TITLES = {"photo": "photo", "truth": "ground truth", "prediction": "prediction",
                "errors": "errors"}
SUMMARY_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "iou", "fpr",
                "mcc", "auc_roc", "auc_pr")
IMAGE_KEYS = ("f1", "sensitivity", "specificity", "precision", "mcc", "auc_roc", "cldice")
TITLES = {"accuracy": "Acc", "sensitivity": "Se", "specificity": "Sp", "precision": "Pr",
          "f1": "F1", "iou": "IoU", "fpr": "FPR", "mcc": "MCC", "auc_roc": "AUC-ROC",
          "auc_pr": "AUC-PR", "cldice": "clDice"}


# --------------------------------------------------------------------------- panels

def panel_stem(image_id: str) -> str:
    """A file-name-safe stem for an image id, unique even when characters were replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(image_id))
    if safe != str(image_id):
        safe += "-" + hashlib.sha1(str(image_id).encode()).hexdigest()[:6]
    return safe


def panel_path(image_id: str, panel: str, thumb: bool) -> str:
    """Path of a panel relative to the report folder."""
    ext = "jpg" if panel == "photo" else "png"
    return f"{ASSETS}/{'thumbs' if thumb else 'images'}/{panel_stem(image_id)}_{panel}.{ext}"


def _save_picture(array: np.ndarray, path: Path) -> None:
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".jpg":
            Image.fromarray(array).save(path, quality=88)
        else:
            Image.fromarray(array).save(path, optimize=True)


class PanelWriter:
    """``evaluate_model``'s ``on_image`` callback: each image's four panels, full size and thumbnail."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)  # plays the report folder; paths inside start with ASSETS/

    def __call__(self, sample, prob: np.ndarray, row: dict) -> None:
        pred = prob >= row["threshold"]
        pictures = {"photo": sample.image,
                    "truth": mask_image(sample.vessel, sample.fov),
                    "prediction": mask_image(pred, sample.fov),
                    "errors": error_overlay(sample.image, pred, sample.vessel, sample.fov)}
        for panel, array in pictures.items():
            _save_picture(array, self.folder / panel_path(sample.id, panel, thumb=False))
            _save_picture(thumbnail(array, THUMB_SIDE),
                          self.folder / panel_path(sample.id, panel, thumb=True))


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


def publish_report(result: dict, out_dir, staging: Path, extra_files: dict | None = None) -> list:
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


def read_result(run_dir) -> dict:
    """The metrics.json of an evaluation folder, checked for what a report needs."""
    path = Path(run_dir) / "metrics.json"
    if not Path(run_dir).is_dir():
        raise file_error(run_dir, "no such folder")
    if not path.is_file():
        raise file_error(run_dir, "no metrics.json here; write one with "
                                  "'retinaseg evaluate ... --out DIR --report'")
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise file_error(path, f"not readable JSON ({type(exc).__name__})") from None
    missing = [k for k in ("pooled", "per_image", "mean", "histogram", "threshold")
               if not isinstance(result, dict) or k not in result]
    if missing:
        raise file_error(path, f"lacks {', '.join(missing)}; re-run 'retinaseg evaluate' "
                               "with this version to get a reportable result")
    problem = result_problem(result)
    if problem:
        raise file_error(path, f"{problem}; re-run 'retinaseg evaluate' to write it again")
    return result


MAX_HISTOGRAM_BITS = 16  # evaluate writes 10; more would only allocate


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _scores_problem(scores, where: str) -> str | None:
    """What is wrong with one row's scores (the model's or an observer's), if anything."""
    if not isinstance(scores, dict):
        return f"{where or 'the result'} must be an object"
    for key in ("pooled", "mean", "sd", "topology"):
        table = scores.get(key, {})
        if not isinstance(table, dict) or not all(_number(v) for v in table.values()):
            return f"{where}{key} must map score names to numbers"
    rows = scores.get("per_image", [])
    if not isinstance(rows, list) or (not where and not rows):
        return f"{where}per_image must be a non-empty list"
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("id"), (str, int)) \
                or not _number(row.get("f1")) \
                or not all(_number(v) for k, v in row.items() if k != "id"):
            return f"{where}per_image rows must hold an id and numeric scores, f1 included"
    return None


def result_problem(result: dict) -> str | None:
    """What a report could not be built from, in words, or None."""
    problem = _scores_problem(result, "")
    if problem:
        return problem
    if not _number(result["threshold"]) or result["threshold"] is None:
        return "threshold must be a number"
    observers = result.get("observers", {})
    if not isinstance(observers, dict):
        return "observers must be an object"
    for name, scores in observers.items():
        problem = _scores_problem(scores, f"observers.{name}.")
        if problem:
            return problem
    for key in ("ci95", "model_meta", "model_config", "machine", "software"):
        if not isinstance(result.get(key, {}), dict):
            return f"{key} must be an object"
    return _histogram_problem(result["histogram"])


def _histogram_problem(histogram) -> str | None:
    bits = histogram.get("bits") if isinstance(histogram, dict) else None
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= MAX_HISTOGRAM_BITS:
        return f"histogram.bits must be a whole number from 1 to {MAX_HISTOGRAM_BITS}"
    for key in ("pos", "neg"):
        counts = histogram.get(key)
        if not isinstance(counts, list) or len(counts) != 2 ** bits + 1 or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            return f"histogram.{key} must be {2 ** bits + 1} counts >= 0"
    return None


@contextmanager
def rendering(path):
    """A result that passed :func:`result_problem` but still trips the renderer
    (a field of another shape deep inside) is the file's fault: one line naming it."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise file_error(path, f"a field has an unexpected type or shape "
                               f"({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------- numbers

def _num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"


def _interval(ci) -> str:
    if not ci or any(v is None or math.isnan(v) for v in ci):
        return ""
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _row_label(result: dict) -> str:
    """The model's shipped name, or for a checkpoint file its folder and name
    (run/model.safetensors)."""
    name = str(result.get("model_name") or result.get("model") or "model")
    if name.endswith((".safetensors", ".pt")) or "/" in name:
        path = Path(name)
        return f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return name


@dataclass
class SummaryRow:
    label: str
    values: dict          # key -> str
    intervals: dict       # key -> str (may be empty)


def summary_rows(result: dict) -> list[SummaryRow]:
    """The papers' table: pooled and per-image mean +- sd, for the model and each human."""
    rows = []
    named = [(_row_label(result), result)]
    named += [(f"human observer ({name})", obs) for name, obs in result.get("observers", {}).items()]
    for label, scores in named:
        ci = scores.get("ci95", {})
        rows.append(SummaryRow(f"{label}, pooled",
                               {k: _num(scores["pooled"].get(k)) for k in SUMMARY_KEYS},
                               {k: _interval(ci.get("pooled", {}).get(k)) for k in SUMMARY_KEYS}))
        rows.append(SummaryRow(f"{label}, mean ± sd over images",
                               {k: f"{_num(scores['mean'].get(k))} ± {_num(scores['sd'].get(k))}"
                                for k in SUMMARY_KEYS},
                               {k: _interval(ci.get("mean", {}).get(k)) for k in SUMMARY_KEYS}))
    return rows


def topology_rows(result: dict) -> list[list[str]]:
    """clDice and connected components, pooled and per image, model and humans."""
    rows = []
    named = [(_row_label(result), result)]
    named += [(f"human observer ({name})", obs) for name, obs in result.get("observers", {}).items()]
    for label, scores in named:
        if "topology" not in scores:
            continue
        per_image = scores["per_image"]
        cldice = [r["cldice"] for r in per_image]
        sd = float(np.std(cldice, ddof=1)) if len(cldice) > 1 else math.nan
        mean_ci = _interval(scores.get("ci95", {}).get("mean", {}).get("cldice"))
        topo = scores["topology"]
        rows.append([label, _num(topo["cldice"]),
                     f"{_num(scores['mean']['cldice'])} ± {_num(sd)} {mean_ci}".strip(),
                     str(topo["components_pred"]), str(topo["components_true"]),
                     _num(topo["components_ratio"], 2)])
    return rows


TOPOLOGY_HEADER = ["row", "clDice (pooled)", "clDice (mean ± sd over images) [95% CI]",
                   "components predicted", "components in ground truth", "ratio"]


def provenance(result: dict) -> list[tuple[str, str]]:
    """Enough to trace a report back to its run."""
    machine = result.get("machine", {})
    software = result.get("software", {})
    meta = result.get("model_meta", {})
    items = [
        ("model", f"{result.get('model_name', '')} ({result.get('model', '')})"),
        ("checkpoint sha256", result.get("checkpoint_sha256", "")),
        ("architecture", f"{result.get('architecture', '')} {json.dumps(meta.get('kwargs', {}))}"),
        ("trained on", meta.get("trained_on", "")),
        ("preprocessing", ", ".join(meta.get("preprocess", []))),
        ("dataset / split", f"{result.get('dataset')} / {result.get('split')} "
                            f"({result.get('images')} images)"),
        ("threshold", f"{_num(result.get('threshold'))} ({result.get('threshold_source', '')})"),
        ("field of view", result.get("fov", "")),
        ("test-time augmentation", f"{result.get('tta', 'none')}, bf16 {result.get('bf16', False)}"),
        ("confidence intervals", _ci_note(result)),
        ("command", result.get("command", "")),
        ("date", result.get("date", "")),
        ("software", ", ".join(f"{k} {v}" for k, v in software.items())),
        ("machine", f"{machine.get('cpu', '')}, {machine.get('cores', '')} cores, "
                    f"{machine.get('platform', '')}"),
        ("seconds per image", _num(result.get("seconds_per_image"), 3)),
    ]
    return [(k, str(v)) for k, v in items]


def _ci_note(result: dict) -> str:
    ci = result.get("ci95")
    if not ci:
        return "not computed"
    return (f"{int(ci['level'] * 100)}% percentile bootstrap over images, "
            f"{ci['resamples']} resamples, seed {ci['seed']}")


def worst_first(per_image: list[dict]) -> list[dict]:
    """Images by F1, worst first (undefined scores last)."""
    return sorted(per_image, key=lambda r: (math.isnan(r["f1"]), r["f1"]))


# --------------------------------------------------------------------------- figures

def figure_files(result: dict) -> dict[str, bytes]:
    source = plots.curve_source(_row_label(result), result)
    return {"roc.png": plots.roc_figure([source]), "pr.png": plots.pr_figure([source]),
            "threshold.png": plots.threshold_figure(source)}


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --------------------------------------------------------------------------- HTML

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


def _e(text) -> str:
    return html.escape(str(text))


def _table_html(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def summary_html(result: dict) -> str:
    rows = [[_e(r.label)] + [f"{_e(r.values[k])}<span class=ci>{_e(r.intervals[k])}</span>"
                             for k in SUMMARY_KEYS] for r in summary_rows(result)]
    return _table_html(["row"] + [TITLES[k] for k in SUMMARY_KEYS], rows)


def legend_html() -> str:
    swatches = "".join(f'<span style="background:rgb{tuple(colour)}"></span>{_e(name)}'
                       for name, colour in ERROR_COLOURS.items())
    return f'<p class="legend">Error overlay:{swatches}</p>'


def _panel_cell(folder: Path, image_id: str, panel: str) -> str:
    thumb, full = panel_path(image_id, panel, True), panel_path(image_id, panel, False)
    if not (folder / thumb).is_file():
        return "<td class=panel>-</td>"
    return (f'<td class=panel><a href="{_e(full)}"><img src="{_e(thumb)}" loading="lazy" '
            f'alt="{_e(PANEL_TITLES[panel])} {_e(image_id)}"></a></td>')


def per_image_html(result: dict, folder: Path) -> str:
    keys = [k for k in IMAGE_KEYS if k in result["per_image"][0]]
    has_topology = "components_pred" in result["per_image"][0]
    header = "<th>image</th>" + "".join(f"<th>{PANEL_TITLES[p]}</th>" for p in PANELS)
    header += "".join(f'<th class=sortable onclick="sortBy(this)">{TITLES[k]}</th>' for k in keys)
    if has_topology:
        header += '<th class=sortable onclick="sortBy(this)">components pred / true</th>'
    rows = []
    for row in worst_first(result["per_image"]):
        cells = f"<td>{_e(row['id'])}</td>"
        cells += "".join(_panel_cell(folder, row["id"], p) for p in PANELS)
        cells += "".join(f'<td data-value="{row[k]}">{_num(row[k])}</td>' for k in keys)
        if has_topology:
            cells += (f'<td data-value="{row["components_pred"] - row["components_true"]}">'
                      f'{row["components_pred"]} / {row["components_true"]}</td>')
        rows.append(f"<tr>{cells}</tr>")
    return (f"<table id=per-image><thead><tr>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _config_block(result: dict) -> str:
    config = result.get("model_config") or {}
    if not config:
        return ""
    return ("<details><summary>training config of the model</summary><pre>"
            f"{_e(yaml.safe_dump(config, sort_keys=False))}</pre></details>")


def render_report(result: dict, folder: Path, figures: dict[str, bytes]) -> tuple[str, str]:
    """The HTML page and its Markdown twin for one evaluation."""
    title = (f"{_row_label(result)} on {result.get('dataset')} / {result.get('split')}")
    topology = topology_rows(result)
    sections = [
        f"<h1>{_e(title)}</h1>",
        f"<p>Scored inside the field of view at the dataset's native resolution; pooled "
        f"scores count every pixel of the split once, means weigh every image the same. "
        f"Threshold {_num(result['threshold'])} ({_e(result.get('threshold_source', ''))}).</p>",
        "<h2>Summary</h2>", summary_html(result),
        "<p>Small grey numbers: 95% bootstrap confidence intervals over images.</p>",
    ]
    if topology:
        sections += ["<h2>Topology</h2>",
                     "<p>clDice compares skeletons (1 = every centreline covered, no spurious "
                     "branches); a broken vessel adds components that pixel scores barely "
                     "notice.</p>",
                     _table_html(TOPOLOGY_HEADER, [[_e(c) for c in row] for row in topology])]
    sections += ["<h2>Curves</h2>",
                 f'<img class=figure alt="ROC curve" src="{_data_uri(figures["roc.png"])}">',
                 f'<img class=figure alt="precision-recall curve" '
                 f'src="{_data_uri(figures["pr.png"])}">',
                 f'<img class=figure alt="metrics versus threshold" '
                 f'src="{_data_uri(figures["threshold.png"])}">',
                 "<h2>Per image, worst F1 first</h2>",
                 "<p>Click a score's column title to sort by it; click a picture for full "
                 "size.</p>", legend_html(), per_image_html(result, folder),
                 "<h2>Provenance</h2>",
                 _table_html(["", ""], [[_e(k), _e(v)] for k, v in provenance(result)], "prov"),
                 _config_block(result)]
    page = _page(title, "\n".join(sections))
    return page, render_markdown(result, folder, title, topology)


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script>"
            f"</head><body>\n{body}\n<p style='color:#888'>retinaseg report, written "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
            f"</body></html>\n")


# --------------------------------------------------------------------------- Markdown

def _md_table(header: list[str], rows: list[list[str]]) -> str:
    clean = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(clean, header)) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(clean, row)) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(result: dict, folder: Path, title: str, topology: list) -> str:
    summary = [[r.label] + [f"{r.values[k]} {r.intervals[k]}".strip() for k in SUMMARY_KEYS]
               for r in summary_rows(result)]
    parts = [f"# {title}", "",
             f"FOV only, native resolution; threshold {_num(result['threshold'])} "
             f"({result.get('threshold_source', '')}). Brackets: 95% bootstrap intervals "
             "over images.", "", "## Summary", "",
             _md_table(["row"] + [TITLES[k] for k in SUMMARY_KEYS], summary), ""]
    if topology:
        parts += ["## Topology", "", _md_table(TOPOLOGY_HEADER, topology), ""]
    parts += ["## Curves", "", f"![ROC curve]({ASSETS}/roc.png)", "",
              f"![precision-recall curve]({ASSETS}/pr.png)", "",
              f"![metrics versus threshold]({ASSETS}/threshold.png)", "",
              "## Per image, worst F1 first", "",
              "Error overlay: " + ", ".join(f"{name} rgb{tuple(c)}"
                                           for name, c in ERROR_COLOURS.items()), "",
              _per_image_md(result, folder), "", "## Provenance", "",
              _md_table(["", ""], provenance(result)), ""]
    return "\n".join(parts)


def _per_image_md(result: dict, folder: Path) -> str:
    keys = [k for k in IMAGE_KEYS if k in result["per_image"][0]]
    rows = []
    for row in worst_first(result["per_image"]):
        cells = [row["id"]]
        for panel in PANELS:
            thumb, full = panel_path(row["id"], panel, True), panel_path(row["id"], panel, False)
            cells.append(f"[![{panel}]({thumb})]({full})" if (folder / thumb).is_file() else "-")
        rows.append(cells + [_num(row[k]) for k in keys])
    return _md_table(["image", *[PANEL_TITLES[p] for p in PANELS], *[TITLES[k] for k in keys]],
                     rows)


# --------------------------------------------------------------------------- comparison

@dataclass
class Run:
    label: str
    folder: Path
    result: dict


def load_runs(folders) -> list[Run]:
    runs = [Run(_row_label(result), Path(folder), result)
            for folder in folders for result in [read_result(folder)]]
    labels = [run.label for run in runs]
    for run in runs:
        if labels.count(run.label) > 1:  # the same model evaluated twice: name the folders
            run.label = f"{run.label} ({run.folder.name})"
    return runs


def comparison_rows(runs: list[Run]) -> list[list[str]]:
    rows, humans = [], {}
    for run in runs:
        pooled = run.result["pooled"]
        topo = run.result.get("topology", {})
        rows.append([run.label] + [_num(pooled.get(k)) for k in SUMMARY_KEYS]
                    + [_num(topo.get("cldice")), _num(run.result.get("seconds_per_image"), 3)])
        for name, obs in run.result.get("observers", {}).items():
            humans.setdefault(name, obs)
    for name, obs in humans.items():
        rows.append([f"human observer ({name})"] + [_num(obs["pooled"].get(k)) for k in SUMMARY_KEYS]
                    + [_num(obs.get("topology", {}).get("cldice")), "-"])
    return rows


COMPARISON_HEADER = (["run"] + [TITLES[k] for k in SUMMARY_KEYS] + ["clDice", "s / image"])


def _data_warning(runs: list[Run]) -> str:
    scored_on = {f"{r.result.get('dataset')}/{r.result.get('split')}" for r in runs}
    if len(scored_on) > 1:
        return (f"These runs were scored on different images ({', '.join(sorted(scored_on))}): "
                "their numbers are not comparable.")
    return ""


def write_comparison(folders, out_dir) -> list[Path]:
    """One table like the papers' (pooled scores, FOV) and all ROC / PR curves on one plot."""
    runs = load_runs(folders)
    out_dir = Path(out_dir)
    sources = [plots.curve_source(run.label, run.result) for run in runs]
    figures = {"comparison_roc.png": plots.roc_figure(sources),
               "comparison_pr.png": plots.pr_figure(sources)}
    provenance_rows = [[run.label, _run_link(run, out_dir), run.result.get("checkpoint_sha256", "")[:12],
                        f"{run.result.get('dataset')}/{run.result.get('split')} "
                        f"({run.result.get('images')} images)",
                        f"{_num(run.result['threshold'])} ({run.result.get('threshold_source', '')})",
                        run.result.get("tta", "none")] for run in runs]
    prov_header = ["run", "report", "sha256", "scored on", "threshold", "TTA"]
    warning = _data_warning(runs)
    table = comparison_rows(runs)
    body = ["<h1>Comparison of runs</h1>",
            f"<p class=warn>{_e(warning)}</p>" if warning else "",
            "<p>Pooled over every FOV pixel of the split, each model at its own threshold.</p>",
            _table_html(COMPARISON_HEADER, [[_e(c) for c in row] for row in table]),
            f'<img class=figure alt="ROC curves" src="{_data_uri(figures["comparison_roc.png"])}">',
            f'<img class=figure alt="PR curves" src="{_data_uri(figures["comparison_pr.png"])}">',
            "<h2>Runs</h2>",
            _table_html(prov_header, [[_e(c) if i != 1 else c for i, c in enumerate(row)]
                                      for row in provenance_rows], "prov")]
    markdown = "\n".join(["# Comparison of runs", "", f"> {warning}" if warning else "",
                          _md_table(COMPARISON_HEADER, table), "",
                          f"![ROC curves]({ASSETS}/comparison_roc.png)", "",
                          f"![PR curves]({ASSETS}/comparison_pr.png)", "",
                          _md_table(prov_header, [[*row[:1], _run_path(run, out_dir) or "-", *row[2:]]
                                                  for row, run in zip(provenance_rows, runs)]), ""])
    files = {out_dir / "comparison.html": _page("Comparison of runs", "\n".join(body)),
             out_dir / "comparison.md": markdown}
    files.update({out_dir / ASSETS / name: data for name, data in figures.items()})
    write_all_or_nothing(files)
    return list(files)


def _run_path(run: Run, out_dir: Path) -> str:
    page = run.folder / "report.html"
    return os.path.relpath(page, out_dir) if page.is_file() else ""


def _run_link(run: Run, out_dir: Path) -> str:
    href = _run_path(run, out_dir)
    return f'<a href="{_e(href)}">report</a>' if href else "-"

