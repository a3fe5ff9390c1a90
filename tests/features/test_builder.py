"""FeatureBuilder: layout, round trips, encodings, cold start, context and growth."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.features import Categorical, FeatureBuilder, MultiValued, Numeric

from ._helpers import row_dict


def full_builder(**kw) -> FeatureBuilder:
    params = dict(
        user_features=["gender", "occupation", Numeric("age", bins=[25, 35])],
        item_features=["genres", "year"],
        context_features=[Categorical("hour"), "platform"],
    )
    params.update(kw)
    return FeatureBuilder(**params)


# -- layout and names ------------------------------------------------------------------------
def test_feature_names_cover_every_column(interactions, users, items):
    b = full_builder().fit(interactions, users, items)
    assert b.feature_names() == [
        "user_id=1", "user_id=2", "user_id=3", "user_id=4",
        "gender=F", "gender=M", "gender=<unknown>", "gender=<missing>",
        "occupation=artist", "occupation=doctor", "occupation=writer",
        "occupation=<unknown>", "occupation=<missing>",
        "age=(-inf,25)", "age=[25,35)", "age=[35,inf)",
        "hour=1", "hour=2", "hour=3", "hour=4", "hour=5", "hour=6",
        "hour=<unknown>", "hour=<missing>",
        "platform=android", "platform=ios", "platform=web",
        "platform=<unknown>", "platform=<missing>",
        "item_id=10", "item_id=20", "item_id=30", "item_id=40",
        "genres=Comedy", "genres=Drama", "genres=Horror",
        "genres=<unknown>", "genres=<missing>",
        "year",
    ]  # fmt: skip
    space = b.space_
    assert space.n_features == b.n_features_ == 39
    assert len(space.field_of_column) == space.n_features
    assert [f.name for f in space.fields] == [
        "user_id", "gender", "occupation", "age", "hour", "platform", "item_id", "genres", "year"
    ]  # fmt: skip
    assert [(f.side, f.kind) for f in space.fields] == [
        ("user", "id"), ("user", "categorical"), ("user", "categorical"), ("user", "binned"),
        ("context", "categorical"), ("context", "categorical"),
        ("item", "id"), ("item", "multi_valued"), ("item", "numeric"),
    ]  # fmt: skip
    # Each field's columns at the initial fit are its offsets range.
    for k, f in enumerate(space.fields):
        start, stop = space.offsets[f.name]
        assert np.all(space.field_of_column[start:stop] == k)
        assert list(space.columns_of(f.name)) == list(range(start, stop))
    assert space.vocabulary("occupation") == {"artist": 8, "doctor": 9, "writer": 10}
    assert space.column("genres=Drama") == 34
    assert list(space.item_column_mask).index(True) == 29
    assert b.user_index_.tolist() == [1, 2, 3, 4]
    assert b.item_index_.tolist() == [10, 20, 30, 40]


def test_layout_does_not_depend_on_row_order(interactions, users, items):
    a = full_builder().fit(interactions, users, items)
    shuffled = interactions.sample(frac=1.0, random_state=3)
    b = full_builder().fit(shuffled, users.iloc[::-1], items.iloc[::-1])
    assert a.feature_names() == b.feature_names()
    assert a.user_index_.equals(b.user_index_)


def test_ids_only_builder_is_one_hot(interactions):
    d = FeatureBuilder().fit_transform(interactions)
    assert d.n_features == 3 + 3
    assert (d.user_features != sp.eye(3, 6, format="csr")).nnz == 0
    assert (d.item_features != sp.eye(3, 6, k=3, format="csr")).nnz == 0
    assert d.context is None
    assert d.space.feature_names() == [
        "user_id=1", "user_id=2", "user_id=3", "item_id=10", "item_id=20", "item_id=30"
    ]


# -- round trip: every row checked against the frames by hand -------------------------------
def test_transform_rows_match_frames(interactions, users, items):
    b = full_builder()
    d = b.fit_transform(interactions, users, items)
    names = b.feature_names()
    for dtype_name, m in [("user_features", d.user_features), ("item_features", d.item_features)]:
        assert m.dtype == np.float32 and m.has_sorted_indices, dtype_name

    age_bucket = {20: "(-inf,25)", 30: "[25,35)", 40: "[35,inf)", 60: "[35,inf)"}
    for r, u in enumerate(users.itertuples()):
        assert d.user_ids[r] == u.user_id
        assert row_dict(d.user_features, r, names) == {
            f"user_id={u.user_id}": 1.0,
            f"gender={u.gender}": 1.0,
            f"occupation={u.occupation}": 1.0,
            f"age={age_bucket[u.age]}": 1.0,
        }

    years = items["year"].astype("float64")
    mean, std = years.mean(), years.std(ddof=0)
    for r, it in enumerate(items.itertuples()):
        expected = {f"item_id={it.item_id}": 1.0}
        expected.update({f"genres={g}": 1.0 for g in it.genres})
        if not pd.isna(it.year):
            expected["year"] = pytest.approx((it.year - mean) / std, rel=1e-6)
        assert row_dict(d.item_features, r, names) == expected

    for s, x in enumerate(interactions.itertuples()):
        assert d.user_ids[d.sample_users[s]] == x.user_id
        assert d.item_ids[d.sample_items[s]] == x.item_id
        assert d.sample_values[s] == x.rating
        assert row_dict(d.context, s, names) == {f"hour={x.hour}": 1.0, f"platform={x.platform}": 1.0}

    # Binary interactions, one entry per distinct pair.
    expected = np.zeros((4, 4), dtype=np.float32)
    for x in interactions.itertuples():
        expected[b.user_index_.get_loc(x.user_id), b.item_index_.get_loc(x.item_id)] = 1
    assert d.interactions.has_sorted_indices and d.interactions.nnz == 5
    np.testing.assert_array_equal(d.interactions.toarray(), expected)
    assert d.sample_users.dtype == np.int32 and d.sample_items.dtype == np.int32
    assert d.extra == {"n_fitted_users": 4, "n_fitted_items": 4}


def test_catalogue_rows_without_interactions(interactions, users, items):
    d = full_builder().fit_transform(interactions, users, items)
    assert d.n_users == 4 and d.n_items == 4
    assert d.interactions.getrow(3).nnz == 0  # user 4 only in the users frame
    assert d.interactions.getcol(3).nnz == 0  # item 40 only in the items frame
    assert d.user_features.getrow(3).nnz == 4


def test_sample_values_and_weights(interactions):
    no_rating = interactions.drop(columns="rating")
    d = FeatureBuilder().fit_transform(no_rating)
    np.testing.assert_array_equal(d.sample_values, np.ones(6, dtype=np.float32))

    weighted = interactions.assign(w=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    d = FeatureBuilder(value_column="w").fit_transform(weighted)
    np.testing.assert_array_equal(d.sample_values, weighted["w"].to_numpy(np.float32))
    # The duplicated pair (3, 20) holds the sum of its weights.
    assert d.interactions[2, 1] == 5.0 + 6.0
    assert d.interactions[0, 0] == 1.0


# -- encodings ---------------------------------------------------------------------------
def test_multi_valued_uniform_and_normalized_weights():
    items = pd.DataFrame(
        {"item_id": [1, 2, 3, 4], "g": [["a", "b", "c"], ["a"], ["b", "b"], []]}
    )
    inter = pd.DataFrame({"user_id": [0], "item_id": [1]})
    for weights, row0, row2 in [
        ("uniform", {"g=a": 1.0, "g=b": 1.0, "g=c": 1.0}, {"g=b": 2.0}),
        ("normalized", {"g=a": 1 / 3, "g=b": 1 / 3, "g=c": 1 / 3}, {"g=b": 1.0}),
    ]:
        b = FeatureBuilder(item_features=[MultiValued("g", weights=weights)], use_item_ids=False)
        X = b.fit_transform(inter, items=items).item_features
        names = b.feature_names()
        assert row_dict(X, 0, names) == pytest.approx(row0)
        assert row_dict(X, 1, names) == {"g=a": 1.0}
        assert row_dict(X, 2, names) == pytest.approx(row2)  # a value listed twice counts twice
        assert row_dict(X, 3, names) == {}  # empty list: no values, not missing


def test_multi_valued_string_cells_are_split():
    items = pd.DataFrame({"item_id": [1, 2, 3], "g": ["Comedy|Drama", "Drama", None]})
    b = FeatureBuilder(item_features=[MultiValued("g")], use_item_ids=False)
    X = b.fit_transform(pd.DataFrame({"user_id": [0], "item_id": [1]}), items=items).item_features
    names = b.feature_names()
    assert row_dict(X, 0, names) == {"g=Comedy": 1.0, "g=Drama": 1.0}
    assert row_dict(X, 2, names) == {"g=<missing>": 1.0}
    b = FeatureBuilder(item_features=[MultiValued("g", sep=",")], use_item_ids=False)
    b.fit(pd.DataFrame({"user_id": [0], "item_id": [1]}), items=items.assign(g=["x,y", "y", ""]))
    assert b.space_.vocabulary("g") == {"x": 1, "y": 2}  # column 0 is user_id=0


def test_numeric_scaling():
    users = pd.DataFrame({"user_id": [1, 2, 3, 4], "x": [0.0, 2.0, 4.0, np.nan]})
    inter = pd.DataFrame({"user_id": [1], "item_id": [1]})
    for scale, expected in [
        ("standard", [-1.2247449, 0.0, 1.2247449]),
        ("minmax", [0.0, 0.5, 1.0]),
        (None, [0.0, 2.0, 4.0]),
    ]:
        b = FeatureBuilder(user_features=[Numeric("x", scale=scale)], use_user_ids=False)
        X = b.fit_transform(inter, users=users).user_features
        assert b.feature_names() == ["x", "item_id=1"]
        np.testing.assert_allclose(X.toarray()[:3, 0], expected, rtol=1e-6)
        assert X.getrow(3).nnz == 0  # missing='zero': no entry at all
        # Zeros are not stored, so nnz counts real entries only.
        assert X.nnz == sum(v != 0 for v in expected)


def test_numeric_bins_from_quantiles_and_edges():
    users = pd.DataFrame({"user_id": range(8), "age": [1, 18, 18, 25, 25, 35, 45, 56]})
    inter = pd.DataFrame({"user_id": [0], "item_id": [0]})
    b = FeatureBuilder(user_features=[Numeric("age", bins=[18, 25, 35])], use_user_ids=False)
    X = b.fit_transform(inter, users=users).user_features
    names = b.feature_names()
    assert names[:4] == ["age=(-inf,18)", "age=[18,25)", "age=[25,35)", "age=[35,inf)"]
    assigned = [next(iter(row_dict(X, r, names))) for r in range(8)]
    assert assigned == [
        "age=(-inf,18)", "age=[18,25)", "age=[18,25)", "age=[25,35)", "age=[25,35)",
        "age=[35,inf)", "age=[35,inf)", "age=[35,inf)",
    ]  # fmt: skip
    b = FeatureBuilder(user_features=[Numeric("age", bins=2)], use_user_ids=False)
    b.fit(inter, users=users)
    # Median of the eight ages is 25: two buckets.
    assert b.feature_names()[:2] == ["age=(-inf,25)", "age=[25,inf)"]
    # Float cut points keep their decimals.
    b = FeatureBuilder(user_features=[Numeric("age", bins=[18.5])], use_user_ids=False)
    assert b.fit(inter, users=users).feature_names()[:2] == ["age=(-inf,18.5)", "age=[18.5,inf)"]


def test_bool_and_category_columns_are_categorical():
    users = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "vip": [True, False, True],
            "tier": pd.Categorical(["gold", "silver", "gold"], categories=["gold", "silver", "bronze"]),
        }
    )
    b = FeatureBuilder(user_features=["vip", "tier"], use_user_ids=False)
    b.fit(pd.DataFrame({"user_id": [1], "item_id": [1]}), users=users)
    names = b.feature_names()
    assert names[:4] == ["vip=False", "vip=True", "vip=<unknown>", "vip=<missing>"]
    # Unused categories get no column.
    assert b.space_.vocabulary("tier") == {"gold": 4, "silver": 5}
    X = b.user_rows([2])
    assert row_dict(X, 0, names) == {"vip=False": 1.0, "tier=silver": 1.0}


def test_min_count_folds_rare_values_into_unknown():
    users = pd.DataFrame({"user_id": [1, 2, 3, 4], "occ": ["a", "a", "b", None]})
    inter = pd.DataFrame({"user_id": [1], "item_id": [1]})
    b = FeatureBuilder(user_features=[Categorical("occ", min_count=2)], use_user_ids=False)
    X = b.fit_transform(inter, users=users).user_features
    names = b.feature_names()
    assert names[:3] == ["occ=a", "occ=<unknown>", "occ=<missing>"]
    assert [row_dict(X, r, names) for r in range(4)] == [
        {"occ=a": 1.0}, {"occ=a": 1.0}, {"occ=<unknown>": 1.0}, {"occ=<missing>": 1.0}
    ]
    b = FeatureBuilder(user_features=[Categorical("occ", min_count=2, unknown="ignore")])
    b.fit(inter, users=users)
    assert "occ=<unknown>" not in b.feature_names()


def test_normalize_rows_sum_to_one(interactions, users, items):
    b = full_builder(normalize=True, context_features=())
    d = b.fit_transform(interactions, users, items)
    for X in (d.user_features, d.item_features):
        sums = np.asarray(abs(X).sum(axis=1)).ravel()
        np.testing.assert_allclose(sums, 1.0, rtol=1e-6)
    names = b.feature_names()
    # User 1: id, gender, occupation, age bucket: four columns of 1/4.
    assert row_dict(d.user_features, 0, names) == pytest.approx(
        {"user_id=1": 0.25, "gender=M": 0.25, "occupation=writer": 0.25, "age=(-inf,25)": 0.25}
    )
    assert np.allclose(b.user_rows([1]).toarray(), d.user_features[0].toarray())


# -- unknown and missing values, per policy ----------------------------------------------
@pytest.mark.parametrize("policy", ["bucket", "error", "ignore"])
def test_unknown_value_policies(policy, interactions, users):
    b = FeatureBuilder(user_features=[Categorical("occupation", unknown=policy)])
    b.fit(interactions, users=users)
    names = b.feature_names()
    new = pd.DataFrame({"user_id": [1], "occupation": ["astronaut"]})
    if policy == "error":
        with pytest.raises(
            DataError,
            match=r"users column 'occupation' has unknown value 'astronaut' "
            r"\(field declared unknown='error'\), first at user_id 1",
        ):
            b.user_rows([1], users=new)
        return
    row = row_dict(b.user_rows([1], users=new), 0, names)
    if policy == "bucket":
        assert row == {"user_id=1": 1.0, "occupation=<unknown>": 1.0}
    else:
        assert row == {"user_id=1": 1.0}
        assert "occupation=<unknown>" not in names


@pytest.mark.parametrize("policy", ["bucket", "error", "ignore"])
def test_missing_value_policies(policy, interactions):
    fit_users = pd.DataFrame({"user_id": [1, 2, 3], "occupation": ["a", "b", "a"]})
    b = FeatureBuilder(user_features=[Categorical("occupation", missing=policy)])
    b.fit(interactions, users=fit_users)
    names = b.feature_names()
    new = pd.DataFrame({"user_id": [2, 7], "occupation": ["a", None]})
    if policy == "error":
        with pytest.raises(
            DataError,
            match=r"users column 'occupation' has a missing value \(field declared "
            r"missing='error'\), first at user_id 7; 1 row\(s\) are missing it",
        ):
            b.user_rows([2, 7], users=new)
        # Missing values in the fit data fail at fit time, naming the id.
        with pytest.raises(DataError, match=r"has a missing value .* first at user_id 3"):
            b.fit(interactions, users=fit_users.assign(occupation=["a", "b", None]))
        return
    X = b.user_rows([2, 7], users=new)
    assert row_dict(X, 0, names) == {"user_id=2": 1.0, "occupation=a": 1.0}
    if policy == "bucket":
        assert row_dict(X, 1, names) == {"occupation=<missing>": 1.0}
    else:
        assert row_dict(X, 1, names) == {}


def test_users_absent_from_users_frame_count_as_missing(interactions):
    users = pd.DataFrame({"user_id": [1, 2], "occupation": ["a", "b"]})
    b = FeatureBuilder(user_features=["occupation"])
    d = b.fit_transform(interactions, users=users)
    names = b.feature_names()
    assert row_dict(d.user_features, 2, names) == {"user_id=3": 1.0, "occupation=<missing>": 1.0}
    with pytest.raises(DataError, match=r"column 'occupation' has a missing value .* first at user_id 3"):
        FeatureBuilder(user_features=[Categorical("occupation", missing="error")]).fit(
            interactions, users=users
        )


def test_numeric_missing_error_and_non_numeric_values(interactions):
    users = pd.DataFrame({"user_id": [1, 2, 3], "age": [20.0, np.nan, 30.0]})
    with pytest.raises(DataError,
                       match=r"users column 'age' has a missing value \(field declared missing='error'\), "
                             r"first at user_id 2"):
        FeatureBuilder(user_features=[Numeric("age", missing="error")]).fit(interactions, users=users)
    bad = users.assign(age=["20", "old", "30"])
    with pytest.raises(DataError, match=r"users column 'age' has non-numeric value 'old' at user_id 2"):
        FeatureBuilder(user_features=[Numeric("age")]).fit(interactions, users=bad)
    inf = users.assign(age=[20.0, np.inf, 1.0])
    with pytest.raises(DataError, match=r"users column 'age' has non-finite value inf at user_id 2"):
        FeatureBuilder(user_features=[Numeric("age")]).fit(interactions, users=inf)


# -- cold start ------------------------------------------------------------------------
def test_user_rows_known_new_and_overridden(interactions, users, items):
    b = full_builder()
    d = b.fit_transform(interactions, users, items)
    names = b.feature_names()
    # Known ids without a frame: exactly their design rows.
    X = b.user_rows([3, 1, 3])
    assert X.shape == (3, b.n_features_) and X.dtype == np.float32
    assert (X != d.user_features[[2, 0, 2]]).nnz == 0
    assert (b.user_rows(4) != d.user_features[[3]]).nnz == 0  # a scalar id works too
    # A new user: attributes only, no id column.
    new = pd.DataFrame(
        {"user_id": [99, 2], "age": [33, 70], "gender": ["F", "M"], "occupation": ["doctor", "writer"]}
    )
    X = b.user_rows([99, 2], users=new)
    assert row_dict(X, 0, names) == {"gender=F": 1.0, "occupation=doctor": 1.0, "age=[25,35)": 1.0}
    # A known user given in the frame: its id column plus the frame's attributes.
    assert row_dict(X, 1, names) == {
        "user_id=2": 1.0, "gender=M": 1.0, "occupation=writer": 1.0, "age=[35,inf)": 1.0
    }
    with pytest.raises(DataError, match=r"user_ids: user_id 99 was not seen in fit and has no attributes"):
        b.user_rows([1, 99])


def test_item_rows_cold_start(interactions, users, items):
    b = full_builder()
    d = b.fit_transform(interactions, users, items)
    names = b.feature_names()
    assert (b.item_rows([40, 10]) != d.item_features[[3, 0]]).nnz == 0
    new = pd.DataFrame({"item_id": [77], "genres": [["Drama", "Western"]], "year": [2005]})
    row = row_dict(b.item_rows([77], items=new), 0, names)
    assert set(row) == {"genres=Drama", "genres=<unknown>", "year"}
    with pytest.raises(DataError, match=r"item_ids: item_id 'x' was not seen in fit"):
        b.item_rows(["x"])


def test_ids_only_builder_cannot_build_new_users(interactions):
    b = FeatureBuilder().fit(interactions)
    with pytest.raises(DataError, match=r"user_id 42 was not seen in fit .* no user_features to build a row"):
        b.user_rows([42], users=pd.DataFrame({"user_id": [42]}))


def test_transform_appends_new_users_and_items(interactions, users, items):
    b = full_builder()
    b.fit(interactions, users, items)
    test = pd.DataFrame(
        {"user_id": [99, 1], "item_id": [10, 77], "rating": [4.0, 2.0], "hour": [1, 2],
         "platform": ["web", "web"]}
    )
    new_users = pd.DataFrame({"user_id": [99], "age": [30], "gender": ["F"], "occupation": ["artist"]})
    new_items = pd.DataFrame({"item_id": [77, 88], "genres": [["Drama"], ["Comedy"]], "year": [1999, 2001]})
    d = b.transform(test, users=new_users, items=new_items)
    assert d.user_ids.tolist() == [1, 2, 3, 4, 99]
    assert d.item_ids.tolist() == [10, 20, 30, 40, 77, 88]  # 88: catalogue entry of items=
    assert d.extra == {"n_fitted_users": 4, "n_fitted_items": 4}
    assert d.sample_users.tolist() == [4, 0] and d.sample_items.tolist() == [0, 4]
    names = b.feature_names()
    assert row_dict(d.user_features, 4, names) == {"gender=F": 1.0, "occupation=artist": 1.0,
                                                   "age=[25,35)": 1.0}
    assert d.interactions.shape == (5, 6)
    # transform never changes the fitted state.
    assert b.user_index_.tolist() == [1, 2, 3, 4]
    with pytest.raises(DataError,
                       match=r"interactions: user_id 99 was not seen in fit and has no attributes"):
        b.transform(test)


# -- context -----------------------------------------------------------------------------
def test_context_rows_match_design(interactions, users, items):
    b = full_builder()
    d = b.fit_transform(interactions, users, items)
    C = b.context_rows(interactions[["hour", "platform"]].iloc[[4, 0]])
    assert (C != d.context[[4, 0]]).nnz == 0
    names = b.feature_names()
    C = b.context_rows(pd.DataFrame({"hour": [9, None], "platform": ["tv", "ios"], "extra": [0, 0]}))
    assert row_dict(C, 0, names) == {"hour=<unknown>": 1.0, "platform=<unknown>": 1.0}
    assert row_dict(C, 1, names) == {"hour=<missing>": 1.0, "platform=ios": 1.0}
    with pytest.raises(DataError,
                       match=r"context frame has no column 'platform' \(declared in context_features\); "
                             r"available columns: \['hour'\]"):
        b.context_rows(pd.DataFrame({"hour": [1]}))


def test_context_rows_without_context_fields_are_empty(interactions):
    b = FeatureBuilder().fit(interactions)
    C = b.context_rows(pd.DataFrame({"anything": [1, 2]}))
    assert C.shape == (2, b.n_features_) and C.nnz == 0


def test_numeric_context_and_query_rows(interactions):
    b = FeatureBuilder(context_features=["hour"])
    d = b.fit_transform(interactions)
    assert b.space_["hour"].kind == "numeric"
    hours = interactions["hour"].to_numpy(float)
    expected = (hours - hours.mean()) / hours.std()
    np.testing.assert_allclose(d.context[:, b.space_.column("hour")].toarray().ravel(), expected, rtol=1e-6)
    Q = d.query_rows()
    assert (Q != d.user_features[d.sample_users] + d.context).nnz == 0
    F = d.full_rows([0, 5])
    assert (F != Q[[0, 5]] + d.item_features[d.sample_items[[0, 5]]]).nnz == 0


# -- growth ----------------------------------------------------------------------------
def test_partial_fit_appends_and_keeps_old_columns(interactions, users, items):
    b = full_builder()
    d_old = b.fit_transform(interactions, users, items)
    old_names = b.feature_names()
    old_space = b.space_
    old_vocab = {f.name: b.space_.vocabulary(f.name) for f in b.space_.fields}

    more = pd.DataFrame(
        {"user_id": [5, 1], "item_id": [50, 10], "rating": [1.0, 2.0], "hour": [7, 1],
         "platform": ["tv", "web"]}
    )
    new_users = pd.DataFrame({"user_id": [5], "age": [22], "gender": ["F"], "occupation": ["pilot"]})
    new_items = pd.DataFrame({"item_id": [50], "genres": [["Western", "Comedy"]], "year": [1999]})
    assert b.partial_fit(more, new_users, new_items) is b

    names = b.feature_names()
    assert names[: len(old_names)] == old_names
    assert names[len(old_names):] == [
        "user_id=5", "occupation=pilot", "hour=7", "platform=tv", "item_id=50", "genres=Western"
    ]
    for field, vocab in old_vocab.items():
        new_vocab = b.space_.vocabulary(field)
        assert {k: new_vocab[k] for k in vocab} == vocab
    assert b.user_index_.tolist() == [1, 2, 3, 4, 5]
    assert b.item_index_.tolist() == [10, 20, 30, 40, 50]
    # Offsets still describe the initial layout; the old design keeps its own space.
    assert b.space_.offsets == old_space.offsets
    assert old_space.n_features == len(old_names) and d_old.space is old_space

    # Old rows on old columns are unchanged; new rows are appended.
    d_new = b.transform(interactions)
    n_old = len(old_names)
    assert (d_new.user_features[:4, :n_old] != d_old.user_features).nnz == 0
    assert d_new.user_features[:4, n_old:].nnz == 0
    assert (d_new.item_features[:4, :n_old] != d_old.item_features).nnz == 0
    assert (d_new.context[:, :n_old] != d_old.context).nnz == 0
    assert row_dict(b.user_rows([5]), 0, names) == {
        "user_id=5": 1.0, "gender=F": 1.0, "occupation=pilot": 1.0, "age=(-inf,25)": 1.0
    }


def test_partial_fit_reaches_min_count_later(interactions):
    users = pd.DataFrame({"user_id": [1, 2, 3], "occ": ["a", "a", "b"]})
    b = FeatureBuilder(user_features=[Categorical("occ", min_count=2)]).fit(interactions, users=users)
    assert "occ=b" not in b.feature_names()
    more = pd.DataFrame({"user_id": [4], "item_id": [10]})
    b.partial_fit(more, users=pd.DataFrame({"user_id": [4], "occ": ["b"]}))
    assert b.feature_names()[-1] == "occ=b"
    names = b.feature_names()
    # User 3, stored with 'b', now uses the new column.
    assert row_dict(b.user_rows([3]), 0, names) == {"user_id=3": 1.0, "occ=b": 1.0}


def test_partial_fit_keeps_the_id_dtype_and_can_be_undone(interactions, users, items):
    b = full_builder().fit(interactions, users, items)
    names, saved = b.feature_names(), b.saved_state()
    more = interactions.head(2).assign(user_id=np.array([7, 8], np.uint64), item_id=[10, 20])
    more_users = users.head(2).assign(user_id=np.array([7, 8], np.uint64))
    b.partial_fit(more, more_users)
    assert b.user_index_.tolist() == [1, 2, 3, 4, 7, 8] and b.user_index_.dtype == np.int64
    b.restore_state(saved)
    assert b.feature_names() == names and b.user_index_.tolist() == [1, 2, 3, 4]
    assert (b.transform(interactions).user_features != full_builder().fit_transform(
        interactions, users, items).user_features).nnz == 0


def test_ids_of_kind_refuses_another_kind_and_casts_integers():
    from recfm.features.builder import ids_of_kind

    ref = pd.Index([1, 2, 3])
    assert ids_of_kind(ref, pd.Series(np.array([9], np.int32)), "items", "item").dtype == np.int64
    with pytest.raises(DataError, match=r"items column 'item_id' has text ids \(dtype .*\) but "
                                        r"the fitted ids are integer \(dtype int64\)"):
        ids_of_kind(ref, pd.Series(["9"]), "items", "item")
    with pytest.raises(DataError, match="users column 'user_id' has float ids"):
        ids_of_kind(ref, pd.Series([9.0]), "users", "user")
    with pytest.raises(DataError, match="has id 18446744073709551615, which the int64 ids"):
        ids_of_kind(ref, pd.Series(np.array([2**64 - 1], np.uint64)), "items", "item")
    assert ids_of_kind(pd.Index(["a"]), pd.Series(["b"]), "items", "item").tolist() == ["b"]


def test_partial_fit_before_fit_fits(interactions):
    b = FeatureBuilder().partial_fit(interactions)
    assert b.n_features_ == 6


def test_fit_starts_afresh(interactions):
    b = FeatureBuilder().fit(interactions)
    b.fit(interactions.iloc[:1])
    assert b.feature_names() == ["user_id=1", "item_id=10"]


# -- persistence -------------------------------------------------------------------------
def test_state_round_trips_through_json(interactions, users, items):
    b = full_builder(normalize=True)
    b.fit(interactions, users, items)
    b.partial_fit(interactions.iloc[:2], users.assign(occupation="pilot").iloc[:1])
    text = json.dumps(b.get_state(), allow_nan=False)
    c = FeatureBuilder.from_state(json.loads(text))
    assert c.feature_names() == b.feature_names()
    assert c.user_index_.equals(b.user_index_) and c.item_index_.equals(b.item_index_)
    assert c.get_params().keys() == b.get_params().keys()
    d1, d2 = b.transform(interactions), c.transform(interactions)
    for name in ("user_features", "item_features", "interactions", "context"):
        assert (getattr(d1, name) != getattr(d2, name)).nnz == 0, name
    new = pd.DataFrame({"user_id": [99], "age": [40], "gender": ["F"], "occupation": ["dentist"]})
    assert (b.user_rows([99], new) != c.user_rows([99], new)).nnz == 0
    state = json.loads(text)
    state["version"] = 99
    with pytest.raises(ValueError, match="version 99 is newer"):
        FeatureBuilder.from_state(state)


def test_get_params_and_repr():
    b = FeatureBuilder(user_features=["a"], normalize=True)
    assert b.get_params()["user_features"] == ["a"]
    assert "normalize=True" in repr(b)
    assert b.set_params(normalize=False).normalize is False
    with pytest.raises(ValueError, match="Invalid parameter 'foo' for estimator FeatureBuilder"):
        b.set_params(foo=1)


def test_design_arrays_are_owned_and_writable(interactions, users, items):
    # pandas copy-on-write hands out read-only views; kernels and callers get real arrays.
    d = full_builder().fit_transform(interactions, users, items)
    for name in ("sample_users", "sample_items", "sample_values", "user_ids", "item_ids"):
        arr = getattr(d, name)
        assert arr.flags.writeable and arr.flags.c_contiguous, name
    for name in ("user_features", "item_features", "interactions", "context"):
        m = getattr(d, name)
        assert isinstance(m, sp.csr_matrix) and m.dtype == np.float32, name
        assert m.data.flags.writeable, name


def test_failed_partial_fit_leaves_builder_unchanged(interactions):
    users = pd.DataFrame({"user_id": [1, 2, 3], "occ": ["a", "b", "a"]})
    b = FeatureBuilder(user_features=[Categorical("occ", missing="error")])
    b.fit(interactions, users=users)
    names, index, state = b.feature_names(), b.user_index_, json.dumps(b.get_state())
    more = pd.DataFrame({"user_id": [8, 9], "item_id": [10, 10]})
    bad = pd.DataFrame({"user_id": [8, 9], "occ": ["c", None]})
    with pytest.raises(DataError, match=r"users column 'occ' has a missing value .* first at user_id 9"):
        b.partial_fit(more, users=bad)
    assert b.feature_names() == names and b.user_index_.equals(index)
    assert json.dumps(b.get_state()) == state


@pytest.mark.parametrize(
    "cells",
    [
        [["a", "b"], ["b"], []],
        [("a", "b"), ("b",), ()],
        [np.array(["a", "b"]), np.array(["b"]), np.array([], dtype=object)],
    ],
)
def test_multi_valued_accepts_lists_tuples_and_arrays(cells):
    items = pd.DataFrame({"item_id": [1, 2, 3], "g": cells})
    b = FeatureBuilder(item_features=["g"], use_item_ids=False, use_user_ids=False)
    X = b.fit_transform(pd.DataFrame({"user_id": [0], "item_id": [1]}), items=items).item_features
    assert b.feature_names() == ["g=a", "g=b", "g=<unknown>", "g=<missing>"]
    np.testing.assert_array_equal(X.toarray(), [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
