"""Choose the quality verdict's thresholds on public training photos and graded degradations; check them on the test photos.

    python benchmarks/quality_verdict.py [--data-root ../shared/data] [--model general]
        [--model-photos 1] [--model-datasets drive,chase_db1,hrf] [--rows rows.json]

1. Every TRAINING photo of DRIVE, CHASE_DB1 and HRF (all good-quality photos:
   expected ``good``) is measured as it is and degraded at graded severities:
   Gaussian blur, under- and over-exposure, additive noise, a crop of the FOV.
   Each severity has an expected verdict, a stated rule (``FAMILIES`` below);
   the F1 of the model against the manual vessels on ``--model-photos`` photos
   per dataset shows what each severity does to a segmentation.
2. Each threshold is chosen from these, on its own family's photos plus the real
   ones: the midpoint of the gap between the photos that should pass it and
   those that should not; where the two overlap, the value that misgrades the
   fewest (ties: the middle one). The low-confidence pair (uncertain_fraction)
   depends on the model and is set from the real training photos it segmented
   (1.25x and 2x the largest): degradations make the model confidently wrong,
   so they cannot place it (see ``confidence_limit``).
3. The TEST photos are then graded with the chosen thresholds, as they are
   (the model's confidence on ``--model-photos`` per dataset): a check only,
   nothing is tuned on them.

Photos as they are are measured at their own size, as ``retinaseg segment``
does. They are degraded, and segmented, after a reduction to a FOV at most
1280 px wide (only HRF's is wider: 2.6x): the widest the `general` model trained
at (it segments HRF at 1792 px), and more than the signals use. The model segments ``--model-photos`` per
dataset (the first of each split) because that is what costs: on a shared
2-core machine each photo takes seconds.
Writes ``benchmarks/results/quality_verdict.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from retinaseg.data import estimate_fov, load_dataset
from retinaseg.quality.signals import circle_outside_share, fov_circle
from retinaseg.quality.verdict import (GOOD, GRADES, LIMITS, REJECT, USABLE, Limit, grade_photo,
                                       measure_signals, uncertain_fraction)
from retinaseg.utils import provenance, provenance_markdown, write_result

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("drive", "chase_db1", "hrf")
MAX_FOV_WIDTH = 1280  # the widest FOV the general model trained at


@dataclass(frozen=True)
class Level:
    family: str
    severity: float
    expected: str | None  # None: decided per photo (the crop, by the share of fundus lost)


# The expected verdicts, a grader's rule for each severity:
# blur sigma as a share of the FOV width: 0.001 (half a pixel on DRIVE) changes nothing
# visible; 0.002-0.004 (1-2 px on DRIVE) dims the capillaries but leaves the vessel tree;
# from 0.008 (4 px on DRIVE) only the large vessels remain.
# exposure gain: 0.6 / 1.3 stay within what real cameras deliver; 0.4 / 1.7 flatten or
# clip part of the fundus; 0.25 / 2.4 leave a few grey levels of vessel contrast or clip
# most of the disc region.
# noise sigma (grey levels, per pixel at the benchmark size): 3 is sensor noise, 8 hides
# the capillaries, 20 swamps the thin vessels.
# crop: the left edge of the frame moved into the FOV by a share of its width; the
# expected verdict follows the share of the fundus circle then outside the frame
# (CROP_GOOD, CROP_USABLE below): HRF's own camera mask already cuts 0.175 off.
FAMILIES: dict[str, tuple[str, tuple[Level, ...]]] = {
    "blur": ("sharpness", (Level("blur", 0.001, GOOD), Level("blur", 0.002, USABLE),
                           Level("blur", 0.004, USABLE), Level("blur", 0.008, REJECT),
                           Level("blur", 0.016, REJECT))),
    "under": ("bright_level", (Level("under", 0.6, GOOD), Level("under", 0.4, USABLE),
                               Level("under", 0.25, REJECT))),
    "over": ("clipped_share", (Level("over", 1.3, GOOD), Level("over", 1.7, USABLE),
                               Level("over", 2.4, REJECT))),
    "noise": ("noise_ratio", (Level("noise", 3, GOOD), Level("noise", 8, USABLE),
                              Level("noise", 20, REJECT))),
    "crop": ("fov_cut_off", (Level("crop", 0.1, None), Level("crop", 0.25, None),
                             Level("crop", 0.4, None), Level("crop", 0.5, None))),
}
CROP_GOOD, CROP_USABLE = 0.25, 0.4  # share of the fundus circle lost, for the crop's label
# The model segments these families' degradations: the two that blur or bury the vessels
# without a measured signal of their own that pins them (a crop leaves what is in the frame
# as it was; exposure has its own two signals). Each segmentation costs seconds here.
MODEL_FAMILIES = ("blur", "noise")
CONFIDENCE_SIGNAL = "uncertain_fraction"
CONFIDENCE_GOOD_MARGIN, CONFIDENCE_USABLE_MARGIN = 1.25, 2.0  # x the worst real photo's


# --- photos and degradations -------------------------------------------------------------

def benchmark_photos(root, split: str, limit: int = 0) -> list[dict]:
    """Each photo of the split at its own size (``native``) and at a FOV width <=
    MAX_FOV_WIDTH (``image``, ``vessel``: the manual vessels), the size it is degraded at."""
    photos = []
    for name in DATASETS:
        samples = load_dataset(name, split, root)
        for sample in samples[:limit] if limit else samples:
            image, vessel = reduced(sample.image, sample.vessel)
            photos.append({"dataset": name, "id": sample.id, "image": image, "vessel": vessel,
                           "native": sample.image})
    return photos


def reduced(image: np.ndarray, vessel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    columns = np.flatnonzero(estimate_fov(image).any(axis=0))
    scale = MAX_FOV_WIDTH / (columns[-1] - columns[0] + 1)
    if scale >= 1:
        return image, vessel
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    small_vessel = np.asarray(Image.fromarray(vessel).resize(size, Image.Resampling.NEAREST))
    return small, small_vessel.astype(bool)


def degrade(image: np.ndarray, level: Level, fov: np.ndarray, seed: int = 0):
    """The degraded photo, and the columns of the original it keeps."""
    columns = slice(0, image.shape[1])
    if level.family == "blur":
        width = np.ptp(np.flatnonzero(fov.any(axis=0))) + 1
        blur = ImageFilter.GaussianBlur(float(level.severity * width))
        return np.asarray(Image.fromarray(image).filter(blur)), columns
    if level.family in ("under", "over"):
        return np.clip(np.rint(image * level.severity), 0, 255).astype(np.uint8), columns
    if level.family == "noise":
        noise = np.random.default_rng(seed).normal(0, level.severity, image.shape)
        return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8), columns
    left = np.flatnonzero(fov.any(axis=0))
    start = int(left[0] + level.severity * (left[-1] - left[0] + 1))
    columns = slice(start, image.shape[1])
    return np.ascontiguousarray(image[:, columns]), columns


def expected_verdict(level: Level, fov: np.ndarray, columns: slice) -> tuple[str, float | None]:
    """The level's expected verdict; for a crop, from the share of the clean photo's
    fitted fundus circle that the cropped frame leaves outside."""
    if level.expected:
        return level.expected, None
    row, column, radius = fov_circle(fov)
    lost = circle_outside_share((row, column - columns.start, radius),
                                (fov.shape[0], columns.stop - columns.start))
    grade = GOOD if lost <= CROP_GOOD else USABLE if lost <= CROP_USABLE else REJECT
    return grade, lost


# --- measuring ----------------------------------------------------------------------------

def model_columns(photo: dict, model) -> dict:
    """The model's confidence and F1 on a photo as it is, at the benchmark size."""
    if model is None:
        return {}
    row = measured(photo["image"], model, photo["vessel"])
    return {key: row[key] for key in (CONFIDENCE_SIGNAL, "f1")}


