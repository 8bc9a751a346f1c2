"""Every stage of one photo timed on both backends, and the whole-process targets of
the onnxruntime backend, measured in one run on one machine.

    python benchmarks/speed_stages.py --data-root ../shared/data [--runs 5] [--threads 2]

Measured, each against a reference measured in the same run:

- **reference**: one fp32 forward pass of a fixed plain U-Net (16 channels, depth 4,
  conv-BN-ReLU twice per level, defined below, not the package's) on a 1x1x592x576
  input in PyTorch with ``--threads`` threads, warm: median of ``--runs`` after a
  warm-up pass, in a fresh process in every round of the whole-process timings (same
  load as they), its start-up not counted, the faster of the main thread and a worker
  thread (PyTorch ran it 2-3x faster from a worker thread here); the cold first pass is
  recorded beside it;
- **stages** of DRIVE test photo 01 in one process, per backend (median of
  ``--runs``): decode, FOV, quality gate, working scale, preprocessing, network
  (TTA views and the resize back included), cut, post-processing, quality signals,
  measurements, picture encoding (the default ``--save mask``; prob and overlay
  shown apart) and the table row;
- **marginal cost** of a DRIVE photo in a ``retinaseg segment`` run of the 20 test
  photos, ``(T(20) - T(1)) / 19`` from whole processes (fresh output folders), per
  backend, / the reference (target <= 0.5);
- **start-up**: ``retinaseg segment`` of one DRIVE photo on onnxruntime, whole
  process, / ``python -c "import torch"`` (target <= 0.5), runs alternated;
- **cohorts**: the 20 photos with ``--jobs 2`` (steady rate ``19 / (T(20) - T(1))``,
  and the whole process's ``20 / T(20)``) / the rate of bare forward passes of the
  same network on the same photos' working tensors, back to back in one process
  with ``--threads`` threads (target >= 0.8).

The shipped default model (``general``) runs with its own settings. Torch threads
and onnxruntime's follow ``--threads``. Writes benchmarks/results/speed_stages.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from retinaseg.cli import main; sys.exit(main())"
MODEL = "general"
REFERENCE_SHAPE = (1, 1, 592, 576)  # DRIVE's 584x565 padded to the U-Net's stride 16
IDLE_NOTE = ("The machine was otherwise idle: other work on it was paused for the whole "
             "run.")
SHARED_NOTE = ("Other work may have run on the machine: ratios of runs that use every core "
               "then carry its share.")


def reference_unet():
    """The fixed plain U-Net the targets are stated against (not the package's)."""
    import torch
    import torch.nn as nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class PlainUNet(nn.Module):
        def __init__(self, base=16, depth=4):
            super().__init__()
            widths = [base * 2 ** i for i in range(depth + 1)]
            self.down = nn.ModuleList([block(1, widths[0])] + [
                block(widths[i], widths[i + 1]) for i in range(depth)])
            self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, 2)
                                     for i in reversed(range(depth))])
            self.merge = nn.ModuleList([block(2 * widths[i], widths[i])
                                        for i in reversed(range(depth))])
            self.head = nn.Conv2d(widths[0], 1, 1)

        def forward(self, x):
            skips = []
            for i, down in enumerate(self.down):
                x = down(x if i == 0 else nn.functional.max_pool2d(x, 2))
                skips.append(x)
            for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
                x = merge(torch.cat([up(x), skip], 1))
            return self.head(x)

    torch.manual_seed(0)
    return PlainUNet().eval()


