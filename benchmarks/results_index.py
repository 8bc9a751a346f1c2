"""Write benchmarks/results/INDEX.md: every recorded result, where it came from, and who cites it.

    python benchmarks/results_index.py            # rewrite INDEX.md from the tree
    python benchmarks/results_index.py --check    # exit 1 if INDEX.md is not what it would write
    python benchmarks/results_index.py --move     # also `git mv` superseded results into archive/

A *result* is a pair ``X.json`` + ``X.md`` in ``benchmarks/results/`` (or ``X.md`` alone), or a
study folder ``X/`` holding ``study.md``; results already moved into ``benchmarks/results/archive/``
are listed too. For each: the script that wrote it (from the ``command`` recorded in the JSON,
else the ``- command:`` line of the Markdown), the commit and date recorded in the file, its
status, and the files that cite it.

Citations are looked for in README.md, docs/ (every ``.md``), benchmarks/conclusions/ and the
other results' Markdown, by file name: ``X.md``, ``X.json``, ``results/X`` (a ``--out`` path)
or, for a study folder, ``X/``.

The rule for *superseded* (conservative; see :func:`superseded`): a result is superseded only
when nothing in README.md, docs/ or benchmarks/conclusions/ cites it **and** a later result
(by recorded date) was written by the same script with the same arguments, apart from where
it was written and bookkeeping options (:data:`BOOKKEEPING`). A name tag alone (``_final``,
``_flip``, ``_validated_cut``, ``_general``) does not supersede: in this folder such tags name
another measurement (another model, cut or image set), not a newer copy of the same one.
Everything else is *current*. Results in ``archive/`` are *archived*.

The standard library only, so it runs anywhere the tree is checked out.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ARCHIVE = RESULTS / "archive"
INDEX = RESULTS / "INDEX.md"

# Options that say where or how a result was written, not what was measured.
BOOKKEEPING = {"--out": True, "--result": True, "--cache": True, "--threads": True,
               "--data-root": True, "--allow-dirty": False, "--otherwise-idle": False,
               "--note": True,
               "--save-int8": True}

# Where citations that keep a result current may come from (relative to ROOT).
CITING_DOCS = ("README.md", "docs", "benchmarks/conclusions")


@dataclass
class Result:
    name: str                 # X, or X/ for a study folder
    folder: Path              # RESULTS or ARCHIVE
    files: list[str]
    command: str = ""
    script: str = ""
    commit: str = ""
    date: str = ""
    cited_by: list[str] = field(default_factory=list)
    status: str = "current"
    note: str = ""

    @property
    def stem(self) -> str:
        return self.name.rstrip("/")

    @property
    def archived(self) -> bool:
        return self.folder == ARCHIVE


def _md_field(text: str, key: str) -> str:
    match = re.search(rf"^- {key}: `?([^`\n]*)`?", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def script_of(command: str) -> str:
    """The script a recorded command ran: ``benchmarks/NAME.py``, or ``retinaseg VERB``."""
    match = re.search(r"(benchmarks/\w+\.py)", command)
    if match:
        return match.group(1)
    match = re.search(r"(?:cli\.py|retinaseg)\s+(\w+)", command)
    return f"retinaseg {match.group(1)}" if match else ""


def read_result(folder: Path, stem: str, study: bool) -> Result:
    if study:
        md = folder / stem / "study.md"
        files = sorted(p.name for p in (folder / stem).iterdir() if p.is_file())
        result = Result(stem + "/", folder, files)
        sitting = re.search(r"^- (\S+): `([^`]*)`, commit `([0-9a-f]+)", md.read_text(), re.MULTILINE)
        if sitting:
            result.date, result.command, result.commit = sitting.groups()
    else:
        md, js = folder / f"{stem}.md", folder / f"{stem}.json"
        files = [p.name for p in (js, md) if p.is_file()]
        result = Result(stem, folder, files)
        data = {}
        if js.is_file():
            try:
                loaded = json.loads(js.read_text())
                data = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                data = {}
        text = md.read_text() if md.is_file() else ""
        result.command = str(data.get("command") or _md_field(text, "command"))
        result.commit = str(data.get("commit") or _md_field(text, "commit"))
        result.date = str(data.get("date") or _md_field(text, "date"))
    result.script = script_of(result.command)
    return result


def find_results() -> list[Result]:
    found = []
    for folder in (RESULTS, ARCHIVE):
        if not folder.is_dir():
            continue
        stems = {p.stem for p in folder.glob("*.md") if p.name != INDEX.name}
        stems |= {p.stem for p in folder.glob("*.json")}
        found += [read_result(folder, s, study=False) for s in sorted(stems)]
        found += [read_result(folder, p.name, study=True)
                  for p in sorted(folder.iterdir()) if (p / "study.md").is_file()]
    return found


def citing_files() -> list[Path]:
    paths = [ROOT / "README.md"] if (ROOT / "README.md").is_file() else []
    for top in CITING_DOCS[1:]:
        if (ROOT / top).is_dir():
            paths += sorted((ROOT / top).rglob("*.md"))
    paths += sorted(p for p in RESULTS.rglob("*.md") if p != INDEX)
    return paths


def citation_pattern(result: Result) -> re.Pattern:
    stem = re.escape(result.stem)
    if result.name.endswith("/"):
        return re.compile(rf"(?<![\w-]){stem}/")
    return re.compile(rf"(?<![\w-]){stem}\.(?:md|json)\b|results/{stem}(?![\w-])")


def add_citations(results: list[Result]) -> None:
    texts = {p: p.read_text(errors="replace") for p in citing_files()}
    for result in results:
        own = {(result.folder / f) for f in result.files}
        if result.name.endswith("/"):
            own = set((result.folder / result.stem).rglob("*"))
        pattern = citation_pattern(result)
        result.cited_by = sorted(str(p.relative_to(ROOT)) for p, text in texts.items()
                                 if p not in own and pattern.search(text))


def cited_by_docs(result: Result) -> bool:
    return any(c == "README.md" or c.startswith(CITING_DOCS[1:]) for c in result.cited_by)


def measured_arguments(command: str) -> tuple[str, ...]:
    """The command's arguments after the script, less :data:`BOOKKEEPING` options."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    script = script_of(command)
    if script.startswith("benchmarks/"):
        words = words[next(i for i, w in enumerate(words) if script in w) + 1:]
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        option = word.split("=", 1)[0]
        if option in BOOKKEEPING:
            skip = BOOKKEEPING[option] and "=" not in word
            continue
        kept.append(word)
    return tuple(kept)


