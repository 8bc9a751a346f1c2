"""Artery/vein classification on the A/V test splits: our model, or a peer's maps, side by side.

    python benchmarks/av_accuracy.py --model PATH --data-root ../shared/data \\
        --sets drive les_av hrf --out benchmarks/results/av_accuracy
    python benchmarks/av_accuracy.py --peer lwnet-drive --peer lwnet-hrf --lwnet-dir /tmp/lwnet \\
        --data-root ../shared/data --sets drive les_av les_av:all --out benchmarks/results/av_lwnet

A set is a dataset name (its ``test`` split) or ``name:split``: ``drive`` (DRIVE-AV, 20
test photos), ``les_av`` (the published 11), ``hrf`` (HRF-AV, images 06-15), ``les_av:all``.
``--model`` (ours, repeatable) and ``--peer`` (repeatable, see ``peer_lwnet_av.py``) are
rows of one table per set, scored on the same photos by the same functions.

What is scored (docs/artery-vein.md):

- **A/V accuracy:** the manual pure-artery and pure-vein pixels (classes ARTERY and VEIN of
  the RITE label; crossings and uncertain left out) inside the dataset's FOV mask. A pixel
  is called artery where the artery probability is at least the vein one, the rule our
  masks are cut by (pipeline/segment.output_masks). Every such pixel is scored, whether or
  not the model calls it vessel, so a missed vessel still counts by its A/V decision.
- **centreline:** the same on the skeleton of the manual vessel mask (any labelled class),
  where width and the label's drawn edge no longer weigh in.
- **artery / vein sensitivity:** the share of manual artery (vein) pixels called artery (vein).
- **vessel F1 / AUC,** for context: the model's vessel mask and probability against the
  dataset's vessel annotation inside the FOV.

Pooled over the photos of a set (counts summed), with each photo's figures in the JSON.
The scoring functions take arrays only, ``(artery_prob, vein_prob, classes, fov)``, so any
model's maps are scored by the same code.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from retinaseg.evaluation.artery_vein import add_counts, score_av, with_rates
from retinaseg.metrics import ScoreHistogram, confusion_counts, scores_from_counts
from retinaseg.pipeline.av_vote import AV_DECISIONS, DEFAULT_AV_DECISION

ROOT = Path(__file__).resolve().parents[1]
SET_TITLES = {"drive": "DRIVE-AV", "les_av": "LES-AV", "hrf": "HRF-AV"}


# --- vessel context: F1 of the mask, AUC of the probability ------------------------------

class VesselTally:
    """Pooled vessel confusion counts and score histogram over a set's photos."""

    def __init__(self):
        self.counts, self.histogram = None, ScoreHistogram()

    def update(self, prob, mask, truth, fov) -> dict[str, float]:
        """Add one photo; returns its F1 and AUC."""
        counts = confusion_counts(mask, truth, fov)
        self.counts = counts if self.counts is None else self.counts + counts
        self.histogram.update(prob, truth, fov)
        one = ScoreHistogram().update(prob, truth, fov)
        return {"f1": scores_from_counts(counts)["f1"], "auc_roc": one.auc_roc()}

    def pooled(self) -> dict[str, float]:
        return {"f1": scores_from_counts(self.counts)["f1"], "auc_roc": self.histogram.auc_roc()}


# --- rows: anything that turns a sample into maps ---------------------------------------

class Maps(NamedTuple):
    """What a row gives for one photo, at its native resolution."""

    artery: np.ndarray      # artery probability (or any score: only artery >= vein matters)
    vein: np.ndarray
    vessel_prob: np.ndarray
    vessel_mask: np.ndarray


class Row(NamedTuple):
    name: str
    predict: Callable       # sample -> Maps
    facts: dict             # what the result file says about it (weights, recipe)


