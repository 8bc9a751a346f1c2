"""Does the thread a network runs in change its time? The reference U-Net on PyTorch and
`general` on onnxruntime, each from the main thread and from a worker thread.

    python benchmarks/reference_thread.py --data-root ../shared/data [--rounds 3] [--runs 5]

Each round is a fresh process per backend (start-up not counted): the warm median of
``--runs`` passes after a warm-up, from the main thread, then from a worker thread, in
the same process. PyTorch: speed_stages.py's reference U-Net on 1x1x592x576 with
``--threads`` threads; onnxruntime: `general`'s session alone on DRIVE test photo 01's
input, the package's session options. Writes benchmarks/results/reference_thread.{md,json}.
"""
from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from common import add_dirty_option, clean_provenance, provenance_markdown, write_result
from speed_stages import json_from_fresh_process

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def in_main_and_worker(once, runs: int) -> dict[str, float]:
    import threading

    from speed_stages import median_seconds

    timed = {"main_thread_s": median_seconds(once, runs)}
    worker = threading.Thread(target=lambda: timed.update(
        worker_thread_s=median_seconds(once, runs)))
    worker.start()
    worker.join()
    return timed


def torch_reference(runs: int, threads: int) -> dict[str, float]:
    import torch
    from speed_stages import REFERENCE_SHAPE, reference_unet

    torch.set_num_threads(threads)
    model, x = reference_unet(), torch.randn(REFERENCE_SHAPE)

    def once():
        with torch.inference_mode():
            model(x)
    return in_main_and_worker(once, runs)


def onnxruntime_general(runs: int, threads: int, data_root: str) -> dict[str, float]:
    from retinaseg.data import load_dataset
    from retinaseg.data.fov import estimate_fov
    from retinaseg.data.io import read_photo
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.working import working_input

    model = load_model("general", "cpu", "onnxruntime", threads=threads)
    image = read_photo(load_dataset("drive", "test", data_root).files[0].image).rgb
    x = working_input(model, image, estimate_fov(image))[None]
    session = model.module.session
    return in_main_and_worker(lambda: session.run(None, {"image": x}), runs)


def fresh_process(kind: str, runs: int, threads: int, data_root: str) -> dict[str, float]:
    call = (f"torch_reference({runs}, {threads})" if kind == "torch" else
            f"onnxruntime_general({runs}, {threads}, {data_root!r})")
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); "
            f"from reference_thread import *; print(json.dumps({call}))")
    return json_from_fresh_process(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--otherwise-idle", action="store_true",
                        help="say in the result that nothing else ran")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reference_thread"))
    add_dirty_option(parser)
    args = parser.parse_args()
    provenance = clean_provenance(ROOT, args.allow_dirty)
    rounds = {"torch": [], "onnxruntime": []}
    for _ in range(args.rounds):
        for kind in rounds:
            rounds[kind].append(fresh_process(kind, args.runs, args.threads, args.data_root))
    medians = {kind: {key: statistics.median(r[key] for r in values) for key in values[0]}
               for kind, values in rounds.items()}
    result = {**provenance, "threads": args.threads, "runs": args.runs, "rounds": args.rounds,
              "load_average_after": os.getloadavg(), "otherwise_idle": args.otherwise_idle,
              "medians_s": medians, "all_s": rounds}
    write_result(Path(args.out), result, markdown(result))


def markdown(result: dict) -> str:
    from retinaseg.io.tables import markdown_table

    names = {"torch": "reference U-Net, PyTorch, 1x1x592x576",
             "onnxruntime": "`general`, onnxruntime, DRIVE photo 01"}
    rows = [[names[kind], f"{m['main_thread_s'] * 1000:.0f}",
             f"{m['worker_thread_s'] * 1000:.0f}",
             f"{m['main_thread_s'] / m['worker_thread_s']:.2f}"]
            for kind, m in result["medians_s"].items()]
    table = markdown_table(["network", "main thread ms", "worker thread ms", "main / worker"],
                           rows, align="lrrr")
    load = ("The machine was otherwise idle." if result["otherwise_idle"] else
            f"Other work shared the machine (load average {result['load_average_after'][0]:.1f} "
            "after the run); both threads were timed in the same process, one after the other.")
    return (f"# The thread a network runs in\n\n{provenance_markdown(result)}\n"
            f"{result['threads']} threads; warm medians of {result['runs']} passes, median "
            f"over {result['rounds']} fresh processes per backend. {load}\n\n{table}\n")


if __name__ == "__main__":
    main()
