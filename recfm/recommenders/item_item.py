"""What item-item models (EASE, item kNN) share: scores ``X @ W`` in user blocks, then top-N.

An item-item model learns an items × items weight matrix ``W`` and scores a user by the sum of
the rows of ``W`` of the items they consumed: ``scores = X @ W`` with ``X`` the binary
users × items matrix. The scores are not an inner product of small vectors, so they are
computed here block of users by block of users (a dense block of at most ~16 MiB of float32)
and handed to :func:`recfm.ranking.top_n_scores`, the heap selection that :func:`top_n` uses,
with the same exclusions, candidates and tie rule.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import DataError, check_columns, plain
from ..datasets.ids import as_ids, ids_like, kind_note
from ..ranking import top_n_scores
from .base import Recommender, binary_csr, id_positions

#: Bytes of float32 scores per user block: a few blocks fit in any cache-friendly budget and
#: the sparse-times-dense product per block stays large enough to be efficient.
_BLOCK_BYTES = 2**24


def _block_rows(n_items: int) -> int:
    return max(1, _BLOCK_BYTES // (4 * max(n_items, 1)))


def blocked_top_n(
    X: sp.csr_matrix,
    score: Callable[[sp.csr_matrix], np.ndarray],
    n: int,
    exclude_seen: bool = True,
    candidates: np.ndarray | None = None,
    n_threads: int | None = None,
    exclude: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` of ``score(X_block)`` for every block of rows of ``X``.

    Parameters
    ----------
    X : CSR of shape (n_users, n_items)
        The users' consumed items (their rows are also the exclusions when ``exclude_seen``).
    score : callable
        ``score(X_block) -> ndarray (rows, n_items)``, float32 scores of a block of rows.
    n, candidates, n_threads
        As in :func:`recfm.ranking.top_n_scores`.
    exclude : CSR of the shape of X, optional
        Exclusions to use instead of X's own items when ``exclude_seen``.

    Returns
    -------
    items (int32), scores (float32), both (n_users, min(n, n_items)); -1 / -inf pad.
    """
    n_users, n_items = X.shape
    n = min(n, n_items)
    items = np.full((n_users, n), -1, dtype=np.int32)
    scores = np.full((n_users, n), -np.inf, dtype=np.float32)
    step = _block_rows(n_items)
    for s in range(0, n_users, step):  # blocks of users, not users: bounded memory
        block = X[s : s + step]
        S = np.ascontiguousarray(score(block), dtype=np.float32)
        ex = (block if exclude is None else exclude[s : s + step]) if exclude_seen else None
        items[s : s + step], scores[s : s + step] = top_n_scores(
            S, n, exclude=ex, candidates=candidates,
            n_threads=n_threads, overwrite=True,
        )
    return items, scores


