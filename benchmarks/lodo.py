"""Leave one dataset out: the ``general`` recipe trained on two datasets, tested on the third.

    python benchmarks/lodo.py command --holdout drive          # print the training commands
    python benchmarks/lodo.py train --holdout drive [--resume]  # run them (hours)
    python benchmarks/lodo.py aggregate --general general       # the table, from finished runs

``command`` / ``train``: the recipe ``general`` was trained with, cycle by cycle
(``configs/general.yaml``, then ``general-restart.yaml`` from its weights, then
``general-cycle3.yaml`` from those; ``--config`` once per cycle to give others),
with ``data.dataset`` = its datasets but the held-out one, ``data.val_ids`` = its
validation ids but the held-out dataset's (so the best epoch and the threshold
come from the training datasets' validation images only). The first cycle trains
into ``benchmarks/lodo_runs/lodo-<holdout>`` (``--runs-root``), cycle N into its
``cycleN`` folder, starting from cycle N-1's ``model.safetensors``. Further
``--set KEY=VALUE`` items go after those (a quick check: ``--set epochs=1``),
``--cycles N`` stops after the first N cycles. ``train`` skips a finished cycle;
``--resume`` continues an unfinished one from its ``last.safetensors``.

A finished run's ``model.safetensors`` (3.9 MB), ``log.csv`` and ``config.yaml``
are committed, so ``aggregate`` reruns from the tree alone; the resume state
(``last.safetensors``, ``best.safetensors``) is git-ignored. A run folder kept
only outside the tree does not outlive the machine it was trained on.

``finish``: what ``general`` was given after its last cycle, each chosen by the same
rule on this run's own validation images: the top of the working FOV range
(benchmarks/working_scale.py), then, at that range, the mask post-processing
(benchmarks/postprocess.py, its validation part); ``retinaseg calibrate`` writes the
model with both (and the calibre measured under them) into ``lodo-<holdout>/finished``,
beside both benchmarks' results. The weights are the last cycle's.

``aggregate``: every finished run (one with ``model.safetensors``; its latest
finished cycle, which the table names) and the
in-domain ``--general`` model scored on the DRIVE, CHASE_DB1 and HRF test sets by
benchmarks/general_model.py's scorecard (native resolution, inside the FOV,
pooled, each model's own rule: a run finished with general's recipe cuts each photo at
its Otsu threshold, as ``general`` does; ``--threshold validated`` cuts every model's
photos at its own validated threshold instead); unfinished runs are listed, not
scored. Beside them the COD row (Galdran et al., Sci Rep 2022: a U-Net trained on
all the other public sets, tested on the unseen one). Writes
benchmarks/results/lodo.{md,json} (``--out``).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # general_model, beside this file

from general_model import TEST_SETS, scorecard, training_cost  # noqa: E402

from retinaseg.config.schema import read_yaml  # noqa: E402
from retinaseg.pipeline.cut import parse_threshold  # noqa: E402
from retinaseg.io.tables import markdown_table  # noqa: E402
from retinaseg.utils import (add_dirty_option, clean_provenance, provenance_markdown,  # noqa: E402
                             shown_path, write_result)

ROOT = Path(__file__).resolve().parents[1]
FINISHED = "finished"  # a run's model after finish, beside its cycles
#: The cycles ``general`` was trained in: each after the first starts from the one before's
#: weights (their ``init_from`` names ``general``'s own earlier cycle, replaced here).
RECIPE_CYCLES = tuple(ROOT / "configs" / name for name in
                      ("general.yaml", "general-restart.yaml", "general-cycle3.yaml"))
RUNS_ROOT = ROOT / "benchmarks" / "lodo_runs"
#: Galdran et al., Sci Rep 2022 ("COD"): F1 of a U-Net tested on the dataset it never saw.
COD_F1 = {"drive": 0.775, "stare": 0.806, "chase_db1": 0.779, "hrf": 0.746}
COLUMNS = (*TEST_SETS, "stare")  # STARE is not in the shared data: COD's figure only
TARGET_F1 = 0.80  # on each held-out dataset


def recipe_datasets(values: dict) -> list[str]:
    return [name for name in str(values["data"]["dataset"]).split("+") if name]


def holdout_overrides(values: dict, holdout: str) -> list[str]:
    """The ``--set`` items that take the recipe ``values`` to the two other datasets."""
    datasets = recipe_datasets(values)
    if holdout not in datasets:
        raise SystemExit(f"--holdout {holdout}: the recipe trains on {'+'.join(datasets)}")
    kept = [i for i in values["data"].get("val_ids") or [] if i.split(":")[0] != holdout]
    return [f"data.dataset={'+'.join(d for d in datasets if d != holdout)}",
            f"data.val_ids={json.dumps(kept)}"]  # a JSON list is a YAML flow list


def run_dir(runs_root: Path, holdout: str) -> Path:
    return Path(runs_root) / f"lodo-{holdout}"


def cycle_dir(runs_root: Path, holdout: str, cycle: int) -> Path:
    """Where cycle ``cycle`` (from 1) of a hold-out run trains."""
    folder = run_dir(runs_root, holdout)
    return folder if cycle == 1 else folder / f"cycle{cycle}"


def later_cycles(runs_root: Path, holdout: str) -> list[int]:
    """The numbers of a hold-out run's ``cycleN`` folders (2 and up), in order."""
    names = (p.name[len("cycle"):] for p in run_dir(runs_root, holdout).glob("cycle*"))
    return sorted(int(n) for n in names if n.isdigit())


