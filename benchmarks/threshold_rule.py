"""Which threshold rule carries over to a camera a model never saw.

    python benchmarks/threshold_rule.py --data-root ../shared/data

A model meant for any camera picks its threshold on validation images from
several datasets. Four rules are compared:

- pooled over pixels (what ``retinaseg train`` does): the dataset with the
  most pixels per photo (HRF, at a 1280 px FOV) outweighs the others;
- the mean over datasets (the threshold maximising the mean of the datasets'
  F1): each camera counts once, as an unseen camera would;
- each image cut at the Otsu threshold of its own FOV probabilities (what
  ``--threshold otsu`` applies: ``retinaseg.cut.otsu_cut``, bounds included), which
  follows a camera whose probabilities come out lower or higher overall;
- each image cut midway between the pooled threshold and its Otsu cut, which
  follows such a camera half way and keeps half of the validated threshold;
- each image cut at the pooled threshold moved by how far its Otsu cut lies from
  the median Otsu cut of the validation images ("shifted"): the cameras it
  validated on keep their validated threshold, another follows its own valley.

Besides F1, each rule's vessel area on the unseen images is compared with the
manual one: the ratio of the summed areas and the agreement (ICC(2,1)) of the
per-image vessel area fractions, the measure a cohort table reports.

The leave-one-dataset-out runs (``benchmarks/lodo_runs``) measure which rule
transfers: each run's global thresholds come from its own validation images,
and every rule is scored on the *training* split of the dataset the run never
saw, which neither the run nor any choice here has used, and on the run's own
validation images (what the rule costs on the cameras it knows). No test image
is read. Images are scored inside the FOV, pooled: validation images at the
training geometry (as validation scores them), unseen ones at the model's
working geometry (``retinaseg.inference.working_copy``, as ``retinaseg
segment`` brings a photo there). The best threshold on the unseen images is
shown as the ceiling (an oracle, never a choice). Writes
benchmarks/results/threshold_rule.{md,json} (``--out``).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from retinaseg.config.schema import load_config
from retinaseg.pipeline.cut import otsu_cut
from retinaseg.data import load_dataset
from retinaseg.data.preprocess import preprocess
from retinaseg.data.geometry import resize_mask
from retinaseg.pipeline.predict import predict_tensor, working_copy
from retinaseg.measure.agreement import icc_2_1
from retinaseg.metrics import Counts, ScoreHistogram, best_mean_threshold, scores_from_counts
from retinaseg.metrics.counts import count_pixels
from retinaseg.hub.pretrained import load_model
from retinaseg.io.tables import markdown_table
from retinaseg.train.data import load_training_data
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown, shown_path,
                             write_result)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # lodo, beside this file
from lodo import final_run_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOLDOUTS = ("drive", "chase_db1", "hrf")
RULES = ("pooled", "per_dataset", "per_image_otsu", "midpoint", "shifted")
RULE_NAMES = {"pooled": "pooled over pixels", "per_dataset": "mean over datasets",
              "per_image_otsu": "each image's Otsu cut",
              "midpoint": "midway between pooled and each image's Otsu cut",
              "shifted": "pooled, shifted by each image's Otsu cut from the validation median"}


@dataclass
class ImageSet:
    """One set of images, kept as their FOV pixels so that any rule can cut them:
    a histogram for global thresholds, and each image's own probabilities for
    the per-image rules."""

    histogram: ScoreHistogram = field(default_factory=ScoreHistogram)
    pixels: list = field(default_factory=list)   # (probabilities, vessel) inside each FOV
    images: int = 0

    def add(self, prob: np.ndarray, vessel: np.ndarray, fov: np.ndarray) -> None:
        self.histogram.update(prob, vessel, fov)
        self.pixels.append((prob[fov].astype(np.float32), vessel[fov].astype(bool)))
        self.images += 1

    def f1_at(self, threshold: float) -> float:
        return scores_from_counts(self.histogram.counts_at(threshold))["f1"]

    def f1_per_image(self, cut) -> float:
        """Pooled F1 with each image cut at ``cut(its FOV probabilities)``."""
        return self.outcome(cut)["f1"]

    def outcome(self, cut) -> dict[str, float]:
        """Pooled F1, the ratio of predicted to manual vessel area summed over the
        images, and the ICC(2,1) of the per-image vessel area fractions, each image
        cut at ``cut(its FOV probabilities)``."""
        counts, fractions = Counts(), []
        for prob, vessel in self.pixels:
            predicted = prob >= cut(prob)
            counts += count_pixels(predicted, vessel)
            fractions.append((vessel.mean(), predicted.mean()))
        fractions = np.asarray(fractions, dtype=float)
        return {"f1": scores_from_counts(counts)["f1"],
                "area_ratio": float(fractions[:, 1].sum() / max(fractions[:, 0].sum(), 1e-12)),
                "area_icc": icc_2_1(fractions)}

    def otsu_cuts(self) -> list[float]:
        return [_otsu(prob) for prob, _ in self.pixels]

    def outcomes(self, thresholds: dict[str, float], validation_otsu: float) -> dict[str, dict]:
        """Each rule's :meth:`outcome`: the global thresholds, each image's Otsu cut,
        the midpoint of the pooled threshold and each image's Otsu cut, and the pooled
        threshold shifted by each image's Otsu cut less ``validation_otsu``."""
        pooled = thresholds["pooled"]
        cuts = {**{rule: (lambda p, t=t: t) for rule, t in thresholds.items()},
                "per_image_otsu": _otsu,
                "midpoint": lambda p: 0.5 * (pooled + _otsu(p)),
                "shifted": lambda p: pooled + _otsu(p) - validation_otsu}
        return {rule: self.outcome(cut) for rule, cut in cuts.items()}

    def scores(self, thresholds: dict[str, float], validation_otsu: float) -> dict[str, float]:
        """F1 under each rule (:meth:`outcomes`)."""
        return {rule: o["f1"] for rule, o in self.outcomes(thresholds, validation_otsu).items()}


