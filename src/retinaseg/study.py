"""Training studies: a grid of variants of one recipe, trained, evaluated and tabled.

A study file names a base training config, the variants (each a set of
config overrides), the seeds, and where to evaluate::

    base: convlstm-unet-drive.yaml        # relative to the study file
    out_dir: runs/study
    seeds: [0]
    set: {epochs: 20}                     # applied to every run
    evaluate: {dataset: drive, split: test}
    pretrain:                             # optional: a run others start from ("@pretrain")
      set: {data.dataset: chase_db1+hrf, data.split: all, data.fov_diameter: 540}
    variants:
      baseline: {}
      schedule-step: {schedule.name: step, schedule.step_epochs: 8}
      start-frozen: {init_from: "@pretrain", freeze_encoder: true}
    repeat: {variants: [baseline, schedule-step], seeds: [1]}   # extra seeds
    # or  repeat: {top: 4, seeds: [1]}: extra seeds for the 4 variants with the
    # best validation AUC, chosen once every variant has its first runs

Every run gets ``OUT/<variant>-seed<k>/`` with the training run and an
``eval/`` folder holding metrics.json and the report with its figures. A run
whose eval/metrics.json exists is finished and skipped on a rerun; a run cut
short resumes from its last.pt. The table (``OUT/study.csv`` and
``OUT/study.md``) is rewritten after every run, so an interrupted study keeps
what it finished. Variants are compared on their validation scores (chosen
before any test image is seen); the test columns say how the choice holds up.

Several processes can share one study: start ``retinaseg study`` again with the
same folder (e.g. one per core with OMP_NUM_THREADS=1). Each run is claimed by
the process that trains it (``OUT/<run>/.claim``, created atomically); a claim
whose process has died is taken over, and the run resumes. A process stops when
every run left is claimed by another one.
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import math
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import TrainConfig, apply_overrides, config_from_dict, read_yaml
from .errors import RetinasegError, file_error
from .outputs import write_all_or_nothing

PRETRAIN = "@pretrain"
TEST_KEYS = ("auc_roc", "f1", "accuracy", "sensitivity", "specificity", "precision", "mcc")
STUDY_KEYS = ("base", "out_dir", "seeds", "set", "evaluate", "pretrain", "variants", "repeat")


@dataclass
class Study:
    path: Path
    base: dict
    out_dir: Path
    seeds: list
    common: dict
    dataset: str
    split: str
    variants: dict
    pretrain: dict | None = None
    repeat: dict = field(default_factory=dict)


@dataclass
class PlannedRun:
    variant: str
    seed: int
    overrides: dict

    @property
    def name(self) -> str:
        return f"{self.variant}-seed{self.seed}"


def load_study(path, out_dir=None) -> Study:
    path = Path(path)
    values = read_yaml(path)
    unknown = sorted(set(values) - set(STUDY_KEYS))
    if unknown:
        raise file_error(path, f"unknown study key {unknown[0]!r}; known: {', '.join(STUDY_KEYS)}")
    if not values.get("base") or not values.get("variants"):
        raise file_error(path, "a study needs 'base' (a training config) and 'variants'")
    base = read_yaml(path.parent / values["base"])
    evaluate = values.get("evaluate") or {}
    study = Study(path, base, Path(out_dir or values.get("out_dir") or "runs/study"),
                  [int(s) for s in values.get("seeds", [0])], values.get("set") or {},
                  evaluate.get("dataset", base.get("data", {}).get("dataset", "drive")),
                  evaluate.get("split", "test"), dict(values["variants"]),
                  values.get("pretrain"), values.get("repeat") or {})
    for run in planned_runs(study):  # every variant must be a valid config before hours of training
        run_config(study, run, data_root=None)
    return study


def planned_runs(study: Study) -> list[PlannedRun]:
    """Every variant at every seed, then the repeats. Repeats chosen by rank
    (``repeat.top``) appear only once all first runs are finished."""
    runs = [PlannedRun(name, seed, overrides or {})
            for name, overrides in study.variants.items() for seed in study.seeds]
    for name in study.repeat.get("variants", []) + leading_variants(study, runs):
        if name not in study.variants:
            raise file_error(study.path, f"repeat names unknown variant {name!r}")
        runs += [PlannedRun(name, int(seed), study.variants[name] or {})
                 for seed in study.repeat.get("seeds", []) if int(seed) not in study.seeds]
    return runs


def leading_variants(study: Study, first_runs: list[PlannedRun]) -> list[str]:
    """The ``repeat.top`` variants by mean validation AUC over their first runs,
    or none while any first run is unfinished (the ranking would still change)."""
    top = int(study.repeat.get("top", 0))
    if top <= 0:
        return []
    rows = [run_row(study, run) for run in first_runs]
    if any(row is None for row in rows):
        return []
    named = set(study.repeat.get("variants", []))
    ranked = [e["variant"] for e in summarise(rows) if e["variant"] not in named]
    return ranked[:top]


def _as_overrides(values: dict) -> list[str]:
    # JSON is valid YAML, so values round-trip through apply_overrides unchanged.
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def _build_config(study: Study, overrides: dict, data_root) -> TrainConfig:
    """The base config with the study's common settings, then ``overrides``."""
    overrides = {**study.common, **overrides, "resume": True}
    if data_root:
        overrides["data.root"] = str(data_root)
    values = json.loads(json.dumps(study.base))  # a deep copy per run
    return config_from_dict(apply_overrides(values, _as_overrides(overrides)))