def final_run_dir(runs_root: Path, holdout: str) -> Path:
    """The folder of a hold-out run's finished model (``finish``), else of its latest
    finished cycle, else cycle 1's."""
    folder = run_dir(runs_root, holdout)
    if (folder / FINISHED / "model.safetensors").is_file():
        return folder / FINISHED
    for cycle in reversed(later_cycles(runs_root, holdout)):
        if (cycle_dir(runs_root, holdout, cycle) / "model.safetensors").is_file():
            return cycle_dir(runs_root, holdout, cycle)
    return folder


def cycle_of(runs_root: Path, holdout: str, folder: Path) -> int:
    """The training cycle a run folder holds (``finish``'s: the last one there is)."""
    if folder == run_dir(runs_root, holdout):
        return 1
    if folder.name == FINISHED:
        return max(later_cycles(runs_root, holdout), default=1)
    return int(folder.name[len("cycle"):])


def recipe_cycles(args) -> list[Path]:
    cycles = list(args.config or RECIPE_CYCLES)
    return cycles[:args.cycles] if args.cycles else cycles


def train_argv(args, cycle: int, shown=str) -> list[str]:
    """``retinaseg train ...`` (after the program name) for cycle ``cycle`` of
    ``args.holdout``; ``shown`` writes each path."""
    config = recipe_cycles(args)[cycle - 1]
    overrides = holdout_overrides(read_yaml(config, "recipe"), args.holdout)
    if cycle > 1:  # from this hold-out run's previous cycle, not general's
        previous = cycle_dir(args.runs_root, args.holdout, cycle - 1) / "model.safetensors"
        overrides.append(f"init_from={shown(previous)}")
    argv = ["train", "--config", shown(config), "--data-root", shown(args.data_root),
            "--out", shown(cycle_dir(args.runs_root, args.holdout, cycle))]
    for item in overrides + (args.set or []):
        argv += ["--set", item]
    return argv + (["--resume"] if args.resume else [])


def _shown(path) -> str:
    """``path`` relative to the current folder: a command to run from here."""
    return os.path.relpath(path)


def cmd_command(args) -> int:
    for cycle in range(1, len(recipe_cycles(args)) + 1):
        print(shlex.join(["retinaseg", *train_argv(args, cycle, _shown)]))
    return 0


def cmd_train(args) -> int:
    from retinaseg.cli import main as retinaseg

    for cycle in range(1, len(recipe_cycles(args)) + 1):
        folder = cycle_dir(args.runs_root, args.holdout, cycle)
        if (folder / "model.safetensors").is_file():
            print(f"{folder} has finished (model.safetensors)")
            continue
        status = retinaseg(train_argv(args, cycle, _shown))
        if status:
            return status
    return 0


