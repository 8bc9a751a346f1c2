"""``retinaseg <verb>``: parse, call the library, print. Nothing else lives here.

One error boundary, :func:`main`, turns every failure into one line on stderr
and an exit status (README, "Exit codes"):

- 0: done.
- 1: a batch job (``segment``) finished, but some inputs failed; each is listed.
- 2: usage, bad input, bad config, unreadable file; nothing was done or written.
- 3: an output could not be written (a file where the folder should be, a
  read-only file system, a full disk); the line says what was and was not written.
- 4: internal error, a bug: one line, and ``retinaseg --debug VERB ...`` shows
  the traceback.
- 130: interrupted (Ctrl-C).

Output folders are checked before the work starts, so a long evaluation never
ends in "cannot write".

Each verb imports what it needs when it runs: ``retinaseg --help``, ``models``
and ``datasets`` never import torch (tests/test_api.py checks), so they answer
at once.
"""
from __future__ import annotations

import argparse
import errno
import os
import shlex
import sys
import warnings
from pathlib import Path

from .errors import OutputError, RetinasegError, RetinasegWarning
from .hub.pretrained import DEFAULT_MODEL

# The photo formats 'segment' reads (retinaseg.data.io.IMAGE_SUFFIXES), without importing it.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".ppm", ".pgm")

DEFAULT_OUT = "retinaseg-out"
MAX_LISTED_FAILURES = 20
DEFAULT_FOV_DEGREES = 45.0  # retinaseg.measure.scale.DEFAULT_FOV_DEGREES, without importing it


def _progress(what: str):
    """A bar on a terminal, plain lines in a log (retinaseg.logs)."""
    from .logs import progress

    return lambda items: progress(items, what)


