"""A study file and the runs it plans: variants x seeds, then repeats (see the package
docstring for the file's keys)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from ..config.schema import TrainConfig, config_from_dict, read_yaml, set_value
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
    """A study file checked whole: its own keys, and every run's training config."""
    path = Path(path)
    values = read_yaml(path, "study file")
    check_study_values(path, values)
    base_path = path.parent / values["base"]
    base = read_yaml(base_path, "base config file")
    evaluate = values.get("evaluate") or {}
    base_data = base.get("data") if isinstance(base.get("data"), dict) else {}
    study = Study(path, base, Path(out_dir or values.get("out_dir") or "runs/study"),
                  list(values.get("seeds", [0])), values.get("set") or {},
                  evaluate.get("dataset", base_data.get("dataset", "drive")),
                  evaluate.get("split", "test"), dict(values["variants"]),
                  values.get("pretrain"), values.get("repeat") or {})
    if not isinstance(study.dataset, str) or not study.dataset:
        raise file_error(base_path, "data.dataset must be a dataset name")
    for run in planned_runs(study):  # every variant must be a valid config before hours of training
        run_config(study, run, data_root=None)
    if study.pretrain:
        try:
            pretrain_config(study, data_root=None)
        except RetinasegError as exc:
            raise file_error(path, f"pretrain: {exc}") from None
    return study


def check_study_values(path: Path, values: dict) -> None:
    """The study file's own keys: types and ranges, before any config is built."""
    def fail(problem: str):
        raise file_error(path, problem)

    unknown = sorted(map(str, set(values) - set(STUDY_KEYS)))
    if unknown:
        fail(f"unknown study key {unknown[0]!r}; known: {', '.join(STUDY_KEYS)}")
    if not values.get("base") or not values.get("variants"):
        fail("a study needs 'base' (a training config) and 'variants'")
    if not isinstance(values["base"], str):
        fail(f"base must be the path of a training config, not {values['base']!r}")
    if values.get("out_dir") is not None and not isinstance(values["out_dir"], str):
        fail(f"out_dir must be a folder path, not {values['out_dir']!r}")
    _check_seeds(values.get("seeds", [0]), "seeds", fail)
    _check_overrides(values.get("set") or {}, "set", fail)
    variants = values["variants"]
    if not isinstance(variants, dict) or not all(isinstance(k, str) for k in variants):
        fail("variants must map variant names to config overrides")
    for name, overrides in variants.items():
        _check_overrides(overrides or {}, f"variant {name!r}", fail)
    for section in ("evaluate", "pretrain", "repeat"):
        if not isinstance(values.get(section) or {}, dict):
            fail(f"{section} must be a mapping")
    evaluate = values.get("evaluate") or {}
    for key in set(evaluate) - {"dataset", "split"}:
        fail(f"unknown key evaluate.{key}; known: dataset, split")
    if not all(isinstance(v, str) and v for v in evaluate.values()):
        fail("evaluate.dataset and evaluate.split must be names")
    pretrain = values.get("pretrain") or {}
    if set(pretrain) - {"set"}:
        fail("pretrain holds only 'set' (its config overrides)")
    _check_overrides(pretrain.get("set") or {}, "pretrain", fail)
    _check_repeat(values.get("repeat") or {}, fail)


def _check_seeds(seeds, where: str, fail) -> None:
    if not isinstance(seeds, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        fail(f"{where} must be a list of whole numbers >= 0, not {seeds!r}")


def _check_overrides(overrides, where: str, fail) -> None:
    if not isinstance(overrides, dict) or not all(isinstance(k, str) and k for k in overrides):
        fail(f"{where}: config overrides must map dotted keys to values, not {overrides!r}")


def _check_repeat(repeat: dict, fail) -> None:
    if set(repeat) - {"variants", "seeds", "top"}:
        fail("repeat holds only 'variants', 'top' and 'seeds'")
    names = repeat.get("variants", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        fail(f"repeat.variants must be a list of variant names, not {names!r}")
    top = repeat.get("top", 0)
    if not isinstance(top, int) or isinstance(top, bool) or top < 0:
        fail(f"repeat.top must be a whole number >= 0, not {top!r}")
    _check_seeds(repeat.get("seeds", []), "repeat.seeds", fail)


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


def build_config(study: Study, overrides: dict, data_root) -> TrainConfig:
    """The base config with the study's common settings, then ``overrides``."""
    overrides = {**study.common, **overrides, "resume": True}
    if data_root:
        overrides["data.root"] = str(data_root)
    values = copy.deepcopy(study.base)  # one copy per run
    for key, value in overrides.items():
        set_value(values, key, copy.deepcopy(value), key)
    return config_from_dict(values)


def run_config(study: Study, run: PlannedRun, data_root, device: str | None = None) -> TrainConfig:
    overrides = {**run.overrides, "seed": run.seed, "out_dir": str(study.out_dir / run.name),
                 **({"device": device} if device else {})}
    if overrides.get("init_from") == PRETRAIN:
        if not study.pretrain:
            raise file_error(study.path, f"variant {run.variant!r} starts from {PRETRAIN} "
                                         "but the study has no 'pretrain' section")
        overrides["init_from"] = str(finished_model(study.out_dir / "pretrain"))
    try:
        return build_config(study, overrides, data_root)
    except RetinasegError as exc:
        raise file_error(study.path, f"variant {run.variant!r}: {exc}") from None


def finished_model(folder: Path) -> Path:
    """A run folder's final model: model.safetensors, or the model.pt of a run
    finished before checkpoints were safetensors files."""
    legacy = folder / "model.pt"
    current = folder / "model.safetensors"
    return legacy if legacy.is_file() and not current.is_file() else current


def pretrain_config(study: Study, data_root, device: str | None = None) -> TrainConfig:
    overrides = {**(study.pretrain.get("set") or {}), "out_dir": str(study.out_dir / "pretrain"),
                 **({"device": device} if device else {})}
    return build_config(study, overrides, data_root)
