"""Leave one camera out: a recipe trained on five of six sources, tested on the sixth.

    python benchmarks/loco.py command --recipe configs/loco-baseline.yaml --holdout les_av
    python benchmarks/loco.py train --recipe configs/loco-baseline.yaml configs/loco-lesions.yaml --holdout les_av av_wide vevio
    python benchmarks/loco.py score --recipe configs/loco-baseline.yaml --holdout les_av
    python benchmarks/loco.py score --recipe configs/loco-rgb.yaml --scale caliber --cut validated
    python benchmarks/loco.py aggregate                       # every scored run, the selection

The six sources (``SOURCES``) are six cameras: DRIVE, CHASE_DB1, HRF, LES-AV, AV-WIDE
(Optos wide field) and VEVIO (neonatal indirect ophthalmoscope). A run of recipe
``configs/loco-NAME.yaml`` held out on source S trains on the training splits of the
five others (``data.dataset`` replaced, ``data.val_ids`` without S's, so the best epoch
and the threshold come from the five training sources' validation photos only, and
``data.source_weights`` without S's). ``train`` runs the recipes given one after the
other, each over the holdouts given, in this process (one training at a time), each into
``--runs-root/NAME/loco-S`` (default ``/work/loco_runs``, outside the tree: its resume
state stays there), always with ``--resume`` so a killed run continues from its last
finished epoch; a finished run (``model.safetensors``) is skipped, and its model, log
and config are copied into ``benchmarks/loco_runs/NAME/loco-S`` (``--tree-root``), where
they are committed (the resume state is git-ignored there).

``score``: the committed model on S's ``--split`` (default ``test``) at native resolution,
inside the FOV, each photo cut by the model's own rule (the loco recipes: its Otsu cut),
pooled: F1, AUC and predicted / true vessel area, also per subset where the loader
tells one (HRF healthy / glaucoma / diabetic retinopathy, LES-AV normal / glaucoma from
``Data.xlsx``, VEVIO frames / mosaics); and the run's in-domain score, the best epoch's
validation AUC and F1 from its ``log.csv`` (the five training sources' validation photos).
Writes ``heldout.{json,md}`` beside the committed model. Two levers need no training,
each scored as its own row: ``--scale`` (the working scale, ``RECIPE+SCALE``) and ``--cut``
(``RECIPE+CUT``, both: ``RECIPE+SCALE+CUT``): ``otsu`` cuts each photo at its own Otsu
threshold, ``validated`` every photo at the one threshold the run chose on its validation
photos (the five training sources'; never the held-out source's), as ``retinaseg evaluate
--threshold`` would with that number.

``aggregate``: every scored run of every recipe, a recipe x held-out source table and the
selection (``RULE``, written before any run was scored). Writes
benchmarks/results/loco.{md,json} (``--out``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
from common import (
    add_dirty_option,
    clean_provenance,
    provenance_markdown,
    shown_path,
    write_result,
)
from lodo import holdout_overrides

from retinaseg.config.schema import read_yaml
from retinaseg.io.tables import markdown_table

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("drive", "chase_db1", "hrf", "les_av", "av_wide", "vevio")
HELD_OUT_FIRST = ("les_av", "av_wide", "vevio", "drive", "chase_db1", "hrf")  # run order
RUNS_ROOT = Path("/work/loco_runs")  # outside the tree: resume state survives a checkout
TREE_ROOT = ROOT / "benchmarks" / "loco_runs"
KEPT = ("model.safetensors", "log.csv", "config.yaml")  # what the tree gets of a finished run
AREA_GUARD = (0.85, 1.2)  # predicted / true vessel area on every held-out source
IN_DOMAIN_SLACK = 0.01  # validation F1 a candidate may lose against the baseline
WORST_SLACK = 0.005  # held-out worst F1 a candidate may lose against the baseline
BASELINE = "baseline"
# Working scales a finished run may also be scored at (pipeline/settings.SCALES): the
# scale lever, which needs no training (each run's calibre is measured on its validation).
SCALE_VARIANTS = ("caliber", "band")
# Cuts a finished run may also be scored at, besides its own rule (the loco recipes' Otsu):
# the cut lever, which needs no training either.
OWN_CUT = "own"
CUT_VARIANTS = ("otsu", "validated")
RULE = (f"A recipe is eligible where every held-out source's pooled predicted / true vessel "
        f"area lies in [{AREA_GUARD[0]}, {AREA_GUARD[1]}] and its mean in-domain validation F1 "
        f"(best epoch, over its runs) is at most {IN_DOMAIN_SLACK} below the baseline's. Recipes "
        f"are compared over the held-out sources every compared recipe has scored. Among the "
        f"eligible, the highest mean held-out F1 wins, provided its worst held-out F1 is at most "
        f"{WORST_SLACK} below the baseline's; otherwise the baseline stays.")

# Added on 2026-12-08, after every recipe so far had been scored and none met the area
# guard (LES-AV under-draws and VEVIO over-draws under all of them), so it is not a rule
# the scores were chosen by: what shipping needs is a recipe better than the baseline at
# all, and this says which one that is.
UNGUARDED = ("without the area guard (written after scoring: no recipe meets it), the "
             "rule's other conditions and a mean held-out F1 above the baseline's choose")


def recipe_name(recipe: Path) -> str:
    stem = Path(recipe).stem
    return stem.removeprefix("loco-")


def run_dir(root: Path, recipe: Path, holdout: str) -> Path:
    return Path(root) / recipe_name(recipe) / f"loco-{holdout}"


def loco_overrides(values: dict, holdout: str) -> list[str]:
    """The ``--set`` items taking the six-source recipe ``values`` to the five others."""
    items = holdout_overrides(values, holdout)
    weights = dict(values["data"].get("source_weights") or {})
    if holdout in weights:
        weights.pop(holdout)
        items.append(f"data.source_weights={json.dumps(weights)}")  # a JSON map is YAML
    return items


def train_argv(args, recipe: Path, holdout: str, shown=str) -> list[str]:
    """``retinaseg train ...`` (after the program name) for one held-out run."""
    overrides = loco_overrides(read_yaml(recipe, "recipe"), holdout)
    argv = ["train", "--config", shown(recipe), "--data-root", shown(args.data_root),
            "--out", shown(run_dir(args.runs_root, recipe, holdout))]
    for item in overrides + (args.set or []):
        argv += ["--set", item]
    return argv + ["--resume"]  # a fresh run where no last.safetensors is there yet


def _shown(path) -> str:
    return os.path.relpath(path)


def cmd_command(args) -> int:
    for recipe in args.recipe:
        for holdout in args.holdout:
            print(shlex.join(["retinaseg", *train_argv(args, recipe, holdout, _shown)]))
    return 0


def collect(args, recipe: Path, holdout: str) -> Path:
    """A finished run's model, log and config copied into the tree."""
    source = run_dir(args.runs_root, recipe, holdout)
    target = run_dir(args.tree_root, recipe, holdout)
    if source.resolve() != target.resolve():
        target.mkdir(parents=True, exist_ok=True)
        for name in KEPT:
            shutil.copy2(source / name, target / name)
    return target


