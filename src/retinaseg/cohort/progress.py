"""Progress of a cohort job on stderr: a tqdm bar on a terminal, plain lines in a log.

A job array's log file gets a line after the first photo, then one every
``interval`` seconds (and a last one), not a bar's thousands of carriage returns.
"""
from __future__ import annotations

import sys
import time
from datetime import timedelta

from ..io.logs import PLAIN_INTERVAL_S  # the one interval for every verb


class Progress:
    """Counts finished images; shows images/s and the time left."""

    def __init__(self, total: int, skipped: int = 0, stream=None,
                 interval: float = PLAIN_INTERVAL_S):
        self.total, self.skipped, self.done, self.failed = total, skipped, 0, 0
        self.stream = stream or sys.stderr
        self.interval, self.started = interval, time.monotonic()
        self._last_line = self.started
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            desc = f"segment ({skipped} done before)" if skipped else "segment"
            self.bar = tqdm(total=total, desc=desc, unit="image", file=self.stream,
                            dynamic_ncols=True, smoothing=0.1)
        elif skipped:
            self._print(f"segment: {skipped} images already done, {total} to go")

    def update(self, row: dict) -> None:
        self.done += 1
        self.failed += row["status"] not in ("ok", "skipped")
        if self.bar is not None:
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
        elif (self.done == 1 or self.done == self.total  # a first line with the first photo
              or time.monotonic() - self._last_line >= self.interval):
            self._print(self.line())

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = timedelta(seconds=round((self.total - self.done) / rate)) if rate else "?"
        return (f"segment: {self.done}/{self.total} images, {rate:.2f} images/s, "
                f"ETA {left}, {self.failed} failed")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _print(self, text: str) -> None:
        self._last_line = time.monotonic()
        print(text, file=self.stream, flush=True)
