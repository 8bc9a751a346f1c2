"""The bad-input corpus: every class of bad input through the real CLI, classified.

Generates the corpus in a temporary folder (a tiny model trained once on the
synthetic DRIVE layout first), runs each case as a ``python -m retinaseg``
subprocess with a timeout, and sorts it into: clear one-line error, traceback,
hang, wrong exit code, unclear message, code executed (a malicious pickle ran),
partial output, silently wrong.

    python benchmarks/bad_input.py [--only NAME ...] [--allow-dirty]

Writes ``benchmarks/results/bad_input.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from retinaseg.io.tables import markdown_table  # noqa: E402
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown,  # noqa: E402
                             write_result)
from synthetic import synthetic_fundus, write_drive, write_folder  # noqa: E402

TIMEOUT = 120  # seconds; a case still running then is a hang
TINY = ["--set", "model.kwargs={base_channels: 4, depth: 2}", "--set", "data.crop_size=32",
        "--set", "data.crops_per_image=2", "--set", "progress=false", "--set", "threads=1"]
BAD = ("traceback", "hang", "wrong exit code", "unclear message", "code executed",
       "partial output", "silently wrong")
TABLE = ["results.csv", "results.jsonl"]  # a batch job's table, written even when all fail


@dataclass
class Case:
    """One corpus entry: the command, what it must exit with and name, what may be left."""
    name: str
    klass: str
    verb: str
    argv: list
    status: int
    names: str  # the file (or --set item) the error line must name
    out: Path | None = None  # a folder that must hold only ``allowed`` afterwards
    allowed: list = field(default_factory=list)
    marker: Path | None = None
    outcome: Callable | None = None  # (stderr) -> problem or None, for silently-wrong classes
    unchanged: Path | None = None  # a file whose bytes must survive


# --------------------------------------------------------------------------- running

def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


def run_case(case: Case) -> dict:
    before = case.unchanged.read_bytes() if case.unchanged else None
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "retinaseg", *map(str, case.argv)],
                              capture_output=True, text=True, timeout=TIMEOUT, env=env())
        status, err = done.returncode, done.stderr
    except subprocess.TimeoutExpired as expired:
        status, err = None, (expired.stderr or b"").decode(errors="replace")
    seconds = time.perf_counter() - started
    verdict, detail = classify(case, status, err, before)
    return {"name": case.name, "class": case.klass, "verb": case.verb, "status": status,
            "expected": case.status, "verdict": verdict, "detail": detail,
            "seconds": round(seconds, 2),
            "command": "retinaseg " + " ".join(map(str, case.argv)),
            "error_line": _error_lines(case, err)[0] if _error_lines(case, err) else ""}


def _error_lines(case: Case, err: str) -> list[str]:
    if case.status == 1:  # a batch: one indented failure line per file
        return [line.strip() for line in err.splitlines() if line.startswith("  /")]
    return [line for line in err.splitlines() if line.startswith("retinaseg: error:")]


def classify(case: Case, status, err: str, before: bytes | None) -> tuple[str, str]:
    """The first bad verdict that applies, else ``clear`` (or ``ok`` for accepted inputs)."""
    if status is None:
        return "hang", f"no exit within {TIMEOUT} s"
    if "Traceback" in err:
        return "traceback", err.strip().splitlines()[-1]
    if case.marker is not None and case.marker.exists():
        return "code executed", f"{case.marker} was created by unpickling"
    if status != case.status:
        return "wrong exit code", f"exit {status}, expected {case.status}: {err.strip()[-300:]}"
    lines = _error_lines(case, err)
    if case.status != 0:
        whole = [line for line in err.splitlines() if line.strip()]
        if len(lines) != 1 or case.names not in lines[0] or (case.status > 1 and len(whole) > 1):
            return "unclear message", err.strip()[-300:]
    partial = _partial(case, before)
    if partial:
        return "partial output", partial
    problem = case.outcome(err) if case.outcome else None
    if problem:
        return "silently wrong", problem
    return ("clear" if case.status else "ok"), ""


def _partial(case: Case, before: bytes | None) -> str:
    if case.unchanged is not None and case.unchanged.read_bytes() != before:
        return f"{case.unchanged} was changed"
    if case.out is None or not case.out.exists():
        return ""
    left = sorted(p.name for p in case.out.iterdir()) if case.out.is_dir() else [case.out.name]
    extra = [name for name in left if name not in case.allowed]
    return f"left in {case.out}: {', '.join(extra)}" if extra else ""


# --------------------------------------------------------------------------- the corpus

def _retinaseg(*args) -> None:
    subprocess.run([sys.executable, "-m", "retinaseg", *map(str, args)], check=True,
                   capture_output=True, env=env())


def prepare(work: Path) -> dict:
    """The synthetic data, a tiny model, an evaluation of it and a user folder."""
    write_drive(work / "data")
    folder = write_folder(work)
    run = work / "run"
    _retinaseg("train", "--data-root", work / "data", "--out", run, "--set", "epochs=2", *TINY)
    _retinaseg("evaluate", "--model", run / "model.safetensors", "--dataset", "drive",
               "--data-root", work / "data", "--out", work / "eval")
    return {"root": work / "data", "folder": folder, "run": run,
            "model": run / "model.safetensors", "metrics": work / "eval" / "metrics.json"}


def build_corpus(work: Path) -> list[Case]:
    ctx = prepare(work)
    cases = []
    for make in (pickle_cases, hang_cases, traceback_cases, meta_cases, report_cases,
                 config_cases, silent_cases):
        cases += make(work, ctx)
    return cases


def _segment(path, ctx, out: Path, *extra):
    return ["segment", path, "--model", ctx["model"], "--out", out, *extra]


class _MarkerOnUnpickle:
    """Unpickling this object opens (creates) the marker file: code running."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def malicious_pt(path: Path, marker: Path, model: Path | None) -> Path:
    """A .pt whose unpickling creates ``marker``; with ``model``, also a valid format-1
    checkpoint of it (it would segment normally if fully unpickled). tests/test_checkpoint.py
    uses it too."""
    import torch
    from dataclasses import asdict

    from retinaseg.hub.checkpoint import LEGACY_FORMAT, read_checkpoint

    payload = {"payload": _MarkerOnUnpickle(marker)}
    if model is not None:  # also a valid format-1 checkpoint: it would work if unpickled
        bundle = read_checkpoint(model)
        payload.update(format=LEGACY_FORMAT, meta=asdict(bundle.meta), config=bundle.config,
                       state_dict=bundle.state_dict)
    torch.save(payload, path)
    return path


