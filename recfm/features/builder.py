"""FeatureBuilder: interactions + user/item/context columns → FM design matrices.

The builder learns a :class:`~recfm.features.FeatureSpace` (field vocabularies, scaling,
buckets) and the user/item id indexes in ``fit``, and turns frames into a
:class:`~recfm.features.Design` in ``transform``. Everything is vectorised: ids are
factorised with ``Index.get_indexer``, categorical columns with ``pd.factorize``, lists with
``Series.explode``, and CSR matrices are assembled from (row, column, value) arrays.

Row layout
----------
``user_index_[r]`` is the external id of user row ``r`` (likewise items). At the initial fit
the ids are sorted (when comparable), so the layout does not depend on row order; ids added
by ``partial_fit`` are appended. A :class:`Design` from ``transform`` has every fitted user
and item as rows ``[0, len(user_index_))`` (whether or not they interact in the frame given),
followed by any new users/items of that call, built from their attributes alone.
"""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import DataError, Params, check_columns, check_is_fitted
from ..datasets.dataset import check_interactions
from . import _encode as enc
from . import _log
from .design import Design
from .fields import (
    LOG_KINDS,
    Categorical,
    Field,
    History,
    Id,
    Numeric,
    RecentItems,
    TimeBin,
    field_from_dict,
    infer_field,
)
from .space import FeatureSpace

USER_ID = "user_id"
ITEM_ID = "item_id"
_ID_COL = {"user": USER_ID, "item": ITEM_ID}
_FRAME = {"user": "users", "item": "items"}
_ARG = {"user": "user_features", "item": "item_features", "context": "context_features"}

_STATE_VERSION = 1
#: Side on which each log-derived field may be declared.
_LOG_SIDE = {"history": "user", "recent": "context"}


def _is_attr(info: Any) -> bool:
    """Whether a fitted field reads a column of a frame (not an id, not the log)."""
    return info.kind != "id" and info.kind not in LOG_KINDS


def _spec_list(value: Any, arg: str) -> list:
    """Normalise a ``*_features`` argument to a list of column names / fields."""
    if value is None:
        return []
    if isinstance(value, (str, Field)):
        value = [value]
    if not isinstance(value, Iterable):
        raise ValueError(
            f"{arg} must be a column name, a field (Categorical, MultiValued, Numeric) or a "
            f"sequence of them; got {value!r}"
        )
    out = []
    for spec in value:
        if isinstance(spec, Id):
            raise ValueError(
                f"{arg}: Id fields are added by use_user_ids/use_item_ids; got {spec!r}"
            )
        if not isinstance(spec, (str, Field)) or (isinstance(spec, str) and not spec):
            raise ValueError(
                f"{arg} entries must be column names or fields (Categorical, MultiValued, "
                f"Numeric); got {spec!r}"
            )
        out.append(spec)
    return out


def _spec_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec.name


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str, arg: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        # a frame read from a file by recfm.datasets names it
        source = frame.attrs.get("source")
        where = f" ({source})" if isinstance(source, str) else ""
        raise DataError(
            f"{what} frame{where} has no column {missing[0]!r} (declared in {arg}); "
            f"available columns: {list(frame.columns)}"
        )


def _ordered_unique(values: pd.Series | pd.Index) -> pd.Index:
    return enc.ordered(pd.Index(pd.unique(values)))


def _as_id_index(ids: Any, arg: str) -> pd.Index:
    """Ids given to user_rows/item_rows as an Index (duplicates allowed)."""
    if isinstance(ids, (str, bytes, numbers.Number)) or np.ndim(ids) == 0:
        ids = [ids]
    index = pd.Index(ids) if not isinstance(ids, pd.Index) else ids
    isna = np.asarray(index.isna())
    if isna.any():
        raise DataError(f"{arg} has a missing (NaN) id at position {int(np.flatnonzero(isna)[0])}")
    return index


def _take(col: pd.Series, idx: np.ndarray) -> pd.Series:
    """``col`` gathered at ``idx``; -1 gives a missing value without turning ints to floats."""
    if (idx < 0).any():
        if pd.api.types.is_bool_dtype(col.dtype) and not isinstance(col.dtype, pd.BooleanDtype):
            col = col.astype("boolean")
        elif pd.api.types.is_integer_dtype(col.dtype) and not isinstance(
            col.dtype, pd.api.extensions.ExtensionDtype
        ):
            col = col.astype("Int64")
        return pd.Series(col.array.take(idx, allow_fill=True))
    return pd.Series(col.array.take(idx))


def _build_csr(parts: list[enc.Triples], n_rows: int, n_cols: int) -> sp.csr_matrix:
    """CSR float32 with duplicates summed, explicit zeros dropped and sorted indices."""
    if parts:
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts]).astype(np.float32, copy=False)
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0, dtype=np.float32)
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n_rows, n_cols), dtype=np.float32)
    X.sum_duplicates()
    X.eliminate_zeros()
    X.sort_indices()
    return X


