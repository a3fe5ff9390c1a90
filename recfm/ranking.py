"""Ranking: fold a factorization machine into user/item vectors, then top-N by blocked GEMM.

The folding identity
--------------------
An FM scores a feature row x with ``y(x) = w0 + w·x + ½ Σ_f [(Vᵀx)_f² − Σ_j v_jf² x_j²]``.
Split x into a query side q (user id, user attributes, context) and an item side t (item id,
item attributes); the two never share a column. With ``p = Vᵀq``, ``e = Vᵀt`` and
``pair(z) = ½ Σ_f [(Vᵀz)_f² − Σ_j v_jf² z_j²]``::

    y(q, t) = [w0 + w·q + pair(q)] + [w·t + pair(t)] + <p, e>
            =          c(q)        +       b(t)      + <p, e>

so with ``U_q = [p, 1]`` and ``I_t = [e, b(t)]``, ``U @ I.T + c[:, None]`` is the full FM score of
every (query, item) pair, and ``U @ I.T`` alone ranks items exactly as the FM does: ranking all
items for a block of users is one float32 GEMM plus a partial sort, as in matrix factorisation.
:func:`fold` builds (U, I, c); :func:`top_n` ranks; :func:`similar_items` /
:func:`similar_users` rank by cosine.

Ranking rules (every function here)
-----------------------------------
* Order: higher score first; **equal scores -> lower item index first** (deterministic, and the
  same for any block size or thread count).
* Excluded items (e.g. seen items) and items outside the candidate set are ineligible; a row
  with fewer than ``n`` eligible items is padded with item ``-1`` and score ``-inf``.
* Output arrays are ``items`` int32 and ``scores`` float32, both (n_users, n).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from recfm import _ranking_kernels as _k
from recfm._jit import announce_compilation
from recfm._utils import check_n_threads, check_positive_int, numba_threads
from recfm.model.folding import fold_rows

__all__ = ["fold", "top_n", "top_n_scores", "similar_items", "similar_users"]

#: Scores are computed in tiles of (block_size users) x (chunk items): one BLAS sgemm per tile
#: into a per-worker buffer of about _TILE_BYTES, small enough to stay in a core's L2 cache
#: while the selection kernel scans it. Measured at ML-20M shape on this machine: 512 x 512
#: tiles use ~30 % less CPU than whole-row blocks (256 x 26,744), and sgemm runs near its peak.
_TILE_BYTES = 2**20
_BLOCK_ROWS = 512

#: Below this candidate density (stored candidates / (n_users * n_items)) a candidate CSR is
#: scored pair by pair (no GEMM); above it, by the tiled GEMM. Measured at ML-1M shape (65
#: columns): 0.5 % -> direct 4x cheaper, 2 % -> 1.4x, 5 % -> even, 20 % -> GEMM 1.8x cheaper.
_DIRECT_DENSITY = 0.05
_DIRECT_ROWS = 64  # users per task of the pair-by-pair path


# --------------------------------------------------------------------------------------------
# fold
# --------------------------------------------------------------------------------------------
def _as_csr(X, name: str) -> sp.csr_matrix:
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        X = sp.csr_matrix(X)
    else:
        raise TypeError(
            f"{name} must be a scipy sparse matrix (or a 2-D ndarray) of shape "
            f"(n_rows, n_features); got {type(X).__name__}"
        )
    return X


def _side(X: sp.csr_matrix, w: np.ndarray, V: np.ndarray, name: str):
    """(P = X V, X·w + pair(X)) in float64 for the rows of X (see :func:`fold_rows`)."""
    n_features = V.shape[0]
    n_cols = X.shape[1]
    if n_cols > n_features:
        raise ValueError(
            f"{name} has {n_cols} columns but the model has n_features = {n_features}; "
            "refit (or partial_fit) the model on the grown feature space"
        )
    return fold_rows(X, w, V)


def fold(model: Any, query_rows: Any, item_rows: Any = None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold an FM into query vectors U, item vectors I and per-query constants c.

    For every query row q and item row t, ``U[q] @ I[t] + c[q]`` equals the FM prediction on the
    full row ``q + t`` (see the module docstring for the identity)::

        U = [Vᵀq, 1]                         (n_queries, k + 1) float32, C-contiguous
        I = [Vᵀt, w·t + pair(t)]             (n_items,   k + 1) float32, C-contiguous
        c = w0 + w·q + pair(q)               (n_queries,)       float32

    ``c`` never changes a ranking; ``top_n(U, I, n)`` ranks items exactly as the FM does.

    Parameters
    ----------
    model : object
        A fitted factorization machine exposing ``w0_`` (float), ``w_`` (n_features,) and
        ``V_`` (n_features, k). Only these attributes are read: the sums are computed here, in
        float64, with vectorised sparse products (cost O(k · nnz)), then cast to float32.
    query_rows : sparse matrix of shape (n_queries, n_cols), or a ``Design``
        Query-side rows (user id / attributes / context columns). ``n_cols`` may be smaller
        than the model's ``n_features`` (a design built before the append-only feature space
        grew; the missing columns are zero) but not larger. A ``Design`` (anything with
        ``user_features`` and ``item_features``) may be passed instead of both row matrices;
        its user rows are the queries and its item rows the items.
    item_rows : sparse matrix of shape (n_items, n_cols)
        Item-side rows (item id / attributes).

    Returns
    -------
    U : ndarray of shape (n_queries, k + 1), float32
    I : ndarray of shape (n_items, k + 1), float32
    c : ndarray of shape (n_queries,), float32

    Raises
    ------
    ValueError
        When rows have more columns than the model has features, or the model's parameter
        shapes disagree.
    """
    if item_rows is None:
        if hasattr(query_rows, "user_features") and hasattr(query_rows, "item_features"):
            query_rows, item_rows = query_rows.user_features, query_rows.item_features
        else:
            raise TypeError("fold needs item_rows (or a Design as its second argument)")
    for attr in ("w0_", "w_", "V_"):
        if getattr(model, attr, None) is None:
            raise ValueError(
                f"model has no fitted attribute '{attr}'; fit the model before folding it"
            )
    w0 = float(model.w0_)
    w = np.asarray(model.w_).ravel()
    V = np.asarray(model.V_)
    if V.ndim != 2 or w.shape[0] != V.shape[0]:
        raise ValueError(
            f"model.w_ has shape {np.shape(model.w_)} and model.V_ has shape {np.shape(model.V_)}; "
            "expected (n_features,) and (n_features, n_factors)"
        )
    Xq = _as_csr(query_rows, "query_rows")
    Xt = _as_csr(item_rows, "item_rows")
    k = V.shape[1]
    P, q_const = _side(Xq, w, V, "query_rows")
    E, b = _side(Xt, w, V, "item_rows")
    U = np.empty((Xq.shape[0], k + 1), dtype=np.float32)
    U[:, :k] = P
    U[:, k] = 1.0
    I = np.empty((Xt.shape[0], k + 1), dtype=np.float32)
    I[:, :k] = E
    I[:, k] = b
    c = (w0 + q_const).astype(np.float32)
    return U, I, c


