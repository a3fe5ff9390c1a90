"""Every loss's update equals the gradient of its documented objective (central finite
differences in float64), for the per-sample kernels the training epochs run."""
from __future__ import annotations

import numpy as np
import pytest
from _designs import random_design

from recfm.model import FactorizationMachine
from recfm.model import _kernels as K

K_FACTORS = 4


def csr_tuple(m):
    return (m.indptr, m.indices, m.data)


def dense_row(m, r):
    return np.asarray(m[r].todense(), dtype=np.float64).ravel()


def fm_score(x, w0, w, V):
    s = V.T @ x
    return w0 + w @ x + 0.5 * (s @ s - ((x * x) @ (V * V).sum(1)))


def softplus(z):
    return np.logaddexp(0.0, z)


def make_params(nf, seed, std=0.3):
    rng = np.random.default_rng(seed)
    w0 = np.array([rng.normal()], np.float64)
    w = rng.normal(0, 0.3, nf)
    V = rng.normal(0, std, (nf, K_FACTORS))
    return [w0, w, V, np.ones(1), np.ones(nf), np.ones((nf, K_FACTORS))]


def flat(params):
    return np.concatenate([params[0], params[1], params[2].ravel()])


def unflat(theta, nf):
    return theta[:1], theta[1:1 + nf], theta[1 + nf:].reshape(nf, K_FACTORS)


def finite_difference(objective, theta, h=1e-6):
    grad = np.zeros_like(theta)
    for a in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[a] += h
        tm[a] -= h
        grad[a] = (objective(tp) - objective(tm)) / (2 * h)
    return grad


def kernel_gradient(step, params, lr):
    """Gradient implied by one SGD step of size lr (params are updated in place)."""
    before = flat(params)
    loss = step(params)
    return loss, (before - flat(params)) / lr


def support(m, r):
    return m.indices[m.indptr[r]:m.indptr[r + 1]]


@pytest.fixture(scope="module")
def design():
    return random_design(5, n_users=15, n_items=12, n_pairs=80, n_user_attrs=3,
                         n_item_attrs=4, n_context=3)


@pytest.mark.parametrize("loss_code", [K.LOSS_BPR, K.LOSS_WARP])
@pytest.mark.parametrize("weight", [1.0, 0.7])
def test_pairwise_gradient_matches_finite_differences(design, loss_code, weight):
    d = design
    nf = d.n_features
    reg_w, reg_v, rank_weight, lr = 0.03, 0.05, 2.5, 1e-7
    s = 3
    u, i = int(d.sample_users[s]), int(d.sample_items[s])
    negs = np.array([j for j in range(d.n_items) if j != i][:2], np.int64)
    q = dense_row(d.user_features, u) + dense_row(d.context, s)
    tp = dense_row(d.item_features, i)
    tns = [dense_row(d.item_features, j) for j in negs]
    q_cols = np.concatenate([support(d.user_features, u), support(d.context, s)])
    t_cols = [support(d.item_features, i)] + [support(d.item_features, j) for j in negs]
    m = weight * (1.0 if loss_code == K.LOSS_BPR else rank_weight)

    def diffs(theta):
        w0, w, V = unflat(theta, nf)
        yp = fm_score(q + tp, w0[0], w, V)
        return [yp - fm_score(q + tn, w0[0], w, V) for tn in tns]

    def data_loss(theta):
        if loss_code == K.LOSS_BPR:
            return sum(softplus(-dd) for dd in diffs(theta))
        return sum(max(0.0, 1.0 - dd) for dd in diffs(theta))

    def objective(theta):
        _, w, V = unflat(theta, nf)
        reg = 0.5 * reg_v * sum((V[c] ** 2).sum() for c in q_cols)
        for cols in t_cols:
            reg += 0.5 * reg_w * (w[cols] ** 2).sum() + 0.5 * reg_v * (V[cols] ** 2).sum()
        return m * (data_loss(theta) + reg)

    params = make_params(nf, 11, std=0.2)
    theta0 = flat(params)
    assert all(abs(1.0 - dd) > 1e-3 for dd in diffs(theta0))  # away from the hinge's kink
    fd = finite_difference(objective, theta0)

    def step(p):
        return K.pairwise_sample(loss_code, csr_tuple(d.user_features), u, csr_tuple(d.context),
                                 s, True, csr_tuple(d.item_features), i, negs, rank_weight,
                                 weight, tuple(p), (lr, reg_w, reg_v), False)

    loss, grad = kernel_gradient(step, params, lr)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
    assert grad[0] == 0.0  # w0 gets nothing from a score difference
    np.testing.assert_allclose(loss, m * data_loss(theta0), rtol=1e-12)
    assert np.abs(grad).max() > 1e-3


@pytest.mark.parametrize("loss_code,target", [(K.LOSS_LOGISTIC, 1.0), (K.LOSS_LOGISTIC, 0.0),
                                              (K.LOSS_SQUARED, 3.5)])