def pickle_cases(work: Path, ctx: dict) -> list[Case]:
    import yaml

    cases = []
    for kind in ("bare", "with-weights"):
        base = work / f"pickle-{kind}"
        base.mkdir()
        marker = base / "marker"
        evil = malicious_pt(base / "evil.pt", marker, ctx["model"] if kind != "bare" else None)
        config = base / "config.yaml"
        config.write_text(yaml.safe_dump({"data": {"root": str(ctx["root"])},
                                          "model": {"kwargs": {"base_channels": 4, "depth": 2}}}))
        resume = base / "resume"
        resume.mkdir()
        os.link(evil, resume / "last.pt")
        train = ["train", "--data-root", ctx["root"], *TINY, "--set", "epochs=1"]
        entries = {
            "segment": (_segment(ctx["folder"] / "images", {"model": evil}, base / "seg"),
                        base / "seg", []),
            "evaluate": (["evaluate", "--model", evil, "--dataset", "drive", "--data-root",
                          ctx["root"], "--out", base / "eval"], base / "eval", []),
            "calibrate": (["calibrate", "--model", evil, "--config", config, "--data-root",
                           ctx["root"], "--out", base / "cal.safetensors"],
                          base / "cal.safetensors", []),
            "train-init_from": ([*train, "--out", base / "init", "--set", f"init_from={evil}"],
                                base / "init", []),
            "train-resume": ([*train, "--out", resume, "--resume"], resume, ["last.pt"]),
        }
        for entry, (argv, out, allowed) in entries.items():
            named = "last.pt" if entry == "train-resume" else "evil.pt"
            cases.append(Case(f"malicious .pt ({kind}) via {entry}", "security: malicious pickle",
                              argv[0], argv, 2, named, out, allowed, marker=marker))
    return cases


