"""Fields built from the interaction log: a user's history and last items, vectorised.

A *log* is three aligned arrays: user key, item row and time of each interaction (time may
be None: the row order is then the order of events). Everything here works on whole arrays
(``np.lexsort``, ``np.searchsorted``, ``np.repeat``); nothing loops over users or rows.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._timestamps import MAX_YEAR, event_times, is_datetime, is_number, not_a_time, utc
from .._utils import DataError, plain
from ..datasets.dataset import NO_TIMES
from .fields import History, RecentItems, TimeBin


def require_times(frame: pd.DataFrame, column: str, field: str) -> None:
    """Refuse a log read from a file without a time column (whose ``timestamp`` the reader
    filled with 0, :data:`recfm.datasets.NO_TIMES`) for a field that orders it by time."""
    source = frame.attrs.get(NO_TIMES)
    if column == "timestamp" and isinstance(source, str):
        raise DataError(
            f"{field} needs the time of each interaction (the user's items before it); "
            f"{source} has no time column (name it with --time-column (time_column=))")


def timestamps(frame: pd.DataFrame, column: str, what: str, field: str) -> np.ndarray:
    """The ``column`` of ``frame`` as comparable numbers: numbers as they are, datetimes as
    Unix seconds (:func:`recfm._timestamps.event_times`, the readers' conversion), so
    frames of either kind can meet in one log.

    Raises
    ------
    DataError
        The column is absent, holds missing values or neither numbers nor datetimes.
    """
    if column not in frame.columns:
        raise DataError(
            f"{what} frame has no timestamp column {column!r}, which {field} needs to order "
            f"each user's interactions; available columns: {list(frame.columns)}"
        )
    s = frame[column]
    isna = s.isna().to_numpy()
    if isna.any():
        raise DataError(
            f"{what} column {column!r} has {int(isna.sum())} missing timestamp(s), first at "
            f"row {int(np.flatnonzero(isna)[0])}; {field} needs a time for every interaction"
        )
    t = event_times(s, column, what).astype(np.float64)
    if not np.isfinite(t).all():
        raise DataError(f"{what} column {column!r} holds non-finite timestamps")
    return t


def sort_order(users: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    """Order of the log by user, then time, then position (ties keep the row order)."""
    pos = np.arange(len(users))
    if times is None:
        return np.lexsort((pos, users))
    return np.lexsort((pos, times, users))


def _segments(sorted_users: np.ndarray, q_users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    start = np.searchsorted(sorted_users, q_users, side="left")
    end = np.searchsorted(sorted_users, q_users, side="right")
    return start, end


def history_matrix(
    spec: History,
    column_of_item: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray | None,
    n_users: int,
    n_features: int,
) -> sp.csr_matrix:
    """Users x features CSR of the history field: distinct items of each user's log (the
    latest ``max_items`` when set), weighted by ``spec.scale`` of their number. Items
    without a column (``column_of_item`` -1) are left out and not counted."""
    cols = column_of_item[items] if len(items) else np.zeros(0, np.int64)
    keep = cols >= 0
    users, cols = users[keep], cols[keep]
    times = None if times is None else times[keep]
    order = sort_order(users, times)
    users, cols = users[order], cols[order]
    # the latest occurrence of a (user, item) pair gives its recency
    last = ~pd.DataFrame({"u": users, "c": cols}).duplicated(keep="last").to_numpy()
    users, cols = users[last], cols[last]
    if spec.max_items is not None and len(users):
        _, end = _segments(users, users)
        keep = (end - np.arange(len(users))) <= spec.max_items
        users, cols = users[keep], cols[keep]
    counts = np.bincount(users, minlength=n_users)
    vals = spec.scale(counts)[users].astype(np.float32)
    X = sp.csr_matrix((vals, (users, cols)), shape=(n_users, n_features), dtype=np.float32)
    X.sum_duplicates()
    X.sort_indices()
    return X


def recent_triples(
    spec: RecentItems,
    column_of_item: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    q_users: np.ndarray,
    q_times: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, value) of the recent-items field for queries ``(q_users[r],
    q_times[r])``: the user's last ``spec.n`` log items with a time strictly before
    ``q_times[r]`` (all of the user's log when ``q_times`` is None); ``q_users`` -1 gets
    none. Items without a column are skipped (they still take their place in the order)."""
    order = sort_order(users, times)
    lu, li, lt = users[order], items[order], times[order]
    qu = np.asarray(q_users, dtype=np.int64)
    start, end = _segments(lu, qu)
    if q_times is None:
        before = end
    else:
        # one sorted key over (user, time): the joint rank of the times keeps it in int64
        _, inv = np.unique(np.concatenate([lt, q_times]), return_inverse=True)
        n_ranks = np.int64(inv.max() + 1) if len(inv) else np.int64(1)
        key_log = lu.astype(np.int64) * n_ranks + inv[: len(lt)]
        key_q = qu * n_ranks + inv[len(lt):]
        before = np.searchsorted(key_log, key_q, side="left")
    rows, cols, vals = [], [], []
    w = spec.weights()
    valid_q = qu >= 0
    for k in range(spec.n):  # n is a handful: a loop over lags, not over rows
        at = before - 1 - k
        ok = valid_q & (at >= start)
        r = np.flatnonzero(ok)
        c = column_of_item[li[at[ok]]] if len(r) else np.zeros(0, np.int64)
        has = c >= 0
        rows.append(r[has])
        cols.append(c[has])
        vals.append(np.full(int(has.sum()), w[k], np.float32))
    return (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
            np.concatenate(vals))


