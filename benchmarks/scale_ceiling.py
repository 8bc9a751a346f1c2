"""What a working scale costs before any model is involved.

A model that segments a photo at a FOV ``W`` pixels wide and resizes its
output back can at best return the manual mask after the same round trip. This
script takes each training image's manual mask, shrinks it to the working scale
(area average, as a photo's resample does), brings it back to native resolution
and thresholds it, two ways: resizing the soft map then thresholding at 0.5
(what resizing probabilities does), and the same on the logit of the soft map
(what resizing logits does). It reports F1 against the original mask, the
predicted/true vessel area, and the mean vessel width of both (2 x the distance
transform on the skeleton). Training splits only: the working scale is chosen
here, so no test image is looked at.

    python benchmarks/scale_ceiling.py --data-root ../shared/data

Writes ``benchmarks/results/scale_ceiling.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import provenance, provenance_markdown, write_result
from scipy import ndimage
from skimage.morphology import skeletonize

from retinaseg.data import fov_diameter, load_dataset

REPO = Path(__file__).resolve().parents[1]
WIDTHS = (540, 768, 1024, 1280, 1600, 2048)
DATASETS = ("drive", "chase_db1", "hrf")


def round_trip(mask: np.ndarray, scale: float, logits: bool) -> np.ndarray:
    """The mask shrunk by ``scale`` (area average) and brought back (bilinear)."""
    x = torch.from_numpy(mask.astype(np.float32))[None, None]
    small = F.interpolate(x, scale_factor=scale, mode="area" if scale < 1 else "bilinear",
                          recompute_scale_factor=False)
    if logits:
        small = torch.logit(small.clamp(1e-4, 1 - 1e-4))
    back = F.interpolate(small, size=mask.shape, mode="bilinear", align_corners=False)
    return (back[0, 0] > (0.0 if logits else 0.5)).numpy()


def mean_width(mask: np.ndarray) -> float:
    skeleton = skeletonize(mask)
    if not skeleton.any():
        return 0.0
    return float(2 * ndimage.distance_transform_edt(mask)[skeleton].mean())


def scores(pred: np.ndarray, truth: np.ndarray, fov: np.ndarray) -> dict:
    pred, truth = pred & fov, truth & fov
    tp = np.count_nonzero(pred & truth)
    f1 = 2 * tp / max(1, np.count_nonzero(pred) + np.count_nonzero(truth))
    return {"f1": f1, "area_ratio": np.count_nonzero(pred) / max(1, np.count_nonzero(truth)),
            "width": mean_width(pred)}


def measure_dataset(name: str, root: Path) -> dict:
    rows = {}
    truth_widths = []
    for sample in load_dataset(name, "train", root=root):
        native = fov_diameter(sample.fov)
        truth_widths.append(mean_width(sample.vessel & sample.fov))
        for width in WIDTHS:
            if width > native * 1.05:
                continue
            for mode in ("prob", "logit"):
                pred = round_trip(sample.vessel, width / native, logits=mode == "logit")
                rows.setdefault((width, mode), []).append(scores(pred, sample.vessel, sample.fov))
    table = [{"fov_width": w, "resize": m, **{k: float(np.mean([r[k] for r in rs]))
                                            for k in ("f1", "area_ratio", "width")}}
             for (w, m), rs in sorted(rows.items())]
    return {"native_fov_width": float(np.median([fov_diameter(s.fov) for s in
                                                 load_dataset(name, "train", root=root)])),
            "truth_width": float(np.mean(truth_widths)), "rows": table}


def markdown(result: dict) -> str:
    lines = ["# Scale ceiling: the manual masks after a round trip through a working scale", "",
             provenance_markdown(result), "",
             "Training images only. F1, vessel area and mean width of the round-tripped mask "
             "against the manual one (native resolution, inside the FOV).", ""]
    for name, data in result["datasets"].items():
        lines += [f"## {name} (native FOV width {data['native_fov_width']:.0f} px, manual mean "
                  f"width {data['truth_width']:.2f} px)", "",
                  "| working FOV width | resize | F1 | area pred/true | mean width px |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['fov_width']} | {r['resize']} | {r['f1']:.4f} | {r['area_ratio']:.3f} | "
                  f"{r['width']:.2f} |" for r in data["rows"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale_ceiling"))
    args = parser.parse_args()
    result = {**provenance(REPO), "datasets": {n: measure_dataset(n, Path(args.data_root))
                                               for n in DATASETS}}
    write_result(args.out, result, markdown(result))


if __name__ == "__main__":
    main()
