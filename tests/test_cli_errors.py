"""The CLI's error boundary: each class of failure gets its exit status and one
stderr line naming the file, never a traceback, and leaves nothing half-written.

Exit statuses (README "Exit codes"): 0 done, 1 some inputs of a batch failed,
2 bad input / config / usage, 3 an output could not be written, 4 internal
error, 130 interrupted. Full and read-only disks are real: small tmpfs mounts
(skipped where this process may not mount).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_TRAINING
from test_config_rules import BILLION_LAUGHS

from retinaseg.cli import main

PAGE = 4096  # tmpfs counts whole pages


PROGRESS_LINE = re.compile(r"^\w+: \d+/\d+ \w+, ")  # io/logs.py's lines off a terminal


def _fails(capsys, argv, status, *fragments) -> str:
    """Run ``retinaseg argv`` in-process; check its status and its one error line.

    Progress lines written before the failure are not the error and are set aside.
    """
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not PROGRESS_LINE.match(line)]
    assert code == status, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert str(fragment) in lines[0], lines[0]
    return lines[0]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def tiny_disk(tmp_path):
    """``tiny_disk(free_bytes, read_only=False)``: a fresh tmpfs with about that much room."""
    mounted = []

    def mount(free: int = 64 * PAGE, read_only: bool = False) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        options = f"size={max(free, PAGE) + 16 * PAGE}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        if not read_only:
            stats = os.statvfs(folder)
            filler = stats.f_bavail * stats.f_frsize - free
            (folder / "filler").write_bytes(b"\0" * max(0, filler))
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)


def _pages(paths) -> int:
    return sum(-(-Path(p).stat().st_size // PAGE) for p in paths)


# --------------------------------------------------------------------------- 2: bad config

TRAIN_OVERRIDES = [
    ["--set", "data.crop_size=[1"], ["--set", "optim.lr=-0.01"], ["--set", "optim.lr=.nan"],
    ["--set", "seed=-1"], ["--set", "threads=-2"], ["--set", "data.val_count=-1"],
    ["--set", "val_every=0"], ["--set", "data.crop_size=-16"],
    ["--set", "data.crops_per_image=0"], ["--set", "select_metric=val_loss"],
]


@pytest.mark.parametrize("extra", TRAIN_OVERRIDES, ids=lambda e: e[1])
def test_bad_set_values_are_one_line_and_leave_no_run_folder(extra, tmp_path, capsys):
    run = tmp_path / "run"
    _fails(capsys, ["train", "--out", run, *TINY_TRAINING, *extra], 2,
           f"--set '{extra[1]}'", extra[1].split("=")[0])
    assert not run.exists()


@pytest.mark.parametrize("name,content,fragment", [
    ("latin1.yaml", "epochs: 2\nout_dir: runs/é\n".encode("latin-1"), "is not UTF-8 text"),
    ("laughs.yaml", BILLION_LAUGHS.encode(), "anchors and aliases"),
    ("nan.yaml", b"optim: {lr: .nan}\n", "optim.lr=nan is not allowed"),
    ("metric.yaml", b"select_metric: loss\n", "select_metric='loss' is not allowed"),
])
def test_bad_config_files_are_one_line_naming_the_file(name, content, fragment, tmp_path,
                                                       capsys):
    path = tmp_path / name
    path.write_bytes(content)
    run = tmp_path / "run"
    _fails(capsys, ["train", "--config", path, "--out", run], 2, path, fragment)
    _fails(capsys, ["calibrate", "--model", "none.pt", "--config", path, "--out",
                    tmp_path / "c.safetensors"], 2, path, fragment)
    assert _files(tmp_path) == [name]


def test_a_study_with_a_bad_variant_fails_before_writing(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text("epochs: 1\n")
    study = tmp_path / "study.yaml"
    study.write_text(f"base: base.yaml\nout_dir: {tmp_path / 'out'}\n"
                     "variants: {ok: {}, bad: {val_every: 0}}\n")
    _fails(capsys, ["study", "--config", study], 2, study, "variant 'bad'", "val_every=0")
    study.write_text("base: base.yaml\nseeds: [zero]\nvariants: {ok: {}}\n")
    _fails(capsys, ["study", "--config", study], 2, study, "seeds must be a list of whole numbers")
    assert _files(tmp_path) == ["base.yaml", "study.yaml"]


def test_a_training_that_cannot_start_leaves_no_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    (tmp_path / "empty").mkdir()
    _fails(capsys, ["train", "--data-root", tmp_path / "empty", "--out", run, *TINY_TRAINING],
           2, "DRIVE")
    assert not run.exists()


def test_usage_errors_exit_2(capsys):
    assert main(["segment", "--tta", "sideways"]) == 2
    err = capsys.readouterr().err
    assert "unknown test-time augmentation 'sideways'" in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("retinaseg: error: ")


# --------------------------------------------------------------------------- 1: some inputs failed

def test_a_folder_job_keeps_going_and_exits_1(tiny_model, user_folder, tmp_path, capsys):
    images = tmp_path / "in"
    shutil.copytree(user_folder / "images", images)
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    assert main(["segment", str(images), "--model", str(tiny_model), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "segmented 3 of 4 files" in err and "broken.png" in err and "Traceback" not in err
    assert len(_files(out)) == 3 + 2  # a mask per good image, and the table (CSV, JSON lines)


# --------------------------------------------------------------------------- 3: unwritable output

def test_out_that_is_a_file_fails_before_any_work(tiny_model, synthetic_root, user_folder,
                                                  tmp_path, capsys, monkeypatch):
    import importlib

    import retinaseg.hub.load

    evaluation = importlib.import_module("retinaseg.evaluation.evaluate")
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    # The output is checked first: neither a model is loaded nor an image evaluated.
    monkeypatch.setattr(retinaseg.hub.load, "load_model", _never)
    monkeypatch.setattr(evaluation, "evaluate_model", _never)
    _fails(capsys, ["segment", user_folder / "images", "--out", a_file], 3, a_file,
           "is a file, not a folder")
    _fails(capsys, ["evaluate", "--dataset", "drive", "--data-root", synthetic_root,
                    "--out", a_file / "eval"], 3, a_file / "eval", f"{a_file} is a file")
    _fails(capsys, ["calibrate", "--model", tiny_model, "--config",
                    tiny_model.with_name("config.yaml"), "--out", a_file / "c.safetensors"], 3, a_file)
    _fails(capsys, ["calibrate", "--model", tiny_model, "--config",
                    tiny_model.with_name("config.yaml"), "--out", tmp_path], 3, tmp_path,
           "is a folder; give a file name")
    _fails(capsys, ["train", "--out", a_file, *TINY_TRAINING], 3, a_file, "is a file")
    assert a_file.read_text() == "x"


def _never(*args, **kwargs):
    raise AssertionError("work started although the output could not be written")


def test_read_only_output_fails_before_any_work(tiny_disk, user_folder, synthetic_root,
                                                capsys, monkeypatch):
    import retinaseg.hub.load

    monkeypatch.setattr(retinaseg.hub.load, "load_model", _never)
    disk = tiny_disk(read_only=True)
    _fails(capsys, ["segment", user_folder / "images", "--out", disk / "out"], 3, disk,
           "cannot write (read-only file system)")
    _fails(capsys, ["evaluate", "--dataset", "drive", "--data-root", synthetic_root,
                    "--out", disk / "eval"], 3, "read-only file system")
    assert _files(disk) == []  # not even the output folders


def test_segment_on_a_full_disk_stops_and_lists_what_was_not_written(
        tiny_model, user_folder, tmp_path, tiny_disk, capsys):
    images = user_folder / "images"
    first = tmp_path / "first"
    save = ["--save", "mask,prob,overlay"]
    assert main(["segment", str(images), "--model", str(tiny_model), "--out", str(first),
                 *save]) == 0
    capsys.readouterr()
    a_files = sorted(first.glob("a_*.png"))
    table = [first / "results.csv", first / "results.jsonl"]
    disk = tiny_disk((_pages(a_files) + _pages(table) + 1) * PAGE)  # room for a, not for b
    out = disk / "out"
    line = _fails(capsys, ["segment", images, "--model", tiny_model, "--out", out, *save], 3,
                  "no space left on the device", "stopped with 1 of 3 images written",
                  "not written: ", "b.jpg", "c.tif", "rerun to resume")
    assert "a.png" not in line.split("not written")[1]
    pictures = [name for name in _files(out) if name.endswith(".png")]
    assert pictures == [p.name for p in a_files]  # b's files all absent, no temporaries
    assert (out / "a_mask.png").read_bytes() == (first / "a_mask.png").read_bytes()
    rows = (out / "results.jsonl").read_text().splitlines()
    assert len(rows) == 1 and '"status": "ok"' in rows[0]  # a's row survives, for the rerun


def test_evaluate_on_a_full_disk_writes_nothing(tiny_model, synthetic_root, tiny_disk, capsys):
    disk = tiny_disk(PAGE)
    out = disk / "eval"
    for report in ([], ["--report", "--bootstrap", "10"]):
        _fails(capsys, ["evaluate", "--model", tiny_model, "--dataset", "drive", "--data-root",
                        synthetic_root, "--out", out, *report], 3,
               "no space left on the device", f"nothing was written to {out}/")
        assert _files(out) == []


def test_calibrate_on_a_full_disk_leaves_no_partial_checkpoint(tiny_model, synthetic_root,
                                                             tiny_disk, capsys):
    disk = tiny_disk(PAGE)
    out = disk / "calibrated.safetensors"
    _fails(capsys, ["calibrate", "--model", tiny_model, "--config",
                    tiny_model.with_name("config.yaml"), "--data-root", synthetic_root,
                    "--out", out], 3, out, "cannot write (no space left on the device)")
    assert _files(disk) == ["filler"]


def test_training_on_a_full_disk_names_the_file_and_keeps_no_half_run(synthetic_root, tiny_disk,
                                                                      capsys):
    disk = tiny_disk(3 * PAGE)  # config.yaml and log.csv fit, a checkpoint does not
    run = disk / "run"
    _fails(capsys, ["train", "--data-root", synthetic_root, "--out", run, "--set", "epochs=1",
                    *TINY_TRAINING], 3, run, "no space left on the device",
           "no epoch had finished: nothing was kept")
    assert _files(disk) == ["filler"]  # the run folder it created is gone


# --------------------------------------------------------------------------- 2: bad metrics.json

@pytest.fixture(scope="module")
def evaluation(tiny_model, synthetic_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    assert main(["evaluate", "--model", str(tiny_model), "--dataset", "drive", "--data-root",
                 str(synthetic_root), "--out", str(out)]) == 0
    return out / "metrics.json"


@pytest.mark.parametrize("change,fragment", [
    (lambda r: r["pooled"].update(f1="high"), "pooled must map score names to numbers"),
    (lambda r: r.update(per_image={}), "per_image must be a non-empty list"),
    (lambda r: r["per_image"][0].update(f1=[1]), "per_image rows must hold an id"),
    (lambda r: r["histogram"].update(bits=10**6), "histogram.bits must be a whole number"),
    (lambda r: r["histogram"].update(pos=r["histogram"]["pos"][:-1]), "histogram.pos must be"),
    (lambda r: r.update(threshold="0.5"), "threshold must be a number"),
    (lambda r: r.update(observers=[]), "observers must be an object"),
    (lambda r: r.update(machine="cpu"), "machine must be an object"),
])
def test_report_on_a_metrics_json_of_wrong_types(evaluation, change, fragment, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    result = json.loads(evaluation.read_text())
    change(result)
    (run / "metrics.json").write_text(json.dumps(result))
    _fails(capsys, ["report", run], 2, run / "metrics.json", fragment)
    assert _files(run) == ["metrics.json"]


# --------------------------------------------------------------------------- 4, 130, --debug

def test_a_bug_is_one_line_with_how_to_get_the_traceback(monkeypatch, capsys):
    import retinaseg.cohort as cohort

    def broken(*args):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(cohort, "collect_cohort", broken)
    _fails(capsys, ["segment", "x.png"], 4, "internal error: ZeroDivisionError: division by "
                                           "zero second line", "retinaseg --debug VERB")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "segment", "x.png"])


def test_interrupted_exits_130(monkeypatch, capsys):
    import retinaseg.cohort as cohort

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cohort, "collect_cohort", interrupted)
    _fails(capsys, ["segment", "x.png"], 130, "interrupted")


def test_the_installed_script_exits_as_main_does(tmp_path):
    """The console script, as a user runs it: status 2 and one line for a bad --set."""
    exe = Path(sys.executable).with_name("retinaseg")
    done = subprocess.run([str(exe), "train", "--set", "epochs=0", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("retinaseg: error: --set 'epochs=0': config key epochs=0 is "
                                   "not allowed: must be an integer in [1, 1000000]")
    assert not (tmp_path / "r").exists()


def test_a_file_error_quoting_the_files_own_text_stays_on_one_line():
    # a key read from a file may hold a newline or an escape; the error must still be
    # one line naming the file first, its problem readable
    from retinaseg.errors import file_error

    text = str(file_error("m.safetensors", "unknown key: 'a\nb\x1b[31m\t'"))
    assert text == "m.safetensors: unknown key: 'a\\nb\\x1b[31m\\t'"
    assert str(file_error("m.safetensors", "plain problem")) == "m.safetensors: plain problem"
