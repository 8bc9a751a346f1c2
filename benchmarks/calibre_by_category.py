"""Calibre differences by HRF category, from a calibre_agreement result's per-photo values.

    python benchmarks/calibre_by_category.py \\
        --result benchmarks/results/calibre_agreement_general_av.json \\
        --out benchmarks/results/calibre_by_category_general_av

HRF's healthy, glaucoma and diabetic-retinopathy photos are not labelled alike (its
glaucoma and DR labels draw the vessels thinner: benchmarks/results/label_width.md), so
a single mean difference over HRF mixes three conventions. Per category (the photo id's
``_h``, ``_g``, ``_dr``): the mean and sd of (model - manual) for each biomarker, over the
photos where both have a value. Reads the JSON only: no model runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from common import add_dirty_option, clean_provenance, provenance_markdown, write_result

from retinaseg.io.tables import markdown_table

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = (("_h", "healthy"), ("_g", "glaucoma"), ("_dr", "DR"))
BIOMARKERS = ("crae_px", "crve_px", "avr", "crae_px_zone_c", "crve_px_zone_c", "avr_zone_c")


def differences(images: list[dict], suffix: str, biomarker: str) -> list[float]:
    return [i["other"][biomarker] - i["manual"][biomarker] for i in images
            if i["id"].endswith(suffix) and i["other"].get(biomarker) is not None
            and i["manual"].get(biomarker) is not None]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="result path without suffix")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    result = clean_provenance(ROOT, args.allow_dirty)
    source = json.loads(args.result.read_text())
    images = source["datasets"]["hrf"]["images"]
    rows = []
    for suffix, title in CATEGORIES:
        for biomarker in BIOMARKERS:
            found = differences(images, suffix, biomarker)
            rows.append({"category": title, "biomarker": biomarker, "photos": len(found),
                         "mean": float(np.mean(found)) if found else None,
                         "sd": float(np.std(found, ddof=1)) if len(found) > 1 else None})
    result.update(source=str(args.result.relative_to(ROOT) if args.result.is_absolute()
                             else args.result), model=source.get("model"), rows=rows)
    body = [[r["category"], r["biomarker"], r["photos"],
             "" if r["mean"] is None else f"{r['mean']:+.3f}",
             "" if r["sd"] is None else f"{r['sd']:.3f}"] for r in rows]
    text = "\n".join([f"# Calibre differences by HRF category: model {result['model']}", "",
                      provenance_markdown(result), f"- from `{result['source']}` "
                      "(per-photo values; model - manual, photos where both have a value)",
                      "", markdown_table(["category", "biomarker", "photos", "mean difference",
                                          "sd"], body), ""])
    write_result(args.out, result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
