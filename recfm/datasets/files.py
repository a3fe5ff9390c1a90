"""Data sets from plain CSV files: a user's interactions file and the repository's sample.

Also :func:`load_dataset`, the one entry point the CLI uses for ``--dataset``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd

from recfm._utils import DataError, check_columns, check_finite_numbers
from recfm.datasets.dataset import Dataset, split_lists
from recfm.datasets.download import DataNotFoundError
from recfm.datasets.movielens import SUPPORTED, load_movielens, movielens_status
from recfm.datasets.synthetic import SAMPLE_PARAMS, SYNTHETIC_SIZES, make_synthetic, make_synthetic_like

# <repo>/datasets/sample when running from a checkout; absent from an installed wheel,
# in which case load_sample() regenerates the same data in memory.
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "datasets" / "sample"
CONTEXT_COLUMNS = ("hour", "platform")
DATASET_NAMES = ("synthetic", "sample", *SUPPORTED, *(f"synthetic-{n}" for n in SYNTHETIC_SIZES))


def _numeric(df: pd.DataFrame, col: str, what: str, integer: bool) -> np.ndarray:
    """Column ``col`` as float64, or a DataError naming the first non-numeric value and its line."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
    bad = np.isnan(values) & df[col].notna().to_numpy()
    if integer:
        bad |= ~np.isnan(values) & (values != np.floor(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        kind = "an integer (Unix seconds)" if integer else "a number"
        raise DataError(f"{what}: column '{col}' has value {df[col].iloc[row]!r} at line {row + 2}, "
                        f"which is not {kind}")
    check_finite_numbers(values, col, what, first_line=2, integer=integer, original=df[col])
    return values


def _ids(df: pd.DataFrame, col: str, what: str) -> None:
    """Read ids of one kind in every file: ``1.0`` (pandas' float for a column with a blank
    or a written ``.0``) is the integer id ``1``, as in the other files."""
    s = df[col]
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(np.float64)
        if np.isfinite(v).all() and (v == np.floor(v)).all() and (np.abs(v) < 2.0**63).all():
            df[col] = v.astype(np.int64)
    df.attrs["source"] = what  # names the file in the builder's id-type checks


PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether ``path`` names Parquet data: a ``.parquet``/``.pq`` file, or a folder of them."""
    p = Path(path)
    return p.suffix.lower() in PARQUET_SUFFIXES or (
        p.is_dir() and any(c.suffix.lower() in PARQUET_SUFFIXES for c in p.iterdir()))


def _read_csv(path: str | os.PathLike, header: str) -> tuple[pd.DataFrame, str]:
    """Read a CSV with a header line, or Parquet (by name, :func:`is_parquet`); errors name
    the file (``header``: what it should hold)."""
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
        return pd.read_csv(path), what
    except pd.errors.EmptyDataError:
        raise DataError(f"{what}: empty file (expected a header with {header})") from None
    except (ValueError, UnicodeDecodeError) as exc:  # ParserError is a ValueError
        raise DataError(f"{what}: cannot be parsed as CSV ({exc})") from None


def write_table(frame: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``frame`` as Parquet (a ``.parquet``/``.pq`` name) or CSV (any other name).

    Written through :func:`recfm._files.atomic_file`: a temporary file beside ``path``,
    renamed into place when complete, so a failure never leaves a partial file; an existing
    ``path`` is replaced only with ``overwrite``.
    """
    from recfm._files import atomic_file

    path = Path(path)
    with atomic_file(path, overwrite=overwrite) as tmp:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, lineterminator="\n")
    return path


def read_interactions_csv(path: str | os.PathLike) -> Dataset:
    """Read an interactions CSV with a header line (or a Parquet file) into a :class:`Dataset`.

    Parameters
    ----------
    path : str or path-like
        CSV, or Parquet when named ``*.parquet`` / ``*.pq`` (a file or a folder of them),
        with columns ``user_id, item_id`` and optionally ``rating`` (default 1.0) and
        ``timestamp`` (Unix seconds, default 0). Other columns are kept as they are. Ids
        keep the type pandas infers (int64 for integer ids).

    Returns
    -------
    Dataset
        Named after the file stem; no users/items frames, no context columns.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataError
        Empty file, a missing ``user_id``/``item_id`` column, a NaN id or rating, or a
        non-numeric rating/timestamp; the message names the file, column and line.
    """
    df, what = _read_csv(path, "user_id,item_id")
    optional = [c for c in ("rating", "timestamp") if c in df.columns]
    check_columns(df, ["user_id", "item_id", *optional], what, first_line=2)
    _ids(df, "user_id", what)
    _ids(df, "item_id", what)
    if "rating" in df.columns:
        df["rating"] = _numeric(df, "rating", what, integer=False).astype(np.float32)
    else:
        df["rating"] = np.float32(1.0)
    if "timestamp" in df.columns:
        df["timestamp"] = _numeric(df, "timestamp", what, integer=True).astype(np.int64)
    else:
        df["timestamp"] = np.int64(0)
    order = ["user_id", "item_id", "rating", "timestamp"]
    df = df[order + [c for c in df.columns if c not in order]]
    return Dataset(name=Path(what).stem, interactions=df)


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


def load_dataset(name_or_path: str | os.PathLike, data_home: str | os.PathLike | None = None,
                 download: bool = True) -> Dataset:
    """Load a data set by name or from a CSV file.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"synthetic"`` (:func:`make_synthetic` with its defaults), ``"synthetic-ml-1m"`` /
        ``"synthetic-ml-20m"`` (:func:`make_synthetic_like`, MovieLens-sized), ``"sample"``
        (:func:`load_sample`), a MovieLens name (:func:`load_movielens`), or a path ending
        in ``.csv`` or ``.parquet`` (:func:`read_interactions_csv`).
    data_home : str or path-like, optional
        Data home for MovieLens (see :func:`get_data_home`).
    download : bool
        Allow MovieLens downloads.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown name (the message lists the choices) or bad CSV content.
    """
    if isinstance(name_or_path, os.PathLike) or str(name_or_path).lower().endswith(
            (".csv", *PARQUET_SUFFIXES)):
        return read_interactions_csv(name_or_path)
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
    raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}, "
                    f"or give a path to a .csv file with columns user_id,item_id[,rating,timestamp]")


def read_attributes_csv(
    path: str | os.PathLike, id_column: str, list_sep: str = "|"
) -> pd.DataFrame:
    """Read a user or item attributes CSV or Parquet file (one row per id) for the feature builder.

    Text columns whose values hold ``list_sep`` (e.g. ``Comedy|Drama``) become lists of
    strings, the multi-valued form the builder expects for genres and tags; an empty cell
    of such a column is an empty list.

    Parameters
    ----------
    path : str or path-like
        CSV with a header line and an ``id_column`` column.
    id_column : str
        ``"user_id"`` or ``"item_id"``.
    list_sep : str
        Separator of multi-valued cells.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataError
        No ``id_column``, a missing or duplicated id; the message names the file and id.
    """
    df, what = _read_csv(path, id_column)
    check_columns(df, [id_column], what, first_line=2)
    _ids(df, id_column, what)
    dup = df[id_column].duplicated()
    if dup.any():
        raise DataError(f"{what}: {id_column} {df[id_column][dup].iloc[0]!r} appears more than once")
    for col in df.columns:
        if col == id_column or pd.api.types.is_numeric_dtype(df[col]):
            continue
        text = df[col].astype("string")
        if text.str.contains(list_sep, regex=False).any():
            df[col] = split_lists(df[col], list_sep)
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
