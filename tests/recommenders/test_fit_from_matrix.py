"""Fitting from a users x items scipy.sparse matrix (as implicit and LightFM users hold it)
equals fitting from the equivalent DataFrame."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.datasets import interactions_frame
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender, ItemKNN, Popularity


@pytest.fixture
def matrix():
    rng = np.random.default_rng(0)
    X = sp.random(40, 30, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    X.data[:] = rng.integers(1, 6, X.nnz)
    return X


def _frame(X, users=None, items=None):
    coo = X.tocoo()
    u = coo.row.astype(np.int64) if users is None else np.asarray(users)[coo.row]
    i = coo.col.astype(np.int64) if items is None else np.asarray(items)[coo.col]
    return pd.DataFrame({"user_id": u, "item_id": i, "rating": coo.data})


def test_interactions_frame_matches_the_entries(matrix):
    users = [f"u{r}" for r in range(40)]
    items = np.arange(30) * 10
    frame = interactions_frame(matrix, users, items)
    expect = _frame(matrix, users, items).sort_values(["user_id", "item_id"])
    got = frame.sort_values(["user_id", "item_id"])
    assert got["user_id"].tolist() == expect["user_id"].tolist()
    assert got["item_id"].tolist() == expect["item_id"].tolist()
    np.testing.assert_array_equal(got["rating"].to_numpy(), expect["rating"].to_numpy())
    with pytest.raises(DataError, match="user_ids has 3 ids but the matrix has 40 rows"):
        interactions_frame(matrix, user_ids=[1, 2, 3])
    with pytest.raises(DataError, match="repeated"):
        interactions_frame(matrix, item_ids=[0] * 30)
    with pytest.raises(DataError, match="scipy.sparse"):
        interactions_frame(matrix.toarray())


def test_fm_fit_from_matrix_equals_fit_from_frame(matrix):
    def fm():
        return FMRecommender(model=FactorizationMachine(n_factors=4, n_epochs=3, n_threads=1,
                                                        random_state=0))

    a = fm().fit(matrix)
    b = fm().fit(_frame(matrix))
    np.testing.assert_array_equal(a.model_.V_, b.model_.V_)
    np.testing.assert_array_equal(a.model_.w_, b.model_.w_)
    assert list(a.user_ids_) == list(b.user_ids_) and list(a.item_ids_) == list(b.item_ids_)
    users = list(a.user_ids_[:5])
    pd.testing.assert_frame_equal(a.recommend(users, n=5), b.recommend(users, n=5))


@pytest.mark.parametrize("make", [Popularity, lambda: ItemKNN(n_threads=1)])
def test_baselines_fit_from_matrix(matrix, make):
    a = make().fit(matrix)
    b = make().fit(_frame(matrix))
    users = list(b.user_ids_[:5])
    pd.testing.assert_frame_equal(a.recommend(users, n=5), b.recommend(users, n=5))
    assert (a.seen_ != b.seen_).nnz == 0


@pytest.mark.parametrize("make", [Popularity, lambda **kw: FMRecommender(
    model=FactorizationMachine(n_factors=4, n_epochs=1, n_threads=1, random_state=0), **kw)])
def test_negative_entries_lightfm_style_are_warned_about_and_min_rating_drops_them(matrix, make):
    X = matrix.copy()
    X.data[::3] = -1.0  # LightFM's mark of a negative interaction
    n_negative = int((X.data < 0).sum())
    with pytest.warns(UserWarning, match=rf"train has {n_negative} interaction\(s\) with a "
                                         r"negative rating \(e.g. -1.0\), read as positives"):
        make().fit(X)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = make(min_rating=0).fit(X)
    assert rec.seen_.nnz == X.nnz - n_negative
