"""FMRecommender: feature builder + factorization machine + folded top-N.

The trained FM is folded into item vectors ``I = [Vᵀt, b(t)]`` once after ``fit`` (and
again after ``partial_fit``, or before ranking when ``model_`` was trained since); a
query (a known user, a new user described by attributes, either one in a context) becomes
``U = [Vᵀq, 1]`` at call time, and top-N is the blocked product ``U @ I.T`` with a partial
sort (:func:`recfm.ranking.top_n`). Scores returned are the full FM score ``y(q, t)``.
"""
from __future__ import annotations

import copy
import dataclasses
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import DataError, check_is_fitted, check_positive_int, check_random_state, plain
from ..datasets import NO_TIMES, interactions_frame
from ..datasets.ids import as_ids, frame_ids_like, ids_like
from ..features import (
    Categorical,
    Design,
    FeatureBuilder,
    History,
    MultiValued,
    Numeric,
    RecentItems,
)
from ..features.builder import frame_from_json, frame_to_json, ids_of_kind
from ..metrics import METRICS, ranking_metrics
from ..model import FactorizationMachine
from ..ranking import fold, similar_items, similar_users, top_n
from ..split import check_split, random_split
from .base import Recommender, binary_csr, min_rating_hint
from .matrix_rows import MatrixRows
from .persistence import CSR, Dense

AUTO = "auto"
# attributes only on the user side: what serves users absent from training best, since a
# user id column soaks up what the attributes would otherwise have to learn
AUTO_ATTRIBUTES = "auto-attributes"
# ids, item attributes and the user's training items (History): on ML-100K the History field
# does what user attributes would (validation preferred it without them), and the item
# attributes still help the item side
AUTO_HISTORY = "auto-history"


def auto_feature_specs(frame: pd.DataFrame | None, id_column: str) -> list:
    """Attribute columns of ``frame`` worth turning into FM features, with a field each.

    Lists (genres) become :class:`MultiValued`; numbers with many values (age, year) are
    binned in quantiles; other columns become :class:`Categorical` unless nearly every row
    has its own value (titles, zip codes), which would only add noise.
    """
    if frame is None:
        return []
    specs: list = []
    n = max(len(frame), 1)
    for col in frame.columns:
        if col == id_column:
            continue
        s = frame[col]
        first = s.dropna().iloc[0] if s.notna().any() else None
        if isinstance(first, (list, tuple, np.ndarray)):
            specs.append(MultiValued(col))
        elif pd.api.types.is_bool_dtype(s):
            specs.append(Categorical(col))
        elif pd.api.types.is_numeric_dtype(s):
            n_unique = s.nunique()
            if n_unique > 0.5 * n:  # an identifier or a zip code, not a quantity
                continue
            if n_unique > 12:
                specs.append(Numeric(col, bins=8))
            else:
                specs.append(Categorical(col))
        else:
            if s.nunique() <= 0.2 * n:
                specs.append(Categorical(col, min_count=2))
    return specs