def _header_only_png(path: Path, width: int, height: int) -> Path:
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width,
                                                                      height, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


def hang_cases(work: Path, ctx: dict) -> list[Case]:
    from test_config_rules import BILLION_LAUGHS

    base = work / "hang"
    base.mkdir()
    fundus, _, _ = synthetic_fundus(96, 96, seed=5)
    Image.fromarray(fundus).resize((16, 4000)).save(base / "sliver.png")
    Image.fromarray(fundus).resize((4000, 16)).save(base / "flat.png")
    nan = np.full((96, 96), 0.5, np.float32)
    nan[5, 5] = np.nan
    Image.fromarray(nan).save(base / "nan.tif")
    inf = np.full((96, 96), 0.5, np.float32)
    inf[7, 7] = np.inf
    Image.fromarray(inf).save(base / "inf.tif")
    (base / "laughs.yaml").write_text(BILLION_LAUGHS)
    cases = [Case(f"{name} via segment", "hang: image", "segment",
                  _segment(base / name, ctx, base / f"out-{name}"), 1, str(base / name),
                  base / f"out-{name}", TABLE)
             for name in ("sliver.png", "flat.png", "nan.tif", "inf.tif")]
    laughs = base / "laughs.yaml"
    cases.append(Case("YAML nested anchors via train", "hang: YAML", "train",
                      ["train", "--config", laughs, "--out", base / "run"], 2, str(laughs),
                      base / "run"))
    cases.append(Case("YAML nested anchors via calibrate", "hang: YAML", "calibrate",
                      ["calibrate", "--model", ctx["model"], "--config", laughs, "--out",
                       base / "cal.safetensors"], 2, str(laughs), base / "cal.safetensors"))
    return cases


def traceback_cases(work: Path, ctx: dict) -> list[Case]:
    base = work / "tb"
    base.mkdir()
    bomb = _header_only_png(base / "bomb.png", 20000, 20000)
    taken = base / "taken"
    taken.write_text("x")
    readonly = _read_only_folder(base / "readonly")
    huge = _header_only_png(base / "huge.png", 100000, 100000)
    cases = [Case(f"decompression bomb {path.name} via segment", "traceback: decompression bomb",
                  "segment", _segment(path, ctx, base / f"out-{path.stem}"), 1, str(path),
                  base / f"out-{path.stem}", TABLE) for path in (bomb, huge)]
    config = ctx["run"] / "config.yaml"
    outs = {
        "segment": _segment(ctx["folder"] / "images", ctx, taken),
        "evaluate": ["evaluate", "--model", ctx["model"], "--dataset", "drive", "--data-root",
                     ctx["root"], "--out", taken / "eval"],
        "calibrate": ["calibrate", "--model", ctx["model"], "--config", config, "--out",
                      taken / "c.safetensors"],
        "train": ["train", "--data-root", ctx["root"], "--out", taken, *TINY],
    }
    for verb, argv in outs.items():
        cases.append(Case(f"--out is a file via {verb}", "traceback: --out is a file", verb,
                          argv, 3, str(taken), unchanged=taken))
    if readonly is not None:
        for verb, argv in (
                ("segment", _segment(ctx["folder"] / "images", ctx, readonly / "out")),
                ("evaluate", [*outs["evaluate"][:-1], readonly / "eval"]),
                ("train", ["train", "--data-root", ctx["root"], "--out", readonly / "run",
                           *TINY])):
            cases.append(Case(f"--out read-only via {verb}", "traceback: --out read-only",
                              verb, argv, 3, str(readonly), readonly))
    return cases


