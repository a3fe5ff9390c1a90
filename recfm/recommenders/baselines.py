"""Baselines every FM is judged against: popularity and ``implicit``'s CPU MF models."""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from .._utils import (
    check_finite_number,
    check_is_fitted,
    check_n_threads,
    check_positive_int,
    check_random_state,
)
from ..ranking import top_n
from .base import Recommender, id_positions
from .persistence import Dense


class Popularity(Recommender):
    """Recommend the items with the most training users, the same list for everybody.

    New users (absent from training) get the plain most-popular list, so popularity is the
    baseline of the cold-start protocol.

    Parameters
    ----------
    min_rating : float or None
        Ratings below it are not positives (see :class:`Recommender`).
    """

    supports_cold_start = True
    _state_arrays = {"item_popularity_": Dense("float32", ("n_items",), low=0.0)}

    def user_rows(self, user_ids) -> np.ndarray:
        """Row of each user (matched as in :meth:`Recommender.user_rows`); -1 for users
        unknown to training (they get the global list)."""
        check_is_fitted(self, "seen_")
        return id_positions(self.user_ids_, user_ids, "user_ids")[1].astype(np.int64)

    def _fit(self, user_items: sp.csr_matrix) -> None:
        counts = np.asarray(user_items.sum(axis=0)).ravel().astype(np.float32)
        self.item_popularity_ = counts

    def _top_n(self, rows, n, exclude_seen, candidates=None):
        # Popularity is a rank-1 "factor model": score(u, i) = 1 · count_i.
        users = np.ones((len(rows), 1), dtype=np.float32)
        items = self.item_popularity_[:, None]
        exclude = self.excluded_rows(rows) if exclude_seen else None
        return top_n(users, items, n, exclude=exclude, candidates=candidates)


class _ImplicitMF(Recommender):
    """Shared wrapper around an ``implicit`` CPU matrix-factorisation model."""

    verbose: bool  # hyper-parameters of every subclass
    factors: int
    iterations: int
    random_state: int | np.random.Generator | None
    _state_arrays = {
        "user_factors": Dense("float32", ("n_users", "n_columns")),
        "item_factors": Dense("float32", ("n_items", "n_columns")),
    }
    #: Factor columns implicit stores beyond ``factors`` (BPR keeps an item-bias column).
    _extra_columns = 0
    #: The real-valued hyper-parameters: name -> whether it must be > 0 (else >= 0).
    _numbers: ClassVar[dict[str, bool]] = {}

    def check_params(self) -> None:
        """Raise ``ValueError`` naming the first invalid hyper-parameter, before any work
        (``implicit`` itself takes ``factors=0`` with thousands of BLAS errors and a model of
        zeros, and fails deep inside numpy on ``factors=8.5``): ``factors`` and
        ``iterations`` positive integers, the rates and penalties finite numbers (``> 0``
        or ``>= 0``, see each class), ``random_state`` and ``n_threads`` as every recfm
        model takes them."""
        super().check_params()
        check_positive_int(self.factors, "factors")
        check_positive_int(self.iterations, "iterations")
        for name, positive in self._numbers.items():
            check_finite_number(getattr(self, name), name, positive=positive)
        if not isinstance(self.random_state, (np.random.RandomState, np.random.Generator)):
            check_random_state(self.random_state)  # validated without a draw from the user's own

    def _make_model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _get_state(self) -> tuple[dict, dict]:
        return {}, {"user_factors": self.model_.user_factors, "item_factors": self.model_.item_factors}

    def _state_dims(self, state: dict) -> dict[str, int]:
        return {"n_columns": check_positive_int(self.factors, "factors") + self._extra_columns}

    def _set_state(self, state: dict, arrays: dict) -> None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            model = self._make_model()
        model.user_factors = arrays["user_factors"]
        model.item_factors = arrays["item_factors"]
        self.model_ = model

    def _fit(self, user_items: sp.csr_matrix) -> None:
        from threadpoolctl import threadpool_limits

        # implicit warns that a multi-threaded BLAS slows its own threads down (ALS up to
        # 10x): pin BLAS to one thread while the model is built and fitted only.
        with threadpool_limits(limits=1, user_api="blas"):
            self.model_ = self._make_model()
            self.model_.fit(user_items, show_progress=self.verbose)
        if not (
            np.isfinite(self.model_.user_factors).all()
            and np.isfinite(self.model_.item_factors).all()
        ):
            raise FloatingPointError(
                f"{type(self).__name__} diverged (non-finite factors); "
                "try a lower learning_rate or a higher regularization"
            )

    def _top_n(self, rows, n, exclude_seen, candidates=None):
        if candidates is not None:
            # implicit ranks the listed items only (sorted; a repeated one would be ranked twice)
            candidates = np.unique(candidates)
            if len(candidates) == 0:
                return np.full((len(rows), 0), -1, np.int32), np.zeros((len(rows), 0), np.float32)
        ids, scores = self.model_.recommend(
            rows,
            self.excluded_rows(rows),  # only filters: recalculate_user is off
            N=n,
            filter_already_liked_items=exclude_seen,
            items=candidates,
        )
        ids = np.atleast_2d(ids).astype(np.int32)
        scores = np.atleast_2d(scores).astype(np.float32)
        # implicit fills the slots beyond the eligible items (N above their number) with
        # filtered items scored -FLT_MAX (or -inf, or id -1): padding, not recommendations
        invalid = ~np.isfinite(scores) | (ids < 0) | (scores <= np.finfo(np.float32).min)
        ids[invalid] = -1
        return ids, scores


