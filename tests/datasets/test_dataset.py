import dataclasses

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import Dataset


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
