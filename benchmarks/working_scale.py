"""How large a photo a model should segment at: the top of its working FOV range.

    python benchmarks/working_scale.py --data-root ../shared/data --model general
    python benchmarks/working_scale.py --model benchmarks/lodo_runs/lodo-hrf/model.safetensors \
        --images hrf:train --highs 1106,1280,1536,1792,2048 --out .../working_scale_lodo_hrf

A model with a working FOV range ``[low, high]`` (``ModelMeta.fov_range``) reduces
a photo wider than ``high`` to ``high`` before segmenting it and resizes the
probabilities back. Training fixes where ``high`` starts (the widest FOV it saw),
but not where segmenting is best: HRF's thinnest vessels are about 3 px wide at
its native 3300 px FOV, a pixel or less at 1280 px, and resizing such a map back
widens them. Each candidate ``high`` in ``--highs`` is tried on the same images
(``low`` kept), each photo cut as the model cuts by default (its threshold rule,
:func:`retinaseg.cut.model_cut`) and post-processed as by default, as ``retinaseg
segment`` would, and scored at native resolution inside the dataset's FOV, pooled
per dataset: F1 and the predicted/true vessel area under that default, the AUC,
the best F1 any single threshold reaches (an oracle, for information only) and
the seconds per photo.

Which images: by default the model's own validation images (``meta.extra.val_ids``),
the only images a choice may be made on. The choice is the smallest ``high``
whose mean F1 over the datasets (each counts once) is within ``--tolerance`` of the
best: a larger working image costs time on every large photo, so it must earn
its place. With ``--images DATASET:SPLIT`` (e.g. the training split of the dataset a
leave-one-out run never saw) the same table is made on those images, and no
choice is made from them. No test image is read unless asked for by name.
Writes benchmarks/results/working_scale.{md,json} (``--out``).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retinaseg.pipeline.cut import describe_rule, model_cut, rule_of
from retinaseg.data import load_dataset
from retinaseg.data.geometry import target_fov_width
from retinaseg.pipeline.predict import predict_probabilities
from retinaseg.metrics import Counts, ScoreHistogram, scores_from_counts
from retinaseg.metrics.counts import count_pixels
from retinaseg.pipeline.postprocess import model_postprocess, postprocess_mask
from retinaseg.hub.pretrained import load_model
from retinaseg.io.tables import markdown_table
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown, shown_path,
                             write_result)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HIGHS = (1280.0, 1536.0, 1792.0, 2048.0, 2560.0)


@dataclass
class DatasetScore:
    """One dataset's photos under one setting (here a candidate ``high``; in
    model_ensemble.py one model or their mean), accumulated photo by photo."""

    histogram: ScoreHistogram = field(default_factory=ScoreHistogram)
    counts: Counts = field(default_factory=Counts)
    seconds: list = field(default_factory=list)
    working_fov: list = field(default_factory=list)

    def add(self, bundle, sample, prob: np.ndarray, predict_seconds: float) -> None:
        """One photo's probabilities, cut and post-processed as ``bundle`` does by
        default; its seconds are the prediction's plus the cut's."""
        started = time.perf_counter()
        mask = postprocess_mask(prob, model_cut(bundle.meta, prob, sample.fov), sample.fov,
                                model_postprocess(bundle.meta))
        self.seconds.append(predict_seconds + time.perf_counter() - started)
        self.working_fov.append(target_fov_width(sample.fov, 0.0, bundle.meta.fov_range))
        self.histogram.update(prob, sample.vessel, sample.fov)
        self.counts = self.counts + count_pixels(mask[sample.fov], sample.vessel[sample.fov])

    def row(self) -> dict:
        scores = scores_from_counts(self.counts)
        true_area = self.counts.tp + self.counts.fn
        predicted_area = self.counts.tp + self.counts.fp
        return {"f1": scores["f1"], "area_ratio": predicted_area / max(true_area, 1),
                "auc_roc": self.histogram.auc_roc(),
                "oracle_f1": self.histogram.best_threshold("f1")[1],
                "seconds_per_photo": float(np.median(self.seconds)),
                "working_fov_px": float(np.median(self.working_fov))}


def image_groups(bundle, images: list[str], data_root: str) -> dict[str, list]:
    """The photos to score, by dataset: ``DATASET:SPLIT`` entries, or the model's
    validation images (``dataset:id`` in ``meta.extra.val_ids``) when none is given."""
    if images:
        return {spec: list(load_dataset(*spec.split(":", 1), data_root)) for spec in images}
    wanted: dict[str, set] = {}
    for entry in bundle.meta.extra.get("val_ids", []):
        dataset, image_id = str(entry).split(":", 1)
        wanted.setdefault(dataset, set()).add(image_id)
    if not wanted:
        sys.exit(f"{bundle.source}: the model names no validation images; pass --images")
    groups = {}
    for dataset, ids in wanted.items():
        split = load_dataset(dataset, "train", data_root)
        split.files = [files for files in split.files if files.id in ids]
        groups[dataset] = list(split)
    return groups


def timed_probabilities(bundle, sample) -> tuple[np.ndarray, float]:
    """The photo's probabilities at native resolution, and the seconds they took."""
    started = time.perf_counter()
    prob = predict_probabilities(bundle, sample.image, sample.fov)
    return prob, time.perf_counter() - started


