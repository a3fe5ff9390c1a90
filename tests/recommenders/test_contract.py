"""The contract every recommender keeps, run on each of them the same way."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError, NotFittedError
from recfm.recommenders import (
    ImplicitALS,
    ImplicitBPR,
    Popularity,
    make_recommender,
    model_names,
    parse_model_names,
)

from ._factories import PERSONALISED, PLAIN, checkerboard


def all_factories():
    return {name: (lambda name=name: make_recommender(name, seed=0, n_threads=1)) for name in model_names()}


@pytest.fixture(scope="module")
def board():
    return checkerboard()


@pytest.fixture(scope="module")
def fitted(board):
    """Every named model, fitted once on the checkerboard, for the tests that only query."""
    train, _ = board
    return {name: make_recommender(name, seed=0, n_threads=1).fit(train) for name in model_names()}


def _pairs(frame: pd.DataFrame) -> set[tuple]:
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


@pytest.mark.parametrize("name", model_names())
def test_recommend_frame_shape_and_ranks(name, board):
    train, _ = board
    model = make_recommender(name, seed=0, n_threads=1).fit(train)
    recs = model.recommend([0, 1, 2], n=5)
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert len(recs) == 15
    for _, grp in recs.groupby("user_id"):
        assert grp["rank"].tolist() == [1, 2, 3, 4, 5]
        assert (np.diff(grp["score"].to_numpy()) <= 1e-6).all()


@pytest.mark.parametrize("name", model_names())
def test_seen_items_are_excluded(name, board):
    train, _ = board
    model = make_recommender(name, seed=0, n_threads=1).fit(train)
    recs = model.recommend_all(n=10)
    seen = set(zip(train.user_id, train.item_id, strict=True))
    assert not any((u, i) in seen for u, i in zip(recs.user_id, recs.item_id, strict=True))
    with_seen = model.recommend([0], n=30, exclude_seen=False)
    assert any((0, i) in seen for i in with_seen.item_id)


@pytest.mark.parametrize("name", model_names())
def test_n_above_the_unseen_items_gives_only_unseen_items(name, board):
    # implicit pads such lists with filtered (seen) items scored -FLT_MAX
    train, _ = board
    model = make_recommender(name, seed=0, n_threads=1).fit(train)
    recs = model.recommend_all(n=len(model.item_ids_))
    seen = set(zip(train.user_id, train.item_id, strict=True))
    assert not any((u, i) in seen for u, i in zip(recs.user_id, recs.item_id, strict=True))
    per_user = train.groupby("user_id").size()
    got = recs.groupby("user_id").size().reindex(per_user.index, fill_value=0)
    assert (got == len(model.item_ids_) - per_user).all()


@pytest.mark.parametrize("name", model_names())
def test_batch_equals_single(name, board):
    train, _ = board
    model = make_recommender(name, seed=0, n_threads=1).fit(train)
    batch = model.recommend([3, 4, 5], n=4)
    for u in (3, 4, 5):
        single = model.recommend([u], n=4)
        expected = batch[batch.user_id == u].reset_index(drop=True)
        assert single["item_id"].tolist() == expected["item_id"].tolist()
        np.testing.assert_allclose(single["score"], expected["score"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", model_names())
def test_not_fitted_and_unknown_user(name, board):
    train, _ = board
    model = make_recommender(name, seed=0, n_threads=1)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.recommend([0])
    model.fit(train)
    if model.supports_cold_start:
        assert len(model.recommend([0, 12345], n=3)) == 6
    else:
        with pytest.raises(KeyError, match="not seen in training.*12345"):
            model.recommend([0, 12345])
    with pytest.raises(ValueError, match="n must be a positive integer; got 0"):
        model.recommend([0], n=0)


@pytest.mark.parametrize("name", model_names())
def test_bad_training_frames_fail_before_work(name):
    model = make_recommender(name, seed=0, n_threads=1)
    with pytest.raises(DataError, match=r"missing column\(s\) \['item_id'\]"):
        model.fit(pd.DataFrame({"user_id": [1, 2]}))
    with pytest.raises(DataError, match="empty"):
        model.fit(pd.DataFrame({"user_id": [], "item_id": []}))
    with pytest.raises(DataError, match="column 'user_id' has 1 missing"):
        model.fit(pd.DataFrame({"user_id": [1, None], "item_id": [1, 2]}))
    assert not hasattr(model, "seen_")


@pytest.mark.parametrize("name", model_names())
def test_resource_check_passes_small_data_and_fits_nothing(name, board):
    """``check_resources`` (what ``evaluate`` asks of every model before fitting any) is
    there for every model, accepts data that fits and does no fitting itself."""
    train, _ = board
    model = make_recommender(name, seed=0, n_threads=1)
    assert model.check_resources(train) is None
    assert not hasattr(model, "seen_")


@pytest.mark.parametrize("name", PERSONALISED)
def test_checkerboard_top1_is_withheld_item(name, board):
    train, held_out = board
    model = make_recommender(name, seed=0, n_threads=1).fit(train)
    top1 = model.recommend(held_out.user_id.to_numpy(), n=1)
    hits = (top1.set_index("user_id")["item_id"] % 2 == held_out.set_index("user_id")["item_id"] % 2)
    # Every personalised model must at least learn the parity structure. WARP's default
    # regularisation (tuned for MovieLens) treats the one withheld liked item as a hard
    # negative on this tiny board, so it gets a lower floor; random parity would be 0.5.
    assert hits.mean() >= (0.8 if name == "fm-warp" else 0.95)


@pytest.mark.parametrize("name", PERSONALISED)
def test_seeded_runs_are_reproducible(name, board):
    train, _ = board
    a = make_recommender(name, seed=3, n_threads=1).fit(train).recommend_all(n=5)
    b = make_recommender(name, seed=3, n_threads=1).fit(train).recommend_all(n=5)
    pd.testing.assert_frame_equal(a, b)


def test_popularity_orders_by_count():
    train = pd.DataFrame({"user_id": [1, 2, 3, 1, 2, 1], "item_id": [10, 10, 10, 20, 20, 30]})
    recs = Popularity().fit(train).recommend([4 - 1], n=3, exclude_seen=False)
    assert recs.item_id.tolist() == [10, 20, 30]
    assert recs.score.tolist() == [3.0, 2.0, 1.0]
    # user 3 saw item 10 only: it is excluded and the rest keep their order
    assert Popularity().fit(train).recommend([3], n=3).item_id.tolist() == [20, 30]


def test_min_rating_selects_positives():
    train = pd.DataFrame(
        {"user_id": [1, 2, 3, 1], "item_id": [10, 10, 20, 20], "rating": [1.0, 2.0, 5.0, 5.0]}
    )
    model = Popularity(min_rating=4).fit(train)
    assert list(model.item_ids_) == [20]
    with pytest.raises(DataError, match="no interaction with rating >= min_rating=6"):
        Popularity(min_rating=6).fit(train)


def test_duplicate_pairs_count_once():
    train = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [10, 10, 10, 20]})
    model = Popularity().fit(train)
    assert model.seen_.nnz == 2
    assert model.seen_.data.tolist() == [1.0, 1.0]


def test_parse_model_names():
    assert parse_model_names("pop, als") == ["pop", "als"]
    assert parse_model_names("all") == model_names()
    with pytest.raises(ValueError, match="unknown model 'svd'; choose from"):
        parse_model_names("pop,svd")


def test_implicit_params_pass_through():
    als = ImplicitALS(factors=8, iterations=2, regularization=0.3, alpha=4.0, n_threads=1)
    assert als.get_params()["alpha"] == 4.0
    train, _ = checkerboard()
    als.fit(train)
    assert als.model_.factors == 8 and als.model_.regularization == 0.3
    bpr = ImplicitBPR(factors=8, iterations=2, learning_rate=0.02, n_threads=1).fit(train)
    assert bpr.model_.learning_rate == 0.02


# --------------------------------------------------------------------------------------------
# items= (candidates) and the keywords recommend takes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", model_names())
def test_items_ranks_only_the_candidates_as_the_full_ranking_does(name, fitted, board):
    train, _ = board
    model = fitted[name]
    users, cands, n = [0, 1, 2], [3, 4, 10, 11, 12, 29], 3
    got = model.recommend(users, n=n, items=cands)
    full = model.recommend(users, n=len(model.item_ids_))
    seen = _pairs(train)
    for u in users:
        mine = got[got.user_id == u]
        assert set(mine.item_id) <= set(cands)
        assert not any((u, i) in seen for i in mine.item_id)  # exclusions still apply
        ref = full[(full.user_id == u) & full.item_id.isin(cands)].head(n)
        assert len(mine) == len(ref) and mine["rank"].tolist() == list(range(1, len(ref) + 1))
        # the full ranking's best candidates, ties aside (equal scores may swap)
        np.testing.assert_allclose(mine.score, ref.score, rtol=1e-4, atol=1e-6)
    everything = model.recommend([0], n=30, exclude_seen=False, items=cands + [3])
    assert sorted(everything.item_id) == cands  # a repeated candidate is ranked once


@pytest.mark.parametrize("name", model_names())
def test_an_unknown_candidate_is_a_key_error_naming_it(name, fitted):
    with pytest.raises(KeyError, match=r"1 item id\(s\) in items= are not in the catalogue, "
                                       r"e.g. 12345"):
        fitted[name].recommend([0], items=[3, 12345])
    with pytest.raises(KeyError, match=r"e.g. '007'; the model's item ids are integers"):
        fitted[name].recommend([0], items=["3", "007"])  # '3' is item 3, '007' is not 7


@pytest.mark.parametrize("name", model_names())
def test_a_misspelt_keyword_is_a_type_error_naming_it(name, fitted):
    with pytest.raises(TypeError, match=r"recommend\(\) got an unexpected keyword argument 'itemz'"):
        fitted[name].recommend([0], itemz=[3])


@pytest.mark.parametrize("name", PLAIN)
def test_users_is_accepted_and_ignored_other_options_are_refused(name, fitted):
    """``users=`` is what evaluate's cold-start protocol passes to every model taking it;
    options that change what a list means (context, a request's history) are refused by a
    model that does not use them."""
    model = fitted[name]
    attrs = pd.DataFrame({"user_id": [0, 1], "age": [30, 40]})
    pd.testing.assert_frame_equal(model.recommend([0, 1], n=4, users=attrs),
                                  model.recommend([0, 1], n=4))
    refused = ["context"] + (["history"] if name in ("pop", "als", "bpr") else [])
    for option in refused:
        with pytest.raises(TypeError, match=rf"{type(model).__name__}.recommend\(\) got an "
                                            rf"unexpected keyword argument '{option}'"):
            model.recommend([0], **{option: pd.DataFrame({"user_id": [0], "item_id": [1]})})


def test_popularity_is_scored_in_the_cold_start_protocol_with_user_attributes(board):
    from recfm.evaluation import evaluate
    from recfm.split import cold_start_split

    train, _ = board
    fit_part, test = cold_start_split(train, test_users=0.2, seed=0)
    users = pd.DataFrame({"user_id": np.arange(100), "parity": np.arange(100) % 2})
    result = evaluate({"pop": Popularity()}, fit_part, test, k=5, users=users, cold_start=True)
    assert result.table.loc["pop", "n_users_evaluated"] == 20


# --------------------------------------------------------------------------------------------
# ids: matched by their text, as the CLI matches them; any collection of them
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PLAIN)
def test_integer_ids_written_as_text_are_those_integers(name, fitted):
    model = fitted[name]
    want = model.recommend([1, 2], n=3, items=[3, 5, 7, 9, 11])
    got = model.recommend(["1", "2"], n=3, items=["3", "5", "7", "9", "11"])
    pd.testing.assert_frame_equal(got, want)  # user_id echoes the model's ids: integers
    assert got["user_id"].dtype == np.int64
    for other, why in (("007", "is text not written as an integer is"), (1.5, "is a float")):
        if model.supports_cold_start:  # a new user, as '007' is not user 7
            assert model.recommend([other], n=2)["user_id"].tolist() == [other] * 2
            continue
        with pytest.raises(KeyError, match=rf"e.g. {other!r}.*the model's user ids are "
                                           rf"integers \({other!r} {why}"):
            model.recommend([1, other])


@pytest.mark.parametrize("name", PLAIN)
def test_integers_asked_of_a_model_with_text_ids_are_their_text(name, board):
    train, _ = board
    text = train.assign(user_id=train.user_id.astype(str).replace({"7": "007"}),
                        item_id=train.item_id.astype(str))
    model = make_recommender(name, seed=0, n_threads=1).fit(text)
    want = model.recommend(["5", "007"], n=2, items=["3", "4", "10"])
    got = model.recommend([5, "007"], n=2, items=[3, 4, 10])
    pd.testing.assert_frame_equal(got, want)
    assert got["user_id"].tolist() == ["5"] * 2 + ["007"] * 2
    if not model.supports_cold_start:
        with pytest.raises(KeyError, match=r"e.g. '7'; .* cannot recommend") as info:
            model.recommend([7])  # '7' is not '007', and both are text: no kind to blame
        assert "ids are" not in str(info.value)
        with pytest.raises(KeyError, match=r"the model's user ids are text \(2.5 is a float\)"):
            model.recommend([2.5])
    with pytest.raises(KeyError, match=r"the model's item ids are text \(3.5 is a float\)"):
        model.recommend(["5"], items=[3.5])


@pytest.mark.parametrize("name", PLAIN)
def test_any_collection_of_ids_is_accepted(name, fitted):
    model = fitted[name]
    want = model.recommend([4, 9], n=2, items=[3, 5, 8])
    kinds = [set, tuple, lambda v: (x for x in v), np.array, pd.Series, pd.Index,
             lambda v: [str(x) for x in v], lambda v: [str(v[0]), *v[1:]]]
    for ids in kinds:
        for items in kinds:
            # a set is in its own order
            got = model.recommend(ids([4, 9]), n=2, items=items([3, 5, 8]))
            pd.testing.assert_frame_equal(got.sort_values(["user_id", "rank"], ignore_index=True),
                                          want)
    single = model.recommend(4, n=2)
    pd.testing.assert_frame_equal(single, model.recommend([4], n=2))
    with pytest.raises(TypeError, match="user_ids must be ids, not a DataFrame"):
        model.recommend(pd.DataFrame({"user_id": [4]}))
    with pytest.raises(ValueError, match=r"user_ids must be one id .* shape \(2, 1\)"):
        model.recommend(np.array([[4], [9]]))


# --------------------------------------------------------------------------------------------
# ratings: checked alike by every model
# --------------------------------------------------------------------------------------------
def _rated(ratings) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [1, 2, 3, 1], "item_id": [1, 2, 3, 2],
                         "rating": ratings, "timestamp": [1, 2, 3, 4]})


@pytest.mark.parametrize("name", model_names())
def test_a_missing_rating_is_refused_alike_by_every_model(name):
    model = make_recommender(name, seed=0, n_threads=1)
    with pytest.raises(DataError, match=r"^train column 'rating' has 1 missing \(NaN\) value\(s\), "
                                        r"first at row 1$"):
        model.fit(_rated([5.0, np.nan, 4.0, 3.0]))
    assert not hasattr(model, "seen_")


@pytest.mark.parametrize("name", model_names())
def test_min_rating_on_text_ratings_names_the_column_and_a_value(name):
    model = make_recommender(name, seed=0, n_threads=1).set_params(min_rating=4)
    with pytest.raises(DataError, match=r"^train column 'rating' must hold numbers to compare "
                                        r"with min_rating=4; it holds 'good' at row 2$"):
        model.fit(_rated(pd.Series([5.0, 4.0, "good", "4"], dtype=object)))
    with pytest.raises(DataError, match=r"it holds '5' at row 0$"):
        model.fit(_rated(["5", "4", "1", "4"]))
    with pytest.raises(ValueError, match="min_rating must be None or a number; got '4'"):
        model.set_params(min_rating="4").fit(_rated([5.0, 4.0, 1.0, 4.0]))
    assert not hasattr(model, "seen_")


@pytest.mark.parametrize("name", ["pop", "als", "ease", "itemknn", "fm"])
def test_object_columns_of_python_ints_are_integer_ids(name, board):
    # frames from JSON, SQL or dtype=object hold Python ints in object columns: a request
    # of ints (or of their text) meets them, with its seen items excluded
    train, _ = board
    ints = make_recommender(name, seed=0, n_threads=1).fit(train)
    objects = make_recommender(name, seed=0, n_threads=1).fit(
        train.astype({"user_id": object, "item_id": object}))
    assert objects.user_ids_.dtype == object
    want = ints.recommend([1, 2], n=3, items=[3, 5, 7, 9, 11])
    for request in ([1, 2], np.array([1, 2]), ["1", "2"]):
        got = objects.recommend(request, n=3, items=[3, 5, 7, 9, 11])
        assert got["user_id"].tolist() == want["user_id"].tolist()
        assert got["item_id"].tolist() == want["item_id"].tolist()
    seen = set(train.loc[train.user_id == 1, "item_id"])
    assert not seen & set(objects.recommend([1], n=10)["item_id"])
