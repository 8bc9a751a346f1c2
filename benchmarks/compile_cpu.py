"""torch.compile on this CPU: the short training run of benchmarks/dataloader.py
with ``compile: false`` and ``compile: true``, whole-process time, each in a
fresh process with an empty compiler cache (a cold start, as a user's first run).

    python benchmarks/compile_cpu.py --data-root ../shared/data

Besides the whole-process time, the logged training seconds of the epochs
after the first (the compiled kernels exist by then), and the ratio of both.
Writes benchmarks/results/compile.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import tempfile

from common import provenance, provenance_markdown, write_result
from dataloader import ROOT, RUN, time_training


def measure(data_root: str, compiled: bool) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        run = time_training(ROOT / "src", data_root, [f"compile={str(compiled).lower()}"],
                            {"TORCHINDUCTOR_CACHE_DIR": cache})
    return run


def markdown(result: dict) -> str:
    off, on = result["cases"]["compile false"], result["cases"]["compile true"]
    lines = ["# torch.compile on the CPU: a short training run", "", provenance_markdown(result),
             f"Run: DRIVE training split, `{' '.join(RUN)}`; one run each, compiler cache empty.",
             "", "| case | whole process s | CPU s | epochs 2-3 s (training + validation) |",
             "|---|---:|---:|---:|"]
    for name, case in result["cases"].items():
        lines.append(f"| {name} | {case['wall_s']:.1f} | {case['cpu_s']:.1f} | "
                     f"{case['later_epochs_s']:.1f} |")
    lines += ["", f"Whole process, compiled / not: {on['wall_s'] / off['wall_s']:.2f}x; "
                  f"epochs 2-3, compiled / not: "
                  f"{on['later_epochs_s'] / off['later_epochs_s']:.2f}x "
                  "(below 1 means compiling helps).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    args = parser.parse_args(argv)
    cases = {}
    for compiled in (False, True):
        run = measure(args.data_root, compiled)
        first = float(run["first_row"].rsplit(",", 1)[1])
        run.update(first_epoch_seconds=first, later_epochs_s=round(run["train_seconds_logged"] - first, 1))
        cases[f"compile {str(compiled).lower()}"] = run
        print(compiled, run, flush=True)
    result = {**provenance(ROOT), "run": RUN, "cases": cases}
    write_result(ROOT / "benchmarks" / "results" / "compile", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
