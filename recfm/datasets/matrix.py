"""Interactions held as a users x items scipy.sparse matrix (as implicit and LightFM take them)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recfm._utils import DataError

__all__ = ["interactions_frame"]


def interactions_frame(matrix: Any, user_ids: Any = None, item_ids: Any = None) -> pd.DataFrame:
    """The interactions DataFrame (``user_id, item_id, rating``) of a users x items matrix.

    Every stored entry is one interaction, its value the ``rating`` (an explicit zero
    included); a user or item without a stored entry has no interaction and is not part of
    a model fitted on the frame.

    Parameters
    ----------
    matrix : scipy.sparse matrix of shape (n_users, n_items)
    user_ids, item_ids : array-like, optional
        The id of each row / column (unique); default the row / column numbers.

    Returns
    -------
    DataFrame with columns ``user_id, item_id, rating`` (float32), in row-major order.
    """
    if not sp.issparse(matrix):
        raise DataError(f"interactions must be a DataFrame or a scipy.sparse users x items "
                        f"matrix; got {type(matrix).__name__}")
    coo = sp.coo_matrix(matrix)
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order], coo.col[order]
    values = np.asarray(coo.data[order], dtype=np.float32)
    if not np.isfinite(values).all():
        raise DataError("the interactions matrix holds NaN or infinite values")
    ids: list[pd.Index | None] = []
    for given, n, what in ((user_ids, coo.shape[0], "user_ids"), (item_ids, coo.shape[1], "item_ids")):
        if given is None:
            ids.append(None)
            continue
        arr = pd.Index(np.asarray(given))
        if len(arr) != n:
            raise DataError(f"{what} has {len(arr)} ids but the matrix has {n} "
                            f"{'rows' if what == 'user_ids' else 'columns'}")
        if not arr.is_unique:
            raise DataError(f"{what} holds repeated ids, e.g. {arr[arr.duplicated()][0]!r}")
        ids.append(arr)
    return pd.DataFrame({
        "user_id": rows.astype(np.int64) if ids[0] is None else ids[0][rows],
        "item_id": cols.astype(np.int64) if ids[1] is None else ids[1][cols],
        "rating": values,
    })
