"""Data sets from plain CSV files: a user's interactions file and the repository's sample.

Also :func:`load_dataset`, the one entry point the CLI uses for ``--dataset``.
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from recfm._utils import DataError, check_columns, check_finite_numbers, plain
from recfm.datasets.dataset import NO_RATINGS, NO_TIMES, Dataset, split_lists
from recfm.datasets.download import DataNotFoundError
from recfm.datasets.ids import integers_written_canonically, parse_ids
from recfm.datasets.movielens import SUPPORTED, load_movielens, movielens_status
from recfm.datasets.synthetic import SAMPLE_PARAMS, SYNTHETIC_SIZES, make_synthetic, make_synthetic_like

# <repo>/datasets/sample when running from a checkout; absent from an installed wheel,
# in which case load_sample() regenerates the same data in memory.
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "datasets" / "sample"
CONTEXT_COLUMNS = ("hour", "platform")
#: What pandas reads as missing by default (its documented list), kept for non-id columns.
_NA_WORDS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
             "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
DATASET_NAMES = ("synthetic", "sample", *SUPPORTED, *(f"synthetic-{n}" for n in SYNTHETIC_SIZES))


def _numeric(df: pd.DataFrame, col: str, what: str, first_line: int | None = 2) -> np.ndarray:
    """Column ``col`` as float64, or a DataError naming the first non-numeric value and its
    line (``first_line`` as in :func:`recfm._utils.check_columns`)."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
    bad = np.isnan(values) & df[col].notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        where = f"row {row}" if first_line is None else f"line {row + first_line}"
        raise DataError(f"{what}: column '{col}' has value {plain(df[col].iloc[row])!r} at "
                        f"{where}, which is not a number")
    check_finite_numbers(values, col, what, first_line=first_line, original=df[col])
    return values


def _ids(df: pd.DataFrame, col: str, what: str) -> None:
    """Read ids of one kind in every file: a CSV's ids were typed as they were read
    (:func:`_read_csv`); a whole float (a Parquet or frame column of floats) is the integer
    id it holds, as in the other files."""
    s = df[col]
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(np.float64)
        if np.isfinite(v).all() and (v == np.floor(v)).all() and (np.abs(v) < 2.0**63).all():
            df[col] = v.astype(np.int64)
    df.attrs["source"] = what  # names the file in the builder's id-type checks


PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether ``path`` names Parquet data: a ``.parquet``/``.pq`` file, or a folder of them."""
    p = Path(path).expanduser()
    return p.suffix.lower() in PARQUET_SUFFIXES or (
        p.is_dir() and any(c.suffix.lower() in PARQUET_SUFFIXES for c in p.iterdir()))


def _read_csv(path: str | os.PathLike, header: str,
              id_columns: Callable[[list[str]], list[str]] = lambda columns: []
              ) -> tuple[pd.DataFrame, str]:
    """Read a CSV with a header line, or Parquet (by name, :func:`is_parquet`); errors name
    the file (``header``: what it should hold).

    ``id_columns`` picks, from the CSV's header, the columns holding ids: those are read
    as written (an empty cell is their only missing value; ``NA`` or ``null`` is an id)
    and typed by :func:`recfm.datasets.ids.parse_ids`. Parquet columns keep their types.
    """
    path = Path(path).expanduser()
    what = str(path)
    if is_parquet(path):
        if not path.exists():
            raise DataNotFoundError(f"{what}: file not found")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError(f"{what}: reading Parquet needs pyarrow: pip install 'recfm[parquet]'"
                              ) from None
        try:
            return pd.read_parquet(path), what
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(f"{what}: cannot be read as Parquet ({exc})") from None
    if not path.is_file():
        raise DataNotFoundError(f"{what}: file not found")
    try:
        columns = list(pd.read_csv(path, nrows=0).columns)
        ids = [c for c in id_columns(columns) if c in columns]
        # pandas' missing-value words stay missing elsewhere (a rating of NA)
        na_values = {c: [""] if c in ids else _NA_WORDS for c in columns}
        df = _read_ids_natively(path, ids, na_values) if ids else None
        if df is None:
            df = pd.read_csv(path, dtype=dict.fromkeys(ids, object), keep_default_na=False,
                             na_values=na_values)
            for c in ids:
                df[c] = parse_ids(df[c])
            # only here: the native read's byte scan found no field opening or closing
            # with a space, so its ids have none around them
            _warn_spaced_ids(df, ids, what)
    except pd.errors.EmptyDataError:
        raise DataError(f"{what}: empty file (expected a header with {header})") from None
    except (ValueError, UnicodeDecodeError) as exc:  # ParserError is a ValueError
        raise DataError(f"{what}: cannot be parsed as CSV ({exc})") from None
    return _check_separator(df, what), what


def _read_ids_natively(path: Path, ids: list[str], na_values: dict) -> pd.DataFrame | None:
    """The CSV read with pandas' own parsing, when that keeps every id as written; else
    None (the caller reads the ids as text).

    That holds when the file has no integer written other than canonically
    (:func:`~recfm.datasets.ids.integers_written_canonically`) and each id column came out
    as integers or as strings only. The common large log (integer ids, MovieLens-like)
    then costs pandas' integer parse, several times cheaper than a Python string per id.
    """
    if not integers_written_canonically(path):
        return None
    with warnings.catch_warnings():  # a column of mixed kinds is read again as text
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        df = pd.read_csv(path, keep_default_na=False, na_values=na_values)
    for c in ids:
        if pd.api.types.is_integer_dtype(df[c].dtype):
            continue
        if pd.api.types.infer_dtype(df[c], skipna=False) != "string":
            return None  # floats, booleans, a missing id, a mix: not the text as written
        # strings only: some are no int64 (or pandas would have read integers), so text
        df[c] = df[c].astype("str")
    return df


def _warn_spaced_ids(df: pd.DataFrame, ids: list[str], what: str) -> None:
    """Warn about text ids with spaces around them (``a, x``): kept as written, so `` x``
    and ``x`` are two ids, which a user who wrote a space after each comma did not mean."""
    for c in ids:
        if pd.api.types.is_integer_dtype(df[c].dtype):
            continue
        text = df[c].dropna()
        spaced = (text != text.str.strip()).to_numpy(bool)
        if spaced.any():
            example = text[spaced].iloc[0]
            warnings.warn(
                f"{what}: column {c!r} has {int(spaced.sum())} id(s) with spaces around them, "
                f"e.g. {example!r}; ids are read as written, so {example!r} and "
                f"{example.strip()!r} are different ids (write the file without spaces "
                "after the commas if they are the same)", UserWarning, stacklevel=4)


def _check_separator(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """Refuse a CSV whose header is one cell holding tabs or semicolons: a file separated
    by them, which would otherwise fail later as a file missing every column."""
    if len(df.columns) == 1:
        header = str(df.columns[0])
        for sep, name in (("\t", "tab"), (";", "semicolon")):
            if len([c for c in header.split(sep) if c.strip()]) > 1:
                raise DataError(
                    f"{what} looks {name}-separated (its header is the one column {header!r}); "
                    "recfm reads comma-separated CSV (or Parquet): write the file with commas, "
                    f"e.g. pandas.read_csv(path, sep={sep!r}).to_csv(new_path, index=False)")
    return df


def read_table(path: str | os.PathLike, id_columns: tuple[str, ...] = ("user_id", "item_id")
               ) -> pd.DataFrame:
    """A CSV (or Parquet) table with a header line, its ``id_columns`` read as written, as
    :func:`read_interactions_csv` reads ids (int64 only when every id is a canonical
    integer, else text); other columns as pandas reads them.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataError
        An empty or unparsable file (named).
    """
    return _read_csv(path, ",".join(id_columns), lambda columns: list(id_columns))[0]


def write_table(frame: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``frame`` as Parquet (a ``.parquet``/``.pq`` name) or CSV (any other name).

    Written through :func:`recfm._files.atomic_file`: a temporary file beside ``path``,
    renamed into place when complete, so a failure never leaves a partial file; an existing
    ``path`` is replaced only with ``overwrite``.
    """
    from recfm._files import atomic_file

    path = Path(path).expanduser()
    with atomic_file(path, overwrite=overwrite) as tmp:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, lineterminator="\n")
    return path


