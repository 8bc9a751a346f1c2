"""How well ``estimate_fov`` matches the official FOV masks (DRIVE, HRF).

Per image: IoU of the estimated mask with the official one, and the time of
``estimate_fov`` alone (decoding excluded). CHASE_DB1 has no official masks, so
it gets sanity statistics instead: FOV share of the image, solidity (area over
convex-hull area; a ragged or notched edge lowers it) and width.

    python benchmarks/fov_estimate.py [--data-root ../shared/data]

Writes ``benchmarks/results/fov_estimate.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from skimage.morphology import convex_hull_image

from retinaseg.data import estimate_fov, fov_diameter, load_dataset
from retinaseg.io.tables import markdown_table
from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, write_result

REPO = Path(__file__).resolve().parents[1]
WITH_MASKS = ("drive", "hrf")
WITHOUT_MASKS = ("chase_db1",)


def timed_estimate(image: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    fov = estimate_fov(image)
    return fov, time.perf_counter() - start


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def score_with_masks(name: str, root: Path) -> list[dict]:
    rows = []
    for sample in load_dataset(name, "all", root=root):
        fov, seconds = timed_estimate(sample.image)
        rows.append({"id": sample.id, "iou": round(iou(fov, sample.fov), 5),
                     "false_pos": int(np.count_nonzero(fov & ~sample.fov)),
                     "false_neg": int(np.count_nonzero(~fov & sample.fov)),
                     "seconds": round(seconds, 4), "size": list(sample.image.shape[1::-1])})
    return rows


def sanity_without_masks(name: str, root: Path) -> list[dict]:
    rows = []
    for sample in load_dataset(name, "all", root=root):
        fov, seconds = timed_estimate(sample.image)
        rows.append({"id": sample.id, "fov_share": round(float(fov.mean()), 4),
                     "solidity": round(float(fov.sum() / convex_hull_image(fov).sum()), 5),
                     "width": fov_diameter(fov), "seconds": round(seconds, 4),
                     "size": list(sample.image.shape[1::-1])})
    return rows


def summarise(rows: list[dict], key: str) -> dict:
    values = np.array([r[key] for r in rows])
    worst = min(rows, key=lambda r: r[key])
    return {"n": len(rows), f"mean_{key}": round(float(values.mean()), 5),
            f"min_{key}": round(float(values.min()), 5), "min_id": worst["id"],
            "mean_seconds": round(float(np.mean([r["seconds"] for r in rows])), 4),
            "max_seconds": round(float(np.max([r["seconds"] for r in rows])), 4)}


def markdown(result: dict) -> str:
    summary = result["summary"].items()
    with_masks = [[name, s["n"], f"{s['mean_iou']:.4f}", f"{s['min_iou']:.4f} ({s['min_id']})",
                   f"{s['mean_seconds']:.3f}", f"{s['max_seconds']:.3f}"]
                  for name, s in summary if "mean_iou" in s]
    without = [[name, s["n"], f"{s['mean_solidity']:.4f}",
                f"{s['min_solidity']:.4f} ({s['min_id']})", f"{s['mean_seconds']:.3f}"]
               for name, s in summary if "mean_solidity" in s]
    lines = ["# FOV estimation vs official masks", "", provenance_markdown(result),
             markdown_table(["dataset", "images", "mean IoU", "min IoU (image)", "mean s",
                             "max s"], with_masks, align="lrrrrr"),
             "", "No official masks (sanity only; solidity = area / convex-hull area):", "",
             markdown_table(["dataset", "images", "mean solidity", "min solidity (image)",
                             "mean s"], without, align="lrrrr")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    header = clean_provenance(REPO, args.allow_dirty)
    per_image = {name: score_with_masks(name, args.data_root) for name in WITH_MASKS}
    per_image |= {name: sanity_without_masks(name, args.data_root) for name in WITHOUT_MASKS}
    summary = {name: summarise(rows, "iou" if name in WITH_MASKS else "solidity")
               for name, rows in per_image.items()}
    result = {**header, "summary": summary, "per_image": per_image}
    write_result(args.out / "fov_estimate", result, markdown(result))


if __name__ == "__main__":
    main()
