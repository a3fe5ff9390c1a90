"""Vectorised encoding of one field's column into sparse (row, column, value) triples.

Everything here works on whole columns with pandas/numpy primitives (``pd.factorize``,
``Index.get_indexer``, ``Series.explode``, ``np.searchsorted``); nothing loops over rows.
The builder concatenates the triples of all fields of a side and builds one CSR matrix.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .._utils import DataError
from .fields import Categorical, MultiValued, Numeric
from .space import FieldInfo

#: Describes row ``r`` in an error message, e.g. ``"user_id 7"`` or ``"row 12"``.
Where = Callable[[int], str]

Triples = tuple[np.ndarray, np.ndarray, np.ndarray]

_EMPTY: Triples = (
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.float32),
)


def at_row(r: int) -> str:
    return f"row {r}"


def fmt_value(v: object) -> str:
    return repr(v.item() if isinstance(v, np.generic) else v)


def format_edge(e: float) -> str:
    """Shortest text of a cut point: ``25`` rather than ``25.0``."""
    return np.format_float_positional(float(e), trim="-")


def bin_labels(edges: np.ndarray) -> list[str]:
    """Bucket labels for cut points ``e_0 < ... < e_m``: ``(-inf,e_0)``, ..., ``[e_m,inf)``."""
    if len(edges) == 0:
        return ["(-inf,inf)"]
    txt = [format_edge(e) for e in edges]
    labels = [f"(-inf,{txt[0]})"]
    labels += [f"[{a},{b})" for a, b in zip(txt[:-1], txt[1:], strict=True)]
    labels.append(f"[{txt[-1]},inf)")
    return labels


# -- column readers ----------------------------------------------------------------------
def flatten_multi(s: pd.Series, sep: str) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Split a multi-valued column into one entry per (row, value).

    Returns
    -------
    rows : ndarray of int64
        Row (0-based position in ``s``) of each entry.
    values : Series
        The entries' values (missing elements and empty strings dropped).
    missing : ndarray of bool, shape (len(s),)
        Rows whose whole cell is NaN/None (an empty list is *not* missing).
    """
    s = s.reset_index(drop=True)
    missing = s.isna().to_numpy()
    api = pd.api.types
    if api.is_string_dtype(s.dtype) and not api.is_object_dtype(s.dtype):
        s = s.str.split(sep, regex=False)
    elif api.is_object_dtype(s.dtype) and api.infer_dtype(s, skipna=True) == "string":
        s = s.str.split(sep, regex=False)
    elif isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    # explode works in compiled code; its index repeats the original row positions.
    ex = s.explode()
    rows = ex.index.to_numpy(dtype=np.int64)
    values = ex.reset_index(drop=True)
    ok = values.notna().to_numpy().copy()
    if ok.any() and (api.is_string_dtype(values.dtype) or api.is_object_dtype(values.dtype)):
        ok &= (values != "").to_numpy(dtype=bool, na_value=False)
    return rows[ok], values[ok].reset_index(drop=True), missing


def to_float(s: pd.Series, what: str, name: str, where: Where) -> np.ndarray:
    """Column as float64 with NaN for missing; raise on non-numeric or infinite values."""
    api = pd.api.types
    if api.is_numeric_dtype(s.dtype) or api.is_bool_dtype(s.dtype):
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        conv = pd.to_numeric(s, errors="coerce")
        bad = (conv.isna() & s.notna()).to_numpy()
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{what} column '{name}' has non-numeric value {fmt_value(s.iloc[r])}"
                f" at {where(r)} (declared Numeric)"
            )
        x = conv.to_numpy(dtype=np.float64, na_value=np.nan)
    inf = np.isinf(x)
    if inf.any():
        r = int(np.flatnonzero(inf)[0])
        raise DataError(f"{what} column '{name}' has non-finite value {x[r]} at {where(r)}")
    return x


# -- fitting -------------------------------------------------------------------------------
def check_missing_at_fit(spec, s: pd.Series, what: str, where: Where) -> None:
    """Raise when a field declared ``missing='error'`` has NaN in its fit data."""
    if spec.missing != "error":
        return
    isna = s.isna().to_numpy()
    if isna.any():
        _raise_missing(spec.name, what, isna, where, spec.missing)


def value_counts(spec: Categorical, s: pd.Series) -> pd.Series:
    """Number of rows holding each value (a multi-valued row counts a value once)."""
    if isinstance(spec, MultiValued):
        rows, values, _ = flatten_multi(s, spec.sep)
        if len(values) == 0:
            return pd.Series([], dtype=np.int64)
        pairs = pd.DataFrame({"r": rows, "v": values.to_numpy(dtype=object)})
        return pairs.drop_duplicates()["v"].value_counts()
    return s.value_counts(dropna=True)


def ordered(values: pd.Index) -> pd.Index:
    """Values sorted when they are comparable, so the column layout does not depend on row
    order; otherwise left in the given order."""
    try:
        return values.sort_values()
    except TypeError:
        return values


def fit_numeric(spec: Numeric, x: np.ndarray) -> tuple[float, float, np.ndarray | None]:
    """Scaling statistics (center, scale) and cut points of a numeric field."""
    valid = x[~np.isnan(x)]
    center, scale = 0.0, 1.0
    edges = None
    if spec.binned:
        if isinstance(spec.bins, int):
            if len(valid) and spec.bins > 1:
                qs = np.linspace(0.0, 1.0, spec.bins + 1)[1:-1]
                edges = np.unique(np.quantile(valid, qs))
                # A cut at the minimum would only create an always-empty bucket.
                edges = edges[edges > valid.min()]
            else:
                edges = np.zeros(0, dtype=np.float64)
        else:
            edges = np.asarray(spec.bins, dtype=np.float64)
    elif len(valid) and spec.scale == "standard":
        center = float(valid.mean())
        sd = float(valid.std())
        scale = sd if sd > 0 else 1.0
    elif len(valid) and spec.scale == "minmax":
        center = float(valid.min())
        rng = float(valid.max()) - center
        scale = rng if rng > 0 else 1.0
    return center, scale, edges


