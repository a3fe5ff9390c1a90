"""Values no column type can hold are refused naming file, column and line; ids read alike."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import read_attributes_csv, read_interactions_csv
from recfm.features import FeatureBuilder
from recfm.split import temporal_split


@pytest.mark.parametrize("value", ["inf", "-inf", "1e30", "9.3e18"])
def test_timestamps_beyond_int64_are_refused_with_file_column_and_line(tmp_path, value):
    path = tmp_path / "log.csv"
    path.write_text(f"user_id,item_id,timestamp\n1,2,100\n1,3,{value}\n2,2,5\n")
    with pytest.raises(DataError, match=r"log.csv: column 'timestamp' has value .* at line 3"):
        read_interactions_csv(path)


def test_temporal_split_refuses_infinite_timestamps_in_a_frame():
    df = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 2],
                       "timestamp": [1.0, np.inf, 3.0, 4.0]})
    with pytest.raises(DataError, match="column 'timestamp' has value inf at row 1"):
        temporal_split(df)


def test_integral_float_ids_read_as_the_integers_of_the_other_files(tmp_path):
    """A Parquet column of whole floats holds integer ids; a CSV's ``1.0`` is text."""
    (tmp_path / "log.csv").write_text("user_id,item_id\n1,1\n1,2\n2,1\n")
    pd.DataFrame({"user_id": [1.0, 2.0], "age": [20, 30]}).to_parquet(tmp_path / "users.parquet")
    log = read_interactions_csv(tmp_path / "log.csv").interactions
    users = read_attributes_csv(tmp_path / "users.parquet", "user_id")
    assert users["user_id"].dtype == np.int64
    builder = FeatureBuilder(user_features=["age"]).fit(log, users=users)
    assert builder.user_index_.dtype == np.int64 and list(builder.user_index_) == [1, 2]


def test_id_kinds_that_differ_across_files_name_both_files(tmp_path):
    (tmp_path / "log.csv").write_text("user_id,item_id\n1,1\n1,2\n2,1\n")
    (tmp_path / "users.csv").write_text("user_id,age\n1.5,20\n2.0,30\n")
    log = read_interactions_csv(tmp_path / "log.csv").interactions
    users = read_attributes_csv(tmp_path / "users.csv", "user_id")
    assert users["user_id"].tolist() == ["1.5", "2.0"]  # as written
    with pytest.raises(DataError, match=r"users.csv column 'user_id' has text ids .* but the "
                                        r".*log.csv ids are integer"):
        FeatureBuilder(user_features=["age"]).fit(log, users=users)


@pytest.mark.parametrize("cells,kind", [
    (["['a', 'b']", "['c']", "[]", "['a']"], "Python/JSON lists"),
    ([";".join(t) for t in (("red", "big"), ("red",), ("blue", "big"), ("blue", "red"))] * 5,
     "';'-separated lists"),
])
def test_lists_written_otherwise_are_warned_about(tmp_path, cells, kind):
    path = tmp_path / "items.csv"
    pd.DataFrame({"item_id": range(len(cells)), "tags": cells}).to_csv(path, index=False)
    with pytest.warns(UserWarning, match=rf"column 'tags' looks like {kind} .*rewrite them "
                                         r"with '\|'"):
        read_attributes_csv(path, "item_id")


def test_free_text_with_semicolons_and_pipe_lists_are_not_warned_about(tmp_path):
    path = tmp_path / "items.csv"
    pd.DataFrame({"item_id": [1, 2, 3, 4],
                  "note": ["Great; fast", "Slow; broken", "Nice one; cheap", "Fine; ok"],
                  "tags": ["a|b", "c", "a", "b|c"]}).to_csv(path, index=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = read_attributes_csv(path, "item_id")
    assert frame["tags"].tolist() == [["a", "b"], ["c"], ["a"], ["b", "c"]]