def cmd_segment(args) -> int:
    from .cohort import JobSpec, collect_cohort, parse_save, parse_shard, run_cohort
    from .cohort.inputs import accepted_formats
    from .cohort.summary import final_line, skipped_line
    from .io.atomic import check_output_folder

    if not args.inputs and not args.sample and not args.manifest:
        raise RetinasegError("nothing to segment: give image files or folders, --manifest, "
                             "or --sample")
    inputs = collect_cohort(args.inputs, args.manifest, args.sample)
    check_output_folder(args.out)
    spec = JobSpec(args.model, args.out, args.threshold, args.tta, args.precision == "bf16",
                   parse_save(args.save), quality_check=not args.no_quality_check,
                   device=args.device, precision=args.precision,
                   postprocess=postprocess_choice(args), scale=args.scale,
                   mm_per_pixel=args.mm_per_pixel, fov_degrees=args.fov_degrees,
                   strict_units=args.strict_units)
    skipped = [item for item in inputs if item.skipped]
    if skipped:
        print(skipped_line(skipped, accepted_formats()), file=sys.stderr)
    result = run_cohort(spec, inputs, args.jobs, args.shard and parse_shard(args.shard),
                        args.dask)
    written = [result.table.csv_path, result.table.jsonl_path]
    if args.report:
        from .cohort.page import write_cohort_page

        written.append(write_cohort_page(args.out))
    for path in written:
        print(path)
    pictures = len(spec.save) * sum(row["status"] == "ok" for row in result.rows)
    print(final_line(result, args.model, args.out, written, pictures), file=sys.stderr)
    failures = result.failures
    if failures:
        print(f"{len(failures)} failed:", file=sys.stderr)
        for row in failures[:MAX_LISTED_FAILURES]:
            print(f"  {row['error']}", file=sys.stderr)
        if len(failures) > MAX_LISTED_FAILURES:
            print(f"  ... the rest in {result.table.csv_path} (status, error)", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_dataset
    from .evaluation.evaluate import EvalOptions, evaluate_to_folder, format_table
    from .io.atomic import check_output_folder
    from .hub.pretrained import load_model

    data = load_dataset(args.dataset, args.split, args.data_root)  # cheap checks first
    out = check_output_folder(args.out)
    bundle = load_model(args.model, args.device)
    bootstrap = args.bootstrap if args.bootstrap is not None else (1000 if args.report else 0)
    options = EvalOptions(args.threshold, args.tta, args.precision == "bf16",
                          topology=args.topology or args.report, bootstrap=bootstrap,
                          precision=args.precision, postprocess=postprocess_choice(args),
                          scale=args.scale)
    command = "retinaseg " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        result, written = evaluate_to_folder(bundle, data, options, out, args.report,
                                             model_name=args.model, command=command,
                                             progress=_progress("evaluate"))
    except OutputError as exc:  # the writers stage every file: none of them appeared
        raise OutputError(exc.path, f"{exc.problem}; nothing was written "
                                    f"to {out}/ (metrics.json{', report' if args.report else ''})"
                          ) from None
    print(format_table(result))
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_measure(args) -> int:
    from .measure.files import (MeasureOptions, collect_masks, measure_file, table_csv,
                                table_jsonl)
    from .io.atomic import check_output_folder, write_all_or_nothing

    paths = collect_masks(args.masks)
    check_output_folder(args.out)
    options = MeasureOptions(Path(args.fov) if args.fov else None, args.mm_per_pixel,
                             args.fov_degrees, args.min_object_px)
    options.check()
    progress = _progress("measure")
    rows = [measure_file(path, options) for path in progress(paths)]
    out = Path(args.out)
    written = {out / "measurements.csv": table_csv(rows),
               out / "measurements.jsonl": table_jsonl(rows)}
    write_all_or_nothing(written)
    for path in written:
        print(path)
    return _measure_summary(rows)


def _measure_summary(rows: list[dict]) -> int:
    """Stderr: how many were measured, in which units, and each failure on its line."""
    failed = [row for row in rows if row["status"] != "ok"]
    print(f"measured {len(rows) - len(failed)} of {len(rows)} masks", file=sys.stderr)
    sources = [row["scale_source"] for row in rows if row["status"] == "ok"]
    for source in sorted(set(sources)):
        print(f"  {sources.count(source)} with mm {SCALE_SOURCES[source]}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} failed:", file=sys.stderr)
        for row in failed:
            print(f"  {row['error']}", file=sys.stderr)
    return 1 if failed else 0


SCALE_SOURCES = {
    "given": "from --mm-per-pixel",
    "assumed": "assumed: the FOV's width spans --fov-degrees at 0.288 mm/degree "
               "(the scale_note column has each one's figures)",
    "none": "none (no FOV and no --mm-per-pixel): pixels only",
}


def cmd_report(args) -> int:
    from .io.atomic import check_output_folder
    from .evaluation.report import rebuild_report, write_comparison

    for folder in args.runs:
        if Path(folder).is_dir():
            check_output_folder(folder)
    if len(args.runs) > 1 or args.out:
        check_output_folder(args.out or DEFAULT_OUT)
    written = []
    for folder in args.runs:
        written += rebuild_or_cohort_page(folder)
    if len(args.runs) > 1 or args.out:
        written += write_comparison(args.runs, args.out or DEFAULT_OUT)[:2]
    for path in written:
        print(f"wrote {path}")
    return 0


def rebuild_or_cohort_page(folder: str) -> list:
    """An evaluation folder (metrics.json) gets its report rebuilt; a cohort folder
    (results.csv / results.jsonl, no metrics.json) gets its page."""
    from .cohort.page import is_cohort_folder, write_cohort_page
    from .evaluation.report import rebuild_report

    if is_cohort_folder(folder) and not (Path(folder) / "metrics.json").is_file():
        return [write_cohort_page(folder)]
    return rebuild_report(folder)


def cmd_train(args) -> int:
    from .config.schema import load_config
    from .train import fit

    overrides = _config_overrides(args)
    if args.resume:
        overrides.append("resume=true")
    if args.out:
        overrides.append(f"out_dir={args.out}")
    config = load_config(args.config, overrides)
    from .train.state import LAST, run_file

    try:
        model_path = fit(config)  # checks out_dir before it writes anything
    except OutputError as exc:
        out = Path(config.out_dir)
        kept = (f"{out}/ keeps the last finished epoch ('retinaseg train --resume' continues)"
                if run_file(out, LAST) else "no epoch had finished: nothing was kept")
        raise OutputError(exc.path, f"{exc.problem}; {kept}") from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line from rank 0
        print(f"wrote {model_path}")
    return 0


def cmd_calibrate(args) -> int:
    from .config.schema import load_config
    from .io.atomic import check_output_file
    from .pipeline.postprocess import model_postprocess
    from .train import calibrate

    overrides = _config_overrides(args) + ([f"tta={args.tta}"] if args.tta else [])
    config = load_config(args.config, overrides)
    meta = calibrate(args.model, config, check_output_file(args.out), postprocess_choice(args))
    scale = (f"; FOV range {meta.fov_range[0]:.0f}-{meta.fov_range[1]:.0f} px"
             if meta.fov_range else "")
    rule = "; each photo cut at its own Otsu threshold" if meta.threshold_rule == "otsu" else ""
    caliber = (f"; vessel calibre {meta.caliber_px:.2f} px (band {meta.caliber_band[0]:.2f}-"
               f"{meta.caliber_band[1]:.2f})" if meta.caliber_px else "")
    cleanup = f"; post-processing {model_postprocess(meta).describe()}"
    print(f"threshold {meta.threshold:.4f} ({meta.threshold_source}, TTA {meta.tta}){rule}{scale}"
          f"{caliber}{cleanup}; wrote {args.out}")
    return 0


def _config_overrides(args) -> list[str]:
    """``--set`` values, ``--data-root`` as ``data.root`` and ``--device`` as ``device``."""
    overrides = list(args.set or [])
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    if args.device:
        overrides.append(f"device={args.device}")
    return overrides


def cmd_study(args) -> int:
    from .io.atomic import check_output_folder
    from .study import load_study, run_study

    study = load_study(args.config, args.out)
    check_output_folder(study.out_dir)
    rows = run_study(study, args.data_root, log=lambda line: print(line, flush=True),
                     device=args.device)
    print(f"{len(rows)} runs in {study.out_dir / 'study.md'} and {study.out_dir / 'study.csv'}")
    return 0


def cmd_export(args) -> int:
    from .hub.export import export_onnx
    from .hub.pretrained import load_model

    bundle = load_model(args.model)  # exported from the CPU: the file is device-neutral
    report = export_onnx(bundle, args.out, name=args.model, check=args.check)
    print(f"wrote {report.path} ({report.bytes / 1e6:.1f} MB, opset {report.opset})")
    if report.max_difference is not None:
        print(f"largest probability difference from PyTorch on a {report.check_size} random "
              f"input: {report.max_difference:.2e}")
    return 0


def cmd_models(args) -> int:
    from .hub.catalog import ARCHITECTURES
    from .hub.pretrained import PRETRAINED, pretrained_path

    print("architectures (retinaseg train, model.name):")
    for name, description in sorted(ARCHITECTURES.items()):
        print(f"  {name:<22}{description}")
    print("shipped weights (--model NAME):")
    for name, weights in PRETRAINED.items():
        state = "" if pretrained_path(name).is_file() else "  [file missing]"
        print(f"  {name:<22}{weights.description}{state}")
    return 0


def cmd_datasets(args) -> int:
    from .data.registry import dataset_status, find_data_root, resolve_data_root

    root = resolve_data_root(args.data_root)
    print(f"data root {root} (from {find_data_root(args.data_root)[1]})")
    for status in dataset_status(root):
        print(format_status(status))
    return 0


def format_status(status: dict) -> str:
    if not status["found"]:
        state = "not found"
    elif status["complete"]:
        state = "complete"
    else:
        state = "INCOMPLETE: " + (status.get("problem") or "")
    counts = ", ".join(f"{split} {'?' if found is None else found}/{expected}"
                       for split, (found, expected) in status.get("counts", {}).items())
    return f"{status['name']:<10} {state:<12} {status['folder']}  {counts}".rstrip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retinaseg",
        description="Retinal vessel segmentation in colour fundus photographs.",
        epilog="Run 'retinaseg VERB --help' for a verb's options.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true",
                        help="on an error, print the full traceback (give it before the verb)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    seg = verbs.add_parser("segment", help="segment your own photographs")
    seg.add_argument("inputs", nargs="*", help="image files or folders of images (accepted: "
                     f"{', '.join(IMAGE_SUFFIXES)}; a folder's other files are skipped, "
                     "listed and given a 'skipped' row)")
    seg.add_argument("--sample", action="store_true",
                     help="also segment the fundus photo scikit-image ships")
    _model_options(seg)
    seg.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}); "
                     "writes OUT/results.csv and OUT/results.jsonl, and a rerun resumes")
    seg.add_argument("--report", action="store_true",
                     help="also write OUT/report.html: one offline page with every photo's "
                          "thumbnail, verdict and measures (sortable, filterable), histograms "
                          "and outliers (same as 'retinaseg report OUT' later)")
    _cohort_options(seg)
    _postprocess_options(seg)
    seg.add_argument("--no-quality-check", action="store_true",
                     help="segment even photos in which no usable fundus is seen (blank, "
                          "uniform, noise, over- or under-exposed); they fail by default")
    seg.set_defaults(run=cmd_segment)

    ev = verbs.add_parser("evaluate", help="score a model on a dataset split")
    _model_options(ev)
    _postprocess_options(ev)
    ev.add_argument("--dataset", required=True, help="a registered name (drive, chase_db1, "
                    "hrf, stare, reta; 'retinaseg datasets' shows which are on disk), or a "
                    "folder with images/ masks/ [fov/]")
    ev.add_argument("--split", default="test", help="which of the dataset's splits to score "
                    "(default test; every dataset also has all; 'retinaseg datasets' lists "
                    "each one's splits and counts)")
    ev.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    ev.add_argument("--out", default=DEFAULT_OUT, help="writes OUT/metrics.json")
    ev.add_argument("--report", action="store_true",
                    help="also write OUT/report.html and OUT/report.md: tables with 95%% "
                         "confidence intervals, curves, per-image panels, topology")
    ev.add_argument("--topology", action="store_true",
                    help="add clDice and connected-component counts (on with --report)")
    ev.add_argument("--bootstrap", type=int, metavar="N",
                    help="bootstrap resamples for 95%% intervals (default 1000 with --report, "
                         "else none)")
    ev.set_defaults(run=cmd_evaluate)

    me = verbs.add_parser("measure", help="vessel measurements (density, length, width, "
                                          "fractal dimension, tortuosity, branch points) "
                                          "of binary vessel masks")
    me.add_argument("masks", nargs="+", metavar="MASKS",
                    help="binary vessel masks (e.g. *_mask.png from 'retinaseg segment', or "
                         "manual annotations), or folders of them")
    me.add_argument("--fov", metavar="FILE_OR_DIR",
                    help="FOV mask for every mask, or a folder holding each mask's FOV (same "
                         "stem, or stem_fov / stem_mask); default: the whole image")
    me.add_argument("--mm-per-pixel", type=float, metavar="X",
                    help="pixel size on the retina; else mm are assumed from the FOV's width "
                         "(--fov-degrees), and without a FOV there are no mm")
    me.add_argument("--fov-degrees", type=float, default=DEFAULT_FOV_DEGREES, metavar="D",
                    help=f"the camera's field angle, for the mm assumption (default "
                         f"{DEFAULT_FOV_DEGREES:g}; 0.288 mm per degree)")
    me.add_argument("--min-object-px", type=int, metavar="N",
                    help="drop 8-connected objects under N pixels first; 0 keeps all (e.g. "
                         "for manual annotations). Default: the speck rule 'segment' uses, "
                         "30 px at a FOV 540 px wide, scaled with the FOV (retinaseg.specks)")
    me.add_argument("--out", default=DEFAULT_OUT,
                    help=f"writes OUT/measurements.csv and .jsonl (default {DEFAULT_OUT})")
    me.set_defaults(run=cmd_measure)

    rp = verbs.add_parser("report", help="rebuild evaluation reports, compare several, or "
                                         "write a cohort's page")
    rp.add_argument("runs", nargs="+", metavar="DIR",
                    help="folders written by 'retinaseg evaluate --out' (rebuilds report.html "
                         "and report.md), or by 'retinaseg segment --out' (a cohort: writes its "
                         "report.html from results.csv/results.jsonl)")
    rp.add_argument("--out", help=f"where the comparison page goes (default {DEFAULT_OUT}; "
                                  "written when several folders are given)")
    rp.set_defaults(run=cmd_report)

    tr = verbs.add_parser("train", help="train a model from a YAML config")
    tr.add_argument("--config", help="YAML file (see configs/); its model.name is the "
                                     "architecture to train ('retinaseg models' lists them)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. --set optim.lr=0.01 (repeatable)")
    tr.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    tr.add_argument("--out", help="run folder (overrides out_dir)")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    _device_option(tr, "train on")
    tr.set_defaults(run=cmd_train)

    ca = verbs.add_parser("calibrate", help="re-choose a trained model's threshold on its "
                                            "validation images (e.g. under a TTA), no training")
    ca.add_argument("--model", required=True, help="trained checkpoint (a run's "
                                                             "model.safetensors)")
    ca.add_argument("--config", required=True, help="the YAML it was trained with")
    ca.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. --set threshold_min_specificity=0.98")
    ca.add_argument("--tta", type=_tta_mode, help="calibrate and ship with this TTA")
    ca.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    ca.add_argument("--out", required=True,
                    help="where to write the calibrated checkpoint (*.safetensors)")
    _device_option(ca, "validate on")
    _postprocess_options(ca, "any of these becomes the model's default, stored in the "
                             "checkpoint, and the calibre is measured under it (default: "
                             "the model's own stays)")
    ca.set_defaults(run=cmd_calibrate)

    st = verbs.add_parser("study", help="train, evaluate and table a grid of training variants")
    st.add_argument("--config", required=True, help="study YAML (see configs/study-*.yaml)")
    st.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    st.add_argument("--out", help="study folder (overrides out_dir); a rerun skips finished runs")
    _device_option(st, "train every run on")
    st.set_defaults(run=cmd_study)

    ex = verbs.add_parser("export", help="write a model as ONNX, for onnxruntime and other "
                                         "runtimes (any height and width)")
    ex.add_argument("--model", default=DEFAULT_MODEL,
                    help=f"shipped weights name or checkpoint path (default {DEFAULT_MODEL})")
    ex.add_argument("--out", required=True, help="the .onnx file to write")
    ex.add_argument("--no-check", dest="check", action="store_false",
                    help="skip the check that onnxruntime gives PyTorch's probabilities "
                         "(the check needs onnxruntime; export alone needs only onnx)")
    ex.set_defaults(run=cmd_export)

    verbs.add_parser("models", help="list architectures and shipped weights").set_defaults(
        run=cmd_models)
    ds = verbs.add_parser("datasets", help="list datasets and whether they are on disk")
    ds.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    ds.set_defaults(run=cmd_datasets)
    return parser


