"""Reading interaction logs and id lists into Dask DataFrames: Parquet or CSV, by name."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._utils import DataError


def _is_csv(path: Path) -> bool:
    if path.is_dir():
        return any(p.suffix.lower() == ".csv" for p in path.iterdir()) and not any(
            p.suffix.lower() in (".parquet", ".pq") for p in path.iterdir())
    return path.suffix.lower() == ".csv" or path.name.lower().endswith(".csv.gz")


def reads_as_csv(path: str | os.PathLike) -> bool:
    """Whether :func:`read_frame` reads ``path`` as CSV (else as Parquet)."""
    p = Path(path).expanduser()
    return _is_csv(p) if p.exists() else str(path).lower().endswith(".csv")


def read_frame(path: str | os.PathLike, columns: Sequence[str] | None = None,
               required: Sequence[str] = (), blocksize: str | int = "64MiB",
               names: Mapping[str, str | None] | None = None,
               text_columns: Sequence[str] = ()) -> Any:
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
    names : mapping, optional
        The file's own names of recfm's columns (recfm column -> name, or None for recfm's
        own), as :func:`recfm.datasets.read_interactions_csv`'s ``*_column`` options, with
        its rules and messages: checked on the schema, then renamed; ``columns`` and
        ``required`` name recfm's columns.
    text_columns : sequence of str
        CSV columns (the file's names) read as written, as strings with only an empty
        cell missing (ids: :func:`recfm.datasets.ids.parse_ids` types them once every
        partition is in, so that all partitions agree).

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    DataError
        A required (or requested) column is missing, or ``names`` breaks a rule; the
        message names the file and its columns.
    """
    import dask.dataframe as dd

    p = Path(path).expanduser()
    if not p.exists() and not any(ch in str(path) for ch in "*?["):
        raise FileNotFoundError(f"{path}: no such file or folder")
    if reads_as_csv(path):
        source = str(p / "*.csv") if p.is_dir() else str(path)
        ddf = dd.read_csv(source, blocksize=blocksize)
        text = [c for c in text_columns if c in ddf.columns]
        if text:  # read again (lazily) now that the header is known
            from ..datasets.files import _NA_WORDS

            ddf = dd.read_csv(source, blocksize=blocksize, dtype=dict.fromkeys(text, object),
                              keep_default_na=False,
                              na_values={c: [""] if c in text else _NA_WORDS
                                         for c in ddf.columns})
    else:
        ddf = dd.read_parquet(str(p), engine="pyarrow")
    return select_columns(ddf, str(path), columns, required, names)


def select_columns(ddf: Any, what: str, columns: Sequence[str] | None = None,
                   required: Sequence[str] = (), names: Mapping[str, str | None] | None = None
                   ) -> Any:
    """:func:`read_frame`'s checks, renaming and selection on a Dask DataFrame ``ddf``
    (``what``: the file or frame it holds, for messages); nothing is computed."""
    wanted = [*required, *(columns or ())]
    if names is not None:
        from ..datasets.files import resolve_columns

        found = resolve_columns(list(ddf.columns), what, names, cli=False,
                                required=tuple(c for c in dict.fromkeys(wanted) if c in names))
        rename = {name: c for c, name in found.items() if name != c}
        if rename:
            ddf = ddf.rename(columns=rename)
    missing = [c for c in wanted if c not in ddf.columns]
    if missing:
        raise DataError(f"{what} is missing column(s) {sorted(set(missing), key=missing.index)}; "
                        f"it has {list(ddf.columns)}")
    return ddf[list(columns)] if columns is not None else ddf
