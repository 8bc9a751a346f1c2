"""Does a second pass at the vessels' own calibre help a camera a model never saw?

    python benchmarks/caliber_scale.py --data-root ../shared/data
    python benchmarks/caliber_scale.py --model general --out benchmarks/results/caliber_scale_general
    python benchmarks/caliber_scale.py --unseen-split test --out benchmarks/results/caliber_scale_test

``retinaseg segment`` brings each photo to its model's working scale by the FOV
width alone. Here that is compared with a two-pass rule (:mod:`retinaseg.caliber`):

1. segment the photo as by default (FOV-width scale, the Otsu cut, the model's
   post-processing) and measure the calibre of its wide vessels, the
   ``CALIBER_QUANTILE`` percentile of the centreline widths (native pixels);
2. segment it again at the FOV width that shows those vessels as wide as the
   model's validation photos show theirs at their working scale (each dataset's
   median, averaged over the datasets; measured the same way, pass 1 only).

A third rule, ``band``, leaves a photo whose calibre lies within the band the
validation datasets span (their lowest and highest median) and brings one outside it
to the nearest edge, with the same dead zone: like the FOV range, it moves only photos
unlike every camera the model knows. Stated before its first run: it becomes
``general``'s default if (1) its mean F1 on the unseen training splits beats the FOV
rule's, (2) its mean on the runs' and ``general``'s own validation photos is no more
than 0.001 below the FOV rule's, and (3) it segments none of ``general``'s DRIVE
validation photos twice (the speed rule on DRIVE-size photos).

A fourth, ``mean``, cuts the average of both passes' probabilities (a two-scale
ensemble). Stated before its first run: it replaces the second pass alone in
``--scale caliber`` if, at the shipped dead zone, its mean F1 is no lower on the unseen
training splits, on the runs' own validation photos and on ``general``'s. On the
full-recipe runs it did (unseen 0.7758 against 0.7751, the runs' validation photos
0.8296 against 0.8251, ``general``'s 0.8307 against 0.8272), so ``--scale caliber`` now
cuts that mean (:func:`retinaseg.segment.segment_at_scale`), and the dead zone is
scored on it (``SHIPPED_RULE``); ``caliber`` below is the second pass alone.

Both are scored on the leave-one-dataset-out runs (``benchmarks/lodo_runs``), as
``benchmarks/threshold_rule.py`` scores threshold rules: on the *training* split
of the dataset the run never saw, and on the run's own validation images (what
the rule costs on the cameras it knows). By default no test image is read; the quantile and
the step bound were set before this was run, and nothing here is tuned. Every photo
is cut at the Otsu threshold of its own FOV probabilities (the rule
``threshold_rule.py`` chose for unseen cameras) and scored at native resolution
inside the FOV, pooled per dataset. The manual masks' calibre per 1000 px of FOV
width is shown per dataset (training split), the reason this can matter.
``--unseen-split test`` scores the held-out datasets' test splits instead, only to
report the rule after it was chosen on their training splits, as the Otsu rule was.
With ``--model`` one model (``general``, trained on all three datasets) is scored on
its own validation images only: what the rule would cost on the cameras it knows.
Writes benchmarks/results/caliber_scale.{md,json} (``--out``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from retinaseg.pipeline.caliber import (CALIBER_QUANTILE, DEAD_ZONE, MAX_CHANGE, band_pass_width,
                               caliber_band, caliber_fov_width, reference_caliber,
                               vessel_caliber)
from retinaseg.pipeline.cut import OTSU, model_cut
from retinaseg.data import load_dataset
from retinaseg.data.fov import fov_diameter
from retinaseg.data.geometry import target_fov_width
from retinaseg.pipeline.predict import predict_probabilities
from retinaseg.metrics import Counts, scores_from_counts
from retinaseg.metrics.counts import count_pixels
from retinaseg.pipeline.postprocess import model_postprocess, postprocess_mask
from retinaseg.hub.pretrained import load_model
from retinaseg.io.tables import markdown_table
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown, shown_path,
                             write_result)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from working_scale import image_groups  # noqa: E402  (the run's validation images)
from lodo import final_run_dir  # noqa: E402  (a hold-out run's latest finished cycle)

HOLDOUTS = ("drive", "chase_db1", "hrf")
RULES = ("fov", "caliber", "band", "mean")
SHIPPED_RULE = "mean"  # what --scale caliber does: the mean of both passes' probabilities
RULE_NAMES = {"fov": "fov", "caliber": "second pass alone", "band": "band",
              "mean": "mean of both passes (`--scale caliber`)"}
# Dead zones tried for the calibre rule: a photo gets its second pass only when that
# pass would work more than this factor larger or smaller than the first (1: always).
# The one chosen is the best average of the unseen and own-validation means; one
# within TIE_F1 of the best that is wider wins (fewer photos segmented twice).
# Candidates and the rule were written down before the per-photo figures existed.
DEAD_ZONES = (1.0, 1.1, 1.2, 1.3, 1.5)
TIE_F1 = 0.001


class TwoPass:
    """A leave-one-out model cut by Otsu, segmenting at its FOV-width scale or at a
    width chosen from the calibre of its first segmentation."""

    def __init__(self, path: Path):
        self.bundle = load_model(str(path))
        self.bundle.meta.threshold_rule = OTSU
        self.trained_range = list(self.bundle.meta.fov_range)
        self.setting = model_postprocess(self.bundle.meta)
        self.reference = float("nan")
        self.band = (float("nan"), float("nan"))

    def segment(self, sample, fov_range) -> np.ndarray:
        return self.cut(sample, self.probabilities(sample, fov_range))

    def probabilities(self, sample, fov_range) -> np.ndarray:
        self.bundle.meta.fov_range = fov_range
        return predict_probabilities(self.bundle, sample.image, sample.fov)

    def cut(self, sample, prob: np.ndarray) -> np.ndarray:
        """The mask segment makes of ``prob``: its Otsu cut, the model's post-processing."""
        cut = model_cut(self.bundle.meta, prob, sample.fov)
        return postprocess_mask(prob, cut, sample.fov, self.setting)

    def first_width(self, sample) -> float:
        return target_fov_width(sample.fov, 0.0, self.trained_range)

    def first_pass(self, sample) -> tuple[np.ndarray, float, np.ndarray]:
        """The default segmentation (FOV-width scale), the seconds it took, and its
        probabilities."""
        started = time.perf_counter()
        prob = self.probabilities(sample, self.trained_range)
        mask = self.cut(sample, prob)
        return mask, time.perf_counter() - started, prob

    def working_caliber(self, sample, first: np.ndarray) -> float:
        """Pass 1's calibre (measured on its native-size mask) in its working pixels."""
        return vessel_caliber(first) * self.first_width(sample) / fov_diameter(sample.fov)

    def second_pass(self, sample, first: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """The segmentation at the width the first one's calibre asks for, that width,
        and its probabilities."""
        width = caliber_fov_width(self.first_width(sample), self.working_caliber(sample, first),
                                  self.reference)
        prob = self.probabilities(sample, [width, width])
        return self.cut(sample, prob), width, prob

    def band_pass(self, sample, first: np.ndarray) -> tuple[np.ndarray, float]:
        """The band rule: a calibre outside the validation datasets' band (their lowest
        and highest median) is brought to its nearest edge, one inside it is left, and
        a step within the dead zone is not taken (the first pass is kept)."""
        start = self.first_width(sample)
        width = band_pass_width(start, self.working_caliber(sample, first), self.band)
        if width is None:
            return first, start
        return self.segment(sample, [width, width]), width


def score_group(model: TwoPass, samples: list, firsts: list | None = None) -> dict:
    """Every rule on ``samples``; ``firsts``: their first passes when already made.
    ``mean`` cuts the average of both passes' probabilities (a two-scale ensemble)."""
    counts = {rule: Counts() for rule in RULES}
    widths, seconds, photos = [], [], []
    for index, sample in enumerate(samples):
        first, first_seconds, first_prob = firsts[index] if firsts else model.first_pass(sample)
        started = time.perf_counter()
        second, width, second_prob = model.second_pass(sample, first)
        seconds.append(first_seconds + time.perf_counter() - started)
        mean = model.cut(sample, (first_prob + second_prob) / 2)
        widths.append(width)
        banded, band_width = model.band_pass(sample, first)
        photo = {"id": sample.id, "first_fov_px": model.first_width(sample), "second_fov_px": width,
                 "band_fov_px": band_width, "working_caliber_px": model.working_caliber(sample, first)}
        for rule, mask in (("fov", first), ("caliber", second), ("band", banded), ("mean", mean)):
            pixels = count_pixels(mask[sample.fov], sample.vessel[sample.fov])
            counts[rule] = counts[rule] + pixels
            photo[f"{rule}_counts"] = [pixels.tp, pixels.fp, pixels.fn, pixels.tn]
        photos.append(photo)
    row = {"images": len(samples), "native_fov_px": float(np.median([fov_diameter(s.fov)
                                                                      for s in samples])),
           "caliber_fov_px": [float(np.min(widths)), float(np.median(widths)), float(np.max(widths))],
           "seconds_both_passes": float(np.median(seconds)), "photos": photos}
    for rule, c in counts.items():
        row[f"{rule}_f1"] = scores_from_counts(c)["f1"]
        row[f"{rule}_area_ratio"] = (c.tp + c.fp) / max(c.tp + c.fn, 1)
    return row


def measure_run(model_path: str, holdout: str | None, data_root: str,
                unseen_split: str = "train") -> dict:
    """One model: the dataset it never saw (``holdout``, its ``unseen_split``; None for
    a model that saw them all) and its own validation images."""
    model = TwoPass(model_path)
    validation = image_groups(model.bundle, [], data_root)
    # The validation photos' first passes give the reference and are scored below.
    firsts = {name: [model.first_pass(s) for s in samples] for name, samples in validation.items()}
    calibers = {name: [model.working_caliber(s, mask) for s, (mask, *_) in zip(samples, firsts[name])]
                for name, samples in validation.items()}
    model.reference = reference_caliber(calibers)
    model.band = caliber_band(calibers)
    rows = []
    if holdout:
        unseen = list(load_dataset(holdout, unseen_split, data_root))
        rows.append({"group": "unseen", "dataset": holdout, **score_group(model, unseen)})
    rows += [{"group": "validation", "dataset": name, **score_group(model, samples, firsts[name])}
             for name, samples in validation.items()]
    print(f"{shown_path(model_path, ROOT)}: reference {model.reference:.2f} px; " + "; ".join(
        f"{r['dataset']} F1 {r['fov_f1']:.4f} -> {r['caliber_f1']:.4f}" for r in rows), flush=True)
    return {"run": shown_path(model_path, ROOT), "holdout": holdout, "trained_range": model.trained_range,
            "validation_calibers": calibers, "reference_caliber_px": model.reference,
            "band_px": list(model.band), "rows": rows}


def manual_calibers(data_root: str) -> dict:
    """Each dataset's manual masks (training split): calibre per 1000 px of FOV width."""
    result = {}
    for name in HOLDOUTS:
        values = [1000 * vessel_caliber(s.vessel & s.fov) / fov_diameter(s.fov)
                  for s in load_dataset(name, "train", data_root)]
        result[name] = {"median": float(np.median(values)), "min": float(np.min(values)),
                        "max": float(np.max(values)), "images": len(values)}
    return result


def summary(runs: list[dict]) -> dict:
    """Mean F1 of each rule over the unseen datasets and over the runs' validation sets,
    and their average (unseen and known cameras weigh the same, as in threshold_rule);
    None where a group was not measured."""
    means = {}
    for rule in RULES:
        groups = {group: [r[f"{rule}_f1"] for run in runs for r in run["rows"]
                          if r["group"] == group] for group in ("unseen", "validation")}
        means[rule] = {group: float(np.mean(v)) if v else None for group, v in groups.items()}
        means[rule]["average"] = (float(np.mean([means[rule]["unseen"], means[rule]["validation"]]))
                                  if all(groups.values()) else None)
    return means


def twice(photo: dict, zone: float) -> bool:
    """Whether ``photo`` gets its second pass under dead zone ``zone``."""
    change = photo["second_fov_px"] / photo["first_fov_px"]
    return max(change, 1.0 / change) > zone


def zone_f1(row: dict, zone: float, rule: str = "caliber") -> float:
    """A group's pooled F1 when only the photos outside ``zone`` take the second pass
    (``rule``: ``caliber``, or ``mean`` for the average of both passes)."""
    total = Counts()
    for photo in row["photos"]:
        total = total + Counts(*photo[f"{rule}_counts" if twice(photo, zone) else "fov_counts"])
    return scores_from_counts(total)["f1"]


def dead_zones(runs: list[dict]) -> list[dict]:
    """Per dead zone: mean F1 over the unseen datasets and the runs' validation sets,
    their average, and the share of photos segmented twice."""
    table = []
    for zone in DEAD_ZONES:
        entry = {"zone": zone}
        for group in ("unseen", "validation"):
            rows = [r for run in runs for r in run["rows"] if r["group"] == group]
            entry[group] = (float(np.mean([zone_f1(r, zone, SHIPPED_RULE) for r in rows]))
                            if rows else None)
            photos = [p for r in rows for p in r["photos"]]
            entry[f"{group}_twice"] = (sum(twice(p, zone) for p in photos) / len(photos)
                                       if photos else None)
        entry["average"] = (float(np.mean([entry["unseen"], entry["validation"]]))
                            if entry["unseen"] is not None else None)
        table.append(entry)
    return table


def chosen_zone(table: list[dict]) -> float | None:
    """The dead zone the rule above picks; None without unseen datasets to judge by."""
    scored = [e for e in table if e["average"] is not None]
    if not scored:
        return None
    best = max(e["average"] for e in scored)
    return max(e["zone"] for e in scored if e["average"] >= best - TIE_F1)


def measure(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    if args.model:
        runs = [measure_run(args.model, None, args.data_root)]
    else:
        runs = [measure_run(str(final_run_dir(args.runs_root, holdout) / "model.safetensors"),
                            holdout, args.data_root, args.unseen_split) for holdout in HOLDOUTS]
    result.update({"quantile": CALIBER_QUANTILE, "max_change": MAX_CHANGE,
                   "unseen_split": args.unseen_split,
                   "manual_calibers_per_1000px_fov": manual_calibers(args.data_root),
                   "runs": runs, "summary": summary(runs)})
    result["dead_zones"] = dead_zones(runs)
    # A zone is chosen on the training splits only; a test-split run reports them all.
    result["chosen_dead_zone"] = (chosen_zone(result["dead_zones"])
                                  if args.unseen_split == "train" else None)
    result["shipped_dead_zone"] = DEAD_ZONE
    return result


def markdown(result: dict) -> str:
    manual = result["manual_calibers_per_1000px_fov"]
    unseen_split = result.get("unseen_split", "train")
    unseen = any(run["holdout"] for run in result["runs"])
    lines = ["# Vessel calibre as a second working scale, " + (
             "on cameras a model never saw" if unseen else "on a model's own validation images"), "",
             provenance_markdown(result).rstrip(), "",
             f"- calibre: the {result['quantile']:.0f}th percentile of the vessel widths along "
             "the centrelines; the second pass works at most "
             f"{result['max_change']:g}x larger or smaller than the first",
             "- every photo cut at the Otsu threshold of its own FOV probabilities, the model's "
             "post-processing applied; scored at native resolution inside the FOV, pooled per "
             "dataset; " + ("no test image read" if unseen_split != "test" else
                            "**the held-out datasets' test splits, read after the rule was "
                            "chosen on their training splits: nothing here is chosen**"), "",
             "Manual masks (training split), calibre per 1000 px of FOV width:", "",
             markdown_table(["dataset", "images", "median", "min-max"],
                            [[name, str(v["images"]), f"{v['median']:.2f}",
                              f"{v['min']:.2f}-{v['max']:.2f}"] for name, v in manual.items()]),
             "", "F1 and predicted/true vessel area by rule:", ""]
    header = ["run", "images", "group", "native FOV (median px)", "calibre rule: FOV px (min-median-max)",
              "FOV rule F1", "second pass alone F1", "second pass alone F1, shipped dead zone",
              "mean of both passes F1, shipped dead zone (`--scale caliber`)", "band rule F1",
              "band rule: photos twice", "FOV rule area", "second pass alone area",
              "mean of both passes area", "s / photo, both passes"]
    table = []
    shipped = result.get("shipped_dead_zone")
    for run in result["runs"]:
        for r in run["rows"]:
            low, mid, high = r["caliber_fov_px"]
            name = f"held out {run['holdout']}" if run["holdout"] else f"`{run['run']}`"
            band = "-".join(f"{v:.2f}" for v in run.get("band_px", []))
            table.append([f"{name} (reference {run['reference_caliber_px']:.2f} px"
                          + (f", band {band} px)" if band else ")"),
                          f"{r['dataset']} ({r['images']})",
                          f"**unseen** ({unseen_split} split)" if r["group"] == "unseen"
                          else "own validation",
                          f"{r['native_fov_px']:.0f}", f"{low:.0f}-{mid:.0f}-{high:.0f}",
                          f"{r['fov_f1']:.4f}", f"{r['caliber_f1']:.4f}",
                          _figure(zone_f1(r, shipped) if shipped and "photos" in r else None),
                          _figure(zone_f1(r, shipped, "mean") if shipped and "mean_f1" in r
                                  else None),
                          _figure(r.get("band_f1")), _band_twice(r),
                          f"{r['fov_area_ratio']:.3f}", f"{r['caliber_area_ratio']:.3f}",
                          _figure(r.get("mean_area_ratio"), 3),
                          f"{r['seconds_both_passes']:.2f}"])
    lines += [markdown_table(header, table), "", "Means (each dataset of each run counts once):", "",
              markdown_table(["rule", "unseen datasets", "own validation", "average of the two"],
                             [[RULE_NAMES.get(rule, rule)]
                              + [_figure(m[key]) for key in ("unseen", "validation", "average")]
                              for rule, m in result["summary"].items()]),
              "", "Seconds are for comparing the rules on this machine only: the calibre rule "
              "segments every photo twice.", ""] + dead_zone_markdown(result)
    return "\n".join(lines) + "\n"


def shipped_zone_means(result: dict) -> dict:
    """Mean F1 of the second pass alone and of the two-pass mean at the shipped dead
    zone, over the unseen datasets and over the validation sets (None: not measured)."""
    zone = result.get("shipped_dead_zone")
    means = {}
    for rule in ("caliber", "mean"):
        means[rule] = {}
        for group in ("unseen", "validation"):
            rows = [r for run in result["runs"] for r in run["rows"]
                    if r["group"] == group and f"{rule}_f1" in r]
            means[rule][group] = (float(np.mean([zone_f1(r, zone, rule) for r in rows]))
                                  if rows and zone else None)
    return means


def dead_zone_markdown(result: dict) -> list[str]:
    """The dead-zone table and the zone it chose (older result files have none)."""
    if "dead_zones" not in result:
        return []
    chosen, shipped = result["chosen_dead_zone"], result.get("shipped_dead_zone")
    rows = [[f"{e['zone']:g}" + (" (chosen)" if e["zone"] == chosen else "")
             + (" (shipped: `retinaseg.caliber.DEAD_ZONE`)" if e["zone"] == shipped else ""),
             _figure(e["unseen"]), _share(e["unseen_twice"]), _figure(e["validation"]),
             _share(e["validation_twice"]), _figure(e["average"])] for e in result["dead_zones"]]
    how = (f"Chosen by the best average, a wider zone winning within {TIE_F1:g}"
           if chosen is not None else "Nothing is chosen here: the zone was chosen on the "
           "held-out datasets' training splits (caliber_scale.md)")
    shipped_means = [[RULE_NAMES[rule]] + [_figure(m[group]) for group in ("unseen", "validation")]
                     for rule, m in shipped_zone_means(result).items()]
    return ["At the shipped dead zone, the second pass alone against the mean of both "
            "passes:", "", markdown_table(["rule", "unseen datasets", "own validation"],
                                          shipped_means), "",
            "Dead zone: the second pass only where it would work more than this factor "
            f"larger or smaller than the first (1: every photo), scored on "
            f"{RULE_NAMES[SHIPPED_RULE]}. {how}:", "",
            markdown_table(["dead zone", "unseen F1", "unseen photos twice", "own validation F1",
                            "validation photos twice", "average"], rows)]


def _band_twice(row: dict) -> str:
    photos = [p for p in row.get("photos", []) if "band_fov_px" in p]
    if not photos:
        return "-"
    return f"{sum(p['band_fov_px'] != p['first_fov_px'] for p in photos)} of {len(photos)}"


def _share(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _figure(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs-root", type=Path, default=ROOT / "benchmarks" / "lodo_runs")
    parser.add_argument("--unseen-split", default="train", choices=("train", "test"),
                        help="the held-out dataset's split to score (test: only to report a "
                        "rule already chosen on the training splits)")
    parser.add_argument("--model", help="one model (shipped name or checkpoint) instead of the "
                        "leave-one-out runs: its own validation images only")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "caliber_scale"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = measure(args)
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