def cmd_finish(args) -> int:
    from retinaseg.cli import main as retinaseg

    last = cycle_dir(args.runs_root, args.holdout, len(recipe_cycles(args)))
    if not (last / "model.safetensors").is_file():
        raise SystemExit(f"{last}: the recipe's last cycle has not finished (train first)")
    out = run_dir(args.runs_root, args.holdout) / FINISHED
    out.mkdir(exist_ok=True)
    config = last / "config.yaml"
    calibrate = ["calibrate", "--config", str(config), "--data-root", str(args.data_root),
                 "--set", f"data.fov_range={json.dumps(widened_range(args, last, out))}"]
    scaled = out / "scaled.safetensors"  # at the chosen range, before the post-processing
    status = retinaseg([*calibrate, "--model", str(last / "model.safetensors"), "--out", str(scaled)])
    if status:
        return status
    cleanup = chosen_postprocess(args, scaled, out)
    status = retinaseg([*calibrate, "--model", str(scaled), *cleanup,
                        "--out", str(out / "model.safetensors")])
    scaled.unlink()
    if not status:  # the benchmarks read the run's config beside its model
        (out / "config.yaml").write_bytes(config.read_bytes())
    return status


def widened_range(args, last: Path, out: Path) -> list[float]:
    """The recipe's ``data.fov_range`` with its top where benchmarks/working_scale.py
    puts it on the run's validation images (its result written into ``out``)."""
    import working_scale

    stem = out / "working_scale"
    options = ["--model", str(last / "model.safetensors"), "--data-root", str(args.data_root),
               "--out", str(stem)] + (["--allow-dirty"] if args.allow_dirty else [])
    result = working_scale.measure(working_scale.parse_args(options))
    write_result(stem, result, working_scale.markdown(result))
    low = read_yaml(last / "config.yaml", "run config")["data"]["fov_range"][0]
    return [float(low), float(result["chosen_high"])]


def chosen_postprocess(args, model: Path, out: Path) -> list[str]:
    """``calibrate``'s options for the setting benchmarks/postprocess.py chooses for
    ``model`` on its validation images (its result written into ``out``)."""
    import postprocess as postprocess_benchmark

    from retinaseg.pipeline.postprocess import parse_postprocess

    options = argparse.Namespace(model=str(model), data_root=str(args.data_root), cache=None,
                                 no_test=True, test_images=0, allow_dirty=args.allow_dirty)
    result = postprocess_benchmark.run(options)
    # The sweep read the re-scaled weights (cmd_finish deletes them): name the shipped file.
    result["measured_on"] = result["model"]
    result["model"] = shown_path(model.with_name("model.safetensors"), ROOT)
    write_result(out / "postprocess", result, postprocess_benchmark.markdown(result))
    setting = parse_postprocess(result["chosen"])
    if setting.is_none:
        return ["--no-postprocess"]
    return [item for key, value in setting.to_dict().items()  # min_component: --min-component
            for item in ("--" + key.replace("_", "-"), repr(value))]


def holdout_row(args, holdout: str) -> dict:
    """A held-out run scored on every test set, or marked unfinished."""
    folder = final_run_dir(args.runs_root, holdout)
    model = folder / "model.safetensors"
    row = {"holdout": holdout,  # the tree's own runs by their path in it, as committed
           "run_dir": shown_path(folder, ROOT),
           "cycle": cycle_of(args.runs_root, holdout, folder),
           "after_training_choices": folder.name == FINISHED}
    if not model.is_file():
        return {**row, "finished": False, "epochs_done": _epochs_done(folder)}
    row["training"] = cycles_cost(args.runs_root, holdout, row["cycle"])
    if row["after_training_choices"]:
        from retinaseg.pipeline.postprocess import model_postprocess
        from retinaseg.hub.pretrained import load_model

        row["postprocess"] = model_postprocess(load_model(str(model)).meta).describe()
    return {**row, "finished": True,
            **scorecard(str(model), args.data_root, args.limit,
                        threshold=model_cut(str(model), args.threshold))}


def cycles_cost(runs_root: Path, holdout: str, cycles: int) -> dict | None:
    """Epochs and seconds of a run's first ``cycles`` cycles together; None where a
    cycle has no log (a finished model without its log still scores)."""
    try:
        costs = [training_cost(cycle_dir(runs_root, holdout, n)) for n in range(1, cycles + 1)]
    except SystemExit:
        return None
    return {"cycles": cycles, "epochs": sum(c["epochs"] for c in costs),
            "total_seconds": sum(c["total_seconds"] for c in costs),
            "per_cycle": costs}


