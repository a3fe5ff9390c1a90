"""FMRecommender: folding, top-N against brute force, cold start, context, explanations,
persistence and bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.datasets import load_sample
from recfm.evaluation import evaluate
from recfm.features import Categorical, FeatureBuilder, MultiValued, Numeric
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender, Popularity
from recfm.split import cold_start_split, random_split


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _builder(context: bool = False) -> FeatureBuilder:
    return FeatureBuilder(
        user_features=[Numeric("age", bins=[0, 25, 35, 50, 120]), "gender", "occupation"],
        item_features=[MultiValued("genres")],
        context_features=[Categorical("hour"), "platform"] if context else (),
    )


def _fm(loss: str = "warp", epochs: int = 5) -> FactorizationMachine:
    return FactorizationMachine(n_factors=16, loss=loss, n_epochs=epochs, n_threads=1, random_state=0)


@pytest.fixture(scope="module")
def fitted(sample):
    rec = FMRecommender(builder=_builder(context=True), model=_fm())
    return rec.fit(sample.interactions, users=sample.users, items=sample.items)


def _brute_force_scores(rec: FMRecommender, user_id, context=None, users=None) -> np.ndarray:
    """predict() on the full FM row of (user, item) for every catalogue item."""
    Xq, _ = rec.query_rows([user_id], users=users, context=context)
    Xt = rec.builder_.item_rows(rec.item_ids_)
    rows = sp.vstack([Xq] * Xt.shape[0]) + Xt
    return rec.model_.predict(rows.tocsr())


def test_recommend_equals_brute_force_argsort_of_predict(fitted):
    ctx = pd.DataFrame({"hour": [22], "platform": ["ios"]})
    for user in fitted.user_ids_[:5]:
        scores = _brute_force_scores(fitted, user, context=ctx)
        expected = np.lexsort((np.arange(len(scores)), -scores))[:10]
        recs = fitted.recommend([user], n=10, exclude_seen=False, context=ctx)
        assert recs.item_id.tolist() == fitted.item_ids_[expected].tolist()
        np.testing.assert_allclose(recs.score, scores[expected], rtol=1e-4, atol=1e-4)


def test_seen_items_excluded_and_scores_are_fm_scores(fitted, sample):
    user = fitted.user_ids_[0]
    seen = set(sample.interactions.loc[sample.interactions.user_id == user, "item_id"])
    recs = fitted.recommend([user], n=20)
    assert not seen & set(recs.item_id)
    direct = fitted.score([user] * len(recs), recs.item_id)
    np.testing.assert_allclose(recs.score, direct, rtol=1e-4, atol=1e-4)


def test_candidates_restrict_the_ranking(fitted):
    items = fitted.item_ids_[[3, 7, 11, 19]]
    recs = fitted.recommend([fitted.user_ids_[1]], n=10, exclude_seen=False, items=items)
    assert sorted(recs.item_id) == sorted(items)


def test_cold_start_users_from_attributes(fitted, sample):
    new_users = sample.users.head(3).assign(user_id=[90001, 90002, 90003])
    recs = fitted.recommend(new_users.user_id, n=5, users=new_users)
    assert recs.groupby("user_id").size().tolist() == [5, 5, 5]
    scores = _brute_force_scores(fitted, 90001, users=new_users)
    top = fitted.item_ids_[np.lexsort((np.arange(len(scores)), -scores))[:5]]
    assert recs[recs.user_id == 90001].item_id.tolist() == top.tolist()
    with pytest.raises(KeyError, match="not seen in training.*90001.*users="):
        fitted.recommend([90001], n=5)


def test_ids_only_model_cannot_serve_new_users(sample):
    rec = FMRecommender(model=_fm(epochs=1)).fit(sample.interactions)
    assert rec.supports_cold_start is False
    with pytest.raises(KeyError, match="cannot serve new users"):
        rec.recommend([424242])


def test_new_items_enter_the_ranking_without_retraining(fitted, sample):
    new_items = pd.DataFrame(
        {"item_id": [50001, 50002], "title": ["a", "b"], "year": [2001, 2002],
         "genres": [["Horror"], ["Comedy", "Drama"]]}
    )
    rec = FMRecommender(builder=_builder(), model=_fm(epochs=2)).fit(
        sample.interactions, users=sample.users, items=sample.items
    )
    n_before = len(rec.item_ids_)
    rec.add_items(new_items)
    assert len(rec.item_ids_) == n_before + 2
    recs = rec.recommend(rec.user_ids_[:50], n=len(rec.item_ids_), exclude_seen=False)
    assert {50001, 50002} <= set(recs.item_id)
    Xq, _ = rec.query_rows([rec.user_ids_[0]])
    Xt = rec.builder_.item_rows([50001], items=new_items)
    expected = rec.model_.predict((Xq + Xt).tocsr())[0]
    got = recs[(recs.user_id == rec.user_ids_[0]) & (recs.item_id == 50001)].score.iloc[0]
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-4)
    with pytest.raises(DataError, match="already in the catalogue"):
        rec.add_items(new_items)


def test_add_items_refuses_ids_of_another_kind_and_keeps_the_catalogue_dtype(sample):
    rec = FMRecommender(builder=_builder(), model=_fm(epochs=1)).fit(
        sample.interactions, users=sample.users, items=sample.items)
    n = len(rec.item_ids_)
    for bad, kind in (("5003", "text"), (5004.0, "float")):
        frame = pd.DataFrame({"item_id": [bad], "genres": [["Comedy"]]})
        with pytest.raises(DataError, match=rf"items column 'item_id' has {kind} ids \(dtype "
                                            r".*\) but the fitted ids are integer"):
            rec.add_items(frame)
    assert len(rec.item_ids_) == n and rec.item_ids_.dtype == np.int64
    assert rec.item_vectors_.shape[0] == rec.seen_.shape[1] == n
    rec.add_items(pd.DataFrame({"item_id": np.array([5003], np.int32), "genres": [["Comedy"]]}))
    assert rec.item_ids_.dtype == np.int64
    recs = rec.recommend(rec.user_ids_[:3], n=n + 1, items=list(rec.item_ids_), exclude_seen=False)
    assert recs.item_id.dtype == np.int64 and 5003 in set(recs.item_id)
    # an added item is scored and explained from the attributes add_items kept
    row = recs[recs.item_id == 5003].iloc[0]
    assert rec.score([row.user_id], [5003])[0] == pytest.approx(row.score, rel=1e-5, abs=1e-5)
    assert rec.explain(row.user_id, 5003).attrs["score"] == pytest.approx(row.score, abs=1e-4)


def test_request_ids_meet_the_models_as_written(sample):
    rec = FMRecommender(builder=_builder(), model=_fm(epochs=1)).fit(
        sample.interactions, users=sample.users, items=sample.items)
    a = rec.recommend([1, 2, 3], n=5)
    b = rec.recommend(["1", "2", "3"], n=5)
    # the model's ids come back, as from every other recommender, whatever the request held
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, rec.recommend(["1", 2, np.int32(3)], n=5))
    pd.testing.assert_frame_equal(a.iloc[5:], rec.recommend((u for u in [2, 3]), n=5)
                                  .reset_index(drop=True).set_axis(a.index[5:]))
    assert sorted(set(rec.recommend({1, 2}, n=1).user_id)) == [1, 2]
    rec.recommend_all(n=1)  # the kept training users' vectors answer text ids too
    pd.testing.assert_frame_equal(b, rec.recommend(["1", "2", "3"], n=5))
    item = a.item_id.iloc[0]
    assert rec.score(["1"], [item])[0] == rec.score([1], [item])[0]
    assert rec.explain("1", item).attrs["score"] == rec.explain(1, item).attrs["score"]
    assert rec.similar_users(["1"], n=3).similar_user_id.tolist() == \
        rec.similar_users([1], n=3).similar_user_id.tolist()
    with pytest.raises(KeyError, match="not seen in training, e.g. '007'"):
        rec.recommend(["007"])  # no integer id is written 007: a new user
    # a users frame's text ids meet the request's integer ones (cold start)
    new = sample.users.head(2).assign(user_id=[9001, 9002])
    c = rec.recommend([9001, 9002], n=5, users=new)
    pd.testing.assert_frame_equal(c, rec.recommend([9001, 9002], n=5,
                                                   users=new.assign(user_id=["9001", "9002"])))
    assert rec.score(["9001"], [item], users=new)[0] == rec.score([9001], [item], users=new)[0]
    # an items frame's text id meets explain's integer item id
    extra = pd.DataFrame({"item_id": [7001], "genres": [["Comedy"]]})
    assert rec.explain(1, 7001, items=extra.assign(item_id=["7001"])).attrs["score"] == \
        rec.explain(1, 7001, items=extra).attrs["score"]
    # on a model with text ids, the integer 5 is the id '5'
    log = sample.interactions.astype({"user_id": str})
    text = FMRecommender(model=_fm(epochs=1)).fit(log)
    pd.testing.assert_frame_equal(text.recommend([5, 6], n=4).drop(columns="user_id"),
                                  text.recommend(["5", "6"], n=4).drop(columns="user_id"))


def test_context_changes_the_ranking(fitted):
    user = fitted.user_ids_[2]
    night = fitted.recommend([user], n=10, context=pd.DataFrame({"hour": [23], "platform": ["ios"]}))
    day = fitted.recommend([user], n=10, context=pd.DataFrame({"hour": [11], "platform": ["web"]}))
    assert not np.allclose(night.score.to_numpy(), day.score.to_numpy())
    with pytest.raises(DataError, match="platform"):
        fitted.recommend([user], context=pd.DataFrame({"hour": [3]}))
    with pytest.raises(DataError, match="context has 2 rows"):
        fitted.recommend([user], context=pd.DataFrame({"hour": [3, 4], "platform": ["ios", "web"]}))


def test_explain_terms_sum_to_the_score(fitted):
    ctx = pd.DataFrame({"hour": [21], "platform": ["android"]})
    user = fitted.user_ids_[4]
    item = fitted.recommend([user], n=1, context=ctx).item_id.iloc[0]
    terms = fitted.explain(user, item, context=ctx)
    score = fitted.score([user], [item], context=ctx)[0]
    assert terms.value.sum() == pytest.approx(score, rel=1e-4, abs=1e-4)
    assert terms.attrs["score"] == pytest.approx(score, rel=1e-4, abs=1e-4)
    assert (np.diff(terms.value.abs().to_numpy()) <= 1e-12).all()
    kinds = set(terms.kind)
    assert {"bias", "query", "item", "query×item"} <= kinds
    qi = terms[terms.kind == "query×item"]
    assert qi.feature.str.startswith(("user_id=", "age=", "gender=", "occupation=", "hour=",
                                      "platform=")).all()
    assert qi.other_feature.str.startswith(("item_id=", "genres=")).all()


def test_save_load_round_trip_and_refusals(fitted, tmp_path):
    path = tmp_path / "model"
    fitted.save(path)
    loaded = FMRecommender.load(path)
    ctx = pd.DataFrame({"hour": [9], "platform": ["web"]})
    users = fitted.user_ids_[:20]
    pd.testing.assert_frame_equal(
        fitted.recommend(users, n=7, context=ctx), loaded.recommend(users, n=7, context=ctx)
    )
    assert loaded.explain(users[0], fitted.item_ids_[0], context=ctx).value.sum() == pytest.approx(
        fitted.explain(users[0], fitted.item_ids_[0], context=ctx).value.sum(), rel=1e-6
    )
    before = (path / "recfm.json").read_bytes()
    with pytest.raises(FileExistsError, match="holds a saved model; pass overwrite=True"):
        fitted.save(path)
    assert (path / "recfm.json").read_bytes() == before
    fitted.save(path, overwrite=True)
    # a directory that is not a model is never replaced, even with overwrite=True
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(FileExistsError, match="not a saved recfm model"):
        fitted.save(other, overwrite=True)
    assert (other / "cat.jpg").read_bytes() == b"meow"


def test_load_rejects_newer_and_corrupt_files(fitted, tmp_path):
    path = tmp_path / "model"
    fitted.save(path)
    meta = json.loads((path / "recfm.json").read_text())
    meta["version"] = 99
    (path / "recfm.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format version 99, newer than this recfm reads"):
        FMRecommender.load(path)
    (path / "recfm.json").write_text("{not json")
    with pytest.raises(ValueError, match="recfm.json is corrupt"):
        FMRecommender.load(path)
    fitted.save(tmp_path / "m2")
    arrays_file = json.loads((tmp_path / "m2" / "recfm.json").read_text())["arrays_file"]
    (tmp_path / "m2" / arrays_file).write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ValueError, match="arrays-[0-9a-f]+.npz is not a valid npz file"):
        FMRecommender.load(tmp_path / "m2")
    with pytest.raises(FileNotFoundError, match="is not a saved recfm model"):
        FMRecommender.load(tmp_path / "nowhere")


def test_loaded_model_can_keep_training(fitted, tmp_path, sample):
    fitted.save(tmp_path / "m")
    loaded = FMRecommender.load(tmp_path / "m")
    design = loaded.builder_.transform(sample.interactions.head(500), sample.users, sample.items)
    before = loaded.model_.V_.copy()
    loaded.model_.partial_fit(design)
    assert loaded.model_.V_.shape == fitted.model_.V_.shape
    assert not np.array_equal(loaded.model_.V_, before)  # training went on from the saved state
    np.testing.assert_array_equal(fitted.model_.V_, before)  # the original is untouched


def test_bad_recommend_input(fitted):
    with pytest.raises(ValueError, match="n must be a positive integer; got 0"):
        fitted.recommend([fitted.user_ids_[0]], n=0)
    with pytest.raises(KeyError, match="in items= are not in the catalogue.*999999"):
        fitted.recommend([fitted.user_ids_[0]], items=[fitted.item_ids_[0], 999999])
    # the argument at fault is named: explain and score take no items=
    user = fitted.user_ids_[0]
    with pytest.raises(KeyError, match="in item_id are not in the catalogue.*'nope'"):
        fitted.explain(user, "nope", context=pd.DataFrame({"hour": [3], "platform": ["ios"]}))
    with pytest.raises(KeyError, match="in item_ids are not in the catalogue.*999999"):
        fitted.score([user], [999999], context=pd.DataFrame({"hour": [3], "platform": ["ios"]}))
    with pytest.raises(KeyError, match="not seen in training"):
        fitted.recommend([-5])


def test_cold_start_evaluation_skips_ids_only_models_and_beats_popularity():
    from recfm.datasets import make_synthetic

    data = make_synthetic(n_users=1500, n_items=600, seed=3, context=False)
    train, test = cold_start_split(data.interactions, test_users=0.2, seed=0)
    models = {
        "pop": Popularity(),
        "fm": FMRecommender(model=_fm(epochs=2)),
        "fm-features": FMRecommender(
            builder="auto", model=FactorizationMachine(n_factors=32, loss="warp", n_epochs=15,
                                                       n_threads=1, random_state=0)
        ),
    }

    result = evaluate(models, train, test, k=(10,), users=data.users, items=data.items, cold_start=True)
    table = result.table
    assert table.loc["fm", "skipped"]  # reported, not scored zero
    assert np.isnan(table.loc["fm", "ndcg@10"])
    assert table.loc["fm-features", "ndcg@10"] > 1.1 * table.loc["pop", "ndcg@10"]


def test_warm_split_fm_beats_popularity(sample):
    train, test = random_split(sample.interactions, test_size=0.2, seed=0)
    result = evaluate(
        {"pop": Popularity(), "fm": FMRecommender(model=_fm(epochs=10))}, train, test, k=(10,)
    )
    assert result.table.loc["fm", "ndcg@10"] > result.table.loc["pop", "ndcg@10"]


def test_similar_items_and_users_by_cosine(fitted):
    items = fitted.item_ids_[:3]
    sim = fitted.similar_items(items, n=5)
    assert list(sim.columns) == ["item_id", "similar_item_id", "rank", "score"]
    E = fitted.item_vectors_[:, :-1].astype(np.float64)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    cos = E[:3] @ E.T
    cos[np.arange(3), np.arange(3)] = -np.inf
    for q in range(3):
        expected = fitted.item_ids_[np.argsort(-cos[q], kind="stable")[:5]]
        assert sim[sim.item_id == items[q]].similar_item_id.tolist() == expected.tolist()
    users = fitted.similar_users(fitted.user_ids_[:2], n=3)
    assert users.groupby("user_id").size().tolist() == [3, 3]
    assert not (users.user_id == users.similar_user_id).any()
    with pytest.raises(KeyError, match="in item_ids are not in the catalogue"):
        fitted.similar_items([123456789])


def test_subclassed_model_and_builder_are_the_ones_fitted(sample):
    """fit works on fresh copies of ``model`` and ``builder``; a user's subclass (an override
    of a hook) must survive the copy, not fall back to its base class."""
    calls = []

    class LoggedFM(FactorizationMachine):
        def fit(self, *args, **kwargs):
            calls.append("fm")
            return super().fit(*args, **kwargs)

    class LoggedBuilder(FeatureBuilder):
        def fit(self, *args, **kwargs):
            calls.append("builder")
            return super().fit(*args, **kwargs)

    rec = FMRecommender(builder=LoggedBuilder(), model=LoggedFM(n_factors=4, n_epochs=1,
                                                                 n_threads=1, random_state=0))
    rec.fit(sample.interactions)
    assert type(rec.model_) is LoggedFM and type(rec.builder_) is LoggedBuilder
    assert rec.model_ is not rec.model and rec.builder_ is not rec.builder
    assert calls.count("fm") == 1 and calls.count("builder") == 1
