"""The implicit wrappers check their hyper-parameters before any work, as recfm's own models do."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm.evaluation import evaluate
from recfm.recommenders import ImplicitALS, ImplicitBPR, Popularity

from ._factories import checkerboard

BAD = [
    ("factors", 0, "factors must be a positive integer; got 0"),
    ("factors", 8.5, "factors must be a positive integer; got 8.5"),
    ("factors", "64", "factors must be a positive integer; got '64'"),
    ("factors", True, "factors must be a positive integer; got True"),
    ("iterations", 0, "iterations must be a positive integer; got 0"),
    ("regularization", -1.0, "regularization must be a non-negative finite number; got -1.0"),
    ("regularization", float("nan"), "regularization must be a non-negative finite number; got nan"),
    ("regularization", "0.1", "regularization must be a non-negative finite number; got '0.1'"),
    ("random_state", -3, "random_state must be a non-negative int; got -3"),
    ("random_state", "seed", "random_state must be None, an int, a numpy Generator"),
    ("n_threads", 0, "n_threads must be None (all cores) or a positive integer; got 0"),
]
ALS_ONLY = [
    ("alpha", 0.0, "alpha must be a positive finite number; got 0.0"),
    ("alpha", float("inf"), "alpha must be a positive finite number; got inf"),
]
BPR_ONLY = [
    ("learning_rate", -1, "learning_rate must be a positive finite number; got -1"),
    ("learning_rate", 0, "learning_rate must be a positive finite number; got 0"),
]
CASES = ([(ImplicitALS, *c) for c in BAD + ALS_ONLY] + [(ImplicitBPR, *c) for c in BAD + BPR_ONLY])


@pytest.fixture(scope="module")
def train():
    return checkerboard()[0]


@pytest.mark.parametrize(("cls", "param", "value", "message"), CASES,
                         ids=[f"{c.__name__}-{p}={v!r}" for c, p, v, _ in CASES])
def test_bad_hyper_parameters_are_named_before_any_work(cls, param, value, message, train, capfd):
    model = cls(**{param: value, "iterations": 2} if param != "iterations" else {param: value})
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model.fit(train)
    assert not hasattr(model, "model_") and not hasattr(model, "seen_")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model.check_resources(train)  # what evaluate asks of every model before fitting any
    assert capfd.readouterr().err == ""  # no BLAS error lines


def test_evaluate_refuses_a_bad_setting_before_fitting_any_model(train):
    test = checkerboard()[1]
    pop = Popularity()
    with pytest.raises(ValueError, match="factors must be a positive integer; got 0"):
        evaluate({"pop": pop, "als": ImplicitALS(factors=0)}, train, test, k=5)
    assert not hasattr(pop, "seen_")


@pytest.mark.parametrize("cls", [ImplicitALS, ImplicitBPR])
def test_valid_edge_settings_and_any_seed_kind_fit(cls, train):
    zero_penalty = cls(factors=2, iterations=1, regularization=0, n_threads=1).fit(train)
    assert np.isfinite(zero_penalty.model_.item_factors).all()
    a = cls(factors=4, iterations=2, n_threads=1, random_state=np.int64(7)).fit(train)
    b = cls(factors=4, iterations=2, n_threads=1, random_state=np.random.default_rng(7)).fit(train)
    np.testing.assert_array_equal(a.model_.item_factors, b.model_.item_factors)
    # a legacy RandomState seeds a Generator (implicit's own handling of it fails)
    legacy = cls(factors=4, iterations=2, n_threads=1,
                 random_state=np.random.RandomState(0)).fit(train)
    assert isinstance(legacy.recommend([0], n=3), pd.DataFrame)


def test_one_thread_bpr_is_reproducible(train):
    a = ImplicitBPR(factors=8, iterations=5, n_threads=1, random_state=3).fit(train)
    b = ImplicitBPR(factors=8, iterations=5, n_threads=1, random_state=3).fit(train)
    np.testing.assert_array_equal(a.model_.item_factors, b.model_.item_factors)


def test_checking_a_random_state_draws_nothing_from_it():
    import numpy as np

    from recfm.recommenders import ImplicitALS

    rs = np.random.RandomState(0)
    before = rs.get_state()[1].copy()
    model = ImplicitALS(random_state=rs)
    model.check_params()
    model.check_params()
    assert (rs.get_state()[1] == before).all() and rs.get_state()[2] == 624
