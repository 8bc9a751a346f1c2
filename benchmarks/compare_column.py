"""The column Bi-LSTM paper's comparison, on one protocol, as one table.

    python benchmarks/compare_column.py --study configs/compare-hrf-cpu.yaml --data-root ../shared/data

The study file (see src/retinaseg/study.py) lists the trained models: the
column Bi-LSTM, its row+column variant and the paper's baselines, all on the
same images, split and preprocessing. They are trained and evaluated through the
study runner (finished runs are kept, so a rerun only adds what is missing);
then each column model is also evaluated with rotation fusion (``--fusion``, a
``rot<K>`` test-time augmentation the paper proposes but does not try). Every
row is scored on the test images at their native resolution.

Writes benchmarks/results/<study name>.{json,md}: accuracy, recall,
specificity, precision, F1, FPR, MCC and AUC-ROC per model, with its
parameter count, training minutes and inference seconds per image on this
machine, plus the command, commit and machine. To train on several cores, start
``retinaseg study --config <the same study file>`` beside it (OMP_NUM_THREADS=1
each): the processes share the runs, and this one writes the table once all are
done. With ``--export NAME`` the
column model with the best validation AUC (plain or row+column, never chosen on
the test images) becomes the shipped weights NAME.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from retinaseg.hub.checkpoint import load_checkpoint, sha256_of
from retinaseg.data import load_dataset
from retinaseg.evaluation.evaluate import EvalOptions, evaluate_model
from retinaseg.hub.pretrained import export_weights, unpinned
from retinaseg.evaluation.results import EvaluationResult, metric_columns, read_result
from retinaseg.study import (finished_model, is_finished, load_study, planned_runs,
                             provenance_lines, run_row, run_study)
from retinaseg.io.tables import markdown_table
from retinaseg.utils import (add_dirty_option, git_commit, provenance, provenance_markdown,
                             require_clean_commit, write_result)

ROOT = Path(__file__).resolve().parents[1]
KEYS = metric_columns(drop=("iou", "auc_pr"))  # the column paper's table
COLUMN_MODEL = "column-bilstm"  # its variants (plain, rows+columns) also get rotation fusion


def run_facts(study, run, result: EvaluationResult) -> dict:
    """A table row's scores and costs from a finished run and one of its evaluations."""
    # Unfused weights: the parameters the model trains (folding drops batch norms).
    bundle = load_checkpoint(finished_model(study.out_dir / run.name), for_inference=False)
    return {**{k: result.pooled[k] for k in KEYS},
            "parameters": sum(p.numel() for p in bundle.module.parameters()),
            "train_minutes": run_row(study, run)["train_minutes"],
            "seconds_per_image": result.seconds_per_image, "tta": result.tta,
            "threshold": result.threshold, "threshold_source": result.threshold_source}


def fused_result(folder: Path, study, data_root, fusion: str) -> EvaluationResult:
    """The column model's test scores with rotation fusion, computed once and kept."""
    path = folder / f"eval-{fusion}" / "metrics.json"
    if not path.is_file():
        data = load_dataset(study.dataset, study.split, data_root)
        result = evaluate_model(load_checkpoint(finished_model(folder)), data,
                                EvalOptions(tta=fusion))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict()) + "\n")
    return read_result(path.parent)


def table_rows(study, data_root, fusion: str) -> list[dict]:
    rows = []
    for run in planned_runs(study):
        if run.seed != study.seeds[0]:
            continue
        folder = study.out_dir / run.name
        result = read_result(folder / "eval")
        rows.append({"model": run.variant, **run_facts(study, run, result)})
        if run.variant.startswith(COLUMN_MODEL):
            fused = fused_result(folder, study, data_root, fusion)
            rows.append({"model": f"{run.variant} + rotation fusion ({fusion})",
                         **run_facts(study, run, fused)})
    return rows


def wait_for_other_processes(study, poll_seconds: float = 30) -> None:
    """Runs claimed by another process sharing the study: wait until they finish."""
    while not all(is_finished(study, run) for run in planned_runs(study)):
        time.sleep(poll_seconds)


def best_column_run(study):
    """The column model variant with the best validation AUC, and that AUC."""
    scored = [(run_row(study, run)["val_auc_roc"], run) for run in planned_runs(study)
              if run.variant.startswith(COLUMN_MODEL) and run.seed == study.seeds[0]]
    auc, run = max(scored, key=lambda pair: pair[0])
    return run, auc


def export_best_column_model(study, name: str) -> dict:
    run, auc = best_column_run(study)
    path = export_weights(finished_model(study.out_dir / run.name), name)
    pin = unpinned(name, path)
    if pin:
        print(pin, file=sys.stderr)
    return {"name": name, "variant": run.variant, "val_auc_roc": auc, "file": path.name,
            "sha256": sha256_of(path), "to_pin": pin}


def markdown(result: dict) -> str:
    head = ["model", *KEYS, "parameters", "train min", "s / image"]
    rows = [[row["model"], *(f"{row[k]:.4f}" for k in KEYS), f"{row['parameters']:,}",
             f"{row['train_minutes']:.1f}", f"{row['seconds_per_image']:.2f}"]
            for row in result["rows"]]
    lines = [f"# {result['study']}: {result['dataset']} {result['split']}", "",
             provenance_markdown(result),
             "Scored at native resolution inside the FOV, pooled over the test images.", "",
             markdown_table(head, rows)]
    if result.get("sittings"):
        lines += ["", "The table above was written by the command at the top; the models were "
                      "trained and evaluated in these sittings of the study:", "",
                  *result["sittings"]]
    if result.get("exported"):
        shipped = result["exported"]
        lines += ["", f"Shipped as `{shipped['name']}`: {shipped['variant']}, the column model "
                      f"with the best validation AUC ({shipped['val_auc_roc']:.4f})."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True, help="study YAML listing the models")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--fusion", default="rot12", help="rotation fusion mode (rot<K>)")
    parser.add_argument("--out", help="result path without suffix "
                                      "(default benchmarks/results/<study file name>)")
    parser.add_argument("--export", metavar="NAME",
                        help="ship the column model with the best validation AUC as NAME")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    commit = require_clean_commit(git_commit(ROOT), args.allow_dirty)  # before any training
    study = load_study(args.study)
    run_study(study, args.data_root, log=lambda line: print(line, flush=True))
    wait_for_other_processes(study)
    result = {"study": Path(args.study).name, "dataset": study.dataset, "split": study.split,
              **provenance(ROOT, commit), "fusion": args.fusion,
              "rows": table_rows(study, args.data_root, args.fusion),
              "sittings": provenance_lines(study)}
    if args.export:
        result["exported"] = export_best_column_model(study, args.export)
    write_result(args.out or ROOT / "benchmarks/results" / Path(args.study).stem, result,
                 markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
