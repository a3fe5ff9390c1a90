"""EASE (Steck 2019): closed-form item-item regression, the strongest simple baseline.

With X the binary users × items matrix, G = XᵀX its Gram matrix and λ an L2 penalty, EASE is
the item-item weight matrix B minimising ||X − XB||² + λ||B||² subject to diag(B) = 0::

    P = (G + λI)⁻¹,    B = I − P · diag(1 / diag P)     (so B_ij = −P_ij / P_jj, B_jj = 0)

and a user's scores are ``x_u B``. λ is chosen on a validation split carved from the
training interactions (never the test set): see :class:`EASE`.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import DataError, check_n_threads, check_positive_int
from ..metrics import ndcg_at_k
from .base import binary_csr
from .item_item import ItemItemRecommender, blocked_top_n
from .persistence import Dense

#: Default λ grid for ``l2="auto"``: log-spaced over the range where EASE's optimum lies on
#: MovieLens, Netflix and MSD (Steck reports 200-1000; ML-100K's optimum is 200-500).
DEFAULT_L2_GRID = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
                   5000.0, 10000.0, 20000.0)

#: Catalogue size above which a default comparison leaves EASE out (its λ search and fit
#: cost ~n³: 19.7 s at ML-1M's 3,706 items on a 2-core machine, README's `recfm evaluate
#: --dataset synthetic-ml-1m` row, and 7.5x the 3,706-item fit at 8,000 items in
#: benchmarks/ease_scaling.py).
DEFAULT_LIST_MAX_ITEMS = 8_000
#: ML-1M's catalogue, the size the cost of a larger one is stated against.
_ML_1M_ITEMS = 3706

#: Validation users per block of the λ search (their scores are dense float32 rows).
_SEARCH_ROWS = 1024


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def ease_memory(n_items: int, search: bool) -> int:
    """Peak bytes EASE needs for ``n_items`` items (dense n × n matrices).

    Fitting holds the float64 Gram matrix and its in-place inverse (8 n² bytes each, LAPACK
    potrf/potri work in place but the symmetrised copy needs a second buffer) and B in
    float32 (4 n²): 20 n². The λ search adds the eigenvectors (float64 and a float32 copy),
    their squares and LAPACK's workspace: 24 n² more.
    """
    return (44 if search else 20) * n_items * n_items


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """B = I − P diag(1/diag P) with P = (G + λI)⁻¹, in float64 (``gram`` is overwritten).

    G + λI is symmetric positive definite for λ > 0, so its inverse comes from a Cholesky
    factorisation (LAPACK potrf + potri, in place): half the flops of a general inverse.
    """
    from scipy.linalg import lapack

    n = gram.shape[0]
    gram[np.diag_indices(n)] += l2
    c, info = lapack.dpotrf(gram, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        P, info = lapack.dpotri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"EASE: G + l2*I is not positive definite (LAPACK info {info}); use a larger l2"
        )
    # potri fills the upper triangle only
    P = np.triu(P) + np.triu(P, 1).T
    B = P / (-np.diag(P))[None, :]
    B[np.diag_indices(n)] = 0.0
    return B


class EASE(ItemItemRecommender):
    """Embarrassingly Shallow Autoencoder (Steck 2019): closed-form item-item regression.

    ``B = I − P·diag(1/diag P)`` with ``P = (XᵀX + λI)⁻¹`` and ``diag(B) = 0``; scores are
    ``X·B``, computed in blocks of users and ranked by the same heap selection as every recfm
    model (exclusions, ``items=`` candidates, ties to the lower item index).

    Parameters
    ----------
    l2 : float > 0 or "auto", default "auto"
        The L2 penalty λ. ``"auto"`` chooses it from ``l2_grid`` by NDCG@``validation_k`` on
        a validation split carved from the *training* interactions given to :meth:`fit`
        (a per-user random holdout of ``validation_size``, seeded by ``random_state``; see
        :func:`recfm.split.random_split`), then refits on all of them with the chosen λ.
        The test set is never seen. One eigendecomposition of the validation Gram matrix
        ``G = QΛQᵀ`` serves every λ: ``P(λ) = Q diag(1/(Λ+λ)) Qᵀ``, so each further λ costs
        one (validation users × n × n) float32 product, not an n × n inverse.
    l2_grid : sequence of float
        Candidates for ``l2="auto"``. A choice on the grid's edge raises a warning.
    validation_size : float in (0, 1)
        Share of each user's training positives held out for the λ search.
    validation_k : int
        Cut-off of the validation NDCG.
    validation_users : int or None, default 2000
        Validation users the λ search ranks: when more users have validation items, a
        sample of this many (``np.random.default_rng(random_state).choice`` without
        replacement), so that the search costs ``grid size × validation_users × n²``
        instead of growing with the user count (ML-1M-sized data: 2x faster); None: all
        of them. Data sets with fewer such users (ML-100K) are unaffected.
    random_state : int or None
        Seed of the validation split (and of the validation users' sample).
    n_threads : int or None
        Threads for BLAS/LAPACK and the top-N selection (None: all cores).
    memory_limit : int or None
        Bytes EASE may use; None: the memory available on this machine. A catalogue whose
        dense n × n matrices exceed it raises ``MemoryError`` before any work, naming the
        memory needed (see :func:`ease_memory`).
    min_rating : float or None
        Ratings below it are not positives.

    Attributes
    ----------
    B_ : ndarray of shape (n_items, n_items), float32
        The item-item weights (zero diagonal).
    l2_ : float
        The λ used (chosen, or ``l2``).
    l2_scores_ : dict float -> float
        Validation NDCG of each grid λ (empty when ``l2`` is a number).

    Notes
    -----
    *Precision*: G and P are float64. The Gram matrix of counts can have a condition number
    (Λ_max + λ)/λ of 10⁴–10⁶ at small λ; a float32 inverse would keep 1–3 significant
    digits there, enough to reorder close scores, while float64 keeps 10 or more. B is stored
    in float32 (the precision every recfm ranking uses: relative error ~1e-7 on a score).
    The λ search scores in float32 too, which only has to order grid points.

    *Memory*: dense n × n matrices, ~20 n² bytes to fit and ~44 n² with the λ search
    (ML-1M's 3,706 items: 0.6 GB; ML-20M's 26,744 items: 14-31 GB). Past ~30,000 items prefer
    :class:`~recfm.recommenders.ItemKNN`, or filter the catalogue first.

    The chosen λ comes from a fit on ``1 - validation_size`` of the data and is used as is
    for the full fit (the Gram matrix grows by ~1/(1 - validation_size); λ is not rescaled).
    """

    _state_arrays = {"B_": Dense("float32", ("n_items", "n_items"))}
    _state_scalars = ("l2_", "l2_scores_")

    def __init__(
        self,
        l2: float | str = "auto",
        l2_grid: Sequence[float] = DEFAULT_L2_GRID,
        validation_size: float = 0.1,
        validation_k: int = 10,
        validation_users: int | None = 2000,
        random_state: int | None = 0,
        n_threads: int | None = None,
        memory_limit: int | None = None,
        min_rating: float | None = None,
    ):
        super().__init__(n_threads=n_threads, min_rating=min_rating)
        self.l2 = l2
        self.l2_grid = l2_grid
        self.validation_size = validation_size
        self.validation_k = validation_k
        self.validation_users = validation_users
        self.random_state = random_state
        self.memory_limit = memory_limit

    # -- validation of hyper-parameters ------------------------------------------------
    def _check_params(self) -> tuple[bool, np.ndarray]:
        search = isinstance(self.l2, str)
        if search and self.l2 != "auto":
            raise ValueError(f"l2 must be a positive number or 'auto'; got {self.l2!r}")
        if not search and not (isinstance(self.l2, (int, float)) and not isinstance(self.l2, bool)
                               and np.isfinite(self.l2) and self.l2 > 0):
            raise ValueError(f"l2 must be a positive number or 'auto'; got {self.l2!r}")
        grid = np.asarray(self.l2_grid, dtype=np.float64).ravel() if search else np.zeros(0)
        if search and (grid.size == 0 or not np.isfinite(grid).all() or (grid <= 0).any()):
            raise ValueError(f"l2_grid must hold positive finite numbers; got {self.l2_grid!r}")
        if search and not 0.0 < float(self.validation_size) < 1.0:
            raise ValueError(f"validation_size must be in (0, 1); got {self.validation_size!r}")
        if search:
            check_positive_int(self.validation_k, "validation_k")
            if self.validation_users is not None:
                check_positive_int(self.validation_users, "validation_users")
        return search, np.unique(grid)

    def check_resources(self, train: pd.DataFrame) -> None:
        """Raise ``MemoryError`` when the dense item × item matrices for ``train``'s
        catalogue (see :func:`ease_memory`) exceed ``memory_limit`` or the memory available,
        naming both; the hyper-parameters are checked first."""
        self.check_params()
        search, _ = self._check_params()
        self._check_memory(int(self.positives(train)["item_id"].nunique()), search)

    def slow_fit_reason(self, train: pd.DataFrame) -> str | None:
        """A reason when ``train``'s catalogue exceeds :data:`DEFAULT_LIST_MAX_ITEMS` with
        ``l2="auto"``: an eigendecomposition of the n × n Gram matrix, then an inverse, both
        O(n³) (a given λ costs the inverse alone, so it is never called slow)."""
        search, _ = self._check_params()
        n_items = int(self.positives(train)["item_id"].nunique())
        if not search or n_items <= DEFAULT_LIST_MAX_ITEMS:
            return None
        return (f"EASE's l2 search and fit on {n_items:,} items cost ~n³ (dense {n_items:,} x "
                f"{n_items:,} eigendecomposition and inverse): about "
                f"{(n_items / _ML_1M_ITEMS) ** 3:.0f}x the work at ML-1M's {_ML_1M_ITEMS:,} items, "
                "which take ~20 s on a 2-core machine, and "
                f"{ease_memory(n_items, search) / 2**30:.1f} GiB; a given l2 (e.g. 500) skips "
                "the search")

    def _check_memory(self, n_items: int, search: bool) -> None:
        need = ease_memory(n_items, search)
        limit = self.memory_limit if self.memory_limit is not None else available_memory()
        if limit is not None and need > limit:
            which = "is allowed (memory_limit)" if self.memory_limit is not None else "is available"
            raise MemoryError(
                f"EASE needs about {need / 2**30:.1f} GiB for its dense {n_items:,} x "
                f"{n_items:,} item matrices{' and the l2 search' if search else ''}, but "
                f"{limit / 2**30:.1f} GiB {which}; "
                "keep fewer items (e.g. the most popular ones) or use ItemKNN"
            )

    # -- fitting -----------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, users: pd.DataFrame | None = None,
            items: pd.DataFrame | None = None) -> EASE:
        """Fit on ``train`` (columns ``user_id, item_id`` [, ``rating``]); returns self.

        With ``l2="auto"``, λ is chosen on a split of ``train`` itself (see the class
        docstring): pass the training interactions only, never the test set.
        """
        self.check_resources(train)  # before any work (and before the model is marked fitted)
        search, grid = self._check_params()
        self._search_grid = grid if search else None
        self._train_frame = train
        try:
            return super().fit(train, users=users, items=items)
        finally:
            del self._train_frame, self._search_grid

    def _fit(self, user_items: sp.csr_matrix) -> None:
        from threadpoolctl import threadpool_limits

        grid = self._search_grid
        limits = check_n_threads(self.n_threads)
        with threadpool_limits(limits=limits, user_api="blas"):
            if grid is not None:
                self.l2_scores_ = self._search_l2(grid)
                best = max(self.l2_scores_.items(), key=lambda kv: (kv[1], -kv[0]))[0]
                self.l2_ = float(best)
                if len(grid) > 1 and best in (grid[0], grid[-1]):
                    warnings.warn(
                        f"EASE chose l2={best:g}, on the edge of l2_grid "
                        f"({grid[0]:g}..{grid[-1]:g}); widen the grid",
                        UserWarning, stacklevel=4,
                    )
            else:
                self.l2_scores_ = {}
                self.l2_ = float(self.l2)
            gram = _gram(user_items)
            self.B_ = np.ascontiguousarray(ease_weights(gram, self.l2_), dtype=np.float32)

    def _search_l2(self, grid: np.ndarray) -> dict[float, float]:
        """Validation NDCG of every λ in ``grid`` (one eigendecomposition for all of them)."""
        from ..split import random_split

        train = self.positives(self._train_frame)
        fit_part, val_part = random_split(train[["user_id", "item_id"]],
                                          test_size=self.validation_size, seed=self.random_state)
        if len(val_part) == 0:
            raise DataError(
                "train has no user with enough interactions to carve a validation split "
                "for l2='auto' (random_split needs >= 5 per user); pass a number as l2"
            )
        X_fit = self._index_frame(fit_part)
        X_val = self._index_frame(val_part)
        val_users = np.flatnonzero(np.diff(X_val.indptr))
        cap = self.validation_users
        if cap is not None and len(val_users) > cap:
            # the NDCG of a few thousand users orders grid points spaced 2-2.5x apart
            chosen = np.random.default_rng(self.random_state).choice(val_users, cap, replace=False)
            val_users = np.sort(chosen)
        X_fit_val, truth = X_fit[val_users], X_val[val_users]

        lam, Q = np.linalg.eigh(_gram(X_fit))
        lam = np.maximum(lam, 0.0)  # the Gram matrix is PSD; clip rounding below zero
        Q32 = Q.astype(np.float32)
        Q2 = Q * Q
        del Q
        k = min(int(self.validation_k), X_fit.shape[1])
        scores: dict[float, float] = {}
        for l2 in grid:
            d = 1.0 / (lam + l2)
            inv_diag_p = (1.0 / (Q2 @ d)).astype(np.float32)
            score = partial(_spectral_scores, Q=Q32, d=d.astype(np.float32),
                            inv_diag_p=inv_diag_p)
            items, _ = blocked_top_n(X_fit_val, score, k, exclude_seen=True,
                                     n_threads=self.n_threads)
            scores[float(l2)] = float(np.nanmean(ndcg_at_k(items, truth, k)))
        return scores

    def _index_frame(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Binary CSR of ``frame`` in the fitted row/column order (ids from training)."""
        rows = self.user_ids_.get_indexer(frame["user_id"])
        cols = self.item_ids_.get_indexer(frame["item_id"])
        return binary_csr(rows, cols, self.seen_.shape)

    def _scores(self, X: sp.csr_matrix) -> np.ndarray:
        return np.asarray(X @ self.B_)

    # -- persistence (see recfm.recommenders.persistence) --------------------------------
    def _get_state(self) -> tuple[dict, dict]:
        # JSON keys are strings: the λ -> NDCG table is saved as [λ, NDCG] pairs
        return ({"l2_": self.l2_, "l2_scores_": [[k, v] for k, v in self.l2_scores_.items()]},
                {"B_": self.B_})

    def _set_state(self, state: dict, arrays: dict) -> None:
        l2 = state["l2_"]
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0 < l2 < np.inf:
            raise TypeError(f"l2_ must be a positive number; got {l2!r}")
        self.l2_ = float(l2)
        self.l2_scores_ = {float(k): float(v) for k, v in state["l2_scores_"]}
        self.B_ = arrays["B_"]


def _spectral_scores(block: sp.csr_matrix, Q: np.ndarray, d: np.ndarray,
                     inv_diag_p: np.ndarray) -> np.ndarray:
    """−(x P)/diag P for the rows x of ``block``, with P = Q diag(d) Qᵀ.

    x B = x − (x P) diag(1/diag P), and x's own items are excluded from its ranking, so
    −(x P)/diag P ranks every candidate exactly as x B does.
    """
    XP = (np.asarray(block @ Q) * d) @ Q.T
    XP *= -inv_diag_p
    return XP


def _gram(X: sp.csr_matrix) -> np.ndarray:
    """XᵀX as a dense float64 C-contiguous array (integer co-occurrence counts)."""
    X = X.astype(np.float64)
    return np.ascontiguousarray((X.T @ X).toarray())