class ItemItemRecommender(Recommender):
    """Base of the models whose scores are ``X @ W`` (see the module docstring).

    Subclasses implement :meth:`_fit` (setting their weights) and :meth:`_scores`.

    Parameters
    ----------
    n_threads : int or None
        Threads for the top-N selection (numba) and, in subclasses, for BLAS.
    min_rating : float or None
        Ratings below it are not positives (see :class:`Recommender`).
    """

    def __init__(self, n_threads: int | None = None, min_rating: float | None = None):
        super().__init__(min_rating=min_rating)
        self.n_threads = n_threads

    def _scores(self, X: sp.csr_matrix) -> np.ndarray:
        """Dense float32 scores (rows of X, n_items) of users with consumed items ``X``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _scores")

    def _top_n(self, rows, n, exclude_seen, candidates=None):
        below = self.rated_below_ is not None
        return blocked_top_n(self.seen_rows(rows), self._scores, n, exclude_seen=exclude_seen,
                             candidates=candidates, n_threads=self.n_threads,
                             exclude=self.excluded_rows(rows) if below else None)

    def history_rows(self, history: Any) -> tuple[pd.Index, sp.csr_matrix]:
        """The users a request ``history`` names, and their items as a binary CSR.

        ``history`` is a DataFrame ``user_id, item_id`` or a dict ``{user_id: [item ids]}``
        (an empty list: no items). Its user and item ids are matched with the model's by
        their text, as ``user_ids`` (:func:`recfm.datasets.ids.ids_like`), and the users
        are returned as the model's ids. Item ids outside the catalogue raise a DataError
        naming them.
        """
        if isinstance(history, dict):
            keys = ids_like(as_ids(list(history), "history"), self.user_ids_)
            if not keys.is_unique:  # {5: ..., "5": ...} on a model with integer ids
                raise DataError(f"history names user {plain(keys[keys.duplicated()][0])!r} "
                                "twice (its ids are matched with the model's by their text)")
            lists = [[] if v is None else list(np.atleast_1d(np.asarray(v, dtype=object)))
                     for v in history.values()]
            rows = np.repeat(np.arange(len(keys)), [len(v) for v in lists])
            values = pd.Index([x for v in lists for x in v])
        elif isinstance(history, pd.DataFrame):
            check_columns(history, ["user_id", "item_id"], "history")
            users = ids_like(pd.Index(history["user_id"]), self.user_ids_)
            keys = users.unique()
            rows = keys.get_indexer(users)
            values = pd.Index(history["item_id"])
        else:
            raise DataError("history must be a DataFrame with columns user_id, item_id or a "
                            f"dict user id -> item ids; got {type(history).__name__}")
        values, cols = id_positions(self.item_ids_, values, "history")
        if (cols < 0).any():
            unknown = pd.Index(pd.unique(values[cols < 0]))
            raise DataError(f"history has {len(unknown)} item id(s) not in the catalogue, e.g. "
                            f"{plain(unknown[0])!r}" + kind_note(unknown, self.item_ids_, "item"))
        return keys, binary_csr(rows, cols, (len(keys), self.seen_.shape[1]))

    def recommend(
        self,
        user_ids: Iterable,
        n: int = 10,
        exclude_seen: bool = True,
        items: Iterable | None = None,
        history: Any = None,
        **options: Any,
    ) -> pd.DataFrame:
        """Top-``n`` items for each user in ``user_ids`` (external ids).

        Parameters
        ----------
        user_ids : id or collection of ids
            Users seen in training, or named in ``history``; matched with the model's ids
            by their text (see :meth:`Recommender.recommend`).
        n : int
            Items per user.
        exclude_seen : bool
            Leave out each user's training items (and the items of its ``history``).
        items : collection of item ids, optional
            Rank only these catalogue item ids (candidates).
        history : DataFrame or dict, optional
            Items standing for the users it names (see :meth:`history_rows`): a new user is
            scored from them alone, without refitting, exactly as a training user with
            those items is; a known user's history replaces its training items.
        **options
            ``users=`` only, ignored (see :meth:`Recommender.recommend`); any other keyword
            raises a TypeError naming it.

        Returns
        -------
        DataFrame with columns ``user_id, item_id, rank, score`` (``user_id``: the model's
        ids).
        """
        if history is None:
            return super().recommend(user_ids, n=n, exclude_seen=exclude_seen, items=items,
                                     **options)
        ids, n, candidates = self._request(user_ids, n, items, options)
        keys, H = self.history_rows(history)
        at = keys.get_indexer(ids) if len(keys) else np.full(len(ids), -1)
        known = self.user_ids_.get_indexer(ids)
        if ((at < 0) & (known < 0)).any():
            self.user_rows(ids[at < 0])  # raises, naming an unknown user without history
        given = sp.diags((at >= 0).astype(np.float32)) @ H[np.maximum(at, 0)]
        seen = self.seen_rows(known)
        X = (sp.diags((at < 0).astype(np.float32)) @ seen + given).tocsr()
        X.eliminate_zeros()
        exclude = (self.excluded_rows(known) + given).tocsr()
        exclude.data[:] = 1.0
        idx, scores = blocked_top_n(X, self._scores, n, exclude_seen=exclude_seen,
                                    candidates=candidates, n_threads=self.n_threads,
                                    exclude=exclude)
        return self.to_frame(ids.to_numpy(), idx, scores)
