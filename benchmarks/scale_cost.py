"""What do ``--scale caliber`` and ``--scale band`` cost beside the default ``fov``?

    python benchmarks/scale_cost.py --data-root ../shared/data [--model general] [--runs 9]

For a DRIVE-size and an HRF-size photo (the first photo of each training split; only
time is measured here, no score), in one run:

- whole process: ``retinaseg segment PHOTO --scale S`` for each rule, a fresh process
  and output folder each time, the rules alternated run by run (so a burst of load
  on a shared machine hits them alike); medians and the ratio to ``fov``;
- the calibre measurement alone, inside one process: ``retinaseg.caliber`` on the
  photo's default mask (a skeleton and a distance transform of the whole native-size
  mask), the part of ``band`` that every photo pays even when it keeps its first pass;
- whether each rule took a second pass on the photo, and at which FOV width.

Writes benchmarks/results/scale_cost.{md,json}.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from retinaseg.pipeline.caliber import working_caliber
from retinaseg.data import load_dataset
from retinaseg.data.fov import estimate_fov, fov_diameter
from retinaseg.data.io import read_photo
from retinaseg.hub.pretrained import load_model
from retinaseg.pipeline.segment import SCALES, segment_at_scale
from retinaseg.io.tables import markdown_table
from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from general_speed import alternated, segment_once  # noqa: E402  (one segment process, timed)

DATASETS = ("drive", "hrf")


def first_training_photo(dataset: str, data_root: str) -> Path:
    return load_dataset(dataset, "train", data_root).files[0].image


def calibre_seconds(bundle, image, fov, runs: int) -> float:
    """Median seconds of measuring the default mask's calibre (after one warm-up)."""
    first = segment_at_scale(bundle, image, fov, scale="fov")
    seconds = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        working_caliber(first.mask, fov, first.fov_width)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds[1:])


def passes(bundle, image, fov) -> dict:
    """The FOV width each rule segments at (the first pass's where it keeps it)."""
    return {scale: segment_at_scale(bundle, image, fov, scale=scale).fov_width
            for scale in SCALES}


def measure_photo(model: str, photo: Path, runs: int) -> dict:
    scales = list(SCALES)
    whole = alternated(scales, runs, lambda s: segment_once(photo, model, ["--scale", s]))
    medians = {s: statistics.median(v) for s, v in whole.items()}
    bundle = load_model(model)
    image = read_photo(photo).rgb
    fov = estimate_fov(image)
    widths = passes(bundle, image, fov)
    return {"photo": str(photo), "size": list(image.shape[:2]), "native_fov_px": fov_diameter(fov),
            "whole_process_s": whole, "median_s": medians,
            "ratio_to_fov": {s: medians[s] / medians["fov"] for s in scales},
            "calibre_s": calibre_seconds(bundle, image, fov, runs), "fov_width_px": widths}


def markdown(result: dict) -> str:
    rows = []
    for name, part in result["photos"].items():
        height, width = part["size"]
        for scale in SCALES:
            second = part["fov_width_px"][scale] != part["fov_width_px"]["fov"]
            spread = part["whole_process_s"][scale]
            rows.append([f"{name} ({width}x{height})", f"`{scale}`",
                         f"{part['median_s'][scale]:.2f} ({min(spread):.2f}-{max(spread):.2f})",
                         f"{part['ratio_to_fov'][scale]:.2f}",
                         f"{part['fov_width_px'][scale]:.0f}" + (" (second pass)" if second else ""),
                         f"{part['calibre_s']:.2f}" if scale != "fov" else "-"])
    table = markdown_table(["photo", "rule", "whole process, median s (min-max)", "ratio to `fov`",
                            "FOV width segmented at (px)", "calibre measurement, median s"],
                           rows, align="llrrrr")
    return (f"# What `--scale caliber` and `--scale band` cost, model `{result['model']}`\n\n"
            f"{provenance_markdown(result)}- runs: {result['runs']} whole processes per rule "
            f"and photo, rules alternated; OMP_NUM_THREADS {result['omp_num_threads']}\n\n"
            f"{table}\n\n- the calibre is measured on every photo under `caliber` and `band`, "
            "second pass or not; seconds are for this machine only, the ratios carry further\n")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale_cost"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = clean_provenance(ROOT, args.allow_dirty)
    photos = {name: measure_photo(args.model, first_training_photo(name, args.data_root),
                                  args.runs) for name in DATASETS}
    result.update(model=args.model, runs=args.runs, photos=photos,
                  omp_num_threads=os.environ.get("OMP_NUM_THREADS"))
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
