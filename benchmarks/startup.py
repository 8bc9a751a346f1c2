"""Command-line start-up: whole-process times of the light verbs against a bare
``python -c "import torch"``, measured in the same run.

    python benchmarks/startup.py --data-root ../shared/data [--runs 10] [--baseline 51a0f91]

Each command is a fresh process, run ``--runs`` times in rotation (so a burst of
load on a shared machine hits every command alike); min and median wall-clock
seconds are reported. ``retinaseg ARGS`` is run as its console script does
(``from retinaseg.cli import main``) against this tree's ``src/``. With
``--baseline COMMIT``, the same verbs are also timed on that commit's ``src/``
(extracted with ``git archive``) for a before/after comparison.
Writes benchmarks/results/startup.{json,md}.
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

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from retinaseg.cli import main; sys.exit(main())"


def commands(data_root: str) -> list[tuple[str, list[str]]]:
    """(label, argv after the interpreter) of every command timed."""
    return [
        ("python -c pass", ["-c", "pass"]),
        ('python -c "import torch"', ["-c", "import torch"]),
        ('python -c "import retinaseg"', ["-c", "import retinaseg"]),
        ("retinaseg --help", ["-c", CLI, "--help"]),
        ("retinaseg models", ["-c", CLI, "models"]),
        ("retinaseg datasets", ["-c", CLI, "datasets", "--data-root", data_root]),
    ]


def time_once(argv: list[str], src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(cases: list[tuple[str, str, list[str], Path]], runs: int) -> list[dict]:
    """Every case ``runs`` times, in rotation; min and median seconds of each."""
    seconds: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    for _ in range(runs):
        for i, (_, _, argv, src) in enumerate(cases):
            seconds[i].append(time_once(argv, src))
    return [{"command": label, "code": code, "runs": runs, "min_s": min(seconds[i]),
             "median_s": statistics.median(seconds[i]), "all_s": seconds[i]}
            for i, (label, code, _, _) in enumerate(cases)]


def baseline_src(commit: str, folder: Path) -> Path:
    """``commit``'s src/ extracted into ``folder`` (nothing in the work tree changes)."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def markdown(result: dict) -> str:
    from common import provenance_markdown

    rows = result["rows"]
    torch_row = next(r for r in rows if r["command"] == 'python -c "import torch"')
    table = ("| command | code | min (s) | median (s) | median / `import torch` |\n"
             "|---|---|---|---|---|\n")
    table += "".join(f"| `{r['command']}` | {r['code']} | {r['min_s']:.2f} | "
                     f"{r['median_s']:.2f} | {r['median_s'] / torch_row['median_s']:.2f} |\n"
                     for r in rows)
    return (f"# Command-line start-up\n\n{provenance_markdown(result)}\n"
            f"Whole-process wall-clock times, {result['runs']} runs of each command in "
            f"rotation, min and median. `retinaseg ARGS` runs what the console script runs "
            f"(`from retinaseg.cli import main`). Code `{result['commit'][:7]}` is this "
            f"tree; a baseline commit, where given, is the same verbs before the change. "
            f"The machine is shared, so medians vary from run to run; the ratio to "
            f"`import torch` in the same run is the comparable figure.\n\n{table}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", help="also time the verbs at this commit")
    args = parser.parse_args(argv)
    from common import provenance, write_result

    result = provenance(ROOT)
    here = result["commit"][:7]
    with tempfile.TemporaryDirectory() as folder:
        cases = [(label, here, code, ROOT / "src") for label, code in commands(args.data_root)]
        if args.baseline:
            old = baseline_src(args.baseline, Path(folder))
            cases += [(label, args.baseline[:7], code, old)
                      for label, code in commands(args.data_root)[2:]]
        rows = measure(cases, args.runs)
    result.update(runs=args.runs, baseline=args.baseline, rows=rows)
    write_result(ROOT / "benchmarks/results/startup", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
