"""What a worker needs for one photo: the job, the model once per process, the columns
of its row and its pictures.

:mod:`.stages` runs them for a photo (in the driver, in pool processes under
``--jobs`` or on Dask workers), so everything here takes only picklable arguments
(a :class:`JobSpec` and a :class:`~retinaseg.cohort.inputs.CohortInput`).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import RetinasegError
from ..measure import MEASURES_VERSION, VesselMeasures, measure_vessels, speck_size
from ..measure.calibres import (
    AV_MEASURE_COLUMNS,
    CALIBRE_COLUMNS,
    av_measure_columns,
    calibre_columns,
    no_av_columns,
)
from ..measure.scale import DEFAULT_FOV_DEGREES
from ..quality.gate import NoFundusError
from .inputs import CohortInput
from .table import CORE_COLUMNS

if TYPE_CHECKING:  # a type only: the cohort's modules import the pipeline when they run
    from ..pipeline.settings import InferenceSettings

# What --save may name, in the order the files are written; see README "Cohorts"
# and benchmarks/results/cohort_throughput.md for what each costs.
SAVE_KINDS = ("mask", "prob", "overlay")
DEFAULT_SAVE = ("mask",)
FAILED, ERROR = "failed", "error"  # a bad input / an unexpected exception
SKIPPED = "skipped"  # a file in an input folder that is not a photo (inputs.CohortInput.skipped)


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs, small and picklable (the model travels by name)."""

    model: str  # shipped name or checkpoint path, readable where the workers run
    out_dir: str
    # How every photo is segmented (pipeline.settings.resolve_settings, once, in the
    # driver); None: the model's own settings, resolved by run_cohort.
    settings: InferenceSettings | None = None
    save: tuple[str, ...] = DEFAULT_SAVE
    # The model's maps (its meta's outputs, set by run_cohort): each beside ``vessel``
    # adds a fraction column and, with --save mask, a mask picture.
    outputs: tuple[str, ...] = ("vessel",)
    threads: int = 0  # torch or onnxruntime threads per worker process; 0: the default
    device: str = "auto"  # where each worker segments (auto: CUDA, then MPS, then the CPU)
    backend: str = "auto"  # what runs the network (the driver sets the one it resolved)
    # Units (docs/units.md): the job's --mm-per-pixel / --fov-degrees, below a manifest's
    # per-photo figures; strict_units leaves mm empty where the scale would be assumed.
    mm_per_pixel: float | None = None
    fov_degrees: float | None = None
    strict_units: bool = False


# --- extension points: the lead wires vessel measurements and the quality verdict in here --

# The names measurement_columns returns, in table order (the CSV header needs them up front).
# ``mm_per_pixel`` is already a core column: the measures fill it with the pixel size
# their mm columns used (the manifest's, or the assumed one).
MEASUREMENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(VesselMeasures)
                                             if f.name not in CORE_COLUMNS)


def measurement_columns(mask: np.ndarray, fov: np.ndarray, meta: dict) -> dict:
    """Vessel measurements of one photo, keyed by :data:`MEASUREMENT_COLUMNS`.

    ``meta`` holds the row so far and ``pixel_scale``, the photo's
    :class:`~retinaseg.measure.scale.Scale` (:func:`photo_scale_of`: manifest, flag,
    dataset or assumed; ``scale_source`` and ``scale_note`` say which). Without it
    the row's ``mm_per_pixel`` (from a manifest) gives the mm columns, else a
    45-degree camera is assumed. Specks (objects under ``measure.speck_size``
    pixels) are left out of the measures, not the mask.
    """
    mm_per_pixel = meta.get("mm_per_pixel")
    measures = measure_vessels(mask, fov, mm_per_pixel=mm_per_pixel,
                               fov_degrees=None if mm_per_pixel else DEFAULT_FOV_DEGREES,
                               min_object_px=speck_size(fov), scale=meta.get("pixel_scale"))
    return measures.as_row()


# The quality verdict (README "Cohorts", retinaseg.quality.verdict): the grade, its reason
# codes (";"-joined, empty when good) and phrases, then the signals it was read from.
VERDICT_SIGNALS = ("sharpness", "fov_cut_off", "bright_level", "clipped_share", "noise_ratio",
                   "uncertain_fraction")
QUALITY_COLUMNS: tuple[str, ...] = ("quality", "quality_reasons", "quality_notes",
                                    *VERDICT_SIGNALS)


def quality_columns(image: np.ndarray, fov: np.ndarray, prob: np.ndarray,
                    threshold: float = 0.5, quality=None) -> dict:
    """The quality verdict on one photo and its signals, keyed by :data:`QUALITY_COLUMNS`.

    ``uncertain_fraction``: share of FOV pixels whose probability is in the
    uncertain band around the threshold (the low-confidence signal). ``quality``:
    the gate's signals of this photo and FOV where the gate ran (else measured here).
    """
    from ..quality.verdict import grade_photo, measure_signals

    signals = measure_signals(image, fov, prob, threshold, quality)
    return {**verdict_columns(grade_photo(signals)),
            **{name: _rounded(signals[name]) for name in VERDICT_SIGNALS}}


