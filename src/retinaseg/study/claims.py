"""Several processes sharing one study: each run is claimed by the process that trains it."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

CLAIM_FILE = ".claim"


def claim(folder: Path) -> bool:
    """Take ``folder``'s run for this process; False while a live process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CLAIM_FILE
    # The claim is written whole beside it, then linked into place (atomic, and
    # refused if one exists): another process never reads a half-written claim and
    # takes it for a dead one's.
    draft = folder / f"{CLAIM_FILE}.{socket.gethostname()}.{os.getpid()}"
    draft.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    try:
        for _ in range(2):  # a second try after clearing a dead process's claim
            try:
                os.link(draft, path)
            except FileExistsError:
                if claim_is_live(path):
                    return False
                path.unlink(missing_ok=True)
                continue
            return True
        return False
    finally:
        draft.unlink(missing_ok=True)


def claim_is_live(path: Path) -> bool:
    """Whether the process that wrote the claim still runs (claims from another
    host are trusted: there is no way to check them from here)."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return False  # half-written or gone: its writer died or just finished
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release(folder: Path) -> None:
    (folder / CLAIM_FILE).unlink(missing_ok=True)
