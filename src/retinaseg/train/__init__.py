"""Training: ``fit(config)`` writes a run folder with the resolved config, a CSV
log, ``last.safetensors`` (to resume), ``best.safetensors`` and the final
``model.safetensors``.

Data: the training split minus a few validation images, preprocessed once per
epoch after a photometric augmentation, then cut into randomly rotated, scaled
and flipped crops (or whole images), or, with ``augment.fixed_rotations``, shown
at each of K fixed angles. Validation segments the held-out images exactly as
inference does; the best epoch by ``select_metric`` is kept and its threshold
is chosen on the same validation images (or fixed by ``fixed_threshold``).

One module per job: ``data`` (images and batches), ``loader`` (the DataLoader
and its workers), ``distributed`` (several processes under torchrun),
``finetune`` (starting weights, encoder freezing), ``loop`` (``fit``), ``state``
(resume and log), ``threshold`` (validation and calibration).
"""
from .data import (
                   EpochBatches,
                   TrainingData,
                   epoch_batches,
                   load_training_data,
                   steps_per_epoch,
                   training_samples,
)
from .finetune import load_initial_weights, parameter_groups
from .loop import check_config, fit
from .threshold import calibrate, choose_threshold, threshold_source, validate

__all__ = ["EpochBatches", "TrainingData", "calibrate", "check_config", "choose_threshold", "epoch_batches",
           "fit", "load_initial_weights", "load_training_data", "parameter_groups",
           "steps_per_epoch", "threshold_source", "training_samples", "validate"]
