"""From a partitioned interaction log to the training matrix of single-machine training.

The same result as recfm's pandas path, computed on Dask partitions::

    df = df[df.rating >= min_rating]              # Recommender.positives
    df = recfm.split.k_core(df, k)                # iterative k-core on distinct pairs
    Recommender.fit's CSR: pd.factorize(user_id / item_id, sort=True), duplicates merged,
    binary float32, sorted indices

k-core is unique (the largest subgraph where every user and item keeps >= k distinct
partners), so removing everything below k in rounds, as both paths do, gives the same pairs.
Ids are factorised consistently across partitions: the sorted distinct ids are gathered
once and every partition looks its ids up in them.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import DataError, check_positive_int
from ._deps import require_dask

__all__ = ["PreparedInteractions", "prepare_interactions", "csr_bytes"]


@dataclass
class PreparedInteractions:
    """The training matrix and its id maps.

    Attributes
    ----------
    matrix : csr_matrix of shape (n_users, n_items), float32
        1.0 for every distinct positive (user, item) pair; rows/columns follow the ids.
    user_ids, item_ids : pandas.Index
        External ids of the rows and columns, sorted (``pd.factorize(..., sort=True)``).
    """

    matrix: sp.csr_matrix
    user_ids: pd.Index
    item_ids: pd.Index

    def to_frame(self) -> pd.DataFrame:
        """``user_id, item_id`` rows of the matrix, ready for a recommender's ``fit``."""
        rows = np.repeat(np.arange(self.matrix.shape[0]), np.diff(self.matrix.indptr))
        return pd.DataFrame({"user_id": self.user_ids.to_numpy()[rows],
                             "item_id": self.item_ids.to_numpy()[self.matrix.indices]})


def csr_bytes(n_users: int, nnz: int) -> int:
    """Peak bytes of building the CSR here: the gathered int32 codes (8 per pair), the COO
    copy scipy makes while converting (12 per pair with float32 data) and the CSR itself
    (8 per pair and 8 per row of int64 indptr, or 4 with int32 indices)."""
    return 28 * nnz + 8 * (n_users + 1)


