"""Train/test splitters for interaction frames.

Every splitter takes an interactions frame (columns ``user_id, item_id`` and, where time
matters, ``timestamp``; ``rating`` and context columns are carried along) and returns new
frames with a fresh ``RangeIndex`` whose rows keep the order they had in the input.

Rules shared by every splitter
------------------------------
* **Duplicates are merged first.** When a ``(user_id, item_id)`` pair occurs more than once,
  one row is kept: the one with the latest ``timestamp`` (on equal timestamps, or without a
  ``timestamp`` column, the one that comes last in the input), carrying its context columns;
  its ``rating`` is set to the largest rating of the duplicates. The number of merged rows is
  stored in ``frame.attrs["n_duplicates_merged"]`` of every returned frame.
* **No leakage.** No ``(user_id, item_id)`` pair is in both train and test.
* **Warm users.** Every test user has at least one train interaction, except in
  :func:`cold_start_split`, whose test users are exactly the users absent from train.
* **Deterministic.** Random splitters draw from ``numpy.random.default_rng(seed)``; the same
  input and seed give the same split.
* Everything is vectorised (factorised codes, sorts and group ranks): a MovieLens-1M sized
  frame (1M rows) splits in well under a second.

:func:`check_split` verifies the two guarantees on any pair of frames.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from recfm._timestamps import check_time_column, event_times
from recfm._utils import (
    DataError,
    check_columns,
    check_finite_numbers,
    check_positive_int,
    check_random_state,
)

__all__ = [
    "random_split",
    "random_folds",
    "temporal_split",
    "leave_last_out",
    "k_core",
    "cold_start_split",
    "check_split",
    "merge_duplicates",
    "SplitWarning",
]


class SplitWarning(UserWarning):
    """Warns about interactions a splitter had to drop (e.g. cold test users of a temporal cut)."""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _check_fraction(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a float strictly between 0 and 1; got {value!r}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a float strictly between 0 and 1; got {value!r}")
    return value


def _py(value: object) -> object:
    """numpy scalar -> Python scalar, so that messages show ``3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _round_half_up(x: ArrayLike) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def _validate(df: pd.DataFrame, what: str, need_timestamp: bool) -> None:
    cols = ["user_id", "item_id"] + (["timestamp"] if need_timestamp else [])
    check_columns(df, cols, what)
    if "rating" in df.columns:
        check_columns(df, ["rating"], what)
    ts = df["timestamp"] if "timestamp" in df.columns else None
    if need_timestamp:
        check_time_column(df["timestamp"], "timestamp", what)  # text, before any work
    if ts is not None and pd.api.types.is_float_dtype(ts.dtype):
        # inf would sort as the newest (or oldest) event of all and decide every time cut
        check_finite_numbers(ts.to_numpy(np.float64), "timestamp", what)


def _times(df: pd.DataFrame) -> np.ndarray:
    """The ``timestamp`` column as sortable numbers: datetimes (naive or with a time zone)
    as the Unix seconds the file readers give, numbers as they are; text is refused."""
    return event_times(df["timestamp"], "timestamp", "interactions")


