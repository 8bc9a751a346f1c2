"""Train `unet-drive`, ship it, and measure it on the DRIVE test set.

    python benchmarks/drive_unet.py --data-root ../shared/data [--export]
    python benchmarks/drive_unet.py --data-root ../shared/data --shipped   # measure only

Writes benchmarks/results/drive_unet.{json,md}: the DRIVE test table (FOV,
1st manual, pooled and per-image mean), the 2nd human observer on the same
metrics, the fine-tuning paper's table, the training wall time, and seconds
per image in fp32 and bf16 (bf16 is kept only if its metrics hold).
With ``--export`` the trained model becomes the package's shipped weights.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

from retinaseg.checkpoint import load_checkpoint
from retinaseg.config import load_config
from retinaseg.data import load_dataset
from retinaseg.evaluate import EvalOptions, evaluate_model
from retinaseg.inference import predict_probabilities
from retinaseg.metrics import ScoreHistogram
from retinaseg.pretrained import export_weights, pretrained_path
from retinaseg.train import fit
from retinaseg.utils import git_commit, machine_info

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"auc_roc": 0.9773, "f1": 0.7947, "accuracy": 0.9529, "sensitivity": 0.7153,
         "specificity": 0.9876, "precision": 0.8940}


def time_inference(bundle, samples, bf16: bool, repeats: int = 2, tta: str = "none") -> float:
    """Median seconds per image over the test images (after one warm-up), from the
    RGB photo and its FOV to the probability map: preprocessing included."""
    predict_probabilities(bundle, samples[0].image, samples[0].fov, tta, bf16)
    times = []
    for sample in samples:
        for _ in range(repeats):
            started = time.perf_counter()
            predict_probabilities(bundle, sample.image, sample.fov, tta, bf16)
            times.append(time.perf_counter() - started)
    return float(np.median(times))


def validation_tta(bundle, data_root: str) -> dict:
    """Pooled AUC and best F1 on the validation images for each TTA mode: the
    held-out evidence for (or against) test-time augmentation, never the test set."""
    val_ids = set(bundle.meta.extra.get("val_ids") or [])
    samples = [s for s in load_dataset("drive", "train", data_root) if s.id in val_ids]
    scores = {}
    for mode in ("none", "flip", "flip+rot90"):
        hist = ScoreHistogram()
        for sample in samples:
            hist.update(predict_probabilities(bundle, sample.image, sample.fov, mode),
                        sample.vessel, sample.fov)
        scores[mode] = {"auc_roc": hist.auc_roc(), "best_f1": hist.best_threshold("f1")[1]}
    return scores


def train(args) -> tuple[Path, float]:
    overrides = [f"data.root={args.data_root}", f"out_dir={args.run_dir}", "progress=false"]
    cfg = load_config(ROOT / args.config, overrides + (args.set or []))
    started = time.perf_counter()
    model_path = fit(cfg)
    return model_path, time.perf_counter() - started


def markdown(result: dict) -> str:
    keys = ["auc_roc", "f1", "accuracy", "sensitivity", "specificity", "precision", "mcc",
            "iou", "auc_pr"]
    head = "| row | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys) + "\n"
    cell = lambda s, k: f"{s[k]:.4f}" if s.get(k) is not None else "-"  # noqa: E731
    rows = [("unet-drive, pooled (fp32)", result["fp32"]["pooled"]),
            ("unet-drive, per-image mean (fp32)", result["fp32"]["mean"]),
            ("unet-drive, pooled (bf16)", result["bf16"]["pooled"]),
            ("unet-drive, pooled (fp32, flip TTA x4)", result["tta_flip"]["pooled"]),
            ("2nd human observer, pooled", result["fp32"]["observers"]["2nd_manual"]["pooled"]),
            ("fine-tuning paper (Table 1)", PAPER)]
    table = head + "".join(f"| {name} | " + " | ".join(cell(s, k) for k in keys) + " |\n"
                           for name, s in rows)
    t = result["timing"]
    return (f"# unet-drive on the DRIVE test set\n\n"
            f"- command: `{result['command']}`\n- commit: `{result['commit']}`\n"
            f"- date: {result['date']}\n- machine: {result['machine']['cpu']}, "
            f"{result['machine']['cores']} cores, torch {result['machine']['torch']}\n"
            f"- protocol: DRIVE test images 01-20, 1st_manual ground truth, FOV masks, native "
            f"565x584; threshold {result['threshold']:.4f} chosen on validation images "
            f"{result['val_ids']} (held out of training/), never on the test set\n\n{table}\n"
            f"- training wall time: {t['train_wall_s']:.0f} s ({t['train_wall_s'] / 60:.1f} min), "
            f"best epoch {result['best_epoch']} of {result['epochs']}\n"
            f"- inference, seconds per DRIVE image (median): fp32 {t['fp32_s_per_image']:.3f}, "
            f"bf16 {t['bf16_s_per_image']:.3f}, fp32 with flip TTA "
            f"{t['fp32_tta_flip_s_per_image']:.3f} (preprocessing included)\n- bf16 verdict: {result['bf16_verdict']}\n"
            f"- test-time augmentation on the validation images {result['val_ids']} (pooled AUC / "
            f"best F1): " + ", ".join(f"{mode} {v['auc_roc']:.4f} / {v['best_f1']:.4f}"
                                     for mode, v in result["validation_tta"].items()) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--config", default="configs/unet-drive.yaml")
    parser.add_argument("--run-dir", default="runs/unet-drive")
    parser.add_argument("--set", action="append", help="config override key=value")
    parser.add_argument("--skip-train", action="store_true", help="reuse RUN_DIR/model.pt")
    parser.add_argument("--export", action="store_true", help="ship the model as unet-drive")
    parser.add_argument("--shipped", action="store_true",
                        help="measure the shipped unet-drive weights (no training, no export)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/drive_unet"))
    args = parser.parse_args(argv)

    commit = git_commit(ROOT)
    if args.shipped:
        model_path, wall = pretrained_path("unet-drive"), None
    elif args.skip_train:
        model_path, wall = Path(args.run_dir) / "model.pt", None
    else:
        model_path, wall = train(args)
    if args.export:
        model_path = export_weights(model_path, "unet-drive")
    bundle = load_checkpoint(model_path)
    wall = wall if wall is not None else bundle.meta.extra.get("train_seconds")
    test_set = load_dataset("drive", "test", args.data_root)
    fp32 = evaluate_model(bundle, test_set, EvalOptions())
    bf16 = evaluate_model(bundle, test_set, EvalOptions(bf16=True))
    tta = evaluate_model(bundle, test_set, EvalOptions(tta="flip"))
    samples = list(test_set)
    timing = {"train_wall_s": wall, "fp32_s_per_image": time_inference(bundle, samples, False),
              "bf16_s_per_image": time_inference(bundle, samples, True),
              "fp32_tta_flip_s_per_image": time_inference(bundle, samples, False, tta="flip")}
    f1_drop = fp32["pooled"]["f1"] - bf16["pooled"]["f1"]
    faster = timing["bf16_s_per_image"] < timing["fp32_s_per_image"]
    verdict = (f"F1 changes by {-f1_drop:+.4f} and bf16 is "
               f"{'faster' if faster else 'slower'} on this CPU: "
               + ("keep bf16 as an option" if faster and f1_drop < 0.002 else "fp32 stays the default"))
    result = {"command": "python " + " ".join(sys.argv), "commit": commit,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "model": str(model_path), "sha256": bundle.sha256,
              "threshold": bundle.meta.threshold, "val_ids": bundle.meta.extra.get("val_ids"),
              "best_epoch": bundle.meta.extra.get("best_epoch"),
              "epochs": bundle.meta.extra.get("epochs"), "paper": PAPER, "fp32": fp32,
              "bf16": bf16, "tta_flip": tta, "timing": timing, "bf16_verdict": verdict,
              "validation_tta": validation_tta(bundle, args.data_root)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
