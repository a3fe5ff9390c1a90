r"""Top-k ranking metrics, vectorised over users: the one definition of each.

This module sits below the models (it imports only :mod:`recfm._utils`), so that the
validation of a model during training (:meth:`recfm.recommenders.FMRecommender.fit`) and the
evaluation layer (:mod:`recfm.evaluation`, which re-exports it) compute a metric with the
same code.

Inputs
------
``recs`` : int array of shape (n_users, K)
    Row u holds the item indices recommended to user u, best first; ``-1`` pads rows with
    fewer than K items (a ``-1`` anywhere is "no item"). An item may appear at most once
    per row.
``test`` : csr_matrix of shape (n_users, n_items)
    Held-out interactions; every stored non-zero entry is a relevant item (binary
    relevance). Row u is the test set T of user u.

Definitions (one each; rank r = 1..k is the 1-based position in the list, rel_r = 1 when
the item at rank r is in T, else 0; hits = Σ_{r≤k} rel_r)
-----------------------------------------------------------------------------------------
* Precision   P@k    = hits / k
* Recall      R@k    = hits / |T|
* NDCG        NDCG@k = DCG / IDCG, DCG = Σ_{r≤k} rel_r / log2(r + 1),
  IDCG = Σ_{r=1}^{min(k,|T|)} 1 / log2(r + 1)
* MAP         MAP@k  = Σ_{r≤k} P@r · rel_r / min(k, |T|)
* Hit rate    HR@k   = 1 if hits > 0 else 0
* MRR         MRR@k  = 1 / (rank of the first hit) if hits > 0 else 0
* Coverage    coverage@k = (number of distinct items in all top-k lists) / n_items

Per-user functions return a float64 array of length n_users with ``NaN`` for users with no
test item; averages over users (``np.nanmean``) therefore exclude them. Positions beyond K
(when k > K) count as padding: no item, no hit, but k stays the denominator of P@k.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike

from recfm._utils import DataError, check_columns, check_positive_int, is_text_ids

__all__ = [
    "METRICS",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "map_at_k",
    "hit_rate_at_k",
    "mrr_at_k",
    "coverage_at_k",
    "ranking_metrics",
    "hit_matrix",
    "metrics_from_frames",
    "recs_to_array",
]

#: Names of the per-user metrics, in report order; keys of :func:`ranking_metrics` are
#: ``f"{name}@{k}"``.
METRICS: tuple[str, ...] = ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")


def _py(value: object) -> object:
    """numpy scalar -> Python scalar, so that messages show ``3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
def _check_recs(recs: object, n_items: int | None = None) -> np.ndarray:
    recs = np.asarray(recs)
    if recs.ndim != 2:
        raise ValueError(f"recs must be a 2-D array (n_users, K); got shape {recs.shape}")
    if recs.size and recs.dtype.kind not in "iu":
        raise ValueError(f"recs must hold integer item indices; got dtype {recs.dtype}")
    recs = recs.astype(np.int64, copy=False)
    if recs.size:
        if recs.min() < -1:
            raise ValueError(f"recs holds {int(recs.min())}; item indices are >= 0 (-1 pads)")
        if n_items is not None and recs.max() >= n_items:
            raise ValueError(
                f"recs holds item index {int(recs.max())} but there are only {n_items} items"
            )
        # duplicates within a row would count one relevant item twice
        s = np.sort(recs, axis=1)
        dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
        if dup.any():
            row = int(np.flatnonzero(dup.any(axis=1))[0])
            item = int(s[row, 1:][dup[row]][0])
            raise ValueError(f"recs row {row} recommends item index {item} more than once")
    return recs


def _check_test(test: object, n_users: int) -> sp.csr_matrix:
    if not sp.issparse(test):
        raise ValueError(f"test must be a scipy sparse matrix; got {type(test).__name__}")
    csr = sp.csr_matrix(test, copy=True)
    if csr.shape[0] != n_users:
        raise ValueError(
            f"test has {csr.shape[0]} rows but recs has {n_users}: one row per user in both"
        )
    csr.sum_duplicates()  # also sorts indices
    csr.data = (csr.data != 0).astype(np.int8)
    csr.eliminate_zeros()
    return csr