#: read_interactions_csv's column options, by the recfm column each one names.
COLUMN_OPTIONS = {"user_id": "user_column", "item_id": "item_column", "rating": "rating_column",
                  "timestamp": "time_column"}
#: Every option of read_interactions_csv that says how to read a file's columns.
READ_OPTIONS = (*COLUMN_OPTIONS.values(), "time_unit")


def _flag(option: str, cli: bool = True) -> str:
    """How the library and the CLI spell a column option in messages (``cli=False``: a
    function with no command of its own, which takes only the keyword)."""
    return f"--{option.replace('_', '-')} ({option}=)" if cli else f"{option}="


def _column_sources(columns: list[str], what: str, names: Mapping[str, str | None],
                    cli: bool = True) -> dict[str, str | None]:
    """The file's name of each recfm column (``names``: recfm column -> the name given, or
    None for recfm's own), refusing an absent named column, one column named twice and a
    renaming onto a column the file already has."""
    given = {target: name for target, name in names.items() if name is not None}
    for target, name in given.items():
        if not isinstance(name, str):
            raise TypeError(f"{COLUMN_OPTIONS[target]} must be a column name (str); got {name!r}")
        if name not in columns:
            raise DataError(f"{what} has no column {name!r} (given as "
                            f"{_flag(COLUMN_OPTIONS[target], cli)}); it has {columns}")
    names_given = list(given.values())
    twice = next((n for n in names_given if names_given.count(n) > 1), None)
    if twice is not None:
        options = " and ".join(_flag(COLUMN_OPTIONS[t], cli) for t, n in given.items()
                               if n == twice)
        raise DataError(f"{what}: column {twice!r} is given as {options}; a column can be "
                        "only one of them")
    for target, name in given.items():
        # a column that already has a recfm name stays unless it is itself renamed (a swap)
        if name != target and target in columns and target not in names_given:
            raise DataError(
                f"{what}: column {name!r} (given as {_flag(COLUMN_OPTIONS[target], cli)}) "
                f"would become {target!r}, but the file already has a column {target!r}; "
                f"rename or drop one of them, or leave the option unset to use {target!r}")
    # recfm's own name stands for a column unless that column was given for another one
    return {target: given.get(target, None if target in names_given else target)
            for target in names}


def resolve_columns(columns: list[str], what: str, names: Mapping[str, str | None],
                    required: tuple[str, ...] = ("user_id", "item_id"), cli: bool = True
                    ) -> dict[str, str]:
    """Where each recfm column is in a file, by the rules of :func:`read_interactions_csv`.

    Parameters
    ----------
    columns : list of str
        The file's columns (its schema: no data needs reading).
    what : str
        The file, for messages.
    names : mapping
        recfm column (``user_id``, ``item_id``, ``rating``, ``timestamp``) -> the file's name
        given for it by its option (:data:`COLUMN_OPTIONS`), or None for recfm's own name.
    required : tuple of str
        recfm columns the file must have.
    cli : bool
        Spell the options as the CLI and the library do (``--user-column (user_column=)``),
        else as keywords only.

    Returns
    -------
    dict
        recfm column -> the file's column, for every column of ``names`` the file has.

    Raises
    ------
    DataError
        A named column absent, one column named twice, a renaming onto a column the file
        has, a required column missing (the message names the file's columns and the
        options that name them).
    """
    source = _column_sources(columns, what, names, cli)
    present = {c: name for c, name in source.items() if name is not None and name in columns}
    missing = [c for c in required if c not in present]
    if missing:
        flags = [_flag(COLUMN_OPTIONS[c], cli) for c in missing]
        hint = " and ".join([", ".join(flags[:-1]), flags[-1]] if len(flags) > 1 else flags)
        raise DataError(f"{what} is missing column(s) {missing}; it has {columns} "
                        f"(name the file's own columns with {hint})")
    return present


