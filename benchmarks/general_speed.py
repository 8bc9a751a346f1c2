"""Is ``general`` as fast as ``unet-drive`` on a DRIVE-size photo? Measured in one run.

    python benchmarks/general_speed.py --data-root ../shared/data [--models general unet-drive]
    python benchmarks/general_speed.py --data-root ../shared/data --models general unet-drive \
        --photo hrf --out benchmarks/results/general_speed_hrf

Two measures, each with the models alternated run by run (so a burst of load on a
shared machine hits both alike), medians and the ratio first model / second:

- whole process: ``retinaseg segment PHOTO --model M --out DIR``, a fresh process
  and a fresh output folder each run, timed from launch to exit (start-up, model
  loading, FOV estimation, preprocessing, inference, writing the mask and table);
- forward only, inside one process: the model on the photo's preprocessed
  working-geometry tensor (``predict_on_device``, no TTA), after one warm-up.

The photo is the first test image of ``--photo``'s dataset: DRIVE's 01 (565x584) by
default, the size the rule is about; ``--photo hrf`` (3504x2336) shows what a model costs
on a large photo. Its FOV is estimated as ``segment`` does.
Torch threads follow ``OMP_NUM_THREADS``. Writes benchmarks/results/general_speed.{md,json}.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from retinaseg.data import load_dataset
from retinaseg.data.fov import estimate_fov
from retinaseg.data.io import read_photo
from retinaseg.data.preprocess import preprocess
from retinaseg.pipeline.predict import predict_on_device, working_copy
from retinaseg.hub.pretrained import load_model
from retinaseg.io.tables import markdown_table
from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from retinaseg.cli import main; sys.exit(main())"


def test_photo(dataset: str, data_root) -> Path:
    """The first test photograph of ``dataset``."""
    return load_dataset(dataset, "test", data_root).files[0].image


def photo_size(image) -> str:
    height, width = image.shape[:2]
    return f"{width}x{height}"


def segment_once(photo: Path, model: str, options: list[str] = ()) -> float:
    """Seconds from launch to exit of one ``retinaseg segment`` process (``options``
    added to its command line)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as folder:
        argv = [sys.executable, "-c", CLI, "segment", str(photo), "--model", model,
                "--out", str(Path(folder) / "out"), *options]
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"retinaseg segment --model {model} failed: {done.stderr.strip()}")
    return seconds


def alternated(models: list[str], runs: int, once) -> dict[str, list[float]]:
    """``once(model)`` for every model in turn, ``runs`` rounds."""
    seconds: dict[str, list[float]] = {m: [] for m in models}
    for _ in range(runs):
        for model in models:
            seconds[model].append(once(model))
    return seconds


def forward_timer(image, models: list[str]):
    """A ``once(model)`` timing the bare forward pass on the photo's working tensor."""
    import torch

    fov = estimate_fov(image)
    inputs = {}
    for model in models:
        bundle = load_model(model)
        work_image, work_fov = working_copy(bundle, image, fov)
        x = preprocess(work_image, work_fov, bundle.meta.preprocess)
        inputs[model] = (bundle, torch.from_numpy(x))
        predict_on_device(bundle.module, inputs[model][1], "none", None)  # warm-up

    def once(model: str) -> float:
        bundle, x = inputs[model]
        started = time.perf_counter()
        predict_on_device(bundle.module, x, "none", None)
        return time.perf_counter() - started

    shapes = {m: list(x.shape) for m, (_, x) in inputs.items()}
    return once, shapes


def summary(seconds: dict[str, list[float]]) -> dict:
    models = list(seconds)
    medians = {m: statistics.median(s) for m, s in seconds.items()}
    return {"median_s": medians, "all_s": seconds,
            "ratio": medians[models[0]] / medians[models[1]]}


def markdown(result: dict) -> str:
    first, second = result["models"]
    rows = []
    for label, key in (("whole process (`retinaseg segment`)", "whole_process"),
                       ("forward only (one process)", "forward")):
        part = result[key]
        rows.append([label, result["runs"] if key == "whole_process" else result["forward_runs"],
                     f"{part['median_s'][first]:.3f}", f"{part['median_s'][second]:.3f}",
                     f"{part['ratio']:.3f}"])
    table = markdown_table(["measure", "runs each", f"`{first}` median s",
                            f"`{second}` median s", "ratio"], rows, align="lrrrr")
    shapes = ", ".join(f"`{m}` {s}" for m, s in result["input_shapes"].items())
    return (f"# `{first}` against `{second}` on a {result['photo_dataset'].upper()}-size "
            f"photo\n\n{provenance_markdown(result)}- photo: {result['photo']} "
            f"({result['photo_size']}, FOV estimated)\n"
            f"- OMP_NUM_THREADS: {result['omp_num_threads']}; load average before / after: "
            f"{result['load_before']} / {result['load_after']}\n"
            f"- working tensors: {shapes}\n\n{table}\n\n"
            f"- ratio = `{first}` / `{second}` medians, measured in this run with the models "
            f"alternated; under 1 (or within the spread of the runs) means not slower\n")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs=2, default=["general", "unet-drive"],
                        help="two shipped names or checkpoint paths (the ratio is first/second)")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--photo", default="drive", choices=("drive", "chase_db1", "hrf"),
                        help="whose first test photo to segment (drive: the rule's size)")
    parser.add_argument("--runs", type=int, default=5, help="whole-process runs of each model")
    parser.add_argument("--forward-runs", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "general_speed"))
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = clean_provenance(ROOT, args.allow_dirty)
    photo = test_photo(args.photo, args.data_root)
    load_before = [round(x, 2) for x in os.getloadavg()]
    whole = alternated(args.models, args.runs, lambda m: segment_once(photo, m))
    image = read_photo(photo).rgb
    once, shapes = forward_timer(image, args.models)
    forward = alternated(args.models, args.forward_runs, once)
    result.update(models=args.models, photo=str(photo), photo_dataset=args.photo,
                  photo_size=photo_size(image), runs=args.runs,
                  forward_runs=args.forward_runs, input_shapes=shapes,
                  omp_num_threads=os.environ.get("OMP_NUM_THREADS"), load_before=load_before,
                  load_after=[round(x, 2) for x in os.getloadavg()],
                  whole_process=summary(whole), forward=summary(forward))
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
