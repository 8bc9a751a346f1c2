"""Where the column model's false ring at the FOV rim comes from.

``column-bilstm-hrf`` marks a band along the FOV rim as vessel on photos from
other cameras. Per dataset's test split, this script measures the predicted and
the true vessel share in three bands of the FOV (the outer 2% of its width,
2-5%, and the interior), as shipped and with the FOV shrunk by 3% of its width
before segmentation. If the ring moves inward with the shrunk FOV, it belongs to
the FOV edge the model is shown (the step from the standardised fundus to the
zeros outside it), not to anything in the photo.

    python benchmarks/column_rim.py --data-root ../shared/data

Writes ``benchmarks/results/column_rim.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

from retinaseg.data import fov_diameter, load_dataset
from retinaseg.pipeline.predict import predict_probabilities
from retinaseg.hub.pretrained import load_model
from retinaseg.utils import provenance, provenance_markdown, write_result

REPO = Path(__file__).resolve().parents[1]
BANDS = ((0.0, 0.02), (0.02, 0.05), (0.05, 1.0))
SHRINK = 0.03


def band_shares(prob, truth, fov, threshold) -> list[dict]:
    """Predicted and true vessel share per band of distance from the FOV edge."""
    distance = ndimage.distance_transform_edt(fov) / fov_diameter(fov)
    rows = []
    for low, high in BANDS:
        band = fov & (distance > low) & (distance <= high)
        rows.append({"pred": float((prob[band] >= threshold).mean()),
                     "true": float(truth[band].mean())})
    return rows


def shrunk(fov: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(fov) > SHRINK * fov_diameter(fov)


def measure(name: str, root: Path, bundle, limit: int) -> dict:
    shipped, moved = [], []
    for index, sample in enumerate(load_dataset(name, "test", root=root)):
        if index >= limit:
            break
        threshold = bundle.meta.threshold
        prob = predict_probabilities(bundle, sample.image, sample.fov)
        shipped.append(band_shares(prob, sample.vessel, sample.fov, threshold))
        prob = predict_probabilities(bundle, sample.image, shrunk(sample.fov))
        moved.append(band_shares(prob, sample.vessel, sample.fov, threshold))
    average = lambda rows: [{k: float(np.mean([r[b][k] for r in rows])) for k in ("pred", "true")}
                            for b in range(len(BANDS))]
    return {"images": len(shipped), "shipped": average(shipped), "fov_shrunk": average(moved)}


def markdown(result: dict) -> str:
    lines = ["# Column model: vessel share by distance from the FOV edge", "",
             provenance_markdown(result), "",
             f"Model `{result['model']}`; test images; bands are fractions of the FOV width "
             f"from its edge. 'FOV shrunk' segments with the FOV eroded by {SHRINK:.0%} of its "
             "width (the bands stay those of the true FOV).", "",
             "| dataset | images | variant | " + " | ".join(
                 f"pred / true {lo:.0%}-{hi:.0%}" for lo, hi in BANDS) + " |",
             "|---|---|---|" + "---|" * len(BANDS)]
    for name, data in result["datasets"].items():
        for variant in ("shipped", "fov_shrunk"):
            cells = " | ".join(f"{b['pred']:.3f} / {b['true']:.3f}" for b in data[variant])
            lines.append(f"| {name} | {data['images']} | {variant} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--model", default="column-bilstm-hrf")
    parser.add_argument("--limit", type=int, default=8, help="test images per dataset")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "column_rim"))
    args = parser.parse_args()
    bundle = load_model(args.model)
    datasets = {n: measure(n, Path(args.data_root), bundle, args.limit)
                for n in ("drive", "chase_db1", "hrf")}
    result = {**provenance(REPO), "model": args.model, "datasets": datasets}
    write_result(args.out, result, markdown(result))


if __name__ == "__main__":
    main()