def cmd_train(args) -> int:
    from retinaseg.cli import main as retinaseg

    for recipe in args.recipe:  # recipe by recipe, each over the holdouts, one at a time
        for holdout in args.holdout:
            folder = run_dir(args.runs_root, recipe, holdout)
            if not (folder / "model.safetensors").is_file():
                print(f"training {folder}", flush=True)
                status = retinaseg(train_argv(args, recipe, holdout, _shown))
                if status:
                    return status
            print(f"{folder} has finished; copied into {collect(args, recipe, holdout)}",
                  flush=True)
    return 0


# --- scoring ------------------------------------------------------------------------


def subset_of(source: str, data_root) -> callable:
    """``id -> subset name`` for the sources whose photos fall into groups, else None."""
    if source == "hrf":
        names = {"h": "healthy", "g": "glaucoma", "dr": "diabetic retinopathy"}
        return lambda image_id: names[image_id.rsplit("_", 1)[1]]
    if source == "les_av":
        from retinaseg.data.les_av import diagnoses, glaucoma_group

        table = diagnoses(Path(data_root) / "LES-AV")
        return lambda image_id: glaucoma_group(table[image_id])
    if source == "vevio":
        return lambda image_id: "frames" if image_id.endswith("_d") else "mosaics"
    return None


class Tally:
    """Pooled counts and a score histogram per group of photos (``all`` and subsets)."""

    def __init__(self, group_of=None):
        self.group_of = group_of
        self.groups: dict[str, dict] = {}

    def __call__(self, sample, prob, row, mask) -> None:  # evaluate_model's on_image
        from retinaseg.metrics.histogram import ScoreHistogram

        fov = np.asarray(sample.fov, dtype=bool)
        truth, cut = np.asarray(sample.vessel, dtype=bool)[fov], np.asarray(mask, dtype=bool)[fov]
        names = ["all"] + ([self.group_of(sample.id)] if self.group_of else [])
        for name in names:
            group = self.groups.setdefault(name, {"images": 0, "tp": 0, "fp": 0, "fn": 0,
                                                  "hist": ScoreHistogram(12)})
            group["images"] += 1
            group["tp"] += int(np.count_nonzero(cut & truth))
            group["fp"] += int(np.count_nonzero(cut & ~truth))
            group["fn"] += int(np.count_nonzero(~cut & truth))
            group["hist"].add_pixels(np.asarray(prob, dtype=np.float32)[fov], truth)

    def scores(self) -> dict:
        out = {}
        for name, g in self.groups.items():
            tp, fp, fn = g["tp"], g["fp"], g["fn"]
            out[name] = {"images": g["images"], "f1": 2 * tp / max(1, 2 * tp + fp + fn),
                         "auc_roc": float(g["hist"].auc_roc()),
                         "area_ratio": (tp + fp) / max(1, tp + fn),
                         "se": tp / max(1, tp + fn), "pr": tp / max(1, tp + fp)}
        return out


