"""Weights shipped inside the package, each pinned to its SHA-256."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RetinasegError
from ..registry import Registry

if TYPE_CHECKING:  # torch is imported only when a model is loaded: `retinaseg models` stays light

    from .checkpoint import ModelBundle

SUFFIX = ".safetensors"  # checkpoint.SUFFIX, without importing torch

# What `retinaseg segment`, `--sample` and the Python API use when no model is named.
DEFAULT_MODEL = "general"


@dataclass(frozen=True)
class PretrainedWeights:
    """A shipped model: its file ``weights/<name>.safetensors`` is pinned to
    ``sha256`` here, the one place the hash lives.

    ``postprocess``, when set, is the model's default mask post-processing
    (:mod:`retinaseg.pipeline.postprocess`), in place of the one its file's meta holds:
    set it only to the setting benchmarks/postprocess.py chose for this model
    on its validation images, so that a measured default needs no re-export.
    ``caliber_px`` and ``caliber_band``, when set, are likewise the model's reference
    vessel calibre and band (``ModelMeta``), as ``retinaseg calibrate`` measures them
    on its validation photos; ``--scale caliber`` and ``--scale band`` need them.
    """

    name: str
    architecture: str
    config: str  # the training recipe (configs/<name>.yaml) that produced it
    sha256: str
    description: str
    postprocess: dict | None = None
    caliber_px: float | None = None
    caliber_band: tuple[float, float] | None = None
    # SHA-256 of ``weights/<name>.onnx`` where the package ships the graph exported from
    # these weights (``retinaseg export --model NAME``, deterministic): an install
    # without torch segments with it (docs/onnxruntime.md)
    onnx_sha256: str | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}{SUFFIX}"


PRETRAINED: Registry[PretrainedWeights] = Registry("shipped model")


def _register(weights: PretrainedWeights) -> None:
    PRETRAINED.register(weights.name, weights)


_register(PretrainedWeights(
    name="general",
    architecture="unet",
    # three cosine cycles on six sources (configs/general-six-rgb.yaml, then
    # configs/general-six-rgb-dice.yaml and this one, BCE + Dice), then `retinaseg calibrate
    # --set 'data.fov_range=[512, 1792]'`; shipped by the rule of benchmarks/ship_rule.py
    # (benchmarks/results/ship_rule_six_rgb_dice_cycle3.md; the command in ship_general.md).
    # Its calibre and band are in its file's meta, as `retinaseg calibrate` measured them.
    config="configs/general-six-rgb-dice-cycle3.yaml",
    sha256="34a24c614c87f72a9a40d1979c67376a8c13125f41a16b19f5c70c9ff079c122",
    description="U-Net for photos from any camera: training splits of DRIVE, CHASE_DB1, HRF, "
                "LES-AV, AV-WIDE and VEVIO (13 validation photos from all six), RGB + CLAHE "
                "input, photos clamped to a FOV of 512-1280 px, colour/illumination/blur/JPEG/"
                "noise augmentation, three cosine cycles (the last two BCE + Dice); segments "
                "at 512-1792 px; each photo cut at its own Otsu threshold; the default",
    # no post-processing: benchmarks/results/postprocess_six_rgb_dice_cycle3.md chose none
    # on its 13 validation photos
    postprocess=None,
    # benchmarks/results/caliber_scale_general.json, reference_caliber_px and band_px (the
    # same as its meta's, as `retinaseg calibrate` measured them on those photos)
    caliber_px=11.4007,
    caliber_band=(6.0, 17.7048),
    onnx_sha256="637c1b32156ed71d03c8651e3776fedaeb29f6aeaebe32fde758dccfa9091f34",
))

_register(PretrainedWeights(
    name="general-v1",
    architecture="unet",
    # the `general` of 2026-12-04 to 2026-12-08 (three sources), kept under this name so
    # that a cohort measured with it can be compared with one measured by the new one.
    # The third cosine cycle, after configs/general.yaml and configs/general-restart.yaml,
    # then `retinaseg calibrate --set 'data.fov_range=[512, 1792]'`: the top of the working
    # range chosen on its validation images by benchmarks/working_scale.py (1280 -> 1792 px;
    # the command is in benchmarks/results/ship_general-v1.md)
    config="configs/general-cycle3.yaml",
    sha256="50719ecd169e7ed3abd08e8cba8d12c4c72be8654bb78e91967c6656befc7b19",
    description="The previous `general` (DRIVE + CHASE_DB1 + HRF training splits "
                "(48 train, 7 validation from all three), trained with each photo's FOV "
                "clamped to 512-1280 px, colour/illumination/blur/JPEG/noise augmentation, "
                "three cosine cycles; segments at 512-1792 px; each photo cut at its own "
                "Otsu threshold), kept so that cohorts measured with it stay comparable; "
                "new work should use general",
    # benchmarks/results/postprocess.md: chosen on its 7 validation images by the rule
    # stated there (clDice +0.0057, F1 no lower in any dataset)
    postprocess={"min_component": 10},
    # benchmarks/results/caliber_scale_general.json, reference_caliber_px and band_px: its
    # validation photos' vessel calibre at their working scale, as `retinaseg calibrate`
    # measures it
    caliber_px=11.3454,
    caliber_band=(7.6056, 14.0),
))

_register(PretrainedWeights(
    name="general-av",
    architecture="unet",
    # the third cosine cycle (45 epochs at half the second's rate) after
    # configs/general-av.yaml and configs/general-av-cycle2.yaml; the best epoch by
    # validation A/V accuracy (benchmarks/results/ship_general-av.md)
    config="configs/general-av-cycle3.yaml",
    sha256="8e7bcce163bbe9ce7643f0f558b5d4402a90c23fb9702684c0c432ff4a65b27d",
    description="U-Net with vessel, artery and vein outputs: general widened to RGB, trained "
                "on the training splits of DRIVE-AV, HRF-AV and LES-AV in three cosine cycles; "
                "adds the optic disc, CRAE, CRVE and AVR to the table. Its A/V decision is "
                "short of the published peers' (docs/artery-vein.md): compare its "
                "calibres between photos it segmented, not with other tools'",
))

_register(PretrainedWeights(
    name="general-av-cycle2",
    architecture="unet",
    # the `general-av` of 2026-12-07's first release (two cycles), kept under this name
    # so that a cohort measured with it can be compared with one measured by the new one
    # (benchmarks/results/ship_general-av-cycle2.md)
    config="configs/general-av-cycle2.yaml",
    sha256="0d517c3128d2c2f67dd1e653ce6d2b12b881329fa875f41d2254827dde3cb1fd",
    description="The previous `general-av` (two cosine cycles), kept so that cohorts "
                "measured with it stay comparable; new work should use general-av",
))

_register(PretrainedWeights(
    name="unet-drive",
    architecture="unet",
    config="configs/unet-drive.yaml",
    sha256="159cf05b8051bb38d8f01e8ab783ed8624eac0b90ad514f1157f2025df374a7d",
    description="U-Net, DRIVE training/ (18 images train, 2 validation); green+CLAHE",
))

_register(PretrainedWeights(
    name="convlstm-unet-drive",
    architecture="convlstm-unet",
    config="configs/convlstm-unet-drive-restart.yaml",  # stage 2 of configs/convlstm-unet-drive.yaml
    sha256="3c4ece7c2d75c104f83fed9c5886ee51bc0ec7efa01588804dfb5562d02d2fbf",
    description="ConvLSTM U-Net (fine-tuning paper), DRIVE training/ (18 train, 2 validation); "
                "encoder started from unet-drive, then a warm restart; segments with flip "
                "TTA, threshold at validation specificity >= 0.9876 (the paper's)",
))

_register(PretrainedWeights(
    name="column-bilstm-hrf",
    architecture="column-bilstm",
    config="configs/compare-hrf-cpu.yaml",
    sha256="4a77f098a662c75bbeaa03fd39d7c5cee204f9de6485b01923c6105afab9325c",
    description="Column Bi-LSTM (RETA paper) with the row pass (rows+columns), HRF images "
                "01-05 of each category (13 train, 2 validation) at 512 px in CIE-Lab; "
                "threshold 0.5 as in the paper",
))


def weights_dir() -> Path:
    return Path(str(resources.files("retinaseg") / "weights"))


def pretrained_path(name: str) -> Path:
    """Where ``name``'s weights live (or will, for a model exported the first time)."""
    return weights_dir() / f"{name}{SUFFIX}"


