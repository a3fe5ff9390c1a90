"""Folding one side of an FM's input: the single definition of ``X V`` and ``X·w + pair(X)``.

An FM scores a feature row x with ``y(x) = w0 + w·x + ½ Σ_f [(Vᵀx)_f² − Σ_j v_jf² x_j²]``.
When x is the sum of a query row q and an item row t that share no column,
``y(q + t) = [w0 + w·q + pair(q)] + [w·t + pair(t)] + <Vᵀq, Vᵀt>`` with
``pair(z) = ½ Σ_f [(Vᵀz)_f² − Σ_j v_jf² z_j²]``. :func:`fold_rows` computes, for every row z of a
design matrix, the side's factor vector ``Vᵀz`` and its constant ``w·z + pair(z)``; both
:meth:`FactorizationMachine.query_repr` / ``item_repr`` and :func:`recfm.ranking.fold` are built
on it.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["fold_rows"]


def fold_rows(X: sp.csr_matrix, w: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factor vectors ``P = X V`` and constants ``X·w + pair(X)`` of the rows of ``X``.

    Parameters
    ----------
    X : csr_matrix of shape (n_rows, n_cols)
        Design rows. ``n_cols`` may be smaller than ``n_features``: the feature space is
        append-only, so rows built on an older, narrower space are valid on the model's first
        ``n_cols`` columns (the later columns are zero for them). The caller checks that
        ``n_cols <= n_features``.
    w : ndarray of shape (n_features,)
        Linear weights.
    V : ndarray of shape (n_features, k)
        Factors.

    Returns
    -------
    P : ndarray of shape (n_rows, k), float64
    const : ndarray of shape (n_rows,), float64
        ``X·w + pair(X)`` (without the global bias ``w0``).

    Notes
    -----
    Everything is computed in float64 with vectorised sparse products, cost O(k · nnz); the
    callers cast to float32 for ranking. Duplicate entries of ``X`` are summed first, since
    ``pair`` squares each feature's total value.
    """
    n_cols = X.shape[1]
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)
    X.sum_duplicates()
    V = np.asarray(V[:n_cols], dtype=np.float64)
    P = np.asarray(X @ V)
    lin = np.asarray(X @ np.asarray(w[:n_cols], dtype=np.float64)).ravel()
    sq_norms = np.einsum("jf,jf->j", V, V)
    X.data **= 2  # X is a private copy
    pair = 0.5 * (np.einsum("ij,ij->i", P, P) - np.asarray(X @ sq_norms).ravel())
    return P, lin + pair
