"""Log-derived fields: History (SVD++) and RecentItems (FPMC) in the FeatureBuilder."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.features import FeatureBuilder, History, RecentItems
from recfm.split import random_split

LOG = pd.DataFrame({
    "user_id": [1, 1, 1, 2, 2, 3],
    "item_id": [10, 20, 30, 10, 40, 20],
    "timestamp": [3, 1, 2, 5, 4, 9],
})


def dense(builder, X):
    names = builder.feature_names()
    return pd.DataFrame(X.toarray(), columns=names)


@pytest.mark.parametrize("weight,expect", [("sqrt", 1 / np.sqrt(3)), ("linear", 1 / 3),
                                           ("none", 1.0)])
def test_history_rows_hold_the_training_items_weighted(weight, expect):
    b = FeatureBuilder(user_features=[History(weight=weight)])
    d = b.fit_transform(LOG)
    U = dense(b, d.user_features)
    row = U.iloc[b.user_index_.get_loc(1)]
    for item in (10, 20, 30):
        assert row[f"history={item}"] == pytest.approx(expect)
    assert row["history=40"] == 0
    assert row["user_id=1"] == 1


def test_training_rows_leave_the_target_out_and_reweight_the_rest():
    b = FeatureBuilder(user_features=[History()])
    d = b.fit_transform(LOG)
    Q = dense(b, d.query_rows())
    for s in range(len(LOG)):
        u, i = LOG.user_id[s], LOG.item_id[s]
        own = LOG.item_id[LOG.user_id == u].tolist()
        rest = [j for j in own if j != i]
        assert Q.loc[s, f"history={i}"] == 0
        for j in rest:
            assert Q.loc[s, f"history={j}"] == pytest.approx(1 / np.sqrt(len(rest)))
        hist_cols = [c for c in Q.columns if c.startswith("history=")]
        assert (Q.loc[s, hist_cols] != 0).sum() == len(rest)


@pytest.mark.filterwarnings("ignore:.*holds the same time")  # one time on purpose
def test_recent_items_are_strictly_earlier_with_decay_and_unsorted_rows_give_the_same():
    spec = RecentItems(n=2, decay=0.5)
    b = FeatureBuilder(context_features=[spec])
    d = b.fit_transform(LOG)
    C = dense(b, d.context)
    # user 1 in time order: 20 (t=1), 30 (t=2), 10 (t=3)
    assert C.loc[0, "recent=30"] == 1 and C.loc[0, "recent=20"] == 0.5
    assert C.loc[1].sum() == 0                       # first event: nothing before it
    assert C.loc[2, "recent=20"] == 1 and C.loc[2].sum() == 1
    assert C.loc[3, "recent=40"] == 1                 # user 2: 40 (t=4) then 10 (t=5)
    shuffled = LOG.sample(frac=1.0, random_state=3)
    d2 = FeatureBuilder(context_features=[spec]).fit_transform(shuffled)
    C2 = dense(b, d2.context)
    C2.index = shuffled.index
    pd.testing.assert_frame_equal(C2.sort_index(), C)
    # equal timestamps are not "before" each other
    tie = pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2], "timestamp": [5, 5]})
    assert FeatureBuilder(context_features=[spec]).fit_transform(tie).context.nnz == 0


def test_recommend_time_rows_use_the_latest_items_or_a_given_history():
    b = FeatureBuilder(user_features=[History()],
                       context_features=[RecentItems(n=2, decay=0.5)]).fit(LOG)
    R = dense(b, b.log_rows([1, 9], history={9: [40, 10]}))
    assert R.loc[0, "recent=10"] == 1 and R.loc[0, "recent=30"] == 0.5
    assert R.loc[0, "history=20"] == pytest.approx(1 / np.sqrt(3))
    assert R.loc[1, "recent=10"] == 1 and R.loc[1, "recent=40"] == 0.5
    assert R.loc[1, "history=40"] == pytest.approx(1 / np.sqrt(2))
    # a frame with timestamps orders the recent items by time
    frame = pd.DataFrame({"user_id": [9, 9], "item_id": [10, 40], "timestamp": [2, 1]})
    R2 = dense(b, b.log_rows([9], history=frame))
    assert R2.loc[0, "recent=10"] == 1 and R2.loc[0, "recent=40"] == 0.5
    # an empty history is no history at all
    assert b.log_rows([9], history={9: []}).nnz == 0


def test_split_then_build_never_puts_a_test_interaction_in_a_feature():
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"user_id": rng.integers(0, 60, n), "item_id": rng.integers(0, 80, n),
                       "timestamp": rng.integers(0, 10**6, n)})
    df = df.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)
    train, test = random_split(df, test_size=0.3, seed=1)
    b = FeatureBuilder(user_features=[History()], context_features=[RecentItems(n=3)])
    d = b.fit_transform(train)
    test_pairs = set(zip(test.user_id, test.item_id, strict=True))
    names = np.asarray(b.feature_names())
    for X, users in ((d.user_features, b.user_index_), (b.log_rows(b.user_index_),
                                                        b.user_index_)):
        coo = X.tocoo()
        for r, c in zip(coo.row, coo.col, strict=True):
            name = names[c]
            if name.startswith(("history=", "recent=")):
                assert (users[r], int(name.split("=")[1])) not in test_pairs
    # recent items of the training rows: only the same user's strictly earlier train items
    coo = d.context.tocoo()
    t = train.reset_index(drop=True)
    for r, c in zip(coo.row, coo.col, strict=True):
        j = int(names[c].split("=")[1])
        earlier = t[(t.user_id == t.user_id[r]) & (t.timestamp < t.timestamp[r])]
        assert j in set(earlier.item_id)


def test_history_max_items_keeps_the_latest():
    b = FeatureBuilder(user_features=[History(max_items=2, weight="none")]).fit(LOG)
    R = dense(b, b.log_rows([1]))
    assert R.loc[0, ["history=10", "history=30"]].tolist() == [1, 1]
    assert R.loc[0, "history=20"] == 0


def test_state_round_trip_keeps_the_log():
    b = FeatureBuilder(user_features=[History(weight="linear")],
                       context_features=[RecentItems(n=2, decay=0.5)]).fit(LOG)
    b2 = FeatureBuilder.from_state(json.loads(json.dumps(b.get_state())))
    assert (b.log_rows([1, 2, 3]) != b2.log_rows([1, 2, 3])).nnz == 0
    d1, d2 = b.transform(LOG), b2.transform(LOG)
    assert (d1.query_rows() != d2.query_rows()).nnz == 0


def test_partial_fit_appends_to_the_log():
    b = FeatureBuilder(user_features=[History(weight="none")]).fit(LOG)
    b.partial_fit(pd.DataFrame({"user_id": [1, 5], "item_id": [50, 10], "timestamp": [10, 1]}))
    R = dense(b, b.log_rows([1, 5]))
    assert R.loc[0, "history=50"] == 1 and R.loc[1, "history=10"] == 1


def test_bad_input_is_named():
    b = FeatureBuilder(user_features=[History()]).fit(LOG)
    with pytest.raises(DataError, match=r"not in the catalogue: 99, 98"):
        b.log_rows([7], history={7: [10, 99, 98]})
    spec = RecentItems()
    with pytest.raises(DataError, match="no timestamp column 'timestamp'"):
        FeatureBuilder(context_features=[spec]).fit(LOG.drop(columns="timestamp"))
    bad = LOG.astype({"timestamp": float})
    bad.loc[2, "timestamp"] = np.nan
    with pytest.raises(DataError, match=r"1 missing timestamp\(s\), first at row 2"):
        FeatureBuilder(context_features=[spec]).fit(bad)
    with pytest.raises(DataError, match="numbers or datetimes"):
        FeatureBuilder(context_features=[spec]).fit(LOG.astype({"timestamp": str}))
    with pytest.raises(ValueError, match="History belongs in user_features"):
        FeatureBuilder(context_features=[History()]).fit(LOG)
    with pytest.raises(ValueError, match="decay"):
        RecentItems(decay=0)
    with pytest.raises(ValueError, match="weight"):
        History(weight="log")


def test_time_bins_are_context_columns_of_the_timestamp():
    from recfm.features import TimeBin

    t0 = 1_721_260_800  # 2024-07-18 00:00 UTC, a Thursday
    times = np.array([0, 3600 * 30, 86400 * 3 + 7200]) + t0  # Thu 0h, Fri 6h, Sun 2h
    df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 3], "timestamp": times})
    b = FeatureBuilder(context_features=[TimeBin(), TimeBin(by="hour")])  # named by their bins
    assert [f.name for f in b.context_features] == ["dayofweek", "hour"]
    C = dense(b, b.fit_transform(df).context)
    assert C.loc[0, ["dayofweek=3", "hour=0"]].tolist() == [1, 1]
    assert C.loc[1, ["dayofweek=4", "hour=6"]].tolist() == [1, 1]
    assert C.loc[2, ["dayofweek=6", "hour=2"]].tolist() == [1, 1]
    # datetimes give the same bins; a recommend-time context reads its timestamp column
    when = pd.DataFrame({"timestamp": pd.to_datetime([t0 + 3600 * 30], unit="s")})
    R = dense(b, b.context_rows(when))
    assert R.loc[0, ["dayofweek=4", "hour=6"]].tolist() == [1, 1]
    b2 = FeatureBuilder.from_state(json.loads(json.dumps(b.get_state())))
    assert (b2.context_rows(when) != b.context_rows(when)).nnz == 0
    with pytest.raises(DataError, match="no column 'timestamp'"):
        FeatureBuilder(context_features=[TimeBin()]).fit(df.drop(columns="timestamp"))
    with pytest.raises(DataError, match="no column 'timestamp'"):
        b.context_rows(pd.DataFrame({"hour": [3]}))


def test_time_bins_of_milliseconds_read_as_seconds_name_the_unit_to_pass():
    from recfm.features import TimeBin

    ms = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2],
                       "timestamp": [1_721_260_800_000, 1_721_264_400_000]})
    with pytest.raises(DataError, match=r"'timestamp' has value 1721264400000 \(row 1\), a "
                                        r"time after the year 2500.*unit='ms'"):
        FeatureBuilder(context_features=[TimeBin(by="hour")]).fit_transform(ms)
    b = FeatureBuilder(context_features=[TimeBin(by="hour", unit="ms")])
    C = dense(b, b.fit_transform(ms).context)  # 2024-07-18 00:00 and 01:00 UTC
    assert C.loc[0, "hour=0"] == 1 and C.loc[1, "hour=1"] == 1


def test_time_bins_warn_when_every_time_falls_in_1970():
    """Times that are no Unix times (a file without them, read as 0; dates written as
    digits; times counted from a start) would give every row a bin of 1970: say so."""
    from recfm.features import TimeBin

    for times in ([0, 0, 0], [20240718, 20240719, 20240720], [0, 3600, 86400 * 40]):
        df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 3], "timestamp": times})
        with pytest.warns(UserWarning, match=r"every 'timestamp' of the interactions frame "
                                             r"falls in 1970 \(latest \d+"):
            FeatureBuilder(context_features=[TimeBin()]).fit(df)
    real = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 3],
                         "timestamp": [1_721_260_800, 1_721_264_400, 1_721_300_000]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = FeatureBuilder(context_features=[TimeBin()]).fit(real)
        b.context_rows(real.iloc[:1])  # one recommend-time row is never judged
        b.context_rows(pd.DataFrame({"timestamp": [0]}))


def test_recent_items_warns_when_every_timestamp_is_the_same():
    """A log without real times (a CSV without timestamps reads them as 0) would leave the
    field silently empty: say so."""
    flat = LOG.assign(timestamp=0)
    with pytest.warns(UserWarning, match="same time .* will be empty"):
        FeatureBuilder(context_features=[RecentItems(n=1)]).fit(flat)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FeatureBuilder(context_features=[RecentItems(n=1)]).fit(LOG)
