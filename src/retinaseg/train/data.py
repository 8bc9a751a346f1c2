"""Training data: the training split minus validation images at the training
geometry, and each epoch's augmented batches of crops (or whole images).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config.rules import config_value_error
from ..config.schema import TrainConfig
from ..data import fov_diameter, load_dataset
from ..data.augment import (
    crop_transforms,
    photometric,
    rotated_whole,
    warp,
    whole_image_size,
)
from ..data.geometry import (
    pad_to_stride,
    resize_mask,
    seen_fov_range,
    to_working_geometry,
)
from ..data.preprocess import preprocess
from ..errors import RetinasegError, naming_file
from .targets import target_planes


@dataclass
class TrainingData:
    """Training images kept raw (re-preprocessed each epoch), validation preprocessed once."""

    train_images: list
    train_vessels: list
    train_fovs: list
    val_inputs: list = field(default_factory=list)
    val_vessels: list = field(default_factory=list)
    val_fovs: list = field(default_factory=list)
    val_ids: list = field(default_factory=list)
    val_av: list = field(default_factory=list)  # an A/V model's validation planes (targets.py)
    fov_diameter: float = 0.0
    fov_widths: list = field(default_factory=list)  # of the training FOVs, at training geometry
    train_sources: list = field(default_factory=list)  # the dataset each training image is from
    pos_weight: float = 0.0       # measured class balance when the config asks for auto, else 0


def split_validation(ids: list[str], cfg, rng: np.random.Generator) -> list[str]:
    if cfg.data.val_ids:
        missing = [i for i in cfg.data.val_ids if str(i) not in ids]
        if missing:
            raise RetinasegError(f"data.val_ids {missing} are not in the training split {ids}")
        return [str(i) for i in cfg.data.val_ids]
    if cfg.data.val_count >= len(ids):
        raise RetinasegError(f"data.val_count={cfg.data.val_count} leaves no training images "
                             f"out of {len(ids)}")
    return sorted(rng.choice(ids, size=cfg.data.val_count, replace=False).tolist())


def training_samples(cfg: TrainConfig):
    """The samples of every dataset named in ``data.dataset`` ("a+b" joins several).

    Ids of joined datasets are prefixed with the dataset's name, so they stay unique.
    """
    names = cfg.data.dataset.split("+")
    datasets = [load_dataset(name, cfg.data.split, cfg.data.root) for name in names]
    if len(datasets) > 1 and not (cfg.data.fov_diameter or cfg.data.square_size
                                  or cfg.data.fov_range):
        raise RetinasegError(f"data.dataset {cfg.data.dataset!r} joins datasets of different "
                             "scales; set data.fov_diameter (e.g. 540), data.fov_range or "
                             "data.square_size to train on them together")
    ids = [training_id(d.name, i, len(datasets) > 1) for d in datasets for i in d.ids]
    samples = (sample for d in datasets for sample in d)
    return ids, samples


def training_id(dataset: str, image_id: str, joined: bool) -> str:
    """How a run names a photo: ``dataset:id`` where several datasets are joined."""
    return f"{dataset}:{image_id}" if joined else image_id


def named_training_samples(cfg: TrainConfig, wanted: set[str]):
    """``(dataset, sample)`` of the photos of :func:`training_samples` whose ids are in
    ``wanted`` (a run's ``val_ids``); only those photos are read."""
    names = cfg.data.dataset.split("+")
    for name in names:
        split = load_dataset(name, cfg.data.split, cfg.data.root)
        for index, image_id in enumerate(split.ids):
            if training_id(name, image_id, len(names) > 1) in wanted:
                yield name, split[index]


def rescaled(sample, planes: np.ndarray, data_cfg):
    """Image, target planes (``(P, H, W)`` bool, :mod:`.targets`) and FOV at the
    training geometry, the one inference brings a photo to
    (``data.geometry.to_working_geometry``)."""
    try:
        image, fov = to_working_geometry(sample.image, sample.fov, data_cfg.fov_diameter,
                                         data_cfg.square_size, data_cfg.fov_range)
    except RetinasegError as exc:
        raise naming_file(sample.image_path, exc) from None
    if fov is sample.fov:
        return sample.image, planes, sample.fov
    return image, np.stack([resize_mask(plane, fov.shape) for plane in planes]), fov


def target_tensor(planes: np.ndarray) -> torch.Tensor:
    """A vessel target as ``(H, W)`` (as always), an A/V target as ``(4, H, W)``."""
    planes = torch.from_numpy(planes.astype(np.float32))
    return planes[0] if len(planes) == 1 else planes


def vessel_plane(target: torch.Tensor) -> torch.Tensor:
    """The vessel mask of a training target, whichever kind it is."""
    return target[0] if target.dim() == 3 else target


def load_training_data(cfg: TrainConfig, rng: np.random.Generator) -> TrainingData:
    ids, samples = training_samples(cfg)
    val_ids = set(split_validation(ids, cfg, rng))
    kept = [i for i in ids if i not in val_ids]
    if cfg.data.max_train_images:
        kept = kept[:cfg.data.max_train_images]
    data = TrainingData([], [], [])
    for sample_id, sample in zip(ids, samples):
        if sample_id not in val_ids and sample_id not in kept:
            continue
        if sample.vessel is None:
            raise RetinasegError(f"{sample.image_path}: training image has no vessel mask")
        if not sample.fov.any():
            raise RetinasegError(f"{sample.image_path}: its field of view is empty")
        image, planes, fov = rescaled(sample, target_planes(sample, cfg.data.targets), cfg.data)
        sample = dataclasses.replace(sample, id=sample_id, image=image, vessel=planes[0], fov=fov)
        if sample.id in val_ids:
            data.val_inputs.append(torch.from_numpy(preprocess(sample.image, sample.fov,
                                                               cfg.data.preprocess)))
            data.val_vessels.append(sample.vessel)
            data.val_fovs.append(sample.fov)
            data.val_ids.append(sample.id)
            if len(planes) > 1:
                data.val_av.append(planes)
        else:
            data.train_images.append(sample.image)
            data.train_vessels.append(target_tensor(planes))
            data.train_fovs.append(sample.fov)
            data.train_sources.append(sample_id.split(":")[0] if ":" in sample_id
                                      and "+" in cfg.data.dataset else cfg.data.dataset)
    check_crop_size(cfg, data.train_images)
    data.fov_widths = [fov_diameter(f) for f in data.train_fovs]
    data.fov_diameter = float(np.median(data.fov_widths))
    if cfg.loss == "weighted_bce" and cfg.pos_weight == 0:
        data.pos_weight = vessel_balance(data.train_vessels, data.train_fovs)
    return data


def check_crop_size(cfg: TrainConfig, images: list) -> None:
    """A crop may be no larger than the largest training photo at the training scale:
    beyond that a crop is padding, memory and time for nothing (``crop_size: 1000`` on
    188x195 photos took 3.7 GB). Checked when the photos are loaded, the first moment
    their sizes are known."""
    if not cfg.data.crop_size or not images:
        return
    height, width = max((image.shape[:2] for image in images), key=max)
    if cfg.data.crop_size > max(height, width):
        raise config_value_error(
            "data.crop_size", cfg.data.crop_size,
            f"at most {max(height, width)} px, the longest side of the largest training "
            f"photo at the training scale ({width}x{height}), or 0 for whole photos")


def trained_fov_range(cfg: TrainConfig, data: TrainingData) -> list:
    """The FOV widths inference clamps a photo into: ``data.fov_range`` narrowed to
    the widths training saw, scale augmentation included (:func:`seen_fov_range`)."""
    return seen_fov_range(cfg.data.fov_range, data.fov_widths, cfg.augment.scale)


def vessel_balance(vessels: list, fovs: list) -> float:
    """Background / vessel pixels inside the FOVs: the vessel weight that makes
    both classes weigh the same in the loss (``pos_weight: 0``)."""
    vessel = sum(float(vessel_plane(v).numpy()[f].sum()) for v, f in zip(vessels, fovs))
    inside = sum(int(f.sum()) for f in fovs)
    if vessel == 0:
        raise RetinasegError("pos_weight 0 (auto) needs vessel pixels in the training masks")
    return round((inside - vessel) / vessel, 4)


# Every random draw of an epoch comes from its own stream, keyed by (seed, epoch,
# what, image, view): a batch is the same whichever process builds it and in
# whatever order, so a run does not depend on its number of DataLoader workers
# or of ranks, and a resumed run repeats the uninterrupted one.
_ORDER, _PHOTOMETRIC, _VIEW = 0, 1, 2


def stream(seed: int, epoch: int, kind: int, image: int = 0, view: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, kind, image, view])


