"""Scoring a model on a dataset: evaluate, results, bootstrap intervals, topology,
plots, overlays and the evaluation report."""