def _epochs_done(folder: Path) -> int:
    try:
        return training_cost(folder)["epochs"]
    except SystemExit:  # no log, or no finished epoch in it
        return 0


VALIDATED = "validated"


def aggregate_threshold(value: str):
    """``--threshold``: ``validated`` (each model's own validated threshold, whatever
    its default rule) or what ``retinaseg evaluate --threshold`` takes."""
    return VALIDATED if value.strip().lower() == VALIDATED else parse_threshold(value)


def model_cut(model: str, threshold):
    """The ``threshold`` scorecard gets for ``model``: its validated number for
    ``validated`` (a model whose default is the Otsu cut still carries it)."""
    if threshold != VALIDATED:
        return threshold
    from retinaseg.hub.pretrained import load_model

    return float(load_model(model).meta.threshold)


def aggregate(args) -> dict:
    result = clean_provenance(ROOT, args.allow_dirty)
    rows = [holdout_row(args, holdout) for holdout in TEST_SETS]
    general = (scorecard(args.general, args.data_root, args.limit,
                         threshold=model_cut(args.general, args.threshold))
               if args.general else None)
    held_out = {r["holdout"]: r["test_sets"][r["holdout"]]["f1"] for r in rows if r["finished"]}
    result.update(limit=args.limit, threshold=args.threshold, runs=rows, general=general, cod_f1=COD_F1,
                  target_f1=TARGET_F1, held_out_f1=held_out,
                  targets_met={h: f1 >= TARGET_F1 for h, f1 in held_out.items()})
    return result


def _cell(model: dict, name: str, key: str, holdout: str | None = None) -> str:
    row = model["test_sets"].get(name)
    if row is None:
        return "-"
    text = f"{row[key]:.4f}"
    return f"**{text}**" if name == holdout else text


def score_table(result: dict, key: str) -> str:
    """Rows: each held-out run, the in-domain model, COD; columns: the test sets."""
    rows = []
    for run in result["runs"]:
        others = "+".join(d for d in TEST_SETS if d != run["holdout"])
        label = f"held out {run['holdout']} (trained on {others})"
        if not run["finished"]:
            rows.append([label, *(["unfinished"] * len(TEST_SETS)), "-"])
            continue
        rows.append([label, *(_cell(run, n, key, run["holdout"]) for n in TEST_SETS), "-"])
    if result["general"]:
        rows.append([f"in-domain: `{result['general']['model']}` (trained on all three)",
                     *(_cell(result["general"], n, key) for n in TEST_SETS), "-"])
    if key == "f1":
        rows.append(["COD (Galdran et al. 2022), unseen dataset",
                     *(f"{COD_F1[n]:.3f}" for n in COLUMNS)])
    return markdown_table(["model", *COLUMNS], rows)


def markdown(result: dict) -> str:
    met = ", ".join(f"{h} {'yes' if ok else 'NO'}" for h, ok in result["targets_met"].items())
    lines = ["# Leave one dataset out: DRIVE, CHASE_DB1, HRF", "", provenance_markdown(result),
             "- protocol: `general`'s recipe (`configs/general.yaml`, then "
             "`general-restart.yaml` and `general-cycle3.yaml`, each cycle from the one "
             "before's weights) trained on two of the three datasets' training splits "
             "(`benchmarks/lodo.py train --holdout NAME`), each run scored at its latest "
             "finished cycle (or `finish`'s model), its best epoch and threshold chosen on the "
             "validation images of those two only; tested on every test split as `retinaseg evaluate` loads it (native resolution, HRF "
             "at 3504x2336), pooled inside the FOV; bold: the dataset the run never saw",
             f"- target: F1 >= {TARGET_F1} on each held-out dataset; met: "
             f"{met or 'no run finished'}"]
    if result.get("threshold") == "otsu":
        lines.append("- **every photo cut at the Otsu threshold of its own FOV probabilities** "
                     "(`--threshold otsu`, the rule `benchmarks/threshold_rule.py` chose on the "
                     "unseen datasets' training splits), not at the validated threshold")
    elif result.get("threshold") == VALIDATED:
        lines.append("- **every photo cut at its model's validated threshold** (`--threshold "
                     "validated`: chosen on the model's validation images; a model whose default "
                     "is the Otsu cut still carries it)")
    elif result.get("threshold") is not None:
        lines.append(f"- **every photo cut at {result['threshold']}** (`--threshold`)")
    if result["limit"]:
        lines.append(f"- **only the first {result['limit']} images of each test set (--limit)**")
    lines += ["", "F1:", "", score_table(result, "f1"), "", "AUC-ROC:", "",
              score_table(result, "auc_roc"), "", "predicted / true vessel area:", "",
              score_table(result, "area_ratio"), ""]
    lines += [_run_line(r) for r in result["runs"]]
    return "\n".join(lines) + "\n"


