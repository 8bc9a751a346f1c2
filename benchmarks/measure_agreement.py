"""Vessel measures from a model's masks against the same measures from people's masks.

    python benchmarks/measure_agreement.py --data-root ../shared/data --model general
    python benchmarks/measure_agreement.py --data-root ../shared/data --model general \
        --threshold 0.5271 --out benchmarks/results/measure_agreement_general_validated_cut

For each test image of DRIVE, CHASE_DB1 and HRF, every measure of
:func:`retinaseg.measure.measure_vessels` is computed from the model's
thresholded mask (cut by the model's own rule, or as ``--threshold`` says: a
number or ``otsu``) and from the first observer's manual mask, inside the same
FOV (DRIVE and HRF ship theirs; CHASE_DB1's is estimated from the photo, as
everywhere in this project). Per dataset and measure: Pearson r, ICC(2,1) and
the mean bias (model - human) with its 95% limits of agreement; beside them the
same for the second observer against the first (DRIVE ``2nd_manual``, CHASE_DB1
``2ndHO``; HRF has one observer). A third rater is the model's mask with its
specks dropped (8-connected objects under ``SPECK_PX`` pixels at DRIVE's scale,
scaled by the square of the FOV's width over DRIVE's 540 px), since a person
never draws them and they dominate the component and end-point counts.
Measures are compared in pixels at native resolution: both raters of an image
share its pixel size, so r and ICC do not depend on it, and a bias in pixels
is what a mm bias would be before scaling.

Writes benchmarks/results/measure_agreement.{json,md} (``--out`` to change),
rewritten after each dataset so a long HRF run leaves the finished ones behind.
The committed results come from two runs: DRIVE and CHASE_DB1, then HRF alone
(``--datasets hrf --out benchmarks/results/measure_agreement_hrf``), which on a
shared 2-core machine takes about a minute per image.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import provenance, provenance_markdown, write_result

from retinaseg.data import load_dataset
from retinaseg.hub.load import load_model
from retinaseg.hub.pretrained import DEFAULT_MODEL
from retinaseg.measure import measure_vessels, speck_size
from retinaseg.measure.agreement import agreement
from retinaseg.pipeline.cut import describe_rule, image_cut, rule_of
from retinaseg.pipeline.predict import predict_probabilities

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"drive": "2nd_manual", "chase_db1": "2ndHO", "hrf": None}  # second observer's name
MEASURES = ("vessel_area_fraction", "skeleton_length_px", "width_mean_px", "width_median_px",
            "fractal_dimension", "tortuosity_arc_chord", "tortuosity_sq_curvature_per_px2",
            "branch_points", "end_points", "components")


def measure_image(bundle, sample, observer: str | None, rule) -> dict:
    """The measures of one test image: the model's (cut by ``rule``, from
    :func:`retinaseg.pipeline.cut.rule_of`), the first and second observer's."""
    started = time.perf_counter()
    prob = predict_probabilities(bundle, sample.image, sample.fov)
    inference_s = time.perf_counter() - started
    cut = image_cut(rule, prob, sample.fov, bundle.meta.threshold)
    masks = {"model": prob >= cut, "human": sample.vessel}
    if observer is not None:
        masks["observer2"] = sample.observers[observer]
    started = time.perf_counter()
    values = {rater: measure_vessels(mask, sample.fov, min_object_px=0).as_row()
              for rater, mask in masks.items()}  # as measured: every object kept
    measure_s = (time.perf_counter() - started) / len(masks)
    speck_px = speck_size(sample.fov)
    values["model_despeckled"] = measure_vessels(masks["model"], sample.fov,
                                                 min_object_px=speck_px).as_row()
    return {"id": sample.id, "inference_s": inference_s, "measure_s_per_mask": measure_s,
            "fov_estimated": sample.fov_estimated, "speck_px": speck_px,
            "model_objects_dropped": values["model_despeckled"]["objects_dropped"],
            **{rater: {m: row[m] for m in MEASURES} for rater, row in values.items()}}


def _column(images: list[dict], rater: str, measure: str) -> np.ndarray:
    return np.array([np.nan if img[rater][measure] is None else img[rater][measure]
                     for img in images], dtype=float)


def dataset_agreement(images: list[dict]) -> dict:
    """Per measure: model vs human, and (where there is one) second observer vs human."""
    table = {}
    for measure in MEASURES:
        human = _column(images, "human", measure)
        table[measure] = {rater: agreement(_column(images, rater, measure), human)
                          for rater in ("model", "model_despeckled")}
        if "observer2" in images[0]:
            table[measure]["observer2"] = agreement(_column(images, "observer2", measure), human)
    return table


def run_dataset(bundle, name: str, data_root: str, rule) -> dict:
    observer = DATASETS[name]
    started = time.perf_counter()
    images = []
    for sample in load_dataset(name, "test", data_root):
        images.append(measure_image(bundle, sample, observer, rule))
        print(f"{name} {sample.id}: {time.perf_counter() - started:.0f} s", file=sys.stderr,
              flush=True)  # a long HRF run shows how far it got
    return {"images": images, "agreement": dataset_agreement(images),
            "wall_s": time.perf_counter() - started,
            "median_inference_s": float(np.median([i["inference_s"] for i in images])),
            "median_measure_s_per_mask": float(np.median([i["measure_s_per_mask"]
                                                          for i in images])),
            "second_observer": observer, "fov_estimated": any(i["fov_estimated"] for i in images)}