def read_interactions_csv(
    path: str | os.PathLike,
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    rating_column: str | None = None,
    time_column: str | None = None,
    time_unit: str = "s",
) -> Dataset:
    """Read an interactions CSV with a header line (or a Parquet file) into a :class:`Dataset`.

    Parameters
    ----------
    path : str or path-like
        CSV, or Parquet when named ``*.parquet`` / ``*.pq`` (a file or a folder of them),
        with columns ``user_id, item_id`` and optionally ``rating`` (default 1.0) and
        ``timestamp`` (default 0), or other names given by the ``*_column`` options. Other
        columns are kept as they are. Ids are read as written: an id column is int64
        when every id in it is a canonical integer (``7``, not ``007``, ``+7`` or one
        beyond int64), else text, unchanged (``007``, ``NA``, ``null`` are ids; only an
        empty cell is a missing id); a Parquet column keeps its type.
    user_column, item_column, rating_column, time_column : str, optional
        The file's name of the user id, item id, rating and time columns, renamed to
        ``user_id``, ``item_id``, ``rating`` and ``timestamp`` (default: those names; a
        rating or time column named here must exist). Renaming onto a name the file
        already uses is refused.
    time_unit : {'s', 'ms', 'us', 'ns'}
        What a numeric time column counts since the epoch: seconds (default),
        milliseconds, microseconds or nanoseconds; read as whole seconds, floored. A
        number that would fall after the year 2500 (or before 1439) in this unit is
        refused, naming the unit that reads it (a log in milliseconds read as seconds).
        Text and Parquet timestamps carry their own unit: another unit than ``'s'`` with
        them, or with no time column, is refused.

    Returns
    -------
    Dataset
        Named after the file stem; no users/items frames, no context columns; ``timed``
        False when the file has no time column (``timestamp`` is then 0 throughout and
        ``interactions.attrs[NO_TIMES]`` names the file).
        ``timestamp`` is int64 Unix seconds, from any of these forms, decided per column:

        * integer Unix seconds (a column of numbers is always read so), or milliseconds,
          microseconds or nanoseconds with ``time_unit``;
        * ISO 8601 text: ``2024-07-18``, ``2024-07-18 07:55:08``, ``2024-07-18T07:55:08Z``,
          ``2024-07-18T09:55:08+02:00`` (a time without an offset is UTC, one with an
          offset is converted to UTC); other layouts such as ``07/18/2024`` are refused,
          since day and month could be swapped;
        * a Parquet timestamp (datetime64) column, naive (UTC) or with a time zone.

        Fractions of a second are dropped (floored).

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataError
        Empty file, a missing ``user_id``/``item_id`` column (or a named column absent), a
        NaN id or rating, a non-numeric rating, a time in none of the forms above or
        implausible in ``time_unit``; the message names the file, column, value and line.
    ValueError
        An unknown ``time_unit``.

    Warns
    -----
    UserWarning
        Every time read in ``time_unit`` falls in 1970 while a coarser unit would put them
        all after 1990 (seconds read as milliseconds, say), naming that unit.
    """
    from recfm._timestamps import check_unit

    check_unit(time_unit)
    options = dict(zip(COLUMN_OPTIONS, (user_column, item_column, rating_column, time_column),
                       strict=True))

    def id_columns(columns: list[str]) -> list[str]:
        # a header the options do not fit is refused below, once the file is read
        try:
            source = _column_sources(columns, str(path), options)
        except (DataError, TypeError):
            return []
        return [name for c in ("user_id", "item_id") if (name := source[c]) is not None]

    df, what = _read_csv(path, "user_id,item_id", id_columns)
    return _as_interactions(df, what, options, time_unit, Path(what).stem, first_line=2)