def _run_line(run: dict) -> str:
    if not run["finished"]:
        done = f"{run['epochs_done']} epochs done" if run["epochs_done"] else "not started"
        return f"- {run['run_dir']}: unfinished, not scored ({done})"
    cost = run.get("training")
    time = (f"{cost['epochs']} epochs, {cost['total_seconds'] / 3600:.2f} h" if cost
            else "no log.csv")
    time = f"cycle {run['cycle']} of the recipe; {time}" + (" in all" if run["cycle"] > 1 else "")
    if run.get("after_training_choices"):
        time += ("; then its working range and post-processing chosen on its validation "
                 f"images (post-processing {run.get('postprocess') or 'none'})")
    scale = run.get("fov_range")
    scale = f", working FOV {scale[0]:.0f}-{scale[1]:.0f} px" if scale else ""
    cuts = ""
    if run.get("threshold_rule") == "otsu":
        cuts = "; median Otsu cut " + ", ".join(f"{n} {r['threshold']:.3f}"
                                                for n, r in run["test_sets"].items())
    return (f"- {run['run_dir']}: sha256 {run['checkpoint_sha256'][:12]}, threshold "
            f"{run['threshold']:.4f} ({run['threshold_source']}){cuts}{scale}, {time}")


def cmd_aggregate(args) -> int:
    result = aggregate(args)
    write_result(args.out, result, markdown(result))
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb, run in (("command", cmd_command), ("train", cmd_train)):
        sub = verbs.add_parser(verb)
        _recipe_options(sub)
        sub.add_argument("--set", action="append", metavar="KEY=VALUE",
                         help="further overrides, after the hold-out's")
        sub.add_argument("--resume", action="store_true")
        _common(sub)
        sub.set_defaults(run=run)
    fin = verbs.add_parser("finish")
    _recipe_options(fin)
    add_dirty_option(fin)
    _common(fin)
    fin.set_defaults(run=cmd_finish)
    agg = verbs.add_parser("aggregate")
    agg.add_argument("--general", default="general",
                     help="the in-domain model (shipped name or checkpoint); '' to leave out")
    agg.add_argument("--limit", type=int, default=0, help="first N images of each test set")
    agg.add_argument("--threshold", type=aggregate_threshold, metavar="{NUMBER,otsu,validated}",
                     help="cut every model's photos so: otsu, validated (each model's own "
                          "validated threshold) or a number (default: each model's own rule)")
    agg.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "lodo"))
    add_dirty_option(agg)
    _common(agg)
    agg.set_defaults(run=cmd_aggregate)
    return parser.parse_args(argv)


def _recipe_options(parser) -> None:
    """Which run and which cycles of which recipe: the same for train and finish."""
    parser.add_argument("--holdout", required=True, choices=TEST_SETS)
    parser.add_argument("--config", type=Path, action="append",
                        help="a cycle's recipe, once per cycle, in order (default: "
                             "general's three)")
    parser.add_argument("--cycles", type=int, default=0,
                        help="only the first N cycles (default: all)")


def _common(parser) -> None:
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs-root", type=Path, default=RUNS_ROOT,
                        help="where the lodo-<holdout> run folders go (default "
                             "benchmarks/lodo_runs, where the finished ones are committed)")


def main(argv=None) -> int:
    args = parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