def superseded(results: list[Result]) -> None:
    """Mark results by the rule in this module's docstring."""
    for result in results:
        if result.archived:
            result.status = "archived"
    live = [r for r in results if not r.archived and r.script and r.date]
    for result in live:
        if cited_by_docs(result):
            continue
        key = (result.script, measured_arguments(result.command))
        later = [r for r in live if r is not result and r.date > result.date
                 and (r.script, measured_arguments(r.command)) == key]
        if later:
            newest = max(later, key=lambda r: r.date)
            result.status = "superseded"
            result.note = f"by {newest.name}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(results: list[Result]) -> str:
    lines = [
        "# Benchmark results: index",
        "",
        "- command: `python benchmarks/results_index.py`",
        "",
        "Generated by `python benchmarks/results_index.py` from the files in this folder; do not",
        "edit it by hand (`tests/test_results_index.py` regenerates it and compares). Each result",
        "is `X.json` + `X.md` (or a study folder); its Markdown has the full command, commit, date",
        "and machine.",
        "",
        "- **script**: what wrote it (the recorded command; rerun that command to rewrite it).",
        "- **commit, date**: as recorded in the result.",
        "- **status**: `current`, or `superseded` when nothing in README.md, docs/ or",
        "  benchmarks/conclusions/ cites it *and* a later result of the same script with the",
        "  same arguments exists (arguments compared without "
        + ", ".join(f"`{o}`" for o in BOOKKEEPING) + ");",
        "  a superseded result belongs in `archive/` (`python benchmarks/results_index.py --move`),",
        "  and those already there are `archived`. A name tag alone (`_final`, `_flip`,",
        "  `_validated_cut`) supersedes nothing: here it names another measurement.",
        "- **cited by**: README.md, docs/, benchmarks/conclusions/ and other results that name it",
        "  (`X.md`, `X.json` or `results/X`).",
        "",
    ]
    counts = {s: sum(r.status == s for r in results) for s in ("current", "superseded", "archived")}
    lines.append(f"{len(results)} results: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + ".")
    lines += ["", "| result | files | script | commit | date | status | cited by |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        where = "archive/" if r.archived else ""
        target = f"{where}{r.stem}/study.md" if r.name.endswith("/") else \
            f"{where}{r.stem}.md" if f"{r.stem}.md" in r.files else f"{where}{r.files[0]}"
        files = ", ".join(r.files) if r.name.endswith("/") else \
            " + ".join(f.rsplit(".", 1)[1] for f in r.files)
        status = r.status + (f" ({r.note})" if r.note else "")
        cited = ", ".join(c.replace("benchmarks/results/", "results/")
                          .replace("benchmarks/conclusions/", "conclusions/") for c in r.cited_by)
        lines.append("| " + " | ".join(_cell(x) for x in (
            f"[{where}{r.name}]({target})", files, f"`{r.script}`" if r.script else "?",
            f"`{r.commit[:7]}`" if r.commit else "?", r.date[:10] or "?", status, cited or "-")) + " |")
    return "\n".join(lines) + "\n"


def build() -> tuple[list[Result], str]:
    results = find_results()
    add_citations(results)
    superseded(results)
    results.sort(key=lambda r: (r.archived, r.stem))
    return results, render(results)


def move_superseded(results: list[Result]) -> list[str]:
    moved = []
    for r in results:
        if r.status != "superseded":
            continue
        ARCHIVE.mkdir(exist_ok=True)
        paths = [RESULTS / r.stem] if r.name.endswith("/") else [RESULTS / f for f in r.files]
        for path in paths:
            subprocess.run(["git", "mv", str(path), str(ARCHIVE / path.name)], cwd=ROOT, check=True)
        moved.append(r.name)
    return moved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--move", action="store_true", help="git mv superseded results into archive/")
    args = parser.parse_args(argv)
    results, text = build()
    if args.check:
        if not INDEX.is_file() or INDEX.read_text() != text:
            print(f"{INDEX.relative_to(ROOT)} is out of date: run python benchmarks/results_index.py",
                  file=sys.stderr)
            return 1
        return 0
    if args.move and move_superseded(results):
        results, text = build()
    INDEX.write_text(text)
    print(INDEX.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
