"""The :class:`Dataset` container every loader and generator returns."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recfm._utils import DataError, check_columns

INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
#: Key of ``interactions.attrs`` a file reader sets, to the file's name, when the file had
#: no time column (its ``timestamp`` is then a placeholder 0): lets a model that needs
#: event times name the file (see :attr:`Dataset.timed`, which survives any frame edit).
NO_TIMES = "recfm_no_times"
#: Likewise when the file had no rating column (every ``rating`` is then a placeholder 1):
#: lets ``min_rating`` name the file instead of finding no interaction rated high enough.
NO_RATINGS = "recfm_no_ratings"


def check_interactions(interactions: Any, what: str, value_column: str | None = None) -> None:
    """Check an interactions frame a model fits on, before any work: a non-empty DataFrame
    with ``user_id`` and ``item_id``, without a missing value in them nor in its values
    (``value_column``, else its ``rating`` column where it has one).

    Every recommender checks its training frame here (``Recommender.positives``), so a NaN
    rating is refused alike by all of them, with :func:`recfm._utils.check_columns`'s
    message naming the frame (``what``), the column and the first row.
    """
    columns = ["user_id", "item_id"]
    if value_column is not None:
        columns.append(value_column)
    elif isinstance(interactions, pd.DataFrame) and "rating" in interactions.columns:
        columns.append("rating")
    check_columns(interactions, columns, what)


#: What :func:`pandas.api.types.infer_dtype` says of an object column of real numbers.
_NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "decimal", "boolean")


def check_min_rating(min_rating: object) -> None:
    """Raise ``ValueError`` unless ``min_rating`` is None or a real number (not NaN, not a
    bool, not text)."""
    if min_rating is not None and (isinstance(min_rating, (bool, np.bool_))
                                   or not isinstance(min_rating, numbers.Real)
                                   or np.isnan(float(min_rating))):
        raise ValueError(f"min_rating must be None or a number; got {min_rating!r}")


def _check_numeric_ratings(ratings: pd.Series, min_rating: float, what: str) -> None:
    """Refuse ratings that are not numbers (text), naming an example value and its row."""
    if pd.api.types.is_numeric_dtype(ratings.dtype):
        return
    kind = pd.api.types.infer_dtype(ratings, skipna=False)
    if kind in _NUMBER_KINDS:
        return
    if kind in ("string", "mixed", "mixed-integer"):
        text = ratings.astype(object).str.len().notna().to_numpy()  # the strings among them
        row = int(np.flatnonzero(text)[0]) if text.any() else 0
    else:
        row = 0
    value = ratings.iloc[row]
    value = value.item() if isinstance(value, np.generic) else value
    raise DataError(f"{what} column 'rating' must hold numbers to compare with "
                    f"min_rating={min_rating}; it holds {value!r} at row {row}")


def rated_at_least(interactions: pd.DataFrame, min_rating: float, what: str) -> pd.DataFrame:
    """The rows of ``interactions`` rated ``>= min_rating``: what ``min_rating`` keeps as
    positives, in ``recfm evaluate`` (before the split) and in every recommender.

    Raises
    ------
    ValueError
        ``min_rating`` is not a number.
    DataError
        The frame came from a file without a rating column (:data:`NO_RATINGS`: every
        rating a placeholder 1; the file is named), has no ``rating`` column, one with a
        missing value or a value that is not a number (text: the value and its row are
        named), or keeps no row (``what`` names it).
    """
    check_min_rating(min_rating)
    source = interactions.attrs.get(NO_RATINGS)
    if source is not None:
        raise DataError(f"min_rating={min_rating} given but {source} has no rating column "
                        "(every interaction counts as 1); name it with --rating-column "
                        "(rating_column=)")
    check_columns(interactions, ["rating"], what)
    _check_numeric_ratings(interactions["rating"], min_rating, what)
    kept = interactions[interactions["rating"].to_numpy() >= min_rating]
    if len(kept) == 0:
        raise DataError(f"{what} has no interaction with rating >= min_rating={min_rating}")
    return kept


def split_lists(col: pd.Series, sep: str = "|", empty: tuple[str, ...] = ("",)) -> pd.Series:
    """``"Comedy|Drama"`` cells → lists of strings (object Series, same index).

    Missing cells and cells equal to one of ``empty`` (e.g. ``"(no genres listed)"``) become
    empty lists. A loop over the rows of an items or users table, never over interactions.
    """
    text = col.astype("string").fillna("")
    return pd.Series(
        [[] if s in empty else s.split(sep) for s in text.tolist()], index=col.index, dtype=object
    )


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Interactions plus optional user and item side information.

    Parameters
    ----------
    name : str
        Short name such as ``"ml-100k"`` or ``"synthetic"``.
    interactions : pandas.DataFrame
        One row per (user, item) event with columns ``user_id, item_id, rating,
        timestamp`` (``rating`` float32, ``timestamp`` int64 Unix seconds), plus the
        context columns named in ``context_columns``.
    users : pandas.DataFrame or None
        Column ``user_id`` plus attributes (MovieLens 100K/1M: ``age, gender,
        occupation, zip``).
    items : pandas.DataFrame or None
        Column ``item_id`` plus ``title``, ``year`` (nullable Int64) and ``genres``
        (a list of str per row). May list items that have no interaction.
    context_columns : tuple of str
        Names of the context columns of ``interactions`` (e.g. ``("hour", "platform")``).
    timed : bool
        Whether ``timestamp`` holds the events' times. False for a file without a time
        column, read with ``timestamp`` 0 throughout (a placeholder): time-based splits and
        fields refuse such a log, naming the file, rather than read the zeros as times.

    Notes
    -----
    The dataclass is frozen (fields cannot be rebound) but the frames themselves are
    ordinary mutable DataFrames: copy them before editing in place.
    """

    name: str
    interactions: pd.DataFrame
    users: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    context_columns: tuple[str, ...] = ()
    timed: bool = True

    def __post_init__(self) -> None:
        # Only column presence is checked here (O(1)); loaders validate the values,
        # so building a Dataset around 20M rows costs nothing extra.
        what = f"dataset {self.name!r} interactions"
        if not isinstance(self.interactions, pd.DataFrame):
            raise DataError(
                f"{what} must be a pandas DataFrame; got {type(self.interactions).__name__}"
            )
        ctx = tuple(self.context_columns)
        object.__setattr__(self, "context_columns", ctx)
        missing = [c for c in (*INTERACTION_COLUMNS, *ctx) if c not in self.interactions.columns]
        if missing:
            raise DataError(
                f"{what} is missing column(s) {missing}; it has {list(self.interactions.columns)}"
            )
        for frame, key, label in ((self.users, "user_id", "users"), (self.items, "item_id", "items")):
            if frame is not None and key not in getattr(frame, "columns", ()):
                raise DataError(f"dataset {self.name!r} {label} frame must have a '{key}' column")

    @property
    def n_interactions(self) -> int:
        """Number of interaction rows."""
        return len(self.interactions)

    @property
    def n_users(self) -> int:
        """Number of distinct users in the interactions."""
        return int(self.interactions["user_id"].nunique())

    @property
    def n_items(self) -> int:
        """Number of distinct items in the interactions."""
        return int(self.interactions["item_id"].nunique())

    def summary(self) -> str:
        """One line of counts, e.g. ``ml-100k: 100,000 interactions, 943 users, ...``."""
        n, nu, ni = self.n_interactions, self.n_users, self.n_items
        density = n / (nu * ni) if nu and ni else 0.0
        parts = [f"{n:,} interactions", f"{nu:,} users", f"{ni:,} items", f"density {density:.2%}"]
        if n:
            r = self.interactions["rating"]
            parts.append(f"ratings {r.min():g}-{r.max():g} (mean {r.mean():.2f})")
        if self.users is not None:
            attrs = [c for c in self.users.columns if c != "user_id"]
            parts.append(f"user attributes {', '.join(attrs) or '-'}")
        if self.items is not None:
            attrs = [c for c in self.items.columns if c != "item_id"]
            parts.append(f"item attributes {', '.join(attrs) or '-'} ({len(self.items):,} items listed)")
        if self.context_columns:
            parts.append(f"context {', '.join(self.context_columns)}")
        return f"{self.name}: " + "; ".join(parts)

    def __repr__(self) -> str:
        # The default dataclass repr would print whole frames.
        return f"Dataset({self.summary()})"
