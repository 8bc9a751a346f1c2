"""Open an evaluation report in headless Chromium and check that everything shows.

    python benchmarks/report_browser_check.py --data-root ../shared/data \\
        [--dataset drive --split test --model unet-drive] [--out retinaseg-out/report-check]

Evaluates with ``--report``, loads report.html in Chromium (the flags this
machine needs: no sandbox as root, no background networking), reads back how
many images the page holds and how many failed to load, and takes a full-page
screenshot to look at. Writes benchmarks/results/report_browser_<dataset>.{json,md}
with the page's size on disk; the screenshot stays in --out (it shows the
dataset's photos, which must not be committed).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from retinaseg.cli import main as retinaseg
from retinaseg.io.tables import markdown_table
from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=20000"]


def chromium(*args: str) -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("chromium not found; install Debian's 'chromium' package")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=300)
    return done.stdout


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--dataset", default="drive")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default="unet-drive")
    parser.add_argument("--out", default="retinaseg-out/report-check")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    header = clean_provenance(ROOT, args.allow_dirty)
    out = Path(args.out)
    if retinaseg(["evaluate", "--model", args.model, "--dataset", args.dataset, "--split",
                  args.split, "--data-root", args.data_root, "--out", str(out), "--report"]):
        return 1
    url = (out / "report.html").resolve().as_uri()
    dom = chromium("--dump-dom", url)
    total = int(re.search(r'data-images-total="(\d+)"', dom).group(1))
    broken = int(re.search(r'data-images-broken="(\d+)"', dom).group(1))
    chromium("--window-size=1400,4000", f"--screenshot={(out / 'screenshot.png').resolve()}", url)
    metrics = json.loads((out / "metrics.json").read_text())
    images = metrics["images"]
    result = {**header, "dataset": args.dataset, "split": args.split,
              "images_in_split": images, "images_on_page": total, "images_broken": broken,
              "expected_on_page": 3 + 4 * images,
              "html_bytes": (out / "report.html").stat().st_size,
              "markdown_bytes": (out / "report.md").stat().st_size,
              "report_files_bytes": folder_bytes(out / "report_files"),
              "screenshot": str(out / "screenshot.png"),
              "pooled": {k: metrics["pooled"][k] for k in ("f1", "auc_roc")},
              "ci95_pooled": {k: metrics["ci95"]["pooled"][k] for k in ("f1", "auc_roc")},
              "topology": metrics.get("topology")}
    table = markdown_table(
        ["images in split", "images on page (expected)", "failed to load", "report.html",
         "report_files/"],
        [[images, f"{total} ({result['expected_on_page']})", broken,
          f"{result['html_bytes'] / 1024:.0f} KiB",
          f"{result['report_files_bytes'] / 2**20:.1f} MiB"]])
    write_result(ROOT / "benchmarks" / "results" / f"report_browser_{args.dataset}", result,
                 f"# Report of {args.model} on {args.dataset}/{args.split} in headless Chromium\n\n"
                 + provenance_markdown(result) + "\n" + table + "\n\n"
                 + "".join(f"- pooled {k}: {v:.4f}, 95% bootstrap interval over images "
                           f"[{result['ci95_pooled'][k][0]:.4f}, {result['ci95_pooled'][k][1]:.4f}]\n"
                           for k, v in result["pooled"].items()))
    return 0 if broken == 0 and total == result["expected_on_page"] else 1


if __name__ == "__main__":
    sys.exit(main())