# --------------------------------------------------------------------------------------------
# top_n
# --------------------------------------------------------------------------------------------
_blas_controller = None


@contextlib.contextmanager
def _blas_one_thread() -> Iterator[None]:
    """Hold every loaded BLAS to one thread while the numba workers run their own GEMMs.

    Each worker thread calls sgemm on its own block; a multithreaded BLAS inside those calls
    would oversubscribe the cores (measured: ~30 % slower on 2 cores). The setting is global to
    the process and restored on exit.
    """
    global _blas_controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
        yield
        return
    if _blas_controller is None:
        import scipy.linalg.cython_blas  # noqa: F401  (numba's np.dot calls scipy's BLAS)

        _blas_controller = ThreadpoolController()
    with _blas_controller.limit(limits=1, user_api="blas"):
        yield


def _check_vectors(X, name: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, factors); got {X.ndim} dimension(s)")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers; got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values (in float32)")
    return X


def _check_csr_mask(X, name: str, shape: tuple[int, int]) -> sp.csr_matrix:
    if not sp.issparse(X):
        raise TypeError(
            f"{name} must be a scipy sparse matrix of shape (n_users, n_items) = {shape}; "
            f"got {type(X).__name__}"
        )
    if tuple(X.shape) != shape:
        raise ValueError(
            f"{name} must have shape (n_users, n_items) = {shape}; got {tuple(X.shape)}"
        )
    X = sp.csr_matrix(X)
    # The kernels index raw arrays without bounds checks: refuse a malformed CSR here (scipy
    # does not check index bounds unless asked). O(nnz + n_users).
    indptr, indices = X.indptr, X.indices
    if (indptr[0] != 0 or indptr[-1] > indices.shape[0]
            or (indptr.shape[0] > 1 and np.any(np.diff(indptr) < 0))):
        raise ValueError(f"{name} is not a valid CSR matrix (bad indptr)")
    if X.nnz and (indices[: indptr[-1]].min() < 0 or indices[: indptr[-1]].max() >= shape[1]):
        raise ValueError(f"{name} holds column indices outside [0, {shape[1]})")
    if not X.has_canonical_format:  # sorted, no duplicates (copy; the caller's matrix is kept)
        X = X.copy()
        X.sum_duplicates()
    return X