def our_rows(path: str, device: str = "cpu", decisions=(DEFAULT_AV_DECISION,), tta: str | None = None,
             name_tta: bool = False) -> list[Row]:
    """A retinaseg model with artery and vein outputs, as `retinaseg evaluate` runs it:
    its own settings (``tta``: another test-time augmentation than its own), the dataset's
    FOV mask; a row per A/V decision (``--av-decision``: by segment, the default, by
    vessel or by pixel). The network runs once per photo: a voted row is the pixel row's maps
    voted (pipeline/av_vote), as the pipeline does. ``name_tta`` puts the TTA in the row's
    name, for a table that compares TTAs."""
    from common import shown_path

    from retinaseg.errors import RetinasegError
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.av_vote import decide_av
    from retinaseg.pipeline.segment import segment_at_scale
    from retinaseg.pipeline.settings import resolve_settings

    model = load_model(path, device)
    if not {"artery", "vein"} <= set(model.meta.outputs):
        raise RetinasegError(f"{path}: not an artery/vein model (outputs: "
                             f"{', '.join(model.meta.outputs)})")
    settings = resolve_settings(model, av_decision="pixel", tta=tta)
    last = {}

    def pixel_maps(sample) -> Maps:
        if last.get("id") != sample.id:
            done = segment_at_scale(model, sample.image, sample.fov, settings)
            last.update(id=sample.id, maps=Maps(done.others["artery"], done.others["vein"],
                                                done.prob, done.mask))
        return last["maps"]

    def voted_maps(decision: str):
        def predict(sample) -> Maps:
            maps = pixel_maps(sample)
            artery, vein = decide_av(decision, maps.artery, maps.vein, maps.vessel_mask,
                                     sample.fov)
            return maps._replace(artery=artery, vein=vein)
        return predict

    predictors = {d: voted_maps(d) for d in AV_DECISIONS if d != "pixel"} | {"pixel": pixel_maps}
    shown = shown_path(path, ROOT)
    rows = []
    # pixel first: its row's time holds the network pass, a voted row's the vote alone
    order = ("pixel",) + tuple(d for d in AV_DECISIONS if d != "pixel")
    for decision in sorted(set(decisions), key=order.index):
        facts = {"model": shown, "checkpoint_sha256": model.sha256, "tta": settings.tta,
                 "scale": settings.scale, "av_decision": decision}
        shown_parts = ([decision] if len(set(decisions)) > 1 else []) + \
            ([f"tta {settings.tta}"] if name_tta else [])
        name = f"{shown} ({', '.join(shown_parts)})" if shown_parts else shown
        rows.append(Row(name, predictors[decision], facts))
    return rows


# --- one set, every row ------------------------------------------------------------------

def parse_set(text: str) -> tuple[str, str, list[str] | None]:
    """``name``, ``name:split`` or ``name:split@id,id`` -> ``(name, split, ids)``: the test
    split by default, every photo of it unless ids are named (``drive:train@21,22``: the
    A/V model's validation photos, where its decision rule is chosen)."""
    text, _, wanted = text.partition("@")
    name, _, split = text.partition(":")
    return name, split or "test", wanted.split(",") if wanted else None


def only_photos(data, ids: list[str] | None):
    """``data`` kept to ``ids`` (all of them must be there), or whole."""
    if ids is None:
        return data
    missing = sorted(set(ids) - set(data.ids))
    if missing:
        raise SystemExit(f"{data.name} {data.split}: no photo {', '.join(missing)}")
    return type(data)(data.name, data.split, [f for f in data.files if f.id in ids])


def score_set(rows: list[Row], data) -> dict:
    """Every row on every photo of ``data``: pooled and per-photo figures, seconds per photo."""
    per_row = {r.name: {"photos": [], "counts": None, "vessel": VesselTally(), "seconds": []}
               for r in rows}
    for sample in data:
        classes = sample.av
        if classes is None:
            raise SystemExit(f"{sample.image_path}: no artery/vein label (is the *-AV folder "
                             "beside the dataset under --data-root?)")
        for row in rows:
            _score_photo(per_row[row.name], row, sample, classes)
    return {"images": list(data.ids), "rows": [_pooled(name, t) for name, t in per_row.items()]}