def _fmt(value, digits=3) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e-2 and value != 0 else f"{value:.{digits}f}"


def _coefficient(value) -> str:
    """r and ICC to two decimals; "-" where undefined (e.g. a rater's values never vary)."""
    return "-" if value is None or not np.isfinite(value) else f"{value:.2f}"


def _cells(stats: dict | None) -> str:
    """``mean | r / ICC / bias [LoA]`` of one rater against the first observer."""
    if stats is None:
        return "- | -"
    return (f"{_fmt(stats['mean_a'])} | {_coefficient(stats['pearson_r'])} / "
            f"{_coefficient(stats['icc_2_1'])} / {_fmt(stats['bias'])} "
            f"[{_fmt(stats['loa_low'])}, {_fmt(stats['loa_high'])}]")


COMPARED = (("model", "model"), ("model_despeckled", "model, specks dropped"),
            ("observer2", "2nd observer"))


def dataset_markdown(name: str, part: dict) -> str:
    images = part["images"]
    specks = sorted({i["speck_px"] for i in images})
    dropped = np.median([i["model_objects_dropped"] for i in images])
    head = (f"\n### {name} test ({len(images)} images; second observer: "
            f"{part['second_observer'] or 'none'}"
            f"{'; FOV estimated from the photo' if part['fov_estimated'] else ''}; specks: "
            f"objects under {specks[0]}-{specks[-1]} px, median {dropped:.0f} per model mask)\n\n"
            "Each cell: Pearson r / ICC(2,1) / bias [95% limits of agreement] against the first "
            "observer.\n\n| measure | first observer mean | "
            + " | ".join(f"{label}: mean | {label}: r / ICC / bias [LoA]"
                         for _, label in COMPARED) + " |\n|---|---|" + "---|---|" * 3 + "\n")
    rows = ""
    for measure, stats in part["agreement"].items():
        rows += f"| {measure} | {_fmt(stats['model']['mean_b'])} | "
        rows += " | ".join(_cells(stats.get(rater)) for rater, _ in COMPARED) + " |\n"
    timing = (f"\nwhole process {part['wall_s']:.0f} s; median per image: inference "
              f"{part['median_inference_s']:.2f} s, measures "
              f"{part['median_measure_s_per_mask']:.2f} s per mask\n")
    return head + rows + timing


def _cut_rule(result: dict) -> str:
    if result.get("cut", "model") != "model":  # --threshold overrode the model's rule
        return (f"cut at {result['cut']} as --threshold asked; the model's rule is "
                f"{result['threshold_rule']}, validated threshold {result['threshold']:.4f}")
    if result.get("threshold_rule") == "otsu":
        return (f"each photo cut at its own Otsu threshold, the model's rule; validated "
                f"threshold {result['threshold']:.4f}")
    return f"threshold {result['threshold']:.4f}"


def markdown(result: dict) -> str:
    text = (f"# Vessel measures: model ({result['model']}) and second observer against the "
            "first observer\n\nPer test image, each measure from `retinaseg.measure` on the "
            f"model's thresholded mask ({_cut_rule(result)}, TTA {result['tta']}) and on the "
            "manual masks, inside "
            "the same FOV, in pixels at native resolution. r: Pearson; ICC(2,1): Shrout & "
            "Fleiss two-way random, absolute agreement; bias: mean of (rater - first "
            "observer), with 95% limits of agreement (bias +- 1.96 SD).\n")
    for name, part in result["datasets"].items():
        text += dataset_markdown(name, part)
    pending = [n for n in result["requested"] if n not in result["datasets"]]
    if pending:
        text += (f"\n(not finished in this run: {', '.join(pending)}; a dataset run on its own "
                 "with `--datasets NAME --out ...` has its own result file)\n")
    return text + "\n" + provenance_markdown(result) + f"- torch threads: {result['threads']}\n"


def json_safe(value):
    """NaN and infinity as null: strict JSON has neither."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="shipped name or checkpoint path")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--threshold", help="cut every photo at this threshold, or 'otsu' "
                                            "(default: the model's own rule)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/measure_agreement"))
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite OUT.md from OUT.json (the run it records), measuring nothing")
    args = parser.parse_args()
    if args.render_only:
        result = json.loads(Path(args.out).with_suffix(".json").read_text())
        Path(args.out).with_suffix(".md").write_text(markdown(result))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_model(args.model)
    rule = rule_of(args.threshold, bundle.meta)
    result = {**provenance(ROOT), "model": args.model, "threshold": bundle.meta.threshold,
              "cut": "model" if args.threshold is None else describe_rule(rule),
              "threshold_rule": bundle.meta.threshold_rule, "tta": bundle.meta.tta, "threads": torch.get_num_threads(),
              "requested": args.datasets, "measures": list(MEASURES), "datasets": {}}
    for name in args.datasets:
        result["datasets"][name] = run_dataset(bundle, name, args.data_root, rule)
        write_result(args.out, json_safe(result), markdown(result))


if __name__ == "__main__":
    main()