def _as_interactions(df: pd.DataFrame, what: str, options: Mapping[str, str | None],
                     time_unit: str, name: str, first_line: int | None) -> Dataset:
    """The :class:`Dataset` of a log read into ``df`` (a file's, named ``what``, whose first
    row is line ``first_line``, or a frame's copy, ``first_line`` None): its columns
    renamed, checked and typed as :func:`read_interactions_csv` documents."""
    from recfm._timestamps import parse_timestamps

    # messages name the file's own columns; the renaming comes after the checks
    file_name = resolve_columns(list(df.columns), what, options)
    present = list(file_name)
    check_columns(df, list(file_name.values()), what, first_line=first_line)
    if "rating" in present:
        df[file_name["rating"]] = _numeric(df, file_name["rating"], what,
                                           first_line).astype(np.float32)
    if "timestamp" in present:
        df[file_name["timestamp"]] = parse_timestamps(
            df[file_name["timestamp"]], file_name["timestamp"], what, first_line=first_line,
            unit=time_unit)
    elif time_unit != "s":
        raise DataError(f"{what} has no time column (it has {list(df.columns)}), but "
                        f"{_flag('time_unit')} is {time_unit!r}; name the column with "
                        f"{_flag('time_column')}, or leave the unit unset")
    df = df.rename(columns={name: c for c, name in file_name.items() if name != c})
    _ids(df, "user_id", what)
    _ids(df, "item_id", what)
    if "rating" not in present:
        df["rating"] = np.float32(1.0)
    if "timestamp" not in present:
        df["timestamp"] = np.int64(0)
    order = ["user_id", "item_id", "rating", "timestamp"]
    df = df[order + [c for c in df.columns if c not in order]]
    timed = "timestamp" in present
    if not timed:
        df.attrs[NO_TIMES] = what  # names the file where a field needs the times
    if "rating" not in present:
        df.attrs[NO_RATINGS] = what  # names the file where min_rating needs the ratings
    return Dataset(name=name, interactions=df, timed=timed)


def frame_dataset(
    frame: pd.DataFrame,
    name: str = "frame",
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    rating_column: str | None = None,
    time_column: str | None = None,
    time_unit: str = "s",
) -> Dataset:
    """A :class:`Dataset` of an interactions frame already in memory, read as
    :func:`read_interactions_csv` reads a file: the same columns, column options,
    defaults, checks and messages (which name the frame as ``name`` and its rows by
    position from 0).

    The frame is not modified (its columns are copied as they are typed); float ids that
    are whole numbers become int64, other ids keep their type.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame; got {type(frame).__name__}")
    from recfm._timestamps import check_unit

    check_unit(time_unit)
    options = dict(zip(COLUMN_OPTIONS, (user_column, item_column, rating_column, time_column),
                       strict=True))
    return _as_interactions(frame.reset_index(drop=True).copy(), f"interactions frame {name!r}",
                            options, time_unit, name, first_line=None)


def _sample_frames(dataset: Dataset) -> dict[str, pd.DataFrame]:
    assert dataset.items is not None, "the synthetic generator always makes items"
    items = dataset.items.copy()
    items["genres"] = items["genres"].map("|".join)
    return {"interactions": dataset.interactions, "users": dataset.users, "items": items}


def _sample_files(folder: Path) -> dict[str, Path]:
    """The sample's three CSV files in ``folder``, by table name."""
    return {n: folder / f"{n}.csv" for n in ("interactions", "users", "items")}


