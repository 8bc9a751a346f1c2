"""A model's meta: what inference needs besides the weights, the only source of a
model's inference defaults, checked field by field wherever a file is opened."""
from __future__ import annotations

import typing
from dataclasses import MISSING, asdict, dataclass, field, fields

from ..errors import file_error
from ..names import VESSEL
from .meta_rules import check_meta_values


@dataclass
class ModelMeta:
    """What inference needs besides the weights.

    ``fov_diameter`` is the FOV width (pixels) of the training images: photos
    are resampled to it before segmentation. ``square_size``, when not 0, replaces
    that: photos are resized to that many pixels square and the probabilities
    back (0 in checkpoints older than the field). ``threshold`` turns
    probabilities into a mask; ``threshold_source`` says where it came from.
    ``fov_range`` ``[low, high]``, when set, replaces ``fov_diameter``: each photo's
    FOV width is clamped into the range (``data.geometry.target_fov_width``).
    ``tta`` is the test-time augmentation the threshold was chosen under, which
    inference applies unless told otherwise ("none" in checkpoints older than the field).
    ``postprocess`` is the mask post-processing applied unless told otherwise
    (:mod:`retinaseg.pipeline.postprocess`; empty: none, as in files older than the field),
    set only where benchmarks/postprocess.py measured that it helps this model.
    ``threshold_rule`` is how a photo is cut by default (:mod:`retinaseg.pipeline.cut`):
    ``fixed`` at ``threshold``, or ``otsu``, each photo at its own Otsu cut
    (``threshold`` then serves a photo without a valley to find).
    ``caliber_px`` is how wide the wide vessels of its validation photos come out at
    their working scale (:mod:`retinaseg.pipeline.caliber`), what ``--scale caliber`` brings a
    photo's vessels to; 0: not measured (files older than the field, square models).
    ``caliber_band`` ``[low, high]`` is the lowest and highest of its validation
    datasets' median calibres, what ``--scale band`` keeps a photo's within (empty:
    not measured).
    ``outputs`` names the maps the network gives, one per channel, ``vessel`` first
    (:data:`retinaseg.models.contract.OUTPUT_NAMES`); files older than the field have
    one, ``vessel``.
    """

    architecture: str
    kwargs: dict
    preprocess: list[str]
    fov_diameter: float
    threshold: float = 0.5
    threshold_source: str = "default"
    trained_on: str = ""
    extra: dict = field(default_factory=dict)
    square_size: int = 0
    tta: str = "none"
    fov_range: list = field(default_factory=list)
    postprocess: dict = field(default_factory=dict)
    threshold_rule: str = "fixed"
    caliber_px: float = 0.0
    caliber_band: list = field(default_factory=list)
    outputs: list = field(default_factory=lambda: [VESSEL])

    @property
    def training_fov_diameter(self) -> float:
        """The FOV width (px) of the model's training images, which photos are resampled
        to: a property of the model, not of any one photo. Read this rather than
        ``fov_diameter``, the stored field's older name (kept, deprecated as a name to read)."""
        return self.fov_diameter


def _fits(value, hint) -> bool:
    """Whether a JSON value has a ModelMeta field's type (an int is a fine float)."""
    origin = typing.get_origin(hint) or hint
    if isinstance(value, bool) and origin is not bool:
        return False
    if origin is float:
        return isinstance(value, (int, float))
    if origin is list:
        (item,) = typing.get_args(hint) or (object,)
        return isinstance(value, list) and all(isinstance(v, item) for v in value)
    return isinstance(value, origin)


def meta_from_dict(values, path, network: bool = True) -> ModelMeta:
    """A ModelMeta from a file's JSON, checked field by field: a missing, extra,
    wrong-typed or out-of-range field is a one-line error naming ``path`` and the
    field (a field with a default may be missing, as in files written before it
    existed). The ranges are :data:`retinaseg.hub.meta_rules.FIELD_RULES`; ``network``
    False skips building the architecture (an ONNX file's graph is its network)."""
    if not isinstance(values, dict):
        raise file_error(path, "its model meta is not a mapping")
    hints = typing.get_type_hints(ModelMeta)
    known = {f.name: f for f in fields(ModelMeta)}
    extra = sorted(set(values) - set(known))
    if extra:
        raise file_error(path, f"its model meta has unknown field(s) {', '.join(extra)}")
    for name, spec in known.items():
        if name not in values:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise file_error(path, f"its model meta lacks the field {name!r}")
            continue
        if not _fits(values[name], hints[name]):
            raise file_error(path, f"its model meta field {name!r} should be "
                                   f"{_type_name(hints[name])}, not {values[name]!r}")
    check_meta_values(values, path, network)  # each field's rule: hub/meta_rules.py
    return ModelMeta(**values)


def meta_header(meta: ModelMeta) -> dict:
    """The meta as the file stores it. An empty ``postprocess``, the ``fixed``
    threshold rule, an unmeasured ``caliber_px`` or ``caliber_band`` and the single
    ``vessel`` output are left out, so a model without them is written byte for byte
    as before the fields existed (a re-exported shipped file keeps its pinned hash)."""
    values = asdict(meta)
    if not values["postprocess"]:
        del values["postprocess"]
    if values["threshold_rule"] == "fixed":
        del values["threshold_rule"]
    if not values["caliber_px"]:
        del values["caliber_px"]
    if not values["caliber_band"]:
        del values["caliber_band"]
    if values["outputs"] == [VESSEL]:
        del values["outputs"]
    return values


def _type_name(hint) -> str:
    origin = typing.get_origin(hint) or hint
    return {float: "a number", int: "an integer", str: "a string", dict: "a mapping",
            list: "a list of strings", bool: "true or false"}.get(origin, str(hint))
