"""Binary vessel-segmentation metrics, counted inside the field of view only.

A functional core (validate, reduce an image to counts, compute scores) and a
thin stateful :class:`SegmentationMetrics` that streams images through the same
functions, so a test set never has to be held in memory. Modules: :mod:`.checks`
(the boundary), :mod:`.counts` (confusion counts, threshold scores),
:mod:`.histogram` (AUCs, curves, best threshold) and :mod:`.streaming` (a whole
evaluation).

Conventions, shared by every function here:

* **Threshold.** A pixel is predicted vessel when ``prob >= threshold``, with
  ``threshold`` in ``(0, 1]``.
* **Field of view.** Pixels outside the FOV mask are ignored entirely; an
  image whose FOV is empty is an error, not a silent NaN.
* **Zero division.** A ratio whose denominator is zero is NaN (undefined,
  not 0 or 1): sensitivity with no true vessel pixels, precision with no
  predicted vessel pixels, specificity and fpr with no background pixels.
  F1 and IoU are 1.0 when truth and prediction are both empty (they agree
  perfectly); otherwise their denominators are positive. MCC is 0.0 whenever
  a marginal is empty, as in ``sklearn.metrics.matthews_corrcoef``. These are
  sklearn's ``zero_division=np.nan`` (precision, recall) and
  ``zero_division=1.0`` (``f1_score``, ``jaccard_score``).
* **AUCs** come from a :class:`ScoreHistogram` of quantised scores, so pooled
  AUCs over millions of pixels need 1 MB, not the pixels. Both are NaN when
  undefined: ROC AUC without positive or negative pixels, average precision
  without positive pixels (sklearn returns 0.0 there, with a warning).
"""
from __future__ import annotations

from .checks import check_threshold, validated_inputs
from .counts import (
                        SCORE_NAMES,
                        Counts,
                        confusion_counts,
                        score_arrays,
                        scores_from_counts,
)
from .histogram import (
                        AUC_NAMES,
                        BEST_THRESHOLD_METRICS,
                        ScoreHistogram,
                        at_or_above,
                        auc_pr_of_bins,
                        auc_roc_of_bins,
                        best_mean_threshold,
                        best_mean_threshold_of_bins,
                        best_threshold_of_bins,
                        bin_pixels,
                        coarsen_bins,
                        pr_curve_of_bins,
                        roc_curve_of_bins,
                        sweep_counts,
)
from .streaming import SegmentationMetrics, evaluate_arrays, image_scores, summarize

__all__ = ["AUC_NAMES", "BEST_THRESHOLD_METRICS", "SCORE_NAMES", "Counts", "ScoreHistogram",
           "SegmentationMetrics", "at_or_above", "auc_pr_of_bins", "auc_roc_of_bins",
           "best_mean_threshold", "best_mean_threshold_of_bins",
           "best_threshold_of_bins", "bin_pixels", "check_threshold", "coarsen_bins",
           "confusion_counts", "evaluate_arrays", "image_scores", "pr_curve_of_bins",
           "roc_curve_of_bins", "score_arrays", "scores_from_counts", "summarize",
           "sweep_counts", "validated_inputs"]
