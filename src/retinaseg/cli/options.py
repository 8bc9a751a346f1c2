"""Options several verbs share (model, settings, post-processing, cohort, device), and
the parse-time checks of their values. Nothing here imports torch."""
from __future__ import annotations

import argparse

from ..checks import FIELD_ANGLE, JOBS, MM_PER_PIXEL, PIXELS
from ..errors import RetinasegError
from ..hub.pretrained import DEFAULT_MODEL
from ..names import BACKENDS, TORCH
from ..pipeline.av_vote import AV_DECISIONS

DEFAULT_OUT = "retinaseg-out"
# The photo formats 'segment' reads (retinaseg.data.io.IMAGE_SUFFIXES), without importing it.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".ppm", ".pgm")
DEFAULT_FOV_DEGREES = 45.0  # retinaseg.measure.scale.DEFAULT_FOV_DEGREES, without importing it


def progress_bar(what: str):
    """A bar on a terminal, plain lines in a log (retinaseg.io.logs)."""
    from ..io.logs import progress

    return lambda items: progress(items, what)


def cohort_options(parser) -> None:
    parser.add_argument("--manifest", metavar="CSV", help="also segment the files in this CSV's "
                        "'path' column (relative to the CSV; optional columns 'mm_per_pixel', "
                        "'fov_degrees', 'dataset' (drive, chase_db1, hrf: its camera's angle) "
                        "and 'name')")
    units = parser.add_argument_group(
        "units", "each row's scale_source says where its mm came from: manifest, flag, "
        "dataset, or assumed (a 45-degree camera); see docs/units.md")
    units.add_argument("--mm-per-pixel", type=MM_PER_PIXEL.argument(), metavar="X",
                       help="pixel size on the retina for photos whose manifest row gives none")
    units.add_argument("--fov-degrees", type=FIELD_ANGLE.argument(), metavar="D",
                       help="the camera's field angle for photos whose manifest row gives none "
                            "(the FOV's width spans D degrees at 0.288 mm per degree)")
    units.add_argument("--strict-units", action="store_true",
                       help="leave the mm columns empty (scale_note says why) rather than "
                            "assume a 45-degree camera")
    parser.add_argument("--save", default="mask", metavar="KINDS",
                        help="pictures to write per image: any of mask,prob,overlay, or none "
                             "(default mask: the overlay costs more than the model)")
    parser.add_argument("--jobs", type=JOBS.argument(), default=1, metavar="N",
                        help="worker processes on this machine, 1 to 1024 (default 1)")
    parser.add_argument("--shard", metavar="K/N", help="segment only shard K of N (1 <= K <= N), "
                        "e.g. --shard $SLURM_ARRAY_TASK_ID/8; writes OUT/results.shard-K-of-N.*")
    parser.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster: a scheduler "
                        "address, or local:N for N local workers (pip install 'retinaseg[dask]')")


def model_options(parser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="WEIGHTS",
                        help="trained weights: a shipped name ('retinaseg models' lists them), "
                             "a checkpoint file such as runs/NAME/model.safetensors or an .onnx "
                             f"file 'retinaseg export' wrote (default "
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
    parser.add_argument("--av-decision", choices=AV_DECISIONS, default=None,
                        help="for an artery/vein model: each vessel segment (skeleton between "
                             "branch points) called artery or vein as a whole, by its "
                             "centreline's mean (segment, the default); each vessel, its "
                             "segments chained where they continue each other straight through "
                             "a branch point or a crossing (vessel); or every pixel on its own "
                             "(pixel: the network's raw decision); docs/artery-vein.md")
    parser.add_argument("--device", default="auto", type=_device_name,
                        help="auto (CUDA, then MPS, then the CPU; the default), cpu, cuda, "
                             "cuda:N or mps")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="what runs the network: onnxruntime (no torch imported; the "
                             "shipped models' graphs are exported once into "
                             "$RETINASEG_CACHE), torch, or auto (the default: onnxruntime "
                             "where installed and the model has a graph, on the CPU; "
                             "docs/onnxruntime.md)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="autocast: auto (bf16, or fp16 where bf16 is missing, on CUDA; "
                             "fp32 on the CPU and MPS), fp32, bf16 or fp16")
    parser.add_argument("--bf16", dest="precision", action="store_const", const="bf16",
                        help="same as --precision bf16 (faster only on CPUs with bf16 "
                             "instructions)")


def postprocess_options(parser, effect: str = "any of these replaces the model's default "
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


_non_negative = PIXELS.argument()  # a number of pixels in [0, 16384]


def backend_from_args(args) -> str:
    """The backend asked for; ``auto`` with a precision only torch runs is torch."""
    backend = getattr(args, "backend", "auto")
    if backend == "auto" and args.precision in ("bf16", "fp16"):
        return TORCH
    return backend


def load_from_args(args):
    """The model the options name, on their backend (a bad model fails before
    anything is written)."""
    from ..hub.load import load_model

    return load_model(args.model, args.device, backend_from_args(args))


def say_backend(model) -> None:
    """The stderr line saying what ran the network, once a job has succeeded (an
    error stays the one line a failed command prints)."""
    import sys

    from ..hub.backend import describe

    print(f"retinaseg: ran on {describe(model)}", file=sys.stderr)


def settings_from_args(bundle, args):
    """The job's inference settings: the model's own, with the user's choices over them."""
    from ..pipeline.settings import resolve_settings

    return resolve_settings(bundle, threshold=args.threshold, tta=args.tta,
                            precision=args.precision, postprocess=postprocess_choice(args),
                            scale=args.scale, av_decision=getattr(args, "av_decision", None),
                            quality_check=not getattr(args, "no_quality_check", False))


def postprocess_choice(args) -> str | None:
    """The post-processing the flags ask for, as text; None: the model's default."""
    from ..pipeline.postprocess import NONE, Postprocess

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


def device_option(parser, what: str) -> None:
    parser.add_argument("--device", help=f"device to {what}: auto (CUDA, then MPS, then the "
                                         "CPU), cpu, cuda, cuda:N or mps (default: the "
                                         "config's device, auto)")


def _tta_mode(value: str) -> str:
    from ..pipeline.settings import check_tta

    try:
        return check_tta(value)
    except RetinasegError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _scale_rule(value: str) -> str:
    from ..pipeline.segment import SCALES

    if value not in SCALES:
        raise argparse.ArgumentTypeError(f"choose one of {', '.join(SCALES)}, not {value!r}")
    return value


def _threshold_rule(value: str) -> float | str:
    from ..pipeline.cut import parse_threshold

    try:
        return parse_threshold(value)
    except RetinasegError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_overrides(args) -> list[str]:
    """``--set`` values, ``--data-root`` as ``data.root`` and ``--device`` as ``device``."""
    overrides = list(args.set or [])
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    if args.device:
        overrides.append(f"device={args.device}")
    return overrides