def _cohort_options(parser) -> None:
    parser.add_argument("--manifest", metavar="CSV", help="also segment the files in this CSV's "
                        "'path' column (relative to the CSV; optional columns 'mm_per_pixel', "
                        "'fov_degrees', 'dataset' (drive, chase_db1, hrf: its camera's angle) "
                        "and 'name')")
    units = parser.add_argument_group(
        "units", "each row's scale_source says where its mm came from: manifest, flag, "
        "dataset, or assumed (a 45-degree camera); see docs/units.md")
    units.add_argument("--mm-per-pixel", type=_positive, metavar="X",
                       help="pixel size on the retina for photos whose manifest row gives none")
    units.add_argument("--fov-degrees", type=_field_angle, metavar="D",
                       help="the camera's field angle for photos whose manifest row gives none "
                            "(the FOV's width spans D degrees at 0.288 mm per degree)")
    units.add_argument("--strict-units", action="store_true",
                       help="leave the mm columns empty (scale_note says why) rather than "
                            "assume a 45-degree camera")
    parser.add_argument("--save", default="mask", metavar="KINDS",
                        help="pictures to write per image: any of mask,prob,overlay, or none "
                             "(default mask: the overlay costs more than the model)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="worker processes on this machine (default 1)")
    parser.add_argument("--shard", metavar="K/N", help="segment only shard K of N (1 <= K <= N), "
                        "e.g. --shard $SLURM_ARRAY_TASK_ID/8; writes OUT/results.shard-K-of-N.*")
    parser.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster: a scheduler "
                        "address, or local:N for N local workers (pip install 'retinaseg[dask]')")