def run_config(study: Study, run: PlannedRun, data_root) -> TrainConfig:
    overrides = {**run.overrides, "seed": run.seed, "out_dir": str(study.out_dir / run.name)}
    if overrides.get("init_from") == PRETRAIN:
        if not study.pretrain:
            raise file_error(study.path, f"variant {run.variant!r} starts from {PRETRAIN} "
                                         "but the study has no 'pretrain' section")
        overrides["init_from"] = str(study.out_dir / "pretrain" / "model.pt")
    try:
        return _build_config(study, overrides, data_root)
    except RetinasegError as exc:
        raise file_error(study.path, f"variant {run.variant!r}: {exc}") from None


def pretrain_config(study: Study, data_root) -> TrainConfig:
    overrides = {**(study.pretrain.get("set") or {}), "out_dir": str(study.out_dir / "pretrain")}
    return _build_config(study, overrides, data_root)


# --------------------------------------------------------------------------- running

def run_study(study: Study, data_root=None, log=print) -> list[dict]:
    """Train and evaluate every planned run not yet finished; returns the table rows."""
    from .train import fit

    study.out_dir.mkdir(parents=True, exist_ok=True)
    session = StudySession(study.out_dir / SESSIONS_FILE)
    if study.pretrain:
        _pretrain(study, data_root, session, log)
    kept = [run.name for run in planned_runs(study) if is_finished(study, run)]
    if kept:
        log(f"finished earlier, kept: {', '.join(kept)}")
    # The plan is re-read after every run: ranked repeats join once the first runs are in.
    while pending := [run for run in planned_runs(study) if not is_finished(study, run)]:
        run = next((r for r in pending if claim(study.out_dir / r.name)), None)
        if run is None:
            log(f"{len(pending)} run(s) left, all claimed by other processes: "
                f"{', '.join(r.name for r in pending)}")
            break
        try:
            log(f"[{len(pending)} to go] {run.name}: training")
            model_path = fit(run_config(study, run, data_root))
            evaluate_run(model_path, study, data_root, study.out_dir / run.name / "eval")
        finally:
            release(study.out_dir / run.name)
        session.record(run.name)
        write_table(study)
    return write_table(study)


