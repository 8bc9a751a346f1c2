"""Small frictions: help that explains, a data root found where documented, clean paths,
skipped files that are listed, and names that say what they are."""
from __future__ import annotations

import csv

import pytest
from PIL import Image

from retinaseg.cli import options as cli_options
from retinaseg.cli import build_parser, main
from retinaseg.data.io import IMAGE_SUFFIXES
from retinaseg.data.registry import DATA_ROOT_ENV, find_data_root
from synthetic import synthetic_fundus


def _help(verb: str) -> str:
    return next(a for a in build_parser()._subparsers._group_actions[0].choices.items()
                if a[0] == verb)[1].format_help()


def test_help_names_splits_datasets_formats_and_no_internal_files():
    evaluate = _help("evaluate")
    assert "--split SPLIT" in evaluate and "default test" in evaluate
    assert all(name in evaluate for name in ("drive", "chase_db1", "hrf"))
    segment = " ".join(_help("segment").split())
    assert all(suffix in segment for suffix in IMAGE_SUFFIXES)
    assert "benchmarks/" not in segment and "--report" in segment and "--strict-units" in segment
    assert cli_options.IMAGE_SUFFIXES == IMAGE_SUFFIXES  # the copy that keeps --help light


def test_data_root_argument_then_env_then_documented_defaults(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    assert find_data_root() == (tmp_path / "data", "the default location")
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    assert find_data_root()[1] == f"${DATA_ROOT_ENV}"
    assert find_data_root(tmp_path / "arg") == (tmp_path / "arg", "--data-root")


def test_datasets_says_which_root_it_used(synthetic_root, capsys):
    assert main(["datasets", "--data-root", str(synthetic_root)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"data root {synthetic_root} (from --data-root)"


def test_skipped_files_are_rows_one_line_and_counted(tiny_model, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(2):
        image, _, _ = synthetic_fundus(96, 96, seed=seed)
        Image.fromarray(image).save(photos / f"p{seed}.png")
    (photos / "notes.txt").write_text("a note")
    out = f"{tmp_path / 'results'}/"  # a trailing slash, as a shell completes it
    assert main(["segment", str(photos), "--model", str(tiny_model), "--out", out]) == 0
    err = capsys.readouterr().err
    assert err.count("notes.txt") == 2  # the line before, and the final count
    assert "skipping 1 file that is not a photo" in err
    final = err.strip().splitlines()[-1]
    assert final.startswith("segmented 2 of 3 files") and "1 skipped: notes.txt" in final
    assert "//" not in final and "wrote results.csv, results.jsonl and 2 pictures" in final
    with open(tmp_path / "results" / "results.csv", newline="") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}
    assert rows["notes.txt"]["status"] == "skipped"
    assert "not a photo" in rows["notes.txt"]["error"]


def test_training_fov_diameter_names_the_models_figure(tiny_model):
    from retinaseg.hub.load import load_model

    meta = load_model(str(tiny_model), "cpu").meta
    assert meta.training_fov_diameter == meta.fov_diameter > 0


@pytest.mark.parametrize("verb", ["segment", "evaluate", "report"])
def test_every_verb_help_renders(verb):
    assert _help(verb)