def in_domain(log: Path) -> dict:
    """The best epoch of a run's log (highest validation AUC, the runs' select_metric)."""
    with open(log, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if (r.get("epoch") or "").isdigit()]
    best = max(rows, key=lambda r: float(r["val_auc_roc"]))
    return {"best_epoch": int(best["epoch"]), "val_auc_roc": float(best["val_auc_roc"]),
            "val_f1": float(best["val_f1"]), "epochs": int(rows[-1]["epoch"]),
            "total_seconds": float(rows[-1]["total_seconds"]),
            "median_epoch_seconds": float(np.median([float(r["epoch_seconds"]) for r in rows]))}


def score(args, recipe: Path, holdout: str) -> dict:
    from retinaseg.data import load_dataset
    from retinaseg.evaluation.evaluate import EvalOptions, evaluate_model
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.settings import resolve_settings

    folder = run_dir(args.tree_root, recipe, holdout)
    model = folder / "model.safetensors"
    if not model.is_file():
        raise SystemExit(f"{model}: the run has not finished (train first)")
    if args.scale:
        model = calibrated_copy(args, folder, recipe, holdout)
    bundle = load_model(str(model))
    trained = load_model(str(folder / "model.safetensors")).meta  # the run's own, as committed
    threshold = cut_threshold(trained, args.cut)
    data = load_dataset(holdout, args.split, args.data_root)
    data = data[:args.limit] if args.limit else data
    tally = Tally(subset_of(holdout, args.data_root))
    settings = resolve_settings(bundle, threshold=threshold, scale=args.scale or None)
    result = evaluate_model(bundle, data, EvalOptions(settings), on_image=tally)
    scores = tally.scores()
    return {"recipe": scored_name(recipe, args.scale, args.cut), "holdout": holdout,
            "split": args.split, **cut_fields(args.cut, trained),
            "scale": settings.scale, "caliber_px": bundle.meta.caliber_px,
            "limit": args.limit, "run_dir": shown_path(folder, ROOT),
            "checkpoint_sha256": bundle.sha256, "trained_on": bundle.meta.trained_on,
            "threshold_rule": result.threshold_rule, "median_cut": result.threshold,
            "fov": result.fov, "seconds_per_image": result.seconds_per_image,
            "held_out": scores.pop("all"), "subsets": scores,
            "in_domain": in_domain(folder / "log.csv")}


def scored_name(recipe: Path, scale: str | None, cut: str = OWN_CUT) -> str:
    """A recipe scored at another working scale or cut is its own row: ``baseline+caliber``,
    ``baseline+validated``, ``rgb+caliber+validated``."""
    return recipe_name(recipe) + "".join(f"+{v}" for v in variants(scale, cut))