MOUNTS: list[Path] = []  # read-only tmpfs mounts to undo at the end


def _read_only_folder(folder: Path) -> Path | None:
    """A read-only folder: a read-only tmpfs (file modes do not stop root), else chmod 555."""
    folder.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs",
                               str(folder)], capture_output=True)
        if done.returncode != 0:
            return None
        MOUNTS.append(folder)
    else:
        folder.chmod(0o555)
    return folder


def unmount_all() -> None:
    while MOUNTS:
        subprocess.run(["umount", str(MOUNTS.pop())], capture_output=True)


META = {"architecture": "unet", "kwargs": {"in_channels": 1, "base_channels": 4, "depth": 2},
        "preprocess": ["green"], "fov_diameter": 50.0}
META_CHANGES = {"missing architecture": {"architecture": None},
                "missing fov_diameter": {"fov_diameter": None},
                "extra field": {"colour": "red"}, "threshold a string": {"threshold": "0.5"},
                "kwargs a list": {"kwargs": [1, 2]},
                "preprocess not strings": {"preprocess": ["green", 3]},
                "square_size a float": {"square_size": 1.5}}


def _file_with_meta(path: Path, meta: dict) -> Path:
    from safetensors.torch import save

    from retinaseg.hub.checkpoint import HEADER_KEY
    from retinaseg.models import create_model

    module = create_model("unet", in_channels=1, base_channels=4, depth=2)
    header = {"format": "retinaseg-checkpoint-2", "meta": meta, "config": {}}
    tensors = {k: v.contiguous() for k, v in module.state_dict().items()}
    path.write_bytes(save(tensors, {HEADER_KEY: json.dumps(header)}))
    return path


def meta_cases(work: Path, ctx: dict) -> list[Case]:
    base = work / "meta"
    base.mkdir()
    cases = []
    for index, (label, change) in enumerate(META_CHANGES.items()):
        meta = {k: v for k, v in {**META, **change}.items() if v is not None}
        path = _file_with_meta(base / f"meta{index}.safetensors", meta)
        out = base / f"out{index}"
        if index % 2:
            verb, argv = "evaluate", ["evaluate", "--model", path, "--dataset", "drive",
                                      "--data-root", ctx["root"], "--out", out]
        else:
            verb, argv = "segment", _segment(ctx["folder"] / "images", {"model": path}, out)
        cases.append(Case(f"checkpoint meta: {label} via {verb}", "traceback: checkpoint meta",
                          verb, argv, 2, path.name, out))
    return cases


REPORT_CHANGES = {
    "pooled f1 a string": lambda r: r["pooled"].update(f1="high"),
    "per_image empty": lambda r: r.update(per_image={}),
    "per_image f1 a list": lambda r: r["per_image"][0].update(f1=[1]),
    "histogram bits huge": lambda r: r["histogram"].update(bits=10**6),
    "histogram pos short": lambda r: r["histogram"].update(pos=r["histogram"]["pos"][:-1]),
    "threshold a string": lambda r: r.update(threshold="0.5"),
    "observers a list": lambda r: r.update(observers=[]),
    "machine a string": lambda r: r.update(machine="cpu"),
}


def report_cases(work: Path, ctx: dict) -> list[Case]:
    cases = []
    for index, (label, change) in enumerate(REPORT_CHANGES.items()):
        run = work / f"report{index}"
        run.mkdir()
        result = json.loads(ctx["metrics"].read_text())
        change(result)
        (run / "metrics.json").write_text(json.dumps(result))
        cases.append(Case(f"report on metrics.json: {label}", "traceback: metrics.json types",
                          "report", ["report", run], 2, str(run / "metrics.json"), run,
                          ["metrics.json"]))
    return cases


