import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm.datasets import SYNTHETIC_SIZES, make_synthetic, make_synthetic_like
from recfm.datasets.synthetic import GENRES, OCCUPATIONS, PLATFORMS


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(seed=1)


def test_shape_and_types(ds):
    x = ds.interactions
    assert ds.name == "synthetic" and ds.context_columns == ("hour", "platform")
    assert list(x.columns) == ["user_id", "item_id", "rating", "timestamp", "hour", "platform"]
    assert [str(t) for t in x.dtypes[:5]] == ["int64", "int64", "float32", "int64", "int64"]
    assert pd.api.types.is_string_dtype(x["platform"])
    assert len(x) == 60_000
    assert x["user_id"].between(1, 1000).all() and x["user_id"].nunique() == 1000
    assert x["item_id"].between(1, 1500).all()
    assert not x.duplicated(["user_id", "item_id"]).any()
    assert set(x["rating"].unique()) == {1, 2, 3, 4, 5}
    assert set(x["platform"].unique()) == set(PLATFORMS)
    assert x["hour"].between(0, 23).all()
    assert ((x["timestamp"] // 3600) % 24 == x["hour"]).all()  # hour is the timestamp's hour
    assert (x.groupby("user_id")["timestamp"].diff().dropna() >= 0).all()  # increasing per user
    assert x["user_id"].is_monotonic_increasing


def test_side_frames(ds):
    users, items = ds.users, ds.items
    assert list(users.columns) == ["user_id", "age", "gender", "occupation", "zip"]
    assert users["user_id"].tolist() == list(range(1, 1001))
    assert set(users["age"]) <= {1, 18, 25, 35, 45, 50, 56}
    assert set(users["gender"]) == {"M", "F"}
    assert set(users["occupation"]) <= set(OCCUPATIONS) and users["occupation"].nunique() > 15
    assert users["zip"].str.fullmatch(r"\d{5}").all()
    assert list(items.columns) == ["item_id", "title", "year", "genres"]
    assert str(items["year"].dtype) == "Int64" and items["year"].between(1919, 2000).all()
    assert all(1 <= len(g) <= 3 and set(g) <= set(GENRES) for g in items["genres"])
    assert items["title"].str.endswith(")").all()


def test_deterministic_for_a_seed_and_thread_count_independent():
    a = make_synthetic(200, 300, 5000, seed=3, n_threads=1)
    b = make_synthetic(200, 300, 5000, seed=3, n_threads=2)
    for f in ("interactions", "users", "items"):
        pd.testing.assert_frame_equal(getattr(a, f), getattr(b, f))
    c = make_synthetic(200, 300, 5000, seed=4)
    assert not a.interactions[["user_id", "item_id"]].equals(c.interactions[["user_id", "item_id"]])


def test_context_false_only_drops_the_columns():
    a = make_synthetic(100, 200, 2000, seed=5)
    b = make_synthetic(100, 200, 2000, seed=5, context=False)
    assert b.context_columns == ()
    pd.testing.assert_frame_equal(a.interactions.drop(columns=["hour", "platform"]), b.interactions)


def test_long_tail(ds):
    x = ds.interactions
    item_counts = np.sort(x["item_id"].value_counts().to_numpy())[::-1]
    top = item_counts[: len(ds.items) // 10].sum() / len(x)
    assert top > 0.3, f"top 10% of items have {top:.0%} of interactions"
    assert item_counts[0] > 5 * np.median(item_counts)
    user_counts = x["user_id"].value_counts()
    assert user_counts.min() >= 5 and user_counts.max() > 5 * user_counts.median()


def test_rating_distribution_is_movielens_like(ds):
    shares = ds.interactions["rating"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(shares, [0.056, 0.108, 0.261, 0.349, 0.226], atol=0.01)


def _cosine(rows, cols, n_rows, n_cols):
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_rows, n_cols))
    m = sp.diags(1 / np.sqrt(np.maximum(np.asarray(m.sum(axis=1)).ravel(), 1))) @ m
    return (m @ m.T).toarray()


def test_attributes_carry_signal(ds):
    """Users sharing age, gender and occupation choose more similar items than random pairs."""
    x = ds.interactions
    sim = _cosine(x["user_id"] - 1, x["item_id"] - 1, len(ds.users), len(ds.items))
    key = (ds.users["age"].astype(str) + ds.users["gender"] + ds.users["occupation"]).to_numpy()
    off_diag = ~np.eye(len(key), dtype=bool)
    same = (key[:, None] == key[None, :]) & off_diag
    assert sim[same].mean() > 1.2 * sim[off_diag & ~same].mean()
    for col in ("age", "gender", "occupation"):
        v = ds.users[col].to_numpy()
        share = (v[:, None] == v[None, :]) & off_diag
        assert sim[share].mean() > sim[off_diag & ~share].mean(), col


def test_item_attributes_carry_signal(ds):
    """Items with the same genres are chosen by more similar sets of users than unrelated items."""
    x = ds.interactions
    sim = _cosine(x["item_id"] - 1, x["user_id"] - 1, len(ds.items), len(ds.users))
    hot = np.zeros((len(ds.items), len(GENRES)), bool)
    index = {g: i for i, g in enumerate(GENRES)}
    for row, genres in enumerate(ds.items["genres"]):
        hot[row, [index[g] for g in genres]] = True
    off_diag = ~np.eye(len(hot), dtype=bool)
    same = (hot[:, None, :] == hot[None, :, :]).all(axis=2) & off_diag
    unrelated = (hot.astype(int) @ hot.T.astype(int)) == 0
    assert sim[same].mean() > 1.15 * sim[unrelated].mean()


def test_context_changes_the_chosen_items(ds):
    x = ds.interactions
    genres = x["item_id"].map(ds.items.set_index("item_id")["genres"])
    night = x["hour"].isin([22, 23, 0, 1, 2, 3, 4, 5]).to_numpy()
    dark = genres.map(lambda g: bool({"Horror", "Thriller", "Sci-Fi"} & set(g))).to_numpy()
    assert dark[night].mean() > 1.3 * dark[~night].mean()
    mobile = (x["platform"] != "web").to_numpy()
    kids = genres.map(lambda g: bool({"Children's", "Animation"} & set(g))).to_numpy()
    assert kids[mobile].mean() > 1.2 * kids[~mobile].mean()


def test_ml1m_size():
    assert SYNTHETIC_SIZES["ml-1m"] == (6040, 3706, 1_000_209)
    ds = make_synthetic_like("ml-1m")
    assert len(ds.interactions) == 1_000_209
    assert ds.interactions["user_id"].nunique() == 6040
    assert ds.interactions["item_id"].max() <= 3706
    assert ds.interactions["user_id"].value_counts().max() <= 0.6 * 3706


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_users=10, n_items=10, n_interactions=100), "too many"),
        (dict(n_users=10, n_items=10, n_interactions=5), "at least n_users"),
        (dict(n_users=0), "n_users must be a positive integer"),
        (dict(n_factors=2.5), "n_factors must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)


def test_unknown_size_name():
    with pytest.raises(ValueError, match="ml-1m, ml-20m"):
        make_synthetic_like("ml-2m")


def test_tiny_catalogue_default():
    ds = make_synthetic(n_users=5, n_items=4)
    assert len(ds.interactions) == 5 and ds.interactions["user_id"].nunique() == 5
