"""Run (or finish) a training study and record its table in benchmarks/results/.

    python benchmarks/study_result.py --study configs/study-cpu.yaml --data-root ../shared/data

Trains and evaluates every run the study plans that is not finished yet (see
src/retinaseg/study/; a finished study only has its table rewritten, in
seconds), then writes ``benchmarks/results/<study name>/`` (``study-cpu.yaml``
-> ``study_cpu/``): ``study.md`` with this command's commit and machine above
the study's own table and sittings, ``study.csv`` and ``sessions.json``. The
per-run reports stay in the study's run folder: they show dataset photos, which
must not be committed, so the links in ``study.md`` point there.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from common import add_dirty_option, clean_provenance, provenance_markdown

from retinaseg.study import (
    SESSIONS_FILE,
    load_study,
    planned_runs,
    run_row,
    run_study,
    study_markdown,
)

ROOT = Path(__file__).resolve().parents[1]


def result_folder(study_path: Path) -> Path:
    return ROOT / "benchmarks" / "results" / study_path.stem.replace("-", "_")


def finished_rows(study) -> list[dict]:
    return [row for run in planned_runs(study) for row in [run_row(study, run)] if row]


def record(study, header: dict, out: Path) -> int:
    """Copy the finished study's table into ``out`` under this command's provenance."""
    rows = finished_rows(study)
    out.mkdir(parents=True, exist_ok=True)
    note = f"Per-run links are relative to the study folder `{study.out_dir}`.\n\n"
    (out / "study.md").write_text(f"- recorded by:\n{provenance_markdown(header)}\n{note}"
                                  + study_markdown(study, rows))
    shutil.copyfile(study.out_dir / "study.csv", out / "study.csv")
    shutil.copyfile(study.out_dir / SESSIONS_FILE, out / SESSIONS_FILE)
    return len(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True, type=Path, help="study YAML")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--runs", help="the study's run folder (default: its out_dir)")
    parser.add_argument("--out", type=Path,
                        help="result folder (default benchmarks/results/<study name>)")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    header = clean_provenance(ROOT, args.allow_dirty)  # before any training
    study = load_study(args.study, args.runs)
    run_study(study, args.data_root, log=lambda line: print(line, flush=True))
    if len(finished_rows(study)) < len(planned_runs(study)):
        print("some runs are still being trained by other processes; rerun when they finish",
              file=sys.stderr)
        return 1
    out = args.out or result_folder(args.study)
    print(f"{record(study, header, out)} runs recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
