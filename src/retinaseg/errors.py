"""One exception type for everything a user can get wrong.

The CLI turns a :class:`RetinasegError` into one line on stderr and a non-zero
exit; anything else is a bug and keeps its traceback.
"""


class RetinasegError(Exception):
    """A problem with the user's input: a file, a name, a config value."""


def file_error(path, problem: str) -> RetinasegError:
    """Build the standard ``<path>: <problem>`` error."""
    return RetinasegError(f"{path}: {problem}")
