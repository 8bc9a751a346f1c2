"""Training and evaluating a study's runs, several processes at a time if wanted."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .claims import claim, release
from .plan import PlannedRun, Study, finished_model, planned_runs, pretrain_config, run_config
from .sessions import SESSIONS_FILE, StudySession
from .table import write_table


def run_study(study: Study, data_root=None, log=print, device: str | None = None) -> list[dict]:
    """Train and evaluate every planned run not yet finished; returns the table rows.
    ``device`` (auto, cpu, cuda, ...) overrides every run's training device."""
    from ..train import fit

    study.out_dir.mkdir(parents=True, exist_ok=True)
    session = StudySession(study.out_dir / SESSIONS_FILE)
    if study.pretrain:
        _pretrain(study, data_root, session, log, device)
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
            model_path = fit(run_config(study, run, data_root, device))
            evaluate_run(model_path, study, data_root, study.out_dir / run.name / "eval")
        finally:
            release(study.out_dir / run.name)
        session.record(run.name)
        write_table(study, planned_runs(study))
    return write_table(study, planned_runs(study))


def _pretrain(study: Study, data_root, session: "StudySession", log, device=None) -> None:
    """Train the shared starting point once, or wait while another process does."""
    from ..train import fit

    folder = study.out_dir / "pretrain"
    while not finished_model(folder).is_file():
        if claim(folder):
            try:
                log("pretraining: " + json.dumps(study.pretrain.get("set") or {}))
                fit(pretrain_config(study, data_root, device))
            finally:
                release(folder)
            session.record("pretrain")
            return
        log("waiting for another process to finish pretraining")
        time.sleep(30)


def is_finished(study: Study, run: PlannedRun) -> bool:
    return (study.out_dir / run.name / "eval" / "metrics.json").is_file()


def evaluate_run(model_path: Path, study: Study, data_root, out: Path) -> None:
    """A run's test evaluation and report, named after the run's folder."""
    from ..hub.checkpoint import load_checkpoint
    from ..data import load_dataset
    from ..evaluation.evaluate import EvalOptions, evaluate_to_folder

    data = load_dataset(study.dataset, study.split, data_root)
    evaluate_to_folder(load_checkpoint(model_path), data, EvalOptions(bootstrap=200), out,
                       report=True, model_name=out.parent.name)


# --------------------------------------------------------------------------- table
