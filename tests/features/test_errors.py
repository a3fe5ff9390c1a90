"""Every bad input the builder can meet raises before work, naming the culprit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError, NotFittedError
from recfm.features import Categorical, FeatureBuilder, MultiValued
from recfm.features.fields import Id


@pytest.fixture
def fitted(interactions, users, items):
    b = FeatureBuilder(
        user_features=["occupation"],
        item_features=["genres"],
        context_features=["platform"],
    )
    return b.fit(interactions, users, items)


def test_not_fitted():
    b = FeatureBuilder()
    for call in (
        lambda: b.transform(pd.DataFrame({"user_id": [1], "item_id": [1]})),
        lambda: b.user_rows([1]),
        lambda: b.item_rows([1]),
        lambda: b.context_rows(pd.DataFrame()),
        b.feature_names,
        b.get_state,
    ):
        with pytest.raises(NotFittedError, match="This FeatureBuilder instance is not fitted yet"):
            call()


@pytest.mark.parametrize(
    "frame, message",
    [
        ([1, 2], r"interactions must be a pandas DataFrame; got list"),
        (pd.DataFrame({"user_id": [1]}),
         r"interactions is missing column\(s\) \['item_id'\]; it has \['user_id'\]"),
        (pd.DataFrame({"user_id": [], "item_id": []}), r"interactions is empty"),
        (pd.DataFrame({"user_id": [1, np.nan], "item_id": [1, 2]}),
         r"interactions column 'user_id' has 1 missing \(NaN\) value\(s\), first at row 1"),
        (pd.DataFrame({"user_id": [1, 2], "item_id": [1, None]}),
         r"interactions column 'item_id' has 1 missing"),
        (pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [np.nan]}),
         r"interactions column 'rating' has 1 missing"),
    ],
)
def test_bad_interactions(frame, message):
    with pytest.raises(DataError, match=message):
        FeatureBuilder().fit(frame)


def test_bad_interactions_at_transform(fitted, interactions):
    with pytest.raises(DataError, match=r"interactions column 'user_id' has 1 missing"):
        fitted.transform(interactions.assign(user_id=[1, 2, None, 3, 3, 3]))
    with pytest.raises(DataError,
                       match=r"interactions frame has no column 'platform' \(declared in "
                             r"context_features\); available columns: \['user_id', 'item_id'"):
        fitted.transform(interactions.drop(columns="platform"))


def test_value_column_missing_or_nan(interactions):
    with pytest.raises(DataError, match=r"interactions is missing column\(s\) \['weight'\]"):
        FeatureBuilder(value_column="weight").fit(interactions)
    with pytest.raises(DataError, match=r"interactions column 'weight' has 1 missing"):
        FeatureBuilder(value_column="weight").fit(interactions.assign(weight=[1, 2, 3, np.nan, 5, 6]))


def test_declared_column_missing_from_frames(interactions, users, items):
    with pytest.raises(
        DataError,
        match=r"users frame has no column 'zip' \(declared in user_features\); available columns: "
        r"\['user_id', 'age', 'gender', 'occupation'\]",
    ):
        FeatureBuilder(user_features=["occupation", "zip"]).fit(interactions, users=users)
    with pytest.raises(DataError, match=r"items frame has no column 'tags' \(declared in item_features\)"):
        FeatureBuilder(item_features=[MultiValued("tags")]).fit(interactions, items=items)
    with pytest.raises(DataError,
                       match=r"interactions frame has no column 'device' \(declared in context_features\)"):
        FeatureBuilder(context_features=["device"]).fit(interactions)


def test_declared_features_without_their_frame(interactions):
    with pytest.raises(DataError, match=r"user_features \['age'\] are declared but no users frame was given"):
        FeatureBuilder(user_features=["age"]).fit(interactions)
    with pytest.raises(DataError,
                       match=r"item_features \['genres'\] are declared but no items frame was given"):
        FeatureBuilder(item_features=["genres"]).fit(interactions)


def test_bad_users_and_items_frames(interactions, users, items, fitted):
    b = FeatureBuilder(user_features=["occupation"], item_features=["genres"])
    with pytest.raises(DataError,
                       match=r"users column 'user_id' has duplicated id 2 \(1 duplicate row\(s\)\); each "
                             r"user must appear once"):
        b.fit(interactions, users=pd.concat([users, users.iloc[[1]]]), items=items)
    with pytest.raises(DataError, match=r"items column 'item_id' has duplicated id 30"):
        b.fit(interactions, users=users, items=pd.concat([items, items.iloc[[2]]]))
    with pytest.raises(DataError,
                       match=r"users column 'user_id' has 1 missing \(NaN\) id\(s\), first at row 3"):
        b.fit(interactions, users=users.assign(user_id=[1, 2, 3, None]), items=items)
    with pytest.raises(DataError, match=r"users frame has no id column 'user_id'; available columns"):
        b.fit(interactions, users=users.rename(columns={"user_id": "uid"}), items=items)
    with pytest.raises(DataError, match=r"users must be a pandas DataFrame; got dict"):
        b.fit(interactions, users={"user_id": [1]}, items=items)
    # The same checks guard the recommend-time helpers.
    with pytest.raises(DataError, match=r"users column 'user_id' has duplicated id 1"):
        fitted.user_rows([1], users=pd.DataFrame({"user_id": [1, 1], "occupation": ["a", "b"]}))
    with pytest.raises(DataError, match=r"items frame has no column 'genres' \(declared in item_features\)"):
        fitted.item_rows([10], items=pd.DataFrame({"item_id": [10]}))


def test_id_kind_mismatch(interactions, users):
    with pytest.raises(DataError,
                       match=r"users column 'user_id' has text ids \(dtype str\) but the "
                             r"interactions ids are integer \(dtype int64\)"):
        FeatureBuilder(user_features=["occupation"]).fit(
            interactions, users=users.assign(user_id=users["user_id"].astype(str))
        )


def test_unknown_ids_are_named(fitted):
    with pytest.raises(DataError,
                       match=r"user_ids: user_id 42 was not seen in fit and has no attributes \(1 such "
                             r"id\(s\)\); pass its row in users="):
        fitted.user_rows([1, 42])
    with pytest.raises(DataError, match=r"item_ids: item_id 99 was not seen in fit"):
        fitted.item_rows([99])
    with pytest.raises(DataError, match=r"user_ids has a missing \(NaN\) id at position 1"):
        fitted.user_rows([1, None])


def test_unknown_and_missing_values_with_error_policy(interactions):
    b = FeatureBuilder(context_features=[Categorical("platform", unknown="error", missing="error")])
    b.fit(interactions)
    with pytest.raises(DataError,
                       match=r"context column 'platform' has unknown value 'tv' \(field declared "
                             r"unknown='error'\), first at row 1"):
        b.context_rows(pd.DataFrame({"platform": ["web", "tv"]}))
    with pytest.raises(DataError,
                       match=r"interactions column 'platform' has a missing value \(field declared "
                             r"missing='error'\), first at row 0"):
        b.transform(interactions.assign(platform=[None, "web", "web", "ios", "ios", "web"]))
    with pytest.raises(DataError, match=r"context must be a pandas DataFrame; got list"):
        b.context_rows(["web"])
    items = pd.DataFrame({"item_id": [10, 20, 30], "g": [["a"], ["b"], ["a"]]})
    b = FeatureBuilder(item_features=[MultiValued("g", unknown="error")]).fit(interactions, items=items)
    with pytest.raises(DataError,
                       match=r"items column 'g' has unknown value 'zz' \(field declared unknown='error'\), "
                             r"first at item_id 5"):
        b.item_rows([5], items=pd.DataFrame({"item_id": [5], "g": [["a", "zz"]]}))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(use_user_ids="yes"), r"use_user_ids must be True or False; got 'yes'"),
        (dict(normalize=1), r"normalize must be True or False; got 1"),
        (dict(value_column=3), r"value_column must be None or a column name; got 3"),
        (dict(user_features=3), r"user_features must be a column name, a field .* got 3"),
        (dict(item_features=["genres", 3]), r"item_features entries must be column names or fields .* got 3"),
        (dict(user_features=[Id("user_id")]),
         r"user_features: Id fields are added by use_user_ids/use_item_ids"),
        (dict(context_features=["user_id"]), r"context_features: 'user_id' is the id column"),
        (dict(user_features=["age", "age"]),
         r"field 'age' is declared twice in user_features; each column may feed one field"),
        (dict(user_features=["age"], context_features=["age"]),
         r"field 'age' is declared in user_features and context_features"),
    ],
)
def test_bad_parameters_are_named(params, message, interactions, users, items):
    b = FeatureBuilder(**params)  # __init__ only stores; fit validates
    with pytest.raises(ValueError, match=message):
        b.fit(interactions, users, items)


def test_bad_state():
    with pytest.raises(ValueError, match="not a recfm FeatureBuilder state"):
        FeatureBuilder.from_state({"format": "something else"})
