"""A user's own attribute files beside an interaction log (``--users``/``--items``).

:func:`load_with_attributes` is what ``recfm evaluate`` and ``recfm tune`` load their data
with: the log (:func:`~recfm.datasets.load_dataset`), its users and items frames replaced by
the files or frames given, each checked before the log is read and matched against it once
it is.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Union

import pandas as pd

from recfm._utils import DataError
from recfm.datasets.dataset import Dataset
from recfm.datasets.files import (
    _flag,
    attribute_frame,
    load_dataset,
    names_a_file,
    read_attributes_csv,
)
from recfm.datasets.ids import same_id_kind

#: An attributes source: a CSV or Parquet path, a frame, or None (keep the data set's own).
AttributeSource = Union[str, "os.PathLike[str]", pd.DataFrame, None]

#: recfm's id column of each side, and the column option that also names it in a file.
_SIDES = {"users": ("user_id", "user_column"), "items": ("item_id", "item_column")}


def describe_source(source: AttributeSource) -> str | None:
    """How a run's settings record an attributes source (or a log given as a frame): a
    file's resolved path (so that a study resumed with another file is refused), a frame's
    shape and a hash of its content (so is a study resumed with another frame), or None."""
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        try:
            value = int(pd.util.hash_pandas_object(source, index=False).sum()) % 2**64
            digest = f"{_HASH}{value:016x}"  # the values, whatever the index
        except TypeError:  # unhashable cells (lists of genres): the shape alone
            digest = ""
        return (f"DataFrame ({len(source)} rows; columns "
                f"{', '.join(map(str, source.columns))}{digest})")
    return str(Path(source).expanduser().resolve())


_HASH = "; content hash "


def same_source(recorded: object, now: object) -> bool:
    """Whether a source recorded by :func:`describe_source` (or any setting) is ``now``'s;
    a frame recorded before descriptions carried a content hash matches by its shape."""
    if recorded == now:
        return True
    return (isinstance(recorded, str) and isinstance(now, str) and _HASH not in recorded
            and re.sub(re.escape(_HASH) + "[0-9a-f]{16}", "", now) == recorded)


def read_attributes(source: AttributeSource, side: str, id_column_name: str | None = None
                    ) -> pd.DataFrame | None:
    """The attributes of one side, checked as :func:`~recfm.datasets.read_attributes_csv`
    checks a file.

    Parameters
    ----------
    source : path, DataFrame or None
        A CSV (lists as ``a|b``) or Parquet file, or a frame (copied, never modified).
    side : {"users", "items"}
    id_column_name : str, optional
        The source's own name of its id column when it is not ``user_id``/``item_id`` (the
        log's ``user_column``/``item_column``; used when the source has that column).

    Returns
    -------
    DataFrame or None
        None for a None source.

    Raises
    ------
    DataNotFoundError
        A missing file (named).
    DataError
        No id column (the message names the source's columns), an empty source, a missing
        or duplicated id (the first one named).
    """
    if side not in _SIDES:
        raise ValueError(f"side must be 'users' or 'items'; got {side!r}")
    if source is None:
        return None
    id_column = _SIDES[side][0]
    if isinstance(source, pd.DataFrame):
        return attribute_frame(source, id_column, f"the {side} frame", source_column=id_column_name)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{side} must be a path or a pandas DataFrame; got {type(source).__name__}")
    return read_attributes_csv(source, id_column, source_column=id_column_name)


def attach_attributes(data: Dataset, users: pd.DataFrame | None = None,
                      items: pd.DataFrame | None = None,
                      sources: Mapping[str, str] | None = None) -> tuple[Dataset, list[str]]:
    """``data`` with its users/items frames replaced by the checked frames given.

    Parameters
    ----------
    data : Dataset
    users, items : DataFrame or None
        Frames from :func:`read_attributes` (None keeps the data set's own frame).
    sources : mapping, optional
        ``"users"``/``"items"`` -> the file or frame they came from, for messages.

    Returns
    -------
    (Dataset, list of str)
        The data set, and one note per frame with ids of the log it has no row for (those
        users or items get the feature builder's handling of missing attributes). Where
        the log's ids are integers and a frame's are text, or the other way round, the
        integers become their text (``1`` -> ``'1'``), so that ids written alike match.

    Raises
    ------
    DataError
        A frame that shares no id with the log (the wrong file, or ids in another column
        or of another type): the message names the source and examples of both id sets.
    """
    sources = dict(sources or {})
    notes: list[str] = []
    frames = {"users": users, "items": items}
    interactions = data.interactions
    for side, frame in frames.items():
        if frame is None:
            continue
        id_column = _SIDES[side][0]
        what = sources.get(side, f"the {side} frame")
        written = pd.Index(pd.unique(interactions[id_column].to_numpy()))
        # integer ids in one and text ids in the other match by their text
        log_col, frame_col = same_id_kind(interactions[id_column], frame[id_column])
        if log_col is not interactions[id_column]:
            interactions = interactions.assign(**{id_column: log_col})
        if frame_col is not frame[id_column]:
            frame = frames[side] = frame.assign(**{id_column: frame_col})
        log_ids = pd.Index(pd.unique(log_col.to_numpy()))
        has_row = log_ids.isin(frame[id_column].to_numpy())
        n_known = int(has_row.sum())
        if n_known == 0:
            raise DataError(
                f"{what} shares no {id_column} with the log of {data.name!r} (its ids look like "
                f"{_examples(frame[id_column])}, the log's like {_examples(written)}): is it the "
                f"right file, with its ids in the right column ({id_column!r}, or the one "
                f"named by {_flag(_SIDES[side][1])})?")
        if n_known < len(log_ids):
            singular = side[:-1]
            notes.append(
                f"{len(log_ids) - n_known} of the log's {len(log_ids)} {side} have no row in "
                f"{what}: their {singular} attributes are missing (the feature builder's "
                "missing-value handling applies)")
    replaced = {side: frame for side, frame in frames.items() if frame is not None}
    if interactions is not data.interactions:
        replaced["interactions"] = interactions
    return (dataclasses.replace(data, **replaced) if replaced else data), notes


def load_with_attributes(
    dataset: str | os.PathLike | Dataset | pd.DataFrame,
    users: AttributeSource = None,
    items: AttributeSource = None,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    columns: Mapping[str, str | None] | None = None,
) -> tuple[Dataset, list[str]]:
    """Load ``dataset`` with the user and item attributes given in place of its own.

    The attribute sources are read and checked first (a missing file, a missing id
    column, a duplicated id fail before the log is read), then the log is loaded and each
    frame is matched against it (:func:`attach_attributes`).

    Parameters
    ----------
    dataset : str, path, DataFrame or Dataset
        What :func:`~recfm.datasets.load_dataset` accepts (an interactions frame
        included), or a loaded :class:`Dataset`.
    users, items : path, DataFrame or None
        Attributes (see :func:`read_attributes`); a file or frame given replaces the data
        set's own frame (MovieLens 100K, the sample and the synthetic sets have one).
    data_home, download : as :func:`~recfm.datasets.load_dataset`
    columns : mapping, optional
        :func:`~recfm.datasets.read_interactions_csv`'s column options of a log file;
        ``user_column``/``item_column`` also name the id column of the users/items
        source (as for ``recfm fit --users/--items``). With a named data set, which has
        recfm's own columns, they may be given only for a side whose source is given.

    Returns
    -------
    (Dataset, list of str)
        As :func:`attach_attributes`.
    """
    columns = {k: v for k, v in (columns or {}).items() if v is not None}
    sources = {"users": users, "items": items}
    frames = {side: read_attributes(source, side, columns.get(_SIDES[side][1]))
              for side, source in sources.items()}
    if isinstance(dataset, Dataset):
        data = dataset
    else:
        log_columns = columns
        if not isinstance(dataset, pd.DataFrame) and not names_a_file(dataset):
            # a named data set has recfm's own columns: an id option given with an
            # attributes source names that source's column only
            log_columns = {k: v for k, v in columns.items()
                           if not any(k == option and sources[side] is not None
                                      for side, (_, option) in _SIDES.items())}
        data = load_dataset(dataset, data_home=data_home, download=download,
                            columns=log_columns)
    names = {side: _what(source, side) for side, source in sources.items() if source is not None}
    return attach_attributes(data, frames["users"], frames["items"], sources=names)


def _what(source: AttributeSource, side: str) -> str:
    if isinstance(source, pd.DataFrame):
        return f"the {side} frame"
    return str(Path(source).expanduser())  # type: ignore[arg-type]


def _examples(ids, n: int = 3) -> str:
    values = pd.Index(ids).unique()[:n].tolist()
    kinds = sorted({type(v).__name__ for v in values})
    return f"{', '.join(repr(v) for v in values)} ({'/'.join(kinds)})"