SET_OVERRIDES = ["data.crop_size=[1", "optim.lr=-0.01", "optim.lr=.nan", "seed=-1",
                 "threads=-2", "data.val_count=-1", "val_every=0", "data.crop_size=-16",
                 "data.crops_per_image=0", "select_metric=val_loss"]


def config_cases(work: Path, ctx: dict) -> list[Case]:
    base = work / "config"
    base.mkdir()
    cases = []
    for index, item in enumerate(SET_OVERRIDES):
        out = base / f"run{index}"
        cases.append(Case(f"--set '{item}' via train", "config: bad value", "train",
                          ["train", "--out", out, *TINY, "--set", item], 2, f"--set '{item}'",
                          out))
    for index, item in enumerate(("optim.lr=.nan", "data.crop_size=[1")):
        out = base / f"cal{index}.safetensors"
        cases.append(Case(f"--set '{item}' via calibrate", "config: bad value", "calibrate",
                          ["calibrate", "--model", ctx["model"], "--config",
                           ctx["run"] / "config.yaml", "--set", item, "--out", out], 2,
                          f"--set '{item}'", out))
    latin = base / "latin1.yaml"
    latin.write_bytes("epochs: 2\nout_dir: runs/é\n".encode("latin-1"))
    for verb, argv in (("train", ["train", "--config", latin, "--out", base / "latin-run"]),
                       ("calibrate", ["calibrate", "--model", ctx["model"], "--config", latin,
                                      "--out", base / "latin.safetensors"])):
        cases.append(Case(f"non-UTF-8 YAML via {verb}", "config: non-UTF-8 YAML", verb, argv,
                          2, str(latin), Path(argv[-1])))
    resume = base / "resume"
    subprocess.run(["cp", "-r", str(ctx["run"]), str(resume)], check=True)
    before = sorted(p.name for p in resume.iterdir())
    tiny8 = [a.replace("base_channels: 4", "base_channels: 8") for a in TINY]
    cases.append(Case("--resume from a last checkpoint of another width", "config: resume width",
                      "train", ["train", "--data-root", ctx["root"], "--out", resume, "--resume",
                                *tiny8, "--set", "epochs=3"], 2, "last.safetensors", resume,
                      before, unchanged=resume / "last.safetensors"))
    return cases


# --------------------------------------------------------------------------- silently wrong

def _mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L")) > 127


def _same_masks(a: Path, b: Path, what: str) -> Callable:
    def check(err: str) -> str | None:
        if not (a.is_file() and b.is_file()):
            return f"mask missing: {a.name if not a.is_file() else b.name}"
        ma, mb = _mask(a), _mask(b)
        if ma.shape != mb.shape:
            return f"{what}: mask {ma.shape} vs {mb.shape}"
        differ = np.count_nonzero(ma != mb)
        return f"{what}: {differ} pixels differ" if differ else None
    return check


def silent_cases(work: Path, ctx: dict) -> list[Case]:
    base = work / "silent"
    base.mkdir()
    cases = [_palette(base, ctx), _exif(base, ctx), _transparent(base, ctx),
             _multipage(base, ctx)]
    for name, colour, reason in (("black.png", (0, 0, 0), "under-exposed"),
                                 ("white.png", (255, 255, 255), "over-exposed"),
                                 ("white.jpg", (255, 255, 255), "over-exposed")):
        Image.new("RGB", (96, 96), colour).save(base / name)
        out = base / f"out-{name}"
        cases.append(Case(f"all-{name.split('.')[0]} {name[-3:]} via segment",
                          "silently wrong: blank image", "segment",
                          _segment(base / name, ctx, out), 1, str(base / name), out, TABLE,
                          outcome=lambda err, r=reason: None if r in err else f"no '{r}'"))
    cases.append(_zero_fov(base, ctx))
    return cases


