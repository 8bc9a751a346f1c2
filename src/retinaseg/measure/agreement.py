"""Agreement between two raters of one measure: Pearson r, ICC(2,1), Bland-Altman bias.

The raters here are a model and a person (or two people) measuring the same
images. Pairs where either value is undefined (NaN) are left out, and each
statistic says how many pairs it used.

ICC(2,1) is Shrout & Fleiss's two-way random-effects, absolute-agreement,
single-rater coefficient ("Intraclass correlations: uses in assessing rater
reliability", Psychological Bulletin 86(2):420-428, 1979): with ``n`` targets
rated by ``k`` raters, and the two-way ANOVA mean squares for targets (BMS),
raters (JMS) and residual (EMS),

    ICC(2,1) = (BMS - EMS) / (BMS + (k - 1) EMS + k (JMS - EMS) / n).

Unlike Pearson's r, it falls when one rater reads systematically higher: a
model whose widths are all one pixel too wide correlates perfectly yet agrees
less. Bland & Altman's limits of agreement are ``bias +- 1.96 SD`` of the
differences (Lancet 1(8476):307-310, 1986).
"""
from __future__ import annotations

import math

import numpy as np

MIN_PAIRS = 3  # fewer than this gives no spread to compare


def paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    """The pairs where both values are finite, as float arrays."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def pearson_r(a, b) -> float:
    a, b = paired(a, b)
    if len(a) < MIN_PAIRS or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def icc_2_1(ratings) -> float:
    """ICC(2,1) of an ``(n targets, k raters)`` array (complete rows only)."""
    x = np.asarray(ratings, dtype=float)
    x = x[np.isfinite(x).all(axis=1)]
    n, k = x.shape
    if n < 2 or k < 2:
        return math.nan
    grand = x.mean()
    bms = k * np.sum((x.mean(axis=1) - grand) ** 2) / (n - 1)
    jms = n * np.sum((x.mean(axis=0) - grand) ** 2) / (k - 1)
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    ems = np.sum(residual ** 2) / ((n - 1) * (k - 1))
    denominator = bms + (k - 1) * ems + k * (jms - ems) / n
    return float((bms - ems) / denominator) if denominator > 0 else math.nan


def bland_altman(a, b) -> dict:
    """Mean of ``a - b`` and its 95% limits of agreement."""
    a, b = paired(a, b)
    if len(a) < 2:
        return {"bias": math.nan, "loa_low": math.nan, "loa_high": math.nan}
    diff = a - b
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    return {"bias": bias, "loa_low": bias - 1.96 * sd, "loa_high": bias + 1.96 * sd}


def agreement(a, b) -> dict:
    """All three for rater ``a`` against rater ``b`` (bias is ``a - b``)."""
    x, y = paired(a, b)
    return {"n": int(len(x)), "pearson_r": pearson_r(x, y),
            "icc_2_1": icc_2_1(np.stack([x, y], axis=1)) if len(x) else math.nan,
            **bland_altman(x, y), "mean_a": float(x.mean()) if len(x) else math.nan,
            "mean_b": float(y.mean()) if len(y) else math.nan}