@dataclass(frozen=True)
class View:
    """One training example of an epoch: a crop (or the whole) of one image,
    at a fixed ``angle`` (degrees, ``augment.fixed_rotations``) or a random one (None)."""

    image: int
    index: int
    angle: float | None = None


def views_per_image(data: TrainingData, cfg: TrainConfig) -> list[int]:
    """How many views (crops) each training image gets an epoch: ``crops_per_image``
    each, or with ``data.source_weights`` the same total shared between the sources
    by weight (``*``: the weight of sources not named, else 1), each source's share
    spread evenly over its images (the first ones get the remainder's extra crop)."""
    per_image = cfg.data.crops_per_image if cfg.data.crop_size else 1
    weights = cfg.data.source_weights
    if not weights:
        return [per_image] * len(data.train_images)
    sources = data.train_sources or [cfg.data.dataset] * len(data.train_images)
    names = list(dict.fromkeys(sources))
    weight = {n: float(weights.get(n, weights.get("*", 1.0))) for n in names}
    if not sum(weight.values()) > 0:
        raise RetinasegError(f"data.source_weights {weights} gives every training source "
                             f"({', '.join(names)}) weight 0")
    total = per_image * len(sources)
    counts = [0] * len(sources)
    for name in names:
        members = [j for j, s in enumerate(sources) if s == name]
        share = round(total * weight[name] / sum(weight.values()))
        for rank, j in enumerate(members):
            counts[j] = share // len(members) + (rank < share % len(members))
    return counts