def _score_photo(tally: dict, row: Row, sample, classes) -> None:
    started = time.perf_counter()
    maps = row.predict(sample)
    tally["seconds"].append(time.perf_counter() - started)
    counts = score_av(maps.artery, maps.vein, classes, sample.fov)
    vessel = tally["vessel"].update(maps.vessel_prob, maps.vessel_mask, sample.vessel, sample.fov)
    tally["counts"] = counts if tally["counts"] is None else add_counts(tally["counts"], counts)
    tally["photos"].append({"id": sample.id, **with_rates(counts), "vessel": vessel})


def _pooled(name: str, tally: dict) -> dict:
    return {"model": name, **with_rates(tally["counts"]), "vessel": tally["vessel"].pooled(),
            "seconds_per_photo": float(np.mean(tally["seconds"])), "photos": tally["photos"]}


def check_same_pixels(table: dict) -> None:
    """Every row of a set must have been scored on the same manual pixels."""
    seen = {tuple(r[p][k] for p in ("pixels", "centreline") for k in ("artery", "vein"))
            for r in table["rows"]}
    if len(seen) != 1:
        raise SystemExit(f"{table['set']}: rows scored on different pixels: {sorted(seen)}")


# --- the result file ---------------------------------------------------------------------

COLUMNS = (("A/V acc", "pixels", "accuracy"), ("centreline acc", "centreline", "accuracy"),
           ("artery Se", "pixels", "artery_sensitivity"), ("vein Se", "pixels", "vein_sensitivity"),
           ("centreline artery Se", "centreline", "artery_sensitivity"),
           ("centreline vein Se", "centreline", "vein_sensitivity"),
           ("vessel F1", "vessel", "f1"), ("vessel AUC", "vessel", "auc_roc"))


def table_markdown(table: dict) -> list[str]:
    from retinaseg.io.tables import markdown_table

    first = table["rows"][0]
    head = ["model", *(title for title, _, _ in COLUMNS), "s / photo"]
    body = [[r["model"], *(f"{r[part][key]:.4f}" for _, part, key in COLUMNS),
             f"{r['seconds_per_photo']:.2f}"] for r in table["rows"]]
    return [f"## {table['title']} ({len(table['images'])} photos)", "",
            (f"Manual pure pixels in the FOV: {first['pixels']['artery']:,} artery, "
             f"{first['pixels']['vein']:,} vein; on the centreline "
             f"{first['centreline']['artery']:,} and {first['centreline']['vein']:,}."), "",
            markdown_table(head, body, "l" + "r" * (len(head) - 1)), ""]


def markdown(result: dict) -> str:
    from common import provenance_markdown

    done = [t["set"] for t in result["tables"]]
    missing = [s for s in result["sets"] if s not in done]
    lines = ["# Artery/vein classification", "", provenance_markdown(result),
             *([f"- **INCOMPLETE: still to run when this was written: {', '.join(missing)}**"]
               if missing else []), "", "Rows:", "",
             *(f"- **{r['name']}**: " + "; ".join(f"{k}: {v}" for k, v in r.items() if k != "name")
               for r in result["rows"]), "",
             ("A/V accuracy: manual pure-artery and pure-vein pixels (RITE classes; crossings "
              "and uncertain left out) inside the dataset's FOV mask, called artery where "
              "artery >= vein, whether or not the model calls them vessel; centreline: the "
              "same on the skeleton of the manual vessel mask; Se: the share of manual "
              "artery (vein) pixels called artery (vein); vessel F1 / AUC against the "
              "dataset's vessel annotation. Pooled over the photos; per photo in the JSON. "
              "How to rerun: docs/artery-vein.md."),
             *(["", "A model scored under both A/V decisions runs its network once per photo, "
                "in its pixel row: that row's s / photo holds the network pass, the segment "
                "row's the vote alone (on the pixel row's maps)."]
               if any(" (" in r["name"] for r in result["rows"] if "av_decision" in r)
               else []), ""]
    for table in result["tables"]:
        lines += table_markdown(table)
    return "\n".join(lines) + "\n"


