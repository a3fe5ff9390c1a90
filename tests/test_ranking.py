"""Tests for recfm.ranking: folding identity, top-N against brute force, similar items/users.

The model is a stand-in object holding only ``w0_``, ``w_`` and ``V_`` (the attributes the
contract gives ranking), and predictions come from the O(n^2) FM double sum written here, so
these tests depend on no other recfm module.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

import recfm.ranking as ranking
from recfm.ranking import fold, similar_items, similar_users, top_n, top_n_scores


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def fm_predict_bruteforce(model, X) -> np.ndarray:
    """y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l, by the double sum (float64)."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    V = np.asarray(model.V_, np.float64)
    w = np.asarray(model.w_, np.float64)
    out = np.empty(X.shape[0])
    for r, x in enumerate(X):
        nz = np.flatnonzero(x)
        y = float(model.w0_) + float(w[nz] @ x[nz])
        for a in range(len(nz)):
            for b in range(a + 1, len(nz)):
                j, l = nz[a], nz[b]
                y += float(V[j] @ V[l]) * x[j] * x[l]
        out[r] = y
    return out


def brute_top(S: np.ndarray, n: int):
    """Top-n of each row of S (float64, -inf = ineligible): score desc, then index asc."""
    n_users, n_items = S.shape
    items = np.full((n_users, n), -1, np.int64)
    scores = np.full((n_users, n), -np.inf)
    for u in range(n_users):
        order = np.lexsort((np.arange(n_items), -S[u]))  # stable tie rule: lower index first
        order = [j for j in order if np.isfinite(S[u, j])][:n]
        items[u, : len(order)] = order
        scores[u, : len(order)] = S[u, order]
    return items, scores


def masked_scores(U, I, exclude=None, allowed=None) -> np.ndarray:
    S = U.astype(np.float64) @ I.astype(np.float64).T
    if exclude is not None:
        ex = exclude.tocoo()
        S[ex.row, ex.col] = -np.inf
    if allowed is not None:
        S[~allowed] = -np.inf
    return S


def assert_top_equal(got, want):
    gi, gs = got
    wi, ws = want
    assert gi.dtype == np.int32 and gs.dtype == np.float32
    assert gi.shape == wi.shape and gs.shape == ws.shape
    np.testing.assert_array_equal(gi, wi)
    np.testing.assert_array_equal(gs, ws.astype(np.float32))