def variants(scale: str | None, cut: str) -> list[str]:
    """The levers a score departs from the run's own settings by, scale first."""
    return [v for v in (scale, None if cut == OWN_CUT else cut) if v]


def cut_threshold(meta, cut: str) -> float | str | None:
    """What ``resolve_settings`` gets as the threshold for ``cut``: None (the model's own
    rule), ``"otsu"``, or the threshold stored in the committed checkpoint's meta, chosen
    in training on the run's validation photos (the five training sources'), refused
    where the checkpoint says it was not chosen there."""
    if cut == OWN_CUT:
        return None
    if cut == "otsu":
        return "otsu"
    if not meta.threshold_source.startswith("validation"):
        raise SystemExit(f"--cut validated: the model's threshold {meta.threshold:.4f} was "
                         f"not chosen on validation photos ({meta.threshold_source!r})")
    return float(meta.threshold)


def cut_fields(cut: str, meta) -> dict:
    """What a non-default cut adds to a score (nothing for ``own``: its files stay as before)."""
    if cut == OWN_CUT:
        return {}
    if cut == "otsu":
        return {"cut": cut}
    return {"cut": cut, "validated_threshold": float(meta.threshold),
            "threshold_source": meta.threshold_source}


def calibrated_copy(args, folder: Path, recipe: Path, holdout: str) -> Path:
    """The run's model with its reference vessel calibre measured, as ``retinaseg
    calibrate`` does, on the run's own validation photos (the five training sources':
    nothing of the held-out source), into the runs root (not the tree: it is
    re-derived from the committed model and config by this same call)."""
    from retinaseg.config.schema import load_config
    from retinaseg.train.threshold import calibrate

    out = Path(args.runs_root) / recipe_name(recipe) / f"loco-{holdout}" / "calibrated.safetensors"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        cfg = load_config(folder / "config.yaml", [f"data.root={args.data_root}", "threads=1"])
        calibrate(folder / "model.safetensors", cfg, out)
    return out


def score_markdown(result: dict) -> str:
    rows = [["all", *_score_cells(result["held_out"])]]
    rows += [[name, *_score_cells(s)] for name, s in sorted(result["subsets"].items())]
    d = result["in_domain"]
    return "\n".join([
        f"# Leave one camera out: `{result['recipe']}` held out on {result['holdout']}", "",
        provenance_markdown(result),
        f"- model: `{result['run_dir']}/model.safetensors` (sha256 "
        f"{result['checkpoint_sha256'][:12]}), trained on {result['trained_on']}",
        f"- working scale: `{result.get('scale', 'fov')}`"
        + (f" (reference calibre {result['caliber_px']:.2f} px, measured on the run's "
           "validation photos)" if result.get("scale") in ("caliber", "band") else ""),
        f"- {result['holdout']} {result['split']} split"
        + (f", **first {result['limit']} photos only**" if result["limit"] else "")
        + f", native resolution, inside the FOV ({result['fov']}), pooled; "
        + _cut_words(result),
        f"- in domain (the five training sources' validation photos, best epoch "
        f"{d['best_epoch']} of {d['epochs']}): AUC {d['val_auc_roc']:.4f}, F1 {d['val_f1']:.4f}; "
        f"training {d['total_seconds'] / 3600:.2f} h (median {d['median_epoch_seconds']:.0f} s "
        f"an epoch)", "",
        markdown_table(["photos", "images", "F1", "AUC", "area pred/true", "Se", "Pr"], rows),
        ""])


def _cut_words(result: dict) -> str:
    if result.get("cut") == "validated":
        return (f"every photo cut at the threshold the run chose on its validation photos "
                f"({result['validated_threshold']:.4f}, {result['threshold_source']})")
    if result.get("cut") == "otsu":
        return f"each photo cut at its own Otsu threshold (median cut {result['median_cut']:.3f})"
    return (f"each photo cut by the model's own rule ({result['threshold_rule']}, median cut "
            f"{result['median_cut']:.3f})")


def _score_cells(s: dict) -> list:
    return [s["images"], f"{s['f1']:.4f}", f"{s['auc_roc']:.4f}", f"{s['area_ratio']:.3f}",
            f"{s['se']:.4f}", f"{s['pr']:.4f}"]


