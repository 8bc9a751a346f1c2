"""The benchmarks' own library: provenance of every result file, and writing it.

Every benchmark script imports from here (it lies beside them, so ``python
benchmarks/NAME.py`` finds it with no path edits; the tests find it through
pytest's ``pythonpath`` setting). Nothing of it ships in the package.
"""
from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from retinaseg.io.provenance import git_commit as _git_commit
from retinaseg.io.provenance import machine_info, software_versions  # noqa: F401 (re-exported)
from retinaseg.train.seeding import seed_everything  # noqa: F401 (re-exported)

# What the benchmarks write into the tree: their result files, and the leave-one-
# dataset-out runs (weights, logs and the after-training choices' results, each
# result naming the sha256 of the weights it read).
BENCHMARK_OUTPUTS = ("benchmarks/results", "benchmarks/lodo_runs", "benchmarks/loco_runs")


def git_commit(path=".") -> str:
    """The commit at ``path``; what the benchmarks write (:data:`BENCHMARK_OUTPUTS`) does
    not count, so a second benchmark run, or a step of one that writes several results,
    does not look dirty."""
    return _git_commit(path, excluded=BENCHMARK_OUTPUTS)


def script_in_tree(script: str) -> str:
    """``script`` as its path from the repository root (``benchmarks/x.py``), wherever
    it was run from, so that the command in a result file reruns from the root."""
    path = Path(script).resolve()
    repo = Path(__file__).resolve().parents[1]
    return path.relative_to(repo).as_posix() if path.is_relative_to(repo) else script


def provenance(root, commit: str | None = None) -> dict:
    """Command, commit, date and machine: what every result file must say."""
    return {"command": "python " + " ".join([script_in_tree(sys.argv[0]), *sys.argv[1:]]),
            "commit": commit if commit is not None else git_commit(root),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info()}


DIRTY_WARNING = ("- **WARNING: made with uncommitted changes; the commit above is not the "
                 "code that produced this result**\n")


def require_clean_commit(commit: str, allow_dirty: bool = False) -> str:
    """``commit``, unless it is ``-dirty`` and that was not allowed: a result must
    name code that can be checked out. Benchmarks call this before any work."""
    if commit.endswith("-dirty") and not allow_dirty:
        raise SystemExit(f"refusing to record a result at {commit}: the tree has uncommitted "
                         f"changes outside what the benchmarks write "
                         f"({', '.join(BENCHMARK_OUTPUTS)}). Commit them first, or pass "
                         "--allow-dirty (the result file then says so in bold).")
    return commit


def add_dirty_option(parser) -> None:
    """The ``--allow-dirty`` flag every benchmark takes (see :func:`require_clean_commit`)."""
    parser.add_argument("--allow-dirty", action="store_true",
                        help="record the result even with uncommitted changes (marked in it)")


def clean_provenance(root, allow_dirty: bool = False) -> dict:
    """:func:`provenance` of the tree at ``root``, refusing a ``-dirty`` commit unless allowed."""
    return provenance(root, require_clean_commit(git_commit(root), allow_dirty))


def provenance_markdown(result: dict) -> str:
    """The Markdown lines of a result's :func:`provenance`, one ``- key: value`` each,
    and a loud warning when it was made at a ``-dirty`` commit."""
    machine = result["machine"]
    warning = DIRTY_WARNING if str(result["commit"]).endswith("-dirty") else ""
    return (f"- command: `{result['command']}`\n- commit: `{result['commit']}`\n{warning}"
            f"- date: {result['date']}\n- machine: {machine['cpu']}, {machine['cores']} cores, "
            f"torch {machine['torch']}\n")


def shown_path(path, root) -> str:
    """How a result file names ``path``: by its path relative to the repository at
    ``root`` when it lies inside it (so the file reads the same on every machine), else
    as given (a shipped model's name, a user's folder)."""
    resolved = Path(path).resolve()
    root = Path(root).resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def write_result(stem, result: dict, markdown: str) -> None:
    """``stem.json`` and ``stem.md`` of a benchmark, and the Markdown on stdout."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown)
    print(markdown)