def int_vectors(rng, n_rows, d, lo=-2, hi=3):
    """Small integers: exact in float32 whatever the summation order, and full of ties."""
    return rng.integers(lo, hi, size=(n_rows, d)).astype(np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small_tiles(monkeypatch):
    """Force many item chunks per block (tiles of 16 float32 scores)."""
    monkeypatch.setattr(ranking, "_TILE_BYTES", 64)


# --------------------------------------------------------------------------------------------
# fold
# --------------------------------------------------------------------------------------------
# columns: 0-5 user ids | 6-8 user attributes (age bucket x2, numeric) | 9-12 context (hour
# buckets, platform) | 13-20 item ids | 21-25 item attributes (genres, year)
N_USERS, N_ITEMS, N_FEATURES = 6, 8, 26


def _rows(rng):
    q = np.zeros((N_USERS + 3, N_FEATURES))
    for r in range(N_USERS):
        q[r, r] = 1.0  # user id
        q[r, 6 + r % 2] = 1.0  # age bucket
        q[r, 8] = rng.uniform(0.1, 2.0)  # numeric attribute
        q[r, 9 + r % 3] = 1.0  # hour bucket (context)
        q[r, 12] = float(r % 2)  # platform (context)
    # cold-start queries: attributes and context only, no id column
    q[N_USERS, [6, 8, 10]] = [1.0, 0.7, 1.0]
    q[N_USERS + 1, [7, 11, 12]] = [1.0, 1.0, 1.0]
    q[N_USERS + 2, 9] = 1.0
    t = np.zeros((N_ITEMS + 1, N_FEATURES))
    for i in range(N_ITEMS):
        t[i, 13 + i] = 1.0  # item id
        genres = [21 + i % 3, 21 + (i + 1) % 4]
        t[i, genres] = 1.0 / np.sqrt(len(set(genres)))  # multi-valued genres, normalised
        t[i, 25] = (i - 4) / 4.0  # numeric year (may be negative or zero)
    t[N_ITEMS, [21, 22, 25]] = [0.5, 0.5, 1.0]  # a new item from attributes only
    return sp.csr_matrix(q.astype(np.float32)), sp.csr_matrix(t.astype(np.float32))


def _model(rng, k=5, n_features=N_FEATURES):
    return SimpleNamespace(
        w0_=np.float32(0.3),
        w_=rng.normal(0, 0.5, n_features).astype(np.float32),
        V_=np.ascontiguousarray(rng.normal(0, 0.4, (n_features, k)).astype(np.float32)),
    )


def test_fold_matches_bruteforce_fm_for_every_pair(rng):
    model = _model(rng)
    Xq, Xt = _rows(rng)
    U, I, c = fold(model, Xq, Xt)
    k = model.V_.shape[1]
    assert U.shape == (Xq.shape[0], k + 1) and I.shape == (Xt.shape[0], k + 1)
    assert U.dtype == I.dtype == c.dtype == np.float32
    assert U.flags.c_contiguous and I.flags.c_contiguous
    np.testing.assert_array_equal(U[:, -1], 1.0)
    folded = U.astype(np.float64) @ I.astype(np.float64).T + c[:, None]
    for q in range(Xq.shape[0]):
        full = sp.vstack([Xq[q]] * Xt.shape[0]) + Xt  # query and item columns never overlap
        np.testing.assert_allclose(folded[q], fm_predict_bruteforce(model, full), atol=1e-4)


def test_fold_top_n_equals_argsort_of_predict(rng):
    model = _model(rng)
    Xq, Xt = _rows(rng)
    U, I, _ = fold(model, Xq, Xt)
    n_items = Xt.shape[0]
    items, _ = top_n(U, I, n_items)
    for q in range(Xq.shape[0]):
        y = fm_predict_bruteforce(model, sp.vstack([Xq[q]] * n_items) + Xt)
        want = np.lexsort((np.arange(n_items), -y))
        np.testing.assert_array_equal(items[q], want)


def test_fold_accepts_design_and_narrower_rows(rng):
    model = _model(rng, n_features=N_FEATURES + 4)  # the space grew by 4 columns since
    Xq, Xt = _rows(rng)
    design = SimpleNamespace(user_features=Xq, item_features=Xt)
    U, I, c = fold(model, design)
    U2, I2, c2 = fold(model, Xq, Xt)
    np.testing.assert_array_equal(U, U2)
    np.testing.assert_array_equal(I, I2)
    np.testing.assert_array_equal(c, c2)
    pad = sp.csr_matrix((Xq.shape[0], 4), dtype=np.float32)
    wide_q = sp.hstack([Xq, pad]).tocsr()
    wide_t = sp.hstack([Xt, pad[: Xt.shape[0]]]).tocsr()
    Ux, Ix, cx = fold(model, wide_q, wide_t)
    np.testing.assert_allclose(U, Ux, atol=1e-6)
    np.testing.assert_allclose(I, Ix, atol=1e-6)
    np.testing.assert_allclose(c, cx, atol=1e-6)


def test_fold_sums_duplicate_entries(rng):
    """pair(x) squares each feature's total value, also when a row stores it in two entries."""
    model = _model(rng)
    Xq, Xt = _rows(rng)
    halves = sp.csr_matrix((np.repeat(Xq.data / 2, 2), np.repeat(Xq.indices, 2), Xq.indptr * 2),
                           shape=Xq.shape)
    assert not halves.has_canonical_format
    U, _, c = fold(model, Xq, Xt)
    U2, _, c2 = fold(model, halves, Xt)
    np.testing.assert_allclose(U2, U, atol=1e-6)
    np.testing.assert_allclose(c2, c, atol=1e-5)


def test_fold_rejects_rows_wider_than_the_model(rng):
    model = _model(rng, n_features=N_FEATURES - 1)
    Xq, Xt = _rows(rng)
    with pytest.raises(ValueError, match=rf"query_rows has {N_FEATURES} columns but the model has "
                                         rf"n_features = {N_FEATURES - 1}"):
        fold(model, Xq, Xt)


def test_fold_rejects_unfitted_model(rng):
    Xq, Xt = _rows(rng)
    with pytest.raises(ValueError, match="no fitted attribute 'V_'"):
        fold(SimpleNamespace(w0_=0.0, w_=np.zeros(N_FEATURES), V_=None), Xq, Xt)


# --------------------------------------------------------------------------------------------
# top_n against brute force
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block_size", [None, 1, 3, 100])
@pytest.mark.parametrize("n", [1, 4, 30])
def test_top_n_ties_equal_bruteforce(rng, block_size, n):
    U, I = int_vectors(rng, 17, 3), int_vectors(rng, 23, 3)  # few values: many exact ties
    got = top_n(U, I, n, block_size=block_size)
    # n above the 23 items is capped: lists never grow past the catalogue
    assert got[0].shape == got[1].shape == (17, min(n, 23))
    assert_top_equal(got, brute_top(masked_scores(U, I), min(n, 23)))


@pytest.mark.parametrize("block_size", [None, 1, 4])
def test_top_n_exclusions_and_many_item_chunks(rng, small_tiles, block_size):
    U, I = int_vectors(rng, 13, 4), int_vectors(rng, 40, 4)
    exclude = sp.random(13, 40, density=0.3, format="lil", random_state=1, dtype=np.float32)
    exclude[2] = 1.0  # user 2 has seen every item: all padding
    exclude = sp.csr_matrix(exclude)
    got = top_n(U, I, 7, exclude=exclude, block_size=block_size)
    want = brute_top(masked_scores(U, I, exclude), 7)
    assert_top_equal(got, want)
    assert (got[0][2] == -1).all() and np.isneginf(got[1][2]).all()


def test_top_n_random_floats(rng):
    U = rng.normal(size=(50, 16)).astype(np.float32)
    I = rng.normal(size=(300, 16)).astype(np.float32)
    exclude = sp.random(50, 300, density=0.1, format="csr", random_state=2)
    items, scores = top_n(U, I, 10, exclude=exclude, block_size=7)
    S = masked_scores(U, I, exclude)
    want_items, want_scores = brute_top(S, 10)
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(S, items, 1), scores, atol=1e-5)
    assert not exclude[np.arange(50)[:, None], items].toarray().any()
    np.testing.assert_array_equal(items, want_items)  # no near-ties with this seed


