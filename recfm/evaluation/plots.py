"""Metric-versus-k curves (matplotlib is an optional extra: ``pip install recfm[plot]``)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from recfm._files import atomic_file
from recfm.evaluation.evaluate import EvaluationResult
from recfm.evaluation.report import per_k_table

__all__ = ["plot_curves", "curves_figure", "run_title"]

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


def run_title(settings: dict, n_users: int | None = None) -> str:
    """``"synthetic, random split, seed 0, 1000 users"`` from an experiment's settings (keys
    ``dataset``, ``split``, ``seed``; others ignored) and the number of users scored."""
    parts = [str(settings.get("dataset", "?")), f"{settings.get('split', '?')} split",
             f"seed {settings.get('seed', '?')}"]
    if n_users is not None:
        parts.append(f"{n_users:,} users")
    return ", ".join(parts)


def _n_users(data) -> int | None:
    table = data.table if isinstance(data, EvaluationResult) else data
    if isinstance(table, pd.DataFrame) and "n_users_evaluated" in table.columns:
        return int(table["n_users_evaluated"].max())
    return None


def curves_figure(result_or_per_k_table: EvaluationResult | pd.DataFrame,
                  metrics: tuple[str, ...] = ("ndcg", "recall"), title: str | None = None):
    """The matplotlib ``Figure`` that :func:`plot_curves` saves: one panel per metric, one
    line per model against k, or, with a single k, one bar per model (a line through one
    point would show lone dots)."""
    data = result_or_per_k_table
    if isinstance(data, pd.DataFrame) and {"model", "k"} <= set(data.columns):
        long = data
    else:
        long = per_k_table(data)
    missing = [m for m in metrics if m not in long.columns]
    if missing:
        raise ValueError(f"metric(s) {missing} not in the table; it has {list(long.columns)}")
    Figure = require_matplotlib()

    ks = sorted(long["k"].unique())
    fig = Figure(figsize=(5.0 * len(metrics), 4.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        label = _LABELS.get(metric, metric)
        if len(ks) == 1:
            label = label.replace("@k", f"@{ks[0]}")
            rows = long.dropna(subset=[metric])
            names = [str(m) for m in rows["model"]]
            colors = [f"C{i}" for i in range(len(names))]
            ax.bar(names, rows[metric].to_numpy(), color=colors)
            ax.set_xlabel("model")
            ax.grid(True, axis="y", alpha=0.3)
        else:
            for model, grp in long.groupby("model", sort=False):
                grp = grp.sort_values("k").dropna(subset=[metric])
                if grp.empty:
                    continue
                ax.plot(grp["k"], grp[metric], marker="o", label=str(model))
            ax.set_xlabel("k")
            ax.set_xticks(ks)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="best", fontsize="small")
        ax.set_ylabel(label)
        ax.set_title(label)
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(
    result_or_per_k_table: EvaluationResult | pd.DataFrame,
    path: str | os.PathLike,
    metrics: tuple[str, ...] = ("ndcg", "recall"),
    overwrite: bool = False,
    title: str | None = None,
    settings: dict | None = None,
) -> Path:
    """Draw one panel per metric (default NDCG@k and Recall@k) against k, one line per model
    (one bar per model when there is a single k); see :func:`curves_figure`.

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
    title : str, optional
        The figure's title; by default built from ``settings`` (:func:`run_title`: dataset,
        split, seed and the number of users scored), if given.
    settings : dict, optional
        An experiment's settings (``Experiment.settings``).

    Returns
    -------
    Path
    """
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"plot_curves: {str(path)!r} exists; pass overwrite=True to replace it"
        )
    if title is None and settings is not None:
        title = run_title(settings, _n_users(result_or_per_k_table))
    fig = curves_figure(result_or_per_k_table, metrics, title)
    with atomic_file(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    return path
