import dataclasses

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import (
    SAMPLE_DIR,
    SAMPLE_PARAMS,
    DataNotFoundError,
    files,
    load_dataset,
    load_sample,
    make_synthetic,
    read_interactions_csv,
)


def _write(tmp_path, text, name="events.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_csv_gets_default_rating_and_timestamp(tmp_path):
    ds = load_dataset(_write(tmp_path, "user_id,item_id,device\n1,2,tv\n1,3,tv\n"))
    x = ds.interactions
    assert ds.name == "events"
    assert list(x.columns) == ["user_id", "item_id", "rating", "timestamp", "device"]
    assert x["rating"].dtype == np.float32 and (x["rating"] == 1).all()
    assert x["timestamp"].dtype == np.int64 and (x["timestamp"] == 0).all()


def test_full_csv_via_str_path(tmp_path):
    path = _write(tmp_path, "timestamp,rating,item_id,user_id\n5,4.5,2,1\n")
    x = load_dataset(str(path)).interactions
    assert x.iloc[0].tolist() == [1, 2, 4.5, 5]


def test_missing_column_names_file_and_column(tmp_path):
    path = _write(tmp_path, "user_id,movie\n1,2\n")
    with pytest.raises(DataError) as err:
        read_interactions_csv(path)
    assert str(path) in str(err.value) and "item_id" in str(err.value)


@pytest.mark.parametrize("column", ["user_id", "item_id", "rating"])
def test_nan_names_file_and_column(tmp_path, column):
    row = {"user_id": "1", "item_id": "2", "rating": "3"}
    row[column] = ""
    path = _write(tmp_path, "user_id,item_id,rating\n1,1,1\n" + ",".join(row.values()) + "\n")
    with pytest.raises(DataError, match=rf"{path.name}.* column '{column}' has 1 missing \(NaN\)"):
        read_interactions_csv(path)


def test_non_numeric_rating_and_timestamp(tmp_path):
    path = _write(tmp_path, "user_id,item_id,rating\n1,1,4\n1,2,good\n")
    with pytest.raises(DataError, match=r"column 'rating' has value 'good' at line 3"):
        read_interactions_csv(path)
    path = _write(tmp_path, "user_id,item_id,timestamp\n1,1,5\n1,2,soon\n")
    with pytest.raises(DataError, match=r"column 'timestamp' has value 'soon' at line 3.*Unix seconds"):
        read_interactions_csv(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="empty file"):
        read_interactions_csv(_write(tmp_path, ""))
    with pytest.raises(DataError, match="empty"):
        read_interactions_csv(_write(tmp_path, "user_id,item_id\n", "header_only.csv"))
    with pytest.raises(DataNotFoundError, match="nope.csv: file not found"):
        load_dataset(tmp_path / "nope.csv")


def test_unknown_name_lists_choices():
    with pytest.raises(DataError) as err:
        load_dataset("movielens")
    msg = str(err.value)
    for name in ("synthetic", "sample", "ml-100k", "ml-1m", "ml-latest-small", ".csv"):
        assert name in msg


def test_synthetic_by_name():
    ds = load_dataset("synthetic")
    assert ds.name == "synthetic" and len(ds.interactions) == 60_000


def test_movielens_by_name(movielens_files):
    home = movielens_files("ml-1m")
    with pytest.warns(UserWarning):  # tiny files differ from the GroupLens originals
        ds = load_dataset("ml-1m", data_home=home, download=False)
    assert len(ds.interactions) == 3


def test_sample_files_match_the_generator():
    assert all((SAMPLE_DIR / f"{n}.csv").is_file() for n in ("interactions", "users", "items")), \
        "run python datasets/make_sample.py"
    assert sum(p.stat().st_size for p in SAMPLE_DIR.glob("*.csv")) < 1_000_000
    from_csv = load_sample()
    regenerated = dataclasses.replace(make_synthetic(**SAMPLE_PARAMS), name="sample")
    assert from_csv.context_columns == regenerated.context_columns == ("hour", "platform")
    for f in ("interactions", "users", "items"):
        pd.testing.assert_frame_equal(getattr(from_csv, f), getattr(regenerated, f))


def test_sample_is_regenerated_without_the_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(files, "SAMPLE_DIR", tmp_path / "absent")
    ds = load_sample()
    assert ds.name == "sample" and len(ds.interactions) == SAMPLE_PARAMS["n_interactions"]
    with pytest.raises(DataNotFoundError, match="interactions.csv"):
        load_sample(tmp_path)


def test_write_sample_round_trip(tmp_path):
    written = files.write_sample(tmp_path)
    assert [p.name for p in written] == ["interactions.csv", "users.csv", "items.csv"]
    assert load_sample(tmp_path).items["genres"].map(len).min() >= 1
