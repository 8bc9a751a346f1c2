"""One exception type for everything a user can get wrong, and one warning type.

The CLI turns a :class:`RetinasegError` into one line on stderr and a non-zero
exit; anything else is a bug and keeps its traceback. A :class:`RetinasegWarning`
is something the user should know but that does not stop the job (the CLI
prints it as one line too).
"""
import warnings


class RetinasegError(Exception):
    """A problem with the user's input: a file, a name, a config value."""


class RetinasegWarning(UserWarning):
    """Input that is used, but not all of it or not as it stands (e.g. frame 1 of 3)."""


def file_error(path, problem: str) -> RetinasegError:
    """Build the standard ``<path>: <problem>`` error."""
    return RetinasegError(f"{path}: {problem}")


def file_warning(path, problem: str) -> None:
    """Warn ``<path>: <problem>`` (a :class:`RetinasegWarning`)."""
    warnings.warn(f"{path}: {problem}", RetinasegWarning, stacklevel=3)


def naming_file(path, exc: RetinasegError) -> RetinasegError:
    """``exc`` with ``path`` in front, unless its message names the file already."""
    message = str(exc)
    return exc if str(path) in message else file_error(path, message)
