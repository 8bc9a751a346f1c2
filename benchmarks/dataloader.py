"""DataLoader workers: whole-process time of one short real training run with
``num_workers`` 0, 1 and 2, and of the same run on the code before the
DataLoader (``--baseline COMMIT``), which built every batch in the main process.

    python benchmarks/dataloader.py --data-root ../shared/data --baseline 51a0f91

Every case is ``python -m retinaseg train`` in a fresh process (OMP_NUM_THREADS=1,
``threads=1``, so a worker has a core of its own on a 2-core machine); cases
are interleaved over the repeats so that a change in the machine's load falls
on all of them. Besides wall time, the CPU time (user + system) of the process
and its workers. Writes benchmarks/results/dataloader.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from common import provenance, provenance_markdown, write_result  # noqa: E402

# A short real run: DRIVE, a small U-Net, 3 epochs of 144 crops, validation every epoch.
RUN = ["model.kwargs={base_channels: 8, depth: 3}", "data.crop_size=96",
       "data.crops_per_image=8", "data.batch_size=8", "epochs=3", "threads=1", "progress=false"]

CLI = "import sys; from retinaseg.cli import main; sys.exit(main(sys.argv[1:]))"


def time_training(src: Path, data_root: str, overrides: list[str], env_extra=None) -> dict:
    """Wall and CPU seconds of ``retinaseg train`` run from ``src`` in a fresh process."""
    with tempfile.TemporaryDirectory() as out:
        settings = [arg for item in [*RUN, *overrides] for arg in ("--set", item)]
        # The CLI's main() rather than ``-m retinaseg``: older sources have no __main__.py.
        command = [sys.executable, "-c", CLI, "train", "--data-root", data_root,
                   "--out", out, *settings]
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", **(env_extra or {})}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            raise SystemExit(f"training failed:\n{done.stderr[-2000:]}")
        log = (Path(out) / "log.csv").read_text().splitlines()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    epoch_seconds = [float(line.rsplit(",", 1)[1]) for line in log[1:]]
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "train_seconds_logged": epoch_seconds[-1], "first_row": log[1], "final_row": log[-1],
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def baseline_source(commit: str, into: Path) -> Path:
    """The package's sources at ``commit`` (``git archive``), to run the old code."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def cases(baseline: str | None) -> list[tuple[str, str | None, list[str]]]:
    """(name, commit or None for this tree, extra overrides)."""
    rows = [(f"before the DataLoader ({baseline})", baseline, [])] if baseline else []
    return rows + [(f"num_workers {n}", None, [f"num_workers={n}"]) for n in (0, 1, 2)]


def markdown(result: dict) -> str:
    lines = ["# DataLoader workers: whole-process time of a short training run", "",
             provenance_markdown(result),
             f"Run: DRIVE training split, `{' '.join(RUN)}`; each case {result['repeats']} times, "
             "interleaved; median wall time. CPU time counts the workers too.", "",
             "| case | wall s (median) | wall s (all) | CPU s (median) | vs num_workers 0 |",
             "|---|---:|---:|---:|---:|"]
    reference = result["cases"]["num_workers 0"]["wall_median_s"]
    for name, case in result["cases"].items():
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in case["runs"])
        lines.append(f"| {name} | {case['wall_median_s']:.1f} | {walls} | "
                     f"{case['cpu_median_s']:.1f} | {case['wall_median_s'] / reference:.2f}x |")
    lines += ["", "Load average (1 min) at the start of each run: "
              + ", ".join(f"{r['load_average_at_start']}" for c in result["cases"].values()
                          for r in c["runs"]), ""]
    return "\n".join(lines)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--baseline", help="commit to time as the code before the DataLoader")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        old_src = baseline_source(args.baseline, Path(scratch)) if args.baseline else None
        for _ in range(args.repeats):
            for name, commit, overrides in cases(args.baseline):
                src = old_src if commit else ROOT / "src"
                runs.setdefault(name, []).append(time_training(src, args.data_root, overrides))
                print(name, runs[name][-1], flush=True)
    result = {**provenance(ROOT), "run": RUN, "repeats": args.repeats, "cases": {
        name: {"wall_median_s": _median([r["wall_s"] for r in rows]),
               "cpu_median_s": _median([r["cpu_s"] for r in rows]), "runs": rows}
        for name, rows in runs.items()}}
    write_result(ROOT / "benchmarks" / "results" / "dataloader", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
