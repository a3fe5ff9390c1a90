"""Event times as Unix seconds: the one conversion every layer uses.

recfm's time unit is the whole Unix second (int64). Readers of user files turn integer
seconds, ISO 8601 text and datetime columns into it (:func:`parse_timestamps`); the
library turns a datetime64 column of a frame it is handed into the same seconds
(:func:`event_times`), so a model fitted on datetimes and served from a CSV of seconds (or
the other way round) compares like with like.

Accepted forms
--------------
* integer Unix seconds (a column whose values are all numbers is always read so);
* ISO 8601 text, decided per column (every value is parsed as a date/time once one value is
  not a number): ``2024-07-18``, ``2024-07-18 07:55:08``, ``2024-07-18T07:55:08Z``,
  ``2024-07-18T09:55:08+02:00``, fractions of seconds; a time without an offset is UTC,
  one with an offset is converted to UTC. Any other layout (``07/18/2024``,
  ``18.07.2024``) is refused: those are ambiguous between day-first and month-first;
* datetime64 columns (Parquet timestamps, ``pd.to_datetime`` results), naive (read as UTC)
  or time-zone aware (converted to UTC).

Fractions of a second are dropped (floored), so events within one second tie; every
consumer breaks ties by row order.

This module imports nothing from recfm but :mod:`recfm._utils`, so any layer may use it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._utils import DataError, check_finite_numbers, plain

#: How messages describe the accepted forms.
ACCEPTED = "an integer (Unix seconds) or an ISO 8601 date/time such as 2024-07-18 07:55:08"


def is_datetime(values: pd.Series) -> bool:
    """Whether ``values`` is a datetime64 column (naive or time-zone aware)."""
    return pd.api.types.is_datetime64_any_dtype(values.dtype)


def is_number(values: pd.Series) -> bool:
    """Whether ``values`` has a numeric dtype (booleans are not times)."""
    return (pd.api.types.is_numeric_dtype(values.dtype)
            and not pd.api.types.is_bool_dtype(values.dtype))


def utc(values: pd.Series) -> pd.Series:
    """A datetime64 column as naive UTC times: naive times are read as UTC, aware ones are
    converted to UTC."""
    if values.dt.tz is not None:
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def datetime_seconds(values: pd.Series) -> np.ndarray:
    """Whole Unix seconds (int64, floored) of a NaT-free datetime64 column (see :func:`utc`)."""
    # numpy floors when it coarsens a datetime unit (-0.5 s -> -1 s), whatever the input unit
    return utc(values).to_numpy().astype("datetime64[s]").astype(np.int64)


def event_times(values: pd.Series, column: str, what: str) -> np.ndarray:
    """A frame's time column as comparable numbers: datetimes as :func:`datetime_seconds`,
    numbers as they are.

    Raises
    ------
    DataError
        Any other dtype (text included: the message says how to convert it).
    """
    check_time_column(values, column, what)
    return datetime_seconds(values) if is_datetime(values) else values.to_numpy()


def check_time_column(values: pd.Series, column: str, what: str) -> None:
    """Refuse (:func:`not_a_time`) a frame's time column that holds neither numbers nor
    datetimes: a check of its dtype, without converting it."""
    if not (is_datetime(values) or is_number(values)):
        raise not_a_time(values, column, what)


def not_a_time(values: pd.Series, column: str, what: str) -> DataError:
    """The error for a frame's time column that holds neither numbers nor datetimes."""
    return DataError(
        f"{what} column {column!r} has dtype {values.dtype}; timestamps must be numbers or "
        "datetimes (for text such as '2024-07-18 07:55:08': pd.to_datetime(column, "
        "format='ISO8601'), or read the file with recfm.datasets.read_interactions_csv)")


def _where(row: int, first_line: int | None) -> str:
    return f"row {row}" if first_line is None else f"line {row + first_line}"


def parse_timestamps(values: pd.Series, column: str, what: str,
                     first_line: int | None = None) -> np.ndarray:
    """A NaN-free time column read from a file, as int64 Unix seconds.

    Numbers must be integers within int64 range; text is read as numbers when every value
    is one, else every value must be ISO 8601 (see the module docstring).

    Parameters
    ----------
    values : Series
        The column as read.
    column, what : str
        Its name and the file (or frame) it comes from, for messages.
    first_line : int, optional
        File line of the first row (2 after a header), so messages point at a line.

    Raises
    ------
    DataError
        The first value that is none of the accepted forms, with its line.
    """
    if is_datetime(values):
        return datetime_seconds(values)
    if is_number(values):
        numbers = values.to_numpy(np.float64)
        text = None
    else:
        text = values.astype("string")
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    if not np.isnan(numbers).any():
        fractional = numbers != np.floor(numbers)
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise DataError(f"{what}: column '{column}' has value {plain(values.iloc[row])!r} at "
                            f"{_where(row, first_line)}, which is not an integer (Unix seconds)")
        check_finite_numbers(numbers, column, what, first_line=first_line, integer=True,
                             original=values)
        return numbers.astype(np.int64)
    assert text is not None, "a numeric dtype has no NaN here: the caller refused missing values"
    # strict ISO 8601: pandas' default inference would read 07/08/2024 as July or August
    # depending on the other rows; a column with a number among dates is refused too
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    garbage = bad & np.isnan(numbers)
    if garbage.any():
        row = int(np.flatnonzero(garbage)[0])
        raise DataError(
            f"{what}: column '{column}' has value {values.iloc[row]!r} at "
            f"{_where(row, first_line)}, which is not {ACCEPTED} (ISO 8601 only: 07/18/2024 "
            "and the like are refused, as day and month could be swapped)")
    if bad.any():  # numbers among dates: one column holds one form
        row, date = int(np.flatnonzero(bad)[0]), int(np.flatnonzero(~bad)[0])
        raise DataError(
            f"{what}: column '{column}' has value {values.iloc[row]!r} at "
            f"{_where(row, first_line)}, a number, but also dates (e.g. {values.iloc[date]!r} "
            f"at {_where(date, first_line)}); give every time in one form: Unix seconds or "
            "ISO 8601")
    return datetime_seconds(parsed)
