"""Cohort-scale segmentation: one results table per job, resumable, parallel, sharded.

``inputs`` (files, folders, manifests, shards), ``table`` (row schema, atomic
appends, resume), ``worker`` (one photo -> one row, with the measurement and
quality hooks), ``runner`` (serial / process pool / Dask backends), ``progress``.
"""
from .inputs import CohortInput, collect_cohort, parse_shard
from .runner import CohortResult, run_cohort
from .worker import DEFAULT_SAVE, SAVE_KINDS, JobSpec, parse_save

__all__ = ["CohortInput", "CohortResult", "DEFAULT_SAVE", "JobSpec", "SAVE_KINDS",
           "collect_cohort", "parse_save", "parse_shard", "run_cohort"]
