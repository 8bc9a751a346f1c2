"""The exceptions a user can cause, each with the exit status the CLI gives it,
and one warning type.

The CLI turns a :class:`RetinasegError` into one line on stderr and its
``exit_status``; anything else is a bug, reported as an internal error (the
traceback is printed with ``retinaseg --debug``). A :class:`RetinasegWarning`
is something the user should know but that does not stop the job (the CLI
prints it as one line too).
"""
import warnings


class RetinasegError(Exception):
    """A problem with the user's input: a file, a name, a config value."""

    exit_status = 2


class OutputError(RetinasegError):
    """An output could not be written: the folder is a file, read-only, or the disk is full.

    ``path`` is the file or folder that could not be written.
    """

    exit_status = 3

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem

    def __reduce__(self):  # rebuilt from its fields when it crosses to another process
        return type(self), (self.path, self.problem)


class RetinasegWarning(UserWarning):
    """Input that is used, but not all of it or not as it stands (e.g. frame 1 of 3)."""


def file_error(path, problem: str) -> RetinasegError:
    """Build the standard ``<path>: <problem>`` error, on one line: a problem that quotes
    the file's own text (a key, a name) may carry its newlines or control characters,
    which are written escaped, as ``repr`` would."""
    return RetinasegError(f"{path}: {one_line(problem)}")


def one_line(text: str) -> str:
    """``text`` with every unprintable character (newline, tab, escape, ...) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def file_warning(path, problem: str) -> None:
    """Warn ``<path>: <problem>`` (a :class:`RetinasegWarning`)."""
    warnings.warn(f"{path}: {problem}", RetinasegWarning, stacklevel=3)


def naming_file(path, exc: RetinasegError) -> RetinasegError:
    """``exc`` with ``path`` in front, unless its message names the file already."""
    message = str(exc)
    return exc if str(path) in message else file_error(path, message)
