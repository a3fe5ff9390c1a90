"""A log already in memory (a notebook's DataFrame) is read as the same log in a file is:
``frame_dataset``, and ``load_dataset`` / ``run_experiment`` / ``tune`` given a frame."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from recfm._utils import DataError
from recfm.datasets import frame_dataset, load_dataset, load_sample, read_interactions_csv
from recfm.evaluation import run_experiment


def _log() -> pd.DataFrame:
    return pd.DataFrame({"user": ["u1", "u1", "u2", "u3"], "sku": [5, 7, 5, 9],
                         "stars": [4.0, 2.0, 5.0, 3.0],
                         "when": ["2024-07-18", "2024-07-19T10:00:00Z", "2024-07-18", "2024-07-20"]})


def test_a_frame_reads_as_the_same_log_in_a_file(tmp_path):
    frame = _log()
    before = frame.copy()
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    options = dict(user_column="user", item_column="sku", rating_column="stars", time_column="when")
    from_file = read_interactions_csv(path, **options)
    from_frame = frame_dataset(frame, **options)
    pdt.assert_frame_equal(from_frame.interactions, from_file.interactions, check_like=False)
    assert from_frame.name == "frame" and from_frame.timed
    pdt.assert_frame_equal(frame, before)  # the caller's frame is left as it was
    assert load_dataset(frame, columns=options).interactions.equals(from_frame.interactions)


def test_a_frame_without_ratings_or_times_gets_the_file_defaults():
    data = frame_dataset(pd.DataFrame({"user_id": [1.0, 2.0], "item_id": [3, 4]}), name="mine")
    inter = data.interactions
    assert list(inter.columns[:4]) == ["user_id", "item_id", "rating", "timestamp"]
    assert inter["user_id"].dtype == np.int64  # whole floats are the integer ids
    assert (inter["rating"] == 1.0).all() and not data.timed
    with pytest.raises(DataError, match="interactions frame 'frame' has no time column"):
        run_experiment(pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4]}), models="pop",
                       split="temporal")


@pytest.mark.parametrize("frame,message", [
    (pd.DataFrame({"user_id": [1, None], "item_id": [3, 4]}),
     r"interactions frame 'frame' column 'user_id' has 1 missing \(NaN\) value\(s\), first at row 1"),
    (pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4], "rating": [4, "x"]}),
     r"interactions frame 'frame': column 'rating' has value 'x' at row 1, which is not a number"),
    (pd.DataFrame({"user": [1], "item_id": [3]}), r"user_id"),
    (pd.DataFrame({"user_id": [], "item_id": []}), r"interactions frame 'frame' is empty"),
])
def test_bad_frames_are_refused_naming_the_column_and_row(frame, message):
    with pytest.raises(DataError, match=message):
        frame_dataset(frame)


def test_unknown_options_and_non_frames_are_refused():
    with pytest.raises(TypeError, match="unexpected keyword argument 'user_col'"):
        frame_dataset(_log(), user_col="user")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"unknown column option\(s\) \['user_col'\]"):
        load_dataset(_log(), columns={"user_col": "user"})
    with pytest.raises(TypeError, match="must be a pandas DataFrame; got list"):
        frame_dataset([[1, 2]])  # type: ignore[arg-type]


def test_run_experiment_on_a_frame_equals_the_same_log_from_a_file(tmp_path):
    log = load_sample().interactions[["user_id", "item_id", "rating", "timestamp"]]
    path = tmp_path / "sample_log.csv"
    log.to_csv(path, index=False)
    on_frame = run_experiment(log, models="pop", seed=3)
    on_file = run_experiment(str(path), models="pop", seed=3)
    assert on_frame.settings["dataset"] == "frame"
    pdt.assert_frame_equal(on_frame.test.reset_index(drop=True), on_file.test.reset_index(drop=True))
    metrics = [c for c in on_file.result.table.columns if "@" in c]
    pdt.assert_frame_equal(on_frame.result.table[metrics], on_file.result.table[metrics])
