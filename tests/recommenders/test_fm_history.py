"""FMRecommender with log-derived fields: folded top-N, new users from a history, persistence."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.features import FeatureBuilder, History, RecentItems
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender


@pytest.fixture(scope="module")
def log():
    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame({"user_id": rng.integers(0, 40, n), "item_id": rng.integers(100, 160, n),
                       "timestamp": rng.permutation(n)})
    return df.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)


def _rec(use_user_ids=True, recent=True):
    b = FeatureBuilder(user_features=[History()], use_user_ids=use_user_ids,
                       context_features=[RecentItems(n=2, decay=0.5)] if recent else ())
    return FMRecommender(builder=b, model=FactorizationMachine(
        n_factors=8, loss="warp", n_epochs=3, random_state=0, n_threads=1))


@pytest.fixture(scope="module")
def fitted(log):
    return _rec().fit(log)


def test_folded_top_n_equals_brute_force(fitted):
    users = fitted.user_ids_[:5]
    rec = fitted.recommend(users, n=7)
    seen = fitted.seen_.toarray()
    for k, u in enumerate(users):
        Xq = fitted.builder_.user_rows([u])
        Xt = fitted.builder_.item_rows(fitted.item_ids_)
        full = (Xq[np.zeros(len(fitted.item_ids_), int)] + Xt).tocsr()
        s = fitted.model_.predict(full)
        s[seen[k] > 0] = -np.inf
        top = np.argsort(-s, kind="stable")[:7]
        got = rec[rec.user_id == u]
        assert list(got.item_id) == list(fitted.item_ids_[top])
        np.testing.assert_allclose(got.score, s[top], rtol=1e-4, atol=1e-4)


def test_a_new_user_from_a_history_scores_as_a_trained_user_with_it(log):
    rec = _rec(use_user_ids=False).fit(log)
    u = rec.user_ids_[3]
    own = log[log.user_id == u]
    hist = own.assign(user_id="new")
    a = rec.recommend([u], n=10)
    b = rec.recommend(["new"], n=10, history=hist)
    assert list(a.item_id) == list(b.item_id)
    np.testing.assert_allclose(a.score, b.score, rtol=1e-5)
    # the dict form, in time order, gives the same; the history's items are excluded
    order = own.sort_values("timestamp").item_id.tolist()
    c = rec.recommend(["new"], n=10, history={"new": order})
    np.testing.assert_allclose(c.score, b.score, rtol=1e-5)
    assert not set(c.item_id) & set(order)
    # with a user id column, the new user's query vector is its log rows folded
    rec2 = _rec().fit(log)
    d = rec2.recommend(["new"], n=5, history={"new": order}, exclude_seen=False)
    Xq = rec2.builder_.log_rows(["new"], history={"new": order})
    scores = rec2.score(["new"] * 5, d.item_id, history={"new": order})
    np.testing.assert_allclose(d.score, scores, rtol=1e-4, atol=1e-5)
    assert Xq.nnz == len(order) + 2


def test_empty_and_bad_histories(fitted):
    # an empty history ranks by the item side alone (biases and nothing else to pair with)
    r = fitted.recommend(["nobody"], n=5, history={"nobody": []})
    b = fitted.item_vectors_[:, -1]
    np.testing.assert_allclose(r.score, np.sort(b)[::-1][:5], rtol=1e-5)
    with pytest.raises(DataError, match="not in the catalogue: 9999"):
        fitted.recommend(["x"], history={"x": [100, 9999]})
    with pytest.raises(KeyError, match="not seen in training"):
        fitted.recommend(["y"], history={"x": [100]})


def test_history_ids_meet_the_models_as_written(fitted, log):
    u = int(fitted.user_ids_[3])
    own = log[log.user_id == u].sort_values("timestamp")
    items = own.item_id.tolist()
    a = fitted.recommend([u], n=6, history={u: items})
    b = fitted.recommend([str(u)], n=6, history={str(u): [str(i) for i in items]})
    pd.testing.assert_frame_equal(a.drop(columns="user_id"), b.drop(columns="user_id"))
    assert not set(b.item_id) & set(items)  # the history's items are excluded, as text too
    frame = own.astype({"user_id": str, "item_id": str})
    c = fitted.recommend([u], n=6, history=frame)
    pd.testing.assert_frame_equal(a, c)
    assert fitted.score([str(u)], [a.item_id.iloc[0]], history={str(u): items})[0] == \
        pytest.approx(a.score.iloc[0], rel=1e-5)
    with pytest.raises(DataError, match=f"history names user {u} twice"):
        fitted.recommend([u], history={u: items, str(u): items})
    # on a model with text ids, integer ids are their text
    text = _rec().fit(log.astype({"user_id": str, "item_id": str}))
    x = text.recommend([u], n=6, history={u: items})
    y = text.recommend([str(u)], n=6, history={str(u): [str(i) for i in items]})
    pd.testing.assert_frame_equal(x.drop(columns="user_id"), y.drop(columns="user_id"))


def test_explain_shows_history_item_pairs_and_sums_to_the_score(fitted, log):
    u = fitted.user_ids_[0]
    item = fitted.item_ids_[0]
    e = fitted.explain(u, item)
    assert e.attrs["score"] == pytest.approx(fitted.score([u], [item])[0], rel=1e-4, abs=1e-5)
    pairs = e[(e.kind == "query×item") & e.feature.str.startswith("history=")]
    assert len(pairs) == (log.user_id == u).sum()
    assert (pairs.other_feature == f"item_id={item}").all()


def test_save_load_and_partial_fit_keep_the_fields(fitted, log, tmp_path):
    fitted.save(tmp_path / "m")
    back = FMRecommender.load(tmp_path / "m")
    users = fitted.user_ids_[:4]
    pd.testing.assert_frame_equal(fitted.recommend(users), back.recommend(users))
    pd.testing.assert_frame_equal(fitted.recommend(["z"], history={"z": [101, 102]}),
                                  back.recommend(["z"], history={"z": [101, 102]}))


def test_libfm_export_writes_the_training_rows(fitted, log, tmp_path):
    d = fitted.builder_.transform(log)
    d.to_libfm(tmp_path / "t.libfm")
    lines = (tmp_path / "t.libfm").read_text().splitlines()
    first = dict(tok.split(":") for tok in lines[0].split()[1:])
    Q = d.query_rows([0])
    assert {int(c) for c in first} == set(Q.indices) | set(d.item_side_rows([0]).indices)
    hist_col = d.history_columns[d.sample_items[0]]
    assert str(hist_col) not in first


def test_training_users_vectors_are_folded_once_and_refreshed_by_a_new_fit(log):
    from recfm.ranking import fold, top_n

    rec = _rec(recent=False).fit(log)
    users = rec.user_ids_[[5, 0, 5, 17]]
    direct = rec.recommend(users, n=6)  # a few users: their rows folded, nothing cached
    assert rec._training_fold is None
    every = rec.recommend_all(n=6)  # every training user: folded once and kept
    assert rec._training_fold is not None
    got = rec.recommend(users, n=6)  # now served from the kept vectors
    pd.testing.assert_frame_equal(got, direct)
    Xq, known = rec.query_rows(users)
    U, _, c = fold(rec.model_, Xq, Xq[:0])
    idx, scores = top_n(U, rec.item_vectors_, 6, exclude=rec.seen_rows(known))
    assert list(got.item_id) == list(rec.item_ids_[idx.ravel()])
    np.testing.assert_allclose(got.score, (scores + c[:, None]).ravel(), rtol=1e-6)
    # a refit (another seed) is served with its own vectors, not the first fit's
    rec.model.set_params(random_state=1)
    rec.fit(log).recommend_all(n=6)
    again = rec.recommend(users, n=6)
    fresh = _rec(recent=False)
    fresh.model.set_params(random_state=1)
    pd.testing.assert_frame_equal(again, fresh.fit(log).recommend(users, n=6))
    assert not np.allclose(again.score, got.score)
    assert len(every) == 6 * len(rec.user_ids_)
