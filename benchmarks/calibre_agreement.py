"""CRAE, CRVE and AVR from a model's artery/vein maps against the same code on the manual labels.

    python benchmarks/calibre_agreement.py --data-root ../shared/data                  # no model
    python benchmarks/calibre_agreement.py --data-root ../shared/data --model MODEL    # A/V model

For every test photo of DRIVE-AV (DRIVE test, 20), HRF-AV (the HRF test split, 30) and
LES-AV (its test split, 11), :func:`retinaseg.measure.calibres.calibre_columns` runs twice:
on the manual RITE label (:func:`~retinaseg.measure.calibres.label_calibre_columns`:
crossings in both kinds) and on the second rater's artery and vein masks. Both use the
same disc, so the disc does not enter the comparison: on DRIVE the DRIVE-ZoneB disc, on
the others the one :func:`retinaseg.measure.disc.find_disc` finds from the photo and the
manual vessel mask. The pixel size is the dataset camera's (``measure.scale``).

The second rater is the model's masks (``--model``: an A/V model, cut by its own rule),
or, without a model, the manual label perturbed (:func:`perturbed`: every vessel's edge
moved by a pixel, out or in, in random 32 px blocks, seeded): a check of the harness and
of how much a one-pixel drawing difference moves each biomarker, until the A/V model is
trained. Per dataset and biomarker (zone B and zone C): photos with a value from each
rater and their range, ICC(2,1), mean difference and 95% limits of agreement
(``measure/agreement.py``), and a Bland-Altman plot (``OUT.png``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import (
    add_dirty_option,
    clean_provenance,
    provenance_markdown,
    shown_path,
    write_result,
)
from scipy import ndimage

from retinaseg.data import load_dataset
from retinaseg.data.av import ARTERY, CROSSING, VEIN
from retinaseg.data.zone_b import drive_optic_disc
from retinaseg.measure.agreement import agreement
from retinaseg.measure.calibres import calibre_columns, label_calibre_columns
from retinaseg.measure.disc import find_disc
from retinaseg.measure.scale import dataset_fov_degrees, resolve_scale

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("drive", "hrf", "les_av")
LABELS = {"drive": "DRIVE-AV", "hrf": "HRF-AV", "les_av": "LES-AV"}
BIOMARKERS = ("crae_px", "crve_px", "avr", "crae_px_zone_c", "crve_px_zone_c", "avr_zone_c",
              # the Hubbard variant, micrometres only (measure/knudtson.py)
              "crae_hubbard_um", "crve_hubbard_um", "avr_hubbard", "crae_hubbard_um_zone_c",
              "crve_hubbard_um_zone_c", "avr_hubbard_zone_c")
UNITS = {"crae_px": "crae_um", "crve_px": "crve_um", "crae_px_zone_c": "crae_um_zone_c",
         "crve_px_zone_c": "crve_um_zone_c"}
PERTURB_BLOCK_PX = 32


def perturbed(classes: np.ndarray, seed: int) -> np.ndarray:
    """The label with each kind's edges moved by one pixel, out or in or kept, in random
    blocks: a stand-in second rater who draws a pixel wider or narrower here and there."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 3, size=(classes.shape[0] // PERTURB_BLOCK_PX + 1,
                                      classes.shape[1] // PERTURB_BLOCK_PX + 1))
    choice = np.kron(blocks, np.ones((PERTURB_BLOCK_PX, PERTURB_BLOCK_PX), dtype=int))
    choice = choice[:classes.shape[0], :classes.shape[1]]
    out = np.zeros_like(classes)
    crossing = classes == CROSSING
    moved = {}
    for kind in (ARTERY, VEIN):
        mask = (classes == kind) | crossing
        moved[kind] = np.where(choice == 0, ndimage.binary_dilation(mask),
                               np.where(choice == 1, ndimage.binary_erosion(mask), mask))
    out[moved[ARTERY]] = ARTERY
    out[moved[VEIN] & ~moved[ARTERY]] = VEIN
    out[crossing] = CROSSING
    return out


def photo_disc(name: str, sample, data_root: str):
    """The disc both raters share: DRIVE-ZoneB's on DRIVE, else found from the photo."""
    if name == "drive":
        return drive_optic_disc(data_root, sample.id)
    return find_disc(sample.image, sample.fov, sample.vessel)


def model_rater(model: str | None):
    """The second rater: ``(label, function(sample, classes) -> (artery, vein))``."""
    if model is None:
        def from_label(sample, classes, seed):
            again = perturbed(classes, seed)
            return (again == ARTERY) | (again == CROSSING), (again == VEIN) | (again == CROSSING)
        return "manual, perturbed", from_label
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.segment import segment_photo
    from retinaseg.pipeline.settings import resolve_settings

    bundle = load_model(model)
    settings = resolve_settings(bundle)

    def from_model(sample, classes, seed):
        masks = segment_photo(bundle, sample.image, settings).masks
        if "artery" not in masks or "vein" not in masks:
            raise SystemExit(f"{model} has no artery and vein outputs")
        return masks["artery"], masks["vein"]
    return f"model {model}", from_model


