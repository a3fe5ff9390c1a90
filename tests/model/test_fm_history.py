"""FM training with a History field: user visits with cached sums (model/_kernels.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm.features import FeatureBuilder, History, RecentItems
from recfm.model import FactorizationMachine
from recfm.model import _kernels as K


def brute_score(x: np.ndarray, w0: float, w: np.ndarray, V: np.ndarray) -> float:
    """FM score of a dense row by the O(n^2) double sum, in float64."""
    nz = np.flatnonzero(x)
    y = w0 + sum(w[j] * x[j] for j in nz)
    for a in range(len(nz)):
        for b in range(a + 1, len(nz)):
            j, l = nz[a], nz[b]
            y += float(np.dot(V[j], V[l])) * x[j] * x[l]
    return y


def _log(seed=0, n_users=12, n_items=15, n=90):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"user_id": rng.integers(0, n_users, n), "item_id": rng.integers(0, n_items, n),
                       "timestamp": rng.permutation(n)})
    return df.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)


def test_design_rows_with_history_and_recent_score_as_the_double_sum():
    df = _log()
    b = FeatureBuilder(user_features=[History()], context_features=[RecentItems(n=2, decay=0.5)])
    d = b.fit_transform(df)
    fm = FactorizationMachine(n_factors=6, loss="warp", n_epochs=3, random_state=0,
                              n_threads=1).fit(d)
    rng = np.random.default_rng(1)
    w = fm.w_.astype(np.float64) + rng.normal(0, 0.1, fm.w_.shape)  # linear terms matter too
    fm.w_ = w.astype(np.float32)
    X = d.full_rows()
    got = fm.predict(X)
    Xd = X.toarray().astype(np.float64)
    want = [brute_score(Xd[r], fm.w0_, fm.w_.astype(np.float64), fm.V_.astype(np.float64))
            for r in range(len(Xd))]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # training rows hold the history without the target, the rest re-weighted
    assert (d.query_rows() != d.user_features[d.sample_users]).nnz > 0


def _one_negative_log(n=None):
    # every user has exactly one item it did not interact with: its BPR negative is known
    # (with n: n users, n items, user u all items but u)
    if n is None:
        rows = [(0, 10), (0, 20), (0, 30), (1, 10), (1, 20), (1, 40), (2, 20), (2, 30), (2, 40)]
    else:
        rows = [(u, i) for u in range(n) for i in range(n) if i != u]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def _replay(data, plan, params, lr, reg_v):
    """Numpy (float64) re-derivation of one SGD epoch of visits with BPR: per sample, the
    gradient of log(1 + exp(-d)) on the full rows (target left out of the history); item
    and user rows step at once, history rows once per visit with the summed gradients (their
    L2 penalty weighted by their value in the row)."""
    w, V = params
    uf, itf, hist = data["uf_static"], data["itf"], data["hist"]
    hcol, hres, inter = data["hcol"], data["hres"], data["inter"].toarray()
    q_items = plan["queue"][0]
    for u in plan["vusers"]:
        cu = uf.indices[uf.indptr[u]]
        hj = hist.indices[hist.indptr[u]:hist.indptr[u + 1]]
        hx = hist.data[hist.indptr[u]:hist.indptr[u + 1]].astype(np.float64)
        S = hx @ V[hj]
        HG = np.zeros(V.shape[1])
        C = {}
        for t in range(plan["qptr"][u], plan["qptr"][u + 1]):
            i = q_items[t]
            j = int(np.flatnonzero(inter[u] == 0)[0])
            ci, cj = itf.indices[i], itf.indices[j]
            pos = np.flatnonzero(hj == hcol[i])
            r = hres[u] if len(pos) else 1.0
            p = V[cu] + r * (S - (hx[pos[0]] * V[hcol[i]] if len(pos) else 0.0))
            d = w[ci] - w[cj] + p @ (V[ci] - V[cj])
            g = -1.0 / (1.0 + np.exp(d))
            qg = g * (V[ci] - V[cj])
            gi, gj = g * p + reg_v * V[ci], -g * p + reg_v * V[cj]
            w[ci] -= lr * g
            w[cj] -= lr * -g
            V[ci] -= lr * gi
            V[cj] -= lr * gj
            V[cu] -= lr * (qg + reg_v * V[cu])
            HG += r * qg
            if len(pos):
                C[hcol[i]] = r * qg
        n_s = plan["qptr"][u + 1] - plan["qptr"][u]
        for x, jcol in zip(hx, hj, strict=True):
            c = C.get(jcol)
            grad = x * (HG - (c if c is not None else 0.0)
                        + reg_v * (n_s - (c is not None)) * V[jcol])
            V[jcol] -= lr * grad
    return w, V


@pytest.mark.parametrize("fused", [True, False], ids=["ids-kernel", "general-kernel"])
@pytest.mark.parametrize("n, max_items", [(None, None), (None, 2), (7, 3)])
def test_cached_sum_epoch_equals_the_per_sample_gradients(fused, n, max_items, monkeypatch):
    # both visit kernels (fused one for ids-only rows, general one) against the replay; with
    # max_items some targets are not in their user's history (r = 1, nothing left out), and
    # other users' histories hold them
    monkeypatch.setattr(FactorizationMachine, "_allow_ids_fast_path", fused)
    d = FeatureBuilder(user_features=[History(max_items=max_items)]).fit_transform(
        _one_negative_log(n))
    lr, reg = 0.1, 0.05
    fm = FactorizationMachine(n_factors=4, n_epochs=1, learning_schedule="sgd", learning_rate=lr,
                              reg_factors=reg, random_state=3, n_threads=1, init_std=0.3)
    fm.fit(d)
    w0, V0 = fm.w_.astype(np.float64), fm.V_.astype(np.float64)
    plans = []
    plan_of = fm._visit_plan
    fm._visit_plan = lambda data, rng: plans.append((data, plan_of(data, rng))) or plans[-1][1]
    fm.partial_fit(d, n_epochs=1)
    data, plan = plans[0]
    w, V = _replay(data, plan, (w0.copy(), V0.copy()), lr, reg)
    np.testing.assert_allclose(fm.w_, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fm.V_, V, rtol=1e-5, atol=1e-6)
    assert not np.allclose(V, V0)  # the history rows moved


@pytest.mark.parametrize("loss", ["bpr", "warp"])
@pytest.mark.parametrize("schedule", ["adagrad", "sgd"])
def test_ids_visit_kernel_matches_the_general_visit_kernel(loss, schedule, monkeypatch):
    """The fused visit kernel (ids + History) draws the same negatives and makes the same
    updates as the general one, up to float32 rounding: with sample weights, and with
    max_items leaving some targets out of their user's history."""
    df = _log(5, n_users=25, n_items=40, n=500)
    d = FeatureBuilder(user_features=[History(max_items=8)]).fit_transform(df)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, d.n_samples)
    kw = dict(n_factors=8, loss=loss, n_epochs=3, n_threads=1, random_state=4,
              learning_schedule=schedule)
    used = []  # which visit epoch each call ran (0 general, 1 ids)

    def spy(kernel, e):
        return lambda *a: used.append(e) or kernel(*a)

    monkeypatch.setattr(K, "VISIT_EPOCHS", tuple(spy(k, e) for e, k in enumerate(K.VISIT_EPOCHS)))
    fast = FactorizationMachine(**kw).fit(d, sample_weight=sw)
    monkeypatch.setattr(FactorizationMachine, "_allow_ids_fast_path", False)
    general = FactorizationMachine(**kw).fit(d, sample_weight=sw)
    assert set(used[:3]) == {1} and set(used[3:]) == {0}
    np.testing.assert_allclose(fast.V_, general.V_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.w_, general.w_, rtol=1e-4, atol=1e-5)
    if schedule == "adagrad":
        np.testing.assert_allclose(fast.grad_sq_V_, general.grad_sq_V_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.history_["loss"], general.history_["loss"], rtol=1e-4)


