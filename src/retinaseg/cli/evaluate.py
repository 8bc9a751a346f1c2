"""``retinaseg evaluate``: a model scored on a dataset split."""
from __future__ import annotations

import shlex
import sys

from ..checks import BOOTSTRAP
from ..errors import OutputError
from .options import (
    DEFAULT_OUT,
    load_from_args,
    model_options,
    postprocess_options,
    progress_bar,
    say_backend,
    settings_from_args,
)


def add_parsers(verbs) -> None:
    """Add this module's verbs to the ``retinaseg`` sub-parsers."""
    ev = verbs.add_parser("evaluate", help="score a model on a dataset split")
    model_options(ev)
    postprocess_options(ev)
    ev.add_argument("--dataset", required=True, help="a registered name (drive, chase_db1, "
                    "hrf, stare, reta, les_av, av_wide, vevio; 'retinaseg datasets' shows which "
                    "are on disk), or a folder with images/ masks/ [fov/]")
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
    ev.add_argument("--bootstrap", type=BOOTSTRAP.argument(), metavar="N",
                    help="bootstrap resamples for 95%% intervals, 0 to 100000 (default 1000 "
                         "with --report, else none)")
    ev.set_defaults(run=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from ..data import load_dataset
    from ..evaluation.evaluate import EvalOptions, evaluate_to_folder, format_table
    from ..io.atomic import check_output_folder

    data = load_dataset(args.dataset, args.split, args.data_root)  # cheap checks first
    out = check_output_folder(args.out)
    bundle = load_from_args(args)
    bootstrap = args.bootstrap if args.bootstrap is not None else (1000 if args.report else 0)
    options = EvalOptions(settings_from_args(bundle, args),
                          topology=args.topology or args.report, bootstrap=bootstrap)
    command = "retinaseg " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        result, written = evaluate_to_folder(bundle, data, options, out, args.report,
                                             model_name=args.model, command=command,
                                             progress=progress_bar("evaluate"))
    except OutputError as exc:  # the writers stage every file: none of them appeared
        raise OutputError(exc.path, f"{exc.problem}; nothing was written "
                                    f"to {out}/ (metrics.json{', report' if args.report else ''})"
                          ) from None
    print(format_table(result))
    for path in written:
        print(f"wrote {path}")
    say_backend(bundle)
    return 0
