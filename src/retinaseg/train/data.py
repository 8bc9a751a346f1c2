"""Training data: the training split minus validation images at the training
geometry, and each epoch's augmented batches of crops (or whole images).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import TrainConfig
from ..data import fov_diameter, load_dataset
from ..data.augment import photometric, random_crops, rotated_whole, whole_image_size
from ..data.geometry import pad_to_stride, resize_mask, to_working_geometry
from ..data.preprocess import preprocess
from ..errors import RetinasegError, naming_file


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
    fov_diameter: float = 0.0
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
    if len(datasets) > 1 and not (cfg.data.fov_diameter or cfg.data.square_size):
        raise RetinasegError(f"data.dataset {cfg.data.dataset!r} joins datasets of different "
                             "scales; set data.fov_diameter (e.g. 540) or data.square_size to "
                             "train on them together")
    ids = [f"{d.name}:{i}" if len(datasets) > 1 else i for d in datasets for i in d.ids]
    samples = (sample for d in datasets for sample in d)
    return ids, samples


def rescaled(sample, data_cfg):
    """Image, vessel mask and FOV at the training geometry, the one inference
    brings a photo to (``data.geometry.to_working_geometry``)."""
    try:
        image, fov = to_working_geometry(sample.image, sample.fov, data_cfg.fov_diameter,
                                         data_cfg.square_size)
    except RetinasegError as exc:
        raise naming_file(sample.image_path, exc) from None
    if fov is sample.fov:
        return sample.image, sample.vessel, sample.fov
    return image, resize_mask(sample.vessel, fov.shape), fov


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
        image, vessel, fov = rescaled(sample, cfg.data)
        sample = dataclasses.replace(sample, id=sample_id, image=image, vessel=vessel, fov=fov)
        if sample.id in val_ids:
            data.val_inputs.append(torch.from_numpy(preprocess(sample.image, sample.fov,
                                                               cfg.data.preprocess)))
            data.val_vessels.append(sample.vessel)
            data.val_fovs.append(sample.fov)
            data.val_ids.append(sample.id)
        else:
            data.train_images.append(sample.image)
            data.train_vessels.append(torch.from_numpy(sample.vessel.astype(np.float32)))
            data.train_fovs.append(sample.fov)
    data.fov_diameter = float(np.median([fov_diameter(f) for f in data.train_fovs]))
    if cfg.loss == "weighted_bce" and cfg.pos_weight == 0:
        data.pos_weight = vessel_balance(data.train_vessels, data.train_fovs)
    return data


def vessel_balance(vessels: list, fovs: list) -> float:
    """Background / vessel pixels inside the FOVs: the vessel weight that makes
    both classes weigh the same in the loss (``pos_weight: 0``)."""
    vessel = sum(float(v.numpy()[f].sum()) for v, f in zip(vessels, fovs))
    inside = sum(int(f.sum()) for f in fovs)
    if vessel == 0:
        raise RetinasegError("pos_weight 0 (auto) needs vessel pixels in the training masks")
    return round((inside - vessel) / vessel, 4)


def epoch_inputs(data: TrainingData, cfg: TrainConfig, rng: np.random.Generator):
    """(preprocessed image, vessel, FOV) tensors, after this epoch's photometric change."""
    for image, vessel, fov in zip(data.train_images, data.train_vessels, data.train_fovs):
        x = torch.from_numpy(preprocess(photometric(image, cfg.augment, rng), fov, cfg.data.preprocess))
        yield x, vessel, torch.from_numpy(fov.astype(np.float32))


def epoch_batches(data: TrainingData, cfg: TrainConfig, stride: int, rng: np.random.Generator):
    """One epoch of ``(images, vessels, fovs)`` batches, in shuffled order."""
    if cfg.augment.fixed_rotations:
        return rotation_batches(data, cfg, stride, rng)
    return random_batches(data, cfg, stride, rng)


def random_batches(data: TrainingData, cfg: TrainConfig, stride: int, rng: np.random.Generator):
    """All crops of one epoch, shuffled and cut into batches."""
    crops, vessels, fovs = [], [], []
    for x, vessel, fov in epoch_inputs(data, cfg, rng):
        size = cfg.data.crop_size or whole_image_size(tuple(fov.shape), stride)
        count = cfg.data.crops_per_image if cfg.data.crop_size else 1
        c, v, f = random_crops(x, vessel, fov, count, size, cfg.augment, rng)
        crops.append(c), vessels.append(v), fovs.append(f)
    crops, vessels, fovs = torch.cat(crops), torch.cat(vessels), torch.cat(fovs)
    order = torch.from_numpy(rng.permutation(len(crops)))
    for start in range(0, len(order), cfg.data.batch_size):
        pick = order[start:start + cfg.data.batch_size]
        yield crops[pick], vessels[pick], fovs[pick]


def rotation_batches(data: TrainingData, cfg: TrainConfig, stride: int, rng: np.random.Generator):
    """Every training image at each of K equally spaced angles (whole, or that many
    crops per angle), shuffled. Views are built batch by batch, so K rotated
    copies of the training set never sit in memory together."""
    inputs = list(epoch_inputs(data, cfg, rng))
    turns = cfg.augment.fixed_rotations
    per_angle = cfg.data.crops_per_image if cfg.data.crop_size else 1
    views = [(i, 360.0 * k / turns) for i in range(len(inputs)) for k in range(turns)
             for _ in range(per_angle)]
    order = rng.permutation(len(views))
    for start in range(0, len(order), cfg.data.batch_size):
        parts = [rotated_view(*inputs[views[i][0]], views[i][1], cfg, stride, rng)
                 for i in order[start:start + cfg.data.batch_size]]
        yield tuple(torch.cat(tensors) for tensors in zip(*parts))


def rotated_view(x, vessel, fov, angle: float, cfg: TrainConfig, stride: int,
                 rng: np.random.Generator):
    """One crop of the image rotated by ``angle`` (cut straight from the unrotated
    image, the same pixels without rotating all of it), or the whole rotated
    image in its own frame padded to the stride."""
    if cfg.data.crop_size:
        return random_crops(x, vessel, fov, 1, cfg.data.crop_size, cfg.augment, rng, angle)
    views = rotated_whole(x, vessel, fov, angle, cfg.augment, rng)
    return tuple(pad_to_stride(t, stride)[0] for t in views)


def steps_per_epoch(data: TrainingData, cfg: TrainConfig) -> int:
    crops = len(data.train_images) * (cfg.data.crops_per_image if cfg.data.crop_size else 1)
    return math.ceil(crops * max(1, cfg.augment.fixed_rotations) / cfg.data.batch_size)
