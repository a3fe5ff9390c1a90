import dataclasses

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import Dataset
from recfm.datasets.dataset import check_interactions, check_min_rating, rated_at_least


def _frame():
    return pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 6, 5], "rating": np.float32([4, 3, 5]),
                         "timestamp": [10, 20, 30], "hour": [1, 2, 3]})


def test_summary_counts_and_short_repr():
    ds = Dataset("toy", _frame(), users=pd.DataFrame({"user_id": [1, 2], "age": [20, 30]}),
                 context_columns=["hour"])
    assert ds.context_columns == ("hour",)
    assert (ds.n_interactions, ds.n_users, ds.n_items) == (3, 2, 2)
    s = ds.summary()
    assert s.startswith("toy: 3 interactions; 2 users; 2 items; density 75.00%")
    assert "user attributes age" in s and "context hour" in s
    assert repr(ds) == f"Dataset({s})"


def test_frozen():
    ds = Dataset("toy", _frame())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"


@pytest.mark.parametrize("drop", ["user_id", "item_id", "rating", "timestamp"])
def test_missing_interaction_column_is_named(drop):
    with pytest.raises(DataError, match=drop):
        Dataset("toy", _frame().drop(columns=drop))


def test_missing_context_column_is_named():
    with pytest.raises(DataError, match="platform"):
        Dataset("toy", _frame(), context_columns=("hour", "platform"))


def test_side_frames_need_their_id_column():
    with pytest.raises(DataError, match="item_id"):
        Dataset("toy", _frame(), items=pd.DataFrame({"title": ["a"]}))


def test_check_interactions_refuses_a_missing_id_or_rating_naming_its_row():
    check_interactions(_frame(), "log")
    check_interactions(_frame().drop(columns="rating"), "log")  # no ratings: nothing to check
    with pytest.raises(DataError, match=r"^log column 'rating' has 1 missing \(NaN\) value\(s\), "
                                        r"first at row 1$"):
        check_interactions(_frame().assign(rating=[4.0, np.nan, 5.0]), "log")
    with pytest.raises(DataError, match="log column 'weight' has 1 missing"):
        check_interactions(_frame().assign(weight=[np.nan, 1.0, 1.0]), "log", value_column="weight")
    with pytest.raises(DataError, match=r"log is missing column\(s\) \['weight'\]"):
        check_interactions(_frame(), "log", value_column="weight")


@pytest.mark.parametrize(("ratings", "shown"), [
    (["5", "4", "1"], "'5' at row 0"),
    (pd.Series([5.0, 4.0, "good"], dtype=object), "'good' at row 2"),
    (pd.Series([5, "4", 1], dtype=object), "'4' at row 1"),
    (pd.to_datetime(["2020-01-01"] * 3), "Timestamp('2020-01-01 00:00:00') at row 0"),
])
def test_rated_at_least_names_the_column_and_a_value_that_is_no_number(ratings, shown):
    frame = _frame().assign(rating=ratings)
    with pytest.raises(DataError) as info:
        rated_at_least(frame, 4, "train")
    assert str(info.value) == ("train column 'rating' must hold numbers to compare with "
                               f"min_rating=4; it holds {shown}")


def test_rated_at_least_takes_numbers_of_any_dtype():
    for ratings in (np.float32([4, 3, 5]), [4, 3, 5], pd.Series([4, 3.0, 5], dtype=object)):
        kept = rated_at_least(_frame().assign(rating=ratings), 4, "train")
        assert kept["item_id"].tolist() == [5, 5]
    for bad in ("4", True, float("nan"), [4]):
        with pytest.raises(ValueError, match=f"min_rating must be None or a number; got {bad!r}"
                           .replace("[", r"\[").replace("]", r"\]")):
            check_min_rating(bad)
    check_min_rating(None)
    check_min_rating(np.float32(3.5))
