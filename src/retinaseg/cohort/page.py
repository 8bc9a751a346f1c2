"""The cohort page: ``OUT/report.html`` of a finished ``retinaseg segment`` run.

One file that opens offline: every picture is a ``data:`` URI, the script is
vanilla JS, nothing is fetched. It holds

* a table, one row per photo (thumbnail with the mask over it, verdict and its
  reasons, the key measures), sortable, filterable and paged (:data:`PAGE_ROWS`
  rows at a time, so 2,000 photos stay quick: the rows live in one JSON block
  and only the page shown is in the DOM);
* a histogram of each numeric measure across the photos that were segmented
  (inline SVG), with the outlier bounds drawn;
* outliers: a value outside median +- :data:`OUTLIER_MADS` scaled MADs
  (1.4826 x the median absolute deviation, which estimates the standard
  deviation of normal data while ignoring the outliers themselves), with the
  reason on the row;
* the inputs that failed or were skipped, with why.

The sort and the filter live in the address (``report.html#sort=components:desc``),
so a view can be shared, and the page reopens where it was.
"""
from __future__ import annotations

import csv
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from ..errors import file_error
from .page_assets import PAGE_ROWS, page_html  # noqa: F401 (PAGE_ROWS: the page size)
from .table import OK, TABLE_STEM

PAGE_NAME = "report.html"
THUMB_SIDE = 128
OUTLIER_MADS = 3.5
MAD_TO_SD = 1.4826  # scaled MAD: the standard deviation of normal data
MIN_PHOTOS_FOR_OUTLIERS = 5  # fewer: a median and a MAD say too little
HISTOGRAM_BINS = 20

# The measures the table shows, (column, title); the first ones are the outlier checks.
KEY_MEASURES = (("vessel_area_fraction", "vessel area fraction"),
                ("fractal_dimension", "fractal dimension"),
                ("width_mean_mm", "mean width (mm)"),
                ("skeleton_length_mm", "length (mm)"),
                ("tortuosity_arc_chord", "tortuosity (arc/chord)"),
                ("branch_points", "branch points"),
                ("components", "components"),
                ("width_mean_px", "mean width (px)"))
OUTLIER_MEASURES = tuple(column for column, _ in KEY_MEASURES[:7])
# Numeric columns that are bookkeeping, not measures of the photo: no histogram.
NOT_MEASURES = {"width", "height", "seconds", "cut", "threshold", "min_object_px",
                "working_scale", "objects_dropped", "mm_per_pixel", "fov_diameter_px"}


def is_cohort_folder(folder) -> bool:
    """A ``retinaseg segment --out`` folder: it holds the results table."""
    folder = Path(folder)
    return any((folder / f"{TABLE_STEM}{suffix}").is_file() for suffix in (".jsonl", ".csv"))


