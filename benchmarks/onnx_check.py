"""ONNX export checked against PyTorch on real photographs.

    python benchmarks/onnx_check.py --data-root ../shared/data [--images 5]
    python benchmarks/onnx_check.py --data-root ../shared/data --models general --out X

Every shipped model (or those named by ``--models``) is exported (``retinaseg
export``) to a temporary folder and loaded back from the file alone
(:func:`retinaseg.export.load_onnx`, meta from its metadata_props). The first
``--images`` test images of DRIVE, CHASE_DB1 and HRF are segmented through the
same pipeline (resampling, preprocessing, the model's own TTA, resizing back,
FOV) once with PyTorch and once with onnxruntime, both fp32 on the CPU. Reports
the largest absolute probability difference and the share of FOV pixels whose
mask differs at the model's threshold. Writes ``--out``.{json,md} (default
benchmarks/results/onnx; `general`'s is benchmarks/results/onnx_general).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("drive", "chase_db1", "hrf")


def compare(name: str, data_root: str, images: int, folder: Path) -> list[dict]:
    """One row per dataset: the largest differences between ONNX and PyTorch."""
    from retinaseg.pipeline.cut import model_cut
    from retinaseg.data import load_dataset
    from retinaseg.hub.export import export_onnx, load_onnx
    from retinaseg.pipeline.predict import predict_probabilities
    from retinaseg.hub.pretrained import load_model

    bundle = load_model(name)
    export = export_onnx(bundle, folder / f"{name}.onnx", name=name)
    onnx_bundle = load_onnx(export.path)
    rows = []
    for dataset in DATASETS:
        data = load_dataset(dataset, "test", data_root)
        row = {"model": name, "dataset": dataset, "tta": bundle.meta.tta, "images": [],
               "onnx_mb": export.bytes / 1e6, "max_abs_diff": 0.0, "mask_diff_share": 0.0,
               "torch_s": 0.0, "onnx_s": 0.0}
        for index in range(min(images, len(data))):
            sample = data[index]
            expected, seconds_torch = _timed(predict_probabilities, bundle, sample)
            got, seconds_onnx = _timed(predict_probabilities, onnx_bundle, sample)
            fov = sample.fov
            threshold = model_cut(bundle.meta, expected, fov)  # the model's own rule
            row["images"].append(sample.id)
            row["max_abs_diff"] = max(row["max_abs_diff"], float(np.abs(got - expected).max()))
            flipped = ((got >= threshold) != (expected >= threshold))[fov].mean()
            row["mask_diff_share"] = max(row["mask_diff_share"], float(flipped))
            row["torch_s"] += seconds_torch / images
            row["onnx_s"] += seconds_onnx / images
            row["size"] = f"{fov.shape[1]}x{fov.shape[0]}"
        rows.append(row)
        print(f"{name} {dataset}: {row['max_abs_diff']:.2e}", file=sys.stderr, flush=True)
    return rows


def _timed(predict, bundle, sample):
    started = time.perf_counter()
    prob = predict(bundle, sample.image, sample.fov)
    return prob, time.perf_counter() - started


def markdown(result: dict) -> str:
    from retinaseg.utils import provenance_markdown

    rows = result["rows"]
    worst = max(r["max_abs_diff"] for r in rows)
    table = ("| model | dataset (size) | images | TTA | largest abs. probability difference | "
             "largest share of FOV pixels whose mask differs | PyTorch s/image | "
             "onnxruntime s/image |\n|---|---|---|---|---|---|---|---|\n")
    table += "".join(
        f"| {r['model']} ({r['onnx_mb']:.1f} MB) | {r['dataset']} ({r['size']}) | "
        f"{', '.join(r['images'])} | {r['tta']} | {r['max_abs_diff']:.2e} | "
        f"{r['mask_diff_share']:.2e} | {r['torch_s']:.2f} | {r['onnx_s']:.2f} |\n" for r in rows)
    return (f"# ONNX export against PyTorch on real photographs\n\n"
            f"{provenance_markdown(result)}\n"
            f"Each shipped model exported with `retinaseg export`, loaded back from the file "
            f"alone, and run through the same pipeline as PyTorch (resampling, preprocessing, "
            f"the model's TTA, resizing back, FOV); fp32 on the CPU for both. Test images "
            f"(first {result['images_per_dataset']} of each test split). Times are whole-image "
            f"seconds on a shared machine, for orientation only.\n\n"
            f"Largest probability difference over every image and model: **{worst:.2e}**.\n\n"
            f"{table}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--images", type=int, default=5, help="test images per dataset")
    parser.add_argument("--models", nargs="+", help="shipped names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/onnx"),
                        help="result path without suffix")
    args = parser.parse_args(argv)
    from retinaseg.hub.pretrained import PRETRAINED
    from retinaseg.utils import provenance, write_result

    unknown = sorted(set(args.models or ()) - set(PRETRAINED))
    if unknown:
        parser.error(f"--models: not shipped: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory() as folder:
        rows = [row for name in sorted(args.models or PRETRAINED)
                for row in compare(name, args.data_root, args.images, Path(folder))]
    result = {**provenance(ROOT), "images_per_dataset": args.images, "rows": rows}
    write_result(Path(args.out), result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
