"""Training behaviour: loss goes down, determinism, growth by partial_fit, monitored
validation, early stopping and callbacks, divergence and the negative sampler."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _designs import (
    design_from_pairs,
    held_out_beat_random,
    planted_groups,
    random_design,
    random_pairs,
)

from recfm.model import DivergenceError, FactorizationMachine
from recfm.model import _kernels as K

LOSSES = ["bpr", "warp", "logistic", "squared"]


def small_design(loss, seed=0, **kw):
    params = dict(n_users=60, n_items=40, n_pairs=900, n_user_attrs=3, n_item_attrs=4,
                  n_context=2, ratings=loss == "squared")
    params.update(kw)
    return random_design(seed, **params)


@pytest.mark.parametrize("loss", LOSSES)
def test_training_lowers_the_loss(loss):
    d = small_design(loss)
    m = FactorizationMachine(n_factors=8, loss=loss, n_epochs=15, n_threads=1, random_state=0)
    m.fit(d)
    h = m.history_["loss"]
    assert len(h) == 15 and np.isfinite(h).all()
    assert np.mean(h[-3:]) < 0.95 * h[0] and h[-1] < h[0], h
    assert m.V_.dtype == np.float32 and m.V_.flags.c_contiguous
    assert m.w_.dtype == np.float32 and m.w_.shape == (d.n_features,)
    assert isinstance(m.w0_, float)
    assert m.grad_sq_V_.shape == m.V_.shape and (m.grad_sq_V_ >= 1).all()


@pytest.mark.parametrize("loss", ["bpr", "warp", "logistic"])
def test_training_ranks_held_out_items(loss):
    """On data whose preferences follow latent groups, held-out items beat random ones."""
    d, users, items, rng = planted_groups(0)
    m = FactorizationMachine(n_factors=8, loss=loss, n_epochs=20, n_threads=1, random_state=1)
    m.fit(d)
    assert held_out_beat_random(m, d, users, items, rng) > 0.8


@pytest.mark.parametrize("loss", LOSSES)
def test_serial_training_is_bit_identical_for_a_seed(loss):
    d = small_design(loss, n_pairs=500)
    kw = dict(n_factors=8, loss=loss, n_epochs=3, n_threads=1)
    a = FactorizationMachine(random_state=7, **kw).fit(d)
    b = FactorizationMachine(random_state=7, **kw).fit(d)
    c = FactorizationMachine(random_state=8, **kw).fit(d)
    assert np.array_equal(a.V_, b.V_) and np.array_equal(a.w_, b.w_) and a.w0_ == b.w0_
    assert np.array_equal(a.grad_sq_V_, b.grad_sq_V_)
    assert a.history_["loss"] == b.history_["loss"]
    assert not np.array_equal(a.V_, c.V_)


def test_ids_only_fast_path_is_bit_identical_for_a_seed():
    d = random_design(3, n_users=50, n_items=30, n_pairs=600)
    for loss in ("bpr", "warp"):
        kw = dict(n_factors=8, loss=loss, n_epochs=3, n_threads=1, random_state=5)
        a = FactorizationMachine(**kw).fit(d)
        b = FactorizationMachine(**kw).fit(d)
        assert np.array_equal(a.V_, b.V_) and np.array_equal(a.w_, b.w_)


def test_parallel_training_runs_and_learns():
    """Hogwild over several chunks (more samples than one chunk) with two threads."""
    rng = np.random.default_rng(2)
    users, items = random_pairs(rng, 400, 120, 3 * K.CHUNK_SIZE)
    d = design_from_pairs(users, items, 400, 120)
    m = FactorizationMachine(n_factors=8, loss="bpr", n_epochs=4, n_threads=2,
                             random_state=0).fit(d)
    assert np.isfinite(m.V_).all()
    assert m.history_["loss"][-1] < m.history_["loss"][0]


def test_sgd_schedule_has_no_accumulators():
    d = small_design("bpr", n_pairs=300)
    m = FactorizationMachine(n_factors=4, learning_schedule="sgd", n_epochs=3, n_threads=1,
                             random_state=0).fit(d)
    assert m.grad_sq_V_ is None and m.grad_sq_w_ is None
    assert m.history_["loss"][-1] < m.history_["loss"][0]


def test_sample_weight_zero_leaves_parameters_untouched():
    d = small_design("squared", n_pairs=300)
    kw = dict(n_factors=4, loss="squared", n_epochs=2, n_threads=1, random_state=0)
    m = FactorizationMachine(**kw).fit(d, sample_weight=np.zeros(d.n_samples))
    init = FactorizationMachine(**kw)
    init._rng = np.random.default_rng(0)
    V0 = init._init_factors(np.random.default_rng(0), d.n_features, 4, 0.1)
    np.testing.assert_array_equal(m.V_, V0)
    np.testing.assert_array_equal(m.w_, 0)


def grown_design(seed=0):
    """An old design and a new one whose feature space appends 5 new user-id columns (the
    FeatureBuilder's append-only layout: old columns keep their positions)."""
    rng = np.random.default_rng(seed)
    users, items = random_pairs(rng, 30, 20, 250)
    old = design_from_pairs(users, items, 30, 20)
    nf_old = old.n_features
    new_users = np.concatenate([users, np.repeat(np.arange(30, 35), 8)])
    new_items = np.concatenate([items, rng.integers(0, 20, 40)]).astype(np.int32)
    key = np.unique(new_users.astype(np.int64) * 20 + new_items)
    new_users, new_items = (key // 20).astype(np.int32), (key % 20).astype(np.int32)
    nf_new = nf_old + 5
    uf = sp.lil_matrix((35, nf_new), dtype=np.float32)
    uf[:30, :nf_old] = old.user_features
    for k in range(5):
        uf[30 + k, nf_old + k] = 1.0
    itf = sp.hstack([old.item_features, sp.csr_matrix((20, 5), dtype=np.float32)]).tocsr()
    new = design_from_pairs(new_users, new_items, 35, 20)
    new.user_features = uf.tocsr()
    new.item_features = itf
    return old, new


def test_partial_fit_grows_parameters_and_trains_new_rows():
    old, new = grown_design()
    nf_old, nf_new = old.n_features, new.n_features
    m = FactorizationMachine(n_factors=6, loss="bpr", n_epochs=3, n_threads=1, random_state=0)
    m.fit(old)
    V_old, w_old = m.V_.copy(), m.w_.copy()
    # a negligible learning rate isolates the growth itself
    m.set_params(learning_rate=1e-30)
    m.partial_fit(new, n_epochs=1)
    assert m.n_features_ == nf_new
    assert m.V_.shape == (nf_new, 6) and m.w_.shape == (nf_new,)
    assert m.grad_sq_V_.shape == (nf_new, 6) and m.grad_sq_w_.shape == (nf_new,)
    assert m.V_.flags.c_contiguous and m.V_.dtype == np.float32
    np.testing.assert_array_equal(m.V_[:nf_old], V_old)  # old columns untouched
    np.testing.assert_array_equal(m.w_[:nf_old], w_old)
    fresh = m.V_[nf_old:].copy()
    assert 0.03 < fresh.std() < 0.3  # initialised like fit (init_std=0.1)
    # normal training continues and moves the new users' rows
    m.set_params(learning_rate=0.05)
    m.partial_fit(new, n_epochs=2)
    assert not np.allclose(m.V_[nf_old:], fresh)
    assert len(m.history_["loss"]) == 3 + 1 + 2
    # the grown model scores rows of the new space, and older (narrower) rows still work
    assert m.predict(new.user_features[30:] + new.item_features[:5]).shape == (5,)
    assert m.predict(old.user_features[:3] + old.item_features[:3]).shape == (3,)


def test_partial_fit_on_unfitted_model_fits_and_checks_factors():
    d = small_design("bpr", n_pairs=300)
    m = FactorizationMachine(n_factors=4, n_epochs=2, n_threads=1, random_state=0)
    m.partial_fit(d)
    assert m.V_.shape == (d.n_features, 4) and len(m.history_["loss"]) == 2
    m.set_params(n_factors=5)
    with pytest.raises(ValueError, match="n_factors is 5 but the fitted model has 4"):
        m.partial_fit(d)


def test_n_updates_counts_the_calls_that_train_and_partial_fit_takes_a_callback():
    d = small_design("bpr", n_pairs=300)
    m = FactorizationMachine(n_factors=4, n_epochs=2, n_threads=1, random_state=0)
    m.fit(d)
    assert m.n_updates_ == 1
    seen = []

    def stop_after_one(epoch, model, metrics):
        seen.append((epoch, model is m, sorted(metrics)))
        return False

    m.partial_fit(d, n_epochs=3, callback=stop_after_one)
    assert seen == [(0, True, ["loss"])] and len(m.history_["loss"]) == 3
    assert m.n_updates_ == 2
    with pytest.raises(ValueError, match="callback must be callable"):
        m.partial_fit(d, callback="nope")
    assert m.n_updates_ == 2  # refused before any change
    m.fit(d)
    assert m.n_updates_ == 3


def test_monitor_history_and_early_stopping_keeps_best_epoch():
    d = small_design("warp")
    scores = [0.1, 0.3, 0.2, 0.25, 0.5, 0.6]
    seen = []

    def monitor(model):  # a scripted validation score; records the parameters it saw
        seen.append((model.w_.copy(), model.V_.copy()))
        return {"score": scores[len(seen) - 1], "other": -1.0}

    kw = dict(n_factors=4, loss="warp", n_threads=1, random_state=0, n_epochs=6)
    m = FactorizationMachine(**kw).fit(d, monitor=monitor, early_stopping=2)
    # best at epoch 1, no gain at epochs 2 and 3: stop after epoch 3, keep epoch 1
    assert m.history_["score"] == scores[:4] and m.history_["other"] == [-1.0] * 4
    assert len(m.history_["loss"]) == 4 and m.best_epoch_ == 1
    np.testing.assert_array_equal(m.w_, seen[1][0])
    np.testing.assert_array_equal(m.V_, seen[1][1])
    assert m.monitor_seconds_ >= 0 and m.train_seconds_ > 0


@pytest.mark.parametrize("how", ["false", "stop_iteration"])
def test_callback_stops_training(how):
    d = small_design("bpr")
    calls = []

    def callback(epoch, model, metrics):
        calls.append((epoch, sorted(metrics)))
        if epoch == 2:
            if how == "false":
                return False
            raise StopIteration
        return None

    m = FactorizationMachine(n_factors=4, n_epochs=10, n_threads=1, random_state=0)
    m.fit(d, callback=callback)
    assert calls == [(0, ["loss"]), (1, ["loss"]), (2, ["loss"])]
    assert len(m.history_["loss"]) == 3 and m.n_epochs_ == 3


def test_callback_exceptions_propagate_and_bad_arguments():
    d = small_design("bpr")

    def boom(epoch, model, metrics):
        raise KeyError("pruned")

    with pytest.raises(KeyError, match="pruned"):
        FactorizationMachine(n_factors=4, n_epochs=3).fit(d, callback=boom)
    with pytest.raises(ValueError, match="early_stopping needs a validation score"):
        FactorizationMachine(n_factors=4).fit(d, early_stopping=2)
    with pytest.raises(ValueError, match="monitor must be callable"):
        FactorizationMachine(n_factors=4).fit(d, monitor=3)


def test_negative_sampler_never_returns_positives():
    rng = np.random.default_rng(0)
    n_items = 50
    pos = sp.random(4, n_items, density=0.6, random_state=1, format="lil")
    pos[3] = 1.0  # user 3 likes everything
    pos = sp.csr_matrix(pos)
    pos.sort_indices()
    index = K.positives_index(pos.indptr, pos.indices, n_items)
    pop_items = rng.integers(0, n_items, 500).astype(np.int32)
    for popularity in (False, True):
        for u in range(3):
            draws = K.draw_negatives(np.uint64(u), 2000, u, index, n_items, pop_items,
                                     popularity, K.MAX_NEGATIVE_TRIES)
            assert (draws >= 0).all()
            assert not np.isin(draws, pos[u].indices).any()
            if not popularity:  # uniform draws reach (nearly) every negative
                negatives = np.setdiff1d(np.arange(n_items), pos[u].indices)
                assert np.isin(negatives, draws).mean() > 0.9
        none = K.draw_negatives(np.uint64(9), 10, 3, index, n_items, pop_items, popularity,
                                K.MAX_NEGATIVE_TRIES)
        assert (none == -1).all()


@pytest.mark.parametrize("density", [0.0, 0.02, 0.3, 1.0, "mixed"])
def test_positive_lookup_with_bit_filters_is_exact(density):
    from numba import njit

    @njit
    def lookup_all(index, n_rows, n_cols, out):
        for r in range(n_rows):
            for c in range(n_cols):
                out[r, c] = K.is_positive_fast(index, r, c)

    if density == "mixed":  # light (Bloom) and heavy (exact) users in one index
        m = sp.vstack([sp.random(1, 700, density=d, random_state=r, format="csr")
                       for r, d in enumerate([0.01, 0.5, 0.05, 0.0, 0.2, 0.9] * 3)]).tocsr()
    else:
        m = sp.random(30, 700, density=density, random_state=2, format="csr")
    m.sort_indices()
    index = K.positives_index(m.indptr, m.indices, m.shape[1])
    exact = index[3] == 0
    # a row is an exact bitset exactly when its filter would reach the item count
    want = K.FILTER_BITS_PER_POSITIVE * np.diff(m.indptr)
    n_bits = np.maximum(64, 2 ** np.ceil(np.log2(np.maximum(want, 1))))
    np.testing.assert_array_equal(exact, n_bits >= m.shape[1])
    # the documented memory bound: 2 * FILTER_BITS_PER_POSITIVE bits per positive + 64 per user
    assert index[4].size * 64 <= 2 * K.FILTER_BITS_PER_POSITIVE * m.nnz + 64 * m.shape[0]
    if density == "mixed":
        assert exact.any() and not exact.all()
    elif 0 < density < 0.1:  # sparse rows use Bloom filters, dense ones exact bitsets
        assert not exact.any()
    elif density >= 0.3:
        assert exact.all()
    out = np.zeros(m.shape, bool)
    lookup_all(index, m.shape[0], m.shape[1], out)
    np.testing.assert_array_equal(out, m.toarray() != 0)


def test_popularity_sampler_follows_training_counts():
    n_items = 5
    pop_items = np.repeat(np.arange(n_items), [1, 2, 3, 4, 10]).astype(np.int32)
    empty = sp.csr_matrix((1, n_items), dtype=np.float32)
    index = K.positives_index(empty.indptr, empty.indices, n_items)
    draws = K.draw_negatives(np.uint64(1), 40000, 0, index, n_items, pop_items, True, 1)
    freq = np.bincount(draws, minlength=n_items) / draws.size
    np.testing.assert_allclose(freq, np.array([1, 2, 3, 4, 10]) / 20, atol=0.01)
    uniform = K.draw_negatives(np.uint64(1), 40000, 0, index, n_items, pop_items, False, 1)
    np.testing.assert_allclose(np.bincount(uniform) / 40000, 0.2, atol=0.01)


def test_rng_streams_are_reproducible_and_distinct():
    a = K.seed_states(np.uint64(42), 4)
    b = K.seed_states(np.uint64(42), 4)
    assert a.shape == (4, 8) and np.array_equal(a, b)
    assert len(set(a[:, 0].tolist())) == 4 and (a[:, 0] != 0).all()


def test_divergence_raises_with_advice():
    d = small_design("squared", n_pairs=300)
    d.sample_values = d.sample_values * 1e30
    m = FactorizationMachine(n_factors=4, loss="squared", learning_schedule="sgd",
                             learning_rate=1.0, n_epochs=3, n_threads=1, random_state=0)
    with pytest.raises(DivergenceError, match=r"diverged.*lower learning_rate.*normalize=True"):
        m.fit(d)


@pytest.mark.parametrize("kw", [dict(loss="bpr", n_negatives=3),
                                dict(loss="bpr", negatives="popularity"),
                                dict(loss="warp", negatives="popularity", max_sampled=3),
                                dict(loss="logistic", n_negatives=2, learning_schedule="sgd")])
def test_sampling_options_train(kw):
    d = small_design(kw["loss"], n_pairs=600)
    m = FactorizationMachine(n_factors=8, n_epochs=8, n_threads=1, random_state=0, **kw).fit(d)
    h = m.history_["loss"]
    assert np.isfinite(m.V_).all() and h[-1] < h[0], h


def test_verbose_shows_a_progress_bar(capsys):
    d = small_design("bpr", n_pairs=200)
    FactorizationMachine(n_factors=4, n_epochs=2, n_threads=1, random_state=0,
                         verbose=True).fit(d)
    assert "FM epochs" in capsys.readouterr().err