def read_cohort_rows(folder: Path) -> list[dict]:
    """The results table's rows, typed (the JSONL twin, else the CSV with numbers parsed)."""
    jsonl, csv_path = folder / f"{TABLE_STEM}.jsonl", folder / f"{TABLE_STEM}.csv"
    if jsonl.is_file():
        try:
            return [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise file_error(jsonl, f"line {exc.lineno} is not JSON; rerun the segment job "
                                    "to repair the table") from None
    if not csv_path.is_file():
        raise file_error(folder, "no results.csv or results.jsonl here: not a 'retinaseg "
                                 "segment' output folder")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        return [{k: _typed(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _typed(text: str | None):
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# --- outliers -----------------------------------------------------------------------------

def finite(values) -> np.ndarray:
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    array = np.array(numbers, dtype=float)
    return array[np.isfinite(array)]


def outlier_bounds(values) -> tuple[float, float, float, float] | None:
    """``(low, high, median, scaled MAD)``, or None where no outlier can be called
    (too few values, or a MAD of 0: most photos share one value)."""
    array = finite(values)
    if array.size < MIN_PHOTOS_FOR_OUTLIERS:
        return None
    median = float(np.median(array))
    mad = MAD_TO_SD * float(np.median(np.abs(array - median)))
    if mad == 0:
        return None
    return median - OUTLIER_MADS * mad, median + OUTLIER_MADS * mad, median, mad


def outlier_reasons(row: dict, bounds: dict) -> list[str]:
    """Why a row is an outlier: each measure outside its bounds, in words."""
    reasons = []
    for column, (low, high, median, _) in bounds.items():
        value = row.get(column)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if value > high:
            reasons.append(f"{column} {value:.4g} > median {median:.4g} + {OUTLIER_MADS:g} "
                           f"MAD ({high:.4g})")
        elif value < low:
            reasons.append(f"{column} {value:.4g} < median {median:.4g} - {OUTLIER_MADS:g} "
                           f"MAD ({low:.4g})")
    return reasons


# --- thumbnails -----------------------------------------------------------------------------

def thumbnail_uri(folder: Path, row: dict) -> str:
    """A small JPEG of the photo with its mask in green, as a ``data:`` URI; "" when
    neither the photo nor a picture of it can be read any more."""
    from PIL import Image

    photo = _small_photo(row)
    mask_file = folder / f"{row.get('name')}_mask.png"
    overlay_file = folder / f"{row.get('name')}_overlay.png"
    if photo is None and overlay_file.is_file():
        photo = _small_picture(overlay_file)
    elif photo is not None and mask_file.is_file():
        photo = _with_mask(photo, mask_file)
    elif photo is None and mask_file.is_file():
        photo = _small_picture(mask_file)
    if photo is None:
        return ""
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=75)
    return "data:image/jpeg;base64," + _b64(buffer.getvalue())


def _small_photo(row: dict) -> np.ndarray | None:
    from .inputs import SAMPLE_FILE

    try:
        if row.get("file") == SAMPLE_FILE:
            from PIL import Image

            from ..pipeline.segment import sample_image

            image = Image.fromarray(sample_image())
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            return np.asarray(image.convert("RGB"))
        return _small_picture(Path(row.get("file") or ""))
    except Exception:  # noqa: BLE001 - a photo moved or unreadable since: no thumbnail
        return None


def _small_picture(path: Path) -> np.ndarray | None:
    from PIL import Image

    if not path.is_file():
        return None
    try:
        with Image.open(path) as image:
            image.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode at 1/2..1/8
            image = image.convert("RGB")
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            return np.asarray(image)
    except Exception:  # noqa: BLE001 - not a picture any more: no thumbnail
        return None


def _with_mask(photo: np.ndarray, mask_file: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(mask_file) as mask:
            # Box-filtered, so a vessel thinner than a thumbnail pixel still shows, fainter.
            small = mask.convert("L").resize((photo.shape[1], photo.shape[0]), Image.BOX)
    except Exception:  # noqa: BLE001 - the photo alone is still worth showing
        return photo
    alpha = np.clip(np.asarray(small, dtype=float) / 255 * 1.6, 0, 0.85)[..., None]
    green = np.array([40, 255, 90], dtype=float)
    return (photo * (1 - alpha) + green * alpha).astype(np.uint8)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


# --- the page -------------------------------------------------------------------------------

def histogram_svg(column: str, values: np.ndarray, bounds) -> str:
    """One measure's histogram as inline SVG, the outlier bounds as red dashes."""
    width, height, pad = 260, 110, 18
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    counts, _ = np.histogram(values, bins=HISTOGRAM_BINS, range=(low, low + span))
    top = max(int(counts.max()), 1)
    bar_w = (width - 2 * pad) / HISTOGRAM_BINS
    bars = "".join(
        f'<rect x="{pad + i * bar_w:.1f}" y="{height - pad - c / top * (height - 2 * pad):.1f}" '
        f'width="{bar_w - 1:.1f}" height="{c / top * (height - 2 * pad):.1f}" fill="#5b8def">'
        f"<title>{c}</title></rect>" for i, c in enumerate(counts))
    marks = ""
    for edge in (bounds[:2] if bounds else ()):
        if low <= edge <= low + span:
            x = pad + (edge - low) / span * (width - 2 * pad)
            marks += (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad - 4}" y2="{height - pad}" '
                      'stroke="#d33" stroke-dasharray="3,2"/>')
    label = (f'<text x="{pad}" y="{height - 3}" font-size="10">{low:.4g}</text>'
             f'<text x="{width - pad}" y="{height - 3}" font-size="10" text-anchor="end">'
             f"{high:.4g}</text>"
             f'<text x="{pad}" y="11" font-size="11" font-weight="600">{_e(column)} '
             f"(n={values.size})</text>")
    return (f'<svg class=hist width="{width}" height="{height}" role="img" '
            f'aria-label="histogram of {_e(column)}">{bars}{marks}{label}</svg>')


def numeric_measures(rows: list[dict]) -> list[str]:
    """Columns whose values in the segmented rows are numbers (and some are not empty)."""
    from .worker import MEASUREMENT_COLUMNS, QUALITY_COLUMNS

    columns = [c for c in (*MEASUREMENT_COLUMNS, *QUALITY_COLUMNS) if c not in NOT_MEASURES]
    return [c for c in columns
            if any(isinstance(r.get(c), (int, float)) for r in rows)
            and all(r.get(c) is None or isinstance(r.get(c), (int, float)) for r in rows)]


def page_rows(folder: Path, rows: list[dict], bounds: dict) -> list[dict]:
    """What the table's script needs of each segmented photo."""
    shown = []
    for row in rows:
        link = next((f"{row['name']}_{kind}.png" for kind in ("overlay", "mask", "prob")
                     if (folder / f"{row['name']}_{kind}.png").is_file()), "")
        shown.append({
            "name": row.get("name"), "file": Path(str(row.get("file"))).name,
            "quality": row.get("quality") or "", "reasons": row.get("quality_notes") or "",
            "scale_source": row.get("scale_source") or "",
            **{column: _number(row.get(column)) for column, _ in KEY_MEASURES},
            "outliers": outlier_reasons(row, bounds), "thumb": thumbnail_uri(folder, row),
            "link": link})
    return shown


def _number(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def render_cohort_page(folder: Path, rows: list[dict]) -> str:
    ok = [r for r in rows if r.get("status") == OK]
    others = [r for r in rows if r.get("status") != OK]
    measures = numeric_measures(ok)
    all_bounds = {c: outlier_bounds(r.get(c) for r in ok) for c in measures}
    bounds = {c: all_bounds[c] for c in OUTLIER_MEASURES if all_bounds.get(c)}
    data = page_rows(folder, ok, bounds)
    flagged = sum(bool(r["outliers"]) for r in data)
    columns = [{"key": "name", "title": "photo"}, {"key": "quality", "title": "verdict"},
               {"key": "reasons", "title": "reasons"},
               *({"key": c, "title": t, "numeric": True} for c, t in KEY_MEASURES),
               {"key": "scale_source", "title": "mm from"},
               {"key": "outliers", "title": "outlier"}]
    histograms = "".join(histogram_svg(c, finite(r.get(c) for r in ok), all_bounds[c])
                         for c in measures if finite(r.get(c) for r in ok).size)
    called = ", ".join(bounds) or "none (too few photos, or no spread)"
    sections = [
        f"<h1>Cohort: {len(ok)} of {len(rows)} inputs segmented</h1>",
        f"<p class=meta>{_e(folder.resolve())} &middot; model {_e(_first(ok, 'model'))} "
        f"&middot; {flagged} outliers (median &plusmn; {OUTLIER_MADS:g} scaled MAD on: "
        f"{_e(called)}) &middot; {len(others)} failed or skipped</p>",
        "<h2>Photos</h2>",
        "<div class=controls><input id=filter type=search placeholder='filter: name, "
        "verdict, reasons...' aria-label=filter> <label><input id=outliers-only "
        "type=checkbox> outliers only</label> <span id=count></span> "
        "<span id=pager></span></div>",
        "<table id=photos><thead><tr></tr></thead><tbody></tbody></table>",
        "<h2>Measures across the cohort</h2>",
        "<p>Red dashes: the outlier bounds (median &plusmn; "
        f"{OUTLIER_MADS:g} &times; 1.4826 &times; MAD).</p><div class=hists>{histograms}</div>",
        f"<h2>Failed and skipped inputs ({len(others)})</h2>", _others_table(others),
        _json_block("columns", columns), _json_block("rows", data),
    ]
    return page_html("retinaseg cohort", "\n".join(sections))


def _first(rows: list[dict], key: str) -> str:
    return str(rows[0].get(key)) if rows else "-"


def _others_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>None.</p>"
    body = "".join(f"<tr><td>{_e(Path(str(r.get('file'))).name)}</td><td>{_e(r.get('status'))}"
                   f"</td><td class=why>{_e(r.get('error') or '')}</td></tr>" for r in rows)
    return ("<table id=others><thead><tr><th>input</th><th>status</th><th>why</th></tr>"
            f"</thead><tbody>{body}</tbody></table>")


def _json_block(name: str, value) -> str:
    text = json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{name}">{text}</script>'


def _e(text) -> str:
    return html.escape(str(text))


def write_cohort_page(folder) -> Path:
    """Write ``folder/report.html`` from its results table, atomically (a reader never
    sees half a page, a failure leaves the previous one)."""
    from ..io.atomic import write_all_or_nothing

    folder = Path(folder)
    page = render_cohort_page(folder, read_cohort_rows(folder))
    path = folder / PAGE_NAME
    write_all_or_nothing({path: page.encode("utf-8")})
    return path