def test_top_n_exclude_stored_zeros_duplicates_and_unsorted_rows(rng):
    U, I = int_vectors(rng, 3, 2), int_vectors(rng, 6, 2)
    # row 0 excludes items 4 and 1 (given unsorted, 4 twice); row 1 stores an explicit zero at 3
    exclude = sp.csr_matrix(
        (np.array([1.0, 1.0, 1.0, 0.0]), np.array([4, 1, 4, 3]), np.array([0, 3, 4, 4])),
        shape=(3, 6),
    )
    before = (exclude.indices.copy(), exclude.data.copy())
    got = top_n(U, I, 6, exclude=exclude)
    mask = np.zeros((3, 6), bool)
    mask[0, [1, 4]] = mask[1, 3] = True
    S = masked_scores(U, I)
    S[mask] = -np.inf
    assert_top_equal(got, brute_top(S, 6))
    np.testing.assert_array_equal(exclude.indices, before[0])  # caller's matrix untouched
    np.testing.assert_array_equal(exclude.data, before[1])


@pytest.mark.parametrize("block_size", [None, 1])
def test_top_n_candidate_list(rng, small_tiles, block_size):
    U, I = int_vectors(rng, 11, 3), int_vectors(rng, 30, 3)
    cands = [29, 3, 7, 3, 15, 0, 22, 8]  # unsorted, with a duplicate
    exclude = sp.random(11, 30, density=0.3, format="csr", random_state=3)
    allowed = np.zeros((11, 30), bool)
    allowed[:, cands] = True
    for ex in (None, exclude):
        got = top_n(U, I, 9, exclude=ex, candidates=np.array(cands), block_size=block_size)
        assert_top_equal(got, brute_top(masked_scores(U, I, ex, allowed), 9))  # 7 unique: pads


