"""read_interactions_csv's ``time_unit``: logs counting milliseconds, microseconds or
nanoseconds read as the same whole Unix seconds as a log of seconds; a log whose numbers
cannot be seconds is refused, naming file, column, value, line and the unit that reads it.

T is 2024-07-18T07:55:08Z (see test_own_logs.py for the arithmetic).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import load_dataset, load_sample, read_interactions_csv
from recfm.split import SplitWarning, temporal_split

T = 1_721_289_308
FACTOR = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


@pytest.fixture(scope="module")
def seconds_log():
    """1,500 of the sample's interactions, times in whole seconds."""
    return load_sample().interactions.iloc[:1500][["user_id", "item_id", "rating", "timestamp"]]


def _in_unit(log: pd.DataFrame, unit: str, seed: int = 0) -> pd.DataFrame:
    """``log`` with its times in ``unit``, each moved by a random fraction of its second
    (which reading must floor away)."""
    n = FACTOR[unit]
    fraction = np.random.default_rng(seed).integers(0, n, size=len(log), dtype=np.int64)
    return log.assign(timestamp=log["timestamp"].to_numpy(np.int64) * n + fraction)


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
def test_a_log_in_a_finer_unit_reads_as_the_seconds_log(tmp_path, seconds_log, unit):
    seconds_log.to_csv(tmp_path / "log.csv", index=False)
    _in_unit(seconds_log, unit).rename(columns={"timestamp": "ts"}).to_csv(
        tmp_path / "fine.csv", index=False)
    plain = read_interactions_csv(tmp_path / "log.csv").interactions
    fine = read_interactions_csv(tmp_path / "fine.csv", time_column="ts",
                                 time_unit=unit).interactions
    assert fine["timestamp"].dtype == np.int64
    pd.testing.assert_frame_equal(fine, plain)
    # the same split follows: every train interaction older than every test one, alike
    with pytest.warns(SplitWarning):  # users with no interaction before the cut, alike too
        splits = temporal_split(fine), temporal_split(plain)
    for a, b in zip(*splits, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_units_floor_exactly_at_the_ends_of_a_second(tmp_path):
    # float64 would round the nanoseconds up into the next second; -1 ms is before the epoch
    path = tmp_path / "log.csv"
    path.write_text(f"user_id,item_id,timestamp\n1,2,{T}999999999\n1,3,{T}000000000\n2,2,-1\n")
    assert read_interactions_csv(path, time_unit="ns").interactions["timestamp"].tolist() == [
        T, T, -1]
    path.write_text(f"user_id,item_id,timestamp\n1,2,{T}999\n1,3,-1\n2,2,-1000\n2,3,-1001\n")
    assert read_interactions_csv(path, time_unit="ms").interactions["timestamp"].tolist() == [
        T, -1, -1, -2]


def test_parquet_integer_times_take_the_unit_too(tmp_path):
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4],
                  "timestamp": np.array([T * 10**6 + 999_999, -1], np.int64)}).to_parquet(path)
    assert read_interactions_csv(path, time_unit="us").interactions["timestamp"].tolist() == [T, -1]


@pytest.mark.parametrize("value,unit,read_as", [
    (f"{T}000", "s", "ms"),
    (f"{T}000000", "s", "us"),
    (f"{T}000000000", "s", "ns"),
    ("16756761600", "s", "ms"),  # the first second after 2500 is refused ...
    (f"{T}000000", "ms", "us"),  # a wrong unit other than the default too
    (f"{T}000000000", "us", "ns"),
])
def test_numbers_that_cannot_be_the_unit_are_refused_naming_the_unit_that_reads_them(
        tmp_path, value, unit, read_as):
    path = tmp_path / "clicks.csv"
    good = T * FACTOR[unit]
    path.write_text(f"user,sku,ts\nu1,a,{good}\nu1,b,{good}\nu2,a,{value}\nu2,b,{value}\n")
    with pytest.raises(DataError) as err:
        read_interactions_csv(path, user_column="user", item_column="sku", time_column="ts",
                              time_unit=unit)
    msg = str(err.value)
    assert msg.startswith(str(path))
    assert f"column 'ts' has value {value} at line 4" in msg
    assert "after the year 2500" in msg
    assert f"time_unit='{read_as}' (--time-unit {read_as})" in msg
    # the unit it names reads the offending value (the good rows are then the odd ones out)
    path.write_text(f"user,sku,ts\nu2,a,{value}\n")
    read_interactions_csv(path, user_column="user", item_column="sku", time_column="ts",
                          time_unit=read_as)