def _check_k(k: object) -> int:
    return check_positive_int(k, "k")


def hit_matrix(recs: np.ndarray, test: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of every recommended position.

    Returns
    -------
    hits : bool array of shape (n_users, K)
        ``hits[u, r]`` is True when ``recs[u, r]`` is in user u's test set.
    n_relevant : int array of shape (n_users,)
        |T| per user.

    Membership is computed without a loop over users: test entries are encoded as sorted
    keys ``u * n_items + i`` and every recommended pair is looked up with one
    ``searchsorted``.
    """
    recs = _check_recs(recs)
    test = _check_test(test, recs.shape[0])
    return _hits(recs, test)


def _hits(recs: np.ndarray, test: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    n_users, n_items = test.shape
    if recs.size and recs.max() >= n_items:
        raise ValueError(
            f"recs holds item index {int(recs.max())} but test has only {n_items} columns"
        )
    n_rel = np.diff(test.indptr).astype(np.int64)
    rows = np.repeat(np.arange(n_users, dtype=np.int64), n_rel)
    test_keys = rows * n_items + test.indices.astype(np.int64)  # sorted: CSR, sorted indices
    rec_keys = np.arange(n_users, dtype=np.int64)[:, None] * n_items + recs
    if len(test_keys) == 0:
        return np.zeros(recs.shape, dtype=bool), n_rel
    pos = np.searchsorted(test_keys, rec_keys)
    pos = np.minimum(pos, len(test_keys) - 1)
    hits = (test_keys[pos] == rec_keys) & (recs >= 0)
    return hits, n_rel


def _prepare(recs: object, test: object, k: object) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated hit matrix cut or padded to exactly k columns, |T| and k."""
    k = _check_k(k)
    recs = _check_recs(recs)
    test = _check_test(test, recs.shape[0])
    hits, n_rel = _hits(recs, test)
    return _fit_k(hits, k), n_rel, k


def _fit_k(hits: np.ndarray, k: int) -> np.ndarray:
    if hits.shape[1] >= k:
        return hits[:, :k]
    pad = np.zeros((hits.shape[0], k - hits.shape[1]), dtype=bool)
    return np.concatenate([hits, pad], axis=1)


# --------------------------------------------------------------------------------------------
# metric kernels on a hit matrix of exactly k columns
# --------------------------------------------------------------------------------------------
def _nan_where_empty(values: ArrayLike, n_rel: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64)
    out[n_rel == 0] = np.nan
    return out


def _precision(h: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _nan_where_empty(h.sum(axis=1) / k, n_rel)


def _recall(h: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _nan_where_empty(h.sum(axis=1) / n_rel, n_rel)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))  # rank r -> 1/log2(r+1)


def _ndcg(h: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    disc = _discounts(k)
    dcg = h @ disc
    idcg_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = idcg_cum[np.minimum(n_rel, k)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return _nan_where_empty(dcg / idcg, n_rel)


def _map(h: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    ranks = np.arange(1, k + 1, dtype=np.float64)
    prec_at_r = np.cumsum(h, axis=1) / ranks
    num = (prec_at_r * h).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _nan_where_empty(num / np.minimum(n_rel, k), n_rel)


def _hit_rate(h: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _nan_where_empty(h.any(axis=1).astype(np.float64), n_rel)


def _mrr(h: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    first = np.argmax(h, axis=1)  # 0-based rank of the first hit (0 when none)
    rr = np.where(h.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return _nan_where_empty(rr, n_rel)


_KERNELS = {
    "ndcg": _ndcg,
    "precision": _precision,
    "recall": _recall,
    "map": _map,
    "hit_rate": _hit_rate,
    "mrr": _mrr,
}


# --------------------------------------------------------------------------------------------
# public per-metric functions
# --------------------------------------------------------------------------------------------
_PER_USER_DOC = """

    Parameters
    ----------
    recs : int array of shape (n_users, K)
        Recommended item indices per user, best first, ``-1`` padding.
    test : csr_matrix of shape (n_users, n_items)
        Test interactions; stored non-zeros are the relevant items T.
    k : int > 0
        Cut-off.

    Returns
    -------
    ndarray of shape (n_users,), float64
        Per-user values; ``NaN`` for users with no test item.
    """


class _PerUserMetric(Protocol):
    """Signature of the per-user metric functions below."""

    def __call__(self, recs: np.ndarray, test: sp.spmatrix, k: int = 10) -> np.ndarray: ...


def _per_user_metric(name: str, kernel: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
                     summary: str) -> _PerUserMetric:
    """The public function ``name(recs, test, k=10)`` of a per-user metric kernel."""

    def metric(recs: np.ndarray, test: sp.spmatrix, k: int = 10) -> np.ndarray:
        h, n_rel, k = _prepare(recs, test, k)
        return kernel(h, n_rel, k)

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = summary + _PER_USER_DOC
    return metric


precision_at_k = _per_user_metric(
    "precision_at_k", _precision,
    "Precision: P@k = hits / k (hits = relevant items among the top k).",
)
recall_at_k = _per_user_metric(
    "recall_at_k", _recall,
    "Recall: R@k = hits / |T|.",
)
ndcg_at_k = _per_user_metric(
    "ndcg_at_k", _ndcg,
    """Normalised discounted cumulative gain: NDCG@k = DCG / IDCG.

    DCG = Σ_{r≤k} rel_r / log2(r + 1) (gain 1/log2(rank+1)) and
    IDCG = Σ_{r=1}^{min(k,|T|)} 1 / log2(r + 1) (the ideal list, over min(k, |T|) items).""",
)
map_at_k = _per_user_metric(
    "map_at_k", _map,
    "Mean average precision: MAP@k = Σ_{r≤k} P@r · rel_r / min(k, |T|).",
)
hit_rate_at_k = _per_user_metric(
    "hit_rate_at_k", _hit_rate,
    "Hit rate: HR@k = 1 if any of the top k is in T, else 0.",
)
mrr_at_k = _per_user_metric(
    "mrr_at_k", _mrr,
    "Mean reciprocal rank: MRR@k = 1 / (rank of the first hit in the top k), else 0.",
)


def coverage_at_k(recs: np.ndarray, n_items: int, k: int = 10) -> float:
    """Catalogue coverage: coverage@k = distinct items in the top-k lists / n_items.

    Parameters
    ----------
    recs : int array of shape (n_users, K)
        Recommended item indices, ``-1`` padding (not counted).
    n_items : int > 0
        Catalogue size.
    k : int > 0

    Returns
    -------
    float
    """
    n_items = check_positive_int(n_items, "n_items")
    k = _check_k(k)
    top = _check_recs(recs, n_items)[:, :k]
    return float(np.unique(top[top >= 0]).size / n_items)


def ranking_metrics(
    recs: np.ndarray, test: sp.spmatrix, ks: int | Iterable[int] = (10,)
) -> dict[str, np.ndarray]:
    """Every per-user metric at every cut-off.

    Parameters
    ----------
    recs : int array of shape (n_users, K)
    test : csr_matrix of shape (n_users, n_items)
    ks : int or iterable of int > 0

    Returns
    -------
    dict
        ``{f"{name}@{k}": per-user float64 array}`` for each ``name`` in :data:`METRICS`
        (order: k ascending, then METRICS order); NaN for users without test items.
    """
    ks = check_ks(ks)
    recs = _check_recs(recs)
    test = _check_test(test, recs.shape[0])
    hits, n_rel = _hits(recs, test)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        h = _fit_k(hits, k)
        for name in METRICS:
            out[f"{name}@{k}"] = _KERNELS[name](h, n_rel, k)
    return out


def check_ks(ks: object, name: str = "k", n_items: int | None = None) -> tuple[int, ...]:
    """Validate cut-offs: an int or an iterable of ints > 0 → sorted unique tuple.

    With ``n_items`` (the catalogue size), a cut-off above it is refused naming the limit: it
    would measure nothing more and cost buffers of that width per user.
    """
    if isinstance(ks, (str, bytes)):
        raise ValueError(f"{name} must be a positive integer or a list of them; got {ks!r}")
    if isinstance(ks, Iterable):
        values = list(ks)
        if not values:
            raise ValueError(f"{name} must hold at least one positive integer; got {ks!r}")
    else:
        values = [ks]
    for v in values:
        try:
            check_positive_int(v, name)
        except ValueError:
            raise ValueError(
                f"{name} must be a positive integer or a list of them; got {ks!r}"
            ) from None
    out = tuple(sorted({int(v) for v in values}))
    if n_items is not None and out[-1] > n_items:
        raise ValueError(f"{name}={out[-1]} is larger than the catalogue ({n_items} items); "
                         f"choose {name} <= {n_items}")
    return out


# --------------------------------------------------------------------------------------------
# frame level (external ids)
# --------------------------------------------------------------------------------------------
def recs_to_array(
    recs_df: pd.DataFrame,
    user_index: pd.Index,
    item_index: pd.Index,
    n: int,
    what: str = "recommendations",
) -> np.ndarray:
    """Turn a ``user_id, item_id, rank`` frame into an (len(user_index), n) index array.

    ``rank`` is 1-based; the item of rank r goes to column r - 1; ranks above ``n`` are
    ignored; missing ranks and users without rows are ``-1``. Rows of users not in
    ``user_index`` are ignored. Raises :class:`DataError` naming the frame on a duplicated
    ``(user_id, rank)``, a non-positive rank or an item id absent from ``item_index``.
    """
    out = np.full((len(user_index), n), -1, dtype=np.int64)
    if len(recs_df) == 0:
        return out
    check_columns(recs_df, ["user_id", "item_id", "rank"], what)
    rank = pd.to_numeric(recs_df["rank"], errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(rank).any() or (rank != np.floor(rank)).any() or (rank < 1).any():
        bad = recs_df["rank"].to_numpy()[np.isnan(rank) | (rank != np.floor(rank)) | (rank < 1)]
        raise DataError(f"{what} column 'rank' must hold integers >= 1; found {_py(bad[0])!r}")
    rank = rank.astype(np.int64)
    upos = user_index.get_indexer(recs_df["user_id"])
    keep = (upos >= 0) & (rank <= n)
    if not keep.any():
        return out
    items = recs_df["item_id"].to_numpy()[keep]
    ipos = item_index.get_indexer(items)
    if (ipos < 0).any():
        bad = items[ipos < 0][0]
        raise DataError(f"{what} recommends item_id {_py(bad)!r}, which is not in the catalogue")
    rows, cols = upos[keep], rank[keep] - 1
    flat = rows * n + cols
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        f = uniq[counts > 1][0]
        raise DataError(
            f"{what} has more than one row for user_id {_py(user_index[f // n])!r} "
            f"at rank {f % n + 1}"
        )
    out[rows, cols] = ipos
    return out


def metrics_from_frames(
    recs_df: pd.DataFrame,
    test_df: pd.DataFrame,
    ks: int | Iterable[int] = (10,),
    n_items: int | None = None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics from frames of external ids (e.g. the CSVs of a saved run).

    Parameters
    ----------
    recs_df : DataFrame
        Columns ``user_id, item_id, rank`` (1-based); other columns are ignored.
    test_df : DataFrame
        Columns ``user_id, item_id``; each distinct row is a relevant pair.
    ks : int or iterable of int > 0
    n_items : int, optional
        Catalogue size for coverage; default: the number of distinct item ids in
        ``test_df`` and ``recs_df`` together (pass the real catalogue size to match
        :func:`recfm.evaluation.evaluate`).

    Returns
    -------
    summary : dict
        ``{f"{name}@{k}": mean over test users}`` for every metric, ``coverage@k`` for every k
        and ``n_users_evaluated``. Coverage is computed over the lists of the test users.
    per_user : DataFrame
        Indexed by ``user_id`` (the distinct test users, sorted when sortable), one column
        per ``name@k``. Test users absent from ``recs_df`` count as empty lists (all misses).
    """
    ks = check_ks(ks)
    check_columns(test_df, ["user_id", "item_id"], "test")
    if len(recs_df):
        check_columns(recs_df, ["user_id", "item_id", "rank"], "recommendations")
        _check_id_kinds(recs_df, test_df)
    users = _sorted_unique(test_df["user_id"])
    rec_items = recs_df["item_id"] if len(recs_df) else test_df["item_id"].iloc[:0]
    item_index = _sorted_unique(pd.concat([test_df["item_id"], rec_items], ignore_index=True))
    if n_items is None:
        n_items = len(item_index)
    n_items = check_positive_int(n_items, "n_items")
    recs = recs_to_array(recs_df, users, item_index, max(ks))
    test = _test_matrix(test_df, users, item_index)
    per_user = pd.DataFrame(ranking_metrics(recs, test, ks), index=users)
    per_user.index.name = "user_id"
    summary: dict[str, float] = {}
    for k in ks:
        for name in METRICS:
            col = f"{name}@{k}"
            summary[col] = _nanmean(per_user[col].to_numpy())
        summary[f"coverage@{k}"] = _coverage_any(recs, n_items, k)
    summary["n_users_evaluated"] = int(np.diff(test.indptr).astype(bool).sum())
    if len(recs_df) and len(users) and not users.isin(recs_df["user_id"]).any():
        warnings.warn(
            f"none of the {len(users)} test users has recommendations (test user ids e.g. "
            f"{_py(users[0])!r}, recommended e.g. {_py(recs_df['user_id'].iloc[0])!r}): every "
            "metric is 0; are both frames from the same data set?", UserWarning, stacklevel=2)
    return summary, per_user


def _check_id_kinds(recs_df: pd.DataFrame, test_df: pd.DataFrame) -> None:
    """Refuse integer ids on one side and text ids on the other: ``1`` and ``'1'`` never
    match, so every list would silently count as all misses."""
    for column in ("user_id", "item_id"):
        r, t = recs_df[column], test_df[column]
        for a, a_name, b, b_name in ((r, "recommendations", t, "test"),
                                     (t, "test", r, "recommendations")):
            if pd.api.types.is_integer_dtype(a.dtype) and is_text_ids(b) and len(b):
                raise DataError(
                    f"{a_name} column {column!r} holds integers but {b_name} column "
                    f"{column!r} holds text (e.g. {_py(b.iloc[0])!r}); 1 and '1' never match: "
                    "read both with the same id types (recfm.evaluation.load_run reads a "
                    f"saved run so), or convert one side, e.g. df[{column!r}].astype(str)")


def _coverage_any(recs: np.ndarray, n_items: int, k: int) -> float:
    top = recs[:, :k]
    return float(np.unique(top[top >= 0]).size / n_items)


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def _sorted_unique(values: pd.Series) -> pd.Index:
    idx = pd.Index(pd.unique(values.to_numpy()))
    try:
        return idx.sort_values()
    except TypeError:
        return idx


def _test_matrix(test_df: pd.DataFrame, users: pd.Index, items: pd.Index) -> sp.csr_matrix:
    """Binary csr (len(users), len(items)) of the test pairs; ids must be in the indexes."""
    r = users.get_indexer(test_df["user_id"])
    c = items.get_indexer(test_df["item_id"])
    if (r < 0).any() or (c < 0).any():
        raise DataError("test holds user or item ids outside the evaluation indexes")
    m = sp.csr_matrix(
        (np.ones(len(r), dtype=np.int8), (r, c)), shape=(len(users), len(items))
    )
    m.sum_duplicates()
    m.data[:] = 1
    return m