def write_sample(folder: str | os.PathLike = SAMPLE_DIR) -> list[Path]:
    """Write the sample (``make_synthetic(**SAMPLE_PARAMS)``) as three CSV files.

    Parameters
    ----------
    folder : str or path-like
        Target folder, created if needed (default: the repository's ``datasets/sample``).

    Returns
    -------
    list of pathlib.Path
        ``interactions.csv``, ``users.csv``, ``items.csv`` (genres ``|``-joined).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in _sample_frames(make_synthetic(**SAMPLE_PARAMS)).items():
        path = _sample_files(folder)[name]
        frame.to_csv(path, index=False, float_format="%g", lineterminator="\n")
        written.append(path)
    return written


def load_sample(folder: str | os.PathLike | None = None) -> Dataset:
    """The small synthetic sample the examples use (300 users, 400 items, 12,000 interactions).

    Reads ``interactions.csv``, ``users.csv`` and ``items.csv`` from the repository's
    ``datasets/sample`` folder when it is there; otherwise (e.g. an installed wheel)
    regenerates the identical data in memory with :data:`SAMPLE_PARAMS`.

    Parameters
    ----------
    folder : str or path-like, optional
        Another folder holding the three files.

    Returns
    -------
    Dataset
        ``name="sample"`` with context columns ``hour, platform``.
    """
    folder = Path(folder) if folder is not None else SAMPLE_DIR
    files = _sample_files(folder)
    if not all(p.is_file() for p in files.values()):
        if folder != SAMPLE_DIR:
            missing = [str(p) for p in files.values() if not p.is_file()]
            raise DataNotFoundError(f"sample files not found: {missing}")
        return dataclasses.replace(make_synthetic(**SAMPLE_PARAMS), name="sample")
    interactions = pd.read_csv(files["interactions"], dtype={
        "user_id": np.int64, "item_id": np.int64, "rating": np.float32, "timestamp": np.int64,
        "hour": np.int64, "platform": "str"})
    users = pd.read_csv(files["users"], dtype={"user_id": np.int64, "age": np.int64, "gender": "str",
                                               "occupation": "str", "zip": "str"})
    items = pd.read_csv(files["items"], dtype={"item_id": np.int64, "title": "str", "year": "Int64",
                                               "genres": "str"}, keep_default_na=False,
                        na_values={"year": [""]})
    items["genres"] = split_lists(items["genres"])
    for name, frame in (("interactions", interactions), ("users", users), ("items", items)):
        check_columns(frame, frame.columns[:1], str(files[name]))
    return Dataset(name="sample", interactions=interactions, users=users, items=items,
                   context_columns=CONTEXT_COLUMNS)


def names_a_file(name_or_path: str | os.PathLike) -> bool:
    """Whether :func:`load_dataset` reads ``name_or_path`` as a file rather than as a data
    set's name: a path object, a name ending in ``.csv``/``.parquet``/``.pq``, or any other
    existing file or Parquet folder (``log.csv.gz``, ``log.txt``) that is not one of
    :data:`DATASET_NAMES`; read as :func:`read_interactions_csv` reads it."""
    if isinstance(name_or_path, os.PathLike):
        return True
    name = str(name_or_path)
    if name.lower().endswith((".csv", *PARQUET_SUFFIXES)):
        return True
    if name in DATASET_NAMES:
        return False
    path = Path(name).expanduser()
    return path.is_file() or is_parquet(path)


def read_context_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV (or Parquet) file of context columns for ``recommend(context=...)``; a
    missing, empty or unparsable file is a DataNotFoundError or DataError naming it."""
    df, what = _read_csv(path, "the context columns")
    df.attrs["source"] = what  # names the file in the builder's column checks
    return df


def load_dataset(name_or_path: str | os.PathLike | pd.DataFrame,
                 data_home: str | os.PathLike | None = None,
                 download: bool = True, columns: Mapping[str, str | None] | None = None
                 ) -> Dataset:
    """Load a data set by name, from a CSV or Parquet file, or from a frame in memory.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"synthetic"`` (:func:`make_synthetic` with its defaults), ``"synthetic-ml-1m"`` /
        ``"synthetic-ml-20m"`` (:func:`make_synthetic_like`, MovieLens-sized), ``"sample"``
        (:func:`load_sample`), a MovieLens name (:func:`load_movielens`), or a CSV or
        Parquet file (:func:`read_interactions_csv`): a path object, a name ending in
        ``.csv``/``.parquet``/``.pq``, or any other existing file such as ``log.csv.gz``
        (see :func:`names_a_file`); or an interactions DataFrame, read as such a file
        (:func:`frame_dataset`, named ``"frame"``).
    data_home : str or path-like, optional
        Data home for MovieLens (see :func:`get_data_home`).
    download : bool
        Allow MovieLens downloads.
    columns : mapping, optional
        For a file: :func:`read_interactions_csv`'s column options and ``time_unit``,
        e.g. ``{"user_column": "user", "time_column": "ts", "time_unit": "ms"}`` (None
        values are ignored).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown name (the message lists the choices) or bad CSV content.
    ValueError
        ``columns`` with a name that is not a file, or with an unknown option.
    """
    given = {k: v for k, v in (columns or {}).items() if v is not None}
    unknown = sorted(set(given) - set(READ_OPTIONS))
    if unknown:
        raise ValueError(f"unknown column option(s) {unknown}; choose from "
                         f"{', '.join(READ_OPTIONS)}")
    if isinstance(name_or_path, pd.DataFrame):
        return frame_dataset(name_or_path, **given)
    if names_a_file(name_or_path):
        return read_interactions_csv(name_or_path, **given)
    if given:
        raise ValueError(
            f"{', '.join(_flag(k) for k in given)} describe(s) the columns of a CSV or Parquet "
            f"file; {str(name_or_path)!r} is a named data set with recfm's own columns (and "
            "times in seconds)")
    name = str(name_or_path)
    if name == "synthetic":
        return make_synthetic()
    if name == "sample":
        return load_sample()
    if name.startswith("synthetic-") and name[len("synthetic-"):] in SYNTHETIC_SIZES:
        # MovieLens-sized synthetic data: speed and memory at ML-1M/ML-20M scale offline
        return dataclasses.replace(make_synthetic_like(name[len("synthetic-"):]), name=name)
    if name in SUPPORTED:
        return load_movielens(name, data_home=data_home, download=download)
    path = Path(name).expanduser()
    if path.is_dir():
        raise DataError(f"{name!r} is a folder holding no .parquet/.pq file, not a data set; "
                        f"give a CSV or Parquet file, or one of {', '.join(DATASET_NAMES)}")
    looks_like_path = bool(path.suffix) or os.sep in name or "/" in name
    why = f"no file {name!r} exists" if looks_like_path else f"unknown dataset {name!r}"
    raise DataError(f"{why}; choose one of {', '.join(DATASET_NAMES)}, or give the path of an "
                    "existing CSV (.csv) or Parquet file with columns "
                    "user_id,item_id[,rating,timestamp]")


