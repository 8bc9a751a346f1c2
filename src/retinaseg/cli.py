"""``retinaseg <verb>``: parse, call the library, print. Nothing else lives here.

Each verb imports what it needs when it runs: ``retinaseg --help``, ``models``
and ``datasets`` never import torch (tests/test_api.py checks), so they answer
at once.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .errors import RetinasegError

DEFAULT_MODEL = "unet-drive"
DEFAULT_OUT = "retinaseg-out"


def _progress(enabled: bool, what: str):
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=what, unit="image", disable=not enabled, leave=False)


def cmd_segment(args) -> int:
    from .pretrained import load_model
    from .segment import SAMPLE_NAME, collect_inputs, sample_image, segment_files, \
        segment_image, write_segmentation

    if not args.inputs and not args.sample:
        raise RetinasegError("nothing to segment: give image files or folders, or --sample")
    paths = collect_inputs(args.inputs)
    bundle = load_model(args.model, args.device)
    out = Path(args.out)
    written = []
    if args.sample:
        image = sample_image()
        prob, mask, fov = segment_image(bundle, image, args.threshold, args.tta,
                                        precision=args.precision)
        written += write_segmentation(out, SAMPLE_NAME, image, prob, mask, fov)
    report = segment_files(bundle, paths, out, args.threshold, args.tta,
                           progress=_progress(sys.stderr.isatty(), "segment"),
                           precision=args.precision)
    written += report.written
    for path in written:
        print(path)
    images = len(paths) + bool(args.sample)
    print(f"segmented {images - len(report.failures)} of {images} images with {args.model} "
          f"into {out}/", file=sys.stderr)
    if report.failures:
        print(f"{len(report.failures)} failed:", file=sys.stderr)
        for failure in report.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_dataset
    from .evaluate import EvalOptions, evaluate_model, format_table
    from .outputs import write_all_or_nothing
    from .pretrained import load_model

    data = load_dataset(args.dataset, args.split, args.data_root)  # cheap checks first
    bundle = load_model(args.model, args.device)
    bootstrap = args.bootstrap if args.bootstrap is not None else (1000 if args.report else 0)
    options = EvalOptions(args.threshold, args.tta, args.precision == "bf16",
                          topology=args.topology or args.report, bootstrap=bootstrap,
                          precision=args.precision)
    out = Path(args.out)
    progress = _progress(sys.stderr.isatty(), "evaluate")
    if args.report:
        result, written = _evaluate_with_report(bundle, data, options, progress, out, args)
    else:
        result = _described(evaluate_model(bundle, data, options, progress), args)
        write_all_or_nothing({out / "metrics.json": result})
        written = [out / "metrics.json"]
    print(format_table(result))
    for path in written:
        print(f"wrote {path}")
    return 0


def _evaluate_with_report(bundle, data, options, progress, out: Path, args):
    from .evaluate import evaluate_model
    from .report import PanelWriter, publish_report, staged_report

    with staged_report(out) as staging:
        result = evaluate_model(bundle, data, options, progress, on_image=PanelWriter(staging))
        written = publish_report(_described(result, args), out, staging,
                                 {out / "metrics.json": result})
    return result, written


def _described(result: dict, args) -> dict:
    result["model_name"] = args.model
    result["command"] = "retinaseg " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return result


def cmd_report(args) -> int:
    from .report import rebuild_report, write_comparison

    written = []
    for folder in args.runs:
        written += rebuild_report(folder)
    if len(args.runs) > 1 or args.out:
        written += write_comparison(args.runs, args.out or DEFAULT_OUT)[:2]
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_train(args) -> int:
    from .config import load_config
    from .train import fit

    overrides = _config_overrides(args)
    if args.resume:
        overrides.append("resume=true")
    if args.out:
        overrides.append(f"out_dir={args.out}")
    config = load_config(args.config, overrides)
    model_path = fit(config)
    print(f"wrote {model_path}")
    return 0


def cmd_calibrate(args) -> int:
    from .config import load_config
    from .train import calibrate

    overrides = _config_overrides(args) + ([f"tta={args.tta}"] if args.tta else [])
    meta = calibrate(args.model, load_config(args.config, overrides), args.out)
    print(f"threshold {meta.threshold:.4f} ({meta.threshold_source}, TTA {meta.tta}); "
          f"wrote {args.out}")
    return 0


def _config_overrides(args) -> list[str]:
    """``--set`` values, and ``--data-root`` as ``data.root``."""
    overrides = list(args.set or [])
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    return overrides


def cmd_study(args) -> int:
    from .study import load_study, run_study

    study = load_study(args.config, args.out)
    rows = run_study(study, args.data_root, log=lambda line: print(line, flush=True))
    print(f"{len(rows)} runs in {study.out_dir / 'study.md'} and {study.out_dir / 'study.csv'}")
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx
    from .pretrained import load_model

    bundle = load_model(args.model)  # exported from the CPU: the file is device-neutral
    report = export_onnx(bundle, args.out, name=args.model, check=args.check)
    print(f"wrote {report.path} ({report.bytes / 1e6:.1f} MB, opset {report.opset})")
    if report.max_difference is not None:
        print(f"largest probability difference from PyTorch on a {report.check_size} random "
              f"input: {report.max_difference:.2e}")
    return 0


def cmd_models(args) -> int:
    from .catalog import ARCHITECTURES
    from .pretrained import PRETRAINED, pretrained_path

    print("architectures (retinaseg train, model.name):")
    for name, description in sorted(ARCHITECTURES.items()):
        print(f"  {name:<22}{description}")
    print("shipped weights (--model NAME):")
    for name, weights in sorted(PRETRAINED.items()):
        state = "" if pretrained_path(name).is_file() else "  [file missing]"
        print(f"  {name:<22}{weights.description}{state}")
    return 0


def cmd_datasets(args) -> int:
    from .data.registry import dataset_status

    for status in dataset_status(args.data_root):
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
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    seg = verbs.add_parser("segment", help="segment your own photographs")
    seg.add_argument("inputs", nargs="*", help="image files or folders of images")
    seg.add_argument("--sample", action="store_true",
                     help="also segment the fundus photo scikit-image ships")
    _model_options(seg)
    seg.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    seg.set_defaults(run=cmd_segment)

    ev = verbs.add_parser("evaluate", help="score a model on a dataset split")
    _model_options(ev)
    ev.add_argument("--dataset", required=True, help="registered name, or a folder with "
                                                     "images/ masks/ [fov/]")
    ev.add_argument("--split", default="test")
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

    rp = verbs.add_parser("report", help="rebuild evaluation reports, or compare several")
    rp.add_argument("runs", nargs="+", metavar="EVAL_DIR",
                    help="folders written by 'retinaseg evaluate --out'")
    rp.add_argument("--out", help=f"where the comparison page goes (default {DEFAULT_OUT}; "
                                  "written when several folders are given)")
    rp.set_defaults(run=cmd_report)

    tr = verbs.add_parser("train", help="train a model from a YAML config")
    tr.add_argument("--config", help="YAML file (see configs/)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. --set optim.lr=0.01 (repeatable)")
    tr.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    tr.add_argument("--out", help="run folder (overrides out_dir)")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    tr.set_defaults(run=cmd_train)

    ca = verbs.add_parser("calibrate", help="re-choose a trained model's threshold on its "
                                            "validation images (e.g. under a TTA), no training")
    ca.add_argument("--model", required=True, help="trained checkpoint (a run's model.pt)")
    ca.add_argument("--config", required=True, help="the YAML it was trained with")
    ca.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. --set threshold_min_specificity=0.98")
    ca.add_argument("--tta", type=_tta_mode, help="calibrate and ship with this TTA")
    ca.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    ca.add_argument("--out", required=True, help="where to write the calibrated checkpoint")
    ca.set_defaults(run=cmd_calibrate)

    st = verbs.add_parser("study", help="train, evaluate and table a grid of training variants")
    st.add_argument("--config", required=True, help="study YAML (see configs/study-*.yaml)")
    st.add_argument("--data-root", help="folder holding DRIVE/, HRF/ ... ($RETINASEG_DATA)")
    st.add_argument("--out", help="study folder (overrides out_dir); a rerun skips finished runs")
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


def _model_options(parser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"shipped weights name or checkpoint path (default {DEFAULT_MODEL})")
    parser.add_argument("--threshold", type=float,
                        help="probability threshold (default: the model's validation threshold)")
    parser.add_argument("--tta", type=_tta_mode,
                        help="test-time augmentation: none, flip, flip+rot90, or rot<K> "
                             "(average over K equally spaced rotations, 2 to 36, e.g. rot12); "
                             "default: the one the model's threshold was chosen under")
    parser.add_argument("--device", default="auto", type=_device_name,
                        help="auto (CUDA, then MPS, then the CPU; the default), cpu, cuda, "
                             "cuda:N or mps")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="autocast: auto (bf16, or fp16 where bf16 is missing, on CUDA; "
                             "fp32 on the CPU and MPS), fp32, bf16 or fp16")
    parser.add_argument("--bf16", dest="precision", action="store_const", const="bf16",
                        help="same as --precision bf16 (faster only on CPUs with bf16 "
                             "instructions)")


def _device_name(value: str) -> str:
    """Spelling checked at parse time without torch; presence when the model loads."""
    import re

    name = value.strip().lower()
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        raise argparse.ArgumentTypeError(f"unknown device {value!r}; expected auto, cpu, cuda, "
                                         "cuda:N or mps")
    return name


def _tta_mode(value: str) -> str:
    from .inference import check_tta

    try:
        return check_tta(value)
    except RetinasegError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version() -> str:
    from . import __version__

    return f"retinaseg {__version__}"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except RetinasegError as exc:
        print(f"retinaseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("retinaseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
