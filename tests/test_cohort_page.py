"""The cohort page: one offline report.html, checked in a real headless Chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from retinaseg.cli import main
from retinaseg.cohort.page import outlier_bounds, outlier_reasons, write_cohort_page
from synthetic import synthetic_fundus

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]


@pytest.fixture(scope="module")
def cohort(tiny_model, tmp_path_factory) -> Path:
    """A finished cohort run with --report: five photos, a note and a broken file."""
    folder = tmp_path_factory.mktemp("cohort-photos")
    for seed in range(5):
        image, _, _ = synthetic_fundus(96 + 16 * seed, 96 + 16 * seed, seed=seed)
        Image.fromarray(image).save(folder / f"photo{seed}.png")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path_factory.mktemp("cohort-out")
    assert main(["segment", str(folder), "--model", str(tiny_model), "--out", str(out),
                 "--save", "mask,overlay", "--report"]) == 1  # broken.png failed
    return out


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def _links(text: str) -> list[str]:
    parser = Links()
    parser.feed(text)
    return parser.links


def _assert_self_contained(text: str, folder: Path) -> None:
    for link in _links(text):
        if link.startswith("data:"):
            continue
        assert "://" not in link and not link.startswith("/") and ".." not in link, link
        assert (folder / link).is_file(), f"{link} is not one of the run's outputs"


def test_page_lists_photos_failures_and_skipped_and_links_only_its_own_outputs(cohort):
    page = (cohort / "report.html").read_text()
    _assert_self_contained(page, cohort)
    rows = json.loads(re.search(r'id="rows">(.*?)</script>', page, re.S).group(1))
    assert sorted(r["name"] for r in rows) == [f"photo{i}" for i in range(5)]
    assert all(r["thumb"].startswith("data:image/jpeg;base64,") for r in rows)
    for row in rows:  # every link in the rows' data is a picture this run wrote
        assert row["link"] == f"{row['name']}_overlay.png" and (cohort / row["link"]).is_file()
    others = page[page.index("Failed and skipped"):]
    assert "broken.png" in others and "failed" in others
    assert "notes.txt" in others and "skipped" in others and "not a photo" in others
    assert "<svg class=hist" in page


def test_report_command_writes_the_same_page_for_a_cohort_folder(cohort, capsys):
    first = (cohort / "report.html").read_text()
    assert main(["report", str(cohort)]) == 0
    assert f"wrote {cohort / 'report.html'}" in capsys.readouterr().out
    strip = lambda text: re.sub(r"data:image/jpeg;base64,[^\"']+", "", text)  # noqa: E731
    assert strip((cohort / "report.html").read_text()) == strip(first)
    assert not list(cohort.glob(".*tmp*")), "a temporary file was left behind"


def test_outliers_are_median_plus_minus_three_and_a_half_scaled_mads():
    values = [10.0, 11.0, 9.0, 10.5, 9.5, 10.0, 30.0]
    low, high, median, mad = outlier_bounds(values)
    assert median == 10.0 and mad == pytest.approx(1.4826 * 0.5)
    assert high == pytest.approx(10 + 3.5 * 1.4826 * 0.5)
    reasons = outlier_reasons({"components": 30.0}, {"components": (low, high, median, mad)})
    assert len(reasons) == 1 and "components 30 > median 10" in reasons[0]
    assert outlier_bounds([1, 1, 1, 1, 1, 2]) is None  # no spread: nothing is called
    assert outlier_bounds([1, 2, 3]) is None  # too few


def _chromium(url: str, profile: Path) -> tuple[str, str]:
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    return done.stdout, done.stderr


def _attribute(dom: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', dom)
    assert found, f"{name} not set: the page's script did not run to the end"
    return found.group(1)


def _shown(dom: str) -> list[str]:
    """The photos in the rendered table's body, top to bottom."""
    start = dom.index('<table id="photos">')
    return re.findall(r'<tr data-name="([^"]+)"', dom[start:dom.index("</table>", start)])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_page_runs_sorts_and_shows_thumbnails_in_headless_chromium(cohort, tmp_path):
    url = (cohort / "report.html").resolve().as_uri()
    dom, log = _chromium(url + "#sort=components:desc", tmp_path / "profile")
    assert _attribute(dom, "data-js-errors") == "0", _attribute(dom, "data-js-error")
    assert "Uncaught" not in log and "CONSOLE" not in log, log
    assert _attribute(dom, "data-ready") == "1"
    assert int(_attribute(dom, "data-thumbs-total")) == 5
    assert _attribute(dom, "data-thumbs-broken") == "0"
    rows = json.loads(re.search(r'id="rows">(.*?)</script>', dom, re.S).group(1))
    by_name = {r["name"]: r["components"] for r in rows}
    assert len(set(by_name.values())) > 1, "the photos should differ for the sort to show"
    down = [by_name[n] for n in _shown(dom)]
    assert down == sorted(by_name.values(), reverse=True)
    ascending, _ = _chromium(url + "#sort=components:asc", tmp_path / "profile2")
    assert [by_name[n] for n in _shown(ascending)] == sorted(by_name.values())
    _assert_self_contained(dom, cohort)  # the page as rendered links nothing else either
    filtered, _ = _chromium(url + "#filter=photo3", tmp_path / "profile3")
    assert _shown(filtered) == ["photo3"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_two_thousand_photos_page_in_hundreds_and_stay_quick(cohort, tmp_path):
    """A 2,000-photo table: the rows are the finished run's, repeated (the page, not the
    model, is under test); only one page of 100 is in the DOM."""
    import time

    rows = [json.loads(line) for line in (cohort / "results.jsonl").read_text().splitlines()]
    ok = [r for r in rows if r["status"] == "ok"]
    big = tmp_path / "big"
    big.mkdir()
    lines = []
    for i in range(2000):
        row = dict(ok[i % len(ok)], file=f"{ok[i % len(ok)]['file']}", name=f"p{i:04d}")
        lines.append(json.dumps(row))
    (big / "results.jsonl").write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    write_cohort_page(big)
    build_s = time.perf_counter() - started
    assert build_s < 120
    dom, _ = _chromium((big / "report.html").resolve().as_uri(), tmp_path / "profile")
    assert _attribute(dom, "data-js-errors") == "0"
    assert int(_attribute(dom, "data-thumbs-total")) == 100
    assert "2000 of 2000 photos" in dom and "page 1 of 20" in dom
