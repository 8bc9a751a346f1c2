"""Which mask post-processing helps a model: swept on its validation images.

    python benchmarks/postprocess.py --data-root ../shared/data --model general
    python benchmarks/postprocess.py --data-root ../shared/data --model unet-drive \\
        --out benchmarks/results/postprocess_unet-drive

For the model's own validation images (its meta's ``val_ids``: training-split
images held out of its training), each photo is segmented once at native
resolution under the model's TTA, and every setting of the grid
(:data:`GRID`: none, small-component filters, hole filling, hysteresis and
combinations; :mod:`retinaseg.postprocess`) is applied to that one probability
map. Scores are pooled over the images, per dataset and over all: F1 (pixels
inside the FOV), clDice (:mod:`retinaseg.topology`) and the predicted against
the true number of 8-connected components.

The default is chosen by :data:`RULE`: the setting with the best pooled clDice
among those whose pooled F1 is at most 0.002 below none's in every dataset,
and only if its clDice beats none's by at least 0.002 (else none). Then, in a
section of its own, none, the chosen setting and the best validation clDice
are scored on the test splits of the model's datasets: a check, never used to
choose (``--test-images K``: K per dataset, evenly spaced, to keep HRF's 30
photos of 8 megapixels short). ``--cache DIR`` keeps the probability maps
(float32 .npy, keyed by model hash, TTA and image) so a rerun only sweeps.

Writes ``--out`` .json and .md (default benchmarks/results/postprocess).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from retinaseg.pipeline.cut import model_cut  # noqa: E402
from retinaseg.data import load_dataset  # noqa: E402
from retinaseg.pipeline.predict import model_tta, predict_probabilities  # noqa: E402
from retinaseg.metrics import Counts, confusion_counts, scores_from_counts  # noqa: E402
from retinaseg.pipeline.postprocess import NO_POSTPROCESS, Postprocess, postprocess_mask  # noqa: E402
from retinaseg.hub.pretrained import load_model  # noqa: E402
from retinaseg.io.tables import markdown_table  # noqa: E402
from retinaseg.evaluation.topology import (TopologyCounts, topology_counts, topology_scores,  # noqa: E402
                                truth_reference)
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown,  # noqa: E402
                             shown_path, write_result)

F1_TOLERANCE = 0.002
MIN_CLDICE_GAIN = 0.002
RULE = (f"best pooled clDice over all validation images among the settings whose pooled F1 "
        f"is at most {F1_TOLERANCE} below none's in every dataset (a default must not cost "
        f"any camera); none unless that clDice beats none's by at least {MIN_CLDICE_GAIN}")

# (min_component px at a 540 px FOV, fill_holes px at a 540 px FOV, hysteresis low as a
# fraction of the model's threshold). The low threshold is relative so one grid fits
# models calibrated at 0.35 and at 0.5; the result records the absolute value.
GRID = [(0, 0, 0), (10, 0, 0), (30, 0, 0), (100, 0, 0), (0, 10, 0), (0, 30, 0),
        (0, 0, 0.9), (0, 0, 0.75), (0, 0, 0.5), (10, 10, 0), (30, 10, 0), (10, 0, 0.9),
        (30, 0, 0.75), (30, 0, 0.5), (100, 0, 0.5), (30, 10, 0.75)]


def settings_for(threshold: float) -> list[Postprocess]:
    return [Postprocess(n, m, round(f * threshold, 4)) for n, m, f in GRID]


def model_samples(bundle, split: str, data_root: str, val_only: bool, per_dataset: int = 0):
    """(dataset name, sample) pairs: the validation images of the model's recipe
    (``val_only``) or the images of ``split`` of its datasets (``per_dataset``, when
    set: that many of each, evenly spaced over the split, which mixes HRF's categories)."""
    names = str((bundle.config.get("data") or {}).get("dataset") or "drive").split("+")
    val_ids = {str(i) for i in bundle.meta.extra.get("val_ids") or []}
    if val_only and not val_ids:
        raise SystemExit(f"{bundle.source}: its meta names no validation images (val_ids)")
    for name in names:
        data = load_dataset(name, split, data_root)  # lazy: an image is read when indexed
        keys = [f"{name}:{i}" if len(names) > 1 else i for i in data.ids]
        chosen = [i for i, key in enumerate(keys) if not val_only or key in val_ids]
        if per_dataset and len(chosen) > per_dataset:
            chosen = [chosen[round(j)] for j in np.linspace(0, len(chosen) - 1, per_dataset)]
        for index in chosen:
            yield name, data[index]


def probabilities(bundle, tta: str, name: str, sample, cache: Path | None) -> np.ndarray:
    """The probability map of one photo, from ``cache`` when it holds it."""
    path = cache / f"{bundle.sha256[:16]}_{tta}_{name}_{sample.id}.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    prob = predict_probabilities(bundle, sample.image, sample.fov, tta)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, prob, allow_pickle=False)
    return prob


def sweep(bundle, samples, settings: list[Postprocess], cache: Path | None) -> dict:
    """Pooled counts per setting and dataset, and post-processing seconds per setting."""
    tta = model_tta(bundle, None)
    totals = {s.describe(): {} for s in settings}
    seconds = {s.describe(): 0.0 for s in settings}
    megapixels = 0.0
    for name, sample in samples:
        prob = probabilities(bundle, tta, name, sample, cache)
        megapixels += prob.size / 1e6
        reference = truth_reference(sample.vessel, sample.fov)
        threshold = model_cut(bundle.meta, prob, sample.fov)  # the model's own rule
        for setting in settings:
            started = time.perf_counter()
            mask = postprocess_mask(prob, threshold, sample.fov, setting)
            seconds[setting.describe()] += time.perf_counter() - started
            counts = (confusion_counts(mask, sample.vessel, sample.fov, sample.id),
                      topology_counts(mask, sample.vessel, sample.fov, sample.id, reference), 1)
            for group in (name, "all"):
                old = totals[setting.describe()].get(group, (Counts(), TopologyCounts(), 0))
                totals[setting.describe()][group] = tuple(a + b for a, b in zip(old, counts))
        print(f"  {name}:{sample.id} done", file=sys.stderr, flush=True)
    return {"scores": {key: {group: scores_of(*c) for group, c in groups.items()}
                       for key, groups in totals.items()},
            "seconds_per_megapixel": {key: s / max(megapixels, 1e-9)
                                      for key, s in seconds.items()}}


def scores_of(counts: Counts, topology: TopologyCounts, images: int) -> dict:
    pixel, topo = scores_from_counts(counts), topology_scores(topology)
    return {"images": images, "f1": pixel["f1"], "precision": pixel["precision"],
            "sensitivity": pixel["sensitivity"], "cldice": topo["cldice"],
            "components_pred": topo["components_pred"],
            "components_true": topo["components_true"]}


def choose(scores: dict) -> str:
    """The setting :data:`RULE` picks from the pooled validation scores."""
    base = scores[NO_POSTPROCESS.describe()]
    allowed = [key for key, by_group in scores.items()
               if all(s["f1"] >= base[group]["f1"] - F1_TOLERANCE for group, s in by_group.items())]
    best = max(allowed, key=lambda key: scores[key]["all"]["cldice"])
    gain = scores[best]["all"]["cldice"] - base["all"]["cldice"]
    return best if gain >= MIN_CLDICE_GAIN else NO_POSTPROCESS.describe()


def table(scores: dict, groups: list[str], base_key: str = "none") -> str:
    rows = []
    for key, by_group in scores.items():
        cells = [key]
        for group in groups:
            s, base = by_group[group], scores[base_key][group]
            cells += [f"{s['f1']:.4f} ({s['f1'] - base['f1']:+.4f})",
                      f"{s['cldice']:.4f} ({s['cldice'] - base['cldice']:+.4f})",
                      f"{s['components_pred']} / {s['components_true']}"]
        rows.append(cells)
    header = ["setting"] + [f"{g} {col}" for g in groups for col in ("F1", "clDice",
                                                                      "components pred / true")]
    return markdown_table(header, rows, "l" + "r" * (3 * len(groups)))


def _measured_file(result: dict) -> str:
    """Where the sweep read other weights than the named model's file (a hold-out run's
    finish measures them before the chosen setting is written in), which they were."""
    measured = result.get("measured_on")
    return f"measured as `{measured}` before the setting was written into it, " if measured else ""


def markdown(result: dict) -> str:
    val, groups = result["validation"], result["groups"]
    lines = [f"# Mask post-processing for {result['model']}", "", provenance_markdown(result),
             f"- model: `{result['model']}` ({_measured_file(result)}sha256 "
             f"{result['model_sha256'][:12]}), threshold "
             f"{result['threshold']:.4f} ({result['threshold_source']}), TTA {result['tta']}",
             f"- validation images: {', '.join(result['val_ids'])} (training-split images held "
             f"out of this model's training)",
             "- sizes are pixel areas at a FOV 540 px wide, scaled by (FOV width / 540)^2; "
             "hysteresis is the absolute low threshold",
             f"- rule: {RULE}", "",
             "## Validation images (used to choose)", "",
             "Pooled over the images of each group; in brackets the change from none.", "",
             table(val["scores"], groups), "",
             f"**Chosen: `{result['chosen']}`.**", "",
             "Post-processing time, seconds per megapixel (this machine): "
             + ", ".join(f"{k} {v:.3f}" for k, v in val["seconds_per_megapixel"].items()), ""]
    if result.get("test"):
        test = result["test"]
        lines += ["## Test splits: a check, not used to choose", "",
                  f"{test['images']} test-split images ({', '.join(test['ids'])}): none, the "
                  f"chosen setting, and for the record the setting with the best validation "
                  f"clDice whatever its F1 (`{test['best_cldice_on_validation']}`).", "",
                  table(test["scores"], test["groups"]), ""]
    return "\n".join(lines)


def run(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    bundle = load_model(args.model)
    cache = Path(args.cache) if args.cache else None
    settings = settings_for(bundle.meta.threshold)
    validation = list(model_samples(bundle, "train", args.data_root, val_only=True))
    groups = list(dict.fromkeys(name for name, _ in validation)) + ["all"]
    result.update(model=shown_path(args.model, ROOT), model_sha256=bundle.sha256, threshold=bundle.meta.threshold,
                  threshold_source=bundle.meta.threshold_source, tta=model_tta(bundle, None),
                  val_ids=[f"{n}:{s.id}" for n, s in validation], groups=groups, rule=RULE,
                  grid=[s.describe() for s in settings])
    result["validation"] = sweep(bundle, validation, settings, cache)
    result["chosen"] = choose(result["validation"]["scores"])
    print(f"chosen: {result['chosen']}", file=sys.stderr)
    if not args.no_test:
        result["test"] = test_check(bundle, settings, result, args)
    return result


def test_check(bundle, settings: list[Postprocess], result: dict, args) -> dict:
    """None, the chosen setting and the validation's best clDice whatever its F1 (for
    the record) on the test splits: a check, never used to choose."""
    scores = result["validation"]["scores"]
    best_cldice = max(scores, key=lambda key: scores[key]["all"]["cldice"])
    keys = list(dict.fromkeys(["none", result["chosen"], best_cldice]))
    checked = [s for s in settings if s.describe() in keys]
    test = list(model_samples(bundle, "test", args.data_root, False, args.test_images))
    names = list(dict.fromkeys(name for name, _ in test))
    return {**sweep(bundle, test, checked, Path(args.cache) if args.cache else None),
            "images": len(test), "ids": [f"{n}:{s.id}" for n, s in test],
            "best_cldice_on_validation": best_cldice, "datasets": names,
            "groups": names + ["all"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--model", default="general", help="shipped name or checkpoint path")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/postprocess"))
    parser.add_argument("--cache", help="folder for the probability maps (reused by a rerun)")
    parser.add_argument("--no-test", action="store_true", help="skip the test-split check")
    parser.add_argument("--test-images", type=int, default=0, metavar="K",
                        help="check on K test images per dataset, evenly spaced (default all)")
    add_dirty_option(parser)
    args = parser.parse_args()
    result = run(args)
    write_result(args.out, result, markdown(result))


if __name__ == "__main__":
    main()
