"""A study file and the runs it plans: variants x seeds, then repeats (see the package
docstring for the file's keys)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TrainConfig, apply_overrides, config_from_dict, read_yaml
from ..errors import RetinasegError, file_error
from .table import run_row, summarise

PRETRAIN = "@pretrain"
STUDY_KEYS = ("base", "out_dir", "seeds", "set", "evaluate", "pretrain", "variants", "repeat")


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


def load_study(path, out_dir=None) -> Study:
    path = Path(path)
    values = read_yaml(path)
    unknown = sorted(set(values) - set(STUDY_KEYS))
    if unknown:
        raise file_error(path, f"unknown study key {unknown[0]!r}; known: {', '.join(STUDY_KEYS)}")
    if not values.get("base") or not values.get("variants"):
        raise file_error(path, "a study needs 'base' (a training config) and 'variants'")
    base = read_yaml(path.parent / values["base"])
    evaluate = values.get("evaluate") or {}
    study = Study(path, base, Path(out_dir or values.get("out_dir") or "runs/study"),
                  [int(s) for s in values.get("seeds", [0])], values.get("set") or {},
                  evaluate.get("dataset", base.get("data", {}).get("dataset", "drive")),
                  evaluate.get("split", "test"), dict(values["variants"]),
                  values.get("pretrain"), values.get("repeat") or {})
    for run in planned_runs(study):  # every variant must be a valid config before hours of training
        run_config(study, run, data_root=None)
    return study


def planned_runs(study: Study) -> list[PlannedRun]:
    """Every variant at every seed, then the repeats. Repeats chosen by rank
    (``repeat.top``) appear only once all first runs are finished."""
    runs = [PlannedRun(name, seed, overrides or {})
            for name, overrides in study.variants.items() for seed in study.seeds]
    for name in study.repeat.get("variants", []) + leading_variants(study, runs):
        if name not in study.variants:
            raise file_error(study.path, f"repeat names unknown variant {name!r}")
        runs += [PlannedRun(name, int(seed), study.variants[name] or {})
                 for seed in study.repeat.get("seeds", []) if int(seed) not in study.seeds]
    return runs


def leading_variants(study: Study, first_runs: list[PlannedRun]) -> list[str]:
    """The ``repeat.top`` variants by mean validation AUC over their first runs,
    or none while any first run is unfinished (the ranking would still change)."""
    top = int(study.repeat.get("top", 0))
    if top <= 0:
        return []
    rows = [run_row(study, run) for run in first_runs]
    if any(row is None for row in rows):
        return []
    named = set(study.repeat.get("variants", []))
    ranked = [e["variant"] for e in summarise(rows) if e["variant"] not in named]
    return ranked[:top]


def as_overrides(values: dict) -> list[str]:
    # JSON is valid YAML, so values round-trip through apply_overrides unchanged.
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def build_config(study: Study, overrides: dict, data_root) -> TrainConfig:
    """The base config with the study's common settings, then ``overrides``."""
    overrides = {**study.common, **overrides, "resume": True}
    if data_root:
        overrides["data.root"] = str(data_root)
    values = json.loads(json.dumps(study.base))  # a deep copy per run
    return config_from_dict(apply_overrides(values, as_overrides(overrides)))


def run_config(study: Study, run: PlannedRun, data_root) -> TrainConfig:
    overrides = {**run.overrides, "seed": run.seed, "out_dir": str(study.out_dir / run.name)}
    if overrides.get("init_from") == PRETRAIN:
        if not study.pretrain:
            raise file_error(study.path, f"variant {run.variant!r} starts from {PRETRAIN} "
                                         "but the study has no 'pretrain' section")
        overrides["init_from"] = str(study.out_dir / "pretrain" / "model.pt")
    try:
        return build_config(study, overrides, data_root)
    except RetinasegError as exc:
        raise file_error(study.path, f"variant {run.variant!r}: {exc}") from None


def pretrain_config(study: Study, data_root) -> TrainConfig:
    overrides = {**(study.pretrain.get("set") or {}), "out_dir": str(study.out_dir / "pretrain")}
    return build_config(study, overrides, data_root)
