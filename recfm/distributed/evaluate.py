"""Ranking metrics over Dask DataFrames, reduced from per-partition sums.

Both frames are hash-partitioned on ``user_id`` into the same partitions, so every user's
recommendations and test items meet in one partition. Each partition runs the metric
kernels of :mod:`recfm.evaluation.metrics` on its users and returns sums; the client adds
them up. The result equals :func:`recfm.evaluation.metrics_from_frames` on the whole frames
(means differ only by the order of floating-point additions, ~1e-16).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .._utils import DataError, check_positive_int
from ..evaluation.metrics import (
    METRICS,
    _sorted_unique,
    _test_matrix,
    check_ks,
    ranking_metrics,
    recs_to_array,
)
from ._deps import require_dask

__all__ = ["evaluate_recommendations"]

_PART = "_recfm_part"


def _as_ddf(frame: Any, columns: list[str], what: str) -> Any:
    import dask.dataframe as dd

    from .io import read_frame

    if isinstance(frame, (str, os.PathLike)):
        # a CSV's ids as written (007 is not 7), as load_run reads a saved run's; every
        # partition then agrees on their type (a Parquet file keeps its own)
        return read_frame(frame, columns=columns, text_columns=["user_id", "item_id"])
    if isinstance(frame, pd.DataFrame):
        frame = dd.from_pandas(frame, npartitions=max(1, min(32, len(frame) // 100_000 + 1)))
    if not hasattr(frame, "map_partitions"):
        raise DataError(f"{what} must be a Dask or pandas DataFrame or a Parquet/CSV path; "
                        f"got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} is missing column(s) {missing}; it has {list(frame.columns)}")
    return frame[columns]


def _with_part(df: pd.DataFrame, n_parts: int) -> pd.DataFrame:
    h = pd.util.hash_pandas_object(df["user_id"], index=False).to_numpy()
    return df.assign(**{_PART: (h % np.uint64(n_parts)).astype(np.int64)})


def _partition_sums(recs: pd.DataFrame, test: pd.DataFrame, ks: tuple[int, ...]) -> dict:
    """Metric sums, user count and recommended/test item ids of one partition's users."""
    rec_items = pd.unique(recs["item_id"].to_numpy())
    test_items = pd.unique(test["item_id"].to_numpy())
    out: dict[str, Any] = {"items": (rec_items, test_items), "n_users": 0, "sums": {},
                           "covered": {k: rec_items[:0] for k in ks}}
    if len(test) == 0:
        return out
    users = _sorted_unique(test["user_id"])
    items = _sorted_unique(pd.concat([test["item_id"], recs["item_id"]], ignore_index=True))
    arr = recs_to_array(recs, users, items, max(ks))
    test_csr = _test_matrix(test, users, items)
    values = ranking_metrics(arr, test_csr, ks)
    out["sums"] = {col: float(np.nansum(v)) for col, v in values.items()}
    out["n_users"] = int(np.count_nonzero(np.diff(test_csr.indptr)))
    for k in ks:
        top = arr[:, :k]
        out["covered"][k] = items.to_numpy()[np.unique(top[top >= 0])]
    return out


def evaluate_recommendations(recs: Any, test: Any, k: int | Iterable[int] = (10,),
                             n_items: int | None = None, npartitions: int | None = None,
                             client: Any = None) -> dict[str, float]:
    """Ranking metrics of recommendations against test interactions, computed on a cluster.

    Parameters
    ----------
    recs : Dask or pandas DataFrame, or Parquet/CSV path
        Columns ``user_id, item_id, rank`` (1-based), e.g. the output of
        :func:`recfm.distributed.recommend_all`.
    test : Dask or pandas DataFrame, or Parquet/CSV path
        Columns ``user_id, item_id``; each distinct row is a relevant pair.
    k : int or iterable of int > 0
        Cut-offs.
    n_items : int, optional
        Catalogue size for coverage; default: the distinct item ids of ``test`` and
        ``recs`` together, as :func:`recfm.evaluation.metrics_from_frames` does.
    npartitions : int, optional
        Partitions of users (default: the larger partition count of the two frames).
    client : distributed.Client, optional
        Default: the current Dask scheduler (a distributed client if one is active).

    Returns
    -------
    dict
        ``{f"{metric}@{k}": mean over test users}``, ``coverage@k`` and
        ``n_users_evaluated``: the summary of :func:`recfm.evaluation.metrics_from_frames`.

    Raises
    ------
    DataError
        A frame misses a column (named), a user has two items at one rank, a rank is not a
        positive integer.
    """
    require_dask()
    import dask

    ks = check_ks(k)
    recs_d = _as_ddf(recs, ["user_id", "item_id", "rank"], "recommendations")
    test_d = _as_ddf(test, ["user_id", "item_id"], "test")
    for column in ("user_id", "item_id"):
        if recs_d[column].dtype != test_d[column].dtype:
            # a user's partition is a hash of its id, and ids meet by value: both frames
            # must hold them alike (integers of two widths as int64, else as their text)
            both = (pd.api.types.is_integer_dtype(recs_d[column].dtype)
                    and pd.api.types.is_integer_dtype(test_d[column].dtype))
            target = np.int64 if both else str
            recs_d = recs_d.astype({column: target})
            test_d = test_d.astype({column: target})
    p = npartitions or max(recs_d.npartitions, test_d.npartitions)
    p = check_positive_int(p, "npartitions")
    recs_p = recs_d.map_partitions(_with_part, p).shuffle(on=_PART, npartitions=p)
    test_p = test_d.map_partitions(_with_part, p).shuffle(on=_PART, npartitions=p)
    parts = [dask.delayed(_partition_sums)(r, t, ks)
             for r, t in zip(recs_p.to_delayed(), test_p.to_delayed(), strict=True)]
    results = client.gather(client.compute(parts)) if client is not None else dask.compute(*parts)

    n_users = sum(r["n_users"] for r in results)
    if n_users == 0:
        raise DataError("test has no interaction: nothing to evaluate")
    if n_items is None:
        all_items = np.concatenate([a for r in results for a in r["items"]])
        n_items = len(pd.unique(all_items))
    n_items = check_positive_int(n_items, "n_items")
    summary: dict[str, float] = {}
    for kk in ks:
        for name in METRICS:
            col = f"{name}@{kk}"
            summary[col] = sum(r["sums"].get(col, 0.0) for r in results) / n_users
        covered = np.concatenate([r["covered"][kk] for r in results])
        summary[f"coverage@{kk}"] = float(len(pd.unique(covered)) / n_items)
    summary["n_users_evaluated"] = n_users
    return summary