def _normalize_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row to unit L1 norm (the sum, for non-negative rows); empty rows stay."""
    norms = np.asarray(abs(X).sum(axis=1)).ravel()
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    X = X.copy()
    X.data *= np.repeat(scale, np.diff(X.indptr)).astype(np.float32)
    return X


class FeatureBuilder(Params):
    """Turn interactions and user/item/context columns into FM design matrices.

    Parameters
    ----------
    user_features, item_features, context_features : sequence of str or Field, default ()
        Columns of the users frame, the items frame and the interactions frame (context of
        each interaction: hour, platform, ...). A bare name is typed from its dtype by
        :func:`~recfm.features.infer_field` (bool/str/category → ``Categorical``, numbers →
        ``Numeric``, lists → ``MultiValued``); give a field object to choose the encoding.
        A column may feed only one field. Fields built from the interaction log go here
        too: :class:`~recfm.features.History` in ``user_features``,
        :class:`~recfm.features.RecentItems` and :class:`~recfm.features.TimeBin` in
        ``context_features``; the builder keeps the log of ``fit``/``partial_fit`` for them
        (and saves it in its state).
    use_user_ids, use_item_ids : bool, default True
        Give each known user/item its own one-hot column (``user_id=196``). With ids only,
        the FM is biased matrix factorisation.
    normalize : bool, default False
        Scale every row of ``user_features`` and ``item_features`` (ids included) to sum to
        1, like LightFM's ``normalize``. Context rows are not scaled.
    value_column : str or None, default None
        Interactions column holding a weight per interaction: the ``interactions`` matrix
        then holds the sum of the weights of each pair instead of 1, and it becomes the
        samples' target. Without it, the target is ``rating`` when present, else 1.

    Attributes
    ----------
    space_ : FeatureSpace
        Fitted fields, vocabularies and column names.
    user_index_, item_index_ : pandas.Index
        External id of each user/item row.
    n_features_ : int
        Number of FM columns.

    Notes
    -----
    ``__init__`` only stores its arguments (scikit-learn style); they are checked by
    ``fit``. Frames: interactions need ``user_id`` and ``item_id``; the users/items frames
    need ``user_id``/``item_id`` plus the declared attribute columns, with each id once.
    Users or items found only in those frames still get rows (the catalogue).
    """

    def __init__(
        self,
        user_features: Sequence[str | Field] = (),
        item_features: Sequence[str | Field] = (),
        context_features: Sequence[str | Field] = (),
        use_user_ids: bool = True,
        use_item_ids: bool = True,
        normalize: bool = False,
        value_column: str | None = None,
    ):
        self.user_features = user_features
        self.item_features = item_features
        self.context_features = context_features
        self.use_user_ids = use_user_ids
        self.use_item_ids = use_item_ids
        self.normalize = normalize
        self.value_column = value_column

    # -- parameter checks (at fit) -------------------------------------------------------
    def _check_params(self) -> dict[str, list]:
        for name in ("use_user_ids", "use_item_ids", "normalize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if self.value_column is not None and (
            not isinstance(self.value_column, str) or not self.value_column
        ):
            raise ValueError(
                f"value_column must be None or a column name; got {self.value_column!r}"
            )
        specs = {side: _spec_list(getattr(self, arg), arg) for side, arg in _ARG.items()}
        seen: dict[str, str] = {}
        for side, arg in _ARG.items():
            for spec in specs[side]:
                name = _spec_name(spec)
                if name in (USER_ID, ITEM_ID):
                    raise ValueError(
                        f"{arg}: {name!r} is the id column; use use_user_ids/use_item_ids"
                    )
                if name in seen:
                    where = "twice in " + arg if seen[name] == arg else f"in {seen[name]} and {arg}"
                    raise ValueError(
                        f"field {name!r} is declared {where}; each column may feed one field"
                    )
                seen[name] = arg
                kind = getattr(spec, "kind", None)
                if kind in _LOG_SIDE and _LOG_SIDE[kind] != side:
                    raise ValueError(
                        f"{arg}: {type(spec).__name__} belongs in {_ARG[_LOG_SIDE[kind]]}"
                    )
        return specs

    # -- frame checks --------------------------------------------------------------------
    def _attr_names(self, side: str) -> list[str]:
        return [f.name for f in self.space_.fields_on(side) if _is_attr(f)]

    def _context_columns(self) -> list[str]:
        """Columns the context fields read (a TimeBin reads its timestamp column)."""
        return list(dict.fromkeys(
            f.spec.timestamp if isinstance(f.spec, TimeBin) else f.name
            for f in self.space_.fields_on("context") if _is_attr(f)))

    def _log_infos(self) -> list:
        """Fitted log-derived fields (history, recent items)."""
        space = getattr(self, "space_", None)
        return [] if space is None else [f for f in space.fields if f.kind in LOG_KINDS]

    def _log_times(self, df: pd.DataFrame, what: str, specs: list) -> np.ndarray | None:
        """Validated timestamps of ``df`` when a log field needs them (else None)."""
        need = [s for s in specs if isinstance(s, RecentItems)]
        opt = [s for s in specs if isinstance(s, History) and s.max_items is not None]
        if need:
            _log.require_times(df, need[0].timestamp, repr(need[0]))
            return _log.timestamps(df, need[0].timestamp, what, repr(need[0]))
        if opt and opt[0].timestamp in df.columns:
            return _log.timestamps(df, opt[0].timestamp, what, repr(opt[0]))
        return None

    def _check_interactions(self, df: Any, context_names: list[str], what: str) -> None:
        check_interactions(df, what, self.value_column)
        _require_columns(df, context_names, what, "context_features")

    def _side_frame(
        self, side: str, frame: Any, attr_names: list[str], what: str | None = None
    ) -> pd.DataFrame | None:
        """Validate a users/items frame; return its attribute columns indexed by id."""
        if frame is None:
            return None
        what = what or _FRAME[side]
        id_col = _ID_COL[side]
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
        if id_col not in frame.columns:
            raise DataError(
                f"{what} frame has no id column {id_col!r}; "
                f"available columns: {list(frame.columns)}"
            )
        _require_columns(frame, attr_names, what, _ARG[side])
        ids = frame[id_col]
        isna = ids.isna().to_numpy()
        if isna.any():
            raise DataError(
                f"{what} column {id_col!r} has {int(isna.sum())} missing (NaN) id(s), "
                f"first at row {int(np.flatnonzero(isna)[0])}"
            )
        dup = ids.duplicated().to_numpy()
        if dup.any():
            first = ids.iloc[int(np.flatnonzero(dup)[0])]
            raise DataError(
                f"{what} column {id_col!r} has duplicated id {enc.fmt_value(first)} "
                f"({int(dup.sum())} duplicate row(s)); each {side} must appear once"
            )
        out = frame[attr_names].copy()
        out.index = pd.Index(ids)
        return out

    @staticmethod
    def _check_id_types(
        a: pd.Series | pd.Index, b: pd.Series | pd.Index, what: str, side: str
    ) -> None:
        # Ids of different kinds (1 vs '1') would silently never match, and integer ids
        # joined with float ones (1 vs 1.0) would turn every model id into a float.
        def kind(x: pd.Series | pd.Index) -> str:
            if pd.api.types.is_bool_dtype(x.dtype) or not pd.api.types.is_numeric_dtype(x.dtype):
                return "text"
            return "integer" if pd.api.types.is_integer_dtype(x.dtype) else "float"

        if len(a) and len(b) and kind(a) != kind(b):
            other = "fitted" if isinstance(a, pd.Index) else "interactions"
            src_a = a.attrs.get("source") if isinstance(a, pd.Series) else None
            src_b = getattr(b, "attrs", {}).get("source") if isinstance(b, pd.Series) else None
            raise DataError(
                f"{src_b or what} column {_ID_COL[side]!r} has {kind(b)} ids (dtype {b.dtype}) "
                f"but the {src_a or other} ids are {kind(a)} (dtype {a.dtype}); ids must be of "
                "the same kind in every file to match"
            )

    # -- fitting -----------------------------------------------------------------------
    def fit(
        self,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> FeatureBuilder:
        """Learn id indexes and vocabularies from scratch.

        Parameters
        ----------
        interactions : DataFrame
            Columns ``user_id``, ``item_id`` (+ ``rating``, ``value_column`` and the
            context columns when declared).
        users, items : DataFrame or None
            Attribute frames (``user_id``/``item_id`` + declared columns, one row per id).
            Required when user/item features are declared. Their ids get rows even without
            interactions.

        Returns
        -------
        self
        """
        for attr in ("space_", "user_index_", "item_index_", "n_features_"):
            self.__dict__.pop(attr, None)
        self._attrs: dict[str, pd.DataFrame | None] = {"user": None, "item": None}
        self._context_counts: dict[str, pd.Series] = {}
        specs = self._check_params()
        for side in ("user", "item"):
            frame = users if side == "user" else items
            attr_specs = [s for s in specs[side] if getattr(s, "kind", None) not in LOG_KINDS]
            if attr_specs and frame is None:
                names = [_spec_name(s) for s in attr_specs]
                raise DataError(
                    f"{_ARG[side]} {names} are declared but no {_FRAME[side]} frame was given "
                    f"(pass {_FRAME[side]}= with column {_ID_COL[side]!r} and those columns)"
                )
        context_names = [s.timestamp if isinstance(s, TimeBin) else _spec_name(s)
                         for s in specs["context"] if getattr(s, "kind", None) not in LOG_KINDS]
        self._check_interactions(interactions, context_names, "interactions")
        frames = {}
        resolved: dict[str, list[Field]] = {}
        for side in ("user", "item"):
            names = [_spec_name(s) for s in specs[side]
                     if getattr(s, "kind", None) not in LOG_KINDS]
            frames[side] = self._side_frame(side, users if side == "user" else items, names)
        for side in ("user", "item", "context"):
            source = interactions if side == "context" else frames[side]
            if source is None:  # no users/items frame: no fields on that side (checked above)
                resolved[side] = []
                continue
            what = "interactions" if side == "context" else _FRAME[side]
            resolved[side] = [
                infer_field(s, source[s], what) if isinstance(s, str) else s
                for s in specs[side] if getattr(s, "kind", None) not in LOG_KINDS
            ]
        log_specs = [s for side in specs for s in specs[side]
                     if getattr(s, "kind", None) in LOG_KINDS]
        resolved["log"] = log_specs
        self._log: dict[str, Any] | None = None
        self._log_cache: dict[str, Any] = {}
        if log_specs:
            # checked before any work: a log field without usable timestamps fails here
            self._log_times(interactions, "interactions", log_specs)
        space = FeatureSpace()
        self.user_index_ = pd.Index([], dtype=interactions[USER_ID].dtype)
        self.item_index_ = pd.Index([], dtype=interactions[ITEM_ID].dtype)
        self._grow(space, interactions, frames, resolved, first=True)
        space.freeze_offsets()
        self.space_ = space
        self.n_features_ = space.n_features
        return self

    def partial_fit(
        self,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> FeatureBuilder:
        """Grow the fitted builder with new ids and values (``fit`` when not fitted yet).

        New users/items get new rows (and id columns) at the end; new categorical values
        that reach ``min_count`` get new columns at the end. Existing rows and columns keep
        their indices and names, so a model trained on the old space stays valid on its
        columns. Field kinds, numeric scaling and bins stay as first fitted. Rows of the
        ``users``/``items`` frames replace the stored attributes of those ids. Context
        value counts accumulate over calls.

        Returns
        -------
        self
        """
        if getattr(self, "space_", None) is None:
            return self.fit(interactions, users, items)
        space = self.space_
        context_names = self._context_columns()
        self._check_interactions(interactions, context_names, "interactions")
        frames = {
            side: self._side_frame(side, users if side == "user" else items, self._attr_names(side))
            for side in ("user", "item")
        }
        # Copy on write: a Design made before keeps the (smaller) space it was built with.
        grown = space.copy()
        resolved = {
            side: [f.spec for f in grown.fields_on(side) if _is_attr(f)]
            for side in ("user", "item", "context")
        }
        resolved["log"] = [f.spec for f in grown.fields if f.kind in LOG_KINDS]
        if resolved["log"]:
            self._log_times(interactions, "interactions", resolved["log"])
        # All or nothing: a bad value met half-way must not leave ids grown but not the space.
        saved = self.saved_state()
        try:
            self._grow(grown, interactions, frames, resolved, first=False)
        except BaseException:
            self.restore_state(saved)
            raise
        self._log_cache = {}
        self.space_ = grown
        self.n_features_ = grown.n_features
        return self

    def saved_state(self) -> tuple:
        """What :meth:`partial_fit` changes, kept for :meth:`restore_state` (references, no
        copies: growth builds new objects and never changes these in place)."""
        check_is_fitted(self, "space_")
        return (self.space_, self.n_features_, self.user_index_, self.item_index_,
                dict(self._attrs), dict(self._context_counts), self._log, self._log_cache)

    def restore_state(self, saved: tuple) -> None:
        """Undo the growth since :meth:`saved_state` (a caller whose own work failed after
        ``partial_fit`` succeeded rolls the builder back with it)."""
        (self.space_, self.n_features_, self.user_index_, self.item_index_, self._attrs,
         self._context_counts, self._log, self._log_cache) = saved

    def _grow(
        self,
        space: FeatureSpace,
        interactions: pd.DataFrame,
        frames: dict[str, pd.DataFrame | None],
        resolved: dict[str, list[Field]],
        first: bool,
    ) -> None:
        """Append new ids, store attributes and extend every field's vocabulary."""
        new_ids = {}
        for side in ("user", "item"):
            id_col = _ID_COL[side]
            index = self.user_index_ if side == "user" else self.item_index_
            frame = frames[side]
            candidates = interactions[id_col]
            if not first:
                self._check_id_types(index, candidates, "interactions", side)
            if frame is not None:
                ids = pd.Series(frame.index, dtype=frame.index.dtype)
                ids.attrs.update(frame.attrs)  # the file it came from, for the message
                self._check_id_types(candidates, ids, _FRAME[side], side)
                candidates = pd.concat(
                    [candidates, pd.Series(frame.index, dtype=frame.index.dtype)], ignore_index=True
                )
            cand = pd.Index(pd.unique(candidates))
            new = enc.ordered(cand[index.get_indexer(cand) < 0] if len(index) else cand)
            full = index.append(ids_of_kind(index, new, "interactions", side)) if len(index) \
                else new
            # Store attributes for every row: frame rows win over what was stored before.
            names = [f.name for f in resolved[side]]
            if names:
                attrs, _ = self._gather(side, full, frame, index, names)
                self._attrs[side] = attrs
            if side == "user":
                self.user_index_ = full
            else:
                self.item_index_ = full
            new_ids[side] = new

        for side in ("user", "context", "item"):
            use_ids = self.use_user_ids if side == "user" else self.use_item_ids
            if side in ("user", "item") and use_ids:
                id_col = _ID_COL[side]
                if first:
                    space.add_field(id_col, side, Id(id_col))
                space.add_values(id_col, new_ids[side])
            if side == "context":
                where: enc.Where = enc.at_row
                data, what = interactions, "interactions"
            else:
                data, what = self._attrs[side], _FRAME[side]
                where = self._where(side, self.user_index_ if side == "user" else self.item_index_)
            for spec in resolved[side]:
                column = _frame_column(spec, data, what)
                self._grow_field(space, side, spec, column, what, where, first)
            if side == "context" and resolved.get("log"):
                self._grow_log(space, interactions, resolved["log"], first)

    def _grow_log(
        self, space: FeatureSpace, interactions: pd.DataFrame, specs: list, first: bool
    ) -> None:
        """Append the interactions to the stored log; give new logged items their columns
        in every log field (history and recent items share the items of the log)."""
        users = self.user_index_.get_indexer(interactions[USER_ID]).astype(np.int64)
        items = self.item_index_.get_indexer(interactions[ITEM_ID]).astype(np.int64)
        times = self._log_times(interactions, "interactions", specs)
        recent = [s for s in specs if isinstance(s, RecentItems)]
        if first and recent and times is not None and len(times) > 1 and times.min() == times.max():
            # e.g. a CSV without timestamps, which the reader fills with 0
            warnings.warn(
                f"interactions column {recent[0].timestamp!r} holds the same time ({times[0]:g}) "
                f"for every interaction: {recent[0]!r} keeps only strictly earlier items, so "
                "it will be empty; give the events' real times",
                UserWarning, stacklevel=4,
            )
        if self._log is None:
            self._log = {"user": users, "item": items, "time": times}
        else:
            old = self._log
            t = None if old["time"] is None or times is None else np.concatenate(
                [old["time"], times])
            self._log = {"user": np.concatenate([old["user"], users]),
                         "item": np.concatenate([old["item"], items]), "time": t}
        logged = enc.ordered(pd.Index(self.item_index_[np.unique(self._log_arrays()["item"])]))
        for spec in specs:
            info = space.add_field(spec.name, _LOG_SIDE[spec.kind], spec) if first \
                else space[spec.name]
            new = logged[info.lookup(logged) < 0] if len(info.values) else logged
            space.add_values(spec.name, new)

    def _grow_field(
        self,
        space: FeatureSpace,
        side: str,
        spec: Field,
        column: pd.Series,
        what: str,
        where: enc.Where,
        first: bool,
    ) -> None:
        column = column.reset_index(drop=True)
        if isinstance(spec, Numeric):
            x = enc.to_float(column, what, spec.name, where)
            if spec.missing == "error" and np.isnan(x).any():
                enc.check_missing_at_fit(spec, pd.Series(x), what, where)
            if not first:
                return
            info = space.add_field(spec.name, side, spec)
            info.center, info.scale, info.edges = enc.fit_numeric(spec, x)
            valid = x[~np.isnan(x)]
            if not spec.binned and len(valid):
                info.low, info.high = float(valid.min()), float(valid.max())
            if spec.binned:
                assert info.edges is not None, "fit_numeric gives a binned field its edges"
                space.add_values(spec.name, enc.bin_labels(info.edges))
            else:
                space.add_numeric_column(spec.name)
            return

        assert isinstance(spec, Categorical)
        enc.check_missing_at_fit(spec, column, what, where)
        counts = enc.value_counts(spec, column)
        if side == "context":
            # Context rows are interactions, which partial_fit sees once each: accumulate.
            prev = self._context_counts.get(spec.name)
            if prev is not None and len(prev):
                counts = prev.add(counts, fill_value=0) if len(counts) else prev
            self._context_counts[spec.name] = counts
        keep = counts.index[counts.to_numpy() >= spec.min_count]
        info = space.add_field(spec.name, side, spec) if first else space[spec.name]
        new = keep[info.lookup(keep) < 0] if len(info.values) else keep
        space.add_values(spec.name, enc.ordered(pd.Index(new)))
        if first:
            if spec.unknown == "bucket":
                space.add_bucket(spec.name, "unknown")
            if spec.missing == "bucket":
                space.add_bucket(spec.name, "missing")

    # -- row building ------------------------------------------------------------------
    @staticmethod
    def _where(side: str, ids: pd.Index) -> enc.Where:
        id_col = _ID_COL[side]
        return lambda r: f"{id_col} {enc.fmt_value(ids[r])}"

    def _gather(
        self,
        side: str,
        ids: pd.Index,
        frame: pd.DataFrame | None,
        index: pd.Index,
        names: list[str],
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Attributes of ``ids`` (frame rows first, else stored rows) and which ids had any."""
        idx = np.full(len(ids), -1, dtype=np.int64)
        sources = []
        offset = 0
        if frame is not None:
            fpos = frame.index.get_indexer(ids)
            idx = np.where(fpos >= 0, fpos, idx)
            sources.append(frame[names].reset_index(drop=True))
            offset = len(frame)
        stored = self._attrs.get(side)
        if stored is not None and len(index):
            spos = index.get_indexer(ids)
            sel = (idx < 0) & (spos >= 0)
            idx[sel] = offset + spos[sel]
            sources.append(stored[names])
        if not sources:
            src = pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
        elif len(sources) == 1:
            src = sources[0]
        else:
            src = pd.concat(sources, ignore_index=True)
        out = pd.DataFrame({n: _take(src[n], idx) for n in names})
        return out, idx >= 0

    def _side_matrix(
        self, side: str, ids: pd.Index, frame: pd.DataFrame | None, what: str,
        described: np.ndarray | None = None, with_log: bool = True,
    ) -> sp.csr_matrix:
        """Feature rows of ``ids``: id column when known + attributes (frame, else stored)
        + the training history of known users (``with_log``). ``described``: ids that may
        be new without attributes (a request gives their history)."""
        index = self.user_index_ if side == "user" else self.item_index_
        space = self.space_
        pos = index.get_indexer(ids) if len(index) else np.full(len(ids), -1, dtype=np.int64)
        fields = [f for f in space.fields_on(side) if _is_attr(f)]
        names = [f.name for f in fields]
        parts: list[enc.Triples] = []
        if names:
            attrs, has_source = self._gather(side, ids, frame, index, names)
            bad = (pos < 0) & ~has_source
        else:
            bad = pos < 0
        if described is not None:
            bad &= ~described
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            id_col, frame_name = _ID_COL[side], _FRAME[side]
            if names:
                hint = (
                    f"pass its row in {frame_name}= (with columns {names}) to build it from "
                    "attributes"
                )
            else:
                hint = (
                    f"the builder has no {_ARG[side]} to build a row from attributes "
                    "(ids only), so it cannot be scored"
                )
            raise DataError(
                f"{what}: {id_col} {enc.fmt_value(ids[k])} was not seen in fit and has no "
                f"attributes ({int(bad.sum())} such id(s)); {hint}"
            )
        if names:
            where = self._where(side, ids)
            for info in fields:
                parts.append(enc.encode_field(info, attrs[info.name], _FRAME[side], where))
        use_ids = self.use_user_ids if side == "user" else self.use_item_ids
        if use_ids:
            info = space[_ID_COL[side]]
            rows = np.flatnonzero(pos >= 0).astype(np.int64)
            parts.append(
                (rows, info.value_columns[pos[rows]], np.ones(len(rows), dtype=np.float32))
            )
        X = _build_csr(parts, len(ids), space.n_features)
        if self.normalize:
            X = _normalize_rows(X)
        if side == "user" and with_log and self._history_info() is not None:
            # history keeps its own weights (1/sqrt(n)...), outside row normalisation
            H = self._log_matrices()["history"]
            known = np.flatnonzero(pos >= 0)
            Hk = H[pos[known]].tocoo()
            extra = sp.csr_matrix((Hk.data, (known[Hk.row], Hk.col)), shape=X.shape,
                                  dtype=np.float32)
            X = (X + extra).tocsr()
            X.sort_indices()
        return X

    # -- log-derived fields ------------------------------------------------------------
    def _history_info(self) -> Any:
        infos = [f for f in self._log_infos() if f.kind == "history"]
        return infos[0] if infos else None

    def _recent_info(self) -> Any:
        infos = [f for f in self._log_infos() if f.kind == "recent"]
        return infos[0] if infos else None

    def _item_columns(self, info: Any) -> np.ndarray:
        """Column of ``info`` for each item row (-1: the item is not in the log)."""
        return info.lookup(self.item_index_)

    def _log_arrays(self) -> dict[str, Any]:
        """The stored log (user rows, item rows, times); only called when log fields exist."""
        if self._log is None:
            raise RuntimeError("FeatureBuilder has no interaction log: it declares no log field")
        return self._log

    def _log_matrices(self) -> dict:
        """Cached per-user history CSR and the log sorted by user then time."""
        if not self._log_cache:
            log = self._log_arrays()
            info = self._history_info()
            if info is not None:
                self._log_cache["history"] = _log.history_matrix(
                    info.spec, self._item_columns(info), log["user"], log["item"], log["time"],
                    len(self.user_index_), self.space_.n_features)
        return self._log_cache

    def _frame_log(self, history: Any, what: str = "history") -> tuple[pd.Index, dict]:
        """A request's history (DataFrame ``user_id, item_id[, timestamp]`` or dict user ->
        item ids) as a log over its own user keys; unknown item ids raise naming them."""
        if isinstance(history, dict):
            keys = list(history)
            lens = [len(np.atleast_1d(np.asarray(v, dtype=object))) if v is not None else 0
                    for v in history.values()]
            items_list = [x for v in history.values() if v is not None
                          for x in np.atleast_1d(np.asarray(v, dtype=object)).tolist()]
            frame = pd.DataFrame({USER_ID: np.repeat(np.arange(len(keys)), lens),
                                  ITEM_ID: pd.Series(items_list, dtype=object)})
            if len(items_list):
                frame[ITEM_ID] = pd.Series(items_list).infer_objects()
            user_keys = pd.Index(keys)
            users = frame[USER_ID].to_numpy(np.int64)
            times = None
        elif isinstance(history, pd.DataFrame):
            check_columns(history, [USER_ID, ITEM_ID], what)
            frame = history
            user_keys = pd.Index(pd.unique(frame[USER_ID]))
            users = user_keys.get_indexer(frame[USER_ID]).astype(np.int64)
            times = None
            recent = self._recent_info()
            ts = recent.spec.timestamp if recent is not None else "timestamp"
            if ts in frame.columns:
                times = _log.timestamps(frame, ts, what, "the request history")
        else:
            raise DataError(
                f"{what} must be a DataFrame with columns user_id, item_id (optionally "
                f"timestamp) or a dict user id -> item ids; got {type(history).__name__}"
            )
        items = self.item_index_.get_indexer(frame[ITEM_ID]) if len(frame) else \
            np.zeros(0, np.int64)
        bad = items < 0
        if bad.any():
            unknown = pd.unique(frame[ITEM_ID][bad])
            shown = ", ".join(enc.fmt_value(v) for v in unknown[:10])
            raise DataError(
                f"{what} has {len(unknown)} item id(s) not in the catalogue: {shown}"
                f"{' ...' if len(unknown) > 10 else ''}"
            )
        return user_keys, {"user": users, "item": items.astype(np.int64), "time": times}

    def log_rows(self, user_ids: Any, history: Any = None) -> sp.csr_matrix:
        """Query-side rows of the log-derived fields (history and recent items) of users.

        Parameters
        ----------
        user_ids : scalar or array-like
            External ids (repeats allowed).
        history : DataFrame, dict or None
            Interactions standing for the users' logs: a frame ``user_id, item_id``
            (+ the timestamp column, which orders the recent items; else row order) or a
            dict ``{user_id: [item ids]}`` (in order, latest last). A user found there
            gets these items instead of its training log (an empty list: no history);
            other known users get their training log; others get no row entries.

        Returns
        -------
        csr_matrix of shape (len(user_ids), n_features_), float32

        Raises
        ------
        DataError
            ``history`` names item ids that are not in the catalogue (listed), or is
            malformed.
        """
        check_is_fitted(self, "space_")
        ids = _as_id_index(user_ids, "user_ids")
        nf = self.space_.n_features
        parts: list[enc.Triples] = []
        pos = self.user_index_.get_indexer(ids) if len(self.user_index_) else \
            np.full(len(ids), -1, np.int64)
        given = np.full(len(ids), -1, np.int64)
        glog = None
        if history is not None:
            keys, glog = self._frame_log(history)
            given = keys.get_indexer(ids) if len(keys) else given
        from_log = np.where(given >= 0, -1, pos)
        hist, recent = self._history_info(), self._recent_info()
        if hist is not None:
            H = self._log_matrices()["history"]
            parts.append(_rows_of(H, from_log))
            if glog is not None:
                Hg = _log.history_matrix(hist.spec, self._item_columns(hist), glog["user"],
                                         glog["item"], glog["time"], len(keys), nf)
                parts.append(_rows_of(Hg, given))
        if recent is not None:
            log = self._log_arrays()
            parts.append(_log.recent_triples(recent.spec, self._item_columns(recent),
                                             log["user"], log["item"], log["time"],
                                             from_log, None))
            if glog is not None:
                t = glog["time"] if glog["time"] is not None else \
                    np.arange(len(glog["user"]), dtype=np.float64)
                parts.append(_log.recent_triples(recent.spec, self._item_columns(recent),
                                                 glog["user"], glog["item"], t, given, None))
        return _build_csr(parts, len(ids), nf)

    def _context_matrix(self, df: pd.DataFrame, what: str) -> sp.csr_matrix | None:
        fields = [f for f in self.space_.fields_on("context") if _is_attr(f)]
        if not fields:
            return None
        df = df.reset_index(drop=True)
        parts = [enc.encode_field(info, _frame_column(info.spec, df, what), what, enc.at_row)
                 for info in fields]
        return _build_csr(parts, len(df), self.space_.n_features)

    def _extend(
        self, side: str, sample_ids: pd.Series, frame: pd.DataFrame | None
    ) -> tuple[pd.Index, np.ndarray]:
        """Fitted index + new ids of this call; the row of each sample."""
        index = self.user_index_ if side == "user" else self.item_index_
        self._check_id_types(index, sample_ids, "interactions", side)
        if frame is not None:
            self._check_id_types(index, frame.index, _FRAME[side], side)
        pos = index.get_indexer(sample_ids)
        new = pd.Index(pd.unique(sample_ids[pos < 0])) if (pos < 0).any() else None
        has_attrs = any(_is_attr(f) for f in self.space_.fields_on(side))
        extra = None
        if frame is not None and has_attrs:
            # Catalogue entries new to the builder: rows from attributes alone.
            fr = frame.index[index.get_indexer(frame.index) < 0]
            if new is not None:
                fr = fr[new.get_indexer(fr) < 0] if len(fr) else fr
            extra = fr if len(fr) else None
        if new is None and extra is None:
            return index, pos
        added = [x for x in (new, extra) if x is not None]
        added_index = added[0].append(added[1:]) if len(added) > 1 else added[0]
        full = index.append(enc.ordered(added_index))
        return full, full.get_indexer(sample_ids)

    # -- public transform API ----------------------------------------------------------
    def transform(
        self,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> Design:
        """Design matrices of ``interactions`` in the fitted feature space.

        Parameters
        ----------
        interactions : DataFrame
            Columns ``user_id``, ``item_id`` (+ ``rating``/``value_column`` and context).
        users, items : DataFrame or None
            Attribute frames. Rows of known ids replace their stored attributes for this
            call; new ids (in the frame or in ``interactions``) become rows built from their
            attributes alone, appended after the fitted rows.

        Returns
        -------
        Design
            ``user_features``/``item_features`` have one row per fitted id (same order as
            ``user_index_``/``item_index_``) plus new ids; ``interactions`` is the
            users × items CSR (1 per distinct pair, or the summed ``value_column``);
            ``sample_*`` hold one entry per interaction row; ``context`` is one row per
            interaction (None without context fields). ``design.extra`` holds
            ``n_fitted_users`` and ``n_fitted_items``.

        Raises
        ------
        DataError
            Unknown ids without attributes, unknown/missing values of fields declared
            ``'error'``, missing columns, NaN or duplicated ids.
        """
        check_is_fitted(self, "space_")
        self._check_interactions(interactions, self._context_columns(), "interactions")
        log_specs = [f.spec for f in self._log_infos()]
        times = self._log_times(interactions, "interactions", log_specs) if log_specs else None
        u_frame = self._side_frame("user", users, self._attr_names("user"))
        i_frame = self._side_frame("item", items, self._attr_names("item"))
        user_ids, su = self._extend("user", interactions[USER_ID], u_frame)
        item_ids, si = self._extend("item", interactions[ITEM_ID], i_frame)
        user_features = self._side_matrix("user", user_ids, u_frame, "interactions")
        item_features = self._side_matrix("item", item_ids, i_frame, "interactions")

        su = su.astype(np.int32)
        si = si.astype(np.int32)
        if self.value_column is not None:
            weights = interactions[self.value_column].to_numpy(dtype=np.float32)
        else:
            weights = np.ones(len(interactions), dtype=np.float32)
        # csr from (data, (row, col)) sums duplicate pairs.
        X = sp.csr_matrix(
            (weights, (su, si)), shape=(len(user_ids), len(item_ids)), dtype=np.float32
        )
        X.sum_duplicates()
        X.sort_indices()
        if self.value_column is None:
            X.data[:] = 1.0
        if self.value_column is not None:
            values = weights
        elif "rating" in interactions.columns:
            values = interactions["rating"].to_numpy(dtype=np.float32)
        else:
            values = np.ones(len(interactions), dtype=np.float32)

        context = self._context_matrix(interactions, "interactions")
        recent = self._recent_info()
        if recent is not None:
            log = self._log_arrays()
            R = _build_csr([_log.recent_triples(
                recent.spec, recent.lookup(item_ids), log["user"], log["item"], log["time"],
                su.astype(np.int64), times)], len(interactions), self.space_.n_features)
            context = R if context is None else (context + R).tocsr()
            context.sort_indices()
        hist = self._history_info()
        history_columns = history_rescale = None
        if hist is not None:
            history_columns = hist.lookup(item_ids)
            counts = np.zeros(len(user_ids), np.int64)
            H = self._log_matrices()["history"]
            counts[: H.shape[0]] = np.diff(H.indptr)
            scale = hist.spec.scale
            history_rescale = np.where(
                counts > 1, scale(counts - 1) / scale(np.maximum(counts, 1)), 0.0
            ).astype(np.float32)

        return Design(
            user_features=user_features,
            item_features=item_features,
            interactions=X,
            sample_users=su,
            sample_items=si,
            # pandas (copy-on-write) may hand out read-only views; the design owns its arrays.
            sample_values=np.array(values, dtype=np.float32),
            user_ids=np.array(user_ids),
            item_ids=np.array(item_ids),
            context=context,
            space=self.space_,
            history_columns=history_columns,
            history_rescale=history_rescale,
            extra={
                "n_fitted_users": len(self.user_index_),
                "n_fitted_items": len(self.item_index_),
            },
        )

    def fit_transform(
        self,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> Design:
        """``fit`` then ``transform`` on the same frames."""
        return self.fit(interactions, users, items).transform(interactions, users, items)

    def user_rows(self, user_ids: Any, users: pd.DataFrame | None = None,
                  history: Any = None) -> sp.csr_matrix:
        """Query-side feature rows of users (without context), log-derived fields included
        as of the end of the log (see :meth:`log_rows`).

        Parameters
        ----------
        user_ids : scalar or array-like
            External ids (repeats allowed).
        users : DataFrame or None
            Attribute rows (``user_id`` + declared user columns). Ids found there are built
            from these attributes (plus their id column when known); a new id must be there
            (cold start: attributes only, no id column).
        history : DataFrame, dict or None
            With log-derived fields: the interactions that stand for these users' logs (see
            :meth:`log_rows`); a new id given there needs no attributes.

        Returns
        -------
        csr_matrix of shape (len(user_ids), n_features_), float32

        Raises
        ------
        DataError
            An id neither fitted nor in ``users`` nor ``history`` (named in the message),
            bad frames, or a history naming items not in the catalogue.
        """
        check_is_fitted(self, "space_")
        ids = _as_id_index(user_ids, "user_ids")
        frame = self._side_frame("user", users, self._attr_names("user"))
        if not self._log_infos():
            if history is not None:
                raise DataError(
                    "history given, but the builder has no History or RecentItems field "
                    "to use it (fit the model with one: recfm fit --user-history or "
                    "--recent-items N)"
                )
            return self._side_matrix("user", ids, frame, "user_ids")
        described = None
        if history is not None:
            keys = self._frame_log(history)[0]
            described = keys.get_indexer(ids) >= 0 if len(keys) else None
        X = self._side_matrix("user", ids, frame, "user_ids", described, with_log=False)
        X = (X + self.log_rows(ids, history)).tocsr()
        X.sort_indices()
        return X

    def item_rows(self, item_ids: Any, items: pd.DataFrame | None = None) -> sp.csr_matrix:
        """Item-side feature rows of items; like :meth:`user_rows` with an ``items`` frame.

        Returns
        -------
        csr_matrix of shape (len(item_ids), n_features_), float32
        """
        check_is_fitted(self, "space_")
        ids = _as_id_index(item_ids, "item_ids")
        frame = self._side_frame("item", items, self._attr_names("item"))
        return self._side_matrix("item", ids, frame, "item_ids")

    def context_rows(self, context: pd.DataFrame) -> sp.csr_matrix:
        """Context rows (query side) of a frame holding the declared context columns.

        Returns
        -------
        csr_matrix of shape (len(context), n_features_), float32
            All-zero rows when the builder has no context fields.

        Raises
        ------
        DataError
            A declared context column is missing (named, with the available columns), or a
            value is unknown/missing for a field declared ``'error'``.
        """
        check_is_fitted(self, "space_")
        if not isinstance(context, pd.DataFrame):
            raise DataError(f"context must be a pandas DataFrame; got {type(context).__name__}")
        _require_columns(context, self._context_columns(), "context", "context_features")
        X = self._context_matrix(context, "context")
        if X is None:
            return sp.csr_matrix((len(context), self.space_.n_features), dtype=np.float32)
        return X

    def feature_names(self) -> list[str]:
        """Name of every column (``field=value`` or ``field``), in column order."""
        check_is_fitted(self, "space_")
        return self.space_.feature_names()

    # -- persistence (JSON, no pickle) ---------------------------------------------------
    def get_state(self) -> dict:
        """Everything a fitted builder knows, as a JSON-serialisable dict.

        ``FeatureBuilder.from_state(json.loads(json.dumps(b.get_state())))`` rebuilds an
        equivalent builder. Ids, vocabulary values and attributes must be JSON scalars
        (int, float, str, bool) or lists of them.
        """
        check_is_fitted(self, "space_")

        def spec_json(v: Any) -> Any:
            return [s if isinstance(s, str) else s.to_dict() for s in _spec_list(v, "features")]

        attrs = {side: frame_to_json(self._attrs.get(side)) for side in ("user", "item")}
        log = getattr(self, "_log", None)
        return {
            "format": "recfm.FeatureBuilder",
            "version": _STATE_VERSION,
            "params": {
                "user_features": spec_json(self.user_features),
                "item_features": spec_json(self.item_features),
                "context_features": spec_json(self.context_features),
                "use_user_ids": bool(self.use_user_ids),
                "use_item_ids": bool(self.use_item_ids),
                "normalize": bool(self.normalize),
                "value_column": self.value_column,
            },
            "space": self.space_.to_dict(),
            "user_index": _json_column(pd.Series(self.user_index_)),
            "item_index": _json_column(pd.Series(self.item_index_)),
            "attrs": attrs,
            "context_counts": {
                k: [_json_column(pd.Series(v.index)), v.to_numpy().tolist()]
                for k, v in self._context_counts.items()
            },
            "log": None if log is None else {
                "user": log["user"].tolist(),
                "item": log["item"].tolist(),
                "time": None if log["time"] is None else log["time"].tolist(),
            },
        }

    @classmethod
    def from_state(cls, state: dict) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`get_state` output."""
        if not isinstance(state, dict) or state.get("format") != "recfm.FeatureBuilder":
            raise ValueError("not a recfm FeatureBuilder state (missing format tag)")
        version = state.get("version")
        if not isinstance(version, int) or version > _STATE_VERSION:
            raise ValueError(
                f"FeatureBuilder state version {version!r} is newer than this recfm "
                f"understands ({_STATE_VERSION}); upgrade recfm"
            )

        def spec_obj(v: list) -> list:
            return [s if isinstance(s, str) else field_from_dict(s) for s in v]

        p = dict(state["params"])
        for k in ("user_features", "item_features", "context_features"):
            p[k] = spec_obj(p[k])
        b = cls(**p)
        b.space_ = FeatureSpace.from_dict(state["space"])
        b.n_features_ = b.space_.n_features
        b.user_index_ = pd.Index(state["user_index"])
        b.item_index_ = pd.Index(state["item_index"])
        b._attrs = {side: frame_from_json(d) for side, d in state["attrs"].items()}
        # Id fields share their vocabulary with the id index.
        for side in ("user", "item"):
            if _ID_COL[side] in b.space_:
                b.space_[_ID_COL[side]].values = b.user_index_ if side == "user" else b.item_index_
        b._context_counts = {
            k: pd.Series(np.asarray(c, dtype=np.int64), index=pd.Index(vals))
            for k, (vals, c) in state["context_counts"].items()
        }
        log = state.get("log")
        b._log = None if log is None else {
            "user": np.asarray(log["user"], dtype=np.int64),
            "item": np.asarray(log["item"], dtype=np.int64),
            "time": None if log["time"] is None else np.asarray(log["time"], dtype=np.float64),
        }
        b._log_cache = {}
        return b


