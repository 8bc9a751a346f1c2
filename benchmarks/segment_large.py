"""Large photographs: time and peak memory of segmenting HRF images (3504x2336).

    python benchmarks/segment_large.py --data-root ../shared/data

Two cases, each in a fresh process so peak RSS belongs to it alone:
- ``resampled``: what ``retinaseg segment`` does with unet-drive: the photo is
  brought to the model's training scale (FOV ~540 px wide), segmented whole,
  and the probabilities resized back to 3504x2336;
- ``native-tiled``: the network run on the full-resolution photo, which exceeds
  the whole-image limit and so goes through overlapping 512 px tiles: this is
  the memory bound for a model trained at HRF's own scale.
Writes benchmarks/results/segment_large.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ["01_h", "01_g", "01_dr"]


def measure(case: str, data_root: str) -> dict:
    """Run in this process (called in a child): seconds per image and peak RSS."""
    import torch

    from retinaseg.data import load_dataset
    from retinaseg.data.preprocess import preprocess
    from retinaseg.pipeline.predict import predict_probabilities, predict_tensor
    from retinaseg.hub.pretrained import load_model

    bundle = load_model("unet-drive")
    data = load_dataset("hrf", "all", data_root)
    samples = [data[data.ids.index(i)] for i in IMAGES]
    seconds = []
    for sample in samples:
        started = time.perf_counter()
        if case == "resampled":
            prob = predict_probabilities(bundle, sample.image, sample.fov)
        else:
            x = torch.from_numpy(preprocess(sample.image, sample.fov, bundle.meta.preprocess))
            prob = predict_tensor(bundle.module, x).numpy()
        seconds.append(time.perf_counter() - started)
        assert prob.shape == sample.fov.shape
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "images": IMAGES, "size": list(samples[0].fov.shape[::-1]),
            "seconds_per_image": sum(seconds) / len(seconds), "peak_rss_mib": round(peak_mib)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case here
    from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, \
        write_result
    from retinaseg.io.tables import markdown_table

    add_dirty_option(parser)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(measure(args.case, args.data_root)))
        return 0
    header = clean_provenance(ROOT, args.allow_dirty)

    rows = []
    for case in ("resampled", "native-tiled"):
        child = subprocess.run([sys.executable, __file__, "--data-root", args.data_root,
                                "--case", case], capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    result = {**header, "rows": rows}
    table = markdown_table(["case", "images", "seconds / image", "peak RSS (MiB)"],
                           [[r["case"], f"{', '.join(r['images'])} ({r['size'][0]}x{r['size'][1]})",
                             f"{r['seconds_per_image']:.2f}", r["peak_rss_mib"]] for r in rows])
    write_result(ROOT / "benchmarks/results/segment_large", result,
                 f"# Segmenting HRF photographs (3504x2336) with unet-drive\n\n"
                 f"{provenance_markdown(result)}\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