@pytest.mark.parametrize("path", ["direct", "gemm"])
@pytest.mark.parametrize("block_size", [None, 1, 5])
def test_top_n_candidate_csr(rng, monkeypatch, small_tiles, path, block_size):
    monkeypatch.setattr(ranking, "_DIRECT_DENSITY", 2.0 if path == "direct" else 0.0)
    U, I = int_vectors(rng, 12, 5), int_vectors(rng, 25, 5)
    cand = sp.random(12, 25, density=0.4, format="lil", random_state=4)
    cand[3] = 0  # user 3: no candidate at all
    cand = sp.csr_matrix(cand)
    assert cand[3].nnz == 0
    exclude = sp.random(12, 25, density=0.3, format="csr", random_state=5)
    allowed = cand.toarray() != 0
    for ex in (None, exclude):
        got = top_n(U, I, 6, exclude=ex, candidates=cand, block_size=block_size)
        assert_top_equal(got, brute_top(masked_scores(U, I, ex, allowed), 6))
        assert (got[0][3] == -1).all()


def test_top_n_empty_candidate_list_and_no_users(rng):
    U, I = int_vectors(rng, 4, 3), int_vectors(rng, 5, 3)
    items, scores = top_n(U, I, 3, candidates=np.array([], dtype=np.int64))
    assert (items == -1).all() and np.isneginf(scores).all() and items.shape == (4, 3)
    items, scores = top_n(U[:0], I, 3)
    assert items.shape == (0, 3) and scores.shape == (0, 3)


def test_top_n_independent_of_threads_blocks_and_partitions(rng):
    U, I = int_vectors(rng, 40, 4), int_vectors(rng, 60, 4)
    exclude = sp.random(40, 60, density=0.2, format="csr", random_state=6)
    ref = top_n(U, I, 8, exclude=exclude)
    for kwargs in ({"n_threads": 1}, {"n_threads": 2, "block_size": 3}, {"block_size": 40}):
        assert_top_equal(top_n(U, I, 8, exclude=exclude, **kwargs), ref)
    # a pure function of a user block: partitions concatenate to the whole
    parts = [top_n(U[a:b], I, 8, exclude=exclude[a:b]) for a, b in [(0, 15), (15, 16), (16, 40)]]
    assert_top_equal((np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])), ref)


def test_top_n_accepts_float64_and_fortran_inputs(rng):
    U, I = int_vectors(rng, 9, 3), int_vectors(rng, 12, 3)
    ref = top_n(U, I, 5)
    assert_top_equal(top_n(np.asfortranarray(U, dtype=np.float64), I.astype(np.float64), 5), ref)


@pytest.mark.parametrize("n", [1, 5, 40])
def test_top_n_scores_equals_bruteforce_with_exclusions_and_candidates(rng, n):
    S = rng.integers(-3, 4, size=(23, 31)).astype(np.float32)  # integers: many exact ties
    exclude = sp.random(23, 31, density=0.3, format="lil", random_state=7)
    exclude[4] = 1.0  # user 4 has seen everything: all padding
    exclude = sp.csr_matrix(exclude)
    cand_list = np.array([30, 2, 9, 2, 17, 0])
    cand_csr = sp.random(23, 31, density=0.4, format="csr", random_state=8)
    allowed_list = np.zeros(S.shape, bool)
    allowed_list[:, cand_list] = True
    for ex in (None, exclude):
        for cand, allowed in ((None, None), (cand_list, allowed_list),
                              (cand_csr, cand_csr.toarray() != 0)):
            want = S.astype(np.float64)
            if ex is not None:
                want[ex.toarray() != 0] = -np.inf
            if allowed is not None:
                want[~allowed] = -np.inf
            before = S.copy()
            got = top_n_scores(S, n, exclude=ex, candidates=cand, n_threads=2)
            assert_top_equal(got, brute_top(want, min(n, 31)))  # n capped at the 31 items
            np.testing.assert_array_equal(S, before)  # overwrite=False leaves scores alone


