"""The command line's one error boundary and its parser, built verb by verb."""
from __future__ import annotations

import argparse
import errno
import sys
import warnings

from ..errors import RetinasegError, RetinasegWarning
from . import catalog, evaluate, measure, report, segment, train


class OneLineParser(argparse.ArgumentParser):
    """A parser whose mistakes are one stderr line, like every other error, and exit 2
    (argparse's own prints the whole usage block first). Sub-parsers are of this class
    too: ``add_subparsers`` makes them of the parent's."""

    def error(self, message: str):
        print(f"retinaseg: error: {' '.join(message.split())} (see '{self.prog} --help')",
              file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="retinaseg",
        description="Retinal vessel segmentation in colour fundus photographs.",
        epilog="Run 'retinaseg VERB --help' for a verb's options.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true",
                        help="on an error, print the full traceback (give it before the verb)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    for verb_module in (segment, evaluate, measure, report, train, catalog):
        verb_module.add_parsers(verbs)
    return parser


def _version() -> str:
    from ..version import __version__

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
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a parse error already printed
        return exc.code if isinstance(exc.code, int) else 2
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
