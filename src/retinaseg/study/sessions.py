"""The sittings of a study: command, commit, machine and wall time of each process."""
from __future__ import annotations

import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

from ..io.atomic import write_all_or_nothing

SESSIONS_FILE = "sessions.json"


class StudySession:
    """One invocation of a study, appended to ``sessions.json`` after every run:
    the command, commit, machine, and wall time spent, so the table can say how
    long the study took even when it was run in several sittings."""

    def __init__(self, path: Path):
        from ..utils import git_commit, machine_info

        self.path = path
        self.started = time.perf_counter()
        self.entry = {"command": " ".join(sys.argv),
                      "commit": git_commit(Path(__file__).resolve().parent),
                      "machine": machine_info(),
                      "started": datetime.datetime.now(datetime.timezone.utc)
                      .isoformat(timespec="seconds"),
                      "seconds": 0.0, "finished": []}
        self.entry["pid"] = os.getpid()

    def record(self, name: str) -> None:
        """Add ``name`` to this sitting's entry; other processes' entries are kept."""
        import fcntl

        self.entry["seconds"] = round(time.perf_counter() - self.started, 1)
        self.entry["finished"].append(name)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent processes of one study
            others = [e for e in read_sessions(self.path) if not self._is_mine(e)]
            write_all_or_nothing({self.path: {"sessions": others + [self.entry]}})

    def _is_mine(self, entry: dict) -> bool:
        return (entry.get("pid") == self.entry["pid"]
                and entry.get("started") == self.entry["started"])


def read_sessions(path: Path) -> list[dict]:
    return json.loads(path.read_text())["sessions"] if path.is_file() else []


def wall_seconds(sessions: list[dict]) -> float:
    """Seconds during which at least one sitting was running (overlaps counted once)."""
    spans = sorted((start, start + e["seconds"]) for e in sessions
                   for start in [datetime.datetime.fromisoformat(e["started"]).timestamp()])
    total, reach = 0.0, -math.inf
    for start, end in spans:
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total