def time_bins(spec: TimeBin, frame: pd.DataFrame, what: str) -> pd.Series:
    """The bin of each row's timestamp (Int64, <NA> for a missing timestamp).

    Raises
    ------
    DataError
        The timestamp column is absent, holds neither numbers nor datetimes, or holds a
        number that the unit puts after :data:`MAX_YEAR` (milliseconds read as seconds).
    """
    col = spec.timestamp
    if col not in frame.columns:
        raise DataError(
            f"{what} frame has no timestamp column {col!r}, which {spec!r} reads; "
            f"available columns: {list(frame.columns)}"
        )
    s = frame[col].reset_index(drop=True)
    if is_datetime(s):
        t = utc(s)
    elif is_number(s):
        big = s.abs().idxmax() if s.notna().any() else None
        try:
            t = pd.to_datetime(s, unit=spec.unit)
            far = big is not None and t[big].year > MAX_YEAR
        except (pd.errors.OutOfBoundsDatetime, OverflowError):
            far = True
        if far:
            # the usual cause: milliseconds (or finer) read as the default seconds, which
            # would give every row a bin, each of them wrong. Files read by recfm are in
            # seconds and refused beyond MAX_YEAR already; this guards frames built by hand
            raise DataError(
                f"{what} column {col!r} has value {plain(s[big])!r} (row {big}), a time "
                f"after the year {MAX_YEAR} in {spec!r}'s unit {spec.unit!r}; if the column "
                "counts milliseconds, microseconds or nanoseconds, say so with unit='ms', "
                "'us' or 'ns'")
    else:
        raise not_a_time(s, col, what)
    latest = t.max() if t.notna().sum() > 1 else None
    if latest is not None and latest.year == 1970 and t.min().year == 1970:
        # a log without times (files without the column read as 0), dates written as digits
        # (20240718 is 1970-08-23 in seconds) or times counted from a start: every bin would
        # be a bin of 1970, silently
        warnings.warn(
            f"every {col!r} of the {what} frame falls in 1970 (latest {plain(s[t.idxmax()])!r}, "
            f"{latest}): {spec!r} bins Unix times, so its bins say nothing about the events; "
            "give their real times (Unix seconds, ISO 8601 text or datetimes)",
            UserWarning, stacklevel=5)
    attr = {"dayofweek": "day_of_week"}.get(spec.by, spec.by)
    return getattr(t.dt, attr).astype("Int64")
