"""What ``retinaseg segment`` says when it is done: counts, skipped files, files written."""
from __future__ import annotations

from pathlib import Path

MAX_NAMED = 10  # skipped files named on a line; the rest are in results.csv


def named(rows_or_inputs, limit: int = MAX_NAMED) -> str:
    """``a.txt, b.doc`` and ``and N more``: file names, short enough for one line."""
    names = [Path(getattr(x, "file", None) or x["file"]).name for x in rows_or_inputs]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def skipped_line(skipped: list, formats: str) -> str:
    """One stderr line, before the job runs, naming the files that are not photos."""
    return (f"retinaseg: skipping {len(skipped)} file{'s' * (len(skipped) != 1)} that "
            f"{'are' if len(skipped) != 1 else 'is'} not a photo ({formats}): {named(skipped)}")


def final_line(result, model: str, out_dir, written: list[Path], pictures: int) -> str:
    """``segmented 6 of 7 files with general into out/ (6 in this run); 1 skipped:
    notes.txt; wrote results.csv, results.jsonl, report.html and 6 mask pictures``."""
    rows = result.rows
    done = sum(row["status"] == "ok" for row in rows)
    line = (f"segmented {done} of {len(rows)} files with {model} into {Path(out_dir)}/ "
            f"({result.segmented - len(result.skipped)} in this run)")
    if result.skipped:
        line += f"; {len(result.skipped)} skipped: {named(result.skipped)}"
    files = [Path(p).name for p in written]
    if pictures:
        files.append(f"{pictures} picture{'s' * (pictures != 1)}")
    shown = ", ".join(files[:-1]) + (" and " if len(files) > 1 else "") + files[-1]
    return f"{line}; wrote {shown}"