def merge_duplicates(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Merge duplicated ``(user_id, item_id)`` pairs (see the module docstring).

    Returns
    -------
    merged : DataFrame
        One row per pair, in input order, with a fresh RangeIndex.
    n_merged : int
        Number of rows removed.
    """
    _validate(df, "interactions", need_timestamp=False)
    return _merge_duplicates(df)


def _merge_duplicates(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    u, _ = _codes(df["user_id"])
    i, n_items = _codes(df["item_id"])
    key = u * max(n_items, 1) + i
    n = len(df)
    in_dup = pd.Series(key).duplicated(keep=False).to_numpy()  # hash-based
    if not in_dup.any():  # fast path
        return df.reset_index(drop=True), 0
    # only rows that belong to a duplicated pair are sorted
    rows = np.flatnonzero(in_dup)
    if "timestamp" in df.columns:
        sub = np.lexsort((_times(df)[rows], key[rows]))  # stable on ties
    else:
        sub = np.argsort(key[rows], kind="stable")
    order = rows[sub]
    ks = key[order]
    boundary = ks[1:] != ks[:-1]
    last = np.concatenate([boundary, [True]])
    starts = np.flatnonzero(np.concatenate([[True], boundary]))
    winners = order[last]  # per pair: latest timestamp, last in input order on ties
    keep = np.sort(np.concatenate([np.flatnonzero(~in_dup), winners]))
    merged = df.iloc[keep].reset_index(drop=True)
    if "rating" in df.columns:
        rating = df["rating"].to_numpy().copy()
        rating[winners] = np.maximum.reduceat(rating[order], starts)
        merged["rating"] = pd.array(rating[keep], dtype=df["rating"].dtype)
    return merged, n - len(merged)


def _prepare(df: pd.DataFrame, what: str, need_timestamp: bool = False) -> tuple[pd.DataFrame, int]:
    _validate(df, what, need_timestamp)
    return _merge_duplicates(df)


def _finish(frames: list[pd.DataFrame], n_merged: int) -> None:
    for f in frames:
        f.attrs["n_duplicates_merged"] = int(n_merged)


def _take(df: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    return df.iloc[np.flatnonzero(mask)].reset_index(drop=True)


def _order_within_groups(groups: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Indices sorting rows by (group, value), ties kept in input order (stable).

    Uses one stable argsort of a combined int64 key when it cannot overflow, else lexsort.
    """
    values = np.asarray(values)
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        span = hi - lo + 1
        if span * max(n_groups, 1) < 2**62:
            combined = groups * span + (values.astype(np.int64) - lo)
            return np.argsort(combined, kind="stable")
    return np.lexsort((values, groups))


def _holdout_ranks(data: pd.DataFrame, size: float, n_parts: int, min_interactions: int, rng
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user code of each row, its 0-based rank in a random order of its user's rows, rows
    each user holds out per part): ``round(size * n_u)`` clipped to [1, n_u - 1] and, with
    several parts, to ``n_u // n_parts``; 0 for users under ``min_interactions``."""
    u, n_users = _codes(data["user_id"])
    counts = np.bincount(u, minlength=n_users)
    n_held = np.clip(_round_half_up(size * counts), 1, np.maximum(counts - 1, 0))
    if n_parts > 1:
        n_held = np.minimum(n_held, counts // n_parts)
    n_held[(counts < min_interactions) | (counts < 2)] = 0
    key = rng.integers(0, 2**31, size=len(u), dtype=np.int64)
    order = _order_within_groups(u, n_users, key)  # by user, then random key
    group_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(u), dtype=np.int64)
    rank[order] = np.arange(len(u)) - group_start[u[order]]
    return u, rank, n_held


# --------------------------------------------------------------------------------------------
# splitters
# --------------------------------------------------------------------------------------------
def random_split(
    df: pd.DataFrame,
    test_size: float = 0.2,
    seed: int | np.random.Generator | None = 0,
    min_interactions: int = 5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random holdout.

    Each user with at least ``min_interactions`` interactions (after merging duplicates)
    gives ``round(test_size * n_u)`` of them, chosen uniformly at random, to the test set,
    clipped to at least 1 and at most ``n_u - 1`` so that at least one stays in train.
    ``round`` rounds halves up. Users with fewer interactions (and users with a single one)
    keep everything in train.

    Parameters
    ----------
    df : DataFrame
        Interactions with columns ``user_id, item_id`` (other columns are carried along).
    test_size : float in (0, 1)
        Fraction of each eligible user's interactions held out.
    seed : int, numpy Generator or None
        Random state (see :func:`recfm._utils.check_random_state`).
    min_interactions : int > 0
        Users with fewer interactions are not split.

    Returns
    -------
    train, test : DataFrame
        Both with a fresh RangeIndex, rows in input order.
    """
    test_size = _check_fraction(test_size, "test_size")
    min_interactions = check_positive_int(min_interactions, "min_interactions")
    rng = check_random_state(seed)
    data, n_merged = _prepare(df, "interactions")

    u, rank, n_test = _holdout_ranks(data, test_size, 1, min_interactions, rng)
    is_test = rank < n_test[u]

    train, test = _take(data, ~is_test), _take(data, is_test)
    _finish([train, test], n_merged)
    return train, test


def random_folds(
    df: pd.DataFrame,
    n_folds: int = 3,
    fold_size: float = 0.1,
    seed: int | np.random.Generator | None = 0,
    min_interactions: int = 5,
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Per-user holdout repeated on ``n_folds`` disjoint held-out parts.

    Each user with at least ``min_interactions`` interactions (after merging duplicates) puts
    ``n_u = round(fold_size * n_u)`` of them (clipped as in :func:`random_split`, and to at
    most ``n_u // n_folds`` so that the folds fit) into each fold, chosen uniformly at random
    without overlap: fold ``j`` holds the user's interactions of random rank
    ``[j * n_u, (j + 1) * n_u)``. Pair ``j`` is (every other interaction, fold ``j``). With
    ``n_folds=1`` and the same seed this is :func:`random_split` (``test_size=fold_size``);
    with ``fold_size = 1 / n_folds`` it is per-user k-fold cross-validation.

    Parameters
    ----------
    df : DataFrame
        Interactions with columns ``user_id, item_id``.
    n_folds : int > 0
    fold_size : float in (0, 1)
        Fraction of each eligible user's interactions in one fold;
        ``n_folds * fold_size`` must not exceed 1.
    seed, min_interactions : as :func:`random_split`

    Returns
    -------
    list of (train, test) DataFrame pairs, one per fold
        The tests are disjoint; each train is the rest of ``df``.
    """
    n_folds = check_positive_int(n_folds, "n_folds")
    fold_size = _check_fraction(fold_size, "fold_size")
    if n_folds * fold_size > 1.0 + 1e-9:
        raise ValueError(f"n_folds * fold_size must be at most 1 (disjoint folds); got "
                         f"{n_folds} * {fold_size} = {n_folds * fold_size:g}")
    min_interactions = check_positive_int(min_interactions, "min_interactions")
    rng = check_random_state(seed)
    data, n_merged = _prepare(df, "interactions")

    # the draws of random_split, so that one fold is its split
    u, rank, n_fold = _holdout_ranks(data, fold_size, n_folds, min_interactions, rng)
    per = n_fold[u]
    held = rank < per * n_folds
    fold = np.full(len(data), -1, dtype=np.int64)
    fold[held] = rank[held] // per[held]

    pairs = []
    for j in range(n_folds):
        train, test = _take(data, fold != j), _take(data, fold == j)
        _finish([train, test], n_merged)
        pairs.append((train, test))
    return pairs


def temporal_split(
    df: pd.DataFrame, test_size: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global time cut: the latest ``test_size`` share of interactions form the test set.

    The cut time ``t*`` is the timestamp of the interaction at position
    ``n - round(test_size * n)`` of the timestamp-sorted interactions (the ``1 - test_size``
    quantile). Interactions with ``timestamp >= t*`` go to test, the others to train, so every
    train interaction is strictly older than every test interaction (ties at ``t*`` all go to
    test, which may make the test share a little larger than ``test_size``).

    Test interactions of users who have no train interaction cannot be evaluated warm: they
    are **dropped**, a :class:`SplitWarning` states how many users and interactions were
    dropped, and the counts are stored in ``test.attrs["n_dropped_users"]`` and
    ``test.attrs["n_dropped_interactions"]`` (both 0 when nothing was dropped). Test items
    never seen in train are kept (they count as misses for every model).

    Parameters
    ----------
    df : DataFrame
        Interactions with columns ``user_id, item_id, timestamp``.
    test_size : float in (0, 1)

    Returns
    -------
    train, test : DataFrame
    """
    test_size = _check_fraction(test_size, "test_size")
    data, n_merged = _prepare(df, "interactions", need_timestamp=True)
    n = len(data)
    ts = _times(data)
    n_train_target = n - int(_round_half_up(test_size * n))
    if n_train_target <= 0 or n_train_target >= n:
        raise DataError(
            f"temporal_split: test_size={test_size} leaves an empty train or test set "
            f"for {n} interactions"
        )
    at = int(np.argpartition(ts, n_train_target)[n_train_target])
    cut, cut_value = ts[at], _py(data["timestamp"].iloc[at])  # the latter as the column holds it
    is_test = ts >= cut
    if is_test.all():
        raise DataError(
            f"temporal_split: every timestamp is >= the cut time {cut_value!r}, so train would be "
            "empty; column 'timestamp' has too few distinct values for a time cut"
        )
    train_users = pd.unique(data["user_id"].to_numpy()[~is_test])
    cold = is_test & ~data["user_id"].isin(train_users).to_numpy()
    n_drop_rows = int(cold.sum())
    n_drop_users = int(data["user_id"][cold].nunique()) if n_drop_rows else 0
    test_mask = is_test & ~cold
    if not test_mask.any():
        raise DataError(
            "temporal_split: every test interaction belongs to a user absent from train; "
            "no warm test set is left"
        )
    if n_drop_rows:
        warnings.warn(
            f"temporal_split dropped {n_drop_rows} test interaction(s) of {n_drop_users} "
            f"user(s) with no interaction before the cut time {cut_value!r} "
            "(see test.attrs['n_dropped_users'])",
            SplitWarning,
            stacklevel=2,
        )
    train, test = _take(data, ~is_test), _take(data, test_mask)
    _finish([train, test], n_merged)
    test.attrs["n_dropped_users"] = n_drop_users
    test.attrs["n_dropped_interactions"] = n_drop_rows
    test.attrs["cut_timestamp"] = cut_value
    return train, test


def leave_last_out(df: pd.DataFrame, n: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user holdout of the ``n`` latest interactions.

    Each user's interactions are ordered by ``timestamp``; among equal timestamps, the one
    that comes later in the input counts as later (stable order). The last ``n`` go to test.
    Users with ``n`` or fewer interactions keep everything in train, so every test user has
    at least one train interaction.

    Parameters
    ----------
    df : DataFrame
        Interactions with columns ``user_id, item_id, timestamp``.
    n : int > 0
        Number of interactions held out per user.
    """
    n = check_positive_int(n, "n")
    data, n_merged = _prepare(df, "interactions", need_timestamp=True)
    u, n_users = _codes(data["user_id"])
    ts = _times(data)
    order = _order_within_groups(u, n_users, ts)  # stable: ties keep input order
    counts = np.bincount(u, minlength=n_users)
    group_end = np.cumsum(counts)
    us = u[order]
    from_end = group_end[us] - np.arange(len(data))  # 1 for the latest interaction
    is_test = np.empty(len(data), dtype=bool)
    is_test[order] = (from_end <= n) & (counts[us] > n)
    train, test = _take(data, ~is_test), _take(data, is_test)
    _finish([train, test], n_merged)
    return train, test


def k_core(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """Iterative k-core: keep the largest subset where every user and item has >= k interactions.

    Users and items with fewer than ``k`` interactions are removed, repeatedly, until none is
    left (removing an item can push a user below ``k`` and vice versa). Duplicates are merged
    first, so a pair counts once.

    Raises
    ------
    DataError
        When nothing survives.
    """
    k = check_positive_int(k, "k")
    data, n_merged = _prepare(df, "interactions")
    u, n_users = _codes(data["user_id"])
    i, n_items = _codes(data["item_id"])
    alive = np.ones(len(data), dtype=bool)
    while True:
        uc = np.bincount(u[alive], minlength=n_users)
        ic = np.bincount(i[alive], minlength=n_items)
        bad = alive & ((uc[u] < k) | (ic[i] < k))
        if not bad.any():
            break
        alive &= ~bad
    if not alive.any():
        raise DataError(f"k_core(k={k}) removed every interaction; choose a smaller k")
    out = _take(data, alive)
    _finish([out], n_merged)
    return out


def cold_start_split(
    df: pd.DataFrame,
    test_users: float | int = 0.1,
    seed: int | np.random.Generator | None = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out whole users: their interactions all go to test, none to train.

    Parameters
    ----------
    df : DataFrame
        Interactions with columns ``user_id, item_id``.
    test_users : float in (0, 1) or int >= 1
        Fraction of users (rounded half up, at least 1 and at most ``n_users - 1``), or an
        exact number of users, held out.
    seed : int, numpy Generator or None

    Returns
    -------
    train, test : DataFrame
        The user sets of train and test are disjoint.
    """
    if isinstance(test_users, numbers.Integral) and not isinstance(test_users, bool):
        n_pick = check_positive_int(test_users, "test_users")
        frac = None
    else:
        frac = _check_fraction(test_users, "test_users")
    rng = check_random_state(seed)
    data, n_merged = _prepare(df, "interactions")
    u, n_users = _codes(data["user_id"])
    if n_users < 2:
        raise DataError("cold_start_split needs at least 2 distinct users in column 'user_id'")
    if frac is not None:
        n_pick = int(np.clip(_round_half_up(frac * n_users), 1, n_users - 1))
    elif n_pick >= n_users:
        raise ValueError(
            f"test_users={n_pick} must be smaller than the number of users ({n_users})"
        )
    chosen = np.zeros(n_users, dtype=bool)
    chosen[rng.permutation(n_users)[:n_pick]] = True
    is_test = chosen[u]
    train, test = _take(data, ~is_test), _take(data, is_test)
    _finish([train, test], n_merged)
    return train, test


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def check_split(train: pd.DataFrame, test: pd.DataFrame, cold_start: bool = False,
                test_name: str = "test") -> None:
    """Check that ``test`` can be evaluated against a model trained on ``train``.

    Raises :class:`~recfm._utils.DataError` when

    * a ``(user_id, item_id)`` pair appears in both frames (the message names one), or
    * unless ``cold_start``, some test users are absent from train (the message gives their
      number and one example).

    With ``cold_start=True`` test users need not be in train (they may or may not be).
    ``test_name`` is what the messages call ``test`` (e.g. ``"validation"``).
    """
    check_columns(train, ["user_id", "item_id"], "train")
    check_columns(test, ["user_id", "item_id"], test_name)
    tr_u, te_u = train["user_id"], test["user_id"]
    if not cold_start:
        absent = ~te_u.isin(pd.unique(tr_u.to_numpy())).to_numpy()
        if absent.any():
            missing = pd.unique(te_u.to_numpy()[absent])
            raise DataError(
                f"{test_name} has {len(missing)} user(s) absent from train (e.g. user_id "
                f"{_py(missing[0])!r}); use cold_start=True for a cold-start protocol, or drop them"
            )
    users, _ = pd.factorize(pd.concat([tr_u, te_u], ignore_index=True))
    items, item_uniques = pd.factorize(
        pd.concat([train["item_id"], test["item_id"]], ignore_index=True)
    )
    key = users.astype(np.int64) * max(len(item_uniques), 1) + items
    n_tr = len(train)
    both = pd.Series(key[n_tr:]).isin(key[:n_tr]).to_numpy()  # hash-based, fast
    if both.any():
        j = int(np.flatnonzero(both)[0])
        row = test.iloc[j]
        raise DataError(
            f"{int(both.sum())} (user_id, item_id) pair(s) appear in both train and "
            f"{test_name}, e.g. ({_py(row['user_id'])!r}, {_py(row['item_id'])!r}); "
            f"this leaks the {test_name} set into training, check your data split"
        )
