"""How thick each set's vessels are drawn: widths along the skeleton of the manual labels.

    python benchmarks/label_width.py --data-root ../shared/data

For every photo of the training and test splits of the six leave-one-camera-out
sources (DRIVE, CHASE_DB1, HRF, LES-AV, AV-WIDE, VEVIO; VEVIO's frames and mosaics
apart): the manual vessel mask inside the FOV, skeletonised, and the width at each
skeleton pixel, twice its distance to the background (``retinaseg.measure.shape.widths_px``,
the measure `--scale caliber` uses). Per photo: the median, mean and 95th percentile of
those widths in px, the same per 1000 px of FOV width (the scale a model is trained and
run at), the median at the leave-one-camera-out working scale (the FOV width clamped
into ``--fov-range``, 512-1280 px as in configs/loco-*.yaml), and the vessel fraction of
the FOV. Per source and split: the median over its photos of each. The FOV widths of
AV-WIDE are estimated (no masks); an Optos wide-field photo's FOV width is not the
same anatomy as a 45 degree photo's. Writes benchmarks/results/label_width.{md,json}.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from common import add_dirty_option, clean_provenance, provenance_markdown, write_result
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

from retinaseg.data import fov_diameter, load_dataset
from retinaseg.io.tables import markdown_table
from retinaseg.measure.shape import widths_px

ROOT = Path(__file__).resolve().parents[1]
GROUPS = (("drive", "train"), ("drive", "test"), ("chase_db1", "train"), ("chase_db1", "test"),
          ("hrf", "train"), ("hrf", "test"), ("les_av", "train"), ("les_av", "test"),
          ("av_wide", "train"), ("av_wide", "test"), ("vevio", "frames"), ("vevio", "mosaics"))
FIELDS = ("median_px", "mean_px", "p95_px", "median_per_1000", "p95_per_1000", "median_working_px",
          "fov_width_px", "vessel_fraction")


def photo_widths(vessel: np.ndarray, fov: np.ndarray, fov_range) -> dict:
    """The width figures of one manual mask (see the module docstring)."""
    mask = np.asarray(vessel, dtype=bool) & np.asarray(fov, dtype=bool)
    widths = widths_px(distance_transform_edt(mask), skeletonize(mask))
    width = fov_diameter(np.asarray(fov, dtype=bool))
    working = min(max(width, fov_range[0]), fov_range[1]) / width
    median, mean, p95 = (float(np.median(widths)), float(np.mean(widths)),
                         float(np.percentile(widths, 95))) if widths.size else (np.nan,) * 3
    return {"median_px": median, "mean_px": mean, "p95_px": p95, "median_per_1000": 1000 * median / width,
            "p95_per_1000": 1000 * p95 / width, "median_working_px": median * working,
            "fov_width_px": width, "vessel_fraction": float(mask.sum() / max(1, fov.sum()))}


def measure(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    groups = []
    for name, split in GROUPS:
        data = load_dataset(name, split, args.data_root)
        data = data[:args.limit] if args.limit else data
        photos = {s.id: photo_widths(s.vessel, s.fov, args.fov_range) for s in data}
        summary = {k: float(np.nanmedian([p[k] for p in photos.values()])) for k in FIELDS}
        groups.append({"dataset": name, "split": split, "images": len(photos),
                       "fov_estimated": any(s.fov_estimated for s in data[:1]),
                       **summary, "photos": photos})
        print(f"{name} {split}: median width {summary['median_px']:.2f} px", file=sys.stderr,
              flush=True)
    groups += hrf_category_groups(groups)
    result.update(limit=args.limit, fov_range=list(args.fov_range), groups=groups)
    return result


HRF_CATEGORIES = (("_h", "healthy"), ("_g", "glaucoma"), ("_dr", "DR"))


def hrf_category_groups(groups: list[dict]) -> list[dict]:
    """HRF's photos again by category, training and test splits together: its three
    categories' labels are not drawn alike (the calibre gap of docs/artery-vein.md)."""
    photos = {pid: p for g in groups if g["dataset"] == "hrf" for pid, p in g["photos"].items()}
    found = []
    for suffix, title in HRF_CATEGORIES:
        chosen = {pid: p for pid, p in photos.items() if pid.endswith(suffix)}
        if chosen:
            summary = {k: float(np.nanmedian([p[k] for p in chosen.values()])) for k in FIELDS}
            found.append({"dataset": f"hrf ({title})", "split": "train+test",
                          "images": len(chosen), "fov_estimated": False, **summary,
                          "photos": chosen})
    return found


def markdown(result: dict) -> str:
    rows = [[g["dataset"], g["split"], g["images"], f"{g['median_px']:.2f}", f"{g['mean_px']:.2f}", f"{g['p95_px']:.2f}",
             f"{g['fov_width_px']:.0f}" + (" (est.)" if g["fov_estimated"] else ""),
             f"{g['median_per_1000']:.2f}", f"{g['p95_per_1000']:.2f}",
             f"{g['median_working_px']:.2f}", f"{100 * g['vessel_fraction']:.1f}%"]
            for g in result["groups"]]
    low, high = result["fov_range"]
    return "\n".join([
        "# How thick each set's vessels are drawn", "", provenance_markdown(result),
        "- each manual vessel mask inside its FOV, skeletonised; width at a skeleton pixel = "
        "twice its distance to the background; per photo the median and 95th percentile, in "
        "px and per 1000 px of FOV width; the table gives the median over a group's photos",
        f"- working px: the median width at the training scale of configs/loco-*.yaml (FOV "
        f"width clamped into {low:.0f}-{high:.0f} px)"
        + (f"\n- **only the first {result['limit']} photos of each group (--limit)**"
           if result["limit"] else ""), "",
        markdown_table(["set", "split", "photos", "median width px", "mean px", "p95 px", "FOV width px",
                        "median / 1000 px FOV", "p95 / 1000 px FOV", "median working px",
                        "vessel fraction"], rows), ""])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--fov-range", type=float, nargs=2, default=[512.0, 1280.0])
    parser.add_argument("--limit", type=int, default=0, help="first N photos of each group")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "label_width"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = measure(args)
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