def measure_photo(name: str, sample, data_root: str, rater, seed: int) -> dict:
    started = time.perf_counter()
    classes = sample.av
    disc = photo_disc(name, sample, data_root)
    scale = resolve_scale(sample.fov, None, dataset_fov_degrees(name))
    manual = label_calibre_columns(classes, sample.fov, disc, scale)
    artery, vein = rater(sample, classes, seed)
    other = calibre_columns(artery, vein, sample.fov, disc, scale)
    return {"id": sample.id, "mm_per_pixel": scale.mm_per_pixel, "manual": manual,
            "other": other, "seconds": round(time.perf_counter() - started, 2)}


def dataset_summary(images: list[dict]) -> dict:
    """Per biomarker: how many photos give a value, the range, and the agreement."""
    out = {}
    for column in BIOMARKERS + tuple(UNITS.values()):
        values = {rater: np.array([np.nan if img[rater][column] is None else img[rater][column]
                                   for img in images], dtype=float)
                  for rater in ("manual", "other")}
        manual = values["manual"][np.isfinite(values["manual"])]
        out[column] = {"with_value": {r: int(np.isfinite(v).sum()) for r, v in values.items()},
                       "manual_range": [float(manual.min()), float(manual.max())]
                       if manual.size else None,
                       **agreement(values["other"], values["manual"])}
    notes = {}
    for img in images:
        for key in ("calibre_note", "calibre_note_zone_c"):
            note = img["manual"][key]
            if note:
                notes.setdefault(key, []).append(f"{img['id']}: {note}")
    out["manual_notes"] = notes
    return out


def run_dataset(name: str, data_root: str, rater, seed: int) -> dict:
    images = []
    for k, sample in enumerate(load_dataset(name, "test", data_root)):
        if sample.av_path is None:
            continue
        images.append(measure_photo(name, sample, data_root, rater, seed + k))
        print(f"{name} {sample.id}: {images[-1]['seconds']} s", file=sys.stderr, flush=True)
    return {"images": images, "summary": dataset_summary(images)}


def bland_altman_plot(result: dict, path: Path) -> None:
    """One row per dataset, one column per zone B biomarker: difference against mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["datasets"])
    figure, axes = plt.subplots(len(names), 3, figsize=(11, 3.2 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        images = result["datasets"][name]["images"]
        for col, column in enumerate(("crae_px", "crve_px", "avr")):
            pairs = np.array([(i["other"][column], i["manual"][column]) for i in images
                              if i["other"][column] is not None
                              and i["manual"][column] is not None], dtype=float).reshape(-1, 2)
            ax = axes[row][col]
            stats = result["datasets"][name]["summary"][column]
            if len(pairs):
                ax.scatter(pairs.mean(axis=1), pairs[:, 0] - pairs[:, 1], s=14)
                for level in (stats["bias"], stats["loa_low"], stats["loa_high"]):
                    if level is not None and np.isfinite(level):
                        ax.axhline(level, color="grey", linestyle="--", linewidth=0.8)
            ax.set_title(f"{LABELS[name]}: {column} (n={len(pairs)})", fontsize=9)
            ax.set_xlabel("mean of the two", fontsize=8)
            ax.set_ylabel(f"{result['rater']} - manual", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    text = (f"# Calibre biomarkers: {result['rater']} against the manual A/V labels\n\n"
            "CRAE and CRVE (revised Knudtson, px and um at the dataset camera's assumed "
            "scale) and AVR, zone B and zone C, from `retinaseg.measure.calibres` on each "
            "test photo's manual RITE label and on the second rater's masks, with one disc "
            "per photo (DRIVE: DRIVE-ZoneB's; others: found from the photo and the manual "
            "vessels). ICC(2,1), mean difference (second rater - manual) and 95% limits of "
            f"agreement. Bland-Altman plot: `{Path(result['plot']).name}`.\n")
    for name, part in result["datasets"].items():
        summary, n = part["summary"], len(part["images"])
        text += (f"\n## {LABELS[name]} test ({n} photos)\n\n| biomarker | photos with a value "
                 "(manual / second) | manual range | ICC(2,1) | mean difference [LoA] |\n"
                 "|---|---|---|---|---|\n")
        for column in BIOMARKERS + tuple(UNITS.values()):
            s = summary[column]
            low_high = ("-" if s["manual_range"] is None else
                        f"{s['manual_range'][0]:.2f}-{s['manual_range'][1]:.2f}")
            text += (f"| {column} | {s['with_value']['manual']} / {s['with_value']['other']} | "
                     f"{low_high} | {_fmt(s['icc_2_1'])} | {_fmt(s['bias'])} "
                     f"[{_fmt(s['loa_low'])}, {_fmt(s['loa_high'])}] |\n")
        for key, notes in summary["manual_notes"].items():
            text += f"\nwhy the manual {key} is empty or partial:\n\n"
            text += "".join(f"- {note}\n" for note in notes)
    return text + "\n" + provenance_markdown(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--model", help="an A/V model (shipped name, checkpoint or .onnx); "
                                        "default: the manual labels, perturbed")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/calibre_agreement"))
    add_dirty_option(parser)
    args = parser.parse_args()
    result = {**clean_provenance(ROOT, args.allow_dirty), "model": args.model,
              "seed": args.seed, "plot": shown_path(Path(args.out).with_suffix(".png"), ROOT),
              "datasets": {}}
    result["rater"], rater = model_rater(args.model)
    for name in args.datasets:
        result["datasets"][name] = run_dataset(name, args.data_root, rater, args.seed)
        bland_altman_plot(result, Path(args.out).with_suffix(".png"))
        write_result(args.out, _json_safe(result), markdown(result))


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    main()
