"""A fitted recommender in the form a cluster ranks with: item vectors plus a query side.

Every factor-style recommender ranks user u's items by ``U_u · I_i`` (plus a constant per
user that never changes the order), see :mod:`recfm.ranking`:

* :class:`~recfm.recommenders.FMRecommender`: ``I`` = the folded item vectors; a block of
  users' query rows (ids, attributes) is folded into ``U`` and ``c`` on the worker.
* :class:`~recfm.recommenders.Popularity`: ``U = 1``, ``I`` = the item counts.
* ``implicit``'s ALS/BPR wrappers: ``U``, ``I`` = the learned user and item factors.

:class:`FactorModel` holds exactly that, so it can be scattered to the workers once.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..ranking import fold, top_n
from ..recommenders.base import candidate_positions, recommendation_frame


@dataclass
class FactorModel:
    """What ranking needs of a fitted model, and nothing else.

    Parameters
    ----------
    user_ids, item_ids : pandas.Index
        External ids of the training users (rows) and of the catalogue (columns).
    item_vectors : ndarray of shape (n_items, d), float32
    user_vectors : ndarray of shape (n_users, d), optional
        Query vectors of the training users (factor baselines). At most one of
        ``user_vectors`` and ``fm`` is set; with neither, each block's query vectors must
        be given to :meth:`rank` (what the workers get when the partitions carry them).
    fm : tuple (builder, model), optional
        An FM's fitted :class:`~recfm.features.FeatureBuilder` and its parameters (an object
        with ``w0_``, ``w_``, ``V_``): query vectors are folded from the users' rows.
    seen : csr_matrix of shape (n_users, n_items), optional
        Training positives, for ``exclude_seen``. Left out of what is scattered: each
        partition of users carries its own rows.
    block_size : int, optional
        Users per GEMM block in :func:`recfm.ranking.top_n`.
    """

    user_ids: pd.Index
    item_ids: pd.Index
    item_vectors: np.ndarray
    user_vectors: np.ndarray | None = None
    fm: tuple[Any, Any] | None = None
    seen: sp.csr_matrix | None = None
    block_size: int | None = None

    def __post_init__(self) -> None:
        if self.user_vectors is not None and self.fm is not None:
            raise ValueError("FactorModel takes user_vectors or fm, not both")
        self.item_vectors = np.ascontiguousarray(self.item_vectors, dtype=np.float32)
        if self.item_vectors.shape[0] != len(self.item_ids):
            raise ValueError(
                f"item_vectors has {self.item_vectors.shape[0]} rows for {len(self.item_ids)} item ids"
            )
        if self.user_vectors is not None:
            self.user_vectors = np.ascontiguousarray(self.user_vectors, dtype=np.float32)
            if self.user_vectors.shape != (len(self.user_ids), self.item_vectors.shape[1]):
                raise ValueError(
                    f"user_vectors has shape {self.user_vectors.shape}; expected "
                    f"({len(self.user_ids)}, {self.item_vectors.shape[1]})"
                )
        if self.seen is not None and self.seen.shape != (len(self.user_ids), len(self.item_ids)):
            raise ValueError(f"seen has shape {self.seen.shape}; expected (n_users, n_items)")

    @classmethod
    def from_recommender(cls, rec: Any) -> FactorModel:
        """The factor form of a fitted FMRecommender, Popularity, ImplicitALS or ImplicitBPR.

        Raises
        ------
        TypeError
            For a recommender without a factor form (the message names its class).
        """
        from .._utils import check_is_fitted
        from ..recommenders import FMRecommender, ImplicitALS, ImplicitBPR, Popularity

        check_is_fitted(rec, "seen_")
        common = dict(user_ids=pd.Index(rec.user_ids_), item_ids=pd.Index(rec.item_ids_),
                      seen=rec.excluded_rows())
        if isinstance(rec, FMRecommender):
            params = SimpleNamespace(w0_=float(rec.model_.w0_), w_=rec.model_.w_, V_=rec.model_.V_)
            return cls(item_vectors=rec.item_vectors_, fm=(rec.builder_, params),
                       block_size=rec.block_size, **common)
        if isinstance(rec, Popularity):
            return cls(item_vectors=rec.item_popularity_[:, None],
                       user_vectors=np.ones((len(rec.user_ids_), 1), np.float32), **common)
        if isinstance(rec, (ImplicitALS, ImplicitBPR)):
            m = rec.model_
            if hasattr(m, "to_cpu") and not isinstance(m.item_factors, np.ndarray):
                m = m.to_cpu()
            return cls(item_vectors=m.item_factors, user_vectors=m.user_factors, **common)
        raise TypeError(
            f"{type(rec).__name__} has no factor form (user vectors x item vectors); "
            "distributed ranking supports FMRecommender, Popularity, ImplicitALS and ImplicitBPR"
        )

    def for_workers(self) -> FactorModel:
        """The part every worker needs, to scatter once: item vectors and the FM's query side.

        Seen rows and a baseline's user vectors are left out: each partition of users
        carries its own rows of them, so a worker's memory does not grow with the users.
        """
        return FactorModel(self.user_ids[:0], self.item_ids, self.item_vectors, None,
                           self.fm, None, self.block_size)

    def block(self, rows: np.ndarray, exclude_seen: bool
              ) -> tuple[np.ndarray | None, sp.csr_matrix | None]:
        """What a partition of users carries: its user vectors (baselines) and seen rows."""
        U = None if self.user_vectors is None else self.user_vectors[rows]
        seen = self.seen[rows] if exclude_seen and self.seen is not None else None
        return U, seen

    # -- ranking a block of users --------------------------------------------------------
    def rows_of(self, user_ids: Any) -> np.ndarray:
        """Training row of each user id; a KeyError names the ids absent from the model."""
        from .._utils import plain

        ids = pd.Index(np.asarray(user_ids))
        rows = self.user_ids.get_indexer(ids)
        if (rows < 0).any():
            missing = ids[rows < 0]
            raise KeyError(
                f"{len(missing)} user id(s) are not in the model, e.g. {plain(missing[0])!r}"
                f"{'' if len(missing) == 1 else ', ' + repr(plain(missing[1]))}; "
                "the model can only rank for its training users"
            )
        return rows.astype(np.int64)

    def candidate_indices(self, items: Any) -> np.ndarray:
        """Catalogue index of each candidate item id; a KeyError names unknown ids."""
        return candidate_positions(self.item_ids, items)

    def queries(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An FM's query vectors ``U`` of a block of users and their score constants ``c``."""
        if self.fm is None:
            raise ValueError("this FactorModel has no FM query side: pass the block's vectors")
        builder, params = self.fm
        Xq = builder.user_rows(pd.Index(user_ids))
        U, _, c = fold(params, Xq, Xq[:0])
        return U, c

    def rank(self, user_ids: np.ndarray, n: int, U: np.ndarray | None,
             seen: sp.csr_matrix | None, candidates: np.ndarray | None,
             n_threads: int | None, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``n`` frame ``user_id, item_id, rank, score`` of a block of users.

        The same computation as the recommender's own ``recommend`` for these users:
        ``top_n`` is a pure function of the block's vectors, the item vectors and the
        block's exclusions, so any partition of the users gives the same rows. ``U`` is the
        block's user vectors (baselines) or None (an FM folds the block's query rows);
        ``seen`` is the block's exclusions (None: none), so ``exclude_seen`` is not read.
        """
        c = None
        if U is None:
            U, c = self.queries(user_ids)
        idx, scores = top_n(U, self.item_vectors, n, exclude=seen, candidates=candidates,
                            block_size=self.block_size, n_threads=n_threads)
        if c is not None:
            scores = scores + c[:, None]
        return recommendation_frame(user_ids, self.item_ids, idx, scores)


class WholeRecommender:
    """A recommender without a factor form (EASE, ItemKNN, ...), ranked by its own ``recommend``.

    The whole fitted model is what every worker holds (scattered once, or loaded from its
    directory), so worker memory is the model's size, not bounded by the partition size as
    with :class:`FactorModel`.
    """

    def __init__(self, model: Any):
        from .._utils import check_is_fitted

        check_is_fitted(model, "seen_")
        self.model = model
        self.user_ids = pd.Index(model.user_ids_)
        self.item_ids = pd.Index(model.item_ids_)

    def rows_of(self, user_ids: Any) -> np.ndarray:
        return self.model.user_rows(user_ids)

    def candidate_indices(self, items: Any) -> np.ndarray:
        return candidate_positions(self.item_ids, items)

    def for_workers(self) -> WholeRecommender:
        return self

    def block(self, rows: np.ndarray, exclude_seen: bool) -> tuple[None, None]:
        return None, None

    def rank(self, user_ids: np.ndarray, n: int, U: Any, seen: Any,
             candidates: np.ndarray | None, n_threads: int | None,
             exclude_seen: bool = True) -> pd.DataFrame:
        items = None if candidates is None else self.item_ids[candidates]
        kwargs = {} if items is None else {"items": items}
        return self.model.recommend(user_ids, n=n, exclude_seen=exclude_seen, **kwargs)


def ranking_source(model: Any) -> FactorModel | WholeRecommender:
    """The factor form of ``model`` when it has one, else the model itself, wrapped."""
    if isinstance(model, (FactorModel, WholeRecommender)):
        return model
    try:
        return FactorModel.from_recommender(model)
    except TypeError:
        return WholeRecommender(model)
