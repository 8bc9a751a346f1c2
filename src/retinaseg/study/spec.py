"""What a study is and the runs it plans, as plain data: the planner builds them,
the table and the runner read them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Study:
    path: Path
    base: dict
    out_dir: Path
    seeds: list
    common: dict
    dataset: str
    split: str
    variants: dict
    pretrain: dict | None = None
    repeat: dict = field(default_factory=dict)


@dataclass
class PlannedRun:
    variant: str
    seed: int
    overrides: dict

    @property
    def name(self) -> str:
        return f"{self.variant}-seed{self.seed}"
