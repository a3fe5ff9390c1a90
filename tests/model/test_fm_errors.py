"""scikit-learn conventions and every bad-argument message of FactorizationMachine."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _designs import random_design

from recfm._utils import DataError
from recfm.model import FactorizationMachine


@pytest.fixture(scope="module")
def design():
    return random_design(0, n_users=20, n_items=15, n_pairs=120)


def test_init_only_stores_and_get_set_params_introspect_init():
    m = FactorizationMachine(loss="nonsense", n_factors=-3)  # no validation in __init__
    params = m.get_params()
    assert params["loss"] == "nonsense" and params["n_factors"] == -3
    assert set(params) == {
        "n_factors", "loss", "learning_rate", "learning_schedule", "reg_linear",
        "reg_factors", "n_epochs", "negatives", "n_negatives", "max_sampled", "init_std",
        "user_balance", "n_threads", "random_state", "verbose"}
    assert m.set_params(loss="warp", n_factors=8) is m
    assert m.get_params()["loss"] == "warp"
    with pytest.raises(ValueError, match="Invalid parameter 'bogus' for estimator "
                                         "FactorizationMachine"):
        m.set_params(bogus=1)
    assert "loss='warp'" in repr(m) and "n_factors=8" in repr(m)


def test_sklearn_clone_round_trip():
    base = pytest.importorskip("sklearn.base")
    m = FactorizationMachine(loss="warp", n_factors=12, random_state=3)
    c = base.clone(m)
    assert c.get_params() == m.get_params() and c is not m


@pytest.mark.parametrize("name,value,pattern", [
    ("loss", "bpt", r"loss must be one of 'bpr', 'warp', 'logistic', 'squared'; got 'bpt'"),
    ("learning_schedule", "adam", r"learning_schedule must be one of 'adagrad', 'sgd'; got 'adam'"),
    ("negatives", "pop", r"negatives must be one of 'uniform', 'popularity'; got 'pop'"),
    ("n_factors", 0, r"n_factors must be a positive integer; got 0"),
    ("n_factors", 2.5, r"n_factors must be a positive integer; got 2.5"),
    ("n_epochs", -1, r"n_epochs must be a positive integer; got -1"),
    ("n_negatives", True, r"n_negatives must be a positive integer; got True"),
    ("max_sampled", 0, r"max_sampled must be a positive integer; got 0"),
    ("learning_rate", 0.0, r"learning_rate must be a positive finite number; got 0.0"),
    ("learning_rate", float("nan"), r"learning_rate must be a positive finite number"),
    ("reg_linear", -0.1, r"reg_linear must be a non-negative finite number; got -0.1"),
    ("reg_factors", "big", r"reg_factors must be a non-negative finite number; got 'big'"),
    ("init_std", -1.0, r"init_std must be a non-negative finite number; got -1.0"),
    ("n_threads", 0, r"n_threads must be None \(all cores\) or a positive integer; got 0"),
    ("random_state", "seed", r"random_state must be None, a non-negative int, a numpy "
                             r"Generator or RandomState; got 'seed'"),
])
def test_bad_hyper_parameter_is_named_at_fit(design, name, value, pattern):
    kw = dict(n_epochs=1, n_threads=1)
    kw[name] = value
    m = FactorizationMachine(**kw)
    with pytest.raises(ValueError, match=pattern):
        m.fit(design)
    assert not hasattr(m, "V_")  # nothing learned before validation


def test_random_state_types_are_accepted(design):
    for rs in (None, 3, np.random.default_rng(1), np.random.RandomState(2)):
        m = FactorizationMachine(n_factors=4, n_epochs=1, n_threads=1, random_state=rs)
        assert np.isfinite(m.fit(design).V_).all()


def test_bad_fit_arguments(design):
    m = FactorizationMachine(n_factors=4, n_epochs=1, n_threads=1)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(n_samples,\) = "
                                         rf"\({design.n_samples},\); got \(3,\)"):
        m.fit(design, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must hold finite, non-negative"):
        m.fit(design, sample_weight=-np.ones(design.n_samples))
    with pytest.raises(ValueError, match="early_stopping needs a validation score"):
        m.fit(design, early_stopping=3)
    with pytest.raises(ValueError, match="early_stopping must be None or a positive integer"):
        m.fit(design, monitor=lambda model: {"score": 0.0}, early_stopping=0)
    with pytest.raises(ValueError, match="n_epochs must be a positive integer; got 0"):
        m.fit(design).partial_fit(design, n_epochs=0)


def test_bad_designs(design):
    m = FactorizationMachine(n_factors=4, n_epochs=1, n_threads=1)
    with pytest.raises(TypeError, match="design must be a recfm.features.Design"):
        m.fit("not a design")

    def broken(**changes):
        d = random_design(0, n_users=20, n_items=15, n_pairs=120)
        for k, v in changes.items():
            setattr(d, k, v)
        return d

    nf = design.n_features
    cases = [
        (dict(item_features=sp.csr_matrix((15, nf + 1), dtype=np.float32)),
         rf"item_features has {nf + 1} columns but design.user_features has {nf}"),
        (dict(user_features=np.zeros((20, nf))), "user_features must be a scipy sparse matrix"),
        (dict(interactions=sp.csr_matrix((20, 14))),
         r"interactions has shape \(20, 14\) but the design has 20 users and 15 items"),
        (dict(sample_users=np.zeros(0, np.int32), sample_items=np.zeros(0, np.int32),
              sample_values=np.zeros(0, np.float32)), "design has no samples"),
        (dict(sample_items=design.sample_items[:-1]), "must be 1-D and of equal length"),
        (dict(sample_users=design.sample_users + 20),
         r"sample_users holds rows outside \[0, 20\)"),
        (dict(sample_items=design.sample_items.astype(float)), "sample_items must hold integers"),
        (dict(sample_values=np.full(design.n_samples, np.nan, np.float32)),
         "sample_values holds non-finite values"),
        (dict(context=sp.csr_matrix((3, nf), dtype=np.float32)),
         rf"context has shape \(3, {nf}\); expected \(n_samples, n_features\)"),
    ]
    for changes, pattern in cases:
        with pytest.raises((DataError, ValueError), match=pattern):
            m.fit(broken(**changes))
    bad = random_design(0, n_users=20, n_items=15, n_pairs=120)
    bad.user_features = bad.user_features.copy()
    bad.user_features.data[0] = np.inf
    with pytest.raises(DataError, match="user_features holds non-finite values"):
        m.fit(bad)


def test_unsorted_or_coo_inputs_are_accepted(design):
    d = random_design(0, n_users=20, n_items=15, n_pairs=120)
    d.user_features = d.user_features.tocoo()
    inter = d.interactions.copy()
    inter.indices = inter.indices.copy()
    # reverse each row's indices: still the same matrix, unsorted
    for r in range(inter.shape[0]):
        a, b = inter.indptr[r], inter.indptr[r + 1]
        inter.indices[a:b] = inter.indices[a:b][::-1].copy()
    inter.has_sorted_indices = False
    d.interactions = inter
    kw = dict(n_factors=4, n_epochs=2, n_threads=1, random_state=0)
    a = FactorizationMachine(**kw).fit(d)
    b = FactorizationMachine(**kw).fit(design)
    np.testing.assert_array_equal(a.V_, b.V_)
