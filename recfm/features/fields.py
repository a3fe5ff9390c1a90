"""Field declarations: how one column of a frame becomes FM feature columns.

A field is a small frozen value object naming a column and saying how to encode it:

* :class:`Id` — the user or item id itself, one column per known id (``user_id=196``).
* :class:`Categorical` — one column per value (``occupation=writer``).
* :class:`MultiValued` — a list of values per row (``genres=Comedy``, ``genres=Drama``).
* :class:`Numeric` — one real-valued column (``hour``), or, with ``bins``, categorical
  buckets of a number (``age=[25,35)``).

A bare column name given to :class:`~recfm.features.FeatureBuilder` is turned into one of
these by :func:`infer_field`, which looks at the column's dtype.

Fields validate their own arguments on construction, so a typo fails where it is written
rather than at ``fit`` time.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields as dc_fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._timestamps import UNITS
from .._utils import DataError

#: Name of the bucket a field's unseen values go to: ``occupation=<unknown>``.
UNKNOWN = "<unknown>"
#: Name of the bucket a field's missing (NaN/None) values go to: ``occupation=<missing>``.
MISSING = "<missing>"

_UNKNOWN_POLICIES = ("bucket", "error", "ignore")
_MISSING_POLICIES = ("bucket", "error", "ignore")
_NUMERIC_MISSING = ("zero", "error")
_WEIGHTS = ("uniform", "normalized")
_SCALES = ("standard", "minmax", None)


def _check_choice(owner: str, arg: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{owner}: {arg} must be one of {shown}; got {value!r}")


def _check_name(cls: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls} name must be a non-empty column name (str); got {name!r}")


def _check_min_count(owner: str, min_count: Any) -> None:
    if (
        isinstance(min_count, bool)
        or not isinstance(min_count, numbers.Integral)
        or min_count < 1
    ):
        raise ValueError(f"{owner}: min_count must be a positive integer; got {min_count!r}")


@dataclass(frozen=True)
class Field:
    """Base class of all field declarations.

    Parameters
    ----------
    name : str
        Column of the frame (users, items or interactions) the field reads; also the
        prefix of its feature names.
    """

    name: str

    #: Short kind label used by :class:`~recfm.features.FeatureSpace`.
    kind: ClassVar[str] = "field"

    def __post_init__(self) -> None:
        _check_name(type(self).__name__, self.name)

    @property
    def _owner(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def to_dict(self) -> dict:
        """JSON-able description of the field (inverse of :func:`field_from_dict`)."""
        out = {"type": type(self).__name__}
        for f in dc_fields(self):
            key = f.name
            value = getattr(self, key)
            if isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out


@dataclass(frozen=True)
class Id(Field):
    """The user or item id column: one feature column per known id (``user_id=196``).

    The builder creates these itself from ``use_user_ids`` / ``use_item_ids``; ids are
    never bucketed, and a new id without attributes cannot be encoded (it raises).
    """

    kind: ClassVar[str] = "id"


@dataclass(frozen=True)
class Categorical(Field):
    """One feature column per distinct value of a column (``occupation=writer``).

    Parameters
    ----------
    name : str
        Column name.
    min_count : int, default 1
        Values seen in fewer than ``min_count`` rows at fit time get no column of their own;
        they are treated as unknown (so ``min_count > 1`` needs ``unknown='bucket'`` or
        ``'ignore'``). User/item fields count rows of the users/items frame; context fields
        count interactions.
    unknown : {'bucket', 'error', 'ignore'}, default 'bucket'
        What to do with a value that has no column at transform time: map it to the
        ``name=<unknown>`` column (created at fit time), raise :class:`DataError`, or leave
        the row without a column for this field.
    missing : {'bucket', 'error', 'ignore'}, default 'bucket'
        Likewise for NaN/None, with the ``name=<missing>`` column.
    """

    min_count: int = 1
    unknown: str = "bucket"
    missing: str = "bucket"

    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_min_count(self._owner, self.min_count)
        _check_choice(self._owner, "unknown", self.unknown, _UNKNOWN_POLICIES)
        _check_choice(self._owner, "missing", self.missing, _MISSING_POLICIES)
        if self.min_count > 1 and self.unknown == "error":
            raise ValueError(
                f"{self._owner}: min_count={self.min_count} needs unknown='bucket' or "
                "'ignore' (values rarer than min_count are treated as unknown); "
                "got unknown='error'"
            )


@dataclass(frozen=True)
class MultiValued(Categorical):
    """Several values per row, e.g. a movie's genres (``genres=Comedy``, ``genres=Drama``).

    A cell is a list, tuple or array of values; a string cell is split on ``sep``
    (``"Comedy|Drama"``). An empty list (or empty string) means "no values" and gives the
    row no column for this field; NaN/None means missing and follows ``missing``.

    Parameters
    ----------
    name : str
        Column name.
    weights : {'uniform', 'normalized'}, default 'uniform'
        ``'uniform'``: every value of a row gets weight 1 (LightFM's indicator features;
        use ``FeatureBuilder(normalize=True)`` to scale whole rows). ``'normalized'``: each
        of a row's k values gets weight 1/k, so the field sums to 1. A value listed twice
        in one cell is counted twice.
    min_count : int, default 1
        As for :class:`Categorical`, counting rows that contain the value.
    unknown, missing : {'bucket', 'error', 'ignore'}, default 'bucket'
        As for :class:`Categorical`; each unknown value of a row adds weight to the
        ``name=<unknown>`` column.
    sep : str, default '|'
        Separator used to split string cells.
    """

    weights: str = "uniform"
    sep: str = "|"

    kind: ClassVar[str] = "multi_valued"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self._owner, "weights", self.weights, _WEIGHTS)
        if not isinstance(self.sep, str) or not self.sep:
            raise ValueError(f"{self._owner}: sep must be a non-empty string; got {self.sep!r}")


@dataclass(frozen=True)
class Numeric(Field):
    """A number: one real-valued column, or categorical buckets when ``bins`` is given.

    Parameters
    ----------
    name : str
        Column name.
    bins : None, int or sequence of float, default None
        ``None``: one column named ``name`` holding the (scaled) value. An int ``b``:
        up to ``b`` buckets cut at quantiles of the fit data (duplicate cut points merge).
        A sequence: increasing cut points ``e_0 < ... < e_m``, giving the buckets
        ``(-inf,e_0)``, ``[e_0,e_1)``, ..., ``[e_m,inf)``. Each bucket is a categorical
        column named like ``age=[25,35)``; every bucket gets its column at fit time.
    scale : {'standard', 'minmax', None}, default 'standard'
        For unbinned fields: ``(x - mean) / std`` or ``(x - min) / (max - min)`` with the
        statistics of the first fit (``partial_fit`` never changes them, so a trained model's
        weights keep their meaning), or the raw value. Ignored when binned. Values that
        ``transform`` meets outside the range of the first fit data are clipped to that
        range with a ``UserWarning`` naming the column, row and value: the model never
        learned what they mean, and a value such as ``hour=1e30`` would otherwise swamp
        every score. Infinite values are refused (``DataError``).
    missing : {'zero', 'error'}, default 'zero'
        NaN gives the row no column for this field (an FM reads that as value 0; with
        standard scaling that is the mean), or raises :class:`DataError`.
    """

    bins: None | int | tuple[float, ...] = None
    scale: str | None = "standard"
    missing: str = "zero"

    kind: ClassVar[str] = "numeric"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self._owner, "scale", self.scale, _SCALES)
        _check_choice(self._owner, "missing", self.missing, _NUMERIC_MISSING)
        bins = self.bins
        if bins is None:
            return
        if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
            if bins < 1:
                raise ValueError(f"{self._owner}: bins must be >= 1; got {bins!r}")
            object.__setattr__(self, "bins", int(bins))
            return
        if isinstance(bins, (str, bytes)) or not np.iterable(bins):
            raise ValueError(
                f"{self._owner}: bins must be None, an int or a sequence of cut points; "
                f"got {bins!r}"
            )
        edges = np.asarray(list(bins), dtype=np.float64)
        if edges.ndim != 1 or len(edges) == 0 or not np.all(np.isfinite(edges)):
            raise ValueError(
                f"{self._owner}: bins must be a non-empty sequence of finite cut points; "
                f"got {bins!r}"
            )
        if np.any(np.diff(edges) <= 0):
            raise ValueError(
                f"{self._owner}: bins cut points must be strictly increasing; got {bins!r}"
            )
        # A tuple keeps the frozen dataclass hashable and comparable.
        object.__setattr__(self, "bins", tuple(float(e) for e in edges))

    @property
    def binned(self) -> bool:
        """Whether the field becomes categorical buckets."""
        return self.bins is not None


_HISTORY_WEIGHTS = ("sqrt", "linear", "none")


def _check_optional_count(owner: str, arg: str, value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1
    ):
        raise ValueError(f"{owner}: {arg} must be None or a positive integer; got {value!r}")


@dataclass(frozen=True)
class History(Field):
    """The user's training items as a query-side field (SVD++ / asymmetric SVD).

    Each user row carries one column per item the user interacted with in the training
    log (``history=<item id>``; separate vectors y_j, not the item-id vectors), weighted
    ``1/sqrt(n)`` (``'sqrt'``), ``1/n`` (``'linear'``) or 1 (``'none'``) for a history of
    n items. Built from the interactions given to ``fit``/``partial_fit`` only. During
    training a sample's target item is left out of its own history (and the others
    re-weighted for n - 1 items), so the model never sees the answer in the question.
    Declare it in ``user_features``; it reads no column of the users frame.

    Parameters
    ----------
    name : str, default 'history'
        Prefix of the field's feature names.
    weight : {'sqrt', 'linear', 'none'}, default 'sqrt'
    max_items : int or None, default None
        Keep only each user's latest ``max_items`` items (by ``timestamp`` when the log has
        that column, else by row order).
    timestamp : str, default 'timestamp'
        Column ordering the log for ``max_items`` (optional).
    """

    name: str = "history"
    weight: str = "sqrt"
    max_items: int | None = None
    timestamp: str = "timestamp"

    kind: ClassVar[str] = "history"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self._owner, "weight", self.weight, _HISTORY_WEIGHTS)
        _check_optional_count(self._owner, "max_items", self.max_items)
        _check_name(self._owner + " timestamp", self.timestamp)

    def scale(self, n: np.ndarray) -> np.ndarray:
        """Weight of each item of a history of ``n`` items (0 for an empty history)."""
        n = np.asarray(n, dtype=np.float64)
        safe = np.maximum(n, 1.0)
        if self.weight == "sqrt":
            out = 1.0 / np.sqrt(safe)
        elif self.weight == "linear":
            out = 1.0 / safe
        else:
            out = np.ones_like(safe)
        return np.where(n > 0, out, 0.0)


@dataclass(frozen=True)
class RecentItems(Field):
    """The user's last ``n`` items strictly before each interaction (FPMC-style context).

    A query-side field with one column per item (``recent=<item id>``, vectors of their
    own); the most recent item has weight 1, the one before ``decay``, then ``decay**2``...
    Training rows use the training log's items with a timestamp strictly before the
    interaction's (never the interaction itself, nor anything later); at recommend time a
    user's latest ``n`` training items (or those of the history given in the request).
    Declare it in ``context_features``; the interactions need the ``timestamp`` column
    (numbers or datetimes, no missing values; rows need not be sorted). Datetimes count as
    the Unix seconds the file readers give, so the fitted log and later frames (a request
    history, ``transform``, ``partial_fit``) may use either kind.

    Parameters
    ----------
    n : int, default 1
    decay : float in (0, 1], default 1.0
    name : str, default 'recent'
    timestamp : str, default 'timestamp'
    """

    name: str = "recent"
    n: int = 1
    decay: float = 1.0
    timestamp: str = "timestamp"

    kind: ClassVar[str] = "recent"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_optional_count(self._owner, "n", self.n)
        if self.n is None:
            raise ValueError(f"{self._owner}: n must be a positive integer; got None")
        d = self.decay
        if isinstance(d, bool) or not isinstance(d, numbers.Real) or not 0 < d <= 1:
            raise ValueError(f"{self._owner}: decay must be a number in (0, 1]; got {d!r}")
        _check_name(self._owner + " timestamp", self.timestamp)

    def weights(self) -> np.ndarray:
        """Weight of the latest, second latest, ... item (float32, length n)."""
        return (float(self.decay) ** np.arange(self.n)).astype(np.float32)


_TIME_BINS = ("hour", "dayofweek", "month", "year")
_TIME_UNITS = tuple(UNITS)


@dataclass(frozen=True)
class TimeBin(Categorical):
    """A categorical context field derived from the interaction's timestamp (time-aware MF).

    One column per bin (``dayofweek=0`` ... ``dayofweek=6``, ``hour=13``, ``month=12``,
    ``year=1998``), so time effects are an ordinary context field. Declare it in
    ``context_features``; frames (interactions, and the context given to ``recommend``)
    need the timestamp column: numbers (seconds since the epoch by default) or datetimes,
    read in UTC. Missing timestamps and unseen bins follow ``missing`` and ``unknown``.
    A frame whose times all fall in 1970 (no real times: zeros, dates written as digits,
    times counted from a start) gets a warning.

    Parameters
    ----------
    name : str, default: ``by``
        Prefix of the feature names (give each TimeBin its own).
    by : {'hour', 'dayofweek', 'month', 'year'}, default 'dayofweek'
    timestamp : str, default 'timestamp'
    unit : {'s', 'ms', 'us', 'ns'}, default 's'
        Unit of numeric timestamps in the frames given. Frames from
        :func:`recfm.datasets.read_interactions_csv` hold seconds whatever the file's
        ``time_unit``: keep ``'s'`` for them.
    min_count, unknown, missing
        As for :class:`Categorical`.
    """

    name: str = ""
    by: str = "dayofweek"
    timestamp: str = "timestamp"
    unit: str = "s"

    def __post_init__(self) -> None:
        if self.name == "":
            # named after its bins: TimeBin(by='hour') must not make 'dayofweek=13' columns
            object.__setattr__(self, "name", self.by)
        super().__post_init__()
        _check_choice(self._owner, "by", self.by, _TIME_BINS)
        _check_choice(self._owner, "unit", self.unit, _TIME_UNITS)
        _check_name(self._owner + " timestamp", self.timestamp)


#: Field kinds built from the interaction log rather than from a frame column.
LOG_KINDS = ("history", "recent")


_FIELD_TYPES = {
    cls.__name__: cls
    for cls in (Id, Categorical, MultiValued, Numeric, History, RecentItems, TimeBin)
}


def field_from_dict(d: dict) -> Field:
    """Rebuild a field from :meth:`Field.to_dict` output."""
    d = dict(d)
    cls = _FIELD_TYPES.get(d.pop("type", None))
    if cls is None:
        raise ValueError(f"unknown field type in {d!r}")
    if isinstance(d.get("bins"), list):
        d["bins"] = tuple(d["bins"])
    return cls(**d)


def _is_list_like_cell(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, set, frozenset, pd.Series))


def infer_field(name: str, column: pd.Series, what: str = "frame") -> Field:
    """Field for a column given by bare name, from its dtype.

    * bool → :class:`Categorical` (``flag=True``/``flag=False``)
    * numbers → :class:`Numeric` (standard-scaled, unbinned)
    * ``category``, ``str``/``string`` → :class:`Categorical`
    * ``object`` holding lists/tuples/arrays → :class:`MultiValued`; other objects →
      :class:`Categorical`

    Parameters
    ----------
    name : str
        Column name.
    column : Series
        The column's data (from the users, items or interactions frame).
    what : str
        Name of the frame, for error messages.

    Raises
    ------
    DataError
        When the kind cannot be inferred (all values missing, datetimes, ...).
    """
    dtype = column.dtype
    api = pd.api.types
    if api.is_bool_dtype(dtype):
        return Categorical(name)
    if isinstance(dtype, pd.CategoricalDtype):
        return Categorical(name)
    if api.is_numeric_dtype(dtype) and not api.is_complex_dtype(dtype):
        return Numeric(name)
    if api.is_string_dtype(dtype) and not api.is_object_dtype(dtype):
        return Categorical(name)
    if api.is_object_dtype(dtype):
        # Look at the first non-missing cell only: scanning every row would be a Python loop,
        # and a column mixing lists and scalars is handled by MultiValued anyway (a scalar is
        # a one-value list).
        valid = column.notna().to_numpy()
        if not valid.any():
            raise DataError(
                f"{what} column '{name}': cannot infer its kind, every value is missing; "
                "declare it explicitly with Categorical, MultiValued or Numeric"
            )
        first = column.iloc[int(np.argmax(valid))]
        if _is_list_like_cell(first):
            return MultiValued(name)
        if isinstance(first, (bool, np.bool_)):
            return Categorical(name)
        return Categorical(name)
    raise DataError(
        f"{what} column '{name}' has dtype {dtype}, whose kind cannot be inferred; "
        "declare it explicitly with Categorical, MultiValued or Numeric"
    )
