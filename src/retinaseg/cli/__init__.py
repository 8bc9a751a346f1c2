"""``retinaseg <verb>``: parse, call the library, print. Nothing else lives here.

One error boundary, :func:`main`, turns every failure into one line on stderr
and an exit status (README, "Bad input and exit codes"):

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
from .main import build_parser, failure_report, main

__all__ = ["build_parser", "failure_report", "main"]
