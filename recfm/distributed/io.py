"""Reading interaction logs and id lists into Dask DataFrames: Parquet or CSV, by name."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._utils import DataError


def _is_csv(path: Path) -> bool:
    if path.is_dir():
        return any(p.suffix.lower() == ".csv" for p in path.iterdir()) and not any(
            p.suffix.lower() in (".parquet", ".pq") for p in path.iterdir())
    return path.suffix.lower() == ".csv" or path.name.lower().endswith(".csv.gz")


def read_frame(path: str | os.PathLike, columns: Sequence[str] | None = None,
               required: Sequence[str] = (), blocksize: str | int = "64MiB") -> Any:
    """A Dask DataFrame over a Parquet file/folder or a CSV file/folder/glob.

    Parameters
    ----------
    path : str or path-like
        ``*.csv`` (a file, a folder of them, or a glob) is read as CSV; anything else as
        Parquet (a file, or a folder of partitioned files).
    columns : sequence of str, optional
        Read only these columns.
    required : sequence of str
        Columns that must be present: checked on the schema, before any data is read.
    blocksize : str or int
        Size of a CSV partition.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    DataError
        A required (or requested) column is missing; the message names it and the file.
    """
    import dask.dataframe as dd

    p = Path(path).expanduser()
    if not p.exists() and not any(ch in str(path) for ch in "*?["):
        raise FileNotFoundError(f"{path}: no such file or folder")
    csv = _is_csv(p) if p.exists() else str(path).lower().endswith(".csv")
    if csv:
        source = str(p / "*.csv") if p.is_dir() else str(path)
        ddf = dd.read_csv(source, blocksize=blocksize)
    else:
        ddf = dd.read_parquet(str(p), engine="pyarrow")
    missing = [c for c in [*required, *(columns or ())] if c not in ddf.columns]
    if missing:
        raise DataError(f"{path} is missing column(s) {sorted(set(missing), key=missing.index)}; "
                        f"it has {list(ddf.columns)}")
    return ddf[list(columns)] if columns is not None else ddf