# --- the command line --------------------------------------------------------------------

def build_rows(args) -> list[Row]:
    ttas = args.tta or [None]
    rows = [row for path in args.models for tta in ttas
            for row in our_rows(path, args.device, tuple(args.av_decision), tta,
                                name_tta=len(ttas) > 1)]
    if args.peers:
        from peer_lwnet_av import lwnet_row  # only a peer run needs its code

        rows += [lwnet_row(name, args.lwnet_dir, args.device, args.lwnet_tta)
                 for name in args.peers]
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", dest="models", default=[],
                        metavar="PATH", help="a retinaseg A/V model (repeatable)")
    parser.add_argument("--av-decision", nargs="+", choices=AV_DECISIONS,
                        default=[DEFAULT_AV_DECISION],
                        help="our models' A/V decision, a row each: by segment (the "
                             "pipeline's default), by vessel and/or by pixel")
    parser.add_argument("--tta", nargs="+", metavar="MODE",
                        help="our models' test-time augmentation, a row each (none, flip, "
                             "flip+rot90, rot<K>; default: each model's own)")
    parser.add_argument("--peer", action="append", dest="peers", default=[],
                        choices=("lwnet-drive", "lwnet-hrf"), help="a peer's model (repeatable)")
    parser.add_argument("--lwnet-dir", type=Path,
                        help="an extracted copy of github.com/agaldran/lwnet (for --peer)")
    parser.add_argument("--lwnet-tta", choices=("flips", "none"), default="flips",
                        help="LWNet's test-time flips (its default) or one pass")
    parser.add_argument("--data-root", required=True, help="folder holding DRIVE/ DRIVE-AV/ ...")
    parser.add_argument("--sets", nargs="+", default=["drive", "les_av", "hrf"],
                        help="datasets to score, NAME or NAME:SPLIT (default: the test split)")
    parser.add_argument("--limit", type=int, default=0, help="first N photos of each set")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: its default)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/av_accuracy",
                        help="result path without suffix")
    from common import add_dirty_option

    add_dirty_option(parser)
    args = parser.parse_args(argv)
    if not args.models and not args.peers:
        parser.error("name at least one --model or --peer")
    if args.peers and args.lwnet_dir is None:
        parser.error("--peer needs --lwnet-dir")
    return args


def main(argv=None) -> int:
    from common import clean_provenance, write_result

    from retinaseg.data import load_dataset

    args = parse_args(argv)
    provenance = clean_provenance(ROOT, args.allow_dirty)  # before any work
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = build_rows(args)
    result = {**provenance, "sets": args.sets, "limit": args.limit,
              "rows": [{"name": r.name, **r.facts} for r in rows], "tables": []}
    for text in args.sets:
        name, split, ids = parse_set(text)
        data = only_photos(load_dataset(name, split, args.data_root), ids)
        data = data[:args.limit] if args.limit else data
        shown_ids = f" ({', '.join(ids)})" if ids else ""
        table = {"set": text, "title": f"{SET_TITLES.get(name, name)} {split}{shown_ids}",
                 **score_set(rows, data)}
        check_same_pixels(table)
        result["tables"].append(table)
        print(f"{text}: " + ", ".join(f"{r['model']} {r['pixels']['accuracy']:.4f}"
                                      for r in table["rows"]), file=sys.stderr, flush=True)
        write_result(args.out, result, markdown(result))  # after each set: a slow one may fail
    return 0


if __name__ == "__main__":
    sys.exit(main())