def score_high(bundle, samples: list, low: float, high: float) -> DatasetScore:
    """The photos segmented with the working range ``[low, high]``, as by default."""
    bundle.meta.fov_range = [low, high]
    score = DatasetScore()
    for sample in samples:
        score.add(bundle, sample, *timed_probabilities(bundle, sample))
    return score


def choose_high(rows: dict, tolerance: float) -> float:
    """The smallest candidate whose mean F1 over the datasets is within ``tolerance`` of the best."""
    means = {high: float(np.mean([r["f1"] for r in by_set.values()])) for high, by_set in rows.items()}
    best = max(means.values())
    return min(high for high, mean in means.items() if mean >= best - tolerance)


def measure(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    bundle = load_model(args.model)
    if not bundle.meta.fov_range:
        sys.exit(f"{args.model}: the model has no working FOV range to widen")
    low, trained_high = bundle.meta.fov_range
    highs = sorted(high for high in set(args.highs or DEFAULT_HIGHS) | {trained_high} if high >= low)
    groups = image_groups(bundle, args.images, args.data_root)
    rows: dict[float, dict] = {}
    for high in highs:
        rows[high] = {name: score_high(bundle, samples, low, high).row()
                      for name, samples in groups.items()}
        print(f"high {high:.0f}: " + ", ".join(f"{name} F1 {row['f1']:.4f}"
                                              for name, row in rows[high].items()), flush=True)
    chosen = choose_high(rows, args.tolerance) if not args.images else None
    result.update({
        "model": shown_path(args.model, ROOT), "sha256": bundle.sha256, "rule": describe_rule(rule_of(None, bundle.meta)),
        "postprocess": bundle.meta.postprocess, "low": low, "trained_high": trained_high,
        "images": args.images or ["validation"],
        "image_counts": {name: len(samples) for name, samples in groups.items()},
        "tolerance": args.tolerance, "chosen_high": chosen,
        "rows": [{"high": high, "dataset": name, **row}
                 for high, by_set in rows.items() for name, row in by_set.items()]})
    return result


def markdown(result: dict) -> str:
    header = ["working FOV high (px)", "images", "working FOV (median px)", "F1 (default cut)",
              "area pred/true", "AUC", "oracle F1", "s / photo"]
    table = [[f"{r['high']:.0f}", r["dataset"], f"{r['working_fov_px']:.0f}", f"{r['f1']:.4f}",
              f"{r['area_ratio']:.3f}", f"{r['auc_roc']:.4f}", f"{r['oracle_f1']:.4f}",
              f"{r['seconds_per_photo']:.2f}"] for r in result["rows"]]
    counts = ", ".join(f"{name} {count}" for name, count in result["image_counts"].items())
    lines = [f"# Working scale of `{result['model']}`: the top of its FOV range", "",
             provenance_markdown(result).rstrip(), "",
             f"- model sha256: `{result['sha256']}`; default cut: {result['rule']}; "
             f"post-processing: {result['postprocess'] or 'none'}",
             f"- working range: low {result['low']:.0f} px (kept), high as trained "
             f"{result['trained_high']:.0f} px",
             f"- images: {', '.join(result['images'])} ({counts}); scored at native resolution "
             "inside the FOV, pooled per dataset", "", markdown_table(header, table), "",
             "Only photos wider than a candidate are affected by it. The oracle F1 is the best "
             "any single threshold reaches on these images: shown, never chosen on. Seconds "
             "are whole-photo segmentation on this machine, for comparing candidates only."]
    if result["chosen_high"] is not None:
        lines += ["", f"**Chosen: high = {result['chosen_high']:.0f} px**, the smallest candidate "
                  f"whose mean F1 over the datasets is within {result['tolerance']} of the best."]
    else:
        lines += ["", "These images are not validation images: nothing is chosen from them."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--model", default="general", help="a shipped name or a checkpoint path")
    parser.add_argument("--highs", type=lambda text: [float(v) for v in text.split(",")],
                        default=None, help="candidate tops of the range, comma-separated px")
    parser.add_argument("--images", action="append", default=[],
                        help="DATASET:SPLIT to score instead of the validation images (repeatable)")
    parser.add_argument("--tolerance", type=float, default=0.002)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "working_scale"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = measure(args)
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