def _otsu(fov_pixels: np.ndarray) -> float:
    """The library's Otsu cut (``retinaseg.cut``, bounds and all) of one image's FOV pixels."""
    return otsu_cut(fov_pixels, np.ones(fov_pixels.shape, bool), fallback=0.5)


def validation_sets(module, cfg) -> dict[str, ImageSet]:
    """One :class:`ImageSet` per dataset of the run's validation images (ids ``dataset:id``)."""
    only_validation = load_training_data(cfg, np.random.default_rng(cfg.seed))
    sets: dict[str, ImageSet] = {}
    for x, vessel, fov, sample_id in zip(only_validation.val_inputs, only_validation.val_vessels,
                                         only_validation.val_fovs, only_validation.val_ids):
        prob = predict_tensor(module, x).numpy()
        sets.setdefault(sample_id.split(":")[0], ImageSet()).add(prob, vessel, fov)
    return sets


def unseen_set(bundle, holdout: str, data_root: str, limit: int) -> ImageSet:
    """The held-out dataset's training split, each photo at the model's working
    geometry (as ``retinaseg segment`` brings it there), its mask resized alike."""
    unseen = ImageSet()
    samples = load_dataset(holdout, "train", data_root)
    for sample in samples[:limit] if limit else samples:
        image, fov = working_copy(bundle, sample.image, sample.fov)
        x = torch.from_numpy(preprocess(image, fov, bundle.meta.preprocess))
        unseen.add(predict_tensor(bundle.module, x).numpy(), resize_mask(sample.vessel, fov.shape),
                   fov)
    return unseen


def seen_thresholds(seen: dict[str, ImageSet]) -> dict[str, float]:
    """The global thresholds a run's validation images choose under each rule."""
    return {
        "pooled": sum((s.histogram for s in seen.values()), ScoreHistogram()).best_threshold()[0],
        "per_dataset": best_mean_threshold([s.histogram for s in seen.values()])[0]}


def validation_of(config: Path, model: str, data_root: str):
    """A model and its recipe's validation images, one :class:`ImageSet` per dataset."""
    # Only the validation images are needed from the training split: one training image.
    cfg = load_config(config, [f"data.root={data_root}", "data.max_train_images=1"])
    bundle = load_model(model)
    bundle.module.eval()
    return bundle, validation_sets(bundle.module, cfg)


def validation_otsu(seen: dict[str, ImageSet]) -> float:
    """The median Otsu cut of a run's validation images (the "shifted" rule's anchor)."""
    return float(np.median([c for s in seen.values() for c in s.otsu_cuts()]))