def _model_options(parser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="WEIGHTS",
                        help="trained weights: a shipped name ('retinaseg models' lists them) "
                             f"or a checkpoint file such as runs/NAME/model.safetensors (default "
                             f"{DEFAULT_MODEL}). Not an architecture: that is 'model.name' in a "
                             "training config")
    parser.add_argument("--threshold", type=_threshold_rule, metavar="{NUMBER,otsu}",
                        help="where probabilities become vessel: a number in (0, 1], or otsu "
                             "(each photo at the Otsu threshold of its own FOV probabilities, "
                             "which follows a camera whose probabilities run lower or higher; "
                             "see README 'Threshold'). Default: the model's own rule")
    parser.add_argument("--tta", type=_tta_mode,
                        help="test-time augmentation: none, flip, flip+rot90, or rot<K> "
                             "(average over K equally spaced rotations, 2 to 36, e.g. rot12); "
                             "default: the one the model's threshold was chosen under")
    parser.add_argument("--scale", type=_scale_rule, metavar="{fov,caliber,band}",
                        help="how each photo's working scale is chosen: fov (by its FOV "
                             "width; the default), caliber (then again where its wide vessels "
                             "come out wider or narrower than on the model's validation photos, "
                             "the two maps averaged: for a camera the model never saw; up to "
                             "twice the time) or band "
                             "(again only where they lie outside the range of its validation "
                             "datasets); see README 'Working scale'")
    parser.add_argument("--device", default="auto", type=_device_name,
                        help="auto (CUDA, then MPS, then the CPU; the default), cpu, cuda, "
                             "cuda:N or mps")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="autocast: auto (bf16, or fp16 where bf16 is missing, on CUDA; "
                             "fp32 on the CPU and MPS), fp32, bf16 or fp16")
    parser.add_argument("--bf16", dest="precision", action="store_const", const="bf16",
                        help="same as --precision bf16 (faster only on CPUs with bf16 "
                             "instructions)")


