"""Scoring identities of the factorization machine: predict vs the O(n^2) formula, the MF
identity with ids only, and the query/item split used by ranking."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _designs import random_design

from recfm._utils import NotFittedError
from recfm.model import FactorizationMachine


def fm_double_sum(X: sp.csr_matrix, w0: float, w: np.ndarray, V: np.ndarray) -> np.ndarray:
    """y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l, literally (float64)."""
    X = X.tocsr()
    w = w.astype(np.float64)
    V = V.astype(np.float64)
    out = np.empty(X.shape[0])
    for r in range(X.shape[0]):
        idx = X.indices[X.indptr[r]:X.indptr[r + 1]]
        val = X.data[X.indptr[r]:X.indptr[r + 1]].astype(np.float64)
        y = w0 + float(np.dot(w[idx], val))
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                y += float(V[idx[a]] @ V[idx[b]]) * val[a] * val[b]
        out[r] = y
    return out


def fitted_model(design, **kw):
    params = dict(n_factors=6, loss="logistic", n_epochs=2, n_threads=1, random_state=0)
    params.update(kw)
    m = FactorizationMachine(**params).fit(design)
    # make the linear part non-trivial for the identities
    rng = np.random.default_rng(1)
    m.w0_ = 0.3
    m.w_ = rng.normal(0, 0.5, m.w_.shape).astype(np.float32)
    return m


def test_predict_equals_double_sum_formula():
    d = random_design(0, n_user_attrs=4, n_item_attrs=5, n_context=3)
    m = fitted_model(d)
    rng = np.random.default_rng(2)
    X = sp.random(40, d.n_features, density=0.25, random_state=3, format="csr",
                  dtype=np.float32)
    X.data = rng.uniform(-2, 2, X.nnz).astype(np.float32)
    got = m.predict(X)
    want = fm_double_sum(X, m.w0_, m.w_, m.V_)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # rows with a single entry have no pair term; empty rows score w0
    X1 = sp.csr_matrix(([2.0], ([0], [5])), shape=(2, d.n_features), dtype=np.float32)
    np.testing.assert_allclose(m.predict(X1), [m.w0_ + 2 * m.w_[5], m.w0_], rtol=1e-6)


def test_ids_only_fm_is_biased_matrix_factorization():
    d = random_design(1, n_users=12, n_items=9, n_pairs=60)
    m = fitted_model(d, loss="bpr")
    nu, ni = d.n_users, d.n_items
    uu, ii = np.meshgrid(np.arange(nu), np.arange(ni), indexing="ij")
    uu, ii = uu.ravel(), ii.ravel()
    X = (d.user_features[uu] + d.item_features[ii]).tocsr()
    got = m.predict(X)
    cu, ci = uu, nu + ii  # one-hot id columns of the hand-made design
    want = (m.w0_ + m.w_[cu] + m.w_[ci]
            + np.einsum("ij,ij->i", m.V_[cu].astype(np.float64), m.V_[ci].astype(np.float64)))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_query_item_split_identity():
    """y(q, t) = c(q) + b(t) + <V^T q, V^T t> with query_repr / item_repr."""
    d = random_design(2, n_user_attrs=3, n_item_attrs=4, n_context=2)
    m = fitted_model(d)
    ctx = d.context[:7]
    Xq = (d.user_features[d.sample_users[:7]] + ctx).tocsr()
    Xt = d.item_features
    P, c = m.query_repr(Xq)
    E, b = m.item_repr(Xt)
    assert P.dtype == np.float32 and c.dtype == np.float32
    assert E.dtype == np.float32 and b.dtype == np.float32
    assert P.shape == (7, m.V_.shape[1]) and E.shape == (d.n_items, m.V_.shape[1])
    scores = c[:, None].astype(np.float64) + b[None, :] + P.astype(np.float64) @ E.T
    full = np.array([[m.predict((Xq[q] + Xt[t]).tocsr())[0] for t in range(d.n_items)]
                     for q in range(7)])
    np.testing.assert_allclose(scores, full, rtol=1e-5, atol=1e-5)
    # c(q) alone is the score of the query row; b(t) + w0 that of the item row
    np.testing.assert_allclose(c, m.predict(Xq), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b + m.w0_, m.predict(Xt), rtol=1e-5, atol=1e-6)


def test_predict_accepts_fewer_columns_and_rejects_more():
    d = random_design(3)
    m = fitted_model(d)
    nf = d.n_features
    X = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 3])), shape=(1, nf - 2), dtype=np.float32)
    Xfull = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 3])), shape=(1, nf), dtype=np.float32)
    np.testing.assert_allclose(m.predict(X), m.predict(Xfull))
    too_wide = sp.csr_matrix((1, nf + 3), dtype=np.float32)
    for fn in (m.predict, m.query_repr, m.item_repr):
        with pytest.raises(ValueError, match=rf"{nf + 3} columns.*n_features_ = {nf}"):
            fn(too_wide)
    with pytest.raises(ValueError, match="scipy sparse"):
        m.predict(np.zeros((1, nf)))


def test_not_fitted_errors():
    m = FactorizationMachine()
    X = sp.csr_matrix((1, 3), dtype=np.float32)
    for fn in (m.predict, m.query_repr, m.item_repr):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            fn(X)
