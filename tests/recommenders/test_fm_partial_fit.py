"""FMRecommender after its model trained on: every query (recommend, score, explain,
similar_items) on the trained parameters; a model changed outside the recommender is
refolded before it ranks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.datasets import load_sample
from recfm.features import Categorical, FeatureBuilder, History, MultiValued, Numeric
from recfm.model import FactorizationMachine
from recfm.ranking import fold, top_n
from recfm.recommenders import FMRecommender


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _rec(history: bool = False, min_rating: float | None = None, epochs: int = 3) -> FMRecommender:
    user_features: list = [Numeric("age", bins=[0, 25, 35, 50, 120]), "gender",
                           Categorical("occupation")]
    if history:
        user_features.append(History())
    return FMRecommender(
        builder=FeatureBuilder(user_features=user_features, item_features=[MultiValued("genres")]),
        model=FactorizationMachine(n_factors=8, loss="warp", n_epochs=epochs, n_threads=1,
                                   random_state=0),
        min_rating=min_rating)


def _halves(sample):
    """(first fit, later interactions of the same users and items)."""
    log = sample.interactions
    later = np.zeros(len(log), bool)
    later[::5] = True
    first, rest = log[~later], log[later]
    known = rest.user_id.isin(first.user_id) & rest.item_id.isin(first.item_id)
    return first.reset_index(drop=True), rest[known.to_numpy()].reset_index(drop=True)


def _fresh_scores(rec: FMRecommender, users, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-n of ``users`` folded from scratch from the current model and builder."""
    rows = rec.builder_.item_rows(rec.builder_.item_index_)
    n_added = len(rec.item_ids_) - len(rec.builder_.item_index_)
    if n_added:
        added = rec._added_items
        rows = sp.vstack([rows, rec.builder_.item_rows(added.item_id, items=added)], format="csr")
    _, I, _ = fold(rec.model_, rows[:0], rows)
    Xq = rec.builder_.user_rows(users)
    U, _, c = fold(rec.model_, Xq, Xq[:0])
    known = rec.user_ids_.get_indexer(users)
    idx, scores = top_n(U, I, n, exclude=rec.excluded_rows(known))
    return idx, scores + c[:, None]


def _check_agreement(rec: FMRecommender, users, n: int = 10) -> pd.DataFrame:
    """recommend == score() == a fresh fold; explain sums to score; similar_items is the
    cosine of freshly folded item vectors."""
    recs = rec.recommend(users, n=n)
    direct = rec.score(recs.user_id, recs.item_id)
    np.testing.assert_allclose(recs.score, direct, rtol=1e-5, atol=1e-5)
    idx, scores = _fresh_scores(rec, users, n)
    valid = idx.ravel() >= 0  # padding past the eligible items
    assert recs.item_id.tolist() == rec.item_ids_[idx.ravel()[valid]].tolist()
    np.testing.assert_allclose(recs.score, scores.ravel()[valid], rtol=1e-5, atol=1e-5)
    first = recs.iloc[0]
    assert rec.explain(first.user_id, first.item_id).value.sum() == pytest.approx(
        direct[0], rel=1e-4, abs=1e-5)
    rows = rec.builder_.item_rows(rec.builder_.item_index_)
    _, I, _ = fold(rec.model_, rows[:0], rows)
    E = I[:, :-1].astype(np.float64)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    cos = E[0] @ E.T
    cos[0] = -np.inf
    sim = rec.similar_items([rec.item_ids_[0]], n=5)
    assert sim.similar_item_id.tolist() == rec.item_ids_[np.argsort(-cos, kind="stable")[:5]].tolist()
    return recs


def test_direct_model_partial_fit_is_refolded_before_ranking(sample):
    first, rest = _halves(sample)
    rec = _rec(history=True).fit(first, users=sample.users, items=sample.items)
    rec.recommend_all(n=5)
    rec.model_.partial_fit(rec.builder_.transform(rest), n_epochs=2)
    _check_agreement(rec, rec.user_ids_[:10])
    every = rec.recommend_all(n=10)
    idx, scores = _fresh_scores(rec, rec.user_ids_, 10)
    np.testing.assert_allclose(every.score, scores.ravel(), rtol=1e-5, atol=1e-5)
    # a builder grown behind the recommender's back is refused, not half-used
    more = pd.DataFrame({"user_id": [99999], "item_id": [first.item_id.iloc[0]]})
    rec.builder_.partial_fit(more, users=sample.users.head(1).assign(user_id=99999))
    with pytest.raises(DataError, match=r"builder_ has 301 users and 400 items but the "
                                        r"recommender was built with 300 and 400.*"
                                        r"refit with FMRecommender.fit"):
        rec.recommend(rec.user_ids_[:3])