def test_the_last_plausible_second_and_early_negative_times(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp\n1,2,16756761599\n1,3,-16756761599\n")
    assert read_interactions_csv(path).interactions["timestamp"].tolist() == [
        16756761599, -16756761599]  # 2500-12-31T23:59:59 and 1439-01-01T00:00:01
    path.write_text(f"user_id,item_id,timestamp\n1,2,{T}\n1,3,-{T}000\n")
    with pytest.raises(DataError, match=rf"value -{T}000 at line 3, which as Unix seconds is "
                                        r"before the year 1439.*time_unit='ms'"):
        read_interactions_csv(path)


def test_fractions_of_the_unit_are_refused_naming_it(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(f"user_id,item_id,timestamp\n1,2,{T}000\n1,3,{T}000.5\n")
    with pytest.raises(DataError, match=rf"value {T}000.5 at line 3, which is not an integer "
                                        r"\(Unix milliseconds\)"):
        read_interactions_csv(path, time_unit="ms")


def test_a_unit_with_times_that_carry_their_own_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(f"user_id,item_id,timestamp\n1,2,{T}000\n1,3,2024-07-18\n")
    with pytest.raises(DataError, match=r"log.csv: column 'timestamp' has value '2024-07-18' at "
                                        r"line 3, which is not a number; time_unit='ms' "
                                        r"\(--time-unit ms\) is for numeric times only"):
        read_interactions_csv(path, time_unit="ms")
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user_id": [1], "item_id": [2],
                  "timestamp": pd.to_datetime([T], unit="s")}).to_parquet(path)
    with pytest.raises(DataError, match=r"log.parquet: column 'timestamp' holds timestamps "
                                        r"\(dtype datetime64.*own unit; time_unit='us'"):
        read_interactions_csv(path, time_unit="us")
    assert read_interactions_csv(path, time_unit="s").interactions["timestamp"].tolist() == [T]
    path = tmp_path / "no_times.csv"
    path.write_text("user,item_id\n1,2\n")
    with pytest.raises(DataError, match=r"no_times.csv has no time column \(it has \['user', "
                                        r"'item_id'\]\), but --time-unit \(time_unit=\) is 'ns'"):
        read_interactions_csv(path, user_column="user", time_unit="ns")


def test_an_unknown_unit_is_refused_before_reading(tmp_path):
    with pytest.raises(ValueError, match=r"time_unit must be one of 's', 'ms', 'us', 'ns'; got "
                                         r"'sec'"):
        read_interactions_csv(tmp_path / "absent.csv", time_unit="sec")


def test_load_dataset_passes_the_unit_to_files_only(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(f"user,item_id,ts\n1,2,{T}123\n")
    data = load_dataset(path, columns={"user_column": "user", "time_column": "ts",
                                       "time_unit": "ms"})
    assert data.interactions["timestamp"].tolist() == [T]
    with pytest.raises(ValueError, match=r"--time-unit \(time_unit=\) describe\(s\) the columns of "
                                         r"a CSV or Parquet file; 'sample' is a named data set"):
        load_dataset("sample", columns={"time_unit": "ms"})


@pytest.mark.parametrize("fine,coarse", [("ms", "s"), ("us", "s"), ("ns", "s"), ("us", "ms"),
                                         ("ns", "ms")])
def test_a_coarse_log_read_in_a_finer_unit_warns_with_the_unit(tmp_path, seconds_log, fine,
                                                               coarse):
    """Seconds read as milliseconds all land in January 1970: allowed (times counted from a
    start do too) but warned about, naming the file, the column and the unit that reads them
    as recent times."""
    _in_unit(seconds_log, coarse).rename(columns={"timestamp": "ts"}).to_csv(
        tmp_path / "log.csv", index=False)
    with pytest.warns(UserWarning, match=(
            rf"log\.csv: every value of column 'ts' read as Unix \w+ falls in 1970 .*"
            rf"read the file with time_unit='{coarse}'")):
        read_interactions_csv(tmp_path / "log.csv", time_column="ts", time_unit=fine)


@pytest.mark.parametrize("times", [[0, 5_000, 86_400_000], [T * 1000, T * 1000 + 1]])
def test_relative_or_right_milliseconds_do_not_warn(tmp_path, times):
    """Milliseconds from a start (no coarser unit makes them recent) and real milliseconds."""
    _read_without_warning(tmp_path, times, time_unit="ms")


def _read_without_warning(tmp_path, times, **options):
    path = tmp_path / "log.csv"
    pd.DataFrame({"user_id": 1, "item_id": range(len(times)), "timestamp": times}).to_csv(
        path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_interactions_csv(path, **options)


def test_dates_written_as_yyyymmdd_numbers_warn_naming_the_file_column_and_a_value(tmp_path):
    """20240718 read as Unix seconds is 1970-08-23: every time in 1970 and every value a
    valid YYYYMMDD date is warned about, with the ISO form to write instead."""
    path = tmp_path / "log.csv"
    pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1],
                  "day": [20240718, 20240719, 19991231]}).to_csv(path, index=False)
    with pytest.warns(UserWarning, match=(
            r"log\.csv: every value of column 'day' read as Unix seconds falls in 1970 "
            r"\(e\.g\. 20240719 is 1970-08-23.*YYYYMMDD \(20240719 = 2024-07-19\): write the "
            r"dates in ISO 8601 \(2024-07-19\)")):
        data = read_interactions_csv(path, time_column="day")
    assert data.interactions["timestamp"].tolist() == [20240718, 20240719, 19991231]


@pytest.mark.parametrize("times", [[20240718, 20241318], [20240718, 20240732],
                                   [20240718, 9_999_999], [20240718, T]])
def test_numbers_that_are_not_all_yyyymmdd_dates_do_not_warn(tmp_path, times):
    """A month 13, a day 32, a 7-digit value or a recent Unix time among them: no warning."""
    _read_without_warning(tmp_path, times)
