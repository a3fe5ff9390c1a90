"""Event times as Unix seconds: the one conversion every layer uses.

recfm's time unit is the whole Unix second (int64). Readers of user files turn integer
seconds, ISO 8601 text and datetime columns into it (:func:`parse_timestamps`); the
library turns a datetime64 column of a frame it is handed into the same seconds
(:func:`event_times`), so a model fitted on datetimes and served from a CSV of seconds (or
the other way round) compares like with like.

Accepted forms
--------------
* integer Unix seconds (a column whose values are all numbers is always read so), or, with
  ``unit`` (``time_unit=`` / ``--time-unit`` of the file readers), integer milliseconds,
  microseconds or nanoseconds since the epoch. A number whose time in its unit falls after
  the year 2500 (or before 1439) is refused, with the unit that would read it: the usual
  cause is a log in milliseconds read as seconds. The other way round, a column that the
  unit puts wholly in 1970 while a coarser unit puts it after 1990 is read as given, with a
  warning naming that unit (times counted from a start fall in 1970 too); so is a column
  of dates written as numbers YYYYMMDD (20240718), which fall in 1970 too. A unit other
  than seconds with a column of text or datetimes is refused too: those carry their own
  unit;
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

import warnings

import numpy as np
import pandas as pd

from ._utils import DataError, check_finite_numbers, plain

#: How messages describe the accepted forms.
ACCEPTED = "an integer (Unix seconds) or an ISO 8601 date/time such as 2024-07-18 07:55:08"

#: Units of numeric times, by name: how many of them make a second.
UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}

#: A numeric time that its unit puts after this year is taken for a unit mistake.
MAX_YEAR = 2500
#: Seconds from the epoch to the first instant after MAX_YEAR; a time of at least this
#: magnitude (after 2500 or, below zero, before 1439) is no plausible event time.
LIMIT = int(np.datetime64(f"{MAX_YEAR + 1}-01-01", "s").astype(np.int64))
MIN_YEAR = int(str(np.datetime64(-LIMIT, "s"))[:4])
#: Unix seconds of 1971-01-01 and of 1990-01-01: times read in a fine unit that all fall
#: before the first, while a coarser unit puts them after the second, were most likely
#: written in the coarser unit.
SECONDS_1971 = int(np.datetime64("1971-01-01", "s").astype(np.int64))
SECONDS_1990 = int(np.datetime64("1990-01-01", "s").astype(np.int64))


def check_unit(unit: object, name: str = "time_unit") -> str:
    """Return ``unit`` when it is one of :data:`UNITS`, else raise a ValueError naming ``name``."""
    if not isinstance(unit, str) or unit not in UNITS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, UNITS))}; got {unit!r}")
    return unit


def _unit_option(unit: str) -> str:
    """How a message tells the user to give ``unit``, to the library and to the CLI."""
    return f"time_unit={unit!r} (--time-unit {unit})"


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


def _check_plausible(ints: np.ndarray, unit: str, values: pd.Series, column: str, what: str,
                     first_line: int | None) -> None:
    """Refuse integer times in ``unit`` that fall after :data:`MAX_YEAR` (or before
    :data:`MIN_YEAR`), naming the first such value and the unit that would read it."""
    limit = LIMIT * UNITS[unit]  # within int64 for every unit but ns, where no int64 is beyond
    far = (ints >= limit) | (ints <= -limit) if limit < 2**63 else np.zeros(len(ints), bool)
    if not far.any():
        return
    row = int(np.flatnonzero(far)[0])
    value = int(ints[row])
    when = f"after the year {MAX_YEAR}" if value > 0 else f"before the year {MIN_YEAR}"
    fits = [u for u, n in UNITS.items() if n > UNITS[unit] and abs(value) < LIMIT * n]
    # every int64 is within range as nanoseconds, so a finer unit always fits
    hint = fits[0]
    raise DataError(
        f"{what}: column '{column}' has value {plain(values.iloc[row])!r} at "
        f"{_where(row, first_line)}, which as Unix {UNIT_NAMES[unit]} is {when}; it looks like "
        f"Unix {UNIT_NAMES[hint]}: read the file with {_unit_option(hint)}")


def _warn_if_too_fine(ints: np.ndarray, unit: str, column: str, what: str) -> None:
    """Warn when ``unit`` puts every time in 1970 while a coarser unit puts them all
    between 1990 and :data:`MAX_YEAR`: seconds read as milliseconds, say. A warning, not an
    error: times counted from a start (a session, an experiment) fall in 1970 too, and order
    is all that most fields need."""
    lo, hi = int(ints.min()), int(ints.max())
    if unit == "s" or lo < 0 or hi // UNITS[unit] >= SECONDS_1971:
        return
    # UNITS runs from the coarsest unit to the finest
    for coarser, n in UNITS.items():
        if n >= UNITS[unit]:
            return
        if SECONDS_1990 <= lo // n and hi // n < LIMIT:
            warnings.warn(
                f"{what}: every value of column '{column}' read as Unix {UNIT_NAMES[unit]} "
                f"falls in 1970 (the latest, {hi}, is "
                f"{np.datetime64(hi // UNITS[unit], 's')}); as Unix {UNIT_NAMES[coarser]} it "
                f"is {np.datetime64(hi // n, 's')}: if the times are {UNIT_NAMES[coarser]}, "
                f"read the file with {_unit_option(coarser)}", UserWarning, stacklevel=3)
            return


def _warn_if_dates(ints: np.ndarray, unit: str, column: str, what: str) -> None:
    """Warn when every time falls in 1970 and every value reads as a date written as the
    number YYYYMMDD (20240718): such a column is read as Unix times, decades off."""
    lo, hi = int(ints.min()), int(ints.max())
    if lo < 10_000_101 or hi > 99_991_231 or hi // UNITS[unit] >= SECONDS_1971:
        return
    values = np.unique(ints)
    dates = pd.to_datetime(pd.Series(values.astype(str)), format="%Y%m%d", errors="coerce")
    if dates.isna().any():
        return
    example = int(values[-1])
    warnings.warn(
        f"{what}: every value of column '{column}' read as Unix {UNIT_NAMES[unit]} falls in "
        f"1970 (e.g. {example} is {np.datetime64(example // UNITS[unit], 's')}), and every "
        f"value looks like a date written as the number YYYYMMDD ({example} = "
        f"{dates.iloc[-1].date().isoformat()}): write the dates in ISO 8601 "
        f"({dates.iloc[-1].date().isoformat()}) or as Unix times", UserWarning, stacklevel=3)


def parse_timestamps(values: pd.Series, column: str, what: str,
                     first_line: int | None = None, unit: str = "s") -> np.ndarray:
    """A NaN-free time column read from a file, as int64 Unix seconds.

    Numbers must be integers within int64 range, counting ``unit``; text is read as
    numbers when every value is one, else every value must be ISO 8601 (see the module
    docstring).

    Parameters
    ----------
    values : Series
        The column as read.
    column, what : str
        Its name and the file (or frame) it comes from, for messages.
    first_line : int, optional
        File line of the first row (2 after a header), so messages point at a line.
    unit : {'s', 'ms', 'us', 'ns'}
        What numbers count; they become whole seconds, floored. Any other unit than
        ``'s'`` with text or datetimes is refused (they carry their own unit).

    Raises
    ------
    DataError
        The first value that is none of the accepted forms, or no plausible time in
        ``unit`` (see the module docstring), with its line; a unit given with text or
        datetimes.
    """
    check_unit(unit)
    if is_datetime(values):
        if unit != "s":
            raise DataError(
                f"{what}: column '{column}' holds timestamps (dtype {values.dtype}), which "
                f"carry their own unit; {_unit_option(unit)} is for numeric times only: leave "
                "it unset")
        return datetime_seconds(values)
    if is_number(values):
        exact = values
        numbers = values.to_numpy(np.float64)
        text = None
    else:
        text = values.astype("string")
        exact = pd.to_numeric(text, errors="coerce")
        numbers = exact.to_numpy(np.float64, na_value=np.nan)
    if not np.isnan(numbers).any():
        fractional = numbers != np.floor(numbers)
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise DataError(f"{what}: column '{column}' has value {plain(values.iloc[row])!r} at "
                            f"{_where(row, first_line)}, which is not an integer (Unix "
                            f"{UNIT_NAMES[unit]})")
        check_finite_numbers(numbers, column, what, first_line=first_line, integer=True,
                             original=values)
        # integer columns stay integers: float64 would round nanoseconds near a second's end
        ints = (exact.to_numpy(np.int64) if pd.api.types.is_integer_dtype(exact.dtype)
                else numbers.astype(np.int64))
        _check_plausible(ints, unit, values, column, what, first_line)
        if len(ints):
            _warn_if_too_fine(ints, unit, column, what)
            _warn_if_dates(ints, unit, column, what)
        return ints // UNITS[unit]  # floor division: -1 ms is the second before the epoch
    assert text is not None, "a numeric dtype has no NaN here: the caller refused missing values"
    if unit != "s":
        row = int(np.flatnonzero(np.isnan(numbers))[0])
        raise DataError(
            f"{what}: column '{column}' has value {values.iloc[row]!r} at "
            f"{_where(row, first_line)}, which is not a number; {_unit_option(unit)} is for "
            "numeric times only (ISO 8601 text carries its own unit): leave it unset")
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
