"""The README's picture: scikit-image's fundus photograph segmented by a model.

    python benchmarks/readme_picture.py --model general

Three panels side by side, each shrunk to ``--panel`` pixels: the photo, the
probability overlay with the thresholded outline (as ``retinaseg segment --save
overlay`` draws it) and the binary mask (as ``segment`` writes it), from
:func:`retinaseg.segment.segment_image` at the model's own threshold. Writes
the PNG (``--out``, default docs/images/skimage-sample.png) and
benchmarks/results/readme_picture.{md,json}: the model, its checkpoint hash and
threshold, the vessel area fraction in the FOV, and the provenance.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from retinaseg.evaluation.overlays import mask_image, probability_overlay, thumbnail
from retinaseg.hub.pretrained import load_model
from retinaseg.pipeline.segment import sample_image, segment_photo
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown, shown_path,
                             write_result)

ROOT = Path(__file__).resolve().parents[1]
GAP = 8  # white pixels between the panels


def panels(model: str, size: int) -> tuple[np.ndarray, dict]:
    """The picture as one RGB array, and what it shows."""
    bundle = load_model(model)
    image = sample_image()
    prob, mask, fov, cut, _ = segment_photo(bundle, image)
    views = [image, probability_overlay(image, prob, mask, fov),
             np.repeat(mask_image(mask, fov)[..., None], 3, axis=2)]
    small = [thumbnail(v, size) for v in views]
    gap = np.full((small[0].shape[0], GAP, 3), 255, dtype=np.uint8)
    picture = np.concatenate([small[0], gap, small[1], gap, small[2]], axis=1)
    facts = {"model": model, "checkpoint_sha256": bundle.sha256,
             "threshold": cut, "threshold_rule": bundle.meta.threshold_rule,
             "threshold_source": bundle.meta.threshold_source,
             "photo": "skimage.data.retina()", "photo_size": list(image.shape[:2]),
             "vessel_area_fraction": float(np.count_nonzero(mask & fov) / np.count_nonzero(fov))}
    return picture, facts


def markdown(result: dict) -> str:
    return (f"# The README picture: the scikit-image sample segmented by `{result['model']}`\n\n"
            f"{provenance_markdown(result)}- picture: `{result['picture']}` (photo | probability "
            f"overlay and mask outline | mask), panels {result['panel']} px\n"
            f"- model: `{result['model']}`, sha256 {result['checkpoint_sha256'][:12]}, threshold "
            f"{result['threshold']:.4f} ({_rule(result)})\n"
            f"- vessel area fraction inside the estimated FOV: "
            f"{result['vessel_area_fraction']:.4f}\n")


def _rule(result: dict) -> str:
    if result.get("threshold_rule") == "otsu":
        return f"the photo's own Otsu cut; validated threshold from {result['threshold_source']}"
    return result["threshold_source"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general", help="shipped name or checkpoint path")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "skimage-sample.png")
    parser.add_argument("--panel", type=int, default=480, help="side of each panel in pixels")
    parser.add_argument("--result", default=str(ROOT / "benchmarks" / "results" / "readme_picture"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = clean_provenance(ROOT, args.allow_dirty)
    picture, facts = panels(args.model, args.panel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(args.out, optimize=True)
    result.update(facts, picture=shown_path(args.out, ROOT), panel=args.panel)
    write_result(args.result, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
