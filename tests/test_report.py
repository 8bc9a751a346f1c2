"""Evaluation reports end to end: real evaluation, real files, links that resolve."""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from retinaseg.cli import main
from retinaseg.evaluation.overlays import ERROR_COLOURS
from retinaseg.evaluation.report import THUMB_SIDE, panel_path


@pytest.fixture(scope="module")
def model(tiny_model):
    return tiny_model


def _evaluate(model, root, out, *extra, dataset="drive", split="test"):
    return main(["evaluate", "--model", str(model), "--dataset", dataset, "--split", split,
                 "--data-root", str(root), "--out", str(out), "--report",
                 "--bootstrap", "200", *extra])


@pytest.fixture(scope="module")
def drive_report(model, synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert _evaluate(model, synthetic_root, out) == 0
    return out


def _links(text: str, pattern: str) -> list[str]:
    return [link for link in re.findall(pattern, text) if not link.startswith("data:")]


def test_report_pages_and_every_link_they_hold_exist(drive_report):
    page = (drive_report / "report.html").read_text()
    markdown = (drive_report / "report.md").read_text()
    html_links = _links(page, r'(?:src|href)="([^"]+)"')
    md_links = _links(markdown, r"\]\(([^)]+)\)")
    result = json.loads((drive_report / "metrics.json").read_text())
    # four panels per image, each an embedded thumbnail linked to its full size
    assert len(html_links) == 4 * result["images"]
    assert all(link.startswith("report_files/images/") for link in html_links)
    for link in html_links + md_links:
        assert (drive_report / link).is_file(), link
    # ROC, PR, metric-vs-threshold, and the thumbnails: nothing the page needs is a file
    assert len(re.findall(r'src="data:image/', page)) == 3 + 4 * result["images"]
    for name in ("roc.png", "pr.png", "threshold.png"):
        assert Image.open(drive_report / "report_files" / name).size[0] > 300
    assert not list(drive_report.glob(".report-*")), "staging folder left behind"


def test_report_states_intervals_topology_observer_and_provenance(drive_report):
    result = json.loads((drive_report / "metrics.json").read_text())
    low, high = result["ci95"]["pooled"]["f1"]
    assert low <= result["pooled"]["f1"] <= high and low < high
    assert result["ci95"]["resamples"] == 200
    assert 0 < result["topology"]["cldice"] <= 1
    assert all("components_pred" in row for row in result["per_image"])
    observer = result["observers"]["2nd_manual"]
    assert "ci95" in observer and "topology" in observer
    page = (drive_report / "report.html").read_text()
    for needle in ("human observer (2nd_manual)", result["checkpoint_sha256"], "clDice",
                   f"[{low:.4f}, {high:.4f}]", "torch", "validation-f1"):
        assert needle in page, needle
    assert ("training config" in page) == bool(result["model_config"])


def test_per_image_rows_come_worst_f1_first(drive_report):
    result = json.loads((drive_report / "metrics.json").read_text())
    page = (drive_report / "report.html").read_text()
    start = page.index("<table id=per-image>")
    table = page[start:page.index("</table>", start)]
    shown = re.findall(r"<tr><td>([^<]+)</td>", table)
    expected = [r["id"] for r in sorted(result["per_image"], key=lambda r: r["f1"])]
    assert shown == expected


def test_panels_are_native_size_with_errors_coloured_by_kind(drive_report, synthetic_root):
    result = json.loads((drive_report / "metrics.json").read_text())
    image_id = result["per_image"][0]["id"]
    photo = Image.open(drive_report / panel_path(image_id, "photo", thumb=False))
    truth = np.asarray(Image.open(drive_report / panel_path(image_id, "truth", False))) == 255
    pred = np.asarray(Image.open(drive_report / panel_path(image_id, "prediction", False))) == 255
    errors = np.asarray(Image.open(drive_report / panel_path(image_id, "errors", False)))
    assert photo.size == (truth.shape[1], truth.shape[0]) == (errors.shape[1], errors.shape[0])
    for kind, where in (("true positive", truth & pred), ("false positive", pred & ~truth),
                        ("false negative", truth & ~pred)):
        if where.any():
            assert (errors[where] == ERROR_COLOURS[kind]).all(), kind
    thumb = Image.open(drive_report / panel_path(image_id, "errors", thumb=True))
    assert max(thumb.size) <= THUMB_SIDE


def test_large_images_are_thumbnailed_on_the_page(model, make_dataset, tmp_path):
    root, _ = make_dataset("hrf", size=(300, 450))
    out = tmp_path / "hrf"
    assert _evaluate(model, root, out, dataset="hrf", split="test") == 0
    for thumb in (out / "report_files" / "thumbs").iterdir():
        assert max(Image.open(thumb).size) <= THUMB_SIDE
    full = next((out / "report_files" / "images").glob("*_errors.png"))
    assert Image.open(full).size == (450, 300)
    # the page embeds the thumbnails (base64: 4/3 of their bytes), never the full size
    thumbs = sum(p.stat().st_size for p in (out / "report_files" / "thumbs").iterdir())
    assert (out / "report.html").stat().st_size < 4 / 3 * thumbs + 400_000


def test_report_command_compares_runs_and_rebuilds_pages(model, drive_report, synthetic_root,
                                                         tmp_path, capsys):
    other = tmp_path / "tta"
    assert _evaluate(model, synthetic_root, other, "--tta", "flip") == 0
    (drive_report / "report.html").unlink()
    out = tmp_path / "cmp"
    assert main(["report", str(drive_report), str(other), "--out", str(out)]) == 0
    assert (drive_report / "report.html").is_file()  # rebuilt from metrics.json
    page = (out / "comparison.html").read_text()
    label = f"{model.parent.name}/{model.name}"
    assert f"{label} ({drive_report.name})" in page and f"{label} (tta)" in page
    assert "human observer (2nd_manual)" in page
    for link in _links(page, r'href="([^"]+)"'):
        assert (out / link).resolve().is_file(), link
    assert "different images" not in page
    assert (out / "report_files" / "comparison_roc.png").is_file()
    assert "comparison.md" in capsys.readouterr().out


def test_comparing_runs_on_different_data_warns(model, drive_report, make_dataset, tmp_path):
    root, _ = make_dataset("chase_db1")
    chase = tmp_path / "chase"
    assert _evaluate(model, root, chase, dataset="chase_db1", split="test") == 0
    assert main(["report", str(drive_report), str(chase), "--out", str(tmp_path / "c")]) == 0
    assert "different images" in (tmp_path / "c" / "comparison.html").read_text()


def test_report_of_a_folder_without_metrics_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no metrics.json" in err[0] and str(tmp_path) in err[0]


def test_a_failed_evaluation_leaves_the_previous_report_untouched(model, make_dataset, tmp_path):
    root, folder = make_dataset("drive")
    out = tmp_path / "out"
    assert _evaluate(model, root, out) == 0
    before = (out / "report.html").read_bytes()
    mask = folder / "test" / "1st_manual" / "02_manual1.gif"
    Image.open(mask).resize((10, 10)).save(mask)
    assert _evaluate(model, root, out) == 2
    assert (out / "report.html").read_bytes() == before
    assert not list(out.glob(".report-*"))
    fresh = tmp_path / "fresh"
    assert _evaluate(model, root, fresh) == 2
    assert not fresh.exists() or not any(p for p in fresh.iterdir() if p.name != ".")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_opens_in_headless_chromium_with_every_image_loaded(drive_report, tmp_path):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    url = (drive_report / "report.html").resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    total = int(re.search(r'data-images-total="(\d+)"', dom).group(1))
    broken = int(re.search(r'data-images-broken="(\d+)"', dom).group(1))
    result = json.loads((drive_report / "metrics.json").read_text())
    assert total == 3 + 4 * result["images"] and broken == 0
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *flags, "--window-size=1400,2000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    assert Image.open(shot).size == (1400, 2000)
