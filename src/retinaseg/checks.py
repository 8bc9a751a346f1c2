"""Numbers a user hands us, each checked against one stated range by one helper.

A :class:`Range` says what a number may be (integer or not, its bounds, open or
closed) in words the error repeats. The command line uses it as an argparse
``type=`` (:meth:`Range.argument`), the Python API calls :meth:`Range.check`,
and the config rules and the model meta read :meth:`Range.problem`, so an
option, a config key and a meta field with the same meaning refuse the same
values with the same words. NaN and infinities are outside every range, and so
are ``True``/``False`` where a number is wanted.

The upper bounds below are far above any real use; they are there so that a
typo (``--bootstrap 10000000``) is an error instead of a job that never ends.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from .errors import RetinasegError


@dataclass(frozen=True)
class Range:
    """``low <= value <= high`` (either bound may be open or absent), finite,
    and an integer where ``integer``."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """The allowed values in words: ``an integer in [1, 1024]``, ``> 0``."""
        kind = "an integer " if self.integer else ""
        if self.low is not None and self.high is not None:
            return (f"{kind}in {'(' if self.low_open else '['}{_text(self.low)}, "
                    f"{_text(self.high)}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{kind}{'>' if self.low_open else '>='} {_text(self.low)}"
        if self.high is not None:
            return f"{kind}{'<' if self.high_open else '<='} {_text(self.high)}"
        return "an integer" if self.integer else "a finite number"

    def contains(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not math.isfinite(value) or (self.integer and not float(value).is_integer()):
            return False
        if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def problem(self, value) -> str | None:
        """None where ``value`` is inside, else :meth:`describe` (the config rules' form)."""
        return None if self.contains(value) else self.describe()

    def check(self, value, name: str):
        """``value`` if inside, else a one-line error naming ``name`` and the range."""
        if not self.contains(value):
            raise RetinasegError(f"{name} must be {self.describe()}, not {value!r}")
        return int(value) if self.integer else value

    def parse(self, text: str):
        """A number from text (a command-line value), checked."""
        try:
            value = int(text) if self.integer else float(text)
        except (TypeError, ValueError):
            value = float("nan")
        if not self.contains(value):
            raise ValueError(f"must be {self.describe()}, not {text!r}")
        return value

    def argument(self):
        """An argparse ``type=`` that parses and checks a value in one step."""
        def parse(text: str):
            try:
                return self.parse(text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        parse.__name__ = "number"  # argparse names the type in some messages
        return parse


def _text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


MAX_SIDE = 16384  # pixels: crops, squares and FOVs (HRF, the largest photos, is 3504 wide)

# The stated ranges, each used by every face that takes the value.
THRESHOLD = Range(0, 1, low_open=True)              # a probability cut
PROBABILITY_LOW = Range(0, 1, high_open=True)       # a hysteresis low or a specificity floor
BOOTSTRAP = Range(0, 100_000, integer=True)         # resamples (0: no intervals)
JOBS = Range(1, 1024, integer=True)                 # worker processes
EPOCHS = Range(1, 1_000_000, integer=True)
LEARNING_RATE = Range(0, low_open=True)
PIXELS = Range(0, MAX_SIDE)                         # a size in pixels (0: off)
FOV_DIAMETER = Range(16, MAX_SIDE)                  # a FOV width a model works at
SQUARE_SIZE = Range(0, MAX_SIDE, integer=True)
MM_PER_PIXEL = Range(0, 1, low_open=True)           # a pixel on the retina (about 0.005-0.03 mm)
FIELD_ANGLE = Range(0, 200, low_open=True)          # a camera's field of view, degrees