def _csr_arrays(X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    return X.indptr.astype(np.int64, copy=False), X.indices.astype(np.int32, copy=False)


def _tiles(n_users: int, n_items: int, block_size: int | None) -> tuple[int, int]:
    """(users per block, items per chunk): a tile of about _TILE_BYTES of float32 scores."""
    block = _BLOCK_ROWS if block_size is None else block_size
    block = max(1, min(block, n_users))
    chunk = max(1, min(n_items, _TILE_BYTES // (4 * block)))
    return block, chunk


def top_n(U: np.ndarray, I: np.ndarray, n: int, exclude: sp.spmatrix | None = None,
          candidates: np.ndarray | sp.spmatrix | None = None, block_size: int | None = None,
          n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` items of every user by inner product, ``U @ I.T``, excluding/filtering items.

    The scores are computed tile by tile -- ``block_size`` users x a chunk of items, one
    float32 BLAS sgemm per tile into a small per-worker buffer that stays in cache -- and each
    row is partially sorted on the fly by a numba kernel (a size-``n`` heap per user that
    carries over from one item chunk to the next). Excluded items are set to ``-inf`` inside the
    tile straight from the CSR arrays; worker threads (numba ``prange``) take blocks of users.

    Parameters
    ----------
    U : ndarray of shape (n_users, d)
        User (query) vectors, e.g. from :func:`fold`. Converted to float32 C-contiguous.
    I : ndarray of shape (n_items, d)
        Item vectors, likewise.
    n : int
        Number of items per user (> 0). Capped at the number of items (rows of ``I``), so
        the outputs have ``min(n, n_items)`` columns; rows with fewer eligible items than
        that are padded.
    exclude : sparse matrix of shape (n_users, n_items), optional
        Every *stored* entry (whatever its value, explicit zeros included) marks an item that
        user must not get, e.g. the training interactions (seen items).
    candidates : 1-D int array, or sparse matrix of shape (n_users, n_items), optional
        Rank only these items: the same list for every user (a 1-D array; duplicates ignored),
        or per user (the stored entries of row u). Items outside it are ineligible. Combined
        with ``exclude``, an item must be a candidate and not excluded.
    block_size : int, optional
        Users per block (default 512, or n_users if smaller). The item chunk is chosen so that
        a tile holds about 1 MiB of float32 scores.
    n_threads : int, optional
        Worker threads (numba); None means all cores, more than the cores available are
        capped with a warning (:func:`recfm._utils.check_n_threads`). Each worker runs its own GEMMs
        with BLAS held to one thread during the call (threadpoolctl; process-wide, restored
        on exit), so at most ``n_threads`` cores are busy.

    Returns
    -------
    items : ndarray of shape (n_users, min(n, n_items)), int32
        Item indices (rows of ``I``), best first; ``-1`` pads rows with fewer eligible items.
    scores : ndarray of shape (n_users, min(n, n_items)), float32
        ``U[u] @ I[item]``; ``-inf`` where the item is ``-1``.

    Raises
    ------
    ValueError
        ``n`` or ``block_size`` not a positive int; U/I not 2-D, with different numbers of
        columns, or holding NaN/inf; ``exclude``/``candidates`` of the wrong shape; candidate
        indices out of range.
    TypeError
        ``exclude`` (or a per-user ``candidates``) not a scipy sparse matrix.

    Notes
    -----
    *Ties*: higher score first; equal scores -> lower item index first. Given the same
    scores, the result does not depend on ``block_size`` or ``n_threads``.

    *Memory*: never allocates ``n_users x n_items``. Per worker it holds one score tile
    (about ``max(1 MiB, 4 * block_size)`` bytes) and ``12 * block_size * n`` bytes of heaps;
    plus the outputs (``8 * n_users * n`` bytes), float32 copies of U and I when they come in
    another dtype or layout, and a sorted copy of ``exclude``/``candidates`` if they are not in
    canonical CSR form. ML-20M (138,493 x 26,744, top-10) needs ~10 MiB beyond the inputs.

    *Purity*: the result for a set of users depends only on those users' rows of ``U``, the
    item vectors ``I`` and those users' rows of ``exclude``/``candidates``, so the work can be
    split over user partitions (e.g. ``dask.array.map_blocks`` over row chunks of U with the
    matching rows of the CSR) and the pieces concatenated. Under a threaded scheduler pass
    ``n_threads=1`` to each task: the BLAS thread limit is process-wide, and numba's threading
    layers are not all safe for parallel regions launched from several threads at once.

    *Scores* come from sgemm, whose float32 rounding may differ in the last bit from
    ``U @ I.T`` computed whole. With a per-user ``candidates`` CSR sparser than 5 % of all
    pairs, the candidates are scored pair by pair instead (no GEMM), also in float32.
    """
    n = check_positive_int(n, "n")
    U = _check_vectors(U, "U")
    I = _check_vectors(I, "I")
    if U.shape[1] != I.shape[1]:
        raise ValueError(
            "U and I must have the same number of columns (factor dimension); "
            f"got U with {U.shape[1]} and I with {I.shape[1]}"
        )
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    n_threads = check_n_threads(n_threads)
    n_users, n_items = U.shape[0], I.shape[0]
    n = min(n, n_items)  # a list never holds more than the catalogue: no n-sized heaps
    shape = (n_users, n_items)

    ex_indptr = np.zeros(n_users + 1, dtype=np.int64)
    ex_indices = np.zeros(0, dtype=np.int32)
    if exclude is not None:
        ex = _check_csr_mask(exclude, "exclude", shape)
        ex_indptr, ex_indices = _csr_arrays(ex)

    items_out = np.full((n_users, n), -1, dtype=np.int32)
    scores_out = np.full((n_users, n), -np.inf, dtype=np.float32)

    item_map = np.zeros(0, dtype=np.int32)  # global item -> column of the ranked item matrix
    cand_ids = None  # column of the ranked item matrix -> global item
    cand_indptr = np.zeros(0, dtype=np.int64)
    cand_indices = np.zeros(0, dtype=np.int32)
    direct = False
    if candidates is not None:
        if sp.issparse(candidates):
            cand = _check_csr_mask(candidates, "candidates", shape)
            cand_indptr, cand_indices = _csr_arrays(cand)
            direct = cand.nnz < _DIRECT_DENSITY * n_users * max(n_items, 1)
        else:
            cand_ids = _check_candidate_list(candidates, n_items)
            item_map = np.full(n_items, -1, dtype=np.int32)
            item_map[cand_ids] = np.arange(cand_ids.shape[0], dtype=np.int32)
            I = np.ascontiguousarray(I[cand_ids])
    if n_users == 0 or I.shape[0] == 0:
        return items_out, scores_out
    if U.shape[1] == 0:  # zero-dimensional vectors: every score is 0; sgemm can't take K = 0
        U = np.zeros((n_users, 1), np.float32)
        I = np.zeros((I.shape[0], 1), np.float32)

    block, chunk = _tiles(n_users, I.shape[0], block_size)
    # Dynamic scheduling (chunks of one task): blocks cost unequal time (exclusions,
    # candidates, a busy core), and a static split would wait for the slowest thread.
    # thread ids are < the active thread count
    slots = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # numba.config sets it at import, from the environment
    announce_compilation(_k.topn_direct if direct else _k.topn_gemm)
    with numba_threads(n_threads), numba.parallel_chunksize(1), _blas_one_thread():
        if direct:
            _k.topn_direct(U, I, _DIRECT_ROWS, slots, ex_indptr, ex_indices, cand_indptr,
                           cand_indices, n, items_out, scores_out)
        else:
            _k.topn_gemm(U, I, block, chunk, slots, ex_indptr, ex_indices, item_map,
                         cand_indptr, cand_indices, n, items_out, scores_out)
    if cand_ids is not None:
        valid = items_out >= 0
        items_out[valid] = cand_ids[items_out[valid]]
    return items_out, scores_out


def top_n_scores(scores: np.ndarray, n: int, exclude: sp.spmatrix | None = None,
                 candidates: np.ndarray | sp.spmatrix | None = None,
                 n_threads: int | None = None, overwrite: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` items of every row of a precomputed (n_users, n_items) score matrix.

    For models whose scores are not an inner product of small vectors (item-item models such
    as EASE, ``X @ B``): the caller computes a block of scores, this selects. Same ranking
    rules, exclusions, candidates, outputs and tie rule as :func:`top_n`, and the same heap
    kernel; rows are spread over ``n_threads`` numba workers.

    Parameters
    ----------
    scores : ndarray of shape (n_users, n_items)
        Real, finite scores (converted to float32 C-contiguous).
    n, exclude, candidates, n_threads
        As in :func:`top_n`.
    overwrite : bool, default False
        Allow the function to write into ``scores`` (when it already is float32
        C-contiguous) instead of copying it: excluded items are set to ``-inf`` in place.

    Returns
    -------
    items : ndarray of shape (n_users, min(n, n_items)), int32
    scores : ndarray of shape (n_users, min(n, n_items)), float32
    """
    n = check_positive_int(n, "n")
    n_threads = check_n_threads(n_threads)
    S = np.asarray(scores)
    if S.ndim != 2:
        raise ValueError(f"scores must be a 2-D array (users, items); got {S.ndim} dimension(s)")
    if not (np.issubdtype(S.dtype, np.floating) or np.issubdtype(S.dtype, np.integer)):
        raise TypeError(f"scores must hold real numbers; got dtype {S.dtype}")
    fresh = not (S.dtype == np.float32 and S.flags.c_contiguous)
    S = np.ascontiguousarray(S, dtype=np.float32)
    if not (overwrite or fresh):
        S = S.copy()
    if not np.isfinite(S).all():
        raise ValueError("scores contains NaN or infinite values (in float32)")
    n_users, n_items = S.shape
    shape = (n_users, n_items)
    ex_indptr = np.zeros(n_users + 1, dtype=np.int64)
    ex_indices = np.zeros(0, dtype=np.int32)
    if exclude is not None:
        ex_indptr, ex_indices = _csr_arrays(_check_csr_mask(exclude, "exclude", shape))
    cand_indptr = np.zeros(0, dtype=np.int64)
    cand_indices = np.zeros(0, dtype=np.int32)
    if candidates is not None:
        if sp.issparse(candidates):
            cand_indptr, cand_indices = _csr_arrays(
                _check_csr_mask(candidates, "candidates", shape))
        else:
            # one list for everybody: the other columns are simply ineligible
            keep = np.zeros(n_items, dtype=bool)
            keep[_check_candidate_list(candidates, n_items)] = True
            S[:, ~keep] = -np.inf
    n = min(n, n_items)
    items_out = np.full((n_users, n), -1, dtype=np.int32)
    scores_out = np.full((n_users, n), -np.inf, dtype=np.float32)
    if n_users == 0 or n_items == 0:
        return items_out, scores_out
    slots = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # numba.config sets it at import, from the environment
    announce_compilation(_k.topn_dense)
    with numba_threads(n_threads), numba.parallel_chunksize(1):
        _k.topn_dense(S, _DIRECT_ROWS, slots, ex_indptr, ex_indices, cand_indptr,
                      cand_indices, n, items_out, scores_out)
    return items_out, scores_out


def _check_candidate_list(candidates, n_items: int) -> np.ndarray:
    arr = np.asarray(candidates)
    if arr.ndim != 1:
        raise ValueError(
            "candidates must be a 1-D array of item indices or a sparse matrix of shape "
            f"(n_users, n_items); got an array with {arr.ndim} dimensions"
        )
    if arr.size == 0:
        return np.zeros(0, dtype=np.int32)
    if not np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        raise TypeError(f"candidates must hold integer item indices; got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= n_items:
        bad = lo if lo < 0 else hi
        raise ValueError(f"candidates holds item index {bad} outside [0, {n_items})")
    # Sorted ascending: the ranked columns keep the global item order, so the tie rule holds.
    return np.unique(arr).astype(np.int32)


# --------------------------------------------------------------------------------------------
# similar_items / similar_users
# --------------------------------------------------------------------------------------------
def _similar(vectors, idx, n, exclude_self, bias_column, candidates, n_threads, what):
    n = check_positive_int(n, "n")
    X = np.asarray(vectors)
    if X.ndim != 2:
        raise ValueError(f"{what} vectors must be a 2-D array; got {X.ndim} dimension(s)")
    if bias_column:
        if X.shape[1] < 2:
            raise ValueError(
                f"{what} vectors have {X.shape[1]} column(s); with bias_column=True the last "
                "column is dropped and at least one factor column must remain"
            )
        X = X[:, :-1]
    X = _check_vectors(X, f"{what} vectors")
    n_rows = X.shape[0]
    scalar = np.ndim(idx) == 0
    ids = np.atleast_1d(np.asarray(idx))
    bad_dtype = not np.issubdtype(ids.dtype, np.integer) or ids.dtype == np.bool_
    if ids.ndim != 1 or (ids.size and bad_dtype):
        raise TypeError(f"{what}_idx must be an int or a 1-D array of ints; got {idx!r}")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= n_rows):
        bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
        raise ValueError(f"{what}_idx holds index {bad} outside [0, {n_rows})")
    norms = np.sqrt(np.einsum("ij,ij->i", X.astype(np.float64), X.astype(np.float64)))
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    Xn = (X * inv[:, None]).astype(np.float32)  # zero vectors stay zero: cosine 0 to everything
    exclude = None
    if exclude_self:
        exclude = sp.csr_matrix(
            (np.ones(ids.size, np.float32), (np.arange(ids.size), ids)), shape=(ids.size, n_rows)
        )
    if candidates is not None and sp.issparse(candidates):
        raise TypeError("candidates must be a 1-D array of indices here (one list for all queries)")
    out_i, out_s = top_n(Xn[ids], Xn, n, exclude=exclude, candidates=candidates,
                         n_threads=n_threads)
    if scalar:
        return out_i[0], out_s[0]
    return out_i, out_s


def similar_items(I_vectors: np.ndarray, item_idx: int | np.ndarray, n: int,
                  exclude_self: bool = True, *, bias_column: bool = True,
                  candidates: np.ndarray | None = None, n_threads: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` items most cosine-similar to each of ``item_idx``.

    Parameters
    ----------
    I_vectors : ndarray of shape (n_items, d)
        Item vectors. With ``bias_column=True`` (default, the layout of :func:`fold`'s
        ``I = [E, b]``) the last column is the item bias and is **dropped**: cosine is taken
        on the factor part ``E`` only (a bias is a popularity offset, not a direction). Pass
        ``bias_column=False`` for plain factor matrices (e.g. an MF model's item factors).
    item_idx : int or 1-D array of int
        Query items (row indices).
    n : int
        Number of neighbours (> 0).
    exclude_self : bool, default True
        Leave each query item out of its own list.
    candidates : 1-D int array, optional
        Rank only these items.
    n_threads : int, optional
        As in :func:`top_n`.

    Returns
    -------
    indices : ndarray of int32, shape (n,) for a scalar ``item_idx``, else (len(item_idx), n)
    scores : ndarray of float32, same shape: cosine similarities in [-1, 1]

    Notes
    -----
    Built on :func:`top_n` with row-normalised vectors, so the same tie rule (equal cosine ->
    lower index first) and padding (-1 / -inf) apply. An all-zero vector has cosine 0 to every
    item.
    """
    return _similar(I_vectors, item_idx, n, exclude_self, bias_column, candidates, n_threads,
                    "item")


def similar_users(U_vectors: np.ndarray, user_idx: int | np.ndarray, n: int,
                  exclude_self: bool = True, *, bias_column: bool = True,
                  candidates: np.ndarray | None = None, n_threads: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` users most cosine-similar to each of ``user_idx``.

    Same as :func:`similar_items` on user vectors. With ``bias_column=True`` (default, the
    layout of :func:`fold`'s ``U = [P, 1]``) the last column, the constant 1, is dropped and
    cosine is taken on ``P`` only.
    """
    return _similar(U_vectors, user_idx, n, exclude_self, bias_column, candidates, n_threads,
                    "user")