def general_row(model: str, data_root: str) -> dict:
    """What each rule costs a shipped model trained by ``configs/general.yaml`` (``general``)
    on its own validation images."""
    bundle, seen = validation_of(ROOT / "configs" / "general.yaml", model, data_root)
    thresholds, anchor = seen_thresholds(seen), validation_otsu(seen)
    return {"model": model, "sha256": bundle.sha256, "thresholds": thresholds,
            "validation_otsu": anchor,
            "seen_f1": {name: s.scores(thresholds, anchor) for name, s in seen.items()},
            "seen_otsu_cuts": {name: _spread(s.otsu_cuts()) for name, s in seen.items()}}


def holdout_row(run: Path, holdout: str, data_root: str, limit: int) -> dict:
    bundle, seen = validation_of(run / "config.yaml", str(run / "model.safetensors"), data_root)
    thresholds, anchor = seen_thresholds(seen), validation_otsu(seen)
    unseen = unseen_set(bundle, holdout, data_root, limit)
    ceiling_threshold, ceiling_f1 = unseen.histogram.best_threshold("f1")
    seen_scores = {name: s.scores(thresholds, anchor) for name, s in seen.items()}
    outcomes = unseen.outcomes(thresholds, anchor)
    return {"holdout": holdout, "run": shown_path(run, ROOT), "model_threshold": bundle.meta.threshold,
            "thresholds": thresholds, "validation_otsu": anchor, "unseen_images": unseen.images,
            "unseen_f1": {rule: o["f1"] for rule, o in outcomes.items()},
            "unseen_area": {rule: {k: o[k] for k in ("area_ratio", "area_icc")}
                            for rule, o in outcomes.items()},
            "unseen_otsu_cuts": _spread(unseen.otsu_cuts()),
            "ceiling": {"threshold": ceiling_threshold, "f1": ceiling_f1},
            "seen_f1": seen_scores,
            "seen_mean_f1": {rule: float(np.mean([s[rule] for s in seen_scores.values()]))
                             for rule in RULES}}


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": float(np.median(values)), "max": max(values)}