def measured(image: np.ndarray, model=None, vessel=None) -> dict:
    fov = estimate_fov(image)
    row = {k: _round(v) for k, v in measure_signals(image, fov).items()}
    if model is not None:
        from retinaseg.pipeline.segment import segment_photo

        prob, mask, fov, cut, _ = segment_photo(model, image, quality_check=False)
        row[CONFIDENCE_SIGNAL] = round(uncertain_fraction(prob, fov, cut), 5)
        row["f1"] = f1_score(mask, vessel, fov)
    return row


def f1_score(mask: np.ndarray, vessel: np.ndarray, fov: np.ndarray) -> float:
    tp = np.count_nonzero(mask & vessel & fov)
    predicted, true = np.count_nonzero(mask & fov), np.count_nonzero(vessel & fov)
    return round(2 * tp / max(predicted + true, 1), 4)


def _round(value):
    return round(value, 6) if isinstance(value, float) else value


def photo_rows(photos: list[dict], model, model_ids: set, split: str,
               degraded: bool = True) -> list[dict]:
    """One row per photo as it is (at its own size) and per degradation of it.

    The model segments the photos in ``model_ids``, as they are and degraded.
    """
    rows = []
    for number, photo in enumerate(photos, 1):
        key = (photo["dataset"], photo["id"])
        with_model = model if key in model_ids else None
        print(f"{split} {number}/{len(photos)} {key}", file=sys.stderr, flush=True)
        base = {"split": split, "dataset": photo["dataset"], "id": photo["id"]}
        rows.append({**base, "family": "real", "severity": 0, "expected": GOOD,
                     **measured(photo["native"], None),
                     **model_columns(photo, with_model)})
        if not degraded:
            continue
        fov = estimate_fov(photo["image"])
        for family, (_, levels) in FAMILIES.items():
            for level in levels:
                image, columns = degrade(photo["image"], level, fov)
                expected, lost = expected_verdict(level, fov, columns)
                with_model = model if key in model_ids and family in MODEL_FAMILIES else None
                rows.append({**base, "family": family, "severity": level.severity,
                             "expected": expected, "lost_share": lost,
                             **measured(image, with_model, photo["vessel"][:, columns])})
    return rows


