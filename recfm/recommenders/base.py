"""The one protocol every recfm recommender implements.

A recommender is fitted on a DataFrame of interactions with *external* ids
(``user_id``, ``item_id`` and optionally ``rating``) and answers top-N queries in external
ids too, as a DataFrame ``[user_id, item_id, rank, score]``. The fitted model keeps the
users × items CSR of seen items (``seen_``), so ``recommend`` never needs the training
matrix again.
"""
from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import (
    Params,
    check_is_fitted,
    check_n_threads,
    check_positive_int,
    plain,
)
from ..datasets.dataset import check_interactions, check_min_rating, rated_at_least
from ..datasets.ids import as_ids, ids_like, kind_note

RECOMMENDATION_COLUMNS = ["user_id", "item_id", "rank", "score"]

#: Keyword arguments of ``recommend`` that every recommender accepts, whether or not it uses
#: them: the ones a generic caller hands any model. :func:`recfm.evaluation.evaluate`'s
#: cold-start protocol passes ``users=`` (the users' attribute frame) to every model whose
#: ``recommend`` takes it or takes ``**kwargs``; a model that ranks without user attributes
#: ignores it. Every other keyword (``context=``, ``history=``, a misspelt ``itemz=``) is a
#: TypeError for a model that does not take it: it would change what the lists mean.
IGNORED_OPTIONS = frozenset({"users"})


_R = TypeVar("_R", bound="Recommender")


def min_rating_hint(min_rating: float | None) -> str:
    """What an unknown-user error adds when training dropped low ratings: a user whose every
    rating was below ``min_rating`` has no positive, so the model never saw them."""
    if min_rating is None:
        return ""
    return (f"; only ratings >= min_rating={plain(min_rating)} were trained on, so a user whose "
            "ratings are all lower is not in the model")


