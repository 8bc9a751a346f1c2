"""``retinaseg report``: evaluation reports rebuilt, or several compared."""
from __future__ import annotations

from pathlib import Path

from .options import DEFAULT_OUT


def add_parsers(verbs) -> None:
    """Add this module's verbs to the ``retinaseg`` sub-parsers."""
    rp = verbs.add_parser("report", help="rebuild evaluation reports, or compare several")
    rp.add_argument("runs", nargs="+", metavar="EVAL_DIR",
                    help="folders written by 'retinaseg evaluate --out'")
    rp.add_argument("--out", help=f"where the comparison page goes (default {DEFAULT_OUT}; "
                                  "written when several folders are given)")
    rp.set_defaults(run=cmd_report)


def cmd_report(args) -> int:
    from ..evaluation.report import rebuild_report, write_comparison
    from ..io.atomic import check_output_folder

    for folder in args.runs:
        if Path(folder).is_dir():
            check_output_folder(folder)
    if len(args.runs) > 1 or args.out:
        check_output_folder(args.out or DEFAULT_OUT)
    written = []
    for folder in args.runs:
        written += rebuild_report(folder)
    if len(args.runs) > 1 or args.out:
        written += write_comparison(args.runs, args.out or DEFAULT_OUT)[:2]
    for path in written:
        print(f"wrote {path}")
    return 0
