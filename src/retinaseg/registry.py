"""One registry helper for everything looked up by name: architectures,
dataset layouts and shipped weights.

Each registry maps a name to an entry, refuses a name registered twice, lists
names by shell pattern, and answers an unknown name with the known ones, so
every "unknown X" error in the package reads the same.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Generic, TypeVar

from .errors import RetinasegError

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    """Named entries of one kind (``what`` names the kind in errors)."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, entry: Entry) -> Entry:
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str, hint: str = "") -> Entry:
        """The entry called ``name``; an unknown name lists the known ones
        (``hint`` adds what else the user may give instead)."""
        if name not in self._entries:
            known = ", ".join(self.names())
            raise RetinasegError(f"unknown {self.what} {name!r}; known: {known}{hint}")
        return self._entries[name]

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style pattern, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def items(self) -> list[tuple[str, Entry]]:
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