def read_attributes_csv(
    path: str | os.PathLike, id_column: str, list_sep: str = "|",
    source_column: str | None = None,
) -> pd.DataFrame:
    """Read a user or item attributes CSV or Parquet file (one row per id) for the feature builder.

    Text columns whose values hold ``list_sep`` (e.g. ``Comedy|Drama``) become lists of
    strings, the multi-valued form the builder expects for genres and tags; an empty cell
    of such a column is an empty list. Ids are read as written, as by
    :func:`read_interactions_csv`.

    Parameters
    ----------
    path : str or path-like
        CSV with a header line and an ``id_column`` column.
    id_column : str
        ``"user_id"`` or ``"item_id"``.
    list_sep : str
        Separator of multi-valued cells.
    source_column : str, optional
        The file's own name of its id column, as given to :func:`read_interactions_csv`
        for the log (``user_column``/``item_column``): used when the file has it, else
        ``id_column`` is (a log and its attribute files often name ids alike, not always).

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataError
        No id column, a missing or duplicated id; the message names the file and id.
    """
    df, what = _read_csv(path, id_column, lambda columns: [
        source_column if source_column in columns else id_column])
    df = attribute_frame(df, id_column, what, source_column=source_column, copy=False,
                         first_line=2)
    for col in df.columns:
        if col == id_column or pd.api.types.is_numeric_dtype(df[col]):
            continue
        text = df[col].astype("string")
        if text.str.contains(list_sep, regex=False).any():
            df[col] = split_lists(df[col], list_sep)
        else:
            _warn_if_lists_written_otherwise(text, col, what, list_sep)
    return df


def _warn_if_lists_written_otherwise(text: pd.Series, column: str, what: str,
                                     list_sep: str) -> None:
    """Warn when most cells of a text column that holds no ``list_sep`` look like lists
    written another way (``['a', 'b']``, or ``a;b`` whose parts recur from row to row, as
    tags do and the words of free text do not): each would be read as one categorical
    value, silently."""
    cells = text.dropna()
    if len(cells) == 0:
        return
    literal = cells.str.match(r"^\s*\[.*\]\s*$")
    semicolon = cells.str.contains(";", regex=False)
    if semicolon.mean() >= 0.5:
        parts = cells[semicolon.to_numpy()].str.split(";").explode().str.strip()
        semicolon &= parts.nunique() <= 0.5 * len(parts)
    for kind, looks in (("Python/JSON lists", literal), ("';'-separated lists", semicolon)):
        if looks.mean() >= 0.5:
            example = cells[looks.to_numpy()].iloc[0]
            warnings.warn(
                f"{what}: column {column!r} looks like {kind} (e.g. {example!r}); recfm reads "
                f"a list cell written {'a' + list_sep + 'b'} and reads each of these cells as one "
                f"value: rewrite them with {list_sep!r} to use the column as a multi-valued "
                "attribute", UserWarning, stacklevel=3)
            return


