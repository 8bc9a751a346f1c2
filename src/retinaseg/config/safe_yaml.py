"""YAML as configs need it: plain data, strict UTF-8, small, and no anchors or aliases.

``yaml.safe_load`` already refuses Python objects, but it still expands
aliases: a few hundred bytes of nested anchors (the "billion laughs") become
billions of list items as soon as anything walks the result. Configs have no
use for anchors, so they are refused outright, as are non-UTF-8 bytes, files
over :data:`MAX_FILE_BYTES` and nesting deeper than :data:`MAX_DEPTH` (which
would otherwise exhaust the parser's recursion). Every refusal is a
:class:`RetinasegError` naming where the text came from.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import RetinasegError, file_error

MAX_FILE_BYTES = 1 << 20   # the largest shipped config is a few kB
MAX_DEPTH = 32             # configs nest three levels deep


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark):
        line = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        super().__init__(problem + line)


class StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors, aliases and deep nesting while composing,
    before any alias could be expanded."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused("anchors and aliases (&name, *name, <<) are not allowed",
                           event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(text: str):
    """The plain data in ``text``; raises :class:`ValueError` with a one-line reason.

    Besides :class:`yaml.YAMLError`, PyYAML's constructors raise ``ValueError``
    for values its resolver accepted (e.g. the date ``2020-13-45``).
    """
    try:
        return _plain_data(text)
    except yaml.YAMLError as exc:
        raise ValueError(_yaml_problem(exc)) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        raise ValueError(f"bad value ({type(exc).__name__}: {_first_line(exc)})") from None


def _plain_data(text: str):
    loader = StrictLoader(text)  # a SafeLoader: plain data only, never Python objects
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(path, what: str = "file"):
    """The plain data in a YAML file; every failure is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, f"no such {what}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise file_error(path, f"is {size} bytes; a {what} is at most {MAX_FILE_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        raise file_error(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise file_error(path, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                               f"{exc.start})") from None
    try:
        return parse_yaml(text)
    except ValueError as exc:
        raise file_error(path, f"invalid YAML ({exc})") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where it is."""
    problem = getattr(exc, "problem", None)
    if not problem:
        return _first_line(exc)
    mark = getattr(exc, "problem_mark", None)
    return problem + (f" at line {mark.line + 1}, column {mark.column + 1}" if mark else "")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else type(exc).__name__


def check_text_size(value: str, where: str, limit: int = 1 << 16) -> None:
    """A ``--set`` value, or any other YAML text not read from a file, kept small."""
    if len(value) > limit:
        raise RetinasegError(f"{where}: {len(value)} characters; at most {limit}")
