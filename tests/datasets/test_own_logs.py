"""read_interactions_csv on logs as people keep them: own column names (``user_column=``
etc.), times as ISO 8601 text or Parquet timestamps, all turned into int64 Unix seconds.

Expected seconds are computed by hand: 2024-07-18 is day 19,922 after 1970-01-01
(54 years with 13 leap days, then 182 + 17 days), 19,922 * 86,400 = 1,721,260,800, and
07:55:08 adds 28,508.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import load_dataset, read_interactions_csv

DAY = 1_721_260_800  # 2024-07-18T00:00:00Z
T = DAY + 28_508  # 2024-07-18T07:55:08Z


def _csv(tmp_path, text, name="log.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("written,seconds", [
    ("1721289308", T),
    ("2024-07-18", DAY),
    ("2024-07-18 07:55:08", T),
    ("2024-07-18T07:55:08", T),
    ("2024-07-18T07:55:08Z", T),
    ("2024-07-18T09:55:08+02:00", T),  # an offset is converted to UTC
    ("2024-07-18T02:55:08-05:00", T),
    ("2024-07-18 07:55:08.999", T),  # fractions are floored, not rounded
    ("1969-12-31T23:59:59.5Z", -1),  # floored below the epoch too
])
def test_each_time_form_reads_as_unix_seconds(tmp_path, written, seconds):
    path = _csv(tmp_path, f"user_id,item_id,timestamp\n1,2,{written}\n3,4,{written}\n")
    ts = read_interactions_csv(path).interactions["timestamp"]
    assert ts.dtype == np.int64
    assert ts.tolist() == [seconds, seconds]


def test_one_column_may_mix_iso_layouts_and_offsets(tmp_path):
    path = _csv(tmp_path, "user_id,item_id,timestamp\n1,2,2024-07-18\n1,3,2024-07-18 07:55:08\n"
                "2,2,2024-07-18T09:55:09+02:00\n2,3,2024-07-19T00:00:00Z\n")
    ts = read_interactions_csv(path).interactions["timestamp"].tolist()
    assert ts == [DAY, T, T + 1, DAY + 86_400]


@pytest.mark.parametrize("bad", ["07/18/2024", "18/07/2024", "18.07.2024", "yesterday",
                                 "2024-13-01"])
def test_a_time_in_no_accepted_form_names_file_column_value_and_line(tmp_path, bad):
    path = _csv(tmp_path, f"user_id,item_id,timestamp\n1,2,2024-07-18\n1,3,{bad}\n")
    with pytest.raises(DataError) as err:
        read_interactions_csv(path)
    msg = str(err.value)
    assert f"log.csv: column 'timestamp' has value '{bad}' at line 3" in msg
    assert "ISO 8601" in msg


def test_day_month_order_is_never_guessed(tmp_path):
    # 07/08/2024 parses either way; pandas' own inference would pick one silently
    path = _csv(tmp_path, "user_id,item_id,timestamp\n1,2,07/08/2024\n1,3,07/09/2024\n")
    with pytest.raises(DataError, match=r"'07/08/2024' at line 2.*day and month"):
        read_interactions_csv(path)


def test_a_number_among_dates_is_refused(tmp_path):
    path = _csv(tmp_path, f"user_id,item_id,timestamp\n1,2,2024-07-18\n1,3,{T}\n")
    with pytest.raises(DataError, match=rf"'{T}' at line 3, a number, but also dates "
                                        r"\(e.g. '2024-07-18' at line 2\)"):
        read_interactions_csv(path)


@pytest.mark.parametrize("values,message", [
    # a typo among numbers is named, not the first number (which is no date either)
    ([T, f"{T}x"], rf"'{T}x' at line 3, which is not an integer"),
    ([5, 5.5], r"value 5.5 at line 3, which is not an integer"),
])
def test_numbers_must_be_whole_seconds(tmp_path, values, message):
    path = _csv(tmp_path, "user_id,item_id,timestamp\n1,2,{}\n1,3,{}\n".format(*values))
    with pytest.raises(DataError, match=message):
        read_interactions_csv(path)


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_parquet_timestamps_read_as_unix_seconds(tmp_path, tz, unit):
    when = pd.Series(pd.to_datetime([T, DAY, T + 1], unit="s", utc=True)).astype(
        f"datetime64[{unit}, UTC]")
    if tz is None:
        when = when.dt.tz_localize(None)
    elif tz != "UTC":
        when = when.dt.tz_convert(tz)  # the same instants, shown in another zone
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 6, 5], "timestamp": when}).to_parquet(path)
    assert pd.api.types.is_datetime64_any_dtype(pd.read_parquet(path)["timestamp"].dtype)
    ts = read_interactions_csv(path).interactions["timestamp"]
    assert ts.dtype == np.int64 and ts.tolist() == [T, DAY, T + 1]


def test_parquet_iso_text_and_seconds_read_like_csv(tmp_path):
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user": ["a", "b"], "sku": ["x", "y"],
                  "ts": ["2024-07-18T09:55:08+02:00", "2024-07-18"]}).to_parquet(path)
    df = read_interactions_csv(path, user_column="user", item_column="sku",
                               time_column="ts").interactions
    assert df["timestamp"].tolist() == [T, DAY]


def test_own_column_names_are_mapped_and_other_columns_kept(tmp_path):
    path = _csv(tmp_path, "user,sku,stars,ts,device\nu425,sku-5,4,2024-07-18 07:55:08,web\n"
                "u1,sku-6,2,2024-07-18,app\n")
    df = read_interactions_csv(path, user_column="user", item_column="sku",
                               rating_column="stars", time_column="ts").interactions
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp", "device"]
    assert df["user_id"].tolist() == ["u425", "u1"]
    assert df["item_id"].tolist() == ["sku-5", "sku-6"]
    assert df["rating"].dtype == np.float32 and df["rating"].tolist() == [4.0, 2.0]
    assert df["timestamp"].tolist() == [T, DAY]
    assert df["device"].tolist() == ["web", "app"]


def test_columns_may_swap_names(tmp_path):
    path = _csv(tmp_path, "item_id,user_id\n1,2\n")
    df = read_interactions_csv(path, user_column="item_id", item_column="user_id").interactions
    assert (df["user_id"].tolist(), df["item_id"].tolist()) == ([1], [2])


def test_the_default_missing_column_error_hints_at_the_options(tmp_path):
    path = _csv(tmp_path, "user,sku,ts\nu425,sku-5,2024-07-18 07:55:08\n")
    with pytest.raises(DataError) as err:
        read_interactions_csv(path)
    msg = str(err.value)
    assert "log.csv is missing column(s) ['user_id', 'item_id']; it has ['user', 'sku', 'ts']" in msg
    assert "--user-column (user_column=) and --item-column (item_column=)" in msg


def test_an_absent_named_column_is_named_with_the_file_columns(tmp_path):
    path = _csv(tmp_path, "user,sku,ts\nu425,sku-5,2024-07-18\n")
    with pytest.raises(DataError, match=r"log.csv has no column 'time' \(given as --time-column "
                                        r"\(time_column=\)\); it has \['user', 'sku', 'ts'\]"):
        read_interactions_csv(path, user_column="user", item_column="sku", time_column="time")


def test_a_mapping_onto_an_existing_column_is_refused(tmp_path):
    path = _csv(tmp_path, "user_id,item_id,timestamp,ts\n1,2,5,2024-07-18\n")
    with pytest.raises(DataError, match=r"column 'ts' \(given as --time-column \(time_column=\)\) "
                                        r"would become 'timestamp', but the file already has"):
        read_interactions_csv(path, time_column="ts")


def test_one_column_given_twice_is_refused(tmp_path):
    path = _csv(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"column 'a' is given as --user-column \(user_column=\) "
                                        r"and --item-column \(item_column=\)"):
        read_interactions_csv(path, user_column="a", item_column="a")


def test_a_column_given_away_no_longer_stands_for_its_own_name(tmp_path):
    # user_id is used as the item column, so no user column is left
    path = _csv(tmp_path, "user_id,sku\n1,2\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['user_id'\]"):
        read_interactions_csv(path, item_column="user_id")


def test_errors_name_the_files_own_column(tmp_path):
    path = _csv(tmp_path, "user,sku,ts,stars\n1,2,2024-07-18,5\n1,3,,4\n1,4,2024-07-18,many\n")
    options = dict(user_column="user", item_column="sku", time_column="ts")
    with pytest.raises(DataError, match=r"column 'ts' has 1 missing \(NaN\) value\(s\), first at line 3"):
        read_interactions_csv(path, **options)
    path = _csv(tmp_path, "user,sku,ts,stars\n1,2,2024-07-18,5\n1,4,2024-07-18,many\n")
    with pytest.raises(DataError, match=r"column 'stars' has value 'many' at line 3"):
        read_interactions_csv(path, **options, rating_column="stars")


def test_load_dataset_passes_column_options_to_files_only(tmp_path):
    path = _csv(tmp_path, "user,sku\n1,2\n")
    data = load_dataset(path, columns={"user_column": "user", "item_column": "sku",
                                       "time_column": None})
    assert data.interactions[["user_id", "item_id"]].values.tolist() == [[1, 2]]
    with pytest.raises(ValueError, match=r"--user-column \(user_column=\) describe\(s\) the columns "
                                         r"of a CSV or Parquet file; 'synthetic' is a named data set"):
        load_dataset("synthetic", columns={"user_column": "user"})
    with pytest.raises(ValueError, match=r"unknown column option\(s\) \['user'\]"):
        load_dataset(path, columns={"user": "user"})