def refused_columns(exc: NoFundusError) -> dict:
    """A photo the fundus gate refused: ``reject`` with the gate's reason and what it measured."""
    from ..quality.verdict import gate_verdict

    measured = exc.signals.as_dict()
    return {**verdict_columns(gate_verdict(exc.code, exc.problem)),
            **{name: _rounded(measured[name]) for name in VERDICT_SIGNALS if name in measured}}


def verdict_columns(verdict) -> dict:
    return {"quality": verdict.grade, "quality_reasons": ";".join(verdict.codes),
            "quality_notes": "; ".join(verdict.reasons)}


def _rounded(value):
    return round(float(value), 5) if value is not None else None


def table_columns(outputs: tuple[str, ...] = ("vessel",)) -> tuple[str, ...]:
    av = AV_COLUMNS if has_av(outputs) else ()
    return CORE_COLUMNS + QUALITY_COLUMNS + MEASUREMENT_COLUMNS + output_columns(outputs) + av


# A model with artery and vein outputs adds the disc, the calibres in zones B and C and the
# artery- and vein-specific measures (measure/calibres.py; docs/measurements.md). A vessel-only
# model's table has none of these columns rather than a row of empty ones.
# ``av_decision``: how artery and vein were told apart (pipeline/av_vote), part of the job.
AV_COLUMNS: tuple[str, ...] = ("av_decision",) + CALIBRE_COLUMNS + AV_MEASURE_COLUMNS


def has_av(outputs) -> bool:
    return "artery" in outputs and "vein" in outputs


def av_columns(image: np.ndarray, fov: np.ndarray, masks: dict, scale) -> tuple[dict, object]:
    """The :data:`AV_COLUMNS` of one photo, and the disc found (None where none was):
    the disc from the photo and the vessel mask, the calibres from the A/V masks."""
    from ..measure.disc import find_disc

    try:
        found = find_disc(image, fov, masks["vessel"])
        row = calibre_columns(masks["artery"], masks["vein"], fov, found, scale)
        row.update(av_measure_columns(masks["artery"], masks["vein"], fov, scale))
    except Exception as exc:  # noqa: BLE001 - the row keeps its mask and other measures
        return no_av_columns(f"calibres failed ({type(exc).__name__}: {exc}; a bug, please "
                             "report it)"), None
    return row, found.disc


def output_columns(outputs: tuple[str, ...]) -> tuple[str, ...]:
    """A column per output beside ``vessel``: the share of the FOV its mask covers."""
    return tuple(f"{name}_fraction" for name in outputs[1:])


def output_fractions(masks: dict[str, np.ndarray], fov: np.ndarray) -> dict:
    area = max(int(fov.sum()), 1)
    return {f"{name}_fraction": round(float((mask & fov).sum()) / area, 6)
            for name, mask in masks.items() if name != "vessel"}


# --- the worker ----------------------------------------------------------------------------

_BUNDLES: dict[str, object] = {}
_LOAD_LOCK = threading.Lock()  # a Dask worker may run several threads


def worker_bundle(spec: JobSpec):
    """The job's model, loaded once per process (one onnxruntime session, or torch's
    threads set once); torch is imported only where torch runs it."""
    key = (spec.model, spec.backend)
    with _LOAD_LOCK:
        if key not in _BUNDLES:
            from ..hub.load import load_model

            if spec.threads and spec.backend == "torch":
                import torch

                torch.set_num_threads(spec.threads)
            if spec.threads:
                from ..data.preprocess import set_preprocess_threads

                set_preprocess_threads(spec.threads)
            _BUNDLES[key] = load_model(spec.model, spec.device, spec.backend, spec.threads)
            warm_imports()
        return _BUNDLES[key]


# Imported only once a mask is measured (measure/, pipeline/caliber.py import them
# inside their functions): about 0.3 s on a 2-core machine. A thread imports them
# while the first photo is read and the network runs (onnxruntime and torch release
# the GIL), so a one-photo run does not wait for them; a later import just finds them.
DEFERRED_IMPORTS = ("skimage.morphology", "scipy.interpolate")


def warm_imports() -> threading.Thread:
    def run():
        import importlib

        for name in DEFERRED_IMPORTS:
            importlib.import_module(name)
    thread = threading.Thread(target=run, name="retinaseg-imports", daemon=True)
    thread.start()
    return thread


def preload(spec: JobSpec, bundle) -> None:
    """Hand the driver's already-loaded model to the serial backend."""
    _BUNDLES[(spec.model, spec.backend)] = bundle
    warm_imports()


