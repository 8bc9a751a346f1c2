"""LWNet's shipped DRIVE model side by side with retinaseg models, on the same pixels.

    git clone https://github.com/agaldran/lwnet /path/to/lwnet
    python benchmarks/lwnet_side_by_side.py --lwnet-repo /path/to/lwnet --data-root ../shared/data \\
        --model general --model unet-drive [--test-set hrf] [--limit N]

LWNet (Galdran et al., "The Little W-Net That Could", arXiv:2009.01907) ships one
vessel model, ``experiments/wnet_drive`` (a 68k-parameter W-Net trained on DRIVE).
Its other shipped checkpoints are artery/vein models (``big_wnet_*_av``); the
HRF one was trained on HRF images that are our HRF vessel *test* images, so
neither is used here. Nothing of LWNet is copied into this repository: its model
definition is imported from the checkout (``models/get_model.py``, pure torch)
and its checkpoint is read as a state dict (``torch.load(weights_only=True)``).

LWNet's inference recipe, rebuilt here because its data code imports
torchvision (``utils/get_loaders.py``, ``utils/paired_transforms_tv04.py``):

1. crop the photo to the bounding box of its FOV mask
   (``TestDataset.crop_to_fov``, utils/get_loaders.py:73-77);
2. resize the crop to ``im_size`` x ``im_size`` (512 for ``wnet_drive``: its
   config.cfg and generate_results.py:29), bilinear on the PIL image, no aspect
   ratio kept (``p_tr.Resize``, get_loaders.py:93, paired_transforms_tv04.py:218-251);
3. RGB scaled to [0, 1], no mean/std normalisation (``p_tr.ToTensor``);
4. the second U-Net's output (``model.mode = 'eval'``), sigmoid, averaged over
   the identity and the left-right, up-down and both flips: ``--tta from_preds``,
   the default of generate_results.py:25 (``create_pred``, lines 43-71);
5. bicubic back to the crop's size (``skimage.transform.resize(order=3)``,
   generate_results.py:67), pasted into the photo, 0 outside the FOV.

Threshold: 0.4196, the default ``--bin_thresh`` of predict_one_image.py:25 (its
README: "the optimal one in the DRIVE training set"); analyze_results.py derives
it as the Dice-maximising cut of ``np.linspace(0, 1, 256)`` on the 16 DRIVE
training images 21-36 (its ``train.csv``), predictions stored as 8-bit PNGs, and
applies it to every test set. The script redoes that derivation on those images
as a check of the reproduced preprocessing (``reproduction`` in the result).

Scoring is ours (``retinaseg.evaluation.evaluate.Scorer``, what ``retinaseg evaluate``
uses): native resolution, inside the dataset's FOV masks (estimated for
CHASE_DB1, as ``retinaseg evaluate`` does), pooled over the test images; the
test splits and FOV masks come from the dataset registry. Every retinaseg model
(``--model``, a shipped name or a checkpoint path, repeatable) goes through
:func:`retinaseg.evaluation.evaluate.evaluate_model` with its own validation-chosen
threshold and TTA. Each table also shows the oracle best-F1 threshold on the
test images (labelled so; never used to rank) and the predicted / true vessel
area ratio. The script checks that every row was scored on the same pixels.

Writes benchmarks/results/lwnet_side_by_side.{json,md} (``--out`` to change),
with the LWNet commit and checkpoint SHA-256, after each test set (marked
INCOMPLETE until the last: HRF at full resolution is the slow one).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import add_dirty_option, clean_provenance, provenance_markdown, write_result

from retinaseg.data import load_dataset
from retinaseg.errors import RetinasegError, file_error
from retinaseg.evaluation.evaluate import EvalOptions, Scorer, evaluate_model
from retinaseg.evaluation.results import HEADLINE, METRIC_TITLES, metric_columns
from retinaseg.hub.checkpoint import load_checkpoint
from retinaseg.hub.load import load_model
from retinaseg.io.tables import markdown_table
from retinaseg.metrics import ScoreHistogram, best_threshold_of_bins

ROOT = Path(__file__).resolve().parents[1]
TEST_SETS = (("drive", "DRIVE test"), ("chase_db1", "CHASE_DB1 test"),
             ("hrf", "HRF test (full resolution)"), ("les_av", "LES-AV test"),
             ("av_wide", "AV-WIDE test"), ("vevio", "VEVIO test (frames and mosaics)"))
LWNET_EXPERIMENT = "wnet_drive"
LWNET_THRESHOLD = 0.4196  # predict_one_image.py:25, --bin_thresh default
LWNET_THRESHOLD_SOURCE = "LWNet's shipped cut, predict_one_image.py:25"
LWNET_TRAIN_IMAGES = 16   # their DRIVE train.csv: images 21-36 (get_public_data.py:73-94)
LWNET_THRESHOLDS = np.linspace(0, 1, 256)  # analyze_results.py:66, cutoff_dice
COLUMNS = metric_columns(first=HEADLINE, drop=("iou", "fpr", "mcc", "auc_pr"))
TITLES = METRIC_TITLES


# --- LWNet: loading its model from a checkout -------------------------------------------

@dataclass
class LWNet:
    """LWNet's model and the recipe its scripts run it with."""

    module: object            # their wnet, in eval mode
    im_size: tuple[int, int]  # (height, width) the FOV crop is resized to
    experiment: str
    checkpoint_sha256: str
    commit: str
    parameters: int


