"""Two models and the mean of their probability maps, on the first model's validation images.

    python benchmarks/model_ensemble.py --data-root ../shared/data \\
        --models general runs/general-wnet-cycle3/model-final.safetensors \\
        --out benchmarks/results/model_ensemble_general_wnet

Each photo is segmented by both models as ``retinaseg segment`` would (each at its own
working geometry, probabilities back at native resolution), and three maps are scored:
each model alone, cut and post-processed as that model does by default, and the mean
of the two maps, cut and post-processed as the FIRST model does (its threshold rule,
its validated threshold where the rule finds no cut, its post-processing): an ensemble
has no validation of its own, and borrowing the first model's rule chooses nothing.
Scores are pooled per dataset at native resolution inside the FOV: F1, predicted/true
vessel area, AUC and, for information only, the best F1 any single threshold reaches.
Seconds are the photo's segmentation, both models for the mean.

Which images: the first model's validation images (``meta.extra.val_ids``), which must
be the second's too, so that neither has trained on a photo scored here; ``--images
DATASET:SPLIT`` scores those instead. Nothing is chosen: a report of what averaging
two models buys, next to what it costs. No test image is read unless asked for by name.
Writes ``--out`` .json and .md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # working_scale, beside this file

from retinaseg.pipeline.cut import describe_rule, rule_of  # noqa: E402
from retinaseg.pipeline.postprocess import model_postprocess  # noqa: E402
from retinaseg.hub.pretrained import load_model  # noqa: E402
from retinaseg.io.tables import markdown_table  # noqa: E402
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown,  # noqa: E402
                             shown_path, write_result)
from working_scale import DatasetScore, image_groups, timed_probabilities  # noqa: E402

MEAN = "mean of both"


def check_same_validation(first, second) -> None:
    """Both models must have held out the same photos, or one may have trained on them."""
    ids = [sorted(map(str, bundle.meta.extra.get("val_ids") or [])) for bundle in (first, second)]
    if ids[0] != ids[1]:
        sys.exit(f"the models were validated on different photos ({ids[0]} and {ids[1]}): "
                 "pass --images to score photos neither trained on")


def score_dataset(first, second, samples: list, names: tuple[str, str]) -> dict[str, dict]:
    """Each model alone and their mean, over one dataset's photos: {member: row}."""
    scores = {member: DatasetScore() for member in (*names, MEAN)}
    for sample in samples:
        prob_first, seconds_first = timed_probabilities(first, sample)
        prob_second, seconds_second = timed_probabilities(second, sample)
        scores[names[0]].add(first, sample, prob_first, seconds_first)
        scores[names[1]].add(second, sample, prob_second, seconds_second)
        scores[MEAN].add(first, sample, (prob_first + prob_second) / 2,
                         seconds_first + seconds_second)
    return {member: score.row() for member, score in scores.items()}


def member_means(rows: list[dict]) -> dict[str, dict]:
    """Each member's mean F1 and AUC over the datasets (each dataset counts once)."""
    means = {}
    for member in dict.fromkeys(row["member"] for row in rows):
        mine = [row for row in rows if row["member"] == member]
        means[member] = {"f1": float(np.mean([row["f1"] for row in mine])),
                         "auc_roc": float(np.mean([row["auc_roc"] for row in mine]))}
    return means


def measure(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    first, second = (load_model(name) for name in args.models)
    if not args.images:
        check_same_validation(first, second)
    names = tuple(shown_path(name, ROOT) for name in args.models)
    groups = image_groups(first, args.images, args.data_root)
    rows = []
    for dataset, samples in groups.items():
        for member, row in score_dataset(first, second, samples, names).items():
            rows.append({"dataset": dataset, "member": member, **row})
        print(f"{dataset}: " + ", ".join(f"{r['member']} F1 {r['f1']:.4f}"
                                         for r in rows if r["dataset"] == dataset), flush=True)
    result.update({
        "models": list(names), "sha256": [first.sha256, second.sha256],
        "mean_cut": f"{describe_rule(rule_of(None, first.meta))} of the first model "
                    f"(threshold {first.meta.threshold:.4f}), its post-processing "
                    f"{model_postprocess(first.meta).describe()}",
        "images": args.images or ["validation"],
        "image_counts": {name: len(samples) for name, samples in groups.items()},
        "rows": rows, "means": member_means(rows)})
    return result


def markdown(result: dict) -> str:
    header = ["map", "images", "F1 (default cut)", "area pred/true", "AUC", "oracle F1",
              "s / photo"]
    table = [[f"`{r['member']}`" if r["member"] != MEAN else MEAN, r["dataset"],
              f"{r['f1']:.4f}", f"{r['area_ratio']:.3f}", f"{r['auc_roc']:.4f}",
              f"{r['oracle_f1']:.4f}", f"{r['seconds_per_photo']:.2f}"] for r in result["rows"]]
    means = [[f"`{member}`" if member != MEAN else MEAN, f"{m['f1']:.4f}", f"{m['auc_roc']:.4f}"]
             for member, m in result["means"].items()]
    counts = ", ".join(f"{name} {count}" for name, count in result["image_counts"].items())
    first, second = result["models"]
    return "\n".join([
        f"# `{first}`, `{second}` and the mean of their maps", "",
        provenance_markdown(result).rstrip(), "",
        f"- sha256: `{result['sha256'][0]}`, `{result['sha256'][1]}`",
        f"- each model cut and post-processed as it does by default; the mean cut by the "
        f"{result['mean_cut']}",
        f"- images: {', '.join(result['images'])} ({counts}); scored at native resolution "
        "inside the FOV, pooled per dataset", "", markdown_table(header, table), "",
        "Means over the datasets (each counts once):", "",
        markdown_table(["map", "F1", "AUC"], means), "",
        "Nothing is chosen here. The oracle F1 is the best any single threshold reaches on "
        "these images, for information. Seconds are whole-photo segmentation on this "
        "machine, both models for the mean."]) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs=2, required=True,
                        help="two shipped names or checkpoint paths")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--images", action="append", default=[],
                        help="DATASET:SPLIT to score instead of the validation images (repeatable)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "model_ensemble"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = measure(args)
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
