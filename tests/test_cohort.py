"""Cohort jobs end to end: one table per job, resume after a kill, pool, Dask, shards."""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import job_spec
from PIL import Image
from synthetic import synthetic_fundus

from retinaseg.cli import main
from retinaseg.cohort import JobSpec, collect_cohort, parse_save, run_cohort
from retinaseg.cohort.progress import Progress
from retinaseg.cohort.worker import table_columns
from retinaseg.errors import RetinasegError

SRC = Path(__file__).resolve().parents[1] / "src"
SAVE_ALL = ("mask", "prob", "overlay")
TIMING = {"seconds"}  # the only columns allowed to differ between two runs


def write_photos(folder: Path, count: int, size: int = 96) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        image, _, _ = synthetic_fundus(size, size, seed=seed)
        Image.fromarray(image).save(folder / f"photo{seed:03d}.png")
    return folder


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos"), 6)


@pytest.fixture(scope="module")
def serial_rows(tiny_model, photos, tmp_path_factory) -> list[dict]:
    """The reference: the photos segmented in this process, one after another."""
    out = tmp_path_factory.mktemp("serial")
    result = run_cohort(JobSpec(str(tiny_model), str(out)), collect_cohort([str(photos)]))
    return result.rows


def test_table_has_one_row_per_input_failures_included(tiny_model, photos, tmp_path):
    folder = tmp_path / "in"
    write_photos(folder, 2)
    (folder / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["segment", str(folder), "--model", str(tiny_model), "--out", str(out)]) == 1
    rows = read_csv(out / "results.csv")
    assert [Path(r["file"]).name for r in rows] == ["empty.png", "photo000.png", "photo001.png"]
    assert list(rows[0]) == list(table_columns())
    assert rows[0]["status"] == "failed" and "empty.png: file is empty" in rows[0]["error"]
    for row in rows[1:]:
        assert row["status"] == "ok" and row["error"] == "" and row["width"] == "96"
        assert float(row["fov_diameter_px"]) > 80 and row["model_sha256"]
        assert 0.0 <= float(row["uncertain_fraction"]) <= 1.0
    lines = read_jsonl(out / "results.jsonl")  # the same rows, typed
    assert [(r["file"], r["status"]) for r in lines] == [(r["file"], r["status"]) for r in rows]
    assert lines[0]["width"] is None and lines[1]["width"] == 96
    assert lines[1]["uncertain_fraction"] == float(rows[1]["uncertain_fraction"])
    assert sorted(p.name for p in out.glob("*.png")) == ["photo000_mask.png", "photo001_mask.png"]


def test_rerun_skips_done_images_and_retries_failures(tiny_model, tmp_path):
    folder = write_photos(tmp_path / "in", 3)
    broken = folder / "photo001.png"
    good_bytes = broken.read_bytes()
    broken.write_bytes(good_bytes[:200])  # truncated: a failed row
    spec = JobSpec(str(tiny_model), str(tmp_path / "out"))
    first = run_cohort(spec, collect_cohort([str(folder)]))
    assert [r["status"] for r in first.rows] == ["ok", "failed", "ok"]
    broken.write_bytes(good_bytes)
    (tmp_path / "out" / "photo002_mask.png").unlink()  # an output lost: that image is redone
    second = run_cohort(spec, collect_cohort([str(folder)]))
    assert second.segmented == 2 and [r["status"] for r in second.rows] == ["ok"] * 3
    assert second.rows[0] == first.rows[0]  # untouched, timing included
    assert len(read_csv(tmp_path / "out" / "results.csv")) == 3
    assert len(read_jsonl(tmp_path / "out" / "results.jsonl")) == 3


def test_a_rerun_with_another_threshold_is_refused_in_one_line(tiny_model, photos, tmp_path):
    out = tmp_path / "out"
    run_cohort(job_spec(tiny_model, out, threshold=0.5), collect_cohort([str(photos)]))
    with pytest.raises(RetinasegError, match="threshold 0.5, .*this run uses .*threshold 0.4"):
        run_cohort(job_spec(tiny_model, out, threshold=0.4),
                   collect_cohort([str(photos)]))


def test_a_rerun_with_other_unit_flags_is_refused_and_the_same_flags_resume(tiny_model, photos,
                                                                            tmp_path):
    """Millimetres of two unit rules must not share a table."""
    import dataclasses

    out = tmp_path / "out"
    first = dataclasses.replace(JobSpec(str(tiny_model), str(out)), fov_degrees=30.0)
    run_cohort(first, collect_cohort([str(photos)]))
    assert {row["units"] for row in read_csv(out / "results.csv")} == {"fov_degrees=30"}
    assert run_cohort(first, collect_cohort([str(photos)])).segmented == 0
    for other in ({"fov_degrees": 45.0}, {"fov_degrees": None},
                  {"strict_units": True}, {"mm_per_pixel": 0.01}):
        with pytest.raises(RetinasegError, match="units fov_degrees=30; this run uses .*units"):
            run_cohort(dataclasses.replace(first, **other), collect_cohort([str(photos)]))


