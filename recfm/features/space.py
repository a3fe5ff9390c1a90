"""The feature space: which FM column means what, and how it grows.

A :class:`FeatureSpace` lists the fields (name, side, kind), each field's vocabulary
(value → column), and a name for every column (``user_id=196``, ``genres=Comedy``,
``age=[25,35)``, ``hour``, ``occupation=<unknown>``).

The space is **append-only**: growth (``FeatureBuilder.partial_fit``) gives new values new
columns at the end and never renumbers an existing column, so a model trained on an older
space stays valid on columns ``[0, old_n_features)``. At the initial fit each field's
columns are one contiguous range (:attr:`FeatureSpace.offsets`); columns added later are
appended wherever the end is, so use :meth:`FeatureSpace.columns_of` or
:attr:`FeatureSpace.field_of_column` rather than ranges after growth.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._utils import plain_list
from .fields import MISSING, UNKNOWN, Field, Numeric, field_from_dict

#: Sides a field can live on. User and context fields form the FM's query side.
SIDES = ("user", "item", "context")


@dataclass
class FieldInfo:
    """One fitted field of a :class:`FeatureSpace`.

    Attributes
    ----------
    name : str
        Field (and column) name.
    side : {'user', 'item', 'context'}
        Where the field lives: user and context fields are the query side.
    spec : Field
        The declaration (``Id``, ``Categorical``, ``MultiValued`` or ``Numeric``).
    values : pandas.Index
        Vocabulary in column order: ids, categories, or bucket labels for binned numerics.
    value_columns : ndarray of int64
        Column of each entry of ``values``.
    unknown_column, missing_column : int
        Columns of the ``<unknown>`` / ``<missing>`` buckets, -1 when the field has none.
    column : int
        The single column of an unbinned numeric field, else -1.
    center, scale : float
        Unbinned numeric encoding: the column holds ``(x - center) / scale``.
    edges : ndarray of float64 or None
        Cut points of a binned numeric field; bucket ``k`` holds
        ``edges[k-1] <= x < edges[k]``.
    low, high : float or None
        Unbinned numeric: the range of the fit data. Values outside it are clipped to it
        when encoded, with a warning (the model never learned what they mean, and a
        value such as 1e30 would otherwise dominate every score).
    """

    name: str
    side: str
    spec: Field
    values: pd.Index
    value_columns: np.ndarray
    unknown_column: int = -1
    missing_column: int = -1
    column: int = -1
    center: float = 0.0
    scale: float = 1.0
    edges: np.ndarray | None = None
    low: float | None = None
    high: float | None = None

    @property
    def kind(self) -> str:
        """``'id'``, ``'categorical'``, ``'multi_valued'``, ``'numeric'`` or ``'binned'``."""
        if isinstance(self.spec, Numeric):
            return "binned" if self.spec.binned else "numeric"
        return self.spec.kind

    @property
    def columns(self) -> np.ndarray:
        """Every column of the field, sorted (int64)."""
        extra = [c for c in (self.unknown_column, self.missing_column, self.column) if c >= 0]
        cols = np.concatenate([self.value_columns, np.asarray(extra, dtype=np.int64)])
        return np.sort(cols)

    def lookup(self, values: Any) -> np.ndarray:
        """Column of each value (int64), -1 for values not in the vocabulary."""
        if len(self.values) == 0:
            return np.full(len(values), -1, dtype=np.int64)
        pos = self.values.get_indexer(values)
        return np.where(pos >= 0, self.value_columns[np.maximum(pos, 0)], -1).astype(np.int64)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "side": self.side,
            "spec": self.spec.to_dict(),
            "values": plain_list(self.values),
            "value_columns": self.value_columns.tolist(),
            "unknown_column": int(self.unknown_column),
            "missing_column": int(self.missing_column),
            "column": int(self.column),
            "center": float(self.center),
            "scale": float(self.scale),
            "edges": None if self.edges is None else self.edges.tolist(),
            "low": None if self.low is None else float(self.low),
            "high": None if self.high is None else float(self.high),
        }

    @classmethod
    def from_dict(cls, d: dict) -> FieldInfo:
        return cls(
            name=d["name"],
            side=d["side"],
            spec=field_from_dict(d["spec"]),
            values=_index_from_list(d["values"]),
            value_columns=np.asarray(d["value_columns"], dtype=np.int64),
            unknown_column=int(d["unknown_column"]),
            missing_column=int(d["missing_column"]),
            column=int(d["column"]),
            center=float(d["center"]),
            scale=float(d["scale"]),
            edges=None if d["edges"] is None else np.asarray(d["edges"], dtype=np.float64),
            # absent from models saved before the range was kept: no clipping then
            low=None if d.get("low") is None else float(d["low"]),
            high=None if d.get("high") is None else float(d["high"]),
        )


def _index_from_list(values: list) -> pd.Index:
    if len(values) == 0:
        return pd.Index([], dtype=object)
    return pd.Index(values)


class FeatureSpace:
    """Fields, vocabularies and column names of an FM design (append-only).

    Attributes
    ----------
    offsets : dict of str -> (int, int)
        Column range ``[start, stop)`` of each field at the initial fit. Columns added by
        later growth are not in these ranges; use :meth:`columns_of` for all of them.
    n_features_initial : int
        Number of columns at the initial fit.
    """

    def __init__(self) -> None:
        self._fields: dict[str, FieldInfo] = {}
        self._order: list[str] = []
        self._names: list[str] = []
        self._field_of_column: list[int] = []
        self.offsets: dict[str, tuple[int, int]] = {}
        self.n_features_initial: int = 0
        self._cache: dict[str, Any] = {}

    # -- read access -------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Number of columns."""
        return len(self._names)

    @property
    def fields(self) -> list[FieldInfo]:
        """Fitted fields in declaration order (user id, user fields, context, item id, item)."""
        return [self._fields[n] for n in self._order]

    @property
    def field_names(self) -> list[str]:
        return list(self._order)

    def fields_on(self, side: str) -> list[FieldInfo]:
        """Fields of one side (``'user'``, ``'item'`` or ``'context'``)."""
        return [f for f in self.fields if f.side == side]

    def __getitem__(self, name: str) -> FieldInfo:
        try:
            return self._fields[name]
        except KeyError:
            raise KeyError(f"no field named {name!r}; fields are {self._order}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def feature_names(self) -> list[str]:
        """Name of every column, in column order (``field=value`` or ``field``)."""
        return list(self._names)

    @property
    def field_of_column(self) -> np.ndarray:
        """Index into :attr:`fields` of each column's field, int32 of shape (n_features,)."""
        if "field_of_column" not in self._cache:
            self._cache["field_of_column"] = np.asarray(self._field_of_column, dtype=np.int32)
        return self._cache["field_of_column"]

    @property
    def side_of_column(self) -> np.ndarray:
        """Side (``'user'``, ``'item'``, ``'context'``) of each column, shape (n_features,)."""
        if "side_of_column" not in self._cache:
            sides = np.asarray([f.side for f in self.fields], dtype=object)
            self._cache["side_of_column"] = sides[self.field_of_column].astype(str)
        return self._cache["side_of_column"]

    @property
    def item_column_mask(self) -> np.ndarray:
        """True for item-side columns, False for query-side (user and context) columns."""
        return self.side_of_column == "item"

    def vocabulary(self, name: str) -> dict:
        """Mapping value → column of field ``name`` (without the special buckets)."""
        info = self[name]
        return dict(zip(info.values.tolist(), info.value_columns.tolist(), strict=True))

    def columns_of(self, name: str) -> np.ndarray:
        """Every column of field ``name``, including buckets and later growth (sorted)."""
        return self[name].columns

    def column(self, feature_name: str) -> int:
        """Column of a feature name as given by :meth:`feature_names` (``'genres=Drama'``)."""
        if "by_name" not in self._cache:
            by_name: dict[str, int] = {}
            for j, n in enumerate(self._names):
                by_name.setdefault(n, j)
            self._cache["by_name"] = by_name
        try:
            return self._cache["by_name"][feature_name]
        except KeyError:
            raise KeyError(f"no feature named {feature_name!r}") from None

    def __repr__(self) -> str:
        parts = ", ".join(f"{f.name}:{f.side}:{f.kind}" for f in self.fields)
        return f"FeatureSpace(n_features={self.n_features}, fields=[{parts}])"

    # -- growth (used by FeatureBuilder) -----------------------------------------------
    def copy(self) -> FeatureSpace:
        """Independent copy (growing the copy leaves this space untouched)."""
        new = FeatureSpace()
        new._fields = {k: copy.copy(v) for k, v in self._fields.items()}
        new._order = list(self._order)
        new._names = list(self._names)
        new._field_of_column = list(self._field_of_column)
        new.offsets = dict(self.offsets)
        new.n_features_initial = self.n_features_initial
        return new

    def _new_columns(self, name: str, labels: Iterable[str]) -> np.ndarray:
        labels = list(labels)
        start = len(self._names)
        field_idx = self._order.index(name)
        self._names.extend(labels)
        self._field_of_column.extend([field_idx] * len(labels))
        self._cache.clear()
        return np.arange(start, start + len(labels), dtype=np.int64)

    def add_field(self, name: str, side: str, spec: Field) -> FieldInfo:
        """Register a field with an empty vocabulary."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}; got {side!r}")
        if name in self._fields:
            raise ValueError(f"field {name!r} is already in the feature space")
        info = FieldInfo(
            name=name,
            side=side,
            spec=spec,
            values=pd.Index([], dtype=object),
            value_columns=np.zeros(0, dtype=np.int64),
        )
        self._fields[name] = info
        self._order.append(name)
        self._cache.clear()
        return info

    def add_values(self, name: str, values: pd.Index | list) -> np.ndarray:
        """Give each new value of field ``name`` a column at the end; returns the columns."""
        info = self[name]
        values = pd.Index(values)
        if len(values) == 0:
            return np.zeros(0, dtype=np.int64)
        cols = self._new_columns(name, (f"{name}={v}" for v in values))
        info.values = values if len(info.values) == 0 else info.values.append(values)
        info.value_columns = np.concatenate([info.value_columns, cols])
        return cols

    def add_bucket(self, name: str, which: str) -> int:
        """Add the ``<unknown>`` or ``<missing>`` column of field ``name``."""
        info = self[name]
        label = {"unknown": UNKNOWN, "missing": MISSING}[which]
        col = int(self._new_columns(name, [f"{name}={label}"])[0])
        setattr(info, f"{which}_column", col)
        return col

    def add_numeric_column(self, name: str) -> int:
        """Add the single real-valued column of an unbinned numeric field."""
        info = self[name]
        info.column = int(self._new_columns(name, [name])[0])
        return info.column

    def freeze_offsets(self) -> None:
        """Record every field's column range; called once at the end of the initial fit."""
        self.offsets = {}
        for info in self.fields:
            cols = info.columns
            if len(cols):
                self.offsets[info.name] = (int(cols[0]), int(cols[-1]) + 1)
            else:
                self.offsets[info.name] = (0, 0)
        self.n_features_initial = self.n_features

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able description (no pickle); :meth:`from_dict` inverts it."""
        return {
            "fields": [self._fields[n].to_dict() for n in self._order],
            "feature_names": list(self._names),
            "field_of_column": list(self._field_of_column),
            "offsets": {k: list(v) for k, v in self.offsets.items()},
            "n_features_initial": self.n_features_initial,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpace:
        new = cls()
        for fd in d["fields"]:
            info = FieldInfo.from_dict(fd)
            new._fields[info.name] = info
            new._order.append(info.name)
        new._names = list(d["feature_names"])
        new._field_of_column = [int(i) for i in d["field_of_column"]]
        new.offsets = {k: (int(v[0]), int(v[1])) for k, v in d["offsets"].items()}
        new.n_features_initial = int(d["n_features_initial"])
        return new
