"""The quality gate's signals on real photos (all must pass) and generated bad ones (all must fail).

    python benchmarks/quality_signals.py [--data-root ../shared/data]

Real: every photo of DRIVE, CHASE_DB1 and HRF and the scikit-image sample,
with the FOV estimated as ``retinaseg segment`` does. Bad: blank, uniform,
noise, and DRIVE's first photo under- and over-exposed. Writes
``benchmarks/results/quality_signals.json`` and ``.md``: the range of each
signal per dataset, and each bad photo's signals and the gate's reason.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from retinaseg.data import estimate_fov, load_dataset
from retinaseg.quality.gate import measure_quality, quality_problem
from retinaseg.utils import provenance, provenance_markdown, write_result

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("drive", "chase_db1", "hrf")
SIGNALS = ("fov_fraction", "dark_level", "median_level", "bright_level", "dynamic_range",
           "clipped_share", "noise_ratio")


def bad_photos(real: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Photos in which no fundus can be used, built around one real photo's size."""
    rng = np.random.default_rng(seed)
    shape = real.shape
    scaled = real.astype(np.float32)
    return {
        "black": np.zeros(shape, np.uint8),
        "black with sensor noise": rng.integers(0, 12, shape, dtype=np.uint8),
        "white": np.full(shape, 255, np.uint8),
        "mid grey": np.full(shape, 128, np.uint8),
        "uniform orange": np.broadcast_to(np.array([200, 100, 40], np.uint8), shape).copy(),
        "uniform noise": rng.integers(0, 256, shape, dtype=np.uint8),
        "narrow noise (100-140)": rng.integers(100, 141, shape, dtype=np.uint8),
        "DRIVE 01 at 6% exposure": (scaled * 0.06).astype(np.uint8),
        "DRIVE 01 at 4x exposure": np.clip(scaled * 4, 0, 255).astype(np.uint8),
    }


def signals_of(image: np.ndarray) -> dict:
    signals = measure_quality(image, estimate_fov(image))
    return {**signals.as_dict(), "problem": quality_problem(signals)}


def real_rows(root) -> list[dict]:
    from retinaseg.pipeline.segment import sample_image

    rows = [{"dataset": name, "id": s.id, **signals_of(s.image)}
            for name in DATASETS for s in load_dataset(name, "all", root)]
    return rows + [{"dataset": "skimage sample", "id": "retina", **signals_of(sample_image())}]


def ranges_table(rows: list[dict]) -> str:
    lines = ["| photos | n | passed | " + " | ".join(SIGNALS) + " |",
             "|---|---|---|" + "---|" * len(SIGNALS)]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == name]
        spans = [f"{min(r[k] for r in group):.3g} - {max(r[k] for r in group):.3g}"
                 for k in SIGNALS]
        passed = sum(r["problem"] is None for r in group)
        lines.append(f"| {name} | {len(group)} | {passed} | " + " | ".join(spans) + " |")
    return "\n".join(lines) + "\n"


def bad_table(rows: list[dict]) -> str:
    lines = ["| bad photo | " + " | ".join(SIGNALS) + " | gate's reason |",
             "|---|" + "---|" * (len(SIGNALS) + 1)]
    for r in rows:
        values = " | ".join(f"{r[k]:.3g}" for k in SIGNALS)
        lines.append(f"| {r['id']} | {values} | {r['problem'] or 'PASSED (wrong)'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    real = real_rows(args.data_root)
    drive_01 = load_dataset("drive", "test", args.data_root)[0].image
    bad = [{"dataset": "generated", "id": name, **signals_of(image)}
           for name, image in bad_photos(drive_01).items()]
    result = {**provenance(REPO), "real": real, "bad": bad,
              "real_all_pass": all(r["problem"] is None for r in real),
              "bad_all_fail": all(r["problem"] is not None for r in bad)}
    text = (f"# Quality gate: signals on real and on generated bad photos\n\n"
            f"{provenance_markdown(result)}\n"
            f"Real photos (FOV estimated; ranges over each set): all pass: "
            f"{result['real_all_pass']}\n\n{ranges_table(real)}\n"
            f"Generated bad photos (565x584): all fail: {result['bad_all_fail']}\n\n"
            f"{bad_table(bad)}")
    write_result(REPO / "benchmarks/results/quality_signals", result, text)
    return 0 if result["real_all_pass"] and result["bad_all_fail"] else 1


if __name__ == "__main__":
    sys.exit(main())