def test_top_n_scores_overwrite_and_bad_input(rng):
    S = rng.normal(size=(5, 8)).astype(np.float32)
    ex = sp.csr_matrix(([1.0], ([0], [3])), shape=(5, 8))
    ref = top_n_scores(S, 3, exclude=ex)
    assert_top_equal(top_n_scores(S.astype(np.float64), 3, exclude=ex), ref)
    work = S.copy()
    assert_top_equal(top_n_scores(work, 3, exclude=ex, overwrite=True), ref)
    assert np.isneginf(work[0, 3])  # excluded in place
    with pytest.raises(ValueError, match="scores must be a 2-D array"):
        top_n_scores(S[0], 3)
    with pytest.raises(ValueError, match="scores contains NaN"):
        top_n_scores(np.full((2, 2), np.nan), 1)
    with pytest.raises(ValueError, match=r"exclude must have shape \(n_users, n_items\) = \(5, 8\)"):
        top_n_scores(S, 3, exclude=ex[:2])
    with pytest.raises(ValueError, match="n must be a positive integer"):
        top_n_scores(S, 0)


# --------------------------------------------------------------------------------------------
# similar_items / similar_users
# --------------------------------------------------------------------------------------------
def _cosine(X):
    X = X.astype(np.float64)
    norms = np.linalg.norm(X, axis=1)
    Xn = np.divide(X, norms[:, None], out=np.zeros_like(X), where=norms[:, None] > 0)
    return Xn @ Xn.T


def test_similar_items_matches_bruteforce_cosine(rng):
    E = rng.normal(size=(40, 6)).astype(np.float32)
    E[7] = 0.0  # a zero vector: cosine 0 to everything
    b = rng.normal(size=(40, 1)).astype(np.float32) * 100  # bias column: must be ignored
    I = np.hstack([E, b])
    C = _cosine(E)
    query = np.array([0, 7, 12, 39])
    items, scores = similar_items(I, query, 5)
    S = C[query].copy()
    S[np.arange(len(query)), query] = -np.inf  # exclude_self
    want_items, want_scores = brute_top(S, 5)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    assert (items != query[:, None]).all()
    np.testing.assert_array_equal(items[[0, 2, 3]], want_items[[0, 2, 3]])
    np.testing.assert_array_equal(items[1], [0, 1, 2, 3, 4])  # all ties at 0: lowest indices
    # scalar query -> 1-D; exclude_self=False puts the item itself first
    i1, s1 = similar_items(I, 12, 3, exclude_self=False)
    assert i1.shape == (3,) and i1[0] == 12 and s1[0] == pytest.approx(1.0, abs=1e-6)
    # bias_column=False uses every column
    i2, s2 = similar_items(E, 12, 4, bias_column=False)
    np.testing.assert_array_equal(i2, items[2, :4])


def test_similar_items_integer_vectors_tie_rule(rng):
    E = int_vectors(rng, 30, 2, lo=-1, hi=2)  # many parallel vectors: exact cosine ties
    items, scores = similar_items(E, np.arange(30), 6, bias_column=False)
    S = _cosine(E)
    np.fill_diagonal(S, -np.inf)
    want_items, want_scores = brute_top(S, 6)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    # rows whose cosines are exactly representable compare exactly (vectors of one norm class)
    exact = np.all(np.isclose(np.abs(want_scores), np.round(np.abs(want_scores)), atol=1e-9)
                   | np.isneginf(want_scores), axis=1)
    np.testing.assert_array_equal(items[exact], want_items[exact])


