"""The optic disc finder (retinaseg.measure.disc) against the zone B discs and the vessels.

* DRIVE training (the 20 photos the weight was chosen on): the centre's distance to the
  manual vessels' convergence point, for each candidate ``CONVERGENCE_WEIGHT``.
* DRIVE test (20): the centre error, in disc radii of the DRIVE-ZoneB disc
  (``drive_optic_disc``), and the radius against the zone B one. Target: within 0.5
  radius on at least 19 of 20.
* LES-AV, HRF, CHASE_DB1 (all photos; no disc labels): the detection rate, and the
  share of photos whose centre lies within one found radius of the manual vessels'
  convergence point.

The manual vessels' convergence point is the centre of the circle of radius
``2 R0`` (R0: the expected disc radius, from the FOV width) that holds the most manual
vessel pixels, at the finder's working scale: a rough reference (it lands about half a
radius off the disc's centre on most DRIVE photos, and off the disc on photo 21), so it
judges whether the disc was found, not how precisely. The finder is fed the manual
vessel mask (the cohort table feeds it the model's).

    python benchmarks/disc.py [--data-root ../shared/data]

Writes ``benchmarks/results/disc.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import add_dirty_option, clean_provenance, provenance_markdown, write_result
from scipy import ndimage, signal

from retinaseg.data import load_dataset
from retinaseg.data.zone_b import drive_optic_disc
from retinaseg.io.tables import markdown_table
from retinaseg.measure import disc as disc_module
from retinaseg.measure.disc import WORK_WIDTH_PX, expected_radius, find_disc

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
OTHER_SETS = ("les_av", "hrf", "chase_db1")


def convergence_point(vessel: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """(row, col) in photo pixels of the densest 2 R0 circle of manual vessel pixels."""
    columns = np.flatnonzero(fov.any(axis=0))
    factor = WORK_WIDTH_PX / (columns[-1] - columns[0] + 1)
    small = ndimage.zoom(vessel.astype(float), factor, order=1)
    reach = 2 * expected_radius(WORK_WIDTH_PX)
    k = int(reach)
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    density = signal.fftconvolve(small, (np.hypot(yy, xx) <= reach).astype(float), mode="same")
    row, col = np.unravel_index(int(np.argmax(density)), density.shape)
    return np.array([(row + 0.5) / factor - 0.5, (col + 0.5) / factor - 0.5])


def training_sweep(root) -> tuple[list[dict], float]:
    samples = list(load_dataset("drive", "train", root=root))
    refs = [convergence_point(s.vessel, s.fov) for s in samples]
    rows = []
    for weight in WEIGHTS:
        errors = []
        for sample, ref in zip(samples, refs):
            disc = find_disc(sample.image, sample.fov, sample.vessel, weight).disc
            errors.append(np.inf if disc is None else
                          float(np.hypot(disc.row - ref[0], disc.col - ref[1]) / disc.radius))
        errors = np.array(errors)
        rows.append({"weight": weight, "within_1_radius": int((errors <= 1).sum()),
                     "found": int(np.isfinite(errors).sum()),
                     "median_error_radii": round(float(np.median(errors)), 3)})
    best = max(rows, key=lambda r: (r["within_1_radius"], -r["median_error_radii"]))
    return rows, best["weight"]


def drive_test(root) -> list[dict]:
    rows = []
    for sample in load_dataset("drive", "test", root=root):
        truth = drive_optic_disc(root, sample.id)
        started = time.perf_counter()
        found = find_disc(sample.image, sample.fov, sample.vessel)
        seconds = time.perf_counter() - started
        brightness = find_disc(sample.image, sample.fov).disc
        row = {"id": sample.id, "truth_row": round(truth.row, 1), "truth_col": round(truth.col, 1),
               "truth_radius": round(truth.radius, 1), "seconds": round(seconds, 3)}
        disc = found.disc
        row.update(found=disc is not None, reason=found.reason,
                   error_radii=None if disc is None else round(float(
                       np.hypot(disc.row - truth.row, disc.col - truth.col) / truth.radius), 3),
                   radius=None if disc is None else round(disc.radius, 1),
                   confidence=None if disc is None else disc.confidence,
                   brightness_only_error_radii=None if brightness is None else round(float(
                       np.hypot(brightness.row - truth.row, brightness.col - truth.col)
                       / truth.radius), 3))
        rows.append(row)
    return rows


def other_set(name: str, root) -> dict:
    rows = []
    for sample in load_dataset(name, "all", root=root):
        found = find_disc(sample.image, sample.fov, sample.vessel)
        ref = convergence_point(sample.vessel, sample.fov)
        disc = found.disc
        agrees = disc is not None and bool(
            np.hypot(disc.row - ref[0], disc.col - ref[1]) <= disc.radius)
        rows.append({"id": sample.id, "found": disc is not None, "reason": found.reason,
                     "agrees_with_vessels": agrees,
                     "radius": None if disc is None else round(disc.radius, 1),
                     "confidence": None if disc is None else disc.confidence})
    found = sum(r["found"] for r in rows)
    return {"photos": len(rows), "found": found,
            "agrees_with_vessels": sum(r["agrees_with_vessels"] for r in rows), "rows": rows}


def markdown(result: dict) -> str:
    test = result["drive_test"]
    errors = [r["error_radii"] for r in test if r["error_radii"] is not None]
    radii = [(r["radius"], r["truth_radius"]) for r in test if r["radius"] is not None]
    lines = ["# Optic disc finder (measure/disc.py)\n", provenance_markdown(result),
             f"\n## DRIVE training: choosing the convergence weight (chosen: "
             f"{result['chosen_weight']})\n",
             markdown_table(["weight", "within 1 radius of the vessels' point", "found",
                             "median error (radii)"],
                            [[r["weight"], r["within_1_radius"], r["found"],
                              r["median_error_radii"]] for r in result["training_sweep"]]),
             "\n## DRIVE test against the zone B disc\n",
             f"- found: {len(errors)}/20; centre within 0.5 zone-B radius: "
             f"{sum(e <= 0.5 for e in errors)}/20 (target >= 19); within 0.25: "
             f"{sum(e <= 0.25 for e in errors)}/20",
             f"- centre error: median {np.median(errors):.3f}, max {max(errors):.3f} radii",
             f"- radius: found mean {np.mean([a for a, _ in radii]):.1f} px, zone B mean "
             f"{np.mean([b for _, b in radii]):.1f} px, mean |difference| "
             f"{np.mean([abs(a - b) for a, b in radii]):.1f} px",
             f"- brightness alone (no vessel mask): within 0.5 radius on "
             f"{sum((r['brightness_only_error_radii'] or 9) <= 0.5 for r in test)}/20\n",
             markdown_table(["id", "error (radii)", "radius", "zone B radius", "confidence",
                             "brightness only", "reason"],
                            [[r["id"], r["error_radii"], r["radius"], r["truth_radius"],
                              r["confidence"], r["brightness_only_error_radii"], r["reason"]]
                             for r in test]),
             "\n## Other sets (no disc labels)\n",
             markdown_table(["set", "photos", "disc found", "found and within 1 radius of "
                             "the manual vessels' convergence point", "not found: reasons"],
                            [[name, s["photos"], s["found"], s["agrees_with_vessels"],
                              "; ".join(f"{r['id']}: {r['reason']}" for r in s["rows"]
                                        if not r["found"])]
                             for name, s in result["other_sets"].items()]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    add_dirty_option(parser)
    args = parser.parse_args()
    result = clean_provenance(REPO, args.allow_dirty)
    sweep, chosen = training_sweep(args.data_root)
    if chosen != disc_module.CONVERGENCE_WEIGHT:
        raise SystemExit(f"DRIVE training now chooses weight {chosen}, the module says "
                         f"{disc_module.CONVERGENCE_WEIGHT}: update CONVERGENCE_WEIGHT first")
    result.update(training_sweep=sweep, chosen_weight=chosen,
                  drive_test=drive_test(args.data_root),
                  other_sets={name: other_set(name, args.data_root) for name in OTHER_SETS})
    write_result(REPO / "benchmarks" / "results" / "disc", result, markdown(result))


if __name__ == "__main__":
    main()
