"""evaluate() with fake recommenders: metric values, timings, cold start, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.evaluation import EvaluationResult, evaluate, metric_columns, paired_test
from recfm.evaluation.metrics import METRICS, metrics_from_frames
from recfm.split import cold_start_split

from .conftest import FakeColdRecommender, FakeRecommender, make_split


def brute(recs_df, test_df, k):
    """Mean NDCG@k and P@k with a per-user loop (definitions of the metrics module)."""
    ndcg, prec = [], []
    for u, grp in test_df.groupby("user_id"):
        T = set(grp["item_id"])
        ranked = recs_df[recs_df.user_id == u].sort_values("rank")["item_id"].tolist()[:k]
        rel = [int(i in T) for i in ranked]
        dcg = sum(r / np.log2(p + 2) for p, r in enumerate(rel))
        idcg = sum(1 / np.log2(p + 2) for p in range(min(k, len(T))))
        ndcg.append(dcg / idcg)
        prec.append(sum(rel) / k)
    return np.mean(ndcg), np.mean(prec)


def test_evaluate_metrics_match_direct_computation(split):
    train, test = split
    models = {"a": FakeRecommender(seed=0), "b": FakeRecommender(seed=1, noise=0.0)}
    result = evaluate(models, train, test, k=(5, 10))
    assert isinstance(result, EvaluationResult)
    t = result.table
    assert list(t.index) == ["a", "b"] and t.index.name == "model"
    assert list(t.columns) == metric_columns((5, 10)) + [
        "fit_s", "recommend_s", "n_users_evaluated", "skipped"
    ]
    n_items = len(set(train.item_id) | set(test.item_id))
    assert result.n_items == n_items and result.k == (5, 10)
    for name, model in models.items():
        assert model.fit_calls == 1
        assert model.recommend_calls == [dict(n=10, exclude_seen=True)]
        recs = result.recommendations[name]
        assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
        summary, per_user = metrics_from_frames(recs, test, (5, 10), n_items=n_items)
        for col in metric_columns((5, 10)):
            assert t.loc[name, col] == pytest.approx(summary[col], abs=1e-12)
        pd.testing.assert_frame_equal(result.per_user[name], per_user)
        ndcg, prec = brute(recs, test, 10)
        assert t.loc[name, "ndcg@10"] == pytest.approx(ndcg, abs=1e-12)
        assert t.loc[name, "precision@10"] == pytest.approx(prec, abs=1e-12)
        assert t.loc[name, "fit_s"] >= 0 and t.loc[name, "recommend_s"] >= 0
        assert t.loc[name, "n_users_evaluated"] == test.user_id.nunique()
        assert t.loc[name, "skipped"] is None
        assert list(result.per_user[name].index) == sorted(test.user_id.unique())
    # popularity-only fake beats the noisy one on this popularity-driven data
    assert t.loc["b", "ndcg@10"] > t.loc["a", "ndcg@10"]


def test_evaluate_int_k_and_exclude_seen_false(split):
    train, test = split
    m = FakeRecommender()
    result = evaluate({"m": m}, train, test, k=3, exclude_seen=False)
    assert m.recommend_calls == [dict(n=3, exclude_seen=False)]
    assert "ndcg@3" in result.table.columns


def test_evaluate_unknown_test_items_noted():
    train, test = make_split()
    test = test.copy()
    test.loc[test.index[0], "item_id"] = 99999  # never in train
    result = evaluate({"m": FakeRecommender()}, train, test, k=5)
    assert any("absent from train" in n for n in result.notes)


def test_cold_start_skips_models_that_cannot_serve_new_users(split):
    train, test = split
    df = pd.concat([train, test], ignore_index=True)
    train, test = cold_start_split(df, test_users=0.2, seed=0)
    users = pd.DataFrame({"user_id": sorted(df.user_id.unique()), "age": 30})
    warm, cold = FakeRecommender(), FakeColdRecommender()
    result = evaluate(
        {"warm": warm, "cold": cold}, train, test, k=5, users=users, cold_start=True
    )
    t = result.table
    assert warm.fit_calls == 0  # not fitted, not scored
    assert "supports_cold_start" in t.loc["warm", "skipped"]
    assert t.loc["warm", metric_columns((5,))].isna().all()
    assert "warm" not in result.per_user and "warm" not in result.recommendations
    assert any("'warm'" in n and "not scored" in n for n in result.notes)
    assert t.loc["cold", "skipped"] is None
    assert t.loc["cold", "n_users_evaluated"] == test.user_id.nunique()
    assert cold.users_at_recommend is users  # attributes reach recommend in cold start
    assert cold.users_frame is users  # and fit
    with pytest.raises(ValueError, match="skipped"):
        paired_test(result, "warm", "cold", "ndcg@5")


def test_paired_test(split):
    train, test = split
    result = evaluate(
        {"a": FakeRecommender(seed=0), "b": FakeRecommender(seed=1, noise=0.0),
         "c": FakeRecommender(seed=0)},
        train, test, k=10,
    )
    p = paired_test(result, "a", "b", "ndcg@10")
    assert 0.0 <= p <= 1.0
    pw = paired_test(result, "a", "b", "ndcg@10", method="wilcoxon")
    assert 0.0 <= pw <= 1.0
    assert paired_test(result, "a", "c", "ndcg@10") == 1.0  # identical models
    with pytest.raises(ValueError, match="metric"):
        paired_test(result, "a", "b", "ndcg@7")
    with pytest.raises(ValueError, match="method"):
        paired_test(result, "a", "b", method="anova")
    with pytest.raises(ValueError, match="'zz'"):
        paired_test(result, "a", "zz")


# ------------------------------------------------------------- bad input before fit
def _bad_cases(train, test):
    nan_test = test.astype({"user_id": float})
    nan_test.loc[nan_test.index[0], "user_id"] = np.nan
    absent = test.copy()
    absent.loc[absent.index[0], "user_id"] = -5
    leak = pd.concat([test, train.iloc[:1]], ignore_index=True)
    return [
        (dict(k=0), ValueError, "k must"),
        (dict(k=(10, -1)), ValueError, "k must"),
        (dict(k="10"), ValueError, "k must"),
        (dict(k=2.0), ValueError, "k must"),
        (dict(train=train.iloc[:0]), DataError, "train is empty"),
        (dict(test=test.iloc[:0]), DataError, "test is empty"),
        (dict(train=train.drop(columns="item_id")), DataError, "item_id"),
        (dict(test=nan_test), DataError, "user_id"),
        (dict(test=absent), DataError, r"1 user\(s\) absent from train \(e.g. user_id -5\)"),
        (dict(test=leak), DataError, "both train and test"),
        (dict(users=pd.DataFrame({"age": [1]})), DataError, "user_id"),
        (dict(items=pd.DataFrame({"title": ["x"]})), DataError, "item_id"),
    ]


@pytest.mark.parametrize("case", range(12))
def test_bad_input_raises_before_fit(split, case):
    train, test = split
    overrides, exc, match = _bad_cases(train, test)[case]
    model = FakeRecommender()
    kwargs = dict(train=train, test=test, k=10)
    kwargs.update(overrides)
    with pytest.raises(exc, match=match):
        evaluate({"m": model}, **kwargs)
    assert model.fit_calls == 0


def test_bad_models(split):
    train, test = split
    with pytest.raises(ValueError, match="models"):
        evaluate({}, train, test)
    with pytest.raises(ValueError, match="models"):
        evaluate([FakeRecommender()], train, test)
    with pytest.raises(TypeError, match="'x'.*recommend"):
        evaluate({"x": object()}, train, test)


def test_bad_recommendations_frame(split):
    train, test = split

    class NoScore(FakeRecommender):
        def recommend(self, user_ids, n=10, exclude_seen=True):
            return super().recommend(user_ids, n, exclude_seen).drop(columns="score")

    class Stranger(FakeRecommender):
        def recommend(self, user_ids, n=10, exclude_seen=True):
            df = super().recommend(user_ids, n, exclude_seen)
            df.loc[0, "item_id"] = 424242
            return df

    with pytest.raises(DataError, match=r"'noscore'.*score"):
        evaluate({"noscore": NoScore()}, train, test)
    with pytest.raises(DataError, match="424242"):
        evaluate({"stranger": Stranger()}, train, test)


def test_items_frame_extends_catalogue(split):
    train, test = split
    n = len(set(train.item_id) | set(test.item_id))
    items = pd.DataFrame({"item_id": np.arange(1, 1001)})
    result = evaluate({"m": FakeRecommender()}, train, test, k=5, items=items)
    assert result.n_items == len(set(items.item_id) | set(train.item_id) | set(test.item_id))
    assert result.n_items > n


def test_metric_names_constant():
    assert METRICS == ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")


def test_string_ids(split):
    train, test = (
        f.assign(user_id="u" + f.user_id.astype(str), item_id="i" + f.item_id.astype(str))
        for f in split
    )
    result = evaluate({"m": FakeRecommender(noise=0.0)}, train, test, k=5)
    summary, per_user = metrics_from_frames(
        result.recommendations["m"], test, 5, n_items=result.n_items
    )
    for col in metric_columns((5,)):
        assert result.table.loc["m", col] == pytest.approx(summary[col], abs=1e-12)
    assert result.per_user["m"].index[0].startswith("u")
    assert result.table.loc["m", "ndcg@5"] > 0