def _palette(base: Path, ctx: dict) -> Case:
    fundus, _, _ = synthetic_fundus(96, 96, seed=7)
    palette = Image.fromarray(fundus).quantize(64)
    (base / "pal").mkdir()
    palette.save(base / "pal" / "palette.png")
    palette.convert("RGB").save(base / "pal" / "twin.png")
    out = base / "out-pal"
    return Case("palette PNG vs its RGB twin", "silently wrong: palette PNG", "segment",
                _segment(base / "pal", ctx, out), 0, "", out,
                ["palette_mask.png", "twin_mask.png", *TABLE],
                outcome=_same_masks(out / "palette_mask.png", out / "twin_mask.png", "palette"))


def _exif(base: Path, ctx: dict) -> Case:
    fundus, _, _ = synthetic_fundus(64, 96, seed=8)
    (base / "exif").mkdir()
    stored = Image.fromarray(fundus)
    exif = stored.getexif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    stored.save(base / "exif" / "rotated.jpg", quality=95, exif=exif)
    decoded = np.asarray(Image.open(base / "exif" / "rotated.jpg").convert("RGB"))
    Image.fromarray(np.rot90(decoded, -1).copy()).save(base / "exif" / "shown.png")
    out = base / "out-exif"
    return Case("EXIF-rotated JPEG vs the rotated photo", "silently wrong: EXIF rotation",
                "segment", _segment(base / "exif", ctx, out), 0, "", out,
                ["rotated_mask.png", "shown_mask.png", *TABLE],
                outcome=_same_masks(out / "rotated_mask.png", out / "shown_mask.png", "EXIF"))


def _transparent(base: Path, ctx: dict) -> Case:
    fundus, _, _ = synthetic_fundus(96, 96, seed=9)
    rows, cols = np.indices((96, 96))
    inside = (rows - 48) ** 2 + (cols - 48) ** 2 < 36 ** 2
    path = base / "transparent.png"
    Image.fromarray(np.dstack([fundus, inside * np.uint8(255)])).save(path)
    out = base / "out-transparent"

    def check(err: str) -> str | None:
        prob = out / "transparent_prob.png"
        if not prob.is_file():
            return "no probability map written"
        values = np.asarray(Image.open(prob).convert("L"))
        outside = np.count_nonzero(values[~inside])
        return f"{outside} transparent pixels have prob > 0" if outside else None
    return Case("transparent PNG: prob 0 outside the opaque disc", "silently wrong: transparency",
                "segment", _segment(path, ctx, out, "--save", "mask,prob"), 0, "", out,
                ["transparent_mask.png", "transparent_prob.png", *TABLE], outcome=check)


def _multipage(base: Path, ctx: dict) -> Case:
    fundus, _, _ = synthetic_fundus(96, 96, seed=6)
    path = base / "two.tif"
    pages = [Image.fromarray(fundus), Image.fromarray(fundus[::-1].copy())]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    out = base / "out-two"

    def check(err: str) -> str | None:
        warnings = [line for line in err.splitlines() if line.startswith("retinaseg: warn")]
        wanted = f"retinaseg: warning: {path}: has 2 frames; read the first"
        return None if warnings == [wanted] else f"warnings: {warnings}"
    return Case("multi-page TIFF warns once", "silently wrong: multi-page TIFF", "segment",
                _segment(path, ctx, out), 0, "", out, ["two_mask.png", *TABLE], outcome=check)


def _zero_fov(base: Path, ctx: dict) -> Case:
    folder = write_folder(base / "zero-fov")
    fov_path = sorted((folder / "fov").iterdir())[0]
    Image.new("L", Image.open(fov_path).size, 0).save(fov_path)
    out = base / "out-zero-fov"
    return Case("all-zero FOV mask via evaluate", "silently wrong: empty FOV mask", "evaluate",
                ["evaluate", "--model", ctx["model"], "--dataset", folder, "--split", "all",
                 "--out", out], 2,
                str(fov_path), out)


# --------------------------------------------------------------------------- the result