def cmd_score(args) -> int:
    for recipe in args.recipe:
        for holdout in args.holdout:
            stem = run_dir(args.tree_root, recipe, holdout) / heldout_stem(args)
            if args.skip_scored and stem.with_suffix(".json").is_file():
                continue
            if args.skip_scored and not (run_dir(args.tree_root, recipe, holdout)
                                         / "model.safetensors").is_file():
                continue  # not finished yet
            result = clean_provenance(ROOT, args.allow_dirty)
            result.update(score(args, recipe, holdout))
            write_result(stem, result, score_markdown(result))
    return 0


def heldout_stem(args) -> str:
    """``heldout`` for the full test split at the model's scale and cut; otherwise its own
    name (``heldout-caliber-validated``), so a check or a variant never replaces the
    recipe's own score."""
    name = "heldout" if args.split == "test" and not args.limit else f"heldout-{args.split}"
    return name + "".join(f"-{v}" for v in variants(args.scale, args.cut))


def is_variant_stem(stem: str) -> bool:
    """Whether ``stem`` is a full test split score: ``heldout`` or ``heldout-`` followed by
    scale and cut variants (not a check on another split or on the first photos)."""
    if stem == "heldout":
        return True
    parts = stem.removeprefix("heldout-").split("-")
    return stem.startswith("heldout-") and all(p in SCALE_VARIANTS + CUT_VARIANTS for p in parts)


# --- aggregate and selection ----------------------------------------------------------


def scored_runs(tree_root: Path) -> dict[str, dict[str, dict]]:
    """recipe -> holdout -> its ``heldout.json`` (full test split only)."""
    runs: dict[str, dict[str, dict]] = {}
    paths = [p for p in Path(tree_root).glob("*/loco-*/heldout*.json") if is_variant_stem(p.stem)]
    for path in sorted(paths):
        result = json.loads(path.read_text())
        runs.setdefault(result["recipe"], {})[result["holdout"]] = result
    return runs


def select(runs: dict[str, dict[str, dict]]) -> dict:
    """``RULE`` applied to the scored runs."""
    if BASELINE not in runs:
        return {"chosen": None, "why": "the baseline has no scored run", "recipes": {}}
    common = [h for h in HELD_OUT_FIRST if all(h in r for r in runs.values())]
    if not common:
        return {"chosen": None, "why": "no held-out source is scored for every recipe",
                "recipes": {}}
    summary = {}
    for name, by_holdout in runs.items():
        f1 = [by_holdout[h]["held_out"]["f1"] for h in common]
        areas = [by_holdout[h]["held_out"]["area_ratio"] for h in common]
        summary[name] = {"mean_f1": float(np.mean(f1)), "worst_f1": float(min(f1)),
                         "worst_source": common[int(np.argmin(f1))],
                         "areas_in_guard": all(AREA_GUARD[0] <= a <= AREA_GUARD[1] for a in areas),
                         "in_domain_f1": float(np.mean([by_holdout[h]["in_domain"]["val_f1"]
                                                        for h in common]))}
    base = summary[BASELINE]
    for name, s in summary.items():
        s["eligible"] = (s["areas_in_guard"]
                         and s["in_domain_f1"] >= base["in_domain_f1"] - IN_DOMAIN_SLACK)
        s["worst_ok"] = s["worst_f1"] >= base["worst_f1"] - WORST_SLACK
    contenders = [n for n, s in summary.items() if s["eligible"] and s["worst_ok"]]
    chosen = max(contenders, key=lambda n: summary[n]["mean_f1"]) if contenders else BASELINE
    return {"chosen": chosen, "compared_on": common, "recipes": summary,
            "why": "highest mean held-out F1 among the eligible" if contenders else
                   "no candidate is eligible: the baseline stays",
            "without_area_guard": _without_area_guard(summary, base)}


def _without_area_guard(summary: dict, base: dict) -> str | None:
    """``UNGUARDED``: the rule's choice with the area guard left out, or None where no
    recipe but the baseline passes the rest."""
    kept = [n for n, s in summary.items() if n != BASELINE and s["worst_ok"]
            and s["in_domain_f1"] >= base["in_domain_f1"] - IN_DOMAIN_SLACK
            and s["mean_f1"] > base["mean_f1"]]
    return max(kept, key=lambda n: summary[n]["mean_f1"]) if kept else None


