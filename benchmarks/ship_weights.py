"""Ship a finished training run as a named model inside the package.

    python benchmarks/ship_weights.py --run-dir runs/general --name general
    python benchmarks/ship_weights.py --run-dir runs/general --model runs/general-wide.safetensors \
        --name general --calibration "retinaseg calibrate ... --out runs/general-wide.safetensors"

Exports the run's ``model.safetensors`` (the best epoch, with the threshold its
validation images chose), or with ``--model`` the run's weights as ``retinaseg
calibrate`` re-chose their threshold or working FOV range (``--calibration`` records
the command), to ``src/retinaseg/weights/<name>.safetensors`` as fp16
weights plus meta and recipe, checks that exporting the exported file again gives
the same bytes (so the pinned hash is stable), and writes
``benchmarks/results/ship_<name>.{json,md}``: the SHA-256 to pin in
``src/retinaseg/pretrained.py``, and the run's epochs, best epoch, validation
scores and training time as its ``log.csv`` recorded them.
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

from retinaseg.hub.checkpoint import read_checkpoint, sha256_of
from retinaseg.hub.pretrained import export_weights, unpinned
from retinaseg.train.state import LOG, MODEL
from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]


def log_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / LOG, newline="") as handle:
        return list(csv.DictReader(handle))


def training_summary(run_dir: Path, best_epoch: int) -> dict:
    rows = log_rows(run_dir)
    best = next((row for row in rows if int(row["epoch"]) == best_epoch), {})
    seconds = [float(row["epoch_seconds"]) for row in rows]
    return {"epochs": len(rows), "best_epoch": best_epoch,
            "val_auc_at_best": float(best.get("val_auc_roc", "nan")),
            "val_f1_at_best": float(best.get("val_f1", "nan")),
            "train_hours": round(sum(seconds) / 3600, 2),
            "epoch_seconds_min_median_max": [round(min(seconds), 1),
                                             round(sorted(seconds)[len(seconds) // 2], 1),
                                             round(max(seconds), 1)]}


def reexport_identical(target: Path, name: str) -> bool:
    first = target.read_bytes()
    with tempfile.TemporaryDirectory() as scratch:
        again = Path(scratch) / "again.safetensors"
        again.write_bytes(first)
        return export_weights(again, name).read_bytes() == first


def markdown(result: dict) -> str:
    summary, meta = result["training"], result["meta"]
    return "\n".join([
        f"# Shipped model `{result['name']}`", "", provenance_markdown(result),
        f"- source run: `{result['run_dir']}` (recipe `{result['recipe']}`)",
        f"- shipped file: `{result['model']}`" + (f", calibrated by `{result['calibration']}`"
                                                 if result.get("calibration") else ""),
        f"- working FOV range: {meta.get('fov_range') or 'none'}", "",
        "| SHA-256 | bytes | threshold (source) | epochs | best epoch | val AUC / F1 at best "
        "| training time |", "|---|---|---|---|---|---|---|",
        f"| `{result['sha256']}` | {result['bytes']:,} | {meta['threshold']:.4f} "
        f"({meta['threshold_source']}) | {summary['epochs']} | {summary['best_epoch']} "
        f"| {summary['val_auc_at_best']:.4f} / {summary['val_f1_at_best']:.4f} "
        f"| {summary['train_hours']} h |", "",
        f"Epoch seconds (min / median / max): {summary['epoch_seconds_min_median_max']}; "
        "they depend on the machine and on what else ran on it.",
        f"Re-export gives the same bytes: {result['reexport_identical']}.", ""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, help="a finished run (holds model.safetensors)")
    parser.add_argument("--name", required=True, help="the shipped name")
    parser.add_argument("--recipe", help="the recipe the run used (default configs/<name>.yaml)")
    parser.add_argument("--model", help="the checkpoint to ship (default RUN_DIR/model.safetensors; "
                                        "e.g. the run's model as `retinaseg calibrate` rewrote it)")
    parser.add_argument("--calibration", default="",
                        help="the `retinaseg calibrate` command that wrote --model, for the record")
    parser.add_argument("--out", help="result path without suffix "
                                      "(default benchmarks/results/ship_<name>)")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    prov = clean_provenance(ROOT, args.allow_dirty)
    model = Path(args.model) if args.model else run_dir / MODEL
    source = read_checkpoint(model, tensors=False)
    target = export_weights(model, args.name)
    meta = source.meta
    result = {**prov, "name": args.name, "run_dir": str(run_dir), "model": str(model),
              "calibration": args.calibration,
              "recipe": args.recipe or f"configs/{args.name}.yaml",
              "sha256": sha256_of(target), "bytes": target.stat().st_size,
              "meta": {"threshold": meta.threshold, "threshold_source": meta.threshold_source,
                       "fov_range": meta.fov_range},
              "training": training_summary(run_dir, int(meta.extra.get("best_epoch", 0))),
              "reexport_identical": reexport_identical(target, args.name)}
    write_result(args.out or ROOT / "benchmarks/results" / f"ship_{args.name}", result,
                 markdown(result))
    pin = unpinned(args.name, target)
    if pin:
        print(pin, file=sys.stderr)
    return 0 if result["reexport_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