# --- choosing the thresholds --------------------------------------------------------------

def separating_threshold(passing: list[float], failing: list[float],
                         higher_is_better: bool) -> tuple[float, int]:
    """The threshold between values that should pass and values that should not, and
    how many it misgrades: the midpoint of the gap, or the fewest errors on overlap."""
    sign = 1.0 if higher_is_better else -1.0
    good, bad = sorted(sign * v for v in passing), sorted(sign * v for v in failing)
    if good[0] > bad[-1]:
        return sign * (good[0] + bad[-1]) / 2, 0
    values = sorted(set(good + bad))
    candidates = [(a + b) / 2 for a, b in zip(values, values[1:])]
    errors = [sum(v < t for v in good) + sum(v >= t for v in bad) for t in candidates]
    best = [t for t, e in zip(candidates, errors) if e == min(errors)]
    return sign * best[len(best) // 2], int(min(errors))


def chosen_limit(limit: Limit, rows: list[dict], families: tuple[str, ...]) -> dict:
    """Both thresholds of one signal, from the real photos and the families that probe it."""
    pool = [r for r in rows if r["family"] in ("real", *families)
            and r.get(limit.signal) is not None and r[limit.signal] == r[limit.signal]]
    split = {}
    for boundary, passing in (("good", (GOOD,)), ("usable", (GOOD, USABLE))):
        ok = [r[limit.signal] for r in pool if r["expected"] in passing]
        not_ok = [r[limit.signal] for r in pool if r["expected"] not in passing]
        split[boundary] = separating_threshold(ok, not_ok, limit.higher_is_better)
    return {"signal": limit.signal, "code": limit.code, "families": list(families),
            "good": _nice(split["good"][0]), "good_misgraded": split["good"][1],
            "usable": _nice(split["usable"][0]), "usable_misgraded": split["usable"][1],
            "higher_is_better": limit.higher_is_better, "photos": len(pool),
            "in_code": {"good": limit.good, "usable": limit.usable}}


def _nice(value: float) -> float:
    return float(f"{value:.3g}")


def confidence_limit(limit: Limit, rows: list[dict]) -> dict:
    """The low-confidence pair, from the real photos the model segmented: good up to
    CONFIDENCE_GOOD_MARGIN x the largest, usable up to CONFIDENCE_USABLE_MARGIN x.

    Not from the degradations: blur and noise make the model confidently wrong
    (its uncertain_fraction stays flat or falls while F1 collapses, see the
    severity table), so they say nothing about where confidence should be cut.
    """
    real = [r[limit.signal] for r in rows if r["family"] == "real"
            and r.get(limit.signal) is not None]
    return {"signal": limit.signal, "code": limit.code, "families": [],
            "good": _nice(CONFIDENCE_GOOD_MARGIN * max(real)), "good_misgraded": 0,
            "usable": _nice(CONFIDENCE_USABLE_MARGIN * max(real)), "usable_misgraded": 0,
            "higher_is_better": False, "photos": len(real),
            "in_code": {"good": limit.good, "usable": limit.usable}}


def choose_limits(rows: list[dict]) -> list[dict]:
    by_signal = {signal: (family,) for family, (signal, _) in FAMILIES.items()}
    return [confidence_limit(limit, rows) if limit.signal == CONFIDENCE_SIGNAL
            else chosen_limit(limit, rows, by_signal[limit.signal]) for limit in LIMITS]


def as_limits(chosen: list[dict]) -> tuple[Limit, ...]:
    values = {c["signal"]: c for c in chosen}
    return tuple(replace(limit, good=values[limit.signal]["good"],
                         usable=values[limit.signal]["usable"]) for limit in LIMITS)


# --- grading and the report ---------------------------------------------------------------

def graded(rows: list[dict], limits: tuple[Limit, ...]) -> list[dict]:
    out = []
    for row in rows:
        verdict = grade_photo(row, limits)
        out.append({**row, "assigned": verdict.grade, "reasons": list(verdict.reasons)})
    return out


def confusion(rows: list[dict]) -> dict:
    table = {e: {a: 0 for a in GRADES} for e in GRADES}
    for row in rows:
        table[row["expected"]][row["assigned"]] += 1
    return table


def confusion_markdown(title: str, rows: list[dict]) -> str:
    table = confusion(rows)
    agree = sum(table[g][g] for g in GRADES)
    lines = [f"**{title}** ({len(rows)} photos, {agree} as expected)", "",
             "| expected \\ assigned | " + " | ".join(GRADES) + " |", "|---|---|---|---|"]
    lines += [f"| {e} | " + " | ".join(str(table[e][a]) for a in GRADES) + " |" for e in GRADES]
    return "\n".join(lines) + "\n"


def levels_markdown(rows: list[dict]) -> str:
    """Per family and severity: the expected verdict, the signal's range, F1 on the subset."""
    lines = ["| family | severity | expected | its signal: min - max | assigned g/u/r | "
             "model subset: F1 (clean F1) | uncertain_fraction |", "|---|---|---|---|---|---|---|"]
    clean = {(r["dataset"], r["id"]): r for r in rows if r["family"] == "real"}
    for family, (signal, levels) in {"real": ("sharpness", (Level("real", 0, GOOD),)),
                                     **FAMILIES}.items():
        for level in levels:
            group = [r for r in rows if r["family"] == family and r["severity"] == level.severity]
            values = [r[signal] for r in group if r[signal] == r[signal]]
            counts = "/".join(str(sum(r["assigned"] == g for r in group)) for g in GRADES)
            expected = "/".join(str(sum(r["expected"] == g for r in group)) for g in GRADES)
            subset = [r for r in group if "f1" in r]
            f1 = (f"{statistics.median(r['f1'] for r in subset):.3f} "
                  f"({statistics.median(clean[(r['dataset'], r['id'])]['f1'] for r in subset):.3f})"
                  if subset else "")
            unc = (f"{min(r[CONFIDENCE_SIGNAL] for r in subset):.3f} - "
                   f"{max(r[CONFIDENCE_SIGNAL] for r in subset):.3f}" if subset else "")
            span = f"{signal} {min(values):.3g} - {max(values):.3g}" if values else "n/a"
            lines.append(f"| {family} | {level.severity} | {level.expected or expected} | {span} "
                         f"| {counts} | {f1} | {unc} |")
    return "\n".join(lines) + "\n"


def limits_markdown(chosen: list[dict]) -> str:
    lines = ["| signal | reason code | good if | usable if | misgraded (good / usable cut) "
             "| chosen on | in the code now |", "|---|---|---|---|---|---|---|"]
    for c in chosen:
        op = ">=" if c["higher_is_better"] else "<="
        lines.append(f"| {c['signal']} | {c['code']} | {op} {c['good']} | {op} {c['usable']} | "
                     f"{c['good_misgraded']} / {c['usable_misgraded']} | real + "
                     f"{', '.join(c['families'])} ({c['photos']} photos) | "
                     f"{c['in_code']['good']} / {c['in_code']['usable']} |")
    return "\n".join(lines) + "\n"


def misgraded_markdown(rows: list[dict], limit: int = 25) -> str:
    wrong = [r for r in rows if r["assigned"] != r["expected"]]
    lines = [f"{len(wrong)} photos not graded as expected"
             + (f" (first {limit} shown)" if len(wrong) > limit else "") + ":", "",
             "| split | photo | degradation | expected | assigned | reasons |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['split']} | {r['dataset']} {r['id']} | {r['family']} {r['severity']} | "
              f"{r['expected']} | {r['assigned']} | {'; '.join(r['reasons'])} |"
              for r in wrong[:limit]]
    return "\n".join(lines) + "\n"


def model_subset(photos: list[dict], per_dataset: int, datasets=DATASETS) -> set:
    """The first ``per_dataset`` photos of each dataset: those whose degradations the model sees."""
    return {(p["dataset"], p["id"]) for name in datasets
            for p in [q for q in photos if q["dataset"] == name][:per_dataset]}


def measured_rows(args, model) -> tuple[list[dict], list[dict]]:
    train = benchmark_photos(args.data_root, "train", args.limit)
    chosen = args.model_datasets.split(",")
    train_rows = photo_rows(train, model, model_subset(train, args.model_photos, chosen), "train")
    test = benchmark_photos(args.data_root, "test", args.limit)
    test_rows = photo_rows(test, model, model_subset(test, args.model_photos, chosen), "test",
                           degraded=False)
    return train_rows, test_rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--model", default="general", help="shipped name or checkpoint path")
    parser.add_argument("--model-photos", type=int, default=1,
                        help="photos per dataset whose degradations the model also segments")
    parser.add_argument("--model-datasets", default=",".join(DATASETS),
                        help="comma-separated: the datasets whose photos the model segments")
    parser.add_argument("--rows", type=Path, help="measured rows: read from this JSON file "
                        "when it exists (to redo only the choice and the report), else "
                        "written to it")
    parser.add_argument("--limit", type=int, default=0,
                        help="only this many photos per dataset and split (a quick look)")
    args = parser.parse_args(argv)
    from retinaseg.hub.pretrained import load_model

    started = time.perf_counter()
    model = load_model(args.model, "cpu")
    args.rows_read = bool(args.rows and args.rows.is_file())
    if args.rows_read:  # the choice and the report again, on rows measured before
        train_rows, test_rows = json.loads(args.rows.read_text()).values()
    else:
        train_rows, test_rows = measured_rows(args, model)
        if args.rows:
            args.rows.write_text(json.dumps({"train": train_rows, "test": test_rows}))
    chosen = choose_limits(train_rows)
    limits = as_limits(chosen)
    train_rows, test_rows = graded(train_rows, limits), graded(test_rows, limits)
    result = report(args, model, chosen, train_rows, test_rows, time.perf_counter() - started)
    return 0 if result["test_real_rejected"] == 0 else 1


def report(args, model, chosen, train_rows, test_rows, seconds: float) -> dict:
    in_code = all(c["in_code"] == {"good": c["good"], "usable": c["usable"]} for c in chosen)
    real_test = [r for r in test_rows if r["family"] == "real"]
    result = {**provenance(REPO), "model": args.model, "model_sha256": model.sha256,
              "model_threshold": model.meta.threshold,
              "model_threshold_rule": model.meta.threshold_rule, "seconds": round(seconds, 1),
              "limits": chosen, "code_matches": in_code,
              "test_real_rejected": sum(r["assigned"] == REJECT for r in real_test),
              "confusion": {"train": confusion(train_rows), "test": confusion(test_rows)},
              "rows": train_rows + test_rows}
    subset = [r for r in train_rows if r.get(CONFIDENCE_SIGNAL) is not None]
    text = "\n".join([
        "# Quality verdict: thresholds chosen on training photos, checked on test photos", "",
        provenance_markdown(result),
        f"Model `{args.model}` (sha256 {model.sha256[:12]}, threshold {model.meta.threshold}, "
        f"rule {model.meta.threshold_rule}: the uncertain band is around each photo's cut); "
        f"whole run {result['seconds']} s"
        + (f" (the rows were measured earlier, read from `{args.rows}`)" if args.rows_read
           else "") + f". {__doc__.split(chr(10), 2)[2].strip()}", "",
        "## Thresholds", "", limits_markdown(chosen),
        f"The constants in `src/retinaseg/quality_verdict.py` equal these: **{in_code}**.", "",
        "## Training photos: severities, signals, verdicts", "",
        "`assigned g/u/r`: good/usable/reject with the thresholds above (the model's "
        "uncertain_fraction only where the model ran: the real photos and the model subset).",
        "", levels_markdown(train_rows),
        confusion_markdown("Training, every photo and degradation", train_rows), "",
        confusion_markdown("Training, model subset (all signals, confidence included)", subset),
        "", "## Test photos (a check: nothing chosen on them)", "",
        confusion_markdown(f"Test photos as they are (the model's confidence on the first "
                           f"{args.model_photos} of {args.model_datasets})", real_test), "",
        "## Not graded as expected", "",
        misgraded_markdown(train_rows + test_rows)])
    write_result(REPO / "benchmarks/results/quality_verdict", result, text)
    return result


if __name__ == "__main__":
    sys.exit(main())
