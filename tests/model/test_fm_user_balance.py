"""``user_balance``: each sample weighted by its user's number of samples to the power
``-user_balance``, rescaled to the same total, must train exactly as those sample weights
given by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _designs import design_from_pairs, random_design

from recfm._utils import numba_thread_count
from recfm.features import FeatureBuilder, History
from recfm.model import FactorizationMachine
from recfm.model import _kernels as K


def reference_weights(users: np.ndarray, balance: float, sw: np.ndarray | None = None
                      ) -> np.ndarray:
    """The weights written out user by user (the definition, no vectorised counting)."""
    base = np.ones(len(users)) if sw is None else np.asarray(sw, float)
    w = np.empty(len(users))
    for s, u in enumerate(users):
        w[s] = base[s] * float(sum(1 for v in users if v == u)) ** -balance
    return (w * base.sum() / w.sum()).astype(np.float32)


def assert_same_fit(a: FactorizationMachine, b: FactorizationMachine) -> None:
    np.testing.assert_array_equal(a.V_, b.V_)
    np.testing.assert_array_equal(a.w_, b.w_)
    assert a.w0_ == b.w0_


def assert_balance_is_its_weights(d, balance: float, **kw) -> None:
    """Fitting ``d`` with ``user_balance=balance`` gives the parameters of fitting it with
    :func:`reference_weights`, and not those of the unweighted fit."""
    balanced = FactorizationMachine(user_balance=balance, **kw).fit(d)
    by_hand = FactorizationMachine(**kw).fit(
        d, sample_weight=reference_weights(d.sample_users, balance))
    np.testing.assert_allclose(balanced.V_, by_hand.V_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(balanced.w_, by_hand.w_, rtol=0, atol=1e-6)
    assert not np.allclose(balanced.V_, FactorizationMachine(**kw).fit(d).V_)


def test_two_users_hand_computed():
    """User 0 has one sample and user 1 three: balance 1 weighs them 2 and 2/3 each (each
    user half of the total weight of 4)."""
    d = design_from_pairs([0, 1, 1, 1], [0, 1, 2, 3], 2, 5)
    kw = dict(n_factors=4, loss="bpr", n_epochs=3, n_threads=1, random_state=3)
    balanced = FactorizationMachine(user_balance=1.0, **kw).fit(d)
    by_hand = FactorizationMachine(**kw).fit(d, sample_weight=[2, 2 / 3, 2 / 3, 2 / 3])
    assert_same_fit(balanced, by_hand)
    plain = FactorizationMachine(**kw).fit(d)
    assert not np.array_equal(balanced.V_, plain.V_)


@pytest.mark.parametrize("loss", ["bpr", "warp", "logistic", "squared"])
@pytest.mark.parametrize("balance", [0.5, 1.0])
def test_equals_the_sample_weights_it_stands_for(loss, balance):
    d = random_design(4, n_users=25, n_items=30, n_pairs=300, n_item_attrs=3,
                      ratings=loss == "squared")
    assert_balance_is_its_weights(d, balance, n_factors=6, loss=loss, n_epochs=3, n_threads=1,
                                  random_state=1)


def test_multiplies_given_sample_weights_and_partial_fit():
    d = random_design(5, n_users=20, n_items=25, n_pairs=250)
    sw = np.random.default_rng(0).uniform(0.2, 2.0, d.n_samples)
    kw = dict(n_factors=5, loss="warp", n_epochs=2, n_threads=1, random_state=2)
    balanced = FactorizationMachine(user_balance=0.7, **kw).fit(d, sample_weight=sw)
    by_hand = FactorizationMachine(**kw).fit(
        d, sample_weight=reference_weights(d.sample_users, 0.7, sw))
    np.testing.assert_allclose(balanced.V_, by_hand.V_, rtol=0, atol=1e-6)
    balanced.partial_fit(d, n_epochs=1)
    by_hand.partial_fit(d, sample_weight=reference_weights(d.sample_users, 0.7), n_epochs=1)
    np.testing.assert_allclose(balanced.V_, by_hand.V_, rtol=0, atol=1e-6)


def test_zero_is_the_unweighted_fit():
    d = random_design(6)
    kw = dict(n_factors=4, n_epochs=2, n_threads=1, random_state=0)
    assert_same_fit(FactorizationMachine(user_balance=0.0, **kw).fit(d),
                    FactorizationMachine(**kw).fit(d))


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "1", True])
def test_bad_value_is_named(bad):
    with pytest.raises(ValueError, match="user_balance"):
        FactorizationMachine(user_balance=bad).check_params()


def test_history_visits_take_the_same_weights():
    """A History field trains in user visits (another kernel): balance still equals the
    hand-written weights."""
    rng = np.random.default_rng(0)
    users = np.concatenate([np.zeros(14, int), rng.integers(1, 10, 40)])
    df = pd.DataFrame({"user_id": users, "item_id": rng.integers(0, 20, len(users))})
    df = df.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)
    d = FeatureBuilder(user_features=[History()]).fit_transform(df)
    assert_balance_is_its_weights(d, 1.0, n_factors=4, loss="warp", n_epochs=2, n_threads=1,
                                  random_state=5)


def test_ids_only_bpr_in_item_blocks_takes_the_same_weights(monkeypatch):
    """Ids-only BPR on two threads trains in item blocks (its own kernel, reproducible for
    a thread count): balance still equals the hand-written weights there."""
    if numba_thread_count(2) < 2:
        pytest.skip("item blocks need two threads; this machine runs one")
    used = []
    block_epoch = K.visits_bpr_block_epoch
    monkeypatch.setattr(K, "visits_bpr_block_epoch", lambda *a: used.append(1) or block_epoch(*a))
    rng = np.random.default_rng(1)
    users = np.concatenate([np.zeros(60, int), rng.integers(1, 40, 400)])
    items = np.concatenate([rng.choice(160, 60, replace=False), rng.integers(0, 160, 400)])
    key = np.unique(users * 160 + items)
    d = design_from_pairs(key // 160, key % 160, 40, 160)
    assert_balance_is_its_weights(d, 1.0, n_factors=4, loss="bpr", n_epochs=2, n_threads=2,
                                  random_state=4)
    assert used, "the item-block kernel did not run"