def lwnet_commit(repo: Path) -> str:
    """The checkout's commit (``-dirty`` if its tracked files were changed), or a note."""
    try:
        changed = _git(repo, "status", "--porcelain", "--untracked-files=no")
        return _git(repo, "rev-parse", "HEAD") + ("-dirty" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def import_get_model(repo: Path):
    """LWNet's ``models/get_model.py``, imported from ``repo``.

    Loaded as a package under a private name rather than as the top-level
    ``models`` (what a ``sys.path`` insert would give): that name is generic
    enough to collide, and its relative import of ``res_unet_adrian`` still works.
    """
    folder = repo / "models"
    if not (folder / "get_model.py").is_file():
        raise file_error(repo, "not an LWNet checkout (no models/get_model.py); get one with "
                               "git clone https://github.com/agaldran/lwnet")
    name = "_lwnet_models_" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    return importlib.import_module(f"{name}.get_model")


def read_experiment_config(folder: Path) -> dict:
    path = folder / "config.cfg"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise file_error(path, f"not a readable LWNet config ({type(exc).__name__})") from None


def load_lwnet(repo, experiment: str = LWNET_EXPERIMENT) -> LWNet:
    """LWNet's shipped model ``experiment`` from its checkout, on the CPU."""
    import torch

    repo = Path(repo)
    get_model = import_get_model(repo)  # first: a wrong folder is told how to get a checkout
    folder = repo / "experiments" / experiment
    config = read_experiment_config(folder)
    module = get_model.get_arch(config["model_name"])
    checkpoint = folder / "model_checkpoint.pth"
    try:  # a state dict and optimizer state: plain tensors, no unpickling of objects
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        module.load_state_dict(state["model_state_dict"])
    except Exception as exc:  # torch raises many types for a bad file
        raise file_error(checkpoint, f"not a loadable LWNet checkpoint ({exc})") from None
    module.mode = "eval"  # generate_results.py:138: the wnet returns only its second U-Net
    module.eval()
    size = int(config.get("im_size", 512))
    return LWNet(module, (size, size), experiment, sha256_file(checkpoint), lwnet_commit(repo),
                 sum(p.numel() for p in module.parameters()))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- LWNet: its inference recipe on our arrays ------------------------------------------

def fov_bbox(fov: np.ndarray) -> tuple[int, int, int, int]:
    """``(min_row, min_col, max_row, max_col)`` of the FOV, as ``regionprops(mask).bbox``."""
    rows, cols = np.flatnonzero(fov.any(axis=1)), np.flatnonzero(fov.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def lwnet_input(image: np.ndarray, box, im_size: tuple[int, int]):
    """The FOV crop resized as ``p_tr.Resize`` + ``p_tr.ToTensor`` do: (3, H, W) in [0, 1]."""
    import torch
    from PIL import Image

    top, left, bottom, right = box
    crop = Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right]))
    resized = np.asarray(crop.resize((im_size[1], im_size[0]), Image.BILINEAR))
    return torch.from_numpy(resized.transpose(2, 0, 1).copy()).float().div_(255)


