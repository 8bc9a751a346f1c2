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

The page embeds its figures and thumbnails (``data:`` URIs), so it opens from
anywhere without report_files/ and needs no network; a thumbnail links to its
full-size picture there, so a report of HRF's 3504x2336 images stays small.

Modules: :mod:`.panels` (the per-image pictures), :mod:`.rows` (what the tables
say, whatever the format), :mod:`.html` and :mod:`.markdown` (the two pages),
:mod:`.comparison` (several runs side by side), :mod:`.publish` (staging and
swapping a report into place).
"""
from ..results import read_result
from .comparison import write_comparison
from .panels import ASSETS, PANELS, THUMB_SIDE, PanelWriter, panel_path, panel_stem
from .publish import publish_report, rebuild_report, render_report, staged_report

__all__ = ["ASSETS", "PANELS", "THUMB_SIDE", "PanelWriter", "panel_path", "panel_stem",
           "publish_report", "read_result", "rebuild_report", "render_report", "staged_report",
           "write_comparison"]