def epoch_views(data: TrainingData, cfg: TrainConfig) -> list[View]:
    """Every view an epoch shows, in image order (the epoch shuffles them)."""
    counts = views_per_image(data, cfg)
    turns = cfg.augment.fixed_rotations
    if not turns:
        return [View(j, i) for j, n in enumerate(counts) for i in range(n)]
    return [View(j, k * n + c, 360.0 * k / turns)
            for j, n in enumerate(counts) for k in range(turns) for c in range(n)]


class EpochBatches(torch.utils.data.Dataset):
    """Batch ``(epoch, b)`` of a run as ``(images, vessels, fovs)`` tensors.

    A map-style dataset so that a DataLoader's workers can build batches ahead
    of the training step. Each process keeps the current epoch's preprocessed
    images (photometric change, then preprocessing, once per image and epoch).
    Under several ranks, each takes its contiguous share of every global batch
    of ``data.batch_size`` views (a tail batch smaller than the world is padded
    by repeating views, as torch's DistributedSampler does).
    """

    def __init__(self, data: TrainingData, cfg: TrainConfig, stride: int, rank: int = 0,
                 world: int = 1):
        self.data, self.cfg, self.stride, self.rank, self.world = data, cfg, stride, rank, world
        self.views = epoch_views(data, cfg)
        self._epoch, self._order, self._inputs = None, None, {}

    def __len__(self) -> int:
        return steps_per_epoch(self.data, self.cfg)

    def __getitem__(self, key: tuple[int, int]):
        epoch, batch = key
        self._enter(epoch)
        size = self.cfg.data.batch_size
        pick = rank_share(self._order[batch * size:(batch + 1) * size], self.rank, self.world)
        parts = [self._view(epoch, self.views[i]) for i in pick]
        return tuple(torch.cat(tensors) for tensors in zip(*parts))

    def _enter(self, epoch: int) -> None:
        if epoch != self._epoch:
            self._epoch, self._inputs = epoch, {}
            self._order = stream(self.cfg.seed, epoch, _ORDER).permutation(len(self.views))

    def _input(self, epoch: int, j: int):
        if j not in self._inputs:
            rng = stream(self.cfg.seed, epoch, _PHOTOMETRIC, j)
            image, fov = self.data.train_images[j], self.data.train_fovs[j]
            x = preprocess(photometric(image, self.cfg.augment, rng), fov, self.cfg.data.preprocess)
            self._inputs[j] = (torch.from_numpy(x), self.data.train_vessels[j],
                               torch.from_numpy(fov.astype(np.float32)))
        return self._inputs[j]

    def _view(self, epoch: int, view: View):
        x, vessel, fov = self._input(epoch, view.image)
        rng = stream(self.cfg.seed, epoch, _VIEW, view.image, view.index)
        return build_view(x, vessel, fov, self.data.train_fovs[view.image], view.angle,
                          self.cfg, self.stride, rng)


