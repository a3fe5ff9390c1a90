"""``min_rating``: low ratings are not positives, yet never recommended back (every model)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm.distributed.factors import FactorModel
from recfm.model import FactorizationMachine
from recfm.recommenders import EASE, FMRecommender, load, make_recommender, model_names

from ._factories import checkerboard


def _pairs(frame: pd.DataFrame) -> set[tuple]:
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


@pytest.fixture(scope="module")
def rated():
    """The checkerboard with every third rating a 2 (not a positive), and user 1000, whose
    only ratings are below 4."""
    train, _ = checkerboard()
    train = train.copy()
    train.loc[train.index[::3], "rating"] = 2.0
    low_user = pd.DataFrame({"user_id": [1000, 1000], "item_id": [0, 2], "rating": [1.0, 3.0],
                             "timestamp": [10**6, 10**6 + 1]})
    return pd.concat([train, low_user], ignore_index=True)


@pytest.fixture(scope="module", params=model_names())
def fitted(request, rated):
    rec = make_recommender(request.param, seed=0, n_threads=1).set_params(min_rating=4)
    return request.param, rec.fit(rated)


def test_low_ratings_are_not_positives_but_are_remembered(fitted, rated):
    _, rec = fitted
    positives = rated[rated.rating >= 4]
    assert 1000 not in rec.user_ids_  # no positive: not a user of the model
    assert rec.seen_.nnz == len(positives)
    low = rated[(rated.rating < 4) & rated.user_id.isin(rec.user_ids_)
                & rated.item_id.isin(rec.item_ids_)]
    assert len(low) > 100
    got = rec.rated_below_.tocoo()
    assert set(zip(rec.user_ids_[got.row], rec.item_ids_[got.col], strict=True)) == _pairs(low)


def test_low_rated_items_are_never_recommended_back(fitted, rated):
    name, rec = fitted
    recs = rec.recommend_all(n=30)
    assert len(recs) and not _pairs(recs) & _pairs(rated)
    # only excluded: exclude_seen=False ranks them again
    low_of_0 = set(rated[(rated.user_id == 0) & (rated.rating < 4)].item_id)
    assert low_of_0 & set(rec.recommend([0], n=30, exclude_seen=False).item_id)


def test_the_exclusions_survive_save_and_load(fitted, tmp_path):
    _, rec = fitted
    rec.save(tmp_path / "m")
    back = load(tmp_path / "m")
    assert (back.rated_below_ != rec.rated_below_).nnz == 0
    pd.testing.assert_frame_equal(back.recommend_all(n=5), rec.recommend_all(n=5))


def test_a_request_history_keeps_the_low_ratings_excluded(rated):
    ease = EASE(l2=10.0, min_rating=4, n_threads=1).fit(rated)
    recs = ease.recommend([0], n=30, history={0: [1, 3]})
    low_of_0 = set(rated[(rated.user_id == 0) & (rated.rating < 4)].item_id)
    assert len(recs) and not low_of_0 & set(recs.item_id)


def test_factor_form_excludes_them_too(rated):
    rec = make_recommender("fm", seed=0, n_threads=1).set_params(min_rating=4).fit(rated)
    form = FactorModel.from_recommender(rec)
    assert (form.seen != rec.excluded_rows()).nnz == 0
    assert form.seen.nnz == rec.seen_.nnz + rec.rated_below_.nnz


def test_a_model_without_min_rating_has_none(rated):
    rec = make_recommender("pop", seed=0).fit(rated)
    assert rec.rated_below_ is None
    assert (rec.excluded_rows() != rec.seen_).nnz == 0


def test_matrix_train_remembers_its_low_entries():
    rng = np.random.default_rng(0)
    X = sp.random(30, 20, density=0.5, random_state=0, format="csr", dtype=np.float32)
    X.data = rng.choice([2.0, 5.0], size=X.nnz).astype(np.float32)
    rec = FMRecommender(model=FactorizationMachine(n_factors=4, n_epochs=2, n_threads=1,
                                                  random_state=0), min_rating=4)
    rec.fit(X, user_features=sp.identity(30), item_features=sp.identity(20))
    low = X.copy()
    low.data = (low.data < 4).astype(np.float32)
    low.eliminate_zeros()
    assert (rec.seen_ != (X >= 4)).nnz == 0
    assert (rec.rated_below_ != low).nnz == 0
    recs = rec.recommend_all(n=20)
    rows, cols = X.nonzero()
    assert not _pairs(recs) & set(zip(rows, cols, strict=True))


def test_a_user_with_only_low_ratings_is_named_with_the_reason(rated):
    fm = make_recommender("fm", seed=0, n_threads=1).set_params(min_rating=4).fit(rated)
    ease = EASE(l2=10.0, min_rating=4, n_threads=1).fit(rated)  # the base class's message
    for rec in (fm, ease):
        with pytest.raises(KeyError, match=r"1000.*only ratings >= min_rating=4 were trained on"):
            rec.recommend([1000])
    with pytest.raises(KeyError) as err:  # no min_rating: no such reason given
        EASE(l2=10.0, n_threads=1).fit(rated).recommend([1000.5])
    assert "min_rating" not in str(err.value)