def totals(rows: list[dict]) -> dict:
    counts = {"cases": len(rows), "clear one-line errors": 0, "accepted as expected": 0}
    counts |= {verdict: 0 for verdict in BAD}
    for row in rows:
        key = {"clear": "clear one-line errors", "ok": "accepted as expected"}.get(
            row["verdict"], row["verdict"])
        counts[key] += 1
    return counts


def by_class(rows: list[dict]) -> dict:
    classes: dict = {}
    for row in rows:
        entry = classes.setdefault(row["class"], {"cases": 0, "good": 0, "bad": 0})
        entry["cases"] += 1
        entry["bad" if row["verdict"] in BAD else "good"] += 1
    return classes


def measured_elsewhere() -> dict:
    memory = json.loads((REPO / "benchmarks" / "results" / "peak_memory.json").read_text())
    ours = [r for r in memory["rows"] if r["code"] == "this commit" and r["exit_status"] == 0]
    largest = max(ours, key=lambda r: np.prod([int(v) for v in r["size"].split("x")]))
    return {"peak_memory": {"file": "benchmarks/results/peak_memory.json",
                            "commit": memory["commit"], "size": largest["size"],
                            "peak_rss_mib": largest["peak_rss_mib"]},
            "fuzz": {"tests/test_io_fuzz.py": "300 image files (default), 2000 more under -m slow",
                     "tests/test_config_rules.py":
                         "150 x 3 config inputs (default), 2000 x 3 under -m slow"}}


def markdown(result: dict) -> str:
    t = result["totals"]
    head = ["cases", "clear one-line errors", "accepted as expected", *BAD]
    lines = ["# Bad-input corpus", "", provenance_markdown(result),
             f"Each case is one `python -m retinaseg` subprocess (OMP_NUM_THREADS=1, {TIMEOUT} s "
             f"timeout, 2 at a time) on a corpus generated in a temporary folder, with a tiny "
             f"model trained first on the synthetic DRIVE layout. Total {result['seconds']} s.",
             "", "## Totals", "", markdown_table(head, [[t[k] for k in head]],
                                                  align="r" * len(head)),
             "", "## By class", "",
             markdown_table(["class", "cases", "good", "bad"],
                            [[k, v["cases"], v["good"], v["bad"]]
                             for k, v in result["by_class"].items()], align="lrrr"),
             "", "## Measured elsewhere", ""]
    memory, fuzz = result["measured_elsewhere"]["peak_memory"], result["measured_elsewhere"]["fuzz"]
    lines += [f"- peak memory on the largest accepted image ({memory['size']}): "
              f"{memory['peak_rss_mib']} MiB RSS (`{memory['file']}`, commit "
              f"`{memory['commit'][:7]}`)"]
    lines += [f"- fuzzing, `{name}`: {text}" for name, text in fuzz.items()]
    lines += ["", "## Cases", "",
              markdown_table(["case", "verb", "exit", "verdict", "s", "error line / detail"],
                             [[r["name"], r["verb"], r["status"], r["verdict"], r["seconds"],
                               _cell(r["detail"] or r["error_line"])] for r in result["cases"]],
                             align="llrlrl")]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return "`" + (text[:160] + "…" if len(text) > 160 else text) + "`" if text else ""


def run_corpus(work: Path, only: list[str] | None = None, jobs: int = 2) -> list[dict]:
    try:
        cases = build_corpus(work)
        if only:
            cases = [c for c in cases if any(o in c.name for o in only)]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(run_case, cases))
    finally:
        unmount_all()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--only", nargs="*", help="run only cases whose name contains these")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    header = clean_provenance(REPO, args.allow_dirty)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        rows = run_corpus(Path(work), args.only)
    result = {**header, "omp_num_threads": "1", "seconds": round(time.perf_counter() - started),
              "totals": totals(rows), "by_class": by_class(rows),
              "measured_elsewhere": measured_elsewhere(), "cases": rows}
    write_result(args.out / "bad_input", result, markdown(result))


if __name__ == "__main__":
    main()