class ImplicitALS(_ImplicitMF):
    """``implicit``'s conjugate-gradient ALS (Hu, Koren & Volinsky) on binary feedback.

    Parameters
    ----------
    factors, iterations : int > 0
        Passed to :class:`implicit.cpu.als.AlternatingLeastSquares`.
    regularization : float >= 0
        Its L2 penalty.
    alpha : float > 0
        Its confidence weight of a positive.
    n_threads : int or None
        Threads for ``implicit`` (None: all cores; more than the cores available are
        capped, with a warning).
    random_state : int, numpy Generator or None
        Seed passed to ``implicit`` (a RandomState seeds a Generator, as
        :func:`recfm._utils.check_random_state` does).
    min_rating : float or None
        Ratings below it are not positives.
    verbose : bool
        Show implicit's progress bar.

    Every hyper-parameter is checked before any work (a ValueError names it).
    """

    _numbers = {"regularization": False, "alpha": True}

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 2.0,
        alpha: float = 1.0,
        iterations: int = 15,
        n_threads: int | None = None,
        random_state: int | None = 0,
        min_rating: float | None = None,
        verbose: bool = False,
    ):
        super().__init__(min_rating=min_rating)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    def _make_model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            num_threads=check_n_threads(self.n_threads),
            random_state=check_random_state(self.random_state),
        )


class ImplicitBPR(_ImplicitMF):
    """``implicit``'s Bayesian Personalised Ranking (Hogwild SGD, popularity-proportional negatives).

    Parameters
    ----------
    factors, iterations : int > 0
        Passed to :class:`implicit.cpu.bpr.BayesianPersonalizedRanking`.
    learning_rate : float > 0
        Its SGD step.
    regularization : float >= 0
        Its L2 penalty.
    n_threads : int or None
        Threads for ``implicit`` (None: all cores; more than the cores available are
        capped, with a warning). With more than one, runs are not reproducible (below).
    random_state : int, numpy Generator or None
        Seed passed to ``implicit`` (a RandomState seeds a Generator, as
        :func:`recfm._utils.check_random_state` does).
    min_rating : float or None
        Ratings below it are not positives.
    verbose : bool
        Show implicit's progress bar.

    Every hyper-parameter is checked before any work (a ValueError names it).

    Notes
    -----
    implicit's multi-threaded BPR is Hogwild SGD: its threads update shared factors in an
    order the scheduler decides, so two fits with the same ``random_state`` and more than one
    thread give different factors and lists (seen on ML-100K with 2 threads: every run
    differs). With ``n_threads=1`` the same seed gives the same model, bit for bit.
    """

    _extra_columns = 1
    _numbers = {"learning_rate": True, "regularization": False}

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.001,
        iterations: int = 50,
        n_threads: int | None = None,
        random_state: int | None = 0,
        min_rating: float | None = None,
        verbose: bool = False,
    ):
        super().__init__(min_rating=min_rating)
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    def _make_model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=check_n_threads(self.n_threads),
            random_state=check_random_state(self.random_state),
        )