def _codes(df: pd.DataFrame, users: pd.Index, items: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({"u": users.get_indexer(df["user_id"]).astype(np.int32),
                         "i": items.get_indexer(df["item_id"]).astype(np.int32)})


def _typed_ids(distinct: Any, csv: bool) -> tuple[pd.Index, pd.Index]:
    """The sorted distinct ids of a column, typed as a CSV's ids are
    (:func:`recfm.datasets.ids.parse_ids`: int64 when every one is a canonical integer)
    when they come from a CSV, and the same ids as the partitions hold them (text read
    as written), in that order."""
    from ..datasets.ids import parse_ids

    keys = pd.Index(distinct)
    if not csv or pd.api.types.is_numeric_dtype(keys.dtype):
        keys = keys.sort_values()
        return keys, keys
    typed = pd.Index(parse_ids(pd.Series(keys.to_numpy(dtype=object))))
    order = np.argsort(typed.to_numpy(), kind="stable")
    return typed[order], keys[order]


def prepare_interactions(path_or_ddf: Any, min_rating: float | None = None,
                         k_core: int | None = None, client: Any = None,
                         verbose: bool = True, max_rounds: int = 100, *,
                         user_column: str | None = None, item_column: str | None = None,
                         rating_column: str | None = None) -> PreparedInteractions:
    """Read, filter, k-core and factorise an interaction log on Dask; return the training CSR.

    Parameters
    ----------
    path_or_ddf : str, path-like or Dask DataFrame
        A Parquet file or partitioned folder, or CSV file(s), with columns
        ``user_id, item_id`` and, when ``min_rating`` is given, ``rating`` (or other names
        given by the ``*_column`` options).
    min_rating : float, optional
        Keep rows with ``rating >= min_rating`` only.
    k_core : int, optional
        Keep the k-core: every user and item with at least ``k_core`` distinct partners.
    client : distributed.Client, optional
        Default: the current Dask scheduler.
    verbose : bool
        Print (to stderr) the size and memory estimate of the CSR before it is built.
    max_rounds : int
        Safety bound on the k-core rounds.
    user_column, item_column, rating_column : str, optional
        The log's own names of the user id, item id and rating columns, as for
        :func:`recfm.datasets.read_interactions_csv` (same rules: a named column must
        exist, one column cannot be two, a renaming onto a name the log already uses is
        refused); the result is that of the log with recfm's names.

    Returns
    -------
    PreparedInteractions

    Raises
    ------
    DataError
        Missing or misnamed columns (named, with the file and its columns, from the schema
        before any data is read), no row left after the filters.
    """
    require_dask()
    import dask

    from .io import read_frame, reads_as_csv, select_columns

    needed = ["user_id", "item_id"] + (["rating"] if min_rating is not None else [])
    names = {"user_id": user_column, "item_id": item_column, "rating": rating_column}
    csv = isinstance(path_or_ddf, (str, os.PathLike)) and reads_as_csv(path_or_ddf)
    if isinstance(path_or_ddf, (str, os.PathLike)):
        # a CSV's ids as written (007 is not 7); typed below, once all partitions are in
        ddf = read_frame(path_or_ddf, columns=needed, names=names,
                         text_columns=[names[c] or c for c in ("user_id", "item_id")])
    else:
        ddf = select_columns(path_or_ddf, "the interactions frame", needed, names=names)
    if min_rating is not None:
        ddf = ddf[ddf["rating"] >= min_rating]
    pairs = ddf[["user_id", "item_id"]].drop_duplicates(split_out=ddf.npartitions)
    def persist(x):
        return client.persist(x) if client is not None else dask.persist(x)[0]

    def compute(*xs):
        return client.gather(client.compute(list(xs))) if client is not None else dask.compute(*xs)

    pairs = persist(pairs)
    k = None if k_core is None else check_positive_int(k_core, "k_core")
    for _ in range(max_rounds):
        uc, ic = compute(pairs["user_id"].value_counts(split_out=1),
                         pairs["item_id"].value_counts(split_out=1))
        if k is None:
            break
        bad_u, bad_i = uc.index[uc.to_numpy() < k], ic.index[ic.to_numpy() < k]
        if len(bad_u) == 0 and len(bad_i) == 0:
            break
        pairs = pairs[~pairs["user_id"].isin(list(bad_u)) & ~pairs["item_id"].isin(list(bad_i))]
        pairs = persist(pairs)
    else:
        raise RuntimeError(f"k-core did not converge within {max_rounds} rounds")
    nnz = int(uc.sum())
    if nnz == 0:
        raise DataError("no interaction left after "
                        + ("k_core" if k else "the rating filter" if min_rating is not None else "reading")
                        + (f" (k_core={k})" if k else "")
                        + (f" (min_rating={min_rating})" if min_rating is not None else ""))
    (users, user_keys), (items, item_keys) = _typed_ids(uc.index, csv), _typed_ids(ic.index, csv)
    if verbose:
        print(f"prepare_interactions: building a {len(users):,} x {len(items):,} CSR with "
              f"{nnz:,} interactions here, about {csr_bytes(len(users), nnz) / 2**20:,.0f} MiB "
              "at peak", file=sys.stderr)
    codes_ddf = pairs.map_partitions(_codes, dask.delayed(user_keys), dask.delayed(item_keys),
                                     meta={"u": np.int32, "i": np.int32})
    (codes,) = compute(codes_ddf)
    u, i = codes["u"].to_numpy(), codes["i"].to_numpy()
    del codes
    m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(users), len(items)))
    m.sum_duplicates()
    m.data[:] = 1.0
    m.sort_indices()
    return PreparedInteractions(matrix=m, user_ids=users, item_ids=items)