def flip_averaged_probabilities(module, x) -> np.ndarray:
    """Sigmoid of the last channel, averaged over the 4 flips (``tta='from_preds'``)."""
    import torch

    flips = ((), (-1,), (-2,), (-1, -2))
    with torch.inference_mode():
        probs = [torch.sigmoid(_flipped(module(_flipped(x[None], f)), f))[0] for f in flips]
    return torch.stack(probs).mean(0)[-1].numpy()


def _flipped(tensor, dims):
    return tensor.flip(dims) if dims else tensor


def lwnet_probabilities(lwnet: LWNet, image: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """LWNet's vessel probabilities at the photo's resolution, 0 outside the FOV."""
    from skimage.transform import resize

    box = fov_bbox(fov)
    small = flip_averaged_probabilities(lwnet.module, lwnet_input(image, box, lwnet.im_size))
    crop = resize(small, output_shape=(box[2] - box[0], box[3] - box[1]), order=3)
    prob = np.zeros(fov.shape, np.float32)
    prob[box[0]:box[2], box[1]:box[3]] = np.clip(crop, 0.0, 1.0)  # resize clips already
    prob[~fov] = 0.0
    return prob


def score_lwnet(lwnet: LWNet, data, threshold: float) -> tuple:
    """LWNet's pooled scores on ``data`` (our Scorer), and its seconds per image."""
    scorer, seconds = Scorer(threshold, EvalOptions()), []
    for sample in data:
        started = time.perf_counter()
        prob = lwnet_probabilities(lwnet, sample.image, sample.fov)
        seconds.append(time.perf_counter() - started)
        scorer.update(prob, sample.vessel, sample.fov, sample.id)
    return scorer.compute(), float(np.mean(seconds))


# --- LWNet's threshold recipe (analyze_results.py), as a reproduction check --------------

def dice_optimal_threshold(pos_levels: np.ndarray, neg_levels: np.ndarray) -> tuple[float, float]:
    """``cutoff_dice`` of analyze_results.py:64-73 on 8-bit predictions.

    ``pos_levels`` / ``neg_levels``: pixel counts of vessel / background pixels
    per stored grey level 0..255 (their predictions are 8-bit PNGs). A pixel is
    vessel when ``level / 255 > t``; the first of the best ``t`` wins (argmax).
    Returns ``(threshold, dice)``.
    """
    levels = np.arange(256) / 255
    above = levels[None, :] > LWNET_THRESHOLDS[:, None]  # threshold x level
    tp, fp = above @ pos_levels, above @ neg_levels
    dice = 2 * tp / np.maximum(2 * tp + fp + (pos_levels.sum() - tp), 1)
    best = int(np.argmax(dice))
    return float(LWNET_THRESHOLDS[best]), float(dice[best])


def stored_levels(prob: np.ndarray, truth: np.ndarray, fov: np.ndarray):
    """Grey-level histograms of FOV pixels as their PNGs store them (``img_as_ubyte``)."""
    levels = np.rint(prob[fov] * 255).astype(np.int64)
    vessel = truth[fov].astype(bool)
    return (np.bincount(levels[vessel], minlength=256),
            np.bincount(levels[~vessel], minlength=256))


def reproduce_threshold(lwnet: LWNet, data_root, limit: int = 0) -> dict:
    """LWNet's training-set threshold recomputed from our run of their model."""
    data = load_dataset("drive", "train", data_root)[:min(limit or LWNET_TRAIN_IMAGES,
                                                          LWNET_TRAIN_IMAGES)]
    pos, neg = np.zeros(256, np.int64), np.zeros(256, np.int64)
    for sample in data:
        p, n = stored_levels(lwnet_probabilities(lwnet, sample.image, sample.fov),
                             sample.vessel, sample.fov)
        pos, neg = pos + p, neg + n
    threshold, dice = dice_optimal_threshold(pos, neg)
    return {"images": data.ids, "threshold": threshold, "dice": dice,
            "shipped_threshold": LWNET_THRESHOLD,
            "matches_shipped": abs(threshold - LWNET_THRESHOLD) < 1e-4}


# --- rows and tables --------------------------------------------------------------------

def table_row(model: str, scores, threshold: float, source: str, parameters: int,
              tta: str, seconds: float) -> dict:
    """One table row: the scores at the row's threshold, the oracle cut and the pixel counts."""
    pooled = scores.pooled
    hist = ScoreHistogram.from_dict(scores.histogram)
    oracle_threshold, oracle_f1 = best_threshold_of_bins(hist.pos, hist.neg, "f1")
    return {"model": model, "threshold": float(threshold), "threshold_source": source,
            **{k: float(pooled[k]) for k in (*COLUMNS, "mcc", "auc_pr")},
            "area_ratio": area_ratio(pooled), "oracle_f1_threshold": oracle_threshold,
            "oracle_f1": oracle_f1, "parameters": int(parameters), "tta": tta,
            "seconds_per_image": seconds, "fov_pixels": hist.n_pos + hist.n_neg,
            "vessel_pixels": hist.n_pos}


def area_ratio(pooled: dict) -> float:
    """Predicted / true vessel area in the FOV: (tp + fp) / (tp + fn) = Se / Pr."""
    return float(pooled["sensitivity"] / pooled["precision"])


def lwnet_row(lwnet: LWNet, data) -> dict:
    scores, seconds = score_lwnet(lwnet, data, LWNET_THRESHOLD)
    return table_row(f"LWNet {lwnet.experiment}", scores, LWNET_THRESHOLD,
                     LWNET_THRESHOLD_SOURCE, lwnet.parameters, "flips (from_preds)", seconds)


def retinaseg_row(name: str, data, device: str) -> dict:
    bundle = load_model(name, device)
    result = evaluate_model(bundle, data, EvalOptions())
    unfused = load_checkpoint(bundle.source, for_inference=False).module  # BN kept, as LWNet's
    return table_row(name, result, result.threshold, result.threshold_source,
                     sum(p.numel() for p in unfused.parameters()), result.tta,
                     result.seconds_per_image)


def check_same_pixels(dataset: str, rows: list[dict]) -> None:
    """Every row of a table must have been scored on the same FOV and vessel pixels."""
    counts = {(r["fov_pixels"], r["vessel_pixels"]) for r in rows}
    if len(counts) != 1:
        raise RetinasegError(f"{dataset}: rows scored on different pixels: {sorted(counts)}")


def test_set_table(dataset: str, title: str, lwnet: LWNet, models: list[str], args) -> dict:
    data = load_dataset(dataset, "test", args.data_root)
    data = data[:args.limit] if args.limit else data
    rows = [lwnet_row(lwnet, data)] + [retinaseg_row(m, data, args.device) for m in models]
    check_same_pixels(dataset, rows)
    print(f"{title}: " + ", ".join(f"{r['model']} F1 {r['f1']:.4f} AUC {r['auc_roc']:.4f}"
                                   for r in rows), file=sys.stderr, flush=True)
    return {"dataset": dataset, "title": title, "images": data.ids, "rows": rows}


def versus_lwnet(table: dict) -> list[dict]:
    """Each retinaseg row's F1 and AUC minus LWNet's on the same test set."""
    lwnet, others = table["rows"][0], table["rows"][1:]
    return [{"model": r["model"], "dataset": table["dataset"],
             "f1_minus_lwnet": r["f1"] - lwnet["f1"],
             "auc_minus_lwnet": r["auc_roc"] - lwnet["auc_roc"]} for r in others]


def markdown(result: dict) -> str:
    lw, rep = result["lwnet"], result["reproduction"]
    done = [t["dataset"] for t in result["tables"]]
    missing = [name for name in result["test_sets"] if name not in done]
    lines = ["# LWNet side by side", "", provenance_markdown(result),
             *([f"- **INCOMPLETE: still to run when this was written: {', '.join(missing)}**"]
               if missing else []),
             f"- LWNet: github.com/agaldran/lwnet at `{lw['commit']}`, `experiments/"
             f"{lw['experiment']}` (checkpoint sha256 `{lw['checkpoint_sha256'][:16]}...`), "
             f"FOV crop resized to {lw['im_size'][0]}x{lw['im_size'][1]}, 4-flip TTA", "",
             "Scored by retinaseg's metrics at native resolution, inside each dataset's FOV "
             "masks (CHASE_DB1: estimated), pooled over the test images; every row of a "
             "table is checked to cover the same pixels. Thresholds are chosen before "
             "seeing the test images: LWNet's own cut, and each retinaseg model's "
             "validation-chosen one. The **oracle** columns are the best-F1 cut on the test "
             "images themselves: a calibration diagnostic, never used to rank.", "",
             f"Reproduction check: LWNet's recipe (analyze_results.py, Dice-maximising cut "
             f"on DRIVE training images {rep['images'][0]}-{rep['images'][-1]}) on our run "
             f"of its model gives {rep['threshold']:.4f} (Dice {rep['dice']:.4f}); it ships "
             f"{rep['shipped_threshold']}: "
             f"{'the same cut' if rep['matches_shipped'] else '**a different cut**'}.", ""]
    for table in result["tables"]:
        lines += [f"## {table['title']} ({len(table['images'])} images)", "",
                  table_markdown(table["rows"]), ""]
    lines += ["## Versus LWNet (F1 and AUC at the a-priori thresholds)", "",
              markdown_table(["model", "test set", "F1 - LWNet", "AUC - LWNet"],
                             [[v["model"], v["dataset"], f"{v['f1_minus_lwnet']:+.4f}",
                               f"{v['auc_minus_lwnet']:+.4f}"] for v in result["versus"]],
                             "llrr")]
    return "\n".join(lines) + "\n"


def table_markdown(rows: list[dict]) -> str:
    head = ["model", "threshold (source)", *(TITLES[k] for k in COLUMNS), "area ratio",
            "oracle best-F1 cut", "oracle F1", "parameters", "s / image"]
    body = [[r["model"], f"{r['threshold']:.4f} ({r['threshold_source']})",
             *(f"{r[k]:.4f}" for k in COLUMNS), f"{r['area_ratio']:.3f}",
             f"{r['oracle_f1_threshold']:.3f}", f"{r['oracle_f1']:.4f}",
             f"{r['parameters']:,}", f"{r['seconds_per_image']:.2f}"] for r in rows]
    return markdown_table(head, body, "ll" + "r" * (len(head) - 2))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lwnet-repo", required=True, type=Path,
                        help="a checkout of github.com/agaldran/lwnet")
    parser.add_argument("--data-root", required=True, help="folder holding DRIVE/ CHASEDB1/ HRF/")
    parser.add_argument("--model", action="append", dest="models", metavar="NAME_OR_PATH",
                        help="retinaseg model beside LWNet (repeatable; default: general)")
    parser.add_argument("--test-set", action="append", dest="test_sets", choices=dict(TEST_SETS),
                        help="only this test set (repeatable; default: all six)")
    parser.add_argument("--limit", type=int, default=0, help="first N test images of each set")
    parser.add_argument("--device", default="cpu", help="device for the retinaseg models")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/lwnet_side_by_side",
                        help="result path without suffix")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    args.models = args.models or ["general"]
    if args.limit < 0:
        parser.error("--limit must be 0 (all images) or more")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    provenance = clean_provenance(ROOT, args.allow_dirty)  # before any work
    lwnet = load_lwnet(args.lwnet_repo)
    for model in args.models:  # an unknown name fails now, not after DRIVE is done
        load_model(model)
    wanted = [(n, t) for n, t in TEST_SETS if not args.test_sets or n in args.test_sets]
    result = {**provenance, "lwnet": lwnet_facts(lwnet), "limit": args.limit,
              "reproduction": reproduce_threshold(lwnet, args.data_root, args.limit),
              "test_sets": [n for n, _ in wanted], "tables": [], "versus": []}
    for name, title in wanted:  # written after each set: HRF at full resolution is slow
        table = test_set_table(name, title, lwnet, args.models, args)
        result["tables"].append(table)
        result["versus"] += versus_lwnet(table)
        write_result(args.out, result, markdown(result))
    return 0


def lwnet_facts(lwnet: LWNet) -> dict:
    return {"commit": lwnet.commit, "experiment": lwnet.experiment,
            "checkpoint_sha256": lwnet.checkpoint_sha256, "im_size": list(lwnet.im_size),
            "tta": "from_preds", "threshold": LWNET_THRESHOLD, "parameters": lwnet.parameters}


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RetinasegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
