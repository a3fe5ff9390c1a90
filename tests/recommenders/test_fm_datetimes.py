"""A frame whose ``timestamp`` is datetime64 (naive or time-zone aware) fits the same model as
the same frame with integer Unix seconds, and frames of either kind meet in one log."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm.datasets import load_sample
from recfm.features import FeatureBuilder, History, RecentItems, TimeBin
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender


def _datetimes(df, tz):
    when = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    return df.assign(timestamp=when.dt.tz_localize(None) if tz is None else when.dt.tz_convert(tz))


def _builder():
    return FeatureBuilder(user_features=[History()],
                          context_features=[RecentItems(n=2, decay=0.5), TimeBin(by="hour")])


@pytest.fixture(scope="module")
def log():
    return load_sample().interactions[["user_id", "item_id", "rating", "timestamp"]]


def _fit(frame):
    model = FactorizationMachine(n_factors=8, loss="warp", n_epochs=2, n_threads=1,
                                 random_state=0)
    return FMRecommender(builder=_builder(), model=model).fit(frame)


@pytest.fixture(scope="module")
def by_seconds(log):
    return _fit(log)


@pytest.mark.parametrize("tz", [None, "America/Los_Angeles"])
def test_a_datetime_frame_fits_the_model_of_its_unix_seconds(log, by_seconds, tz):
    by_dates = _fit(_datetimes(log, tz))
    np.testing.assert_array_equal(by_dates.model_.V_, by_seconds.model_.V_)
    np.testing.assert_array_equal(by_dates.model_.w_, by_seconds.model_.w_)
    users = by_seconds.user_ids_[:40]
    expected = by_seconds.recommend(users, n=10)
    got = by_dates.recommend(users, n=10)
    assert len(got) == 400
    pd.testing.assert_frame_equal(got, expected)
    # a request history in the other kind of time serves the same list
    history = pd.DataFrame({"user_id": ["new"] * 3, "item_id": log["item_id"][:3].tolist(),
                            "timestamp": [30, 10, 20]})
    pd.testing.assert_frame_equal(
        by_dates.recommend(["new"], n=5, history=history),
        by_seconds.recommend(["new"], n=5, history=_datetimes(history, tz)))


def test_frames_of_either_kind_meet_in_one_log(log):
    """The fitted log keeps Unix seconds: a builder fitted on datetimes transforms a frame of
    seconds (and grows by one) exactly as a builder fitted on seconds does."""
    half = len(log) // 2
    first, rest = log.iloc[:half], log.iloc[half:].reset_index(drop=True)
    known = rest[rest["user_id"].isin(first["user_id"]) & rest["item_id"].isin(first["item_id"])]
    plain = _builder().fit(first)
    mixed = _builder().fit(_datetimes(first, "Europe/Paris"))
    a, b = plain.transform(known).context, mixed.transform(known).context
    assert a.nnz > len(known)  # the recent items are there, not only the hour
    assert (a != b).nnz == 0
    assert (plain.transform(_datetimes(known, None)).context != a).nnz == 0
    plain.partial_fit(_datetimes(rest, "UTC"))
    mixed.partial_fit(rest)
    assert (plain.transform(known).context != mixed.transform(known).context).nnz == 0