def test_a_truncated_last_line_is_dropped_and_that_image_redone(tiny_model, photos, tmp_path):
    out = tmp_path / "out"
    spec = JobSpec(str(tiny_model), str(out))
    run_cohort(spec, collect_cohort([str(photos)]))
    jsonl = (out / "results.jsonl").read_text().splitlines(keepends=True)
    csv_lines = (out / "results.csv").read_text().splitlines(keepends=True)
    # as a kill mid-append leaves them: the last row cut short in one file, absent in the other
    (out / "results.jsonl").write_text("".join(jsonl[:-1]) + jsonl[-1][:30])
    (out / "results.csv").write_text("".join(csv_lines[:-1]))
    again = run_cohort(spec, collect_cohort([str(photos)]))
    assert again.segmented == 1
    assert len(read_jsonl(out / "results.jsonl")) == len(read_csv(out / "results.csv")) == 6


def test_killed_job_resumes_without_losing_or_duplicating_a_row(tiny_model, tmp_path):
    folder = write_photos(tmp_path / "in", 40, size=128)
    command = [sys.executable, "-m", "retinaseg", "segment", str(folder), "--model",
               str(tiny_model), "--save", "mask,prob,overlay", "--out", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    table = tmp_path / "out" / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None:
        if table.is_file() and table.read_text().count("\n") >= 3:
            break
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.wait()
    # A row counts once both files hold it (JSON lines first, then CSV): a kill
    # between the two appends leaves that image to be redone.
    at_kill = min(len(read_jsonl(table)), len(read_csv(tmp_path / "out" / "results.csv")))
    assert 2 <= at_kill < 40, "the job was not killed mid-way"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({40 - at_kill} in this run)" in resumed.stderr
    run_cohort(JobSpec(str(tiny_model), str(tmp_path / "ref"), save=SAVE_ALL),  # uninterrupted
               collect_cohort([str(folder)]))
    for name in ("results.csv", "results.jsonl"):
        read = read_csv if name.endswith(".csv") else read_jsonl
        rows, reference = read(tmp_path / "out" / name), read(tmp_path / "ref" / name)
        assert len({r["file"] for r in rows}) == len(rows) == 40
        assert untimed(rows) == untimed(reference)


def test_two_process_pool_gives_the_serial_rows(tiny_model, photos, serial_rows, tmp_path):
    result = run_cohort(JobSpec(str(tiny_model), str(tmp_path)), collect_cohort([str(photos)]),
                        jobs=2)
    assert untimed(result.rows) == untimed(serial_rows)


def test_dask_local_cluster_gives_the_serial_rows(tiny_model, photos, serial_rows, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = run_cohort(JobSpec(str(tiny_model), str(tmp_path)),
                            collect_cohort([str(photos)]), dask=cluster.scheduler_address)
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
    assert untimed(result.rows) == untimed(serial_rows)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{r['name']}_mask.png" for r in serial_rows)


def test_shards_split_the_inputs_and_a_plain_run_merges_them(tiny_model, photos, serial_rows,
                                                            tmp_path):
    spec = JobSpec(str(tiny_model), str(tmp_path))
    inputs = collect_cohort([str(photos)])
    shards = [run_cohort(spec, inputs, shard_of=(k, 3)) for k in (1, 2, 3)]
    files = [row["file"] for result in shards for row in result.rows]
    assert sorted(files) == sorted(r["file"] for r in serial_rows) and len(set(files)) == 6
    assert (tmp_path / "results.shard-2-of-3.csv").is_file()
    merged = run_cohort(spec, inputs)
    assert merged.segmented == 0 and untimed(merged.rows) == untimed(serial_rows)


def test_manifest_paths_scales_and_missing_files(tiny_model, photos, tmp_path):
    manifest = tmp_path / "cohort.csv"
    relative = os.path.relpath(photos / "photo000.png", tmp_path)
    manifest.write_text(f"subject,path,mm_per_pixel\nA,{relative},0.0075\n"
                        f"B,{photos / 'photo001.png'},\nC,gone.png,\n")
    result = run_cohort(JobSpec(str(tiny_model), str(tmp_path / "out")),
                        collect_cohort([], manifest=str(manifest)))
    assert [r["status"] for r in result.rows] == ["ok", "ok", "failed"]
    assert [r["mm_per_pixel"] for r in result.rows][::2] == [0.0075, None]
    assert [r.get("scale_source") for r in result.rows] == ["manifest", "assumed", None]
    # without a manifest scale, the mm columns rest on a 45-degree FOV across its width
    fov_mm = result.rows[1]["mm_per_pixel"] * result.rows[1]["fov_diameter_px"]
    assert fov_mm == pytest.approx(45 * 0.288, rel=0.03)
    assert result.rows[0]["skeleton_length_mm"] == pytest.approx(
        result.rows[0]["skeleton_length_px"] * 0.0075)
    assert "gone.png: no such file" in result.rows[2]["error"]


def test_manifest_names_tell_repeated_stems_apart(tiny_model, photos, tmp_path):
    other = tmp_path / "site2"
    other.mkdir()
    (other / "photo000.png").write_bytes((photos / "photo000.png").read_bytes())
    rows = f"path\n{photos / 'photo000.png'}\n{other / 'photo000.png'}\n"
    (tmp_path / "plain.csv").write_text(rows)
    with pytest.raises(RetinasegError, match="same name as .*'name' column"):
        collect_cohort([], manifest=str(tmp_path / "plain.csv"))
    (tmp_path / "named.csv").write_text(f"path,name\n{photos / 'photo000.png'},\n"
                                        f"{other / 'photo000.png'},site2-0001\n")
    result = run_cohort(JobSpec(str(tiny_model), str(tmp_path / "out")),
                        collect_cohort([], manifest=str(tmp_path / "named.csv")))
    assert [r["name"] for r in result.rows] == ["photo000", "site2-0001"]
    assert (tmp_path / "out" / "site2-0001_mask.png").is_file()


@pytest.mark.parametrize("text,problem", [
    ("file\nx.png\n", "no 'path' column"),
    ("path,name\nx.png,../x\n", "line 2: name '../x' must be a plain file name"),
    ("path,mm_per_pixel\nx.png,wide\n", "line 2: mm_per_pixel 'wide' is not a number"),
])
def test_bad_manifest_is_one_clear_error(tmp_path, text, problem):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(RetinasegError, match=problem) as error:
        collect_cohort([], manifest=str(manifest))
    assert str(manifest) in str(error.value)


def test_cli_argument_mistakes_are_one_line_errors(tiny_model, photos, tmp_path, capsys):
    for args, problem in [(["--save", "mask,thumbnail"], "--save 'mask,thumbnail': choose"),
                          (["--shard", "4/3"], "--shard '4/3': K must be between 1 and N"),
                          (["--jobs", "0"],
                           "argument --jobs: must be an integer in [1, 1024], not '0'"),
                          (["--jobs", "2", "--dask", "local:2"], "do not combine")]:
        assert main(["segment", str(photos), "--model", str(tiny_model), "--out",
                     str(tmp_path), *args]) == 2
        assert problem in capsys.readouterr().err
    assert not (tmp_path / "results.csv").exists()


def test_save_none_writes_only_the_table(tiny_model, photos, tmp_path):
    run_cohort(JobSpec(str(tiny_model), str(tmp_path), save=parse_save("none")),
               collect_cohort([str(photos)]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.jsonl"]


def test_plain_progress_lines_off_a_terminal():
    stream = io.StringIO()
    progress = Progress(3, skipped=2, stream=stream, interval=0.0)
    for status in ("ok", "failed", "ok"):
        progress.update({"status": status})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "segment: 2 images already done, 3 to go"
    assert lines[-1].startswith("segment: 3/3 images, ") and lines[-1].endswith("1 failed")
    assert "images/s, ETA" in lines[-1]


def test_uncertain_fraction_counts_fov_pixels_near_the_threshold():
    import numpy as np

    from retinaseg.quality.verdict import uncertain_fraction

    prob = np.array([[0.0, 0.3, 0.5, 0.7, 0.9, 1.0]])
    fov = np.array([[True, True, True, True, True, False]])
    # band for threshold 0.5: [0.25, 0.75] -> 0.3, 0.5, 0.7 of the 5 FOV pixels
    assert uncertain_fraction(prob, fov, 0.5) == 0.6


def test_an_unexpected_exception_is_an_error_row_not_the_end_of_the_job(tiny_model, photos,
                                                                        tmp_path, monkeypatch):
    from retinaseg.cohort import worker

    def broken_hook(mask, fov, meta):
        raise ZeroDivisionError("a bug in a hook")

    monkeypatch.setattr(worker, "measurement_columns", broken_hook)
    result = run_cohort(JobSpec(str(tiny_model), str(tmp_path)), collect_cohort([str(photos)]))
    assert {r["status"] for r in result.rows} == {"error"}
    assert "ZeroDivisionError: a bug in a hook (at test_cohort.py:" in result.rows[0]["error"]


def test_overlapped_rows_are_the_rows_of_one_photo_at_a_time(tiny_model, photos, tmp_path):
    """The serial backend segments the next photo while this one is measured: the
    same rows, in order, a bad file and a skipped one included, as one at a time."""
    from dataclasses import replace

    from retinaseg.cohort.inputs import CohortInput
    from retinaseg.cohort.runner import with_settings
    from retinaseg.cohort.stages import overlapped_rows, process_input
    from retinaseg.hub.load import load_model

    (tmp_path / "broken.png").write_bytes(b"not a png")
    items = collect_cohort([str(photos)])[:3]
    items[1:1] = [CohortInput(str(tmp_path / "broken.png"), "broken"),
                  CohortInput(str(tmp_path / "notes.txt"), "notes", skipped="not a photo")]
    spec = with_settings(JobSpec(str(tiny_model), str(tmp_path / "a")), load_model(tiny_model))
    one_by_one = [process_input(spec, item) for item in items]
    overlapped = list(overlapped_rows(replace(spec, out_dir=str(tmp_path / "b")), items))
    assert [r["status"] for r in overlapped] == ["ok", "failed", "skipped", "ok", "ok"]
    assert untimed(overlapped) == untimed(one_by_one)