def test_the_replayed_gradient_is_the_gradient_of_the_design_rows():
    # finite differences of the BPR loss of one sample, on the design's own (training) rows
    d = FeatureBuilder(user_features=[History()]).fit_transform(_one_negative_log())
    fm = FactorizationMachine(n_factors=4, n_epochs=1, random_state=0, init_std=0.3,
                              n_threads=1).fit(d)
    w, V = fm.w_.astype(np.float64), fm.V_.astype(np.float64)
    s = 0
    u, i = d.sample_users[s], d.sample_items[s]
    j = int(np.flatnonzero(d.interactions.toarray()[u] == 0)[0])
    q = d.query_rows([s]).toarray()[0].astype(np.float64)
    tp = d.item_features[i].toarray()[0]
    tn = d.item_features[j].toarray()[0]

    def loss(V):
        dd = brute_score(q + tp, 0.0, w, V) - brute_score(q + tn, 0.0, w, V)
        return np.log1p(np.exp(-dd))

    dd = brute_score(q + tp, 0.0, w, V) - brute_score(q + tn, 0.0, w, V)
    g = -1.0 / (1.0 + np.exp(dd))
    qg = g * (V.T @ tp - V.T @ tn)
    eps = 1e-6
    for col in np.flatnonzero(q):
        for f in range(V.shape[1]):
            Vp, Vm = V.copy(), V.copy()
            Vp[col, f] += eps
            Vm[col, f] -= eps
            fd = (loss(Vp) - loss(Vm)) / (2 * eps)
            assert fd == pytest.approx(q[col] * qg[f], rel=1e-4, abs=1e-8)
    # the target's history column is absent: its factors have no gradient
    hist_col = d.history_columns[i]
    assert q[hist_col] == 0


def test_one_thread_and_a_seed_reproduce_bit_for_bit():
    df = _log(2, n=200)
    d = FeatureBuilder(user_features=[History()], context_features=[RecentItems(n=2)]).fit_transform(df)
    for loss in ("bpr", "warp"):
        a = FactorizationMachine(n_factors=8, loss=loss, n_epochs=3, random_state=7,
                                 n_threads=1).fit(d)
        b = FactorizationMachine(n_factors=8, loss=loss, n_epochs=3, random_state=7,
                                 n_threads=1).fit(d)
        assert np.array_equal(a.V_, b.V_) and np.array_equal(a.w_, b.w_)
        assert np.isfinite(a.history_["loss"]).all()


def test_pointwise_loss_with_history_is_refused():
    d = FeatureBuilder(user_features=[History()]).fit_transform(_one_negative_log())
    with pytest.raises(ValueError, match="pairwise loss"):
        FactorizationMachine(loss="logistic", n_epochs=1).fit(d)


def test_partial_fit_grows_with_new_history_columns():
    df = _log(4, n=150)
    b = FeatureBuilder(user_features=[History()])
    fm = FactorizationMachine(n_factors=4, loss="warp", n_epochs=2, random_state=0,
                              n_threads=1).fit(b.fit_transform(df))
    n0 = fm.n_features_
    more = pd.DataFrame({"user_id": [0, 50, 50], "item_id": [99, 99, 3], "timestamp": [1, 2, 3]})
    b.partial_fit(more)
    d = b.transform(pd.concat([df, more], ignore_index=True))
    assert "history=99" in b.feature_names()
    fm.partial_fit(d, n_epochs=1)
    assert fm.n_features_ == d.n_features > n0
    assert np.isfinite(fm.V_).all()