def export_weights(checkpoint, name: str) -> Path:
    """Ship a trained checkpoint as ``name``: fp16 weights, its meta and training
    config. The bytes depend only on the model, so exporting the same model again
    leaves the file and its hash as they were; a new model needs its new hash
    pinned in the registry (:func:`unpinned`)."""
    from .checkpoint import load_checkpoint, save_model

    bundle = load_checkpoint(checkpoint, for_inference=False)  # ship the unfused weights
    target = pretrained_path(name)
    save_model(target, bundle.module, bundle.meta, half=True, config=bundle.config)
    return target


def unpinned(name: str, path: Path) -> str | None:
    """What to change in this file when ``path`` (exported as ``name``) is not
    the file the registry pins; None when it is."""
    from .checkpoint import sha256_of

    digest = sha256_of(path)
    if name in PRETRAINED and PRETRAINED.get(name).sha256 == digest:
        return None
    return (f"{path.name} has SHA-256 {digest}: pin it as sha256 of {name!r} in "
            "src/retinaseg/pretrained.py")


def verified_pretrained_path(name: str) -> Path:
    """The shipped file of ``name``, after checking it against its pinned SHA-256."""
    from .checkpoint import sha256_of

    weights = PRETRAINED.get(name)
    path = pretrained_path(name)
    if not path.is_file():
        raise RetinasegError(f"{path}: shipped weights for {name!r} are missing from the install")
    if sha256_of(path) != weights.sha256:
        raise RetinasegError(f"{path}: SHA-256 does not match the pinned hash for {name!r} "
                             "(corrupt or replaced file)")
    return path


def load_pretrained(name: str) -> ModelBundle:
    from .checkpoint import load_checkpoint

    weights = PRETRAINED.get(name)
    bundle = load_checkpoint(verified_pretrained_path(name),
                             expect_architecture=weights.architecture)
    with_registry_defaults(bundle.meta, name)
    return bundle


def with_registry_defaults(meta, name: str):
    """``meta`` (changed in place) with what the registry sets for ``name`` over its
    file's meta; applied to a graph exported from the weights too, so that a default
    measured later needs no new export."""
    from ..pipeline.postprocess import postprocess_from_dict

    weights = PRETRAINED.get(name)
    if weights.postprocess is not None:
        meta.postprocess = postprocess_from_dict(weights.postprocess).to_dict()
    if weights.caliber_px is not None:
        meta.caliber_px = weights.caliber_px
    if weights.caliber_band is not None:
        meta.caliber_band = list(weights.caliber_band)
    return meta