def median_seconds(once, runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        once()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def reference_forward(runs: int) -> dict[str, float]:
    """The reference pass on a warm model (median of ``runs`` after a warm-up pass) and
    the first pass of this process (``cold``), import and model building not counted,
    both in this (the main) thread; ``thread_s``: the warm median again, called from a
    worker thread. On this project's 2-core machine PyTorch ran this model 2-3x faster
    from a worker thread than from the main one (benchmarks/results/reference_thread.md);
    the package runs its network in one, so the reference is the faster of the two."""
    import threading

    import torch

    model, x = reference_unet(), torch.randn(REFERENCE_SHAPE)

    def once():
        with torch.inference_mode():
            model(x)
    started = time.perf_counter()
    once()
    cold = time.perf_counter() - started
    main = median_seconds(once, runs, warmup=1)
    from_thread = {}
    worker = threading.Thread(target=lambda: from_thread.update(
        s=median_seconds(once, runs, warmup=1)))
    worker.start()
    worker.join()
    return {"warm_s": min(main, from_thread["s"]), "main_thread_s": main,
            "thread_s": from_thread["s"], "cold_s": cold}


def stage_times(photo: Path, backend: str, runs: int, threads: int) -> dict[str, float]:
    """Median seconds of each stage of one photo, as a cohort worker runs them."""
    from retinaseg.cohort.table import ResultsTable
    from retinaseg.cohort.worker import (
        JobSpec, measurement_columns, quality_columns, table_columns, write_pictures)
    from retinaseg.data.fov import estimate_fov
    from retinaseg.data.io import read_photo
    from retinaseg.data.preprocess import preprocess
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.cut import image_cut
    from retinaseg.pipeline.maps import _native_maps
    from retinaseg.pipeline.working import working_copy
    from retinaseg.pipeline.postprocess import postprocess_mask
    from retinaseg.pipeline.settings import resolve_settings
    from retinaseg.quality.gate import check_fundus

    model = load_model(MODEL, "cpu", backend, threads=threads)
    settings = resolve_settings(model)
    photo_read = read_photo(photo)
    image, valid = photo_read.rgb, photo_read.valid
    fov = estimate_fov(image, valid)
    work_image, work_fov = working_copy(model, image, fov)
    x = preprocess(work_image, work_fov, model.meta.preprocess)
    prob = _native_maps(model, x, fov.shape, settings)[0]
    prob[~fov] = 0
    cut = image_cut(settings.rule, prob, fov, model.meta.threshold)
    mask = postprocess_mask(prob, cut, fov, settings.postprocess)
    gate = check_fundus(image, fov)  # the verdict reuses the gate's signals, as a job does
    row = {"file": str(photo), "name": "p", "status": "ok"}
    out = Path(tempfile.mkdtemp())
    spec = JobSpec(MODEL, str(out))

    table = ResultsTable(out / "t", table_columns()).__enter__()  # open, as a job keeps it

    def table_row():
        table.append({**row, "file": f"p{time.perf_counter_ns()}"})

    steps = {
        "decode": lambda: read_photo(photo),
        "FOV": lambda: estimate_fov(image, valid),
        "quality gate": lambda: check_fundus(image, fov),
        "working scale": lambda: working_copy(model, image, fov),
        "preprocessing": lambda: preprocess(work_image, work_fov, model.meta.preprocess),
        "network": lambda: _native_maps(model, x, fov.shape, settings),
        "cut": lambda: image_cut(settings.rule, prob, fov, model.meta.threshold),
        "post-processing": lambda: postprocess_mask(prob, cut, fov, settings.postprocess),
        "quality signals": lambda: quality_columns(image, fov, prob, cut, gate),
        "measurements": lambda: measurement_columns(mask, fov, dict(row)),
        "picture encoding (mask)": lambda: write_pictures(spec, "p", image, prob,
                                                          {"vessel": mask}, fov),
        "table row": table_row,
    }
    times = {name: median_seconds(step, runs) for name, step in steps.items()}
    table.__exit__(None, None, None)
    for kind in ("prob", "overlay"):  # not written by default: shown apart
        extra = JobSpec(MODEL, str(out), save=(kind,))
        times[f"({kind} picture, not default)"] = median_seconds(
            lambda extra=extra: write_pictures(extra, "p", image, prob, {"vessel": mask}, fov),
            runs)
    return times


def segment_process(photos: list[Path], backend: str, jobs: int = 1,
                    threads: int = 2) -> float:
    """Wall seconds of one ``retinaseg segment`` process over ``photos``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as folder:
        argv = [sys.executable, "-c", CLI, "segment", *map(str, photos), "--model", MODEL,
                "--backend", backend, "--device", "cpu", "--out", str(Path(folder) / "out"),
                "--jobs", str(jobs)]
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"segment failed: {done.stderr.strip()[-2000:]}")
    return seconds


def reference_process(runs: int, threads: int) -> dict[str, float]:
    """:func:`reference_forward` in a fresh process, so that it is measured in the same
    rounds, under the same load, as the whole processes, without their start-up."""
    code = (f"import sys, json, torch; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"torch.set_num_threads({threads}); import speed_stages; "
            f"print(json.dumps(speed_stages.reference_forward({runs})))")
    return json_from_fresh_process(code)


def json_from_fresh_process(code: str):
    """What ``code``, run by a fresh interpreter with the tree's ``src`` on its path,
    prints as JSON on its last line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_torch() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - started


def bare_forward_rate(photos: list[Path], backend: str, threads: int) -> float:
    """Photos per second of the network alone, back to back, on their working tensors."""
    from retinaseg.data.fov import estimate_fov
    from retinaseg.data.io import read_photo
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.maps import _native_maps
    from retinaseg.pipeline.working import working_input
    from retinaseg.pipeline.settings import resolve_settings

    model = load_model(MODEL, "cpu", backend, threads=threads)
    settings = resolve_settings(model)
    inputs = []
    for photo in photos:
        image = read_photo(photo).rgb
        fov = estimate_fov(image)
        inputs.append((working_input(model, image, fov), fov.shape))
    _native_maps(model, *inputs[0], settings)  # warm-up
    started = time.perf_counter()
    for x, shape in inputs:
        _native_maps(model, x, shape, settings)
    return len(inputs) / (time.perf_counter() - started)


def onnxruntime_settings(photo: Path, runs: int) -> list[dict]:
    """The network alone on one photo under onnxruntime's thread, spinning and graph
    optimisation settings (the package uses ALL, one thread per core, spinning on)."""
    import onnxruntime as ort

    from retinaseg.data.fov import estimate_fov
    from retinaseg.data.io import read_photo
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.working import working_input

    model = load_model(MODEL, "cpu", "onnxruntime")
    image = read_photo(photo).rgb
    x = working_input(model, image, estimate_fov(image))[None]
    data, levels = Path(model.graph).read_bytes(), ort.GraphOptimizationLevel
    rows = []
    for threads, spinning, level in [(1, "1", "ALL"), (2, "1", "ALL"), (2, "0", "ALL"),
                                     (1, "1", "EXTENDED"), (1, "1", "BASIC")]:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        options.graph_optimization_level = getattr(levels, f"ORT_ENABLE_{level}")
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        seconds = median_seconds(lambda: session.run(["probability"], {"image": x}), runs)
        rows.append({"threads": threads, "spinning": spinning == "1", "level": level,
                     "seconds": seconds})
    return rows


def alternated(cases: dict, runs: int) -> dict[str, list[float]]:
    seconds = {name: [] for name in cases}
    for _ in range(runs):
        for name, once in cases.items():
            seconds[name].append(once())
    return seconds


def whole_process(photos: list[Path], runs: int, threads: int, forward_runs: int) -> dict:
    one, cold, main, threaded = photos[:1], [], [], []

    def reference_round() -> float:
        times = reference_process(forward_runs, threads)
        cold.append(times["cold_s"])
        main.append(times["main_thread_s"])
        threaded.append(times["thread_s"])
        return times["warm_s"]
    cases = {"reference forward": reference_round}
    for backend in ("onnxruntime", "torch"):
        cases[f"{backend} 1"] = lambda b=backend: segment_process(one, b, threads=threads)
        cases[f"{backend} 20"] = lambda b=backend: segment_process(photos, b, threads=threads)
    cases["onnxruntime jobs2 1"] = lambda: segment_process(one, "onnxruntime", 2, 1)
    cases["onnxruntime jobs2 20"] = lambda: segment_process(photos, "onnxruntime", 2, 1)
    cases["import torch"] = import_torch
    seconds = alternated(cases, runs)
    return {name: statistics.median(values) for name, values in seconds.items()} | {
        "reference forward, cold": statistics.median(cold),
        "reference forward, main thread": statistics.median(main),
        "reference forward, worker thread": statistics.median(threaded),
        "all_s": seconds | {"reference forward, cold": cold,
                            "reference forward, main thread": main,
                            "reference forward, worker thread": threaded}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs", type=int, default=5, help="runs of each in-process timing")
    parser.add_argument("--process-runs", type=int, default=3,
                        help="runs of each whole-process timing (alternated)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "speed_stages"))
    parser.add_argument("--otherwise-idle", action="store_true",
                        help="say in the result that nothing else ran (e.g. other work paused)")
    add_dirty_option(parser)
    args = parser.parse_args()
    provenance = clean_provenance(ROOT, args.allow_dirty)
    import torch

    torch.set_num_threads(args.threads)
    from retinaseg.data import load_dataset

    photos = [f.image for f in load_dataset("drive", "test", args.data_root).files]
    load_before = os.getloadavg()
    stages = {b: stage_times(photos[0], b, args.runs, args.threads)
              for b in ("onnxruntime", "torch")}
    rates = {b: bare_forward_rate(photos, b, args.threads) for b in ("onnxruntime", "torch")}
    ort_settings = onnxruntime_settings(photos[0], args.runs)
    processes = whole_process(photos, args.process_runs, args.threads, args.runs)
    reference = processes["reference forward"]  # measured in the rounds of the processes
    result = {**provenance, "model": MODEL, "threads": args.threads, "runs": args.runs,
              "process_runs": args.process_runs, "photos": len(photos), "note": IDLE_NOTE if args.otherwise_idle else SHARED_NOTE,
              "load_average_before_after": [load_before, os.getloadavg()],
              "reference_forward_s": reference,
              "reference_forward_cold_s": processes["reference forward, cold"],
              "stages_s": stages,
              "bare_forward_photos_per_s": rates, "processes_s": processes,
              "onnxruntime_settings": ort_settings,
              "targets": targets(reference, processes, rates, len(photos))}
    write_result(Path(args.out), result, markdown(result))


def targets(reference: float, processes: dict, rates: dict, count: int) -> dict:
    marginal = {b: (processes[f"{b} 20"] - processes[f"{b} 1"]) / (count - 1)
                for b in ("onnxruntime", "torch")}
    steady = (count - 1) / (processes["onnxruntime jobs2 20"] - processes["onnxruntime jobs2 1"])
    whole = count / processes["onnxruntime jobs2 20"]
    return {"marginal_s": marginal,
            "marginal_over_reference": {b: m / reference for b, m in marginal.items()},
            "startup_over_import_torch": processes["onnxruntime 1"] / processes["import torch"],
            "jobs2_steady_photos_per_s": steady, "jobs2_whole_photos_per_s": whole,
            "jobs2_steady_over_bare": steady / rates["onnxruntime"],
            "jobs2_whole_over_bare": whole / rates["onnxruntime"]}


def markdown(result: dict) -> str:
    from retinaseg.io.tables import markdown_table

    ref, t = result["reference_forward_s"], result["targets"]
    load = result["load_average_before_after"]
    stages = result["stages_s"]
    rows = [[name, f"{stages['onnxruntime'][name] * 1000:.1f}",
             f"{stages['torch'][name] * 1000:.1f}",
             f"{stages['onnxruntime'][name] / stages['onnxruntime']['network']:.2f}"]
            for name in stages["onnxruntime"]]
    default = [n for n in stages["onnxruntime"] if not n.startswith("(")]
    rest = sum(stages["onnxruntime"][n] for n in default if n != "network")
    stage_table = markdown_table(["stage", "onnxruntime ms", "torch ms",
                                  "onnxruntime / its network"], rows, align="lrrr")
    p = result["processes_s"]
    target_rows = [
        ["marginal cost of a DRIVE photo, onnxruntime / reference", "<= 0.5",
         f"{t['marginal_over_reference']['onnxruntime']:.2f}",
         f"{t['marginal_s']['onnxruntime']:.3f} s vs {ref:.3f} s"],
        ["the same, torch backend / reference", "(for comparison)",
         f"{t['marginal_over_reference']['torch']:.2f}", f"{t['marginal_s']['torch']:.3f} s"],
        ["start-up: segment 1 photo on onnxruntime / `import torch`", "<= 0.5",
         f"{t['startup_over_import_torch']:.2f}",
         f"{p['onnxruntime 1']:.2f} s vs {p['import torch']:.2f} s"],
        ["`--jobs 2` steady rate / bare forward passes", ">= 0.8",
         f"{t['jobs2_steady_over_bare']:.2f}",
         f"{t['jobs2_steady_photos_per_s']:.2f} vs "
         f"{result['bare_forward_photos_per_s']['onnxruntime']:.2f} photos/s"],
        ["`--jobs 2` whole process (start-up in) / bare forward passes", "(for comparison)",
         f"{t['jobs2_whole_over_bare']:.2f}", f"{t['jobs2_whole_photos_per_s']:.2f} photos/s"],
        ["everything but the network / the network (one photo, onnxruntime)", "<= 0.2",
         f"{rest / stages['onnxruntime']['network']:.2f}",
         f"{rest * 1000:.0f} ms vs {stages['onnxruntime']['network'] * 1000:.0f} ms"],
    ]
    targets_table = markdown_table(["measure", "target", "measured", "from"], target_rows,
                                   align="llrl")
    settings = markdown_table(
        ["intra-op threads", "spinning", "graph optimisation", "network ms"],
        [[r["threads"], "on" if r["spinning"] else "off", r["level"],
          f"{r['seconds'] * 1000:.0f}"] for r in result["onnxruntime_settings"]], "rllr")
    processes = markdown_table(["process", "median s"],
                               [[k, f"{v:.2f}"] for k, v in p.items() if k != "all_s"], "lr")
    return (f"# Speed: every stage of a photo, both backends\n\n{provenance_markdown(result)}\n"
            f"Model `{result['model']}` with its own settings, {result['threads']} threads, "
            f"DRIVE test photos ({result['photos']}). Reference: the fixed plain 16-channel "
            f"U-Net of `benchmarks/speed_stages.py` on 1x1x592x576, fp32, PyTorch: "
            f"**{ref * 1000:.0f} ms**, warm: the median of {result['runs']} passes after a "
            f"warm-up pass, in a fresh process each round of the whole processes (its start-up "
            f"not counted), the faster of the main thread's and a worker thread's "
            f"({p.get('reference forward, main thread', ref) * 1000:.0f} and "
            f"{p.get('reference forward, worker thread', ref) * 1000:.0f} ms), median over "
            f"the rounds; the first pass of each of those processes (cold) took "
            f"{result['reference_forward_cold_s'] * 1000:.0f} ms. Load average "
            f"{load[0][0]:.1f} before and {load[1][0]:.1f} after the run, on "
            f"{result['machine']['cores']} cores. {result.get('note', '')}\n\n"
            f"## Targets\n\n{targets_table}\n\n"
            f"## Stages of DRIVE photo 01 (median of {result['runs']})\n\n"
            "Each stage alone, one after another. A serial `segment` job runs the next "
            "photo's reading and network in a thread while this one is measured and "
            "written, so its marginal cost above can be less than the stages' sum.\n\n"
            f"{stage_table}\n\n"
            f"Bare forward passes (network, TTA and resize back; working tensors ready): "
            f"onnxruntime {result['bare_forward_photos_per_s']['onnxruntime']:.2f}, torch "
            f"{result['bare_forward_photos_per_s']['torch']:.2f} photos/s.\n\n"
            f"## onnxruntime settings (DRIVE photo 01, the network alone)\n\n{settings}\n\n"
            f"## Whole processes (median of {result['process_runs']}, alternated)\n\n"
            f"{processes}\n")


if __name__ == "__main__":
    main()
