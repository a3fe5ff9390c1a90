"""FMRecommender.fit with validation, early stopping and callbacks; nested parameters."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm.datasets import load_sample
from recfm.metrics import metrics_from_frames
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender
from recfm.split import random_split


@pytest.fixture(scope="module")
def split():
    data = load_sample()
    train, test = random_split(data.interactions, test_size=0.2, seed=0)
    return train, test


def _fm(epochs: int, **kw) -> FactorizationMachine:
    params = dict(n_factors=8, loss="warp", n_epochs=epochs, n_threads=1, random_state=0,
                  learning_rate=0.1)
    params.update(kw)
    return FactorizationMachine(**params)


def _pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


def test_early_stopping_keeps_the_best_epoch_of_a_fixed_epoch_run(split):
    train, _ = split
    fit_part, val = random_split(train, test_size=0.1, seed=1)
    es = FMRecommender(model=_fm(40)).fit(fit_part, validation=val, early_stopping=2)
    h = es.history_["ndcg@10"]
    best = es.model_.best_epoch_
    # the watched score is the mean of the last 3 epochs' (validation_window=3)
    window = np.array([np.mean(h[max(0, e - 2):e + 1]) for e in range(len(h))])
    assert best == int(np.argmax(window)) and len(h) in (best + 3, 40)
    assert window[best] > window[:best].max(initial=-1) and window[best] >= window[best + 1:].max()
    # a run stopped at the best epoch (one thread, same seed) has the same parameters
    fixed = FMRecommender(model=_fm(best + 1)).fit(fit_part, validation=val)
    np.testing.assert_array_equal(es.model_.V_, fixed.model_.V_)
    np.testing.assert_array_equal(es.model_.w_, fixed.model_.w_)
    assert fixed.history_["ndcg@10"] == h[: best + 1]


def test_validation_window_1_watches_the_raw_scores(split):
    train, _ = split
    fit_part, val = random_split(train, test_size=0.1, seed=1)
    raw = FMRecommender(model=_fm(40), validation_window=1).fit(fit_part, validation=val,
                                                                 early_stopping=2)
    h = raw.history_["ndcg@10"]
    assert raw.model_.best_epoch_ == int(np.argmax(h)) and len(h) in (raw.model_.best_epoch_ + 3, 40)
    with pytest.raises(ValueError, match="validation_window must be a positive integer"):
        FMRecommender(model=_fm(2), validation_window=0).fit(fit_part, validation=val,
                                                              early_stopping=2)


def test_validation_summary_names_the_kept_epoch(split):
    train, _ = split
    carved = FMRecommender(model=_fm(30)).fit(train, validation=0.2, early_stopping=2)
    best = carved.model_.best_epoch_
    line = carved.validation_summary()
    assert f"{carved.history_['ndcg@10'][best]:.4f} at epoch {best + 1} of " in line
    assert f"n_epochs={best + 1}" in line  # the carved rows were not trained on
    fit_part, val = random_split(train, test_size=0.1, seed=1)
    given = FMRecommender(model=_fm(2)).fit(fit_part, validation=val).validation_summary()
    assert "epoch" in given and "n_epochs=" not in given  # a given frame was never train's
    assert FMRecommender(model=_fm(1)).fit(train).validation_summary() == ""


def test_validation_metric_is_the_evaluation_metric(split):
    train, _ = split
    fit_part, val = random_split(train, test_size=0.1, seed=1)
    rec = FMRecommender(model=_fm(3), validation_users=None).fit(fit_part, validation=val)
    recs = rec.recommend(pd.unique(val["user_id"]), n=10)
    summary, _ = metrics_from_frames(recs, val, 10)
    assert rec.history_["ndcg@10"][-1] == pytest.approx(summary["ndcg@10"], abs=1e-9)


def test_validation_fraction_is_carved_from_train_and_not_trained_on(split):
    train, _ = split
    rec = FMRecommender(model=_fm(2)).fit(train, validation=0.1)
    val = rec.validation_
    assert len(val) > 0 and _pairs(val) <= _pairs(train)
    seen = rec.seen_.tocoo()
    trained = set(zip(rec.user_ids_[seen.row], rec.item_ids_[seen.col], strict=True))
    assert not trained & _pairs(val)
    # exactly the complement of the seeded per-user carve
    expected_train, expected_val = random_split(train, test_size=0.1, seed=0)
    assert trained == _pairs(expected_train)
    assert _pairs(val) <= _pairs(expected_val)
    assert len(rec.history_["ndcg@10"]) == 2


def test_validation_users_are_sampled(split):
    train, _ = split
    rec = FMRecommender(model=_fm(1), validation_users=50, validation_metric="recall@5")
    rec.fit(train, validation=0.2)
    assert list(rec.history_) == ["loss", "recall@5"]


def test_callback_sees_metrics_and_stops(split):
    train, _ = split
    seen = []

    def callback(epoch, model, metrics):
        seen.append((epoch, round(metrics["ndcg@10"], 12)))
        return epoch < 1

    rec = FMRecommender(model=_fm(10)).fit(train, validation=0.1, callback=callback)
    assert [e for e, _ in seen] == [0, 1]
    assert [v for _, v in seen] == [round(x, 12) for x in rec.history_["ndcg@10"]]


def test_validation_bad_input(split):
    train, test = split
    rec = FMRecommender(model=_fm(1))
    with pytest.raises(ValueError, match="early_stopping needs validation"):
        rec.fit(train, early_stopping=2)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        rec.fit(train, validation=1.5)
    with pytest.raises(ValueError, match="validation must be a DataFrame"):
        rec.fit(train, validation="0.1")
    with pytest.raises(ValueError, match="appear in both train and validation"):
        rec.fit(train, validation=train.iloc[:5])
    with pytest.raises(ValueError, match="validation_metric must be name@k"):
        FMRecommender(model=_fm(1), validation_metric="auc").fit(train, validation=test)


def test_nested_params_and_clone():
    from sklearn.base import clone

    rec = FMRecommender(model=FactorizationMachine(n_factors=8), builder=None)
    params = rec.get_params(deep=True)
    assert params["model__n_factors"] == 8 and "builder__use_user_ids" in params
    assert "model__n_factors" not in rec.get_params(deep=False)
    assert rec.set_params(model__learning_rate=0.2, block_size=64) is rec
    assert rec.model.learning_rate == 0.2 and rec.block_size == 64
    c = clone(rec)
    assert c is not rec and c.model is not rec.model
    assert c.get_params(deep=True).keys() == params.keys()
    assert c.model.get_params() == rec.model.get_params()
    # model=None stands for the default FM: its parameters nest and can be set
    bare = FMRecommender()
    assert bare.get_params()["model__n_factors"] == FactorizationMachine().n_factors
    bare.set_params(model__n_factors=4)
    assert isinstance(bare.model, FactorizationMachine) and bare.model.n_factors == 4
    with pytest.raises(ValueError, match="its 'builder' is 'auto', not an estimator"):
        FMRecommender(builder="auto").set_params(builder__normalize=True)
    with pytest.raises(ValueError, match="Invalid parameter 'modle'"):
        bare.set_params(modle__n_factors=3)
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        bare.set_params(model__bogus=3)
