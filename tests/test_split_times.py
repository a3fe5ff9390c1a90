"""Splitters on frames whose ``timestamp`` is datetime64 (naive or time-zone aware): the same
split as the Unix seconds the file readers give, the column kept as it was; text refused."""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.split import SplitWarning, leave_last_out, random_split, temporal_split
from tests.test_split import make_interactions


def _as_datetimes(df, tz):
    when = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    when = when.dt.tz_localize(None) if tz is None else when.dt.tz_convert(tz)
    return df.assign(timestamp=when)


def _rows(frame):
    return frame[["user_id", "item_id", "rating"]].values.tolist()


@pytest.fixture(scope="module")
def seconds():
    # duplicates 5 s older than their pair, so merging must order by time
    return make_interactions(n=3000, dups=300, seed=3)


@pytest.mark.parametrize("tz", [None, "UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("split", [
    lambda d: temporal_split(d, test_size=0.3),
    lambda d: leave_last_out(d, n=2),
    lambda d: random_split(d, test_size=0.2, seed=1),
], ids=["temporal", "leave-last-out", "random"])
def test_datetime_frames_split_as_their_unix_seconds(seconds, tz, split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        expected = split(seconds)
        got = split(_as_datetimes(seconds, tz))
    epoch = pd.Timestamp(0, tz=None if tz is None else "UTC")
    for e, g in zip(expected, got, strict=True):
        assert _rows(g) == _rows(e)
        assert g["timestamp"].dtype == _as_datetimes(seconds, tz)["timestamp"].dtype
        assert ((g["timestamp"] - epoch) // pd.Timedelta(seconds=1)).tolist() == \
            e["timestamp"].tolist()
    assert got[1].attrs["n_duplicates_merged"] == 300


def test_the_cut_time_keeps_the_columns_own_type(seconds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        cut = temporal_split(seconds, 0.3)[1].attrs["cut_timestamp"]
        cut_tz = temporal_split(_as_datetimes(seconds, "Asia/Kolkata"), 0.3)[1].attrs["cut_timestamp"]
    assert isinstance(cut, int)
    assert cut_tz == pd.Timestamp(cut, unit="s", tz="UTC") and str(cut_tz.tz) == "Asia/Kolkata"


def test_text_timestamps_are_refused_with_the_conversion_to_use():
    df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1],
                       "timestamp": ["2024-07-18", "2024-07-19", "2024-07-20"]})
    for split in (temporal_split, leave_last_out):
        with pytest.raises(DataError, match=r"column 'timestamp' has dtype .*pd.to_datetime"):
            split(df)
