"""n_threads is checked and capped the same way by every model; n past the catalogue is capped."""
from __future__ import annotations

import numpy as np
import pytest

from recfm._utils import available_cores, check_n_threads
from recfm.ranking import top_n, top_n_scores
from recfm.recommenders import make_recommender, model_names

from ._factories import checkerboard

ALL = model_names()
THREADED = [m for m in ALL if m != "pop"]  # popularity runs no threads


@pytest.fixture(scope="module")
def train():
    return checkerboard(n_users=20, n_items=14)[0]


@pytest.mark.parametrize("name", THREADED)
@pytest.mark.parametrize("bad", [-1, 0, 2.5, True])
def test_every_model_refuses_a_bad_thread_count_before_any_work(name, bad, train, monkeypatch):
    model = make_recommender(name, n_threads=1)
    if name.startswith("fm"):
        model.model.set_params(n_threads=bad)
    else:
        model.set_params(n_threads=bad)
    monkeypatch.setattr(type(model), "positives", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ValueError, match=r"n_threads must be None \(all cores\) or a positive"):
        model.fit(train)


@pytest.mark.parametrize("name", THREADED)
def test_every_model_caps_a_huge_thread_count_with_a_warning(name, train):
    model = make_recommender(name, n_threads=100_000)
    with pytest.warns(UserWarning, match=f"n_threads=100000 is more than the {available_cores()} "):
        model.fit(train)
    recs = model.recommend(train["user_id"].unique()[:3], n=2)
    assert len(recs) == 6


def test_check_n_threads_resolves_none_to_the_available_cores():
    assert check_n_threads(None) == available_cores()
    assert check_n_threads(1) == 1


@pytest.mark.parametrize("name", ALL)
def test_n_far_above_the_catalogue_is_capped(name, train):
    model = make_recommender(name, n_threads=1).fit(train)
    n_items = train["item_id"].nunique()
    recs = model.recommend(train["user_id"].unique()[:2], n=10**12, exclude_seen=False)
    assert recs.groupby("user_id").size().tolist() == [n_items, n_items]
    assert sorted(recs["rank"].unique()) == list(range(1, n_items + 1))


def test_top_n_outputs_are_no_wider_than_the_catalogue():
    rng = np.random.default_rng(0)
    U, I = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    items, scores = top_n(U, I, 10**12)
    assert items.shape == scores.shape == (3, 5)
    ref = np.argsort(-(U @ I.T).astype(np.float32), axis=1, kind="stable")
    np.testing.assert_array_equal(items, ref)
    items2, _ = top_n_scores((U @ I.T), 10**12)
    assert items2.shape == (3, 5)
    np.testing.assert_array_equal(items2, ref)