class Recommender(Params):
    """Base class: id bookkeeping, positives, seen items, and the DataFrame face of top-N.

    Subclasses implement :meth:`_fit` (on the binarised users × items CSR) and
    :meth:`_top_n` (on row indices); the base class handles external ids and validation.

    Parameters
    ----------
    min_rating : float or None
        Interactions with ``rating < min_rating`` are dropped before fitting: only the
        rest count as positives. They are still never recommended back to their user
        (``rated_below_``). ``None`` keeps every interaction.

    Attributes
    ----------
    user_ids_, item_ids_ : pandas.Index
        External ids of the training users and items (in row order).
    seen_ : csr_matrix of shape (n_users, n_items)
        Training positives (binary), excluded from recommendations by default.
    rated_below_ : csr_matrix of shape (n_users, n_items) or None
        Training interactions rated below ``min_rating`` of the model's users and items:
        not positives, but excluded from recommendations too; None when there are none.
    """

    #: Whether the model can score users absent from training (from their attributes).
    supports_cold_start: bool = False

    #: Fitted arrays saved by :meth:`save` besides the ids and ``seen_``: attribute name ->
    #: :class:`~recfm.recommenders.persistence.Dense` or ``CSR`` (dtype and shape in named
    #: sizes, checked on load). See :mod:`recfm.recommenders.persistence`.
    _state_arrays: ClassVar[dict[str, Any]] = {}
    #: Fitted JSON-able attributes saved by :meth:`save`.
    _state_scalars: ClassVar[tuple[str, ...]] = ()

    def __init__(self, min_rating: float | None = None):
        self.min_rating = min_rating

    # -- fitting -----------------------------------------------------------------------
    def check_params(self) -> None:
        """Check the hyper-parameters every recommender shares before any work.

        ``min_rating`` is None or a number; ``n_threads`` (where a model has it) goes through
        :func:`recfm._utils.check_n_threads`.
        """
        check_min_rating(self.min_rating)
        if "n_threads" in self._param_names():
            check_n_threads(self.n_threads, note=False)  # type: ignore[attr-defined]

    def check_resources(self, train: pd.DataFrame) -> None:
        """Raise ``MemoryError`` when fitting on ``train`` cannot fit in memory, before any
        work (the default: no model-specific limit; models with dense catalogue-sized
        matrices, such as :class:`~recfm.recommenders.EASE`, override it).
        :func:`recfm.evaluation.evaluate` asks every model before it fits the first one, so
        the hyper-parameters are checked here too (:meth:`check_params`)."""
        self.check_params()

    def slow_fit_reason(self, train: pd.DataFrame) -> str | None:
        """Why fitting on ``train`` would take minutes where the other models take seconds
        (None: it would not; models whose cost grows with the cube of the catalogue, such
        as :class:`~recfm.recommenders.EASE`, override it). A default comparison leaves
        such a model out, saying why; named explicitly, it is fitted after a warning."""
        return None

    def positives(self, train: pd.DataFrame, what: str = "train") -> pd.DataFrame:
        """Validate ``train`` (:func:`recfm.datasets.dataset.check_interactions`: a missing
        id or rating is refused, naming its row) and keep the rows that count as positive
        feedback.

        ``train`` may also be a users x items scipy.sparse matrix (as implicit and LightFM
        take it): each stored entry is an interaction, ids are the row and column numbers
        (:func:`recfm.datasets.interactions_frame` gives other ids)."""
        if sp.issparse(train):
            from ..datasets import interactions_frame

            train = interactions_frame(train)
        check_interactions(train, what)  # ids and ratings without NaN, as for every model
        if self.min_rating is not None:
            return rated_at_least(train, self.min_rating, what)
        if "rating" in train.columns and pd.api.types.is_numeric_dtype(train["rating"].dtype):
            negative = train["rating"].to_numpy() < 0
            if negative.any():
                # LightFM's interactions mark negatives with -1; here every row is a positive
                warnings.warn(
                    f"{what} has {int(negative.sum())} interaction(s) with a negative rating "
                    f"(e.g. {plain(train['rating'].to_numpy()[negative][0])!r}), read as "
                    "positives like every other row since min_rating is not set; pass "
                    "min_rating=0 (or 1) to keep only the positive ones",
                    UserWarning, stacklevel=3)
        return train

    def fit(
        self: _R,
        train: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> _R:
        """Fit on ``train`` (columns ``user_id, item_id`` [, ``rating``], or a users x items
        scipy.sparse matrix: see :meth:`positives`); returns self."""
        self.check_params()
        rated = train
        train = self.positives(train)
        user_codes, user_ids = pd.factorize(train["user_id"], sort=True)
        item_codes, item_ids = pd.factorize(train["item_id"], sort=True)
        seen = binary_csr(user_codes.astype(np.int32), item_codes.astype(np.int32),
                          (len(user_ids), len(item_ids)))
        self.user_ids_ = pd.Index(user_ids)
        self.item_ids_ = pd.Index(item_ids)
        self.seen_ = seen
        self._fit(seen)
        self.rated_below_ = self.below_min_rating(rated)
        return self

    def below_min_rating(self, train: Any) -> sp.csr_matrix | None:
        """Binary users x items CSR (the model's rows and columns) of ``train``'s
        interactions rated below ``min_rating`` by the model's users on its items; None
        without ``min_rating`` or without such interactions."""
        if self.min_rating is None:
            return None
        if sp.issparse(train):
            from ..datasets import interactions_frame

            train = interactions_frame(train)
        low = train[train["rating"].to_numpy() < self.min_rating]
        r = self.user_ids_.get_indexer(low["user_id"])
        c = self.item_ids_.get_indexer(low["item_id"])
        keep = (r >= 0) & (c >= 0)
        if not keep.any():
            return None
        return binary_csr(r[keep], c[keep], self.seen_.shape)

    def _fit(self, user_items: sp.csr_matrix) -> None:
        """Fit on the binary users × items CSR whose rows/columns follow ``user_ids_``/``item_ids_``.

        Matrix-only models implement this (and :meth:`_top_n`); models that need the frames
        themselves (the FM) override :meth:`fit` and :meth:`recommend` instead.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _fit or override fit")

    def _top_n(
        self, rows: np.ndarray, n: int, exclude_seen: bool, candidates: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item indices and scores for user rows ``rows`` among the catalogue
        indices ``candidates`` (None: every item); pad with -1."""
        raise NotImplementedError(f"{type(self).__name__} must implement _top_n or override recommend")

    # -- recommending ------------------------------------------------------------------
    def user_rows(self, user_ids: Iterable) -> np.ndarray:
        """Row index of each external user id; unknown ids raise a KeyError naming them.

        Ids are matched as the CLI matches them (:func:`recfm.datasets.ids.ids_like`):
        against integer ids, the text ``'5'`` is 5 (``'007'`` is not); against text ids,
        5 is ``'5'``. ``user_ids`` is one id or any collection of them (see
        :func:`recfm.datasets.ids.as_ids`).
        """
        check_is_fitted(self, "seen_")
        ids, rows = id_positions(self.user_ids_, user_ids, "user_ids")
        if (rows < 0).any():
            unknown = ids[rows < 0]
            raise KeyError(
                f"{len(unknown)} user id(s) not seen in training, e.g. {plain(unknown[0])!r}; "
                f"{type(self).__name__} cannot recommend for unknown users"
                + ("" if not self.supports_cold_start else " without their attributes (pass users=)")
                + kind_note(unknown, self.user_ids_, "user")
                + min_rating_hint(self.min_rating)
            )
        return rows.astype(np.int64)

    def _candidate_indices(self, items: Iterable, what: str = "items=") -> np.ndarray:
        """Catalogue index of each item id in ``items=``; unknown ids raise a KeyError naming one."""
        return candidate_positions(self.item_ids_, items, what)

    def check_options(self, options: dict[str, Any]) -> None:
        """Refuse the keyword arguments of a ``recommend`` call that this model does not take
        (beyond its own parameters, only :data:`IGNORED_OPTIONS` are accepted, and ignored):
        a TypeError names the first, as Python does for a function without ``**kwargs``."""
        unknown = sorted(set(options) - IGNORED_OPTIONS)
        if unknown:
            takes = [p for p in inspect.signature(type(self).recommend).parameters
                     if p not in ("self", "user_ids", "options", "kwargs")]
            raise TypeError(
                f"{type(self).__name__}.recommend() got an unexpected keyword argument "
                f"{unknown[0]!r}; it takes {', '.join(takes)} (and ignores "
                f"{', '.join(sorted(IGNORED_OPTIONS))})"
            )

    def _request(self, user_ids: Iterable, n: int, items: Iterable | None,
                 options: dict[str, Any]) -> tuple[pd.Index, int, np.ndarray | None]:
        """The checked parts of a ``recommend`` call, before any work: the users as ids of
        the model's kind (what the frame's ``user_id`` echoes), ``n`` (at most the catalogue:
        no buffers sized by a huge ``n``) and the candidates' catalogue indices (None: every
        item)."""
        n = check_positive_int(n, "n")
        self.check_options(options)
        check_is_fitted(self, "seen_")
        ids = ids_like(as_ids(user_ids, "user_ids"), self.user_ids_)
        candidates = None if items is None else self._candidate_indices(items)
        return ids, min(n, self.seen_.shape[1]), candidates

    def recommend(
        self,
        user_ids: Iterable,
        n: int = 10,
        exclude_seen: bool = True,
        items: Iterable | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """Top-``n`` items for each user in ``user_ids`` (external ids).

        Parameters
        ----------
        user_ids : id or collection of ids
            One user id, or a list, tuple, set, generator, array, Series or Index of them,
            matched with the model's ids by their text as the CLI does (``'5'`` is user 5
            of a model with integer ids; see :meth:`user_rows`).
        n : int
            Items per user.
        exclude_seen : bool
            Leave out each user's training items (and those rated below ``min_rating``).
        items : collection of item ids, optional
            Rank only these catalogue items (candidates), ids matched as ``user_ids``; an id
            outside the catalogue raises a KeyError naming it.
        **options
            Only ``users=`` (:data:`IGNORED_OPTIONS`: an attribute frame, which
            :func:`recfm.evaluation.evaluate` passes to every cold-start model) is accepted,
            and ignored by models that rank without user attributes. Any other keyword
            (``context=``, ``history=`` of a model that does not take them, a misspelling)
            raises a TypeError naming it.

        Returns
        -------
        DataFrame with columns ``user_id, item_id, rank, score``; ``rank`` starts at 1 and
        ``user_id`` holds the users as the model's ids. A user with fewer than ``n``
        eligible items gets fewer rows (``n`` above the catalogue size is the whole
        catalogue).
        """
        ids, n, candidates = self._request(user_ids, n, items, options)
        rows = self.user_rows(ids)
        idx, scores = self._top_n(rows, n, exclude_seen, candidates)
        return self.to_frame(ids.to_numpy(), idx, scores)

    def seen_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """Seen-items CSR of user rows ``rows`` (training positives); a row of -1 (a new
        user) is empty."""
        return _rows_of(self.seen_, rows)

    def excluded_rows(self, rows: np.ndarray | None = None) -> sp.csr_matrix:
        """What ``exclude_seen`` excludes for user rows ``rows`` (None: every user): the
        training positives and the items rated below ``min_rating`` (``rated_below_``)."""
        rows = np.arange(self.seen_.shape[0]) if rows is None else rows
        seen = self.seen_rows(rows)
        below = getattr(self, "rated_below_", None)
        if below is None:
            return seen
        out = (seen + _rows_of(below, rows)).tocsr()
        out.data[:] = 1.0
        return out

    def recommend_all(self, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``n`` items for every user seen in training."""
        check_is_fitted(self, "seen_")
        return self.recommend(self.user_ids_, n=n, exclude_seen=exclude_seen)

    def to_frame(
        self, user_ids: np.ndarray, items: np.ndarray, scores: np.ndarray
    ) -> pd.DataFrame:
        """Long DataFrame from (n_users, n) item-index and score arrays (-1 = padding)."""
        return recommendation_frame(user_ids, self.item_ids_, items, scores)

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Save the fitted model to the folder ``path`` (JSON + ``.npz``, no pickle).

        ``overwrite=True`` replaces a model saved there (recfm's own files only: anything
        else in the folder is kept); a crash at any point leaves the old model or the new
        one. See :mod:`recfm.recommenders.persistence` for the format and guarantees.
        """
        from .persistence import save_recommender

        return save_recommender(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recommender:
        """Load a model saved by :meth:`save`; the folder must hold this class (or a subclass).

        ``recfm.recommenders.load(path)`` loads whichever recommender a folder holds.
        """
        from .persistence import load_recommender

        return load_recommender(path, expected=None if cls is Recommender else cls)

    def _params_to_json(self) -> dict:
        """Hyper-parameters as JSON values (a ``random_state`` that is not an int is dropped)."""
        params = self.get_params(deep=False)
        if "random_state" in params and not isinstance(params["random_state"], (int, type(None))):
            params["random_state"] = None
        return params

    @classmethod
    def _from_json_params(cls, params: dict) -> Recommender:
        """An unfitted instance from :meth:`_params_to_json` output."""
        unknown = set(params) - set(cls._param_names())
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
        return cls(**params)

    def _get_state(self) -> tuple[dict, dict]:
        """Fitted scalars and arrays to save, as declared in ``_state_scalars`` / ``_state_arrays``."""
        return ({k: getattr(self, k) for k in self._state_scalars},
                {k: getattr(self, k, None) for k in self._state_arrays})

    def _state_dims(self, state: dict) -> dict[str, int]:
        """Sizes named in ``_state_arrays`` beyond ``n_users`` and ``n_items``, from the
        hyper-parameters (already set on ``self``) and the saved scalars ``state``."""
        return {}

    def _set_state(self, state: dict, arrays: dict) -> None:
        """Set the fitted attributes from checked saved values (ids and ``seen_`` are set)."""
        for k in self._state_scalars:
            setattr(self, k, state[k])
        for k, v in arrays.items():
            setattr(self, k, v)


def _rows_of(X: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Rows ``rows`` of ``X``; a row of -1 (a new user) is empty."""
    rows = np.asarray(rows, dtype=np.int64)
    out = X[np.maximum(rows, 0)]
    if (rows < 0).any():
        out = (sp.diags((rows >= 0).astype(np.float32)) @ out).tocsr()
        out.eliminate_zeros()
    return out


def binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Binary float32 CSR of ``shape`` with an entry at each (``rows``, ``cols``) pair:
    implicit feedback, where a repeated pair counts once; indices sorted."""
    out = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    out.sum_duplicates()
    out.data[:] = 1.0
    out.sort_indices()
    return out


def id_positions(index: pd.Index, values: Any, what: str) -> tuple[pd.Index, np.ndarray]:
    """``values`` (one id or a collection, see :func:`recfm.datasets.ids.as_ids`) as ids of
    ``index``'s kind (:func:`recfm.datasets.ids.ids_like`: matched by their text), and the
    position of each in ``index`` (-1: absent). ``what`` names the argument in errors.

    ``index`` is unique (a model's ids); ids it holds as they are cost this one lookup."""
    ids = as_ids(values, what)
    positions = index.get_indexer(ids)
    if (positions < 0).any():
        ids = ids_like(ids, index)
        positions = index.get_indexer(ids)
    return ids, positions


def candidate_positions(item_ids: pd.Index, items: Iterable, what: str = "items=") -> np.ndarray:
    """Catalogue position of each candidate item id (``items=``, or the argument ``what``
    names), matched by their text (:func:`id_positions`); a KeyError names unknown ids."""
    ids, idx = id_positions(item_ids, items, what)
    if (idx < 0).any():
        unknown = ids[idx < 0]
        raise KeyError(
            f"{len(unknown)} item id(s) in {what} are not in the catalogue, "
            f"e.g. {plain(unknown[0])!r}" + kind_note(unknown, item_ids, "item")
        )
    return idx.astype(np.int64)


def recommendation_frame(
    user_ids: np.ndarray, item_ids: pd.Index, items: np.ndarray, scores: np.ndarray
) -> pd.DataFrame:
    """``user_id, item_id, rank, score`` rows from (n_users, n) item-index and score arrays.

    ``item_ids`` maps item indices to external ids; ``-1`` (padding) rows are dropped, so a
    user with fewer than n eligible items gets fewer rows. ``rank`` starts at 1.
    """
    n_users, n = items.shape
    valid = items.ravel() >= 0
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.asarray(user_ids), n)[valid],
            "item_id": pd.Index(item_ids).to_numpy()[np.maximum(items.ravel(), 0)][valid],
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int32), n_users)[valid],
            "score": scores.ravel().astype(np.float64)[valid],
        }
    )