def rank_share(pick: np.ndarray, rank: int, world: int) -> np.ndarray:
    if world == 1:
        return pick
    if len(pick) < world:
        pick = np.resize(pick, world)
    return np.array_split(pick, world)[rank]


def build_view(x, vessel, fov, fov_mask: np.ndarray, angle: float | None, cfg: TrainConfig,
               stride: int, rng: np.random.Generator):
    """One augmented view ``(1, C, S, S)``, ``(1, 1, S, S)`` x2: a crop (of the whole
    image size without ``crop_size``) at a random FOV centre, rotated by ``angle``
    or at random; or, for a fixed angle and no crops, the whole image rotated in
    its own frame and padded to the stride."""
    if angle is not None and not cfg.data.crop_size:
        views = rotated_whole(x, vessel, fov, angle, cfg.augment, rng)
        return tuple(pad_to_stride(t, stride)[0] for t in views)
    size = cfg.data.crop_size or whole_image_size(tuple(fov_mask.shape), stride)
    theta = crop_transforms(fov_centre(fov_mask, rng), size, tuple(fov_mask.shape),
                            cfg.augment, rng, angle)
    return warp(x, vessel, fov, theta, (size, size))


def fov_centre(fov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pixel drawn uniformly from the FOV, as ``[[x, y]]``: by rejection from the
    whole frame, so no list of FOV pixel coordinates (96 MB for an HRF photo)
    has to be kept per image."""
    height, width = fov.shape
    while True:
        ys, xs = rng.integers(0, height, 64), rng.integers(0, width, 64)
        inside = np.flatnonzero(fov[ys, xs])
        if len(inside):
            return np.array([[xs[inside[0]], ys[inside[0]]]], dtype=np.float64)


def epoch_batches(data: TrainingData, cfg: TrainConfig, stride: int, epoch: int):
    """One epoch of ``(images, vessels, fovs)`` batches, in shuffled order, built
    in this process (training builds them in DataLoader workers, the same ones)."""
    dataset = EpochBatches(data, cfg, stride)
    return (dataset[epoch, b] for b in range(len(dataset)))


def steps_per_epoch(data: TrainingData, cfg: TrainConfig) -> int:
    crops = sum(views_per_image(data, cfg))
    return math.ceil(crops * max(1, cfg.augment.fixed_rotations) / cfg.data.batch_size)