def attribute_frame(frame: pd.DataFrame, id_column: str, what: str,
                    source_column: str | None = None, copy: bool = True,
                    first_line: int | None = None) -> pd.DataFrame:
    """Check a user or item attributes frame (one row per id), as :func:`read_attributes_csv`
    checks a file, and name its id column ``id_column``.

    Parameters
    ----------
    frame : DataFrame
        The attributes, with an ``id_column`` column (or ``source_column``).
    id_column : str
        ``"user_id"`` or ``"item_id"``.
    what : str
        The file or frame, for messages.
    source_column : str, optional
        The frame's own name of its id column (see :func:`read_attributes_csv`).
    copy : bool
        Work on a copy (the caller's frame is never modified); False for a frame of one's own.
    first_line : int, optional
        The file line of the first row (2 after a header), for messages; None: a frame's
        row numbers.

    Returns
    -------
    DataFrame
        ``frame`` with its id column named ``id_column``; float ids that are whole numbers
        become int64, as in the interaction readers.

    Raises
    ------
    DataError
        No id column (the message names the frame's columns and the option naming it), an
        empty frame, a missing or duplicated id (the first one named).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    df = frame.copy() if copy else frame
    if source_column is not None and source_column != id_column and source_column in df.columns:
        if id_column in df.columns:
            raise DataError(
                f"{what} has both {source_column!r} (the ids' column in the log) and "
                f"{id_column!r}: which holds the ids is unclear; rename or drop one")
        df = df.rename(columns={source_column: id_column})
    elif id_column not in df.columns:
        named = f"{source_column!r} or {id_column!r}" if source_column is not None else repr(
            id_column)
        option = COLUMN_OPTIONS.get(id_column)
        hint = f" (name its id column with {_flag(option)})" if option else ""
        raise DataError(f"{what} has no id column {named}; it has {list(df.columns)}{hint}")
    check_columns(df, [id_column], what, first_line=first_line)
    _ids(df, id_column, what)
    dup = df[id_column].duplicated()
    if dup.any():
        first = df[id_column][dup].head(1).tolist()[0]  # a Python scalar: 109, not np.int64(109)
        raise DataError(f"{what}: {id_column} {first!r} appears more than once ({int(dup.sum())} "
                        "duplicate row(s)); each id needs one row")
    return df


def dataset_status(data_home: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every name :func:`load_dataset` accepts and whether its data is here (for ``recfm
    datasets list``).

    The synthetic sets are always present (generated in memory); ``sample`` reads the
    repository's ``datasets/sample`` folder or regenerates it; a MovieLens release is
    present when its ratings file is available, extracted or as its zip.

    Parameters
    ----------
    data_home : str or path-like, optional
        Data home to inspect (see :func:`~recfm.datasets.get_data_home`).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, present, location, note``, one row per data set.
    """
    sample_here = all(p.is_file() for p in _sample_files(SAMPLE_DIR).values())
    rows = [
        ("synthetic", True, "(generated in memory)", "make_synthetic(); the default data set"),
        ("sample", True, str(SAMPLE_DIR) if sample_here else "(generated in memory)",
         "{:,} users x {:,} items, {:,} interactions; the examples' data".format(
             SAMPLE_PARAMS["n_users"], SAMPLE_PARAMS["n_items"], SAMPLE_PARAMS["n_interactions"])),
    ]
    for size, (n_users, n_items, n_inter) in SYNTHETIC_SIZES.items():
        rows.append((f"synthetic-{size}", True, "(generated in memory)",
                     f"{size.upper()}-sized synthetic: {n_users:,} users x {n_items:,} items, "
                     f"{n_inter:,} interactions"))
    ml = movielens_status(data_home)
    return pd.concat([pd.DataFrame(rows, columns=list(ml.columns)), ml], ignore_index=True)
