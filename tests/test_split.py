"""Tests of recfm.split: guarantees (no leakage, warm users), sizes, determinism, bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.split import (
    SplitWarning,
    check_split,
    cold_start_split,
    k_core,
    leave_last_out,
    merge_duplicates,
    random_folds,
    random_split,
    temporal_split,
)


def make_interactions(n_users=200, n_items=150, n=6000, seed=0, dups=0):
    rng = np.random.default_rng(seed)
    # skewed activity so that some users fall under min_interactions
    u = rng.zipf(1.6, 4 * n) % n_users
    i = rng.integers(0, n_items, 4 * n)
    key = np.unique(u * n_items + i, return_index=True)[1]
    key = np.sort(key)[:n]
    df = pd.DataFrame(
        {
            "user_id": (u[key] + 1000).astype(np.int64),
            "item_id": (i[key] + 1).astype(np.int64),
            "rating": rng.integers(1, 6, len(key)).astype(np.float32),
            "timestamp": rng.integers(10**9, 10**9 + 10**6, len(key)).astype(np.int64),
            "hour": rng.integers(0, 24, len(key)),
        }
    )
    if dups:
        extra = df.sample(dups, random_state=seed).copy()
        extra["rating"] = np.float32(0.5)
        extra["timestamp"] = extra["timestamp"] - 5
        df = pd.concat([df, extra], ignore_index=True)
    return df


@pytest.fixture(scope="module")
def df():
    return make_interactions()


def pairs(frame):
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


def assert_guarantees(train, test, cold=False):
    assert not (pairs(train) & pairs(test))
    if not cold:
        assert set(test["user_id"]) <= set(train["user_id"])
    check_split(train, test, cold_start=cold)


# ------------------------------------------------------------------------- random_split
def test_random_split_guarantees_and_sizes(df):
    train, test = random_split(df, test_size=0.2, seed=0, min_interactions=5)
    assert_guarantees(train, test)
    assert len(train) + len(test) == len(df)
    assert list(train.columns) == list(df.columns)
    counts = df.groupby("user_id").size()
    n_test = test.groupby("user_id").size().reindex(counts.index, fill_value=0)
    expected = np.clip(np.floor(0.2 * counts + 0.5), 1, counts - 1)
    expected[counts < 5] = 0
    np.testing.assert_array_equal(n_test.to_numpy(), expected.to_numpy())
    assert (counts < 5).any()  # the fixture has users kept entirely in train
    # every user is kept
    assert set(train["user_id"]) == set(df["user_id"])


def test_random_split_deterministic_by_seed(df):
    a = random_split(df, seed=3)
    b = random_split(df, seed=3)
    c = random_split(df, seed=4)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert pairs(a[1]) != pairs(c[1])


def test_random_split_rounds_half_up_and_keeps_one_in_train():
    # user 1: 5 interactions, 0.5*5 = 2.5 -> 3 in test; user 2: 2 interactions -> 1 and 1
    df = pd.DataFrame({"user_id": [1] * 5 + [2] * 2, "item_id": [1, 2, 3, 4, 5, 1, 2]})
    train, test = random_split(df, test_size=0.5, min_interactions=2)
    assert test.groupby("user_id").size().to_dict() == {1: 3, 2: 1}
    # test_size=0.9 on 2 interactions: round(1.8)=2 is clipped so 1 stays in train
    train, test = random_split(df, test_size=0.9, min_interactions=1)
    assert train.groupby("user_id").size().to_dict() == {1: 1, 2: 1}


def test_random_split_string_ids():
    df = make_interactions(n=800)
    df["user_id"] = "u" + df["user_id"].astype(str)
    df["item_id"] = "i" + df["item_id"].astype(str)
    train, test = random_split(df, seed=1)
    assert_guarantees(train, test)


# ----------------------------------------------------------------------- duplicates
def test_duplicates_merged_first():
    df = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 1],
            "item_id": [7, 7, 8, 7, 7],
            "rating": np.array([5.0, 2.0, 3.0, 4.0, 1.0], dtype=np.float32),
            "timestamp": [10, 30, 20, 5, 30],
            "hour": [1, 2, 3, 4, 5],
        }
    )
    merged, n = merge_duplicates(df)
    assert n == 2
    row = merged[(merged.user_id == 1) & (merged.item_id == 7)]
    assert len(row) == 1
    # max rating (5), latest timestamp (30; tie between rows 1 and 4 -> the later row 4)
    assert row["rating"].item() == 5.0 and row["timestamp"].item() == 30
    assert row["hour"].item() == 5
    assert merged["rating"].dtype == np.float32
    train, test = leave_last_out(df, n=1)
    assert train.attrs["n_duplicates_merged"] == 2
    assert len(train) + len(test) == 3


def test_splits_merge_duplicates_no_leakage():
    df = make_interactions(n=3000, dups=400)
    n_unique = len(df.drop_duplicates(["user_id", "item_id"]))
    for train, test in (
        random_split(df, seed=0),
        leave_last_out(df),
        cold_start_split(df, seed=0),
    ):
        assert len(train) + len(test) == n_unique
        assert not (pairs(train) & pairs(test))
        assert not train.duplicated(["user_id", "item_id"]).any()
        assert not test.duplicated(["user_id", "item_id"]).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        train, test = temporal_split(df)
    assert not (pairs(train) & pairs(test))
    assert len(k_core(df, 2)) <= n_unique


# ---------------------------------------------------------------------- temporal_split
def test_temporal_split_cut(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        train, test = temporal_split(df, test_size=0.25)
    assert train["timestamp"].max() < test["timestamp"].min()
    assert_guarantees(train, test)
    dropped = test.attrs["n_dropped_interactions"]
    assert len(train) + len(test) + dropped == len(df)
    # the cut is the (1 - test_size) quantile: about 25 % of rows are at or after it
    assert abs((len(test) + dropped) / len(df) - 0.25) < 0.01
    cut = test.attrs["cut_timestamp"]
    assert (df["timestamp"] >= cut).sum() == len(test) + dropped


def test_temporal_split_drops_cold_test_users_with_warning():
    df = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2, 3, 3],
            "item_id": [1, 2, 3, 1, 2, 1, 2],
            "timestamp": [1, 2, 9, 3, 8, 10, 11],
        }
    )
    # 7 rows, test_size 3/7 -> 3 latest rows (ts 9, 10, 11); user 3 has nothing before
    with pytest.warns(SplitWarning, match=r"dropped 2 test interaction\(s\) of 1 user"):
        train, test = temporal_split(df, test_size=3 / 7)
    assert test.attrs["n_dropped_users"] == 1
    assert test.attrs["n_dropped_interactions"] == 2
    assert pairs(test) == {(1, 3)}
    assert_guarantees(train, test)


def test_temporal_split_needs_distinct_timestamps():
    df = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [1, 1, 1], "timestamp": [5, 5, 5]})
    with pytest.raises(DataError, match="timestamp"):
        temporal_split(df, test_size=0.5)


# ---------------------------------------------------------------------- leave_last_out
def test_leave_last_out_picks_latest(df):
    train, test = leave_last_out(df, n=1)
    assert_guarantees(train, test)
    counts = df.groupby("user_id").size()
    assert set(test["user_id"]) == set(counts[counts > 1].index)
    assert test.groupby("user_id").size().max() == 1
    latest_train = train.groupby("user_id")["timestamp"].max()
    t = test.set_index("user_id")["timestamp"]
    assert (t >= latest_train.reindex(t.index)).all()


def test_leave_last_out_ties_and_n():
    df = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2, 2],
            "item_id": [1, 2, 3, 4, 1, 2],
            "timestamp": [5, 9, 9, 1, 3, 4],
        }
    )
    train, test = leave_last_out(df, n=1)
    # user 1: items 2 and 3 tie at ts 9; item 3 comes later in the input -> it is "last"
    assert pairs(test) == {(1, 3), (2, 2)}
    train, test = leave_last_out(df, n=2)
    # user 2 has only 2 interactions (<= n): everything stays in train
    assert pairs(test) == {(1, 2), (1, 3)}
    assert pairs(train) == {(1, 1), (1, 4), (2, 1), (2, 2)}


# ----------------------------------------------------------------------------- k_core
def naive_k_core(df, k):
    cur = df.drop_duplicates(["user_id", "item_id"])
    while True:
        uc = cur["user_id"].map(cur["user_id"].value_counts())
        ic = cur["item_id"].map(cur["item_id"].value_counts())
        keep = (uc >= k) & (ic >= k)
        if keep.all():
            return cur
        cur = cur[keep]


@pytest.mark.parametrize("k", [1, 3, 10])
def test_k_core_property(df, k):
    core = k_core(df, k)
    assert core.groupby("user_id").size().min() >= k
    assert core.groupby("item_id").size().min() >= k
    assert pairs(core) == pairs(naive_k_core(df, k))


def test_k_core_empty_result_raises():
    df = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2]})
    with pytest.raises(DataError, match="k_core"):
        k_core(df, 2)


# ------------------------------------------------------------------------- cold start
def test_cold_start_split(df):
    train, test = cold_start_split(df, test_users=0.1, seed=0)
    assert set(train["user_id"]).isdisjoint(test["user_id"])
    assert set(train["user_id"]) | set(test["user_id"]) == set(df["user_id"])
    n_users = df["user_id"].nunique()
    assert test["user_id"].nunique() == int(np.floor(0.1 * n_users + 0.5))
    assert len(train) + len(test) == len(df)
    assert_guarantees(train, test, cold=True)
    with pytest.raises(DataError, match="absent from train"):
        check_split(train, test)
    again = cold_start_split(df, test_users=0.1, seed=0)
    pd.testing.assert_frame_equal(test, again[1])
    _, test3 = cold_start_split(df, test_users=3, seed=1)
    assert test3["user_id"].nunique() == 3


# ------------------------------------------------------------------------ check_split
def test_check_split_messages():
    train = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1]})
    test = pd.DataFrame({"user_id": [1, 3, 3, 4], "item_id": [3, 1, 2, 1]})
    with pytest.raises(DataError, match=r"2 user\(s\) absent from train \(e.g. user_id 3\)"):
        check_split(train, test)
    leak = pd.DataFrame({"user_id": [1, 2], "item_id": [3, 1]})
    with pytest.raises(DataError, match=r"1 \(user_id, item_id\) pair.*\(2, 1\)"):
        check_split(train, leak)
    with pytest.raises(DataError, match=r"\(2, 1\)"):
        check_split(train, leak, cold_start=True)
    check_split(train, test, cold_start=True)


# -------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda d: random_split(d, test_size=0), "test_size"),
        (lambda d: random_split(d, test_size=1.0), "test_size"),
        (lambda d: random_split(d, test_size=-0.2), "test_size"),
        (lambda d: random_split(d, test_size="0.2"), "test_size"),
        (lambda d: random_split(d, min_interactions=0), "min_interactions"),
        (lambda d: temporal_split(d, test_size=1.5), "test_size"),
        (lambda d: leave_last_out(d, n=0), "n must"),
        (lambda d: leave_last_out(d, n=-1), "n must"),
        (lambda d: k_core(d, 0), "k must"),
        (lambda d: k_core(d, -2), "k must"),
        (lambda d: cold_start_split(d, test_users=0.0), "test_users"),
        (lambda d: cold_start_split(d, test_users=10**6), "test_users"),
    ],
)
def test_bad_arguments(call, match):
    d = make_interactions(n=300)
    with pytest.raises(ValueError, match=match):
        call(d)


@pytest.mark.parametrize(
    "split",
    [random_split, temporal_split, leave_last_out, cold_start_split, lambda d: k_core(d, 2)],
)
def test_bad_frames(split):
    d = make_interactions(n=300)
    with pytest.raises(DataError, match="item_id"):
        split(d.drop(columns="item_id"))
    bad = d.astype({"user_id": float})
    bad.loc[3, "user_id"] = np.nan
    with pytest.raises(DataError, match="'user_id' has 1 missing"):
        split(bad)
    with pytest.raises(DataError, match="empty"):
        split(d.iloc[:0])
    with pytest.raises(DataError, match="DataFrame"):
        split(d.to_numpy())


def test_time_splits_need_timestamp():
    d = make_interactions(n=300).drop(columns="timestamp")
    for split in (temporal_split, leave_last_out):
        with pytest.raises(DataError, match="timestamp"):
            split(d)
    random_split(d)  # does not need it


# ------------------------------------------------------------------------- random_folds
@pytest.mark.parametrize("n_folds, fold_size", [(3, 0.1), (4, 0.25), (2, 0.3)])
def test_random_folds_are_disjoint_and_each_pair_is_a_split(df, n_folds, fold_size):
    merged, _ = merge_duplicates(df)
    folds = random_folds(df, n_folds=n_folds, fold_size=fold_size, seed=1)
    assert len(folds) == n_folds
    held = [pairs(test) for _, test in folds]
    for j, (train, test) in enumerate(folds):
        assert_guarantees(train, test)
        assert pairs(train) | pairs(test) == pairs(merged) and len(train) + len(test) == len(merged)
        for other in held[j + 1:]:
            assert not held[j] & other
    # per user: the same count in every fold, round(fold_size * n) clipped to fit n_folds times
    counts = merged.groupby("user_id").size()
    expected = np.clip(np.floor(fold_size * counts + 0.5), 1, counts - 1)
    expected = np.minimum(expected, counts // n_folds).where(counts >= 5, 0).astype(int)
    for _, test in folds:
        got = test.groupby("user_id").size().reindex(counts.index, fill_value=0)
        assert (got == expected).all()
    # k-fold proper: every interaction of an eligible user with a multiple of k is held once
    if n_folds * fold_size == 1.0:
        exact = counts[(counts >= 5) & (counts % n_folds == 0)].index
        union = set().union(*held)
        assert {p for p in pairs(merged) if p[0] in set(exact)} <= union


def test_random_folds_one_fold_is_random_split(df):
    train, test = random_split(df, test_size=0.15, seed=3)
    [(train1, test1)] = random_folds(df, n_folds=1, fold_size=0.15, seed=3)
    pd.testing.assert_frame_equal(train, train1)
    pd.testing.assert_frame_equal(test, test1)
    a = random_folds(df, n_folds=3, fold_size=0.1, seed=3)
    b = random_folds(df, n_folds=3, fold_size=0.1, seed=3)
    for (_, x), (_, y) in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_folds": 0}, "n_folds must be a positive integer"),
    ({"n_folds": 2.0}, "n_folds must be a positive integer"),
    ({"fold_size": 0.0}, "fold_size must be a float strictly between 0 and 1"),
    ({"n_folds": 4, "fold_size": 0.3}, r"n_folds \* fold_size must be at most 1"),
])
def test_random_folds_bad_input_names_the_parameter(df, kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_folds(df, **kwargs)
