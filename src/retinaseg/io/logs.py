"""Progress for people and for machines: a tqdm bar on a terminal, plain lines elsewhere.

A job's log file (Slurm, CI, ``2> log``) must not fill with a bar's carriage
returns, and must show life early: off a terminal, a line after the first item
(so within seconds of the first photo), then at most every :data:`PLAIN_INTERVAL_S`
seconds, and one at the end.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator

PLAIN_INTERVAL_S = 5.0


def progress(items: Iterable, what: str, total: int | None = None, unit: str = "image",
             enabled: bool = True, stream=None, interval: float = PLAIN_INTERVAL_S) -> Iterable:
    """``items``, reporting progress on ``stream`` (stderr): a bar on a terminal, lines off it."""
    stream = stream or sys.stderr
    if not enabled:
        return items
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    if stream.isatty():
        from tqdm import tqdm

        return tqdm(items, desc=what, total=total, unit=unit, leave=False, file=stream)
    return plain_lines(items, what, total, unit, stream, interval)


def plural(unit: str) -> str:
    """``image`` -> ``images``, ``batch`` -> ``batches``."""
    return unit + ("es" if unit.endswith(("s", "sh", "ch", "x")) else "s")


def plain_lines(items: Iterable, what: str, total: int | None, unit: str, stream,
                interval: float = PLAIN_INTERVAL_S) -> Iterator:
    started = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1  # the consumer has finished the item when it asks for the next
        now = time.monotonic()
        if done == 1 or done == total or now - last >= interval:
            rate = done / max(now - started, 1e-9)
            of = f"/{total}" if total else ""
            units = plural(unit)
            print(f"{what}: {done}{of} {units}, {rate:.2f} {units}/s", file=stream, flush=True)
            last = now
