"""Ids read from text: the one rule deciding an id column's type, and how ids from two
sources (a log and its attribute files, a model and a request) are compared.

A CSV cell is an id as written: ``007``, ``NA`` and a 23-digit number are ids, not the
integer 7, a missing value and a float. A column becomes int64 only when every value is
*canonical*, i.e. its text is ``str(int(value))`` for an int64 value (no leading zero, no
``+``, no space, no ``-0``, at most int64's range), so ``1,2,3`` keeps reading as the
integers of MovieLens and the sample; any other column stays text, unchanged. Where
integer ids meet text ids, the integers are compared by their text, which is what a
canonical integer was written as.
"""
from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from .._jit import announce_compilation
from .._utils import is_text_ids

#: A canonical integer of at most 19 digits (int64's width); 19-digit ones are checked
#: against int64's bounds as text.
_CANONICAL = r"0|-?[1-9][0-9]{0,18}"
_INT64_DIGITS = {False: str(np.iinfo(np.int64).max), True: str(np.iinfo(np.int64).min)[1:]}


def canonical_ints(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Which values of ``text`` are canonical int64 integers (see the module), and their
    values (0 where not).

    Parameters
    ----------
    text : Series
        Strings (anything else, a missing value included, is not canonical).

    Returns
    -------
    (ndarray of bool, ndarray of int64)
    """
    # an object column's ints read as their text; a missing value stays missing
    s = text if isinstance(text.dtype, pd.StringDtype) else text.astype("str")
    ok = s.str.fullmatch(_CANONICAL).fillna(False).to_numpy(bool, copy=True)
    long = ok & (s.str.len().fillna(0).to_numpy() - s.str.startswith("-").fillna(False)
                 .to_numpy(bool) == 19)
    if long.any():
        digits = s[long].str.lstrip("-").to_numpy(object)
        negative = s[long].str.startswith("-").to_numpy(bool)
        bound = np.where(negative, _INT64_DIGITS[True], _INT64_DIGITS[False])
        ok[long] = digits <= bound  # equal widths: text order is number order
    values = np.zeros(len(s), np.int64)
    if ok.any():
        values[ok] = s[ok].astype(np.int64).to_numpy()
    return ok, values


def _widths(ints: np.ndarray) -> np.ndarray:
    """Characters of ``str(v)`` for each int64 ``v``: its digits, plus one for a minus."""
    negative = ints < 0
    magnitude = np.where(negative, -(ints + 1), ints).astype(np.uint64) + negative  # no overflow
    digits = np.searchsorted(_POWERS_OF_TEN, magnitude, side="right")
    return np.maximum(digits, 1) + negative


_POWERS_OF_TEN = np.array([10**i for i in range(20)], dtype=np.uint64)


def _all_canonical(values: np.ndarray, ints: np.ndarray) -> bool:
    """Whether strings that ``int()`` read as ``ints`` are each ``str(int)``.

    Any other ASCII text ``int()`` reads as the same number is longer (a space, ``+``, a
    leading zero, ``_``, ``-0``), so equal total lengths and ASCII text mean canonical;
    this costs one join, not a comparison per id.
    """
    total = 0
    for start in range(0, len(values), 1 << 20):  # bounded memory for the joined text
        joined = "".join(values[start:start + (1 << 20)])
        if not joined.isascii():  # other digits (٣) int() reads; rare: test each id
            return bool(canonical_ints(pd.Series(values, dtype=object))[0].all())
        total += len(joined)
    return total == int(_widths(ints).sum())


#: Compressed files: their bytes are not the text, so they are not scanned (read as text).
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")
_SCAN_BYTES = 1 << 25


@njit(cache=True, nogil=True)
def _written_otherwise(b: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether a separator at 1 <= i < len(b) - 2 (``,``, line feed, carriage return) has
    a space or tab before it, or opens a field with a space, tab, quote, plus sign, a zero
    and a digit, or minus and zero."""
    for i in range(1, len(b) - 2):
        c = b[i]
        if c == 44 or c == 10 or c == 13:
            before, first, second = b[i - 1], b[i + 1], b[i + 2]
            if before == 32 or before == 9:
                return True
            if first == 32 or first == 9 or first == 34 or first == 43:
                return True
            if first == 48 and 48 <= second <= 57:
                return True
            if first == 45 and second == 48:
                return True
    return False


def integers_written_canonically(path: str | os.PathLike) -> bool:
    """Whether every field of a comma-separated file that pandas could read as an integer
    is written canonically, from its bytes alone (``False`` for a compressed file).

    pandas' parser reads ``007``, ``+7``, `` 7``, ``-0`` and ``"7"`` as integers; each of
    them needs a field starting with a zero and a digit, a sign, a space, a quote or ``-0``,
    or a space before a separator, and this looks for those anywhere in the file (in
    slices, so memory stays bounded). When there are none, a column pandas reads as int64
    holds exactly the ids as written, with no need to build a Python string per cell,
    which costs several times the read itself; when there are some (anywhere, in any
    column), the caller reads the ids as text.
    """
    path = Path(path)
    if path.suffix.lower() in _COMPRESSED:
        return False
    # each slice is the last three bytes of the previous one, then the next bytes of the
    # file; a separator is judged with the byte before it and the two after it, so the
    # last two wait for the next slice (before the file: line breaks, as its first field
    # starts a line; after it: line breaks, as its last field ends one)
    size = max(1, min(_SCAN_BYTES, path.stat().st_size))
    buf = bytearray(size + 5)
    buf[:3] = b"\n\n\n"
    with open(path, "rb") as fh:
        while True:
            n = fh.readinto(memoryview(buf)[3:size + 3])
            end = n + 3
            if n < size:
                buf[end:end + 2] = b"\n\n"
                end += 2
            announce_compilation(_written_otherwise)
            if _written_otherwise(np.frombuffer(buf, np.uint8, count=end)):
                return False
            if n < size:
                return True
            buf[:3] = buf[end - 3:end]


def parse_ids(text: pd.Series) -> pd.Series:
    """An id column read as text, typed: int64 when every value is a canonical integer,
    else text (pandas' ``str``), as written (a missing value keeps the column text, for
    the caller's check to name).

    Parameters
    ----------
    text : Series
        One id column of a file, read as Python strings (object dtype) or ``str``.

    Returns
    -------
    Series
        int64 or ``str``.
    """
    if len(text) == 0:
        return text.astype("str")
    values = text.to_numpy(dtype=object)
    try:
        ints = values.astype(np.int64)  # int() of each: also reads 007, +7, " 7", 1_0
        canonical = _all_canonical(values, ints)
    except (ValueError, TypeError, OverflowError):  # not integers, a missing value
        canonical = False
    if canonical:
        return pd.Series(ints, index=text.index, name=text.name)
    return text.astype("str")


def ids_like(values: Any, reference: pd.Index) -> pd.Index:
    """``values`` (ids of a request or of another file) as ids of ``reference``'s kind, so
    that an id matches when it was written alike.

    Against text ids (a model or log with ``u3`` or ``007``), integer ids become their text
    (``1`` -> ``'1'``), also among text ids (a Python list ``[1, 'u3']``). Against integer
    ids, text values that are canonical integers become those integers (``'5'`` -> ``5``)
    while any other (``'007'``, ``'new'``) stays text: an id the reference cannot hold, so a
    new one. Other pairs are returned unchanged.

    An id ``reference`` holds as it is is never converted: only the others are (so the
    usual request, of the model's own kind, costs one lookup, and an object column of
    Python ints meets integer ids as it did).

    Parameters
    ----------
    values : array-like
        The ids to compare.
    reference : Index
        The ids they are compared with.

    Returns
    -------
    Index
    """
    ids = values if isinstance(values, pd.Index) else pd.Index(values)
    if len(ids) == 0 or len(reference) == 0:
        return ids
    found = (reference.get_indexer(ids) >= 0 if reference.is_unique
             else ids.isin(reference))
    if found.all():
        return ids
    if found.any():
        converted = _converted(ids[~found], reference)
        if converted.equals(ids[~found]) and converted.dtype == ids.dtype:
            return ids
        out = ids.to_numpy(dtype=object, copy=True)
        out[~found] = converted.to_numpy(dtype=object)
        return pd.Index(pd.Series(out, dtype=object).infer_objects())
    return _converted(ids, reference)


def _converted(ids: pd.Index, reference: pd.Index) -> pd.Index:
    """:func:`ids_like`'s rule for ids ``reference`` does not hold as they are."""
    if is_text_ids(reference) and pd.api.types.is_integer_dtype(ids.dtype):
        return ids.astype(str)
    if is_text_ids(reference) and pd.api.types.is_object_dtype(ids.dtype):
        mixed = ids.to_numpy(dtype=object, copy=True)  # integers among text (a Python list)
        ints = np.fromiter((_is_integer(v) for v in mixed), bool, len(mixed))
        if ints.any():
            mixed[ints] = [str(v) for v in mixed[ints]]
            return pd.Index(mixed, dtype=object)
    # an object Index of Python ints is of the integer kind too
    integer_kind = pd.api.types.is_integer_dtype(reference.dtype) or (
        pd.api.types.is_object_dtype(reference.dtype) and not is_text_ids(reference))
    if integer_kind and is_text_ids(ids):
        ok, ints = canonical_ints(pd.Series(ids, copy=False))
        if ok.all():
            return pd.Index(ints)
        if ok.any():
            mixed = ids.to_numpy(dtype=object, copy=True)
            mixed[ok] = ints[ok].tolist()  # Python ints: np.int64 and int hash alike anyway
            return pd.Index(mixed, dtype=object)
    return ids


def as_ids(values: Any, what: str) -> pd.Index:
    """The ids of a request as an Index: one id (a scalar, a string), or any 1-D collection
    of them (list, tuple, set, generator, numpy array, pandas Series or Index), in its
    iteration order.

    Parameters
    ----------
    values : scalar or iterable
        The ids.
    what : str
        The argument they came from, named in the errors.

    Returns
    -------
    Index

    Raises
    ------
    TypeError
        ``values`` is a DataFrame (pass its id column).
    ValueError
        ``values`` is an array of more than one dimension.
    """
    if isinstance(values, pd.Index):
        return values
    if isinstance(values, pd.Series):
        return pd.Index(values)
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{what} must be ids, not a DataFrame: pass its id column, e.g. "
                        "frame['user_id']")
    if isinstance(values, np.ndarray):
        if values.ndim > 1:
            raise ValueError(f"{what} must be one id or a 1-D collection of ids; got an array "
                             f"of shape {values.shape}")
        return pd.Index(np.atleast_1d(values))
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return pd.Index([values], tupleize_cols=False)
    return pd.Index(list(values), tupleize_cols=False)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def kind_note(unknown: pd.Index, reference: pd.Index, what: str) -> str:
    """What an unknown-id error adds when some of the ids ``unknown`` (already
    :func:`ids_like` ``reference``) are of another kind than ``reference``'s ids:
    ``"; the model's user ids are integers ('007' is text ...)"``; else ``""``.

    ``what`` names the side (``"user"``, ``"item"``). Only an error path reads the values
    one by one, and only up to the first id of the other kind.
    """
    if len(unknown) == 0 or len(reference) == 0:
        return ""
    if pd.api.types.is_integer_dtype(reference.dtype):
        if pd.api.types.is_integer_dtype(unknown.dtype):
            return ""
        kind, other = "integers", next((v for v in unknown if not _is_integer(v)), None)
    elif pd.api.types.infer_dtype(reference, skipna=False) == "string":
        if pd.api.types.infer_dtype(unknown, skipna=False) == "string":
            return ""
        kind, other = "text", next((v for v in unknown if not isinstance(v, str)), None)
    else:
        return ""
    if other is None:
        return ""
    value = other.item() if isinstance(other, np.generic) else other
    if isinstance(value, str):
        why = "is text not written as an integer is: '7' matches 7, '007' and '7.0' do not"
    else:
        why = f"is {_a(type(value).__name__)}"
    return f"; the model's {what} ids are {kind} ({value!r} {why})"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def frame_ids_like(frame: pd.DataFrame | None, column: str, reference: pd.Index
                   ) -> pd.DataFrame | None:
    """``frame`` with its ``column`` as :func:`ids_like` ``reference`` (a copy when it
    changes; None stays None)."""
    if frame is None or column not in frame.columns:
        return frame
    ids = ids_like(pd.Index(frame[column]), reference)
    if ids.dtype == frame[column].dtype and ids.equals(pd.Index(frame[column])):
        return frame
    out = frame.copy()
    out[column] = ids.to_numpy()
    return out


def same_id_kind(*columns: pd.Series) -> tuple[pd.Series, ...]:
    """Id columns read from files (a log's and an attribute file's, a run's train, test and
    recommendations), of one kind: when some are integer and some (non-empty) text, the
    integer ones as their text; else unchanged.
    """
    if not any(is_text_ids(c) and len(c) for c in columns):
        return columns
    return tuple(c.astype(str) if pd.api.types.is_integer_dtype(c.dtype) else c for c in columns)
