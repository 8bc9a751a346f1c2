"""``retinaseg report``: evaluation reports rebuilt, several compared, or a cohort's page."""
from __future__ import annotations

from pathlib import Path

from .options import DEFAULT_OUT


def add_parsers(verbs) -> None:
    """Add this module's verbs to the ``retinaseg`` sub-parsers."""
    rp = verbs.add_parser("report", help="rebuild evaluation reports, compare several, or "
                                         "write a cohort's page")
    rp.add_argument("runs", nargs="+", metavar="DIR",
                    help="folders written by 'retinaseg evaluate --out' (rebuilds report.html "
                         "and report.md), or by 'retinaseg segment --out' (a cohort: writes its "
                         "report.html from results.csv/results.jsonl)")
    rp.add_argument("--out", help=f"where the comparison page goes (default {DEFAULT_OUT}; "
                                  "written when several folders are given)")
    rp.set_defaults(run=cmd_report)


def cmd_report(args) -> int:
    from ..evaluation.report import write_comparison
    from ..io.atomic import check_output_folder

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
    from ..cohort.page import is_cohort_folder, write_cohort_page
    from ..evaluation.report import rebuild_report

    if is_cohort_folder(folder) and not (Path(folder) / "metrics.json").is_file():
        return [write_cohort_page(folder)]
    return rebuild_report(folder)