def test_pointwise_gradient_matches_finite_differences(design, loss_code, target):
    d = design
    nf = d.n_features
    reg_w, reg_v, weight, lr = 0.02, 0.04, 0.8, 1e-7
    s = 5
    u, i = int(d.sample_users[s]), int(d.sample_items[s])
    x = dense_row(d.user_features, u) + dense_row(d.context, s) + dense_row(d.item_features, i)
    cols = np.flatnonzero(x)

    def data_loss(theta):
        w0, w, V = unflat(theta, nf)
        y = fm_score(x, w0[0], w, V)
        if loss_code == K.LOSS_LOGISTIC:
            return softplus(-y) if target > 0 else softplus(y)
        return 0.5 * (y - target) ** 2

    def objective(theta):
        _, w, V = unflat(theta, nf)
        reg = 0.5 * reg_w * (w[cols] ** 2).sum() + 0.5 * reg_v * (V[cols] ** 2).sum()
        return weight * (data_loss(theta) + reg)

    params = make_params(nf, 12)
    theta0 = flat(params)
    fd = finite_difference(objective, theta0)

    def step(p):
        return K.pointwise_sample(loss_code, csr_tuple(d.user_features), u, csr_tuple(d.context),
                                  s, True, csr_tuple(d.item_features), i, target, weight,
                                  tuple(p), (lr, reg_w, reg_v), False)

    loss, grad = kernel_gradient(step, params, lr)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, weight * data_loss(theta0), rtol=1e-12)


def test_adagrad_step_uses_accumulated_squared_gradients(design):
    """One Adagrad step: acc = 1 + g^2, theta -= lr g / sqrt(acc), for every touched entry."""
    d = design
    nf = d.n_features
    reg = (0.0, 0.01, 0.02)
    s = 7
    u, i = int(d.sample_users[s]), int(d.sample_items[s])
    args = (K.LOSS_SQUARED, csr_tuple(d.user_features), u, csr_tuple(d.context), s, True,
            csr_tuple(d.item_features), i, 2.0, 1.0)
    sgd = make_params(nf, 13)
    lr = 1e-7
    K.pointwise_sample(*args, tuple(sgd), (lr,) + reg[1:], False)
    g = (flat(make_params(nf, 13)) - flat(sgd)) / lr
    ada = make_params(nf, 13)
    theta0 = flat(ada)
    lr = 0.1
    K.pointwise_sample(*args, tuple(ada), (lr,) + reg[1:], True)
    np.testing.assert_allclose(flat(ada), theta0 - lr * g / np.sqrt(1.0 + g * g), rtol=1e-6,
                               atol=1e-9)
    acc = np.concatenate([ada[3], ada[4], ada[5].ravel()])
    np.testing.assert_allclose(acc, 1.0 + g * g, rtol=1e-6)


@pytest.mark.parametrize("loss, n_negatives", [("bpr", 1), ("bpr", 2), ("bpr", 4),
                                               ("warp", 1)])
@pytest.mark.parametrize("schedule", ["adagrad", "sgd"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_ids_only_fast_path_matches_general_kernel(loss, n_negatives, schedule, weighted,
                                                   monkeypatch):
    """The fused ids-only kernel draws the same negatives and makes the same updates as the
    general kernel, up to float32 rounding (bit for bit with several BPR negatives per
    positive; 30 items, few positives each: repeated negatives within a sample occur)."""
    d = random_design(8, n_users=40, n_items=30, n_pairs=400)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, d.n_samples) if weighted else None
    kw = dict(n_factors=8, loss=loss, n_epochs=3, n_threads=1, random_state=4,
              n_negatives=n_negatives, learning_schedule=schedule)
    used = []  # which epoch kind each call ran

    def spy(kernel, kind):
        return lambda *a: used.append(kind) or kernel(*a)

    monkeypatch.setattr(K, "EPOCHS", tuple(spy(k, e) for e, k in enumerate(K.EPOCHS)))
    # the same sample order as the general kernel (the default trains ids in user visits,
    # tested against its own reference in test_fm_visit_order.py)
    monkeypatch.setattr(FactorizationMachine, "_ids_sample_order", "shuffled")
    fast = FactorizationMachine(**kw).fit(d, sample_weight=sw)
    monkeypatch.setattr(FactorizationMachine, "_allow_ids_fast_path", False)
    general = FactorizationMachine(**kw).fit(d, sample_weight=sw)
    assert set(used[:3]) == {K.KIND_PAIRWISE_IDS} and set(used[3:]) == {K.KIND_PAIRWISE}
    if n_negatives > 1:
        # ids values are 1 and the several-negative step keeps the general kernel's
        # expressions (same dot_rows, same sums in the same order): bit for bit on one thread
        for name in ("V_", "w_", "grad_sq_V_", "grad_sq_w_"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(general, name))
        assert fast.history_["loss"] == general.history_["loss"]
    np.testing.assert_allclose(fast.V_, general.V_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.w_, general.w_, rtol=1e-4, atol=1e-5)
    if schedule == "adagrad":
        np.testing.assert_allclose(fast.grad_sq_w_, general.grad_sq_w_, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(fast.grad_sq_V_, general.grad_sq_V_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.history_["loss"], general.history_["loss"], rtol=1e-4)