def test_similar_users_drops_the_constant_column(rng):
    P = rng.normal(size=(25, 4)).astype(np.float32)
    U = np.hstack([P, np.ones((25, 1), np.float32)])
    users, scores = similar_users(U, [3, 9], 4)
    S = _cosine(P)[[3, 9]]
    S[[0, 1], [3, 9]] = -np.inf
    want_items, want_scores = brute_top(S, 4)
    np.testing.assert_array_equal(users, want_items)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, None])
def test_top_n_rejects_bad_n(rng, bad):
    U, I = int_vectors(rng, 3, 2), int_vectors(rng, 4, 2)
    with pytest.raises(ValueError, match=r"^n must be a positive integer; got "):
        top_n(U, I, bad)
    with pytest.raises(ValueError, match=r"^n must be a positive integer"):
        similar_items(I, 0, bad)


def test_top_n_rejects_mismatched_factor_dims(rng):
    with pytest.raises(ValueError, match=r"U and I must have the same number of columns "
                                         r"\(factor dimension\); got U with 3 and I with 4"):
        top_n(int_vectors(rng, 3, 3), int_vectors(rng, 5, 4), 2)


def test_top_n_rejects_bad_exclude(rng):
    U, I = int_vectors(rng, 5, 2), int_vectors(rng, 7, 2)
    with pytest.raises(ValueError, match=r"exclude must have shape \(n_users, n_items\) = "
                                         r"\(5, 7\); got \(5, 6\)"):
        top_n(U, I, 2, exclude=sp.csr_matrix((5, 6)))
    with pytest.raises(TypeError, match=r"exclude must be a scipy sparse matrix"):
        top_n(U, I, 2, exclude=np.zeros((5, 7)))


def test_top_n_rejects_bad_candidates(rng):
    U, I = int_vectors(rng, 5, 2), int_vectors(rng, 7, 2)
    with pytest.raises(ValueError, match=r"candidates holds item index 7 outside \[0, 7\)"):
        top_n(U, I, 2, candidates=[1, 7])
    with pytest.raises(ValueError, match=r"candidates holds item index -1 outside \[0, 7\)"):
        top_n(U, I, 2, candidates=[-1, 3])
    with pytest.raises(TypeError, match=r"candidates must hold integer item indices"):
        top_n(U, I, 2, candidates=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"candidates must have shape \(n_users, n_items\) = "
                                         r"\(5, 7\); got \(4, 7\)"):
        top_n(U, I, 2, candidates=sp.csr_matrix((4, 7)))


def test_top_n_rejects_bad_vectors_and_block_size(rng):
    U, I = int_vectors(rng, 5, 2), int_vectors(rng, 7, 2)
    U[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"U contains NaN or infinite values"):
        top_n(U, I, 2)
    with pytest.raises(ValueError, match=r"I must be a 2-D array"):
        top_n(I, I[0], 2)
    with pytest.raises(ValueError, match=r"block_size must be a positive integer; got 0"):
        top_n(I, I, 2, block_size=0)


def test_similar_rejects_bad_index_and_shape(rng):
    I = rng.normal(size=(6, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"item_idx holds index 6 outside \[0, 6\)"):
        similar_items(I, [0, 6], 2)
    with pytest.raises(ValueError, match=r"with bias_column=True the last column is dropped"):
        similar_users(I[:, :1], 0, 2)


def test_top_n_rejects_malformed_csr(rng):
    U, I = int_vectors(rng, 2, 2), int_vectors(rng, 4, 2)
    bad = sp.csr_matrix((np.ones(2), np.array([1, 9]), np.array([0, 1, 2])), shape=(2, 4))
    with pytest.raises(ValueError, match=r"exclude holds column indices outside \[0, 4\)"):
        top_n(U, I, 2, exclude=bad)
