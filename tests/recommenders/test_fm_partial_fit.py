"""FMRecommender.partial_fit: more epochs on new interactions, growth with new users, items
and feature values, and every query (recommend, score, explain, similar_items) on the
trained parameters; a model changed outside it is refolded before it ranks."""
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


def test_more_epochs_on_known_users_and_items(sample):
    first, rest = _halves(sample)
    rec = _rec().fit(first, users=sample.users, items=sample.items)
    before = rec.recommend(rec.user_ids_[:20], n=10)
    n_epochs = rec.model_.n_epochs_
    assert rec.partial_fit(rest, n_epochs=2) is rec
    assert rec.model_.n_epochs_ == n_epochs + 2
    assert len(rec.model_.history_["loss"]) == n_epochs + 2
    assert rec.seen_.shape == (len(rec.user_ids_), len(rec.item_ids_))
    after = _check_agreement(rec, rec.user_ids_[:20])
    assert not np.allclose(after.score, before.score)
    # the new interactions are seen: never recommended back
    pairs = set(zip(rest.user_id, rest.item_id, strict=True))
    every = rec.recommend_all(n=20)
    assert not pairs & set(zip(every.user_id, every.item_id, strict=True))
    r = rec.user_ids_.get_indexer(rest.user_id)
    c = rec.item_ids_.get_indexer(rest.item_id)
    assert (np.asarray(rec.seen_[r, c]).ravel() == 1).all()


def test_new_users_items_and_values_grow_the_model(sample):
    log, users, items = sample.interactions, sample.users, sample.items
    old_users = users.user_id.iloc[:250]
    old_items = items.item_id.iloc[:350]
    first = log[log.user_id.isin(old_users) & log.item_id.isin(old_items)]
    rest = log[~log.index.isin(first.index)]
    # a new occupation and a new genre arrive with the new users and items
    new_users = users[~users.user_id.isin(old_users)].assign(occupation="astronaut")
    new_items = items[~items.item_id.isin(old_items)].copy()
    new_items["genres"] = [list(g) + ["Space"] for g in new_items.genres]
    rec = _rec().fit(first, users=users[users.user_id.isin(old_users)],
                     items=items[items.item_id.isin(old_items)])
    n_features = rec.model_.n_features_
    rec.partial_fit(rest, users=new_users, items=new_items, n_epochs=2)
    assert set(rec.user_ids_) == set(users.user_id) and set(rec.item_ids_) == set(items.item_id)
    assert rec.user_ids_.dtype == np.int64 and rec.item_ids_.dtype == np.int64
    names = rec.builder_.feature_names()
    assert {"occupation=astronaut", "genres=Space"} <= set(names)
    assert rec.model_.n_features_ == len(names) > n_features
    assert rec.item_vectors_.shape == (len(rec.item_ids_), 9)
    newcomer = new_users.user_id.iloc[0]
    recs = _check_agreement(rec, [newcomer, old_users.iloc[0]])
    assert (recs.user_id == newcomer).sum() == 10  # served without users=: now a known user
    seen = set(rest.item_id[rest.user_id == newcomer])
    assert not seen & set(recs.item_id[recs.user_id == newcomer])


def test_min_rating_low_ratings_are_excluded_not_trained(sample):
    first, rest = _halves(sample)
    rec = _rec(min_rating=4).fit(first, users=sample.users, items=sample.items)
    low = rest[rest.rating < 4]
    high = rest[rest.rating >= 4]
    rec.partial_fit(rest, n_epochs=1)
    for frame, matrix in ((low, rec.rated_below_), (high, rec.seen_)):
        r = rec.user_ids_.get_indexer(frame.user_id)
        c = rec.item_ids_.get_indexer(frame.item_id)
        assert (np.asarray(matrix[r, c]).ravel() == 1).all()
    every = rec.recommend_all(n=30)
    assert not set(zip(low.user_id, low.item_id, strict=True)) & set(
        zip(every.user_id, every.item_id, strict=True))
    _check_agreement(rec, rec.user_ids_[:10])
    with pytest.raises(DataError, match="no interaction with rating >= min_rating=4"):
        rec.partial_fit(low)


