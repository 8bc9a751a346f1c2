"""The one speck rule: which vessel objects are too small to count as vessels.

A model's mask carries specks that a person never draws; each adds a connected
component and end points, so counts taken with and without them disagree (on
one photo 15 components against 26). Every place that measures a mask uses this
rule, so that the results table (``retinaseg segment``), ``retinaseg measure``
and the API (``retinaseg.measure.measure_vessels``, ``Segmentation.measures()``)
give the same ``components`` for the same mask:

    an 8-connected vessel object under ``speck_size(fov)`` pixels is a speck:
    :data:`SPECK_PX` pixels at a FOV :data:`SPECK_REFERENCE_FOV_PX` px wide
    (DRIVE's), scaled with the FOV's width squared (it is an area).

Specks are left out of the measures, not out of the mask file: the mask is the
model's answer after its own post-processing (``--min-component``, chosen for
F1 and clDice in benchmarks/results/postprocess.md, smaller than this rule), and
every measurement then drops the specks by this rule. 30 px is where the
measure agreement with the manual annotations levelled off (README,
"Measurements": components 65 -> 9 per DRIVE image, the observer 3).
"""
from __future__ import annotations

import numpy as np

SPECK_PX = 30  # a vessel object smaller than this, at a FOV 540 px wide (DRIVE), is a speck
SPECK_REFERENCE_FOV_PX = 540
KEEP_ALL = 0  # min_object_px that keeps every object (e.g. for a manual annotation)


def speck_size(fov: np.ndarray) -> int:
    """:data:`SPECK_PX` scaled from DRIVE's FOV width to ``fov``'s (areas: squared),
    so that one rule drops the same specks at every camera's resolution."""
    from .scale import fov_width_px

    return max(2, round(SPECK_PX * (fov_width_px(fov) / SPECK_REFERENCE_FOV_PX) ** 2))
