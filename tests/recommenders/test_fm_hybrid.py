"""``fm-hybrid`` (builder="auto-history"): ids, item attributes and the History field."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm.features import History, MultiValued
from recfm.recommenders import FMRecommender, load, make_recommender
from recfm.recommenders.registry import HYBRID_DEFAULTS


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    n = 800
    log = pd.DataFrame({"user_id": rng.integers(0, 50, n), "item_id": rng.integers(0, 40, n)})
    log = log.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)
    genres = ["a", "b", "c", "d"]
    items = pd.DataFrame({"item_id": np.arange(40),
                          "genres": [[genres[i % 4], genres[(i // 4) % 4]] for i in range(40)]})
    users = pd.DataFrame({"user_id": np.arange(50), "gender": ["F", "M"] * 25})
    return log, users, items


@pytest.fixture(scope="module")
def fitted(data):
    log, users, items = data
    rec = make_recommender("fm-hybrid", seed=0, n_threads=1)
    rec.set_params(model__n_epochs=3, model__n_factors=8)
    return rec.fit(log, users=users, items=items)


def test_builds_ids_item_attributes_and_history_without_user_attributes(fitted):
    b = fitted.builder_
    assert b.use_user_ids and b.use_item_ids
    assert [type(f) for f in b.user_features] == [History]
    assert b.user_features[0].weight == "sqrt"
    assert [(type(f), f.name) for f in b.item_features] == [(MultiValued, "genres")]
    names = b.feature_names()
    assert any(n.startswith("history=") for n in names)
    assert any(n.startswith("genres=") for n in names)
    assert not any(n.startswith("gender=") for n in names)
    m = make_recommender("fm-hybrid", seed=5).model
    assert {k: getattr(m, k) for k in HYBRID_DEFAULTS} == HYBRID_DEFAULTS


def test_top_n_equals_brute_force_scores(fitted):
    users = fitted.user_ids_[:4]
    rec = fitted.recommend(users, n=6)
    seen = fitted.seen_.toarray()
    Xt = fitted.builder_.item_rows(fitted.item_ids_)
    for u in users:
        Xq = fitted.builder_.user_rows([u])
        s = fitted.model_.predict((Xq[np.zeros(Xt.shape[0], int)] + Xt).tocsr())
        s[seen[fitted.user_ids_.get_loc(u)] > 0] = -np.inf
        top = np.argsort(-s, kind="stable")[:6]
        got = rec[rec.user_id == u]
        assert list(got.item_id) == list(fitted.item_ids_[top])
        np.testing.assert_allclose(got.score, s[top], rtol=1e-4, atol=1e-4)


def test_saves_and_loads_with_the_same_recommendations(fitted, tmp_path):
    loaded = load(fitted.save(tmp_path / "hybrid"))
    assert isinstance(loaded, FMRecommender)
    pd.testing.assert_frame_equal(loaded.recommend_all(n=5), fitted.recommend_all(n=5))
    hist = {"new": [0, 3, 7]}
    pd.testing.assert_frame_equal(loaded.recommend(["new"], n=5, history=hist),
                                  fitted.recommend(["new"], n=5, history=hist))


def test_without_an_items_frame_it_is_ids_and_history(data):
    log, _, _ = data
    rec = FMRecommender(builder="auto-history").set_params(model__n_epochs=1, model__n_factors=4,
                                                           model__n_threads=1)
    rec.fit(log)
    assert len(rec.builder_.item_features) == 0
    assert [type(f) for f in rec.builder_.user_features] == [History]


def test_unknown_builder_string_names_the_choices():
    with pytest.raises(ValueError, match="'auto-history' or None; got 'auto-hist'"):
        FMRecommender(builder="auto-hist").fit(pd.DataFrame({"user_id": [1], "item_id": [2]}))