def test_history_field_sees_the_new_interactions(sample):
    first, rest = _halves(sample)
    rec = _rec(history=True).fit(first, users=sample.users, items=sample.items)
    rec.recommend_all(n=5)  # folds and keeps every training user's vector
    user = rest.user_id.iloc[0]
    n_before = rec.builder_.user_rows([user]).nnz
    rec.partial_fit(rest, n_epochs=1)
    n_new = int((rest.user_id == user).sum())
    assert rec.builder_.user_rows([user]).nnz == n_before + n_new
    _check_agreement(rec, rec.user_ids_[:10])
    every = rec.recommend_all(n=10)  # the kept vectors were refolded with the new histories
    _check_agreement(rec, rec.user_ids_)
    idx, scores = _fresh_scores(rec, rec.user_ids_, 10)
    np.testing.assert_allclose(every.score, scores.ravel(), rtol=1e-5, atol=1e-5)


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
                                        r"FMRecommender.partial_fit"):
        rec.recommend(rec.user_ids_[:3])


def test_save_load_after_partial_fit_and_added_items(sample, tmp_path):
    first, rest = _halves(sample)
    first, rest = first[first.item_id <= 390], rest[rest.item_id <= 390]
    items = sample.items
    rec = _rec().fit(first, users=sample.users, items=items[items.item_id <= 390])
    added = items[items.item_id > 390]
    rec.add_items(added)
    # interactions with two added items make them trained items; the others stay added
    promoted = [391, 392]
    extra = pd.DataFrame({"user_id": rec.user_ids_[:4], "item_id": [391, 392, 391, 392],
                          "rating": 5.0})
    rec.partial_fit(pd.concat([rest, extra], ignore_index=True), n_epochs=1)
    assert set(promoted) <= set(rec.builder_.item_index_)
    assert set(rec.item_ids_) == set(items.item_id)
    assert rec.item_ids_[len(rec.builder_.item_index_):].tolist() == list(range(393, 401))
    recs = _check_agreement(rec, rec.user_ids_[:10], n=len(rec.item_ids_))
    assert set(range(391, 401)) <= set(recs.item_id)
    # score and explain reach the added items from their kept attributes
    row = recs[recs.item_id == 395].iloc[0]
    assert rec.explain(row.user_id, 395).attrs["score"] == pytest.approx(row.score, abs=1e-4)
    rec.save(tmp_path / "m")
    back = FMRecommender.load(tmp_path / "m")
    users = rec.user_ids_[:20]
    pd.testing.assert_frame_equal(rec.recommend(users, n=15), back.recommend(users, n=15))
    np.testing.assert_array_equal(rec.seen_.toarray(), back.seen_.toarray())
    # and it trains on from there like the original
    more = rest.head(300)
    rec.partial_fit(more, n_epochs=1)
    back.partial_fit(more, n_epochs=1)
    _check_agreement(back, users)
    assert len(back.model_.history_["loss"]) == len(rec.model_.history_["loss"])


def test_bad_input_is_refused_before_any_work(sample):
    first, rest = _halves(sample)
    rec = _rec().fit(first, users=sample.users, items=sample.items)
    V, seen = rec.model_.V_.copy(), rec.seen_.copy()
    with pytest.raises(ValueError, match="n_epochs must be a positive integer; got 0"):
        rec.partial_fit(rest, n_epochs=0)
    with pytest.raises(DataError, match=r"interactions column 'item_id' has text ids .* but the "
                                        r"fitted ids are integer"):
        rec.partial_fit(rest.assign(item_id=rest.item_id.astype(str)))
    with pytest.raises(DataError, match=r"users column 'user_id' has float ids"):
        rec.partial_fit(rest, users=sample.users.assign(user_id=sample.users.user_id + 0.0))

    def explode(epoch, model, metrics):
        raise RuntimeError("stop here")

    n_users, names = len(rec.user_ids_), rec.builder_.feature_names()
    newcomers = pd.DataFrame({"user_id": [5000, 5001], "item_id": rest.item_id.iloc[:2],
                              "rating": 5.0})
    new_users = sample.users.head(2).assign(user_id=[5000, 5001], occupation="astronaut")
    with pytest.raises(RuntimeError, match="stop here"):
        rec.partial_fit(pd.concat([rest, newcomers]), users=new_users, callback=explode)
    # a failed partial_fit leaves the recommender as it was
    np.testing.assert_array_equal(rec.model_.V_, V)
    assert (rec.seen_ != seen).nnz == 0 and len(rec.user_ids_) == n_users
    assert rec.builder_.feature_names() == names
    _check_agreement(rec, rec.user_ids_[:5])