def _postprocess_options(parser, effect: str = "any of these replaces the model's default "
                         "(none unless it was measured to help the model: README, 'Mask "
                         "post-processing')") -> None:
    group = parser.add_argument_group(
        "mask post-processing", "sizes are pixel areas at a FOV 540 px wide (DRIVE's), scaled "
        f"with each photo's FOV; {effect}")
    group.add_argument("--min-component", type=_non_negative, metavar="N",
                       help="remove 8-connected vessel objects smaller than N px")
    group.add_argument("--fill-holes", type=_non_negative, metavar="M",
                       help="fill holes inside vessels smaller than M px")
    group.add_argument("--hysteresis", type=float, metavar="LOW",
                       help="also keep pixels with probability >= LOW that touch a pixel "
                            "above the threshold (reconnects thin vessels)")
    group.add_argument("--no-postprocess", action="store_true",
                       help="the plain thresholded mask, whatever the model's default "
                            "(calibrate: the model's default becomes none)")


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of pixels >= 0, got {value!r}")
    return number


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not (number > 0 and number != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return number


def _field_angle(value: str) -> float:
    number = _positive(value)
    if number > 200:
        raise argparse.ArgumentTypeError(f"a camera's field angle is at most 200 degrees, "
                                         f"got {value!r}")
    return number


def postprocess_choice(args) -> str | None:
    """The post-processing the flags ask for, as text; None: the model's default."""
    from .pipeline.postprocess import NONE, Postprocess

    given = {key: getattr(args, key) for key in ("min_component", "fill_holes", "hysteresis")
             if getattr(args, key) is not None}
    if args.no_postprocess:
        if given:
            raise RetinasegError("--no-postprocess cannot be combined with --"
                                 + ", --".join(k.replace("_", "-") for k in given))
        return NONE
    return Postprocess(**given).describe() if given else None


def _device_name(value: str) -> str:
    """Spelling checked at parse time without torch; presence when the model loads."""
    import re

    name = value.strip().lower()
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        raise argparse.ArgumentTypeError(f"unknown device {value!r}; expected auto, cpu, cuda, "
                                         "cuda:N or mps")
    return name


def _device_option(parser, what: str) -> None:
    parser.add_argument("--device", help=f"device to {what}: auto (CUDA, then MPS, then the "
                                         "CPU), cpu, cuda, cuda:N or mps (default: the "
                                         "config's device, auto)")


def _tta_mode(value: str) -> str:
    from .pipeline.predict import check_tta

    try:
        return check_tta(value)
    except RetinasegError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _scale_rule(value: str) -> str:
    from .pipeline.segment import SCALES

    if value not in SCALES:
        raise argparse.ArgumentTypeError(f"choose one of {', '.join(SCALES)}, not {value!r}")
    return value


def _threshold_rule(value: str) -> float | str:
    from .pipeline.cut import parse_threshold

    try:
        return parse_threshold(value)
    except RetinasegError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version() -> str:
    from . import __version__

    return f"retinaseg {__version__}"


def _one_line_warnings(show_others):
    """A ``warnings.showwarning`` that prints ours as one stderr line, like our
    errors, and hands the others to ``show_others``."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RetinasegWarning):
            print(f"retinaseg: warning: {message}", file=file or sys.stderr)
        else:
            show_others(message, category, filename, lineno, file, line)
    return show


def main(argv=None) -> int:
    """Run one verb; every failure is one stderr line and an exit status (module docstring)."""
    args = build_parser().parse_args(argv)
    previous = warnings.showwarning
    warnings.showwarning = _one_line_warnings(previous)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("retinaseg: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place every failure is turned into a line and a code
        if args.debug:
            raise
        status, line = failure_report(exc)
        print(line, file=sys.stderr)
        return status
    finally:
        warnings.showwarning = previous


# An OSError that no writer mapped: these errno values can only mean an output.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def failure_report(exc: Exception) -> tuple[int, str]:
    """The exit status and the one stderr line for an exception out of a verb."""
    if isinstance(exc, RetinasegError):
        return exc.exit_status, f"retinaseg: error: {_one_line(exc)}"
    if isinstance(exc, OSError) and exc.filename:
        status = 3 if exc.errno in _WRITE_ERRNOS else 2
        return status, f"retinaseg: error: {exc.filename}: {exc.strerror or exc}"
    return 4, (f"retinaseg: internal error: {type(exc).__name__}: {_one_line(exc)} "
               "(a bug; rerun as 'retinaseg --debug VERB ...' for the traceback and report it)")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