class FMRecommender(Recommender):
    """Top-N recommender built on a factorization machine.

    Parameters
    ----------
    builder : FeatureBuilder, "auto", "auto-attributes", "auto-history" or None
        How frames become FM rows. ``None``: user and item ids only (the FM is then biased
        matrix factorisation). ``"auto"``: ids plus every usable attribute column of the
        ``users`` and ``items`` frames given to ``fit`` (see :func:`auto_feature_specs`).
        ``"auto-attributes"``: the same without the user id column, so that user attributes
        carry everything learnt about users: the better choice when most users to serve are
        absent from training (cold start). ``"auto-history"``: user and item ids, the
        ``items`` frame's attribute columns and the user's training items as a
        :class:`~recfm.features.History` field (``1/sqrt(n)`` weights); no user attributes.
        The builder passed in is never modified: ``fit`` works on a copy.
    model : FactorizationMachine or None
        Hyper-parameters of the FM (a copy is fitted). ``None``: the defaults.
    min_rating : float or None
        Interactions rated below it are not positives: the model is trained on the rest
        only. They are still never recommended back to their user (``rated_below_``).
    block_size : int or None
        Users per scoring block in ``recommend`` (caps memory); None: automatic.
    validation_metric : str, default "ndcg@10"
        What ``fit(validation=...)`` measures after each epoch: ``name@k`` for a metric of
        :mod:`recfm.metrics` (ndcg, precision, recall, map, hit_rate, mrr).
    validation_users : int or None, default 2000
        Validation users ranked after each epoch: a seeded sample of this many (drawn once
        per fit), so that validation costs a small fraction of an epoch; None: all of them.
    validation_window : int, default 3
        Early stopping watches the mean of the last ``validation_window`` validation scores
        (``FactorizationMachine.fit(smoothing=...)``): a noisy curve then neither stops
        training at a lucky early epoch nor keeps it. 1: the raw scores.

    Attributes
    ----------
    builder_ : FeatureBuilder
        The fitted feature builder.
    model_ : FactorizationMachine
        The fitted FM.
    item_vectors_ : ndarray of shape (n_items, n_factors + 1), float32
        Folded item vectors ``[Vᵀt, b(t)]`` of the catalogue ``item_ids_``. They are
        refolded, before they are used or read, whenever ``model_`` has changed since they
        were folded (``model_.n_updates_`` counts its fit and partial_fit calls), so a
        ``rec.model_.partial_fit(...)`` called directly never leaves ``recommend`` ranking
        with stale vectors while ``score`` uses the new ones. Growing ``builder_``
        directly is refused instead (it would leave users and items without seen items):
        grow with :meth:`partial_fit`.
    user_ids_, item_ids_ : pandas.Index
        External ids of the training users and of the catalogue (in row order).
    seen_ : csr_matrix of shape (n_users, n_items)
        Training positives, excluded from recommendations by default.
    rated_below_ : csr_matrix of shape (n_users, n_items) or None
        Training interactions rated below ``min_rating`` (of the model's users and
        items), excluded as well; None when there are none.
    """

    # fitted attributes whose type the first assignment does not tell
    _training_fold: tuple[Any, np.ndarray, np.ndarray] | None  # kept training users' fold
    _added_items: pd.DataFrame | None
    _item_vectors: np.ndarray

    def __init__(
        self,
        builder: FeatureBuilder | str | None = None,
        model: FactorizationMachine | None = None,
        min_rating: float | None = None,
        block_size: int | None = None,
        validation_metric: str = "ndcg@10",
        validation_users: int | None = 2000,
        validation_window: int = 3,
    ):
        super().__init__(min_rating=min_rating)
        self.builder = builder
        self.model = model
        self.block_size = block_size
        self.validation_metric = validation_metric
        self.validation_users = validation_users
        self.validation_window = validation_window

    def _default_component(self, name: str) -> object | None:
        # model=None / builder=None mean these defaults, so their parameters nest as well
        if name == "model":
            return FactorizationMachine()
        if name == "builder":
            return FeatureBuilder()
        return None

    @property
    def supports_cold_start(self) -> bool:  # type: ignore[override]
        """True when the query side has user attributes, so new users can be served from
        them (a History field serves new users too, but from the ``history`` they are given)."""
        b = getattr(self, "builder_", None)
        if b is not None:
            return _has_attributes(b.user_features)
        return self.builder in (AUTO, AUTO_ATTRIBUTES) or (
            isinstance(self.builder, FeatureBuilder) and _has_attributes(self.builder.user_features)
        )

    # -- fitting -----------------------------------------------------------------------
    def _new_builder(self, users, items) -> FeatureBuilder:
        if self.builder is None:
            return FeatureBuilder()
        if isinstance(self.builder, str):
            if self.builder not in (AUTO, AUTO_ATTRIBUTES, AUTO_HISTORY):
                raise ValueError(
                    "builder must be a FeatureBuilder, 'auto', 'auto-attributes', "
                    f"'auto-history' or None; got {self.builder!r}"
                )
            if self.builder == AUTO_HISTORY:
                return FeatureBuilder(user_features=[History()],
                                      item_features=auto_feature_specs(items, "item_id"))
            user_specs = auto_feature_specs(users, "user_id")
            if self.builder == AUTO_ATTRIBUTES and not user_specs:
                raise DataError(
                    "builder='auto-attributes' needs a users frame with attribute columns"
                )
            return FeatureBuilder(
                user_features=user_specs,
                item_features=auto_feature_specs(items, "item_id"),
                use_user_ids=self.builder == AUTO,
            )
        if not isinstance(self.builder, FeatureBuilder):
            raise ValueError(
                f"builder must be a FeatureBuilder, 'auto' or None; got {type(self.builder).__name__}"
            )
        # the user's own class, not its base: a subclass's overrides must reach the fit
        return type(self.builder)(**self.builder.get_params(deep=False))

    def _new_model(self) -> FactorizationMachine:
        if self.model is None:
            return FactorizationMachine()
        if not isinstance(self.model, FactorizationMachine):
            raise ValueError(
                f"model must be a FactorizationMachine or None; got {type(self.model).__name__}"
            )
        return type(self.model)(**self.model.get_params(deep=False))

    def fit(
        self,
        train: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        validation: pd.DataFrame | float | None = None,
        early_stopping: int | None = None,
        callback: Callable[[int, FactorizationMachine, dict[str, float]], Any] | None = None,
        user_features: Any = None,
        item_features: Any = None,
        user_ids: Any = None,
        item_ids: Any = None,
    ) -> FMRecommender:
        """Build the design from ``train`` (+ ``users``/``items`` attributes) and train the FM.

        Parameters
        ----------
        train : DataFrame or scipy.sparse matrix
            Interactions ``user_id, item_id`` [, ``rating``, context columns], or a
            users x items matrix (each stored entry an interaction).
        users, items : DataFrame, optional
            Attribute frames (``user_id`` / ``item_id`` plus attribute columns).
        user_features, item_features : scipy.sparse matrix or ndarray, optional
            LightFM-style feature matrices (n_users x a, n_items x b) of a matrix ``train``.
            Given either, the design is :meth:`recfm.features.Design.from_matrices`
            (identity columns + these features; ``builder`` must be None) and every row and
            column of ``train`` is a user / item of the model, interactions or not. Such a
            model recommends and scores its own rows and columns; cold start from frames,
            ``add_items``, context, history and ``validation`` are refused; ``save`` keeps
            the two feature matrices.
        user_ids, item_ids : array-like, optional
            With a matrix ``train``: the id of each row / column (default their numbers).
        validation : DataFrame or float, optional
            Held-out interactions to measure ``validation_metric`` on after every epoch
            (``history_``), either a frame (pairs also in ``train`` are refused; users or
            items absent from ``train`` are left out) or a fraction in (0, 1) carved from
            ``train`` per user (:func:`recfm.split.random_split`, seeded by the model's
            ``random_state``; users with fewer than 5 interactions are not carved). Carved
            rows are **not** trained on. Each epoch, the model is folded and a seeded sample
            of ``validation_users`` validation users ranks every item but its training
            items with the same blocked top-N (:func:`recfm.ranking.top_n`) and the same
            metric code (:mod:`recfm.metrics`) as :func:`recfm.evaluation.evaluate`.
        early_stopping : int, optional
            Patience in epochs: stop when the validation metric has not improved for this
            many epochs and keep the best epoch's parameters (``model_.best_epoch_``).
            Needs ``validation``; ``model.n_epochs`` is then the maximum. The scores watched
            are moving averages over ``validation_window`` epochs. Measured by
            ``benchmarks/early_stopping.py`` (ML-100K and the synthetic data, ``fm`` and
            ``fm-warp``, 5 seeds): ``validation=0.2, early_stopping=5`` comes within 0.005
            NDCG@10 of the best fixed number of epochs (chosen on test) with fewer epochs in
            all; a 10 % split is noisier and stops too early (README).
        callback : callable, optional
            ``callback(epoch, model, metrics)`` after each epoch, with the
            :class:`FactorizationMachine` being trained and ``{'loss': ..., metric: ...}``.
            Return ``False`` or raise ``StopIteration`` to stop training (the model is then
            fitted with the current parameters, or the best epoch's with early stopping);
            other exceptions propagate.

        Returns
        -------
        self

        Attributes set besides those of the class: ``history_`` (the FM's per-epoch curves:
        ``'loss'`` and, with validation, ``validation_metric``) and ``validation_`` (the
        validation frame used, None without validation).
        """
        model = self._new_model()
        model.check_params()  # a bad setting fails before the design is built
        if user_features is not None or item_features is not None:
            return self._fit_matrices(model, train, users, items, validation, early_stopping,
                                      callback, user_features, item_features, user_ids, item_ids)
        if sp.issparse(train) and (user_ids is not None or item_ids is not None):
            from ..datasets import interactions_frame

            train = interactions_frame(train, user_ids, item_ids)
        elif user_ids is not None or item_ids is not None:
            raise DataError("user_ids / item_ids name the rows / columns of a matrix train; "
                            "a frame carries its ids in its user_id / item_id columns")
        rated = train
        train = self.positives(train)
        if validation is None and early_stopping is not None:
            raise ValueError("early_stopping needs validation= (a frame or a fraction of train)")
        check_positive_int(self.validation_window, "validation_window")
        val_frame = None
        if validation is not None:
            metric = _parse_metric(self.validation_metric)
            train, val_frame = self._validation_frames(train, validation, model.random_state)
        builder = self._new_builder(users, items)
        design = builder.fit_transform(train, users, items)
        monitor = None
        if val_frame is not None:
            monitor = _ValidationMonitor(builder, design, val_frame, metric,
                                         self.validation_users, model.random_state)
        model.fit(design, monitor=monitor, early_stopping=early_stopping, callback=callback,
                  smoothing=self.validation_window)
        self._set_fitted(builder, model, design.interactions)
        self.rated_below_ = self.below_min_rating(rated)
        self.validation_ = val_frame
        self._validation_carved = not isinstance(validation, (pd.DataFrame, type(None)))
        return self

    def _fit_matrices(self, model: FactorizationMachine, train: Any, users: Any, items: Any,
                      validation: Any, early_stopping: Any, callback: Any, user_features: Any,
                      item_features: Any, user_ids: Any, item_ids: Any) -> FMRecommender:
        """``fit`` from a users x items matrix and feature matrices (see :meth:`fit`)."""
        if not sp.issparse(train):
            raise DataError("user_features / item_features need train as a scipy.sparse users x "
                            f"items matrix; got {type(train).__name__}")
        if users is not None or items is not None:
            raise DataError("give attributes either as frames (users=, items=) or as matrices "
                            "(user_features=, item_features=), not both")
        if self.builder is not None:
            raise DataError("builder describes frames; it must be None when fitting from "
                            "user_features / item_features matrices")
        if validation is not None or early_stopping is not None:
            raise DataError("validation / early_stopping are not supported when fitting from "
                            "matrices; fit from frames (recfm.datasets.interactions_frame)")
        X = sp.csr_matrix(train, copy=True)
        rated = None
        if self.min_rating is not None:
            X.sum_duplicates()
            below = X.data < self.min_rating
            # copies: eliminate_zeros below compacts X's index arrays in place
            rated = sp.csr_matrix((below.astype(np.float32), X.indices.copy(), X.indptr.copy()),
                                  shape=X.shape)
            rated.eliminate_zeros()
            X.data[below] = 0.0
            X.eliminate_zeros()
            if X.nnz == 0:
                raise DataError(
                    f"train has no interaction with rating >= min_rating={self.min_rating}")
        design = Design.from_matrices(X, user_features, item_features, user_ids, item_ids)
        model.fit(design, callback=callback)
        rows = MatrixRows(design)
        self._set_fitted(rows, model, design.interactions)  # type: ignore[arg-type]
        self.rated_below_ = rated if rated is not None and rated.nnz else None
        self.validation_ = None
        return self

    @property
    def history_(self) -> dict[str, list[float]]:
        """Per-epoch curves of the last fit: ``'loss'`` and the validation metric, if any."""
        check_is_fitted(self, "model_")
        return self.model_.history_

    def validation_summary(self) -> str:
        """One line on the last fit's validation: best score, its epoch, epochs trained.

        Empty without validation. With a carved fraction, it reminds that those rows were not
        trained on, and which ``n_epochs`` a refit on all of them would take.
        """
        check_is_fitted(self, "model_")
        if self.validation_ is None:
            return ""
        name, k = _parse_metric(self.validation_metric)
        key = f"{name}@{k}"
        curve = self.history_.get(key, [])
        if not curve:
            return ""
        best = int(np.argmax(curve)) if self.model_.best_epoch_ is None else self.model_.best_epoch_
        kept = "kept (early stopping)" if self.model_.best_epoch_ is not None else "best; last kept"
        line = (f"validation {key}: {curve[best]:.4f} at epoch {best + 1} of {len(curve)} trained "
                f"({kept}) on {len(self.validation_):,} held-out interactions")
        if getattr(self, "_validation_carved", False):
            line += (f", carved from train and not trained on: refit with n_epochs={best + 1} "
                     f"(--epochs {best + 1}) to use them")
        return line

    def _validation_frames(self, train: pd.DataFrame, validation: Any, seed: Any
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training rows, validation rows) from a held-out frame or a fraction of train."""
        if isinstance(validation, pd.DataFrame):
            val = self.positives(validation, "validation")
            check_split(train, val, cold_start=True, test_name="validation")  # no pair in both
        elif isinstance(validation, numbers.Real) and not isinstance(validation, bool):
            if not 0.0 < float(validation) < 1.0:
                raise ValueError(f"validation as a fraction must be in (0, 1); got {validation!r}")
            seed = seed if isinstance(seed, (numbers.Integral, np.random.Generator)) else None
            train, val = random_split(train, test_size=float(validation), seed=seed)
        else:
            raise ValueError(
                "validation must be a DataFrame of held-out interactions or a fraction in (0, 1) "
                f"of train; got {type(validation).__name__}"
            )
        # only pairs of a training user and a training item can be ranked
        keep = (val["user_id"].isin(pd.unique(train["user_id"].to_numpy()))
                & val["item_id"].isin(pd.unique(train["item_id"].to_numpy())))
        val = val[keep.to_numpy()]
        if len(val) == 0:
            raise DataError(
                "the validation split is empty: no held-out interaction of a user and an item "
                "known to train (users need >= 5 interactions to be carved)"
            )
        return train, val.reset_index(drop=True)

    def _set_fitted(self, builder: FeatureBuilder, model: FactorizationMachine, interactions) -> None:
        seen = sp.csr_matrix(interactions, dtype=np.float32, copy=True)
        seen.data[:] = 1.0
        seen.sort_indices()
        self.builder_ = builder
        self.model_ = model
        self.user_ids_ = pd.Index(builder.user_index_)
        self.item_ids_ = pd.Index(builder.item_index_)
        self.seen_ = seen
        self.rated_below_: sp.csr_matrix | None = None
        # the attributes of the items add_items brought in (catalogue rows past the builder's)
        self._added_items = None
        self._fold_catalogue()

    # -- training on ---------------------------------------------------------------------
    def partial_fit(
        self,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        n_epochs: int | None = None,
        callback: Callable[[int, FactorizationMachine, dict[str, float]], Any] | None = None,
    ) -> FMRecommender:
        """Train on new interactions, growing the model with new users, items and values.

        More epochs of the fitted FM (:meth:`FactorizationMachine.partial_fit`: the same
        loss, Adagrad sums going on from where training stopped, a saved and loaded model
        included) on ``interactions`` only: pass the old interactions too to train on
        everything. Users, items and categorical values the model has not seen (in
        ``interactions`` or the ``users`` / ``items`` frames) get new rows and columns
        (:meth:`FeatureBuilder.partial_fit`; the FM's new parameters start as at ``fit``),
        and what the model knew keeps its columns. Afterwards everything answers with the
        new parameters: the item vectors are refolded (items added by :meth:`add_items`
        included), the kept vectors of the training users are dropped, the new
        interactions are in ``seen_`` (never recommended back) and in the log of History /
        RecentItems fields, those rated below ``min_rating`` in ``rated_below_``; so
        ``recommend``, ``score``, ``explain`` and ``similar_items`` agree as after ``fit``.

        The command line has no counterpart (``recfm fit`` trains from scratch): load a
        saved model, call this, save it again.

        Parameters
        ----------
        interactions : DataFrame or scipy.sparse matrix
            ``user_id, item_id`` [, ``rating``, the context columns], as given to ``fit``
            (with ``min_rating``, only ratings >= it are trained on). A users x items matrix
            is read as ``fit`` reads it (ids are the row and column numbers); for a model
            fitted from matrices it must have the fitted shape, its rows and columns the
            model's.
        users, items : DataFrame, optional
            Attributes of new users / items (``user_id`` / ``item_id`` plus the fitted
            attribute columns); rows of known ids replace their stored attributes. Needed
            for new ids when the builder has attributes on that side (as at ``fit``, a
            missing row follows each field's ``missing`` policy). An item added by
            :meth:`add_items` that has interactions here joins the builder with the
            attributes given to ``add_items`` unless ``items`` gives it new ones.
        n_epochs : int, optional
            Epochs to run (default: the model's ``n_epochs``).
        callback : callable, optional
            ``callback(epoch, model, {'loss': ...})`` after every epoch; return ``False``
            or raise ``StopIteration`` to stop (the epochs run are kept).

        Returns
        -------
        self

        Raises
        ------
        DataError, ValueError
            Before any work: a bad ``n_epochs``, ids of another kind than the model's
            (text ids on a model with integer ids, as ``fit`` refuses between its frames),
            missing columns, no interaction left by ``min_rating``; growth of a model fitted
            from matrices (its feature matrices fix its users and items). An error during
            training (a callback's, a divergence) leaves the recommender as it was: for
            that, the FM's parameters and Adagrad sums are copied while it trains, so a
            call needs their memory twice over.

        Notes
        -----
        No early stopping or validation here; ``validation_`` and ``validation_summary``
        still describe the last ``fit``. Negatives are drawn among the items that are not
        the user's positives, old or new; ``user_balance`` and popularity negatives count
        the samples of this call.
        """
        check_is_fitted(self, "seen_")
        if n_epochs is not None:
            n_epochs = check_positive_int(n_epochs, "n_epochs")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be callable (epoch, model, metrics); got {callback!r}")
        self.model_.check_params()
        self._refold_if_stale()  # a builder grown behind our back is refused here
        matrices = isinstance(self.builder_, MatrixRows)
        if matrices and (users is not None or items is not None):
            raise DataError(_MATRIX_GROWTH + "; users= and items= are refused")
        if matrices and sp.issparse(interactions):
            if interactions.shape != self.seen_.shape:
                raise DataError(f"interactions has shape {interactions.shape} but the model was "
                                f"fitted on a {self.seen_.shape[0]} x {self.seen_.shape[1]} matrix")
            interactions = interactions_frame(interactions, self.user_ids_, self.item_ids_)
        rated = interactions
        train = self.positives(interactions, "interactions")
        ids_of_kind(self.user_ids_, train["user_id"], "interactions", "user")
        ids_of_kind(self.item_ids_, train["item_id"], "interactions", "item")
        for frame, what, side, ref in ((users, "users", "user", self.user_ids_),
                                       (items, "items", "item", self.item_ids_)):
            if isinstance(frame, pd.DataFrame) and f"{side}_id" in frame.columns:
                ids_of_kind(ref, frame[f"{side}_id"], what, side)
        self._check_added_attributes()  # refused now if they could not be refolded after
        saved = None if matrices else self.builder_.saved_state()
        try:
            if matrices:
                design, user_ids, item_ids, added = self._matrix_design(train)
            else:
                design, user_ids, item_ids, added = self._grown_design(train, users, items)
            # old rows and columns to new (append-only: the old ones are all there)
            urow, icol = user_ids.get_indexer(self.user_ids_), item_ids.get_indexer(self.item_ids_)
            shape = (len(user_ids), len(item_ids))
            old, new = self.seen_.tocoo(), design.interactions.tocoo()
            seen = binary_csr(np.concatenate([urow[old.row], new.row]),
                           np.concatenate([icol[old.col], new.col]), shape)
            below = None
            if self.rated_below_ is not None:
                low = self.rated_below_.tocoo()
                below = binary_csr(urow[low.row], icol[low.col], shape)
            design = dataclasses.replace(design, interactions=seen[:, :design.item_features.shape[0]])
            self._train_more(design, n_epochs, callback)
        except BaseException:
            if saved is not None:
                self.builder_.restore_state(saved)
            raise
        self.user_ids_, self.item_ids_, self.seen_ = user_ids, item_ids, seen
        self.rated_below_ = _union(below, self.below_min_rating(rated))
        self._added_items = added
        self._fold_catalogue()
        return self

    def _grown_design(self, train: pd.DataFrame, users: Any, items: Any
                      ) -> tuple[Design, pd.Index, pd.Index, pd.DataFrame | None]:
        """Grow the builder with ``train`` and the frames; the design of ``train`` in the
        grown space, the new user ids and catalogue, and the items still only added."""
        b = self.builder_
        b.partial_fit(train, users, self._with_added_attributes(train, items))
        design = b.transform(train)
        added = self._added_items
        item_ids = pd.Index(b.item_index_)
        if added is not None:
            keep = ~added["item_id"].isin(item_ids).to_numpy()
            added = added[keep].reset_index(drop=True) if keep.any() else None
        if added is not None:
            item_ids = item_ids.append(pd.Index(added["item_id"]))
        return design, pd.Index(b.user_index_), item_ids, added

    def _with_added_attributes(self, train: pd.DataFrame, items: Any) -> Any:
        """``items`` plus the kept attributes of the added items ``train`` interacts with
        (those ``items`` does not describe anew)."""
        added = self._added_items
        if added is None:
            return items
        wanted = added["item_id"].isin(train["item_id"].to_numpy()).to_numpy()
        if isinstance(items, pd.DataFrame) and "item_id" in items.columns:
            wanted &= ~added["item_id"].isin(items["item_id"].to_numpy()).to_numpy()
        if not wanted.any():
            return items
        rows = added[wanted]
        return rows if items is None else pd.concat([items, rows], ignore_index=True)

    def _matrix_design(self, train: pd.DataFrame
                       ) -> tuple[Design, pd.Index, pd.Index, pd.DataFrame | None]:
        """The design of ``train`` on the rows of a model fitted from matrices (no growth)."""
        rows = self.builder_
        assert isinstance(rows, MatrixRows)
        r = self.user_ids_.get_indexer(train["user_id"])
        c = self.item_ids_.get_indexer(train["item_id"])
        for pos, column in ((r, "user_id"), (c, "item_id")):
            if (pos < 0).any():
                bad = train[column].to_numpy()[np.flatnonzero(pos < 0)[0]]
                raise DataError(f"{_MATRIX_GROWTH}: {column.replace('_', ' ')} {plain(bad)!r} "
                                "of interactions is not one of its rows or columns")
        pairs = binary_csr(r, c, self.seen_.shape)
        values = (train["rating"].to_numpy(np.float32) if "rating" in train.columns
                  else np.ones(len(train), np.float32))
        design = Design(user_features=rows.user_features_, item_features=rows.item_features_,
                        interactions=pairs, sample_users=r.astype(np.int32),
                        sample_items=c.astype(np.int32), sample_values=values,
                        user_ids=self.user_ids_.to_numpy(), item_ids=self.item_ids_.to_numpy(),
                        extra={"layout": dict(rows.layout)})
        return design, self.user_ids_, self.item_ids_, None

    def _train_more(self, design: Design, n_epochs: int | None, callback: Any) -> None:
        """``model_.partial_fit`` on ``design``; on any error the model is put back as it
        was (the same object, so that references to it stay valid)."""
        model = self.model_
        before = copy.deepcopy(vars(model))
        try:
            model.partial_fit(design, n_epochs=n_epochs, callback=callback)
        except BaseException:
            vars(model).clear()
            vars(model).update(before)
            raise

    # -- folded item vectors -----------------------------------------------------------
    @property
    def item_vectors_(self) -> np.ndarray:
        """Folded item vectors of the catalogue, refolded first when ``model_`` changed."""
        self._refold_if_stale()
        return self._item_vectors

    @item_vectors_.setter
    def item_vectors_(self, vectors: np.ndarray) -> None:
        # vectors folded from the current model_ and builder_ (a loaded model's)
        self._item_vectors = vectors
        self._fold_stamp = self._stamp()
        self._training_fold = None

    def _stamp(self) -> tuple:
        """What folded vectors depend on: the model object and its update count, and the
        builder's numbers of users and items."""
        b = self.builder_
        return (self.model_, int(getattr(self.model_, "n_updates_", 0)), len(b.user_index_),
                len(b.item_index_))

    def _refold_if_stale(self) -> None:
        """Refold the item vectors (and drop the kept training users' vectors) when
        ``model_`` is another object or has been trained since they were folded; refuse a
        ``builder_`` grown since, naming the way to grow."""
        stamp = self.__dict__.get("_fold_stamp")
        if getattr(self, "model_", None) is None or getattr(self, "builder_", None) is None:
            return
        now = self._stamp()
        if stamp is not None and stamp[2:] != now[2:]:
            raise DataError(
                f"builder_ has {now[2]} users and {now[3]} items but the recommender was built "
                f"with {stamp[2]} and {stamp[3]}: it grew outside FMRecommender.partial_fit "
                "(builder_.partial_fit called directly), so its new users and items have no "
                "seen items or catalogue rows here; grow the model with "
                "FMRecommender.partial_fit(interactions, users=..., items=...) instead"
            )
        if stamp is None or stamp[0] is not now[0] or stamp[1] != now[1]:
            self._fold_catalogue()

    def _fold_catalogue(self) -> None:
        """Fold the item vectors of the whole catalogue from the current model."""
        rows = self._item_rows(np.arange(len(self.item_ids_)))
        _, self.item_vectors_, _ = fold(self.model_, rows[:0], rows)

    def _check_added_attributes(self) -> None:
        """Refuse to build the rows of items added by add_items whose attributes were not
        kept (a model saved by a recfm that did not save them)."""
        if len(self.item_ids_) > len(self.builder_.item_index_) and getattr(
                self, "_added_items", None) is None:
            raise DataError(
                f"{len(self.item_ids_) - len(self.builder_.item_index_)} item(s) of this model "
                "were added by add_items in a recfm that did not save their attributes, so "
                "their vectors cannot be folded again nor scored by score/explain; refit the "
                "model (or fit it without them and add them again with add_items), or pass "
                "them through items= of explain"
            )

    # -- catalogue ---------------------------------------------------------------------
    def add_items(self, items: pd.DataFrame) -> FMRecommender:
        """Add new items, described by their attributes, to the catalogue without retraining.

        Their vectors are folded from their attributes alone (no id column: the model has
        none for them), and the attributes are kept (and saved), so that ``score``,
        ``explain`` and a later refold (after :meth:`partial_fit`, or after ``model_``
        changed) use them too. When :meth:`partial_fit` later meets interactions with an
        added item, the item joins the builder with these attributes and its own id column.

        Parameters
        ----------
        items : DataFrame
            ``item_id`` plus the item attribute columns the builder was fitted with. Ids
            already in the catalogue are refused (their vectors come from training).

            The ids must be of the catalogue's kind, as ``fit`` requires of every frame's
            ids: on a model with integer item ids, text ids (``'5003'``) and float ids
            (``5004.0``) are refused with a :class:`~recfm._utils.DataError` naming the
            column and both kinds, not converted. An id added becomes part of the model,
            and the conversion the queries apply (``'5003'`` matches ``5003``, as on the
            command line: :func:`recfm.datasets.ids.ids_like`) would accept ``'5003'`` yet
            keep ``'05003'`` text, an id an integer catalogue cannot hold: convert the
            column first (``items.astype({"item_id": "int64"})``). Integer ids of another
            width (int32) are stored as the catalogue's dtype.

        Returns
        -------
        self
        """
        check_is_fitted(self, "seen_")
        if not isinstance(items, pd.DataFrame) or "item_id" not in items.columns:
            raise DataError("items must be a DataFrame with an 'item_id' column")
        ids = ids_of_kind(self.item_ids_, items["item_id"], "items", "item")
        known = ids[self.item_ids_.get_indexer(ids) >= 0]
        if len(known):
            raise DataError(f"item id {plain(known[0])!r} is already in the catalogue; add only new items")
        if ids.dtype != items["item_id"].dtype:
            items = items.assign(item_id=ids.to_numpy())
        rows = self.builder_.item_rows(ids, items=items)
        if rows.nnz == 0:
            raise DataError(
                "the new items have no usable attributes: an ids-only model cannot score "
                "items it was not trained on"
            )
        vectors = self.item_vectors_  # refolded first if the model changed
        _, new_vectors, _ = fold(self.model_, rows[:0], rows)
        kept = items[["item_id", *self.builder_._attr_names("item")]].reset_index(drop=True)
        if self._added_items is not None:
            kept = pd.concat([self._added_items, kept], ignore_index=True)
        self._added_items = kept
        self._item_vectors = np.ascontiguousarray(np.vstack([vectors, new_vectors]))
        self.item_ids_ = self.item_ids_.append(ids)
        self.seen_ = sp.hstack(
            [self.seen_, sp.csr_matrix((self.seen_.shape[0], len(ids)), dtype=np.float32)],
            format="csr",
        )
        if self.rated_below_ is not None:
            self.rated_below_ = sp.hstack(
                [self.rated_below_,
                 sp.csr_matrix((self.seen_.shape[0], len(ids)), dtype=np.float32)],
                format="csr",
            )
        return self

    # -- queries -----------------------------------------------------------------------
    def query_rows(
        self,
        user_ids: Iterable,
        users: pd.DataFrame | None = None,
        context: pd.DataFrame | None = None,
        history: Any = None,
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """FM query rows (user features + context) and training row of each user (-1: new).

        ``context`` has one row (applied to every user) or one row per user, holding the
        context columns the builder was fitted with. ``history`` (see :meth:`recommend`)
        stands for the log of the users it names. Ids are matched with the model's as the
        command line matches them (see :meth:`recommend`).
        """
        check_is_fitted(self, "seen_")
        return self._query_rows(*self._ids_like(user_ids, users, history), context)

    def _ids_like(self, user_ids: Iterable, users: Any = None, history: Any = None
                  ) -> tuple[pd.Index, Any, Any]:
        """A request's user ids, ``users`` frame and ``history`` with their ids as the
        model's kind (:func:`recfm.datasets.ids.ids_like`): against integer ids the text
        ``'5'`` is 5 (``'007'`` stays text, a new id), against text ids 5 is ``'5'``."""
        ids = ids_like(as_ids(user_ids, "user_ids"), self.user_ids_)
        if isinstance(users, pd.DataFrame):
            users = frame_ids_like(users, "user_id", self.user_ids_)
        if isinstance(history, pd.DataFrame):
            history = frame_ids_like(frame_ids_like(history, "user_id", self.user_ids_),
                                     "item_id", self.item_ids_)
        elif isinstance(history, dict):
            history = self._dict_history_like(history)
        return ids, users, history

    def _dict_history_like(self, history: dict) -> dict:
        """A ``{user id: [item ids]}`` history with its ids as the model's kind (one
        conversion of all the item ids; the dict is rebuilt only when some change)."""
        keys = ids_like(pd.Index(list(history)), self.user_ids_)
        if keys.has_duplicates:
            dup = keys[keys.duplicated()][0]
            raise DataError(f"history names user {plain(dup)!r} twice (ids written alike, such "
                            "as 5 and '5', are one user)")
        lists = [np.atleast_1d(np.asarray([] if v is None else v, dtype=object))
                 for v in history.values()]
        flat = pd.Index(pd.Series(np.concatenate(lists) if lists else [], dtype=object)
                        .infer_objects())
        items = ids_like(flat, self.item_ids_)
        if items.dtype == flat.dtype and items.equals(flat):
            values: list = list(history.values())
        else:
            values = np.split(items.to_numpy(dtype=object), np.cumsum([len(v) for v in lists])[:-1])
        return dict(zip(keys.tolist(), values, strict=True))

    def _query_rows(self, ids: pd.Index, users: Any, history: Any, context: Any
                    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """:meth:`query_rows` of ids already matched to the model's kind (:meth:`_ids_like`)."""
        known = self.user_ids_.get_indexer(ids)
        described = known >= 0
        if history is not None:
            described |= _history_keys(history).get_indexer(ids) >= 0
        if users is None and not described.all():
            unknown = ids[~described]
            hint = (
                " (pass users= with their attributes for cold start)"
                if self.supports_cold_start
                else "; this model has no user attributes, so it cannot serve new users"
            )
            if self.builder_._log_infos():
                hint += "; pass history= with their items to serve them from those"
            hint += min_rating_hint(self.min_rating)
            raise KeyError(
                f"{len(unknown)} user id(s) not seen in training, e.g. {plain(unknown[0])!r}{hint}"
            )
        Xq = self.builder_.user_rows(ids, users=users, history=history)
        if context is not None and not self.builder_.context_features:
            raise DataError(
                "context given, but this model was fitted without context features "
                f"(context columns {list(context.columns)} would be ignored)"
            )
        if context is not None:
            Xc = self.builder_.context_rows(context)
            if Xc.shape[0] == 1 and len(ids) != 1:
                Xc = sp.csr_matrix(np.ones((len(ids), 1), dtype=np.float32)) @ Xc
            elif Xc.shape[0] != len(ids):
                raise DataError(
                    f"context has {Xc.shape[0]} rows; give one row for all users or one per "
                    f"user ({len(ids)})"
                )
            Xq = (Xq + Xc).tocsr()
        return Xq, known

    # the base takes **kwargs and ignores them; this model names the keywords it uses
    def recommend(  # type: ignore[override]
        self,
        user_ids: Iterable,
        n: int = 10,
        exclude_seen: bool = True,
        items: Sequence | None = None,
        context: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        history: Any = None,
    ) -> pd.DataFrame:
        """Top-``n`` items for each user, by full FM score.

        Parameters
        ----------
        user_ids : array-like
            External user ids; new ids need ``users`` (cold start).
        n : int
            Items per user.
        exclude_seen : bool
            Leave out each known user's training items.
        items : array-like, optional
            Rank only these catalogue item ids (candidates).
        context : DataFrame, optional
            Context columns (one row for everyone, or one per user). A model fitted with
            context features and called without a context ranks with every context column
            off (no hour, no platform): pass the context of the moment for the ranking it
            learnt. Context given to a model without context features is an error.
        users : DataFrame, optional
            Attributes of (new) users: ``user_id`` plus the fitted user columns.
        history : DataFrame or dict, optional
            For models with a :class:`~recfm.features.History` or
            :class:`~recfm.features.RecentItems` field: interactions standing for the logs
            of the users they name, as a frame ``user_id, item_id`` (+ ``timestamp``, which
            orders recent items; else row order) or a dict ``{user_id: [item ids]}``. A new
            user is served from its history alone, without retraining (its query vector
            is folded from those items exactly as a trained user's is from its training
            items); a known user's history replaces its training log. An empty list is an
            empty history (the ranking then rests on the other query features, or on the
            item biases alone). Item ids not in the catalogue raise, naming them. With
            ``exclude_seen``, the history's items are excluded as well.

        Returns
        -------
        DataFrame with columns ``user_id, item_id, rank, score``; ``user_id`` holds each
        request id as matched (below): a known user's as the model has it, a new one's as
        given.

        Notes
        -----
        Request ids meet the model's as on the command line
        (:func:`recfm.datasets.ids.ids_like`), in ``user_ids``, the ``user_id`` column of
        ``users``, and the users and items of ``history``: on a model with integer ids the
        text ``'5'`` is user 5 while ``'007'`` stays a new (text) id; on a model with text
        ids the integer 5 is ``'5'``.
        """
        n = check_positive_int(n, "n")
        check_is_fitted(self, "seen_")
        ids, users, history = self._ids_like(user_ids, users, history)
        U, c, known = self._query_vectors(ids, users, context, history)
        self._warn_if_untimed(history)
        candidates = None if items is None else self._candidate_indices(items)
        exclude = self.excluded_rows(known) if exclude_seen else None
        if exclude is not None and history is not None:
            exclude = self._with_history(exclude, ids, history)
        idx, scores = top_n(
            U, self.item_vectors_, n, exclude=exclude, candidates=candidates,
            block_size=self.block_size,
        )
        scores = scores + c[:, None]
        return self.to_frame(ids.to_numpy(), idx, scores)

    def _query_vectors(self, ids: pd.Index, users: pd.DataFrame | None,
                       context: pd.DataFrame | None, history: Any
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Folded query vectors U, constants c and training rows of ``user_ids``.

        Training users asked for without ``users``, ``context`` or ``history`` have fixed
        query rows, so theirs are folded once for every training user (as the item vectors
        are at fit), by the first such request for at least a quarter of them (a request
        for a few users folds just theirs): a model whose user rows are long (a History
        field holds each user's items) then ranks them as fast as an ids-only model. The
        kept vectors are dropped whenever the item vectors are refolded (``model_``
        changed). ``ids`` are matched to the model's kind (:meth:`_ids_like`)."""
        self._refold_if_stale()
        if users is None and context is None and history is None:
            known = self.user_ids_.get_indexer(ids)
            cache = getattr(self, "_training_fold", None)
            if cache is not None and cache[0] is not self.model_:
                cache = None
            if (known >= 0).all() and (cache is not None or 4 * len(ids) >= len(self.user_ids_)):
                if cache is None:
                    rows = self.builder_.user_rows(self.user_ids_)
                    U, _, c = fold(self.model_, rows, rows[:0])
                    cache = (self.model_, U, c)
                    self._training_fold = cache
                return cache[1][known], cache[2][known], known
        Xq, known = self._query_rows(ids, users, history, context)
        U, _, c = fold(self.model_, Xq, Xq[:0])
        return U, c, known

    def _with_history(self, seen: sp.csr_matrix, ids: pd.Index, history: Any) -> sp.csr_matrix:
        """``seen`` plus, for the users named in ``history``, the history's items (ids and
        history matched to the model's kind)."""
        keys, log = self.builder_._frame_log(history)
        at = keys.get_indexer(ids) if len(keys) else np.full(len(ids), -1)
        H = sp.csr_matrix((np.ones(len(log["user"]), np.float32), (log["user"], log["item"])),
                          shape=(max(len(keys), 1), seen.shape[1]))
        r = np.flatnonzero(at >= 0)
        Hq = H[at[r]].tocoo()
        extra = sp.csr_matrix((Hq.data, (r[Hq.row], Hq.col)), shape=seen.shape)
        out = (seen + extra).tocsr()
        out.data[:] = 1.0
        out.sort_indices()
        return out

    def recommend_all(self, n: int = 10, exclude_seen: bool = True, **kwargs: Any) -> pd.DataFrame:
        """Top-``n`` items for every training user (same options as :meth:`recommend`)."""
        check_is_fitted(self, "seen_")
        return self.recommend(self.user_ids_, n=n, exclude_seen=exclude_seen, **kwargs)

    def score(
        self,
        user_ids: Iterable,
        item_ids: Iterable,
        context: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        history: Any = None,
    ) -> np.ndarray:
        """Full FM score of each (user, item) pair, computed by the model's ``predict``
        (user ids matched as in :meth:`recommend`)."""
        check_is_fitted(self, "seen_")
        Xq, _ = self._query_rows(*self._ids_like(user_ids, users, history), context)
        idx = self._candidate_indices(item_ids, "item_ids")
        if len(idx) != Xq.shape[0]:
            raise ValueError(f"user_ids has {Xq.shape[0]} entries but item_ids has {len(idx)}")
        Xt = self._item_rows(idx)
        return self.model_.predict((Xq + Xt).tocsr())

    def _warn_if_untimed(self, history: Any) -> None:
        """Say that a request history read from a file without a time column (its times a
        placeholder 0, ``recfm.datasets.NO_TIMES``) gives the recent items in row order."""
        source = history.attrs.get(NO_TIMES) if isinstance(history, pd.DataFrame) else None
        recent = self.builder_._recent_info() if isinstance(source, str) else None
        if recent is not None:
            warnings.warn(
                f"{source} has no time column: the recent-items field {recent.spec!r} takes "
                "each user's last items in the file's row order (name the time column, e.g. "
                "--time-column, to order them by time)", UserWarning, stacklevel=3)

    def _item_rows(self, idx: np.ndarray) -> sp.csr_matrix:
        """Item rows of catalogue positions ``idx`` (items add_items added: from their kept
        attributes)."""
        if (idx >= len(self.builder_.item_index_)).any():
            self._check_added_attributes()
            return self.builder_.item_rows(self.item_ids_[idx], items=self._added_items)
        return self.builder_.item_rows(self.item_ids_[idx])

    # -- neighbours ----------------------------------------------------------------------
    def similar_items(self, item_ids: Iterable, n: int = 10) -> pd.DataFrame:
        """The ``n`` catalogue items closest to each of ``item_ids`` by cosine of their
        folded factor vectors ``Vᵀt`` (attributes included; the item bias is left out).

        Returns
        -------
        DataFrame with columns ``item_id, similar_item_id, rank, score``.
        """
        check_is_fitted(self, "seen_")
        n = check_positive_int(n, "n")
        idx = self._candidate_indices(item_ids, "item_ids")
        nb, scores = similar_items(self.item_vectors_, idx, n)
        return _neighbour_frame(self.item_ids_[idx], self.item_ids_, nb, scores, "item")

    def similar_users(self, user_ids: Iterable, n: int = 10) -> pd.DataFrame:
        """The ``n`` training users closest to each of ``user_ids`` by cosine of ``Vᵀq``.

        Returns
        -------
        DataFrame with columns ``user_id, similar_user_id, rank, score``.
        """
        check_is_fitted(self, "seen_")
        n = check_positive_int(n, "n")
        Xq, known = self.query_rows(user_ids)
        U_all, _, _ = fold(self.model_, self.builder_.user_rows(self.user_ids_), Xq[:0])
        nb, scores = similar_users(U_all, known, n)
        return _neighbour_frame(self.user_ids_[known], self.user_ids_, nb, scores, "user")

    # -- explanations --------------------------------------------------------------------
    def explain(
        self,
        user_id: Any,
        item_id: Any,
        context: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        history: Any = None,
    ) -> pd.DataFrame:
        """Decompose the FM score of one (user, item) pair into its terms.

        The FM score ``y(x) = w0 + Σ_j w_j x_j + Σ_{j<l} <v_j, v_l> x_j x_l`` is split into
        the global bias, one linear term per active feature, and one interaction per pair of
        active features. Terms are sorted by absolute value, largest first, and sum to the
        score (the ``score`` attribute of the returned frame's ``attrs``). With a history
        field, the ``query×item`` terms pairing ``history=j`` (or ``recent=j``) with the
        item's features are item–item contributions: how much having consumed j adds.

        Returns
        -------
        DataFrame with columns ``kind`` (``bias``, ``query``, ``item``, ``query×item``,
        ``query×query``, ``item×item``), ``feature``, ``other_feature`` and ``value``.

        Ids are matched as in :meth:`recommend` (``user_id``, ``users``, ``history``, and
        ``item_id`` with the ``items`` frame).
        """
        check_is_fitted(self, "seen_")
        Xq, _ = self._query_rows(*self._ids_like([user_id], users, history), context)
        if items is not None:
            if isinstance(items, pd.DataFrame):
                items = frame_ids_like(items, "item_id", self.item_ids_)
            Xt = self.builder_.item_rows(ids_like(pd.Index([item_id]), self.item_ids_),
                                         items=items)
        else:
            Xt = self._item_rows(self._candidate_indices([item_id], "item_id"))
        x = (Xq + Xt).tocsr()
        cols, vals = x.indices.astype(np.int64), x.data.astype(np.float64)
        names = np.asarray(self.builder_.feature_names(), dtype=object)
        n_cols = len(names)
        if (cols >= n_cols).any():  # pragma: no cover - builder and model share the space
            raise ValueError("feature rows are wider than the fitted feature space")
        side = np.where(Xt[:, cols].toarray().ravel() != 0, "item", "query")
        w = self.model_.w_[cols].astype(np.float64)
        V = self.model_.V_[cols].astype(np.float64)
        a, b = np.triu_indices(len(cols), k=1)
        pair_values = np.einsum("pf,pf->p", V[a], V[b]) * vals[a] * vals[b]
        kinds = np.array([f"{s}×{t}" for s, t in zip(side[a], side[b], strict=True)], dtype=object)
        # name query×item pairs query-first, whichever column index is smaller
        swap = (side[a] == "item") & (side[b] == "query")
        first = np.where(swap, b, a)
        second = np.where(swap, a, b)
        kinds[swap] = "query×item"
        frame = pd.DataFrame(
            {
                "kind": np.concatenate([["bias"], side, kinds]),
                "feature": np.concatenate([["(global bias)"], names[cols], names[cols][first]]),
                "other_feature": np.concatenate([[""], np.full(len(cols), ""), names[cols][second]]),
                "value": np.concatenate([[float(self.model_.w0_)], w * vals, pair_values]),
            }
        )
        frame = frame.iloc[np.argsort(-np.abs(frame["value"].to_numpy()), kind="stable")]
        frame = frame.reset_index(drop=True)
        frame.attrs["score"] = float(frame["value"].sum())
        return frame

    # -- persistence (see recfm.recommenders.persistence) --------------------------------
    _state_arrays = {
        "w": Dense("float32", ("n_features",)),
        "V": Dense("float32", ("n_features", "n_factors")),
        "item_vectors": Dense("float32", ("n_items", "n_item_columns")),
        # Adagrad accumulators, so that partial_fit goes on where training stopped
        "grad_sq_w": Dense("float32", ("n_features",), low=0.0, optional=True),
        "grad_sq_V": Dense("float32", ("n_features", "n_factors"), low=0.0, optional=True),
        # the design of a model fitted from matrices (it has no FeatureBuilder to rebuild it)
        "user_features": CSR(("n_users", "n_features"), optional=True),
        "item_features": CSR(("n_items", "n_features"), optional=True),
    }

    def _params_to_json(self) -> dict:
        model = self.model_.get_params(deep=False)
        if not isinstance(model.get("random_state"), (int, type(None))):
            model["random_state"] = None
        # the fitted builder is saved whole in the state; its spec is rebuilt from it
        return {"min_rating": self.min_rating, "block_size": self.block_size, "model": model,
                "validation_metric": self.validation_metric,
                "validation_users": self.validation_users,
                "validation_window": self.validation_window}

    @classmethod
    def _from_json_params(cls, params: dict) -> FMRecommender:
        params = dict(params)
        model = params.pop("model", None)
        if not isinstance(model, dict):
            raise ValueError("'model' must hold the FactorizationMachine parameters")
        unknown = (set(params) - {"min_rating", "block_size", "validation_metric",
                                  "validation_users", "validation_window"}) | (
            set(model) - set(FactorizationMachine._param_names()))
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
        return cls(model=FactorizationMachine(**model), **params)

    def _get_state(self) -> tuple[dict, dict]:
        model = self.model_
        g0 = getattr(model, "grad_sq_w0_", None)
        state = {
            "builder": self.builder_.get_state(),
            "w0": float(model.w0_),
            "grad_sq_w0": None if g0 is None else float(g0),
            "history": {k: [float(x) for x in v] for k, v in getattr(model, "history_", {}).items()},
            "n_epochs_trained": int(getattr(model, "n_epochs_", 0)),
            "best_epoch": getattr(model, "best_epoch_", None),
            # the attributes of the items add_items added, to fold them again after training
            "added_items": frame_to_json(getattr(self, "_added_items", None)),
        }
        arrays = {"w": model.w_, "V": model.V_, "item_vectors": self.item_vectors_,
                  "grad_sq_w": getattr(model, "grad_sq_w_", None),
                  "grad_sq_V": getattr(model, "grad_sq_V_", None)}
        if isinstance(self.builder_, MatrixRows):
            arrays["user_features"] = self.builder_.user_features_
            arrays["item_features"] = self.builder_.item_features_
        return state, arrays

    def _state_dims(self, state: dict) -> dict[str, int]:
        if self.model is None:
            raise ValueError("the saved parameters hold no FactorizationMachine")
        k = check_positive_int(self.model.n_factors, "n_factors")
        b = state["builder"]
        n_features = (b["layout"]["n_features"] if b.get("kind") == "matrices"
                      else len(b["space"]["feature_names"]))
        return {"n_features": n_features, "n_factors": k, "n_item_columns": k + 1}

    def _set_state(self, state: dict, arrays: dict) -> None:
        builder: FeatureBuilder | MatrixRows
        if state["builder"].get("kind") == "matrices":
            if arrays.get("user_features") is None or arrays.get("item_features") is None:
                raise ValueError("a model fitted from matrices needs its saved feature matrices")
            builder = MatrixRows.from_state(state["builder"], arrays["user_features"],
                                            arrays["item_features"], self.user_ids_, self.item_ids_)
        else:
            try:
                builder = FeatureBuilder.from_state(state["builder"])
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                raise ValueError(f"the saved feature builder is damaged: {exc!r}") from None
            _check_builder(builder, len(arrays["w"]), self.user_ids_, self.item_ids_)
        for key in ("w0", "grad_sq_w0"):
            v = state[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not np.isfinite(v)):
                raise ValueError(f"the saved {key} must be a finite number; got {v!r}")
        if state["w0"] is None:
            raise ValueError("the saved w0 is missing")
        model = self.model
        if model is None:
            raise ValueError("the saved parameters hold no FactorizationMachine")
        model.w0_ = float(state["w0"])
        model.w_, model.V_ = arrays["w"], arrays["V"]
        model.n_features_ = int(model.V_.shape[0])
        model.history_ = {str(k): list(v) for k, v in dict(state["history"]).items()}
        model.grad_sq_w0_ = None if state["grad_sq_w0"] is None else float(state["grad_sq_w0"])
        model.grad_sq_w_, model.grad_sq_V_ = arrays.get("grad_sq_w"), arrays.get("grad_sq_V")
        model.n_epochs_ = int(state["n_epochs_trained"])
        model.best_epoch_ = state["best_epoch"]
        model._rng = np.random.default_rng(model.random_state)
        self.model = FactorizationMachine(**model.get_params(deep=False))
        self.model_ = model
        self.builder = (FeatureBuilder(**builder.get_params(deep=False))
                        if isinstance(builder, FeatureBuilder) else None)
        self.builder_ = builder  # type: ignore[assignment]
        self._added_items = _saved_added_items(state.get("added_items"), self.item_ids_,
                                               len(builder.item_index_))
        self.item_vectors_ = arrays["item_vectors"]


#: Why a model fitted from matrices cannot take new users or items.
_MATRIX_GROWTH = ("a model fitted from matrices cannot grow (its feature matrices fix its users "
                  "and items; refit it on the grown matrices)")


def _union(a: sp.csr_matrix | None, b: sp.csr_matrix | None) -> sp.csr_matrix | None:
    """The binary union of two CSRs of one shape (None: no entries)."""
    if a is None or b is None:
        return b if a is None else a
    coo_a, coo_b = a.tocoo(), b.tocoo()
    return binary_csr(np.concatenate([coo_a.row, coo_b.row]), np.concatenate([coo_a.col, coo_b.col]),
                   a.shape)


def _saved_added_items(saved: Any, item_ids: pd.Index, n_trained: int) -> pd.DataFrame | None:
    """The kept attributes of the items add_items added, from a saved state (None: none
    kept, as in folders saved before recfm kept them); a ValueError when they disagree
    with the catalogue's ids past the builder's."""
    if saved is None:
        return None
    try:
        frame = frame_from_json(saved)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"the saved attributes of the added items are damaged: {exc!r}") from None
    added = item_ids[n_trained:]
    if frame is None or "item_id" not in frame.columns or frame["item_id"].tolist() != added.tolist():
        raise ValueError("the saved attributes of the added items disagree with the model's item_ids")
    frame["item_id"] = added.to_numpy()  # the catalogue's dtype (JSON ints may read as Int64)
    return frame


def _check_builder(builder: FeatureBuilder, n_features: int, user_ids: pd.Index,
                   item_ids: pd.Index) -> None:
    """Refuse a loaded builder whose columns fall outside the saved arrays or whose ids
    disagree with the model's (a damaged or tampered ``recfm.json``)."""
    space = builder.space_
    if space.n_features != n_features or len(space._field_of_column) != n_features:
        raise ValueError(
            f"the saved feature space has {space.n_features} columns but the arrays {n_features}"
        )
    foc = np.asarray(space._field_of_column, dtype=np.int64)
    if n_features and (foc.min() < 0 or foc.max() >= len(space.fields)):
        raise ValueError("the saved feature space maps a column to a field that does not exist")
    for info in space.fields:
        cols = np.asarray(info.value_columns, dtype=np.int64)
        extra = np.asarray([info.unknown_column, info.missing_column, info.column], dtype=np.int64)
        if len(cols) != len(info.values) or (extra < -1).any() or (
            np.concatenate([cols, extra[extra >= 0]]) >= n_features).any() or (cols < 0).any():
            raise ValueError(f"the saved feature field {info.name!r} has columns outside [0, {n_features})")
    if not builder.user_index_.equals(user_ids):
        raise ValueError("the saved feature builder's users differ from the model's user_ids")
    n_trained = len(builder.item_index_)
    if not builder.item_index_.equals(item_ids[:n_trained]):
        raise ValueError("the saved feature builder's items differ from the model's item_ids")


def _neighbour_frame(query_ids, all_ids: pd.Index, nb: np.ndarray, scores: np.ndarray,
                     what: str) -> pd.DataFrame:
    n_q, n = nb.shape
    valid = nb.ravel() >= 0
    return pd.DataFrame(
        {
            f"{what}_id": np.repeat(np.asarray(query_ids), n)[valid],
            f"similar_{what}_id": all_ids.to_numpy()[np.maximum(nb.ravel(), 0)][valid],
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int32), n_q)[valid],
            "score": scores.ravel().astype(np.float64)[valid],
        }
    )


def _history_keys(history: Any) -> pd.Index:
    """User ids a request history names (validated later by the builder)."""
    if isinstance(history, dict):
        return pd.Index(list(history))
    if isinstance(history, pd.DataFrame) and "user_id" in history.columns:
        return pd.Index(pd.unique(history["user_id"]))
    raise DataError(
        "history must be a DataFrame with columns user_id, item_id (optionally timestamp) "
        f"or a dict user id -> item ids; got {type(history).__name__}"
    )


def _has_attributes(specs: Any) -> bool:
    """Whether ``user_features`` declares a column of the users frame (not only log fields)."""
    if specs is None or isinstance(specs, str):
        return bool(specs)
    return any(not isinstance(s, (History, RecentItems)) for s in specs)


def _parse_metric(spec: object) -> tuple[str, int]:
    """``"ndcg@10"`` -> ("ndcg", 10); the name must be one of :data:`recfm.metrics.METRICS`."""
    name, _, k = str(spec).partition("@")
    if name not in METRICS or not k.isdigit() or int(k) <= 0:
        raise ValueError(
            f"validation_metric must be name@k with name in {', '.join(METRICS)} and k > 0; "
            f"got {spec!r}"
        )
    return name, int(k)


class _ValidationMonitor:
    """The validation score of an FM being trained: fold, blocked top-N, metric.

    Built once per fit: the query rows of a seeded sample of validation users (their training
    design rows, so history fields count), the item rows, their training items (excluded)
    and their held-out items. Each call folds the current parameters and ranks with
    :func:`recfm.ranking.top_n`, then scores with :mod:`recfm.metrics`, exactly as
    :func:`recfm.evaluation.evaluate` does through ``recommend``.
    """

    def __init__(self, builder: FeatureBuilder, design: Any, val: pd.DataFrame,
                 metric: tuple[str, int], n_users: int | None, seed: Any):
        rows = pd.Index(builder.user_index_).get_indexer(val["user_id"])
        cols = pd.Index(builder.item_index_).get_indexer(val["item_id"])
        users = np.unique(rows)
        if n_users is not None:
            n_users = check_positive_int(n_users, "validation_users")
            if len(users) > n_users:
                rng = check_random_state(int(seed) if isinstance(seed, numbers.Integral) else None)
                users = np.sort(rng.choice(users, n_users, replace=False))
        n_items = design.item_features.shape[0]
        truth = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                              shape=(design.user_features.shape[0], n_items))[users]
        self.name, self.k = metric
        self.key = f"{self.name}@{self.k}"
        self.query = sp.csr_matrix(design.user_features)[users]
        self.items = sp.csr_matrix(design.item_features)
        self.exclude = sp.csr_matrix(design.interactions)[users]
        self.truth = truth
        self.n_users = len(users)

    def __call__(self, model: FactorizationMachine) -> dict[str, float]:
        U, I, _ = fold(model, self.query, self.items)
        recs, _ = top_n(U, I, self.k, exclude=self.exclude)
        values = ranking_metrics(recs, self.truth, self.k)[self.key]
        return {self.key: float(np.nanmean(values))}