def aggregate(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    runs = scored_runs(args.tree_root)
    result.update(rule=RULE, sources=SOURCES, runs=runs, selection=select(runs))
    return result


def aggregate_markdown(result: dict) -> str:
    holdouts = [h for h in HELD_OUT_FIRST if any(h in r for r in result["runs"].values())]
    lines = ["# Leave one camera out: six sources", "", provenance_markdown(result),
             "- protocol: `benchmarks/loco.py`: each recipe trained on five sources' training "
             "splits, tested on the sixth's test split at native resolution, inside the FOV, "
             "pooled, each photo at the model's own cut (a row `+caliber` / `+band`: at that "
             "working scale; `+validated`: every photo at the run's validated threshold; "
             "`+otsu`: at its own Otsu cut)", f"- rule (written before scoring): {RULE}",
             ""]
    for key, label in (("f1", "F1"), ("auc_roc", "AUC"), ("area_ratio", "predicted / true area")):
        rows = [[name, *(f"{r[h]['held_out'][key]:.4f}" if h in r else "-" for h in holdouts)]
                for name, r in sorted(result["runs"].items())]
        lines += [f"Held-out {label}:", "", markdown_table(["recipe", *holdouts], rows), ""]
    sel = result["selection"]
    if sel["recipes"]:
        rows = [[n, f"{s['mean_f1']:.4f}", f"{s['worst_f1']:.4f} ({s['worst_source']})",
                 "yes" if s["areas_in_guard"] else "no", f"{s['in_domain_f1']:.4f}",
                 "yes" if s["eligible"] and s["worst_ok"] else "no"]
                for n, s in sorted(sel["recipes"].items())]
        lines += [f"Selection over {', '.join(sel['compared_on'])}:", "",
                  markdown_table(["recipe", "mean F1", "worst F1", "areas in guard",
                                  "in-domain val F1", "contender"], rows), ""]
    lines.append(f"- chosen: **{sel['chosen']}** ({sel['why']})")
    if sel.get("without_area_guard"):
        lines.append(f"- {UNGUARDED} **{sel['without_area_guard']}**")
    return "\n".join(lines) + "\n"


def cmd_aggregate(args) -> int:
    result = aggregate(args)
    write_result(args.out, result, aggregate_markdown(result))
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb, run in (("command", cmd_command), ("train", cmd_train), ("score", cmd_score)):
        sub = verbs.add_parser(verb)
        sub.add_argument("--recipe", type=Path, nargs="+", required=True,
                         help="six-source recipes, configs/loco-NAME.yaml")
        sub.add_argument("--holdout", nargs="+", choices=SOURCES, default=list(HELD_OUT_FIRST))
        if verb == "score":
            sub.add_argument("--split", default="test")
            sub.add_argument("--limit", type=int, default=0, help="first N photos (a check)")
            sub.add_argument("--scale", choices=SCALE_VARIANTS, default=None,
                             help="score at this working scale instead of the model's (after "
                                  "measuring its calibre on its validation photos); its own "
                                  "row, RECIPE+SCALE, in the aggregate")
            sub.add_argument("--cut", choices=(OWN_CUT, *CUT_VARIANTS), default=OWN_CUT,
                             help="own: the model's rule; otsu: each photo at its Otsu cut; "
                                  "validated: every photo at the threshold the run chose on "
                                  "its validation photos; other than own, its own row, "
                                  "RECIPE[+SCALE]+CUT, in the aggregate")
            sub.add_argument("--skip-scored", action="store_true",
                             help="leave out runs already scored or not finished")
            add_dirty_option(sub)
        else:
            sub.add_argument("--set", action="append", metavar="KEY=VALUE",
                             help="further overrides, after the hold-out's")
        _common(sub)
        sub.set_defaults(run=run)
    agg = verbs.add_parser("aggregate")
    agg.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "loco"))
    add_dirty_option(agg)
    _common(agg)
    agg.set_defaults(run=cmd_aggregate)
    return parser.parse_args(argv)


def _common(parser) -> None:
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs-root", type=Path, default=RUNS_ROOT,
                        help="where runs train (default /work/loco_runs, outside the tree)")
    parser.add_argument("--tree-root", type=Path, default=TREE_ROOT,
                        help="where finished runs are copied and scored (default "
                             "benchmarks/loco_runs, committed)")


def main(argv=None) -> int:
    args = parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