def picture_kinds(spec: JobSpec) -> list[str]:
    """The pictures of each photo: each kind --save names, then, with ``mask``, the
    mask of each output beside ``vessel`` (``NAME_artery_mask.png``)."""
    extra = [f"{output}_mask" for output in spec.outputs[1:]] if "mask" in spec.save else []
    if "overlay" in spec.save and has_av(spec.outputs):
        extra.append("av_overlay")  # arteries red, veins blue, the disc and its zones
    return [*spec.save, *extra]


def output_paths(spec: JobSpec, name: str) -> list[Path]:
    return [Path(spec.out_dir) / f"{name}_{kind}.png" for kind in picture_kinds(spec)]


def photo_scale_of(spec: JobSpec, item: CohortInput, fov: np.ndarray):
    """The photo's pixel size: its manifest figures, else the job's flags, else its
    dataset's camera, else assumed (or, with ``strict_units``, none)."""
    from ..measure.scale import (
        DATASET,
        FLAG,
        MANIFEST,
        dataset_fov_degrees,
        photo_scale,
    )

    return photo_scale(fov, [(MANIFEST, item.mm_per_pixel, item.fov_degrees),
                             (FLAG, spec.mm_per_pixel, spec.fov_degrees),
                             (DATASET, None, dataset_fov_degrees(item.dataset))],
                       strict=spec.strict_units)


def job_identity(spec: JobSpec) -> dict:
    """The settings columns, the same for every row of a job. ``threshold`` is the
    fixed threshold, or ``otsu`` when each photo is cut at its own (its ``cut`` column);
    ``units`` is the job's unit flags (:func:`units_rule`); ``measures`` the version of
    the measured columns' definitions."""
    settings = spec.settings
    identity = {"threshold": settings.rule, "tta": settings.tta,
                "postprocess": settings.postprocess.describe(), "scale": settings.scale,
                "units": units_rule(spec), "measures": str(MEASURES_VERSION)}
    if has_av(spec.outputs):
        identity["av_decision"] = settings.av_decision
    return identity


def units_rule(spec: JobSpec) -> str:
    """The job's unit flags as one word: ``camera`` (each photo's manifest or dataset,
    else assumed), ``mm_per_pixel=X`` or ``fov_degrees=X``, ``+strict`` with
    ``--strict-units``. Part of the job's identity: a resumed run with other flags
    would mix millimetres of two rules in one table."""
    if spec.mm_per_pixel is not None:
        rule = f"mm_per_pixel={spec.mm_per_pixel:g}"
    elif spec.fov_degrees is not None:
        rule = f"fov_degrees={spec.fov_degrees:g}"
    else:
        rule = "camera"
    return rule + ("+strict" if spec.strict_units else "")


def geometry_columns(bundle, fov: np.ndarray, fov_width: float) -> dict:
    """The FOV width and the factor the last pass resampled the photo by."""
    from ..data.fov import fov_diameter
    from ..pipeline.working import working_scale

    diameter = fov_diameter(fov) if fov.any() else 0.0
    if bundle.meta.square_size:  # resized to a square: report the horizontal factor
        scale = bundle.meta.square_size / fov.shape[1]
    else:
        scale = working_scale(bundle, fov, fov_width)
    return {"fov_diameter_px": diameter, "working_scale": round(float(scale), 5)}


def write_pictures(spec: JobSpec, name: str, image, prob, masks: dict, fov,
                   disc=None) -> None:
    """The pictures ``spec.save`` names, all or none (a kill leaves no half file)."""
    if not spec.save:
        return
    from ..evaluation.overlays import av_overlay, probability_overlay
    from ..io.atomic import mask_png, png_bytes, probability_png, write_all_or_nothing

    mask = masks["vessel"]
    encoders = {"mask": lambda: mask_png(mask), "prob": lambda: png_bytes(probability_png(prob)),
                "overlay": lambda: png_bytes(probability_overlay(image, prob, mask, fov))}
    for output in spec.outputs[1:]:
        encoders[f"{output}_mask"] = lambda output=output: mask_png(masks[output])
    if has_av(masks):
        encoders["av_overlay"] = lambda: png_bytes(av_overlay(image, masks["artery"],
                                                              masks["vein"], fov, disc))
    write_all_or_nothing({path: encoders[kind]()
                          for kind, path in zip(picture_kinds(spec), output_paths(spec, name))})


def parse_save(text: str) -> tuple[str, ...]:
    """``--save mask,prob`` -> ``("mask", "prob")``; ``none`` writes only the table."""
    if text.strip() == "none":
        return ()
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in SAVE_KINDS]
    if unknown or not kinds:
        raise RetinasegError(f"--save {text!r}: choose from {', '.join(SAVE_KINDS)} "
                             "(comma-separated), or none")
    return kinds


def cpu_threads_per_worker(workers: int) -> int:
    """Split this machine's cores between ``workers`` processes (at least one each)."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))
