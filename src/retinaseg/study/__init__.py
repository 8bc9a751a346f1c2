"""Training studies: a grid of variants of one recipe, trained, evaluated and tabled.

Modules: :mod:`.plan` (the study file and its runs), :mod:`.run` (training and
evaluating them), :mod:`.claims` (sharing a study between processes),
:mod:`.sessions` (the sittings' provenance) and :mod:`.table` (study.csv / study.md).

A study file names a base training config, the variants (each a set of
config overrides), the seeds, and where to evaluate::

    base: convlstm-unet-drive.yaml        # relative to the study file
    out_dir: runs/study
    seeds: [0]
    set: {epochs: 20}                     # applied to every run
    evaluate: {dataset: drive, split: test}
    pretrain:                             # optional: a run others start from ("@pretrain")
      set: {data.dataset: chase_db1+hrf, data.split: all, data.fov_diameter: 540}
    variants:
      baseline: {}
      schedule-step: {schedule.name: step, schedule.step_epochs: 8}
      start-frozen: {init_from: "@pretrain", freeze_encoder: true}
    repeat: {variants: [baseline, schedule-step], seeds: [1]}   # extra seeds
    # or  repeat: {top: 4, seeds: [1]}: extra seeds for the 4 variants with the
    # best validation AUC, chosen once every variant has its first runs

Every run gets ``OUT/<variant>-seed<k>/`` with the training run and an
``eval/`` folder holding metrics.json and the report with its figures. A run
whose eval/metrics.json exists is finished and skipped on a rerun; a run cut
short resumes from its last.safetensors. The table (``OUT/study.csv`` and
``OUT/study.md``) is rewritten after every run, so an interrupted study keeps
what it finished. Variants are compared on their validation scores (chosen
before any test image is seen); the test columns say how the choice holds up.

Several processes can share one study: start ``retinaseg study`` again with the
same folder (e.g. one per core with OMP_NUM_THREADS=1). Each run is claimed by
the process that trains it (``OUT/<run>/.claim``, created atomically); a claim
whose process has died is taken over, and the run resumes. A process stops when
every run left is claimed by another one.
"""
from .claims import CLAIM_FILE, claim, claim_is_live, release
from .plan import (
                   PRETRAIN,
                   PlannedRun,
                   Study,
                   finished_model,
                   load_study,
                   planned_runs,
                   pretrain_config,
                   run_config,
)
from .run import evaluate_run, is_finished, run_study
from .sessions import SESSIONS_FILE, StudySession, read_sessions, wall_seconds
from .table import (
                   TEST_KEYS,
                   provenance_lines,
                   run_row,
                   study_markdown,
                   summarise,
                   write_table,
)

__all__ = ["CLAIM_FILE", "PRETRAIN", "SESSIONS_FILE", "TEST_KEYS", "PlannedRun", "Study",
           "StudySession", "claim", "claim_is_live", "evaluate_run", "finished_model", "is_finished",
           "load_study", "pretrain_config",
           "planned_runs", "provenance_lines", "read_sessions", "release", "run_config",
           "run_row", "run_study", "study_markdown", "summarise", "wall_seconds", "write_table"]