def _pretrain(study: Study, data_root, session: "StudySession", log) -> None:
    """Train the shared starting point once, or wait while another process does."""
    from .train import fit

    folder = study.out_dir / "pretrain"
    while not (folder / "model.pt").is_file():
        if claim(folder):
            try:
                log("pretraining: " + json.dumps(study.pretrain.get("set") or {}))
                fit(pretrain_config(study, data_root))
            finally:
                release(folder)
            session.record("pretrain")
            return
        log("waiting for another process to finish pretraining")
        time.sleep(30)


# --------------------------------------------------------------------------- claims

CLAIM_FILE = ".claim"


def claim(folder: Path) -> bool:
    """Take ``folder``'s run for this process; False while a live process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CLAIM_FILE
    for _ in range(2):  # a second try after clearing a dead process's claim
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if claim_is_live(path):
                return False
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump({"host": socket.gethostname(), "pid": os.getpid()}, handle)
        return True
    return False


def claim_is_live(path: Path) -> bool:
    """Whether the process that wrote the claim still runs (claims from another
    host are trusted: there is no way to check them from here)."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return False  # half-written or gone: its writer died or just finished
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release(folder: Path) -> None:
    (folder / CLAIM_FILE).unlink(missing_ok=True)


SESSIONS_FILE = "sessions.json"


class StudySession:
    """One invocation of a study, appended to ``sessions.json`` after every run:
    the command, commit, machine, and wall time spent, so the table can say how
    long the study took even when it was run in several sittings."""

    def __init__(self, path: Path):
        from .utils import git_commit, machine_info

        self.path = path
        self.started = time.perf_counter()
        self.entry = {"command": " ".join(sys.argv),
                      "commit": git_commit(Path(__file__).resolve().parent),
                      "machine": machine_info(),
                      "started": datetime.datetime.now(datetime.timezone.utc)
                      .isoformat(timespec="seconds"),
                      "seconds": 0.0, "finished": []}
        self.entry["pid"] = os.getpid()

    def record(self, name: str) -> None:
        """Add ``name`` to this sitting's entry; other processes' entries are kept."""
        import fcntl

        self.entry["seconds"] = round(time.perf_counter() - self.started, 1)
        self.entry["finished"].append(name)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent processes of one study
            others = [e for e in read_sessions(self.path) if not self._is_mine(e)]
            write_all_or_nothing({self.path: {"sessions": others + [self.entry]}})

    def _is_mine(self, entry: dict) -> bool:
        return (entry.get("pid") == self.entry["pid"]
                and entry.get("started") == self.entry["started"])


def read_sessions(path: Path) -> list[dict]:
    return json.loads(path.read_text())["sessions"] if path.is_file() else []


def is_finished(study: Study, run: PlannedRun) -> bool:
    return (study.out_dir / run.name / "eval" / "metrics.json").is_file()


def evaluate_run(model_path: Path, study: Study, data_root, out: Path) -> None:
    """A run's test evaluation and report, named after the run's folder."""
    from .checkpoint import load_checkpoint
    from .data import load_dataset
    from .evaluate import EvalOptions, evaluate_to_folder

    data = load_dataset(study.dataset, study.split, data_root)
    evaluate_to_folder(load_checkpoint(model_path), data, EvalOptions(bootstrap=200), out,
                       report=True, model_name=out.parent.name)


# --------------------------------------------------------------------------- table