def measure(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    rows = []
    for holdout in HOLDOUTS:
        run = final_run_dir(args.runs_root, holdout)  # its latest finished cycle
        if (run / "model.safetensors").is_file():
            rows.append(holdout_row(run, holdout, args.data_root, args.limit))
            print(f"{holdout}: unseen F1 {rows[-1]['unseen_f1']}", file=sys.stderr)
    general = general_row(args.general, args.data_root) if args.general else None
    result.update(limit=args.limit, rules=list(RULES), runs=rows, general=general)
    if rows:
        result.update(choice(rows))
    return result


def choice(rows: list[dict]) -> dict:
    """The rule a model for any camera should default to: the best average of its mean
    F1 on unseen cameras and on the cameras it trained on, each weighing the same
    (a user's camera may be either). Global rules and per-image rules alike."""
    unseen = {rule: float(np.mean([r["unseen_f1"][rule] for r in rows])) for rule in RULES}
    seen = {rule: float(np.mean([r["seen_mean_f1"][rule] for r in rows])) for rule in RULES}
    both = {rule: 0.5 * (unseen[rule] + seen[rule]) for rule in RULES}
    return {"mean_unseen_f1": unseen, "mean_seen_f1": seen, "mean_of_both": both,
            "chosen_rule": max(both, key=both.get)}


def _cuts(spread: dict) -> str:
    return f"{spread['min']:.2f}-{spread['median']:.2f}-{spread['max']:.2f}"


def markdown(result: dict) -> str:
    unseen, seen = [], []
    for r in result["runs"]:
        t = r["thresholds"]
        unseen.append([r["holdout"], str(r["unseen_images"]),
                       f"{t['pooled']:.3f} / {r['unseen_f1']['pooled']:.4f}",
                       f"{t['per_dataset']:.3f} / {r['unseen_f1']['per_dataset']:.4f}",
                       f"{_cuts(r['unseen_otsu_cuts'])} / {r['unseen_f1']['per_image_otsu']:.4f}",
                       f"{r['unseen_f1']['midpoint']:.4f}",
                       f"{r['validation_otsu']:.3f} / {r['unseen_f1']['shifted']:.4f}",
                       f"{r['ceiling']['threshold']:.3f} / {r['ceiling']['f1']:.4f}"])
        for name, scores in r["seen_f1"].items():
            seen.append([r["holdout"], name, *(f"{scores[rule]:.4f}" for rule in RULES)])
    lines = ["# Threshold rule for an unseen camera: pooled, per dataset or per image", "",
             provenance_markdown(result),
             "- protocol: each leave-one-dataset-out run's global thresholds chosen on its own "
             "validation images, pooled over their pixels or maximising the mean of the "
             "datasets' F1; or each image cut at the Otsu threshold of its own FOV "
             "probabilities; or each image cut midway between the pooled threshold and its "
             "Otsu cut; or at the pooled threshold plus its Otsu cut less the median Otsu cut "
             "of the validation images. Scored on the training split of the dataset the run never saw "
             "(no test image), at the model's working geometry, inside the FOV, pooled (the "
             "validation images at the training geometry); ceiling: the best threshold on "
             "the unseen images (an oracle, not a choice)"]
    if result["limit"]:
        lines.append(f"- **only the first {result['limit']} images of each unseen split**")
    lines += ["", "Unseen dataset (its training split), F1:", "",
              markdown_table(["held out", "images", "pooled: threshold / F1",
                              "mean over datasets: threshold / F1",
                              "each image's Otsu cut: cuts (min-median-max) / F1",
                              "midway between pooled and Otsu: F1",
                              "shifted: validation median Otsu cut / F1",
                              "ceiling: threshold / F1"], unseen), "",
              "Mean F1 over the unseen datasets: " + ", ".join(
                  f"{RULE_NAMES[rule]} {f1:.4f}" for rule, f1 in result["mean_unseen_f1"].items()),
              "", *area_lines(result["runs"]),
              "", "The run's own validation images, F1 per dataset (what each rule costs on "
              "the cameras it trained on):", "",
              markdown_table(["held out", "validation dataset",
                              *(RULE_NAMES[rule] for rule in RULES)], seen), "",
              *choice_lines(result)]
    if result.get("general"):
        lines += ["", *general_lines(result["general"])]
    return "\n".join(lines) + "\n"


def area_lines(runs: list[dict]) -> list[str]:
    """Predicted / manual vessel area and the ICC(2,1) of the per-image area fractions on
    the unseen images, per rule."""
    rows = [[r["holdout"], *(f"{r['unseen_area'][rule]['area_ratio']:.3f} / "
                             f"{r['unseen_area'][rule]['area_icc']:.2f}" for rule in RULES)]
            for r in runs if "unseen_area" in r]
    if not rows:
        return []
    return ["Unseen dataset, vessel area: predicted / manual (summed over the images) and "
            "ICC(2,1) of the per-image vessel area fractions against the manual ones:", "",
            markdown_table(["held out", *(RULE_NAMES[rule] for rule in RULES)], rows), ""]


def choice_lines(result: dict) -> list[str]:
    if "chosen_rule" not in result:
        return []
    rows = [[RULE_NAMES[rule], f"{result['mean_unseen_f1'][rule]:.4f}",
             f"{result['mean_seen_f1'][rule]:.4f}", f"{result['mean_of_both'][rule]:.4f}"]
            for rule in RULES]
    return ["Choice (unseen cameras and trained cameras weigh the same; validation and "
            "training images only):", "",
            markdown_table(["rule", "mean F1, unseen datasets", "mean F1, own validation",
                            "average of the two"], rows), "",
            f"Chosen: **{RULE_NAMES[result['chosen_rule']]}**"]


def general_lines(general: dict) -> list[str]:
    rows = [[name, _cuts(general["seen_otsu_cuts"][name]),
             *(f"{scores[rule]:.4f}" for rule in RULES)]
            for name, scores in general["seen_f1"].items()]
    return [f"The shipped `{general['model']}` (sha256 {general['sha256'][:12]}) on its own validation "
            f"images (pooled threshold {general['thresholds']['pooled']:.3f}), F1 per dataset:",
            "", markdown_table(["validation dataset", "Otsu cuts (min-median-max)",
                                *(RULE_NAMES[rule] for rule in RULES)], rows)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs-root", type=Path, default=ROOT / "benchmarks" / "lodo_runs")
    parser.add_argument("--limit", type=int, default=0, help="first N images of each unseen split")
    parser.add_argument("--general", default="general",
                        help="the model trained on all three, scored on its validation images; "
                             "'' to leave out")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "threshold_rule"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = measure(args)
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