def test_a_model_fitted_from_matrices_trains_on_but_cannot_grow():
    rng = np.random.default_rng(0)
    X = sp.random(40, 30, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    item_features = sp.random(30, 4, density=0.5, format="csr", random_state=rng)
    rec = FMRecommender(model=FactorizationMachine(n_factors=4, n_epochs=2, n_threads=1,
                                                    random_state=0))
    rec.fit(X, item_features=item_features, item_ids=[f"i{j}" for j in range(30)])
    more = sp.random(40, 30, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    rec.partial_fit(more, n_epochs=1)
    pairs = more.tocoo()
    assert (np.asarray(rec.seen_[pairs.row, pairs.col]).ravel() == 1).all()
    recs = rec.recommend([0, 1, 2], n=5)
    np.testing.assert_allclose(recs.score, rec.score(recs.user_id, recs.item_id), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(DataError, match=r"interactions has shape \(41, 30\) but the model"):
        rec.partial_fit(sp.random(41, 30, density=0.1, format="csr", random_state=rng))
    with pytest.raises(DataError, match="cannot grow.*user id 77"):
        rec.partial_fit(pd.DataFrame({"user_id": [77], "item_id": ["i1"]}))


def test_items_added_before_their_attributes_were_saved(sample, tmp_path):
    """A folder saved by a recfm that did not keep the added items' attributes still ranks
    them; training on, which must fold them again, is refused before any work."""
    import json

    items = sample.items
    first = sample.interactions[sample.interactions.item_id <= 390]
    rec = _rec(epochs=1).fit(first, users=sample.users, items=items[items.item_id <= 390])
    rec.add_items(items[items.item_id > 390]).save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "recfm.json").read_text())
    del meta["state"]["added_items"]
    (tmp_path / "m" / "recfm.json").write_text(json.dumps(meta))
    old = FMRecommender.load(tmp_path / "m")
    users = rec.user_ids_[:5]
    pd.testing.assert_frame_equal(old.recommend(users), rec.recommend(users))
    V = old.model_.V_.copy()
    with pytest.raises(DataError, match="10 item.s. of this model were added by add_items in a "
                                        "recfm that did not save their attributes"):
        old.partial_fit(first.head(50))
    np.testing.assert_array_equal(old.model_.V_, V)
    with pytest.raises(DataError, match="pass them through items= of explain"):
        old.score([users[0]], [395])
    row = items[items.item_id == 395]
    assert old.explain(users[0], 395, items=row).attrs["score"] == pytest.approx(
        rec.explain(users[0], 395).attrs["score"], rel=1e-5)


def test_item_vectors_are_refolded_once_per_change_never_per_query(sample):
    first, rest = _halves(sample)
    rec = _rec(epochs=1).fit(first, users=sample.users, items=sample.items)
    vectors = rec._item_vectors
    for _ in range(3):
        rec.recommend([1, 2], n=5)
        rec.recommend_all(n=2)
        rec.similar_items([first.item_id.iloc[0]], n=2)
    assert rec._item_vectors is vectors  # the same array: nothing refolded
    rec.partial_fit(rest, n_epochs=1)
    refolded = rec._item_vectors
    assert refolded is not vectors
    rec.recommend([1, 2], n=5)
    assert rec._item_vectors is refolded
    rec.model_.partial_fit(rec.builder_.transform(rest), n_epochs=1)  # a change behind its back
    rec.recommend([1], n=5)
    again = rec._item_vectors
    assert again is not refolded
    rec.recommend([1], n=5)
    assert rec._item_vectors is again
