"""Metric-versus-k curves (matplotlib is an optional extra: ``pip install recfm[plot]``)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from recfm._files import atomic_file
from recfm.evaluation.evaluate import EvaluationResult
from recfm.evaluation.report import per_k_table

__all__ = ["plot_curves"]

_LABELS = {
    "ndcg": "NDCG@k",
    "recall": "Recall@k",
    "precision": "Precision@k",
    "map": "MAP@k",
    "hit_rate": "HR@k",
    "mrr": "MRR@k",
    "coverage": "coverage@k",
}


def require_matplotlib():
    """Import matplotlib's Figure, or raise an ImportError saying how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, an optional extra: pip install recfm[plot] "
            "(or pip install matplotlib)"
        ) from None
    return Figure


def plot_curves(
    result_or_per_k_table: EvaluationResult | pd.DataFrame,
    path: str | os.PathLike,
    metrics: tuple[str, ...] = ("ndcg", "recall"),
    overwrite: bool = False,
    title: str | None = None,
) -> Path:
    """Draw one panel per metric (default NDCG@k and Recall@k) against k, one line per model.

    Parameters
    ----------
    result_or_per_k_table : EvaluationResult or DataFrame
        A result, its wide ``table`` (columns ``name@k``), or the long table of
        :func:`recfm.evaluation.report.per_k_table` (columns ``model, k, <metric>...``).
        Models without values (skipped in cold start) are left out.
    path : path
        Output image; the format follows the suffix (``.png``, ``.svg``, ``.pdf``...).
    metrics : tuple of str
        Metric names (``ndcg``, ``recall``, ``precision``, ``map``, ``hit_rate``, ``mrr``,
        ``coverage``).
    overwrite : bool
        An existing ``path`` is an error unless True.

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"plot_curves: {str(path)!r} exists; pass overwrite=True to replace it"
        )
    data = result_or_per_k_table
    if isinstance(data, pd.DataFrame) and {"model", "k"} <= set(data.columns):
        long = data
    else:
        long = per_k_table(data)
    missing = [m for m in metrics if m not in long.columns]
    if missing:
        raise ValueError(f"metric(s) {missing} not in the table; it has {list(long.columns)}")
    Figure = require_matplotlib()

    fig = Figure(figsize=(5.0 * len(metrics), 4.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for model, grp in long.groupby("model", sort=False):
            grp = grp.sort_values("k").dropna(subset=[metric])
            if grp.empty:
                continue
            ax.plot(grp["k"], grp[metric], marker="o", label=str(model))
        ax.set_xlabel("k")
        ax.set_ylabel(_LABELS.get(metric, metric))
        ax.set_title(_LABELS.get(metric, metric))
        ax.grid(True, alpha=0.3)
        ks = sorted(long["k"].unique())
        ax.set_xticks(ks)
    axes[0].legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)

    with atomic_file(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    return path