# -- encoding --------------------------------------------------------------------------------
def _clipped(info, x: np.ndarray, rows: np.ndarray, what: str, where: Where) -> np.ndarray:
    """``x`` clipped to the fit range of an unbinned numeric field, warning when it was out."""
    if info.low is None or info.high is None:
        return x
    out = (x < info.low) | (x > info.high)
    if not out.any():
        return x
    import warnings

    k = int(np.flatnonzero(out)[0])
    warnings.warn(
        f"{what} column '{info.name}' has {int(out.sum())} value(s) outside the range seen in "
        f"fit [{info.low:g}, {info.high:g}], first {x[k]:g} at {where(int(rows[k]))}; "
        "clipped to that range", UserWarning, stacklevel=4)
    return np.clip(x, info.low, info.high)


def _raise_missing(name: str, what: str, isna: np.ndarray, where: Where, policy: str) -> None:
    r = int(np.flatnonzero(isna)[0])
    raise DataError(
        f"{what} column '{name}' has a missing value (field declared missing='{policy}'), "
        f"first at {where(r)}; "
        f"{int(isna.sum())} row(s) are missing it"
    )


def _raise_unknown(name: str, what: str, value: object, row: int, where: Where) -> None:
    raise DataError(
        f"{what} column '{name}' has unknown value {fmt_value(value)} "
        f"(field declared unknown='error'), first at {where(row)}"
    )


def _categorical_columns(
    info: FieldInfo, values: pd.Series, rows: np.ndarray, what: str, where: Where
) -> np.ndarray:
    """Column of each value (-1 to drop), applying the field's unknown policy."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if isinstance(uniques, (pd.Categorical, pd.CategoricalIndex)):
        uniques = pd.Index(np.asarray(uniques, dtype=object))
    ucols = info.lookup(uniques)
    cols = ucols[codes]  # factorize has no NaN left here: callers drop missing first
    unknown = cols < 0
    if unknown.any():
        assert isinstance(info.spec, Categorical), "ids are encoded by the builder"
        policy = info.spec.unknown
        if policy == "error":
            k = int(np.flatnonzero(unknown)[0])
            _raise_unknown(info.name, what, uniques[codes[k]], int(rows[k]), where)
        elif policy == "bucket":
            cols[unknown] = info.unknown_column
    return cols


def _missing_entries(info: FieldInfo, missing: np.ndarray, what: str, where: Where) -> Triples:
    if not missing.any():
        return _EMPTY
    assert isinstance(info.spec, Categorical), "numeric fields handle their missing values"
    policy = info.spec.missing
    if policy == "error":
        _raise_missing(info.name, what, missing, where, policy)
    if policy in ("ignore", "zero"):
        return _EMPTY
    rows = np.flatnonzero(missing).astype(np.int64)
    return rows, np.full(len(rows), info.missing_column, dtype=np.int64), np.ones(
        len(rows), dtype=np.float32
    )


def _concat(*parts: Triples) -> Triples:
    rows, cols, vals = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return rows, cols, vals


def encode_field(info: FieldInfo, s: pd.Series, what: str, where: Where) -> Triples:
    """Encode column ``s`` (one entry per output row) with the fitted field ``info``.

    Parameters
    ----------
    info : FieldInfo
        Fitted field (vocabulary, buckets, scaling).
    s : Series
        The column, positionally aligned with the output rows.
    what : str
        Frame name for error messages (``'users'``, ``'items'``, ``'interactions'``, ...).
    where : callable
        Row description for error messages.

    Returns
    -------
    rows, cols : ndarray of int64
    vals : ndarray of float32
    """
    spec = info.spec
    n = len(s)
    if isinstance(spec, Numeric):
        x = to_float(s, what, info.name, where)
        isna = np.isnan(x)
        if isna.any() and spec.missing == "error":
            _raise_missing(info.name, what, isna, where, spec.missing)
        rows = np.flatnonzero(~isna).astype(np.int64)
        if spec.binned:
            assert info.edges is not None, "a binned field has its edges from fit"
            bucket = np.searchsorted(info.edges, x[rows], side="right")
            return rows, info.value_columns[bucket], np.ones(len(rows), dtype=np.float32)
        vals = ((_clipped(info, x[rows], rows, what, where) - info.center)
                / info.scale).astype(np.float32)
        return rows, np.full(len(rows), info.column, dtype=np.int64), vals

    if isinstance(spec, MultiValued):
        rows, values, missing = flatten_multi(s, spec.sep)
        cols = _categorical_columns(info, values, rows, what, where)
        keep = cols >= 0
        parts = _concat(
            (rows[keep], cols[keep], np.ones(int(keep.sum()), dtype=np.float32)),
            _missing_entries(info, missing, what, where),
        )
        if spec.weights == "normalized" and len(parts[0]):
            per_row = np.bincount(parts[0], minlength=n)
            parts = (parts[0], parts[1], (1.0 / per_row[parts[0]]).astype(np.float32))
        return parts

    # Categorical (and bool).
    s = s.reset_index(drop=True)
    missing = s.isna().to_numpy()
    rows = np.flatnonzero(~missing).astype(np.int64)
    present = s if not missing.any() else s.iloc[rows]
    cols = _categorical_columns(info, present, rows, what, where)
    keep = cols >= 0
    return _concat(
        (rows[keep], cols[keep], np.ones(int(keep.sum()), dtype=np.float32)),
        _missing_entries(info, missing, what, where),
    )
