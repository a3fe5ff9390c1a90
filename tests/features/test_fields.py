"""Field declarations: argument checks and type inference from a column's dtype."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.features import Categorical, MultiValued, Numeric, infer_field
from recfm.features.fields import Id, field_from_dict


@pytest.mark.parametrize(
    "column, expected",
    [
        (pd.Series(["a", "b", None]), Categorical),  # pandas 3 'str' dtype
        (pd.Series(["a", "b"], dtype=object), Categorical),
        (pd.Series(["a", "b"], dtype="category"), Categorical),
        (pd.Series([True, False]), Categorical),
        (pd.Series([1, 2, 3]), Numeric),
        (pd.Series([1.5, np.nan]), Numeric),
        (pd.Series([1, None], dtype="Int64"), Numeric),
        (pd.Series([["a"], ["b", "c"], None]), MultiValued),
        (pd.Series([None, ("a",), ("b", "c")]), MultiValued),
        (pd.Series([np.array(["a"]), np.array(["b", "c"])]), MultiValued),
    ],
)
def test_infer_field_kind(column, expected):
    field = infer_field("col", column)
    assert type(field) is expected
    assert field.name == "col"


def test_inferred_numeric_is_standard_scaled_and_unbinned():
    field = infer_field("x", pd.Series([1.0, 2.0]))
    assert field == Numeric("x", bins=None, scale="standard", missing="zero")


def test_infer_all_missing_object_column_raises():
    with pytest.raises(DataError, match="users column 'x': cannot infer its kind, every value is missing"):
        infer_field("x", pd.Series([None, None], dtype=object), "users")


def test_infer_datetime_raises():
    col = pd.Series(pd.to_datetime(["2020-01-01", "2021-01-01"]))
    with pytest.raises(DataError, match="column 'when' has dtype datetime64.*declare it explicitly"):
        infer_field("when", col, "interactions")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Categorical("c", unknown="drop"),
         r"Categorical\('c'\): unknown must be one of 'bucket', 'error', 'ignore'; got 'drop'"),
        (lambda: Categorical("c", missing="zero"),
         r"missing must be one of 'bucket', 'error', 'ignore'; got 'zero'"),
        (lambda: Categorical("c", min_count=0), r"min_count must be a positive integer; got 0"),
        (lambda: Categorical("c", min_count=2, unknown="error"),
         r"min_count=2 needs unknown='bucket' or 'ignore'"),
        (lambda: MultiValued("g", weights="tfidf"),
         r"MultiValued\('g'\): weights must be one of 'uniform', 'normalized'; got 'tfidf'"),
        (lambda: MultiValued("g", sep=""), r"sep must be a non-empty string"),
        (lambda: Numeric("x", scale="log"),
         r"Numeric\('x'\): scale must be one of 'standard', 'minmax', None; got 'log'"),
        (lambda: Numeric("x", missing="bucket"), r"missing must be one of 'zero', 'error'; got 'bucket'"),
        (lambda: Numeric("x", bins=0), r"bins must be >= 1; got 0"),
        (lambda: Numeric("x", bins=[3, 2]), r"bins cut points must be strictly increasing"),
        (lambda: Numeric("x", bins=[1, np.inf]), r"non-empty sequence of finite cut points"),
        (lambda: Numeric("x", bins="10"), r"bins must be None, an int or a sequence of cut points"),
        (lambda: Categorical(""), r"Categorical name must be a non-empty column name"),
        (lambda: Categorical(3), r"Categorical name must be a non-empty column name \(str\); got 3"),
    ],
)
def test_bad_field_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_field_dict_round_trip():
    for field in [
        Categorical("c", min_count=3, unknown="ignore", missing="error"),
        MultiValued("g", weights="normalized", sep=","),
        Numeric("age", bins=[18, 25.5]),
        Numeric("n", bins=4, scale=None, missing="error"),
        Id("user_id"),
    ]:
        assert field_from_dict(field.to_dict()) == field


def test_numeric_edges_are_normalised_to_float_tuple():
    assert Numeric("age", bins=np.array([18, 25])).bins == (18.0, 25.0)
    assert Numeric("age", bins=[18, 25]).binned
    assert not Numeric("age").binned