def run_row(study: Study, run: PlannedRun) -> dict | None:
    folder = study.out_dir / run.name
    metrics_path = folder / "eval" / "metrics.json"
    if not metrics_path.is_file():
        return None
    result = json.loads(metrics_path.read_text())
    with open(folder / "log.csv", newline="") as handle:
        log = list(csv.DictReader(handle))
    scored = [r for r in log if r["val_auc_roc"]]
    best = max(scored, key=lambda r: float(r["val_auc_roc"])) if scored else {}
    row = {"variant": run.variant, "seed": run.seed,
           "val_auc_roc": float(best.get("val_auc_roc", "nan")),
           "val_f1": float(best.get("val_f1", "nan"))}
    row.update({f"test_{k}": result["pooled"][k] for k in TEST_KEYS})
    row.update(train_minutes=float(log[-1]["seconds"]) / 60 if log else math.nan,
               epochs=len(log), epochs_to_best=int(best.get("epoch", 0)),
               report=str(Path(run.name) / "eval" / "report.html"))
    return row


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and sd over seeds per variant, best validation AUC first."""
    by_variant: dict[str, list[dict]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    numeric = [k for k in rows[0] if k not in ("variant", "seed", "report")] if rows else []
    summary = []
    for variant, group in by_variant.items():
        entry = {"variant": variant, "seeds": len(group)}
        for key in numeric:
            values = np.array([r[key] for r in group], dtype=float)
            entry[key] = float(values.mean())
            entry[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        summary.append(entry)
    return sorted(summary, key=lambda e: -e["val_auc_roc"] if not math.isnan(e["val_auc_roc"]) else 0)


def write_table(study: Study) -> list[dict]:
    rows = [row for run in planned_runs(study) for row in [run_row(study, run)] if row]
    if not rows:
        return rows
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    (study.out_dir / "study.csv").write_text(buffer.getvalue())
    (study.out_dir / "study.md").write_text(study_markdown(study, rows))
    return rows


def _cell(entry: dict, key: str) -> str:
    value, sd = entry[key], entry.get(f"{key}_sd", math.nan)
    if key in ("train_minutes", "epochs", "epochs_to_best"):
        text = f"{value:.1f}"
        return text if math.isnan(sd) else f"{text} ± {sd:.1f}"
    return f"{value:.4f}" if math.isnan(sd) else f"{value:.4f} ± {sd:.4f}"


def study_markdown(study: Study, rows: list[dict]) -> str:
    keys = ["val_auc_roc", "val_f1", *[f"test_{k}" for k in TEST_KEYS], "train_minutes",
            "epochs_to_best"]
    lines = [f"# Study {study.path.name}: {len(rows)} runs", "", *provenance_lines(study), "",
             f"Test set: {study.dataset}/{study.split} (FOV, pooled, threshold from validation). "
             "Variants ranked by validation AUC; mean ± sd over seeds where there are several.",
             "", "| variant | seeds | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for entry in summarise(rows):
        lines.append(f"| {entry['variant']} | {entry['seeds']} | "
                     + " | ".join(_cell(entry, k) for k in keys) + " |")
    lines += ["", "Per run (each has a report with ROC / PR curves and per-image panels):", ""]
    lines += [f"- {r['variant']} seed {r['seed']}: [{r['report']}]({r['report']})" for r in rows]
    return "\n".join(lines) + "\n"


def provenance_lines(study: Study) -> list[str]:
    """Wall time, commands, commits and machines of every sitting of the study."""
    sessions = read_sessions(study.out_dir / SESSIONS_FILE)
    if not sessions:
        return []
    process = sum(entry["seconds"] for entry in sessions)
    wall = wall_seconds(sessions)
    parallel = (f" ({process / 60:.1f} process-minutes: some sittings ran side by side)"
                if process - wall > 1 else "")
    lines = [f"Wall time {wall / 60:.1f} min in {len(sessions)} sitting(s){parallel}, "
             "training and evaluation included:"]
    for entry in sessions:
        machine = entry["machine"]
        threads = f", {machine['torch_threads']} thread(s)" if "torch_threads" in machine else ""
        lines.append(f"- {entry['started']}: `{entry['command']}`, commit `{entry['commit']}`, "
                     f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores{threads}), "
                     f"{entry['seconds'] / 60:.1f} min, {len(entry['finished'])} run(s)")
    return lines


def wall_seconds(sessions: list[dict]) -> float:
    """Seconds during which at least one sitting was running (overlaps counted once)."""
    spans = sorted((start, start + e["seconds"]) for e in sessions
                   for start in [datetime.datetime.fromisoformat(e["started"]).timestamp()])
    total, reach = 0.0, -math.inf
    for start, end in spans:
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total
