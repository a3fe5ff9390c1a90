"""Evaluation: ranking metrics, side-by-side evaluation, reports, saved runs and plots.

Metric definitions are written once, in :mod:`recfm.metrics` (re-exported here).
:mod:`recfm.evaluation.plots` needs matplotlib (``pip install recfm[plot]``) and is not
imported here.
"""
from recfm.evaluation.evaluate import EvaluationResult, evaluate, metric_columns, paired_test
from recfm.evaluation.experiment import Experiment, run_experiment
from recfm.evaluation.metrics import (
    METRICS,
    coverage_at_k,
    hit_rate_at_k,
    map_at_k,
    metrics_from_frames,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from recfm.evaluation.report import format_table, per_k_table, to_records
from recfm.evaluation.runs import SavedRun, load_run, save_run

__all__ = [
    "METRICS",
    "EvaluationResult",
    "Experiment",
    "SavedRun",
    "coverage_at_k",
    "evaluate",
    "format_table",
    "hit_rate_at_k",
    "load_run",
    "map_at_k",
    "metric_columns",
    "metrics_from_frames",
    "mrr_at_k",
    "ndcg_at_k",
    "paired_test",
    "per_k_table",
    "plot_curves",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "run_experiment",
    "save_run",
    "to_records",
]


def __getattr__(name: str):
    if name == "plot_curves":  # lazy: keeps matplotlib optional
        from recfm.evaluation.plots import plot_curves

        return plot_curves
    raise AttributeError(f"module 'recfm.evaluation' has no attribute {name!r}")
