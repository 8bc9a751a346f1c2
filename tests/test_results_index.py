"""benchmarks/results/INDEX.md is what benchmarks/results_index.py writes from the tree now."""
from __future__ import annotations


import results_index
from results_index import RESULTS, Result, measured_arguments, superseded

RERUN = "run `python benchmarks/results_index.py` and commit benchmarks/results/INDEX.md"


def test_index_is_what_the_script_generates_from_the_tree():
    _, text = results_index.build()
    index = RESULTS / "INDEX.md"
    assert index.is_file(), f"benchmarks/results/INDEX.md is missing: {RERUN}"
    assert index.read_text() == text, (
        f"benchmarks/results/INDEX.md is out of date (a result was added, moved or is cited "
        f"differently): {RERUN}")


def test_every_result_in_the_folder_is_listed_with_its_script():
    results, text = results_index.build()
    stems = {p.stem for p in RESULTS.glob("*.md") if p.name != "INDEX.md"}
    listed = {r.stem for r in results if not r.archived}
    assert stems <= listed
    for r in results:
        assert r.script, f"{r.name}: no recorded command names its script"
        assert f"[{'archive/' if r.archived else ''}{r.name}]" in text


def _result(name, command, date, cited=()):
    r = Result(name, RESULTS, [f"{name}.json", f"{name}.md"], command=command,
               script=results_index.script_of(command), date=date)
    r.cited_by = list(cited)
    return r


def test_superseded_needs_the_same_script_and_arguments_later_and_no_citation():
    old = _result("a", "python benchmarks/x.py --data-root d --model m --out benchmarks/results/a",
                  "2026-01-01T00:00:00+00:00")
    new = _result("a_final", "python benchmarks/x.py --model m --data-root e --out benchmarks/results/a_final",
                  "2026-01-02T00:00:00+00:00")
    other = _result("a_flip", "python benchmarks/x.py --model m --tta flip", "2026-01-03T00:00:00+00:00")
    superseded([old, new, other])
    assert (old.status, old.note) == ("superseded", "by a_final")
    assert new.status == other.status == "current"

    cited = _result("a", old.command, old.date, cited=["docs/segmenting.md"])
    superseded([cited, new])
    assert cited.status == "current"  # what README/docs cite stays current


def test_bookkeeping_options_do_not_count_as_arguments():
    assert measured_arguments("python benchmarks/x.py --threads 2 --out o --allow-dirty --model m") \
        == ("--model", "m")
    assert measured_arguments("python benchmarks/x.py --out=o --cache /tmp/c a b") == ("a", "b")


def test_citations_match_whole_names_only(tmp_path):
    pattern = results_index.citation_pattern(_result("general_model", "", ""))
    assert pattern.search("see `benchmarks/results/general_model.md`")
    assert pattern.search("--out benchmarks/results/general_model ")
    assert not pattern.search("see general_model_flip.md and results/general_model_flip")
    study = results_index.citation_pattern(Result("study_cpu/", RESULTS, ["study.md"]))
    assert study.search("benchmarks/results/study_cpu/") and not study.search("study_cpu.yaml")