def _json_cell(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_json_cell(x) for x in v.tolist()]
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_json_cell(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return v


def _json_column(s: pd.Series) -> list:
    # Persistence is not a hot path: a per-cell conversion keeps lists and NaN JSON-clean.
    return [_json_cell(v) for v in s.astype(object).tolist()]


def frame_to_json(frame: pd.DataFrame | None) -> dict[str, list] | None:
    """A frame of attributes as ``{column: [JSON values]}`` (None stays None), for
    :func:`frame_from_json`."""
    return None if frame is None else {c: _json_column(frame[c]) for c in frame.columns}


def frame_from_json(columns: dict[str, list] | None) -> pd.DataFrame | None:
    """The frame :func:`frame_to_json` gave (integer columns with gaps as ``Int64``)."""
    if columns is None:
        return None
    return pd.DataFrame({c: pd.Series(v, dtype=_json_dtype(v)) for c, v in columns.items()})


def ids_of_kind(reference: pd.Index, ids: pd.Series | pd.Index, what: str, side: str) -> pd.Index:
    """``ids`` to be added beside ``reference``: refused unless of its kind (integer, float
    or text), as ``fit`` refuses an attribute frame whose ids differ in kind from the
    interactions', and cast to its dtype when both are integers (int32 ids beside int64 ones
    stay int64; a uint64 id beside them would turn the index into floats).

    Parameters
    ----------
    reference : Index
        The ids in place (a fitted index, a catalogue).
    ids : Series or Index
        The new ids.
    what : str
        The frame they come from, named in the message (``"items"``).
    side : {"user", "item"}
        Which id column.

    Returns
    -------
    Index

    Raises
    ------
    DataError
        The kinds differ (``items column 'item_id' has text ids (dtype str) but the fitted
        ids are integer``), or an integer id does not fit ``reference``'s dtype.
    """
    FeatureBuilder._check_id_types(reference, ids, what, side)
    out = pd.Index(ids)
    if (len(out) and pd.api.types.is_integer_dtype(reference.dtype)
            and pd.api.types.is_integer_dtype(out.dtype) and out.dtype != reference.dtype):
        bounds = np.iinfo(reference.dtype)
        low, high = int(out.min()), int(out.max())
        if low < bounds.min or high > bounds.max:
            bad = low if low < bounds.min else high
            raise DataError(f"{what} column {_ID_COL[side]!r} has id {bad}, which the "
                            f"{reference.dtype} ids in place cannot hold")
        out = out.astype(reference.dtype)
    return out


def _json_dtype(values: list) -> Any:
    # Integer columns with gaps come back as nullable Int64 rather than floats, so
    # categorical ids/values keep their names (zip=10001, not zip=10001.0).
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "Int64"
    return None


def _rows_of(X: sp.csr_matrix, rows: np.ndarray) -> enc.Triples:
    """Triples of ``X[rows[r]]`` placed at row r (rows -1 give nothing)."""
    r = np.flatnonzero(rows >= 0)
    sub = X[rows[r]].tocoo()
    return (r[sub.row].astype(np.int64), sub.col.astype(np.int64), sub.data)


def _frame_column(spec: Field, frame: pd.DataFrame, what: str) -> pd.Series:
    """The column a field encodes: its own, or the bins a TimeBin derives from a timestamp."""
    if isinstance(spec, TimeBin):
        return _log.time_bins(spec, frame, what)
    return frame[spec.name]
