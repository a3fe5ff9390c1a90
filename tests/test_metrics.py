"""Metrics against hand-computed cases and a brute-force per-user loop."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.metrics import (
    METRICS,
    coverage_at_k,
    hit_matrix,
    hit_rate_at_k,
    map_at_k,
    metrics_from_frames,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

FUNCS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "hit_rate": hit_rate_at_k,
    "mrr": mrr_at_k,
}
L3, L4, L5 = math.log2(3), math.log2(4), math.log2(5)


def csr(rows, n_items):
    """csr from a list of test-item lists, one per user."""
    data = [(u, i) for u, items in enumerate(rows) for i in items]
    r = [u for u, _ in data]
    c = [i for _, i in data]
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_items))


# Hand-computed example, 6 items:
#   user 0: recs [0, 1, 2, 3], T = {1, 3, 5}  -> rel = [0, 1, 0, 1]
#   user 1: recs [4, -1, -1, -1], T = {4}     -> rel = [1, 0, 0, 0] (padded list)
#   user 2: recs [0, 1, 2, 3], T = {}         -> NaN everywhere (not averaged)
#   user 3: recs [5, 0, -1, -1], T = {2}      -> rel = [0, 0, 0, 0]
RECS = np.array([[0, 1, 2, 3], [4, -1, -1, -1], [0, 1, 2, 3], [5, 0, -1, -1]])
TEST = csr([[1, 3, 5], [4], [], [2]], 6)
NAN = np.nan
EXPECTED = {
    4: {
        # user 0: hits = 2 -> P = 2/4; user 1: 1/4; user 3: 0
        "precision": [2 / 4, 1 / 4, NAN, 0.0],
        # user 0: 2/|T| = 2/3; user 1: 1/1
        "recall": [2 / 3, 1.0, NAN, 0.0],
        # user 0: DCG = 1/log2(3) + 1/log2(5); IDCG over min(4,3) = 3 items:
        #         1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 1/log2(3) + 1/2
        # user 1: DCG = 1 = IDCG -> 1
        "ndcg": [(1 / L3 + 1 / L5) / (1 + 1 / L3 + 1 / L4), 1.0, NAN, 0.0],
        # user 0: (P@2 * 1 + P@4 * 1) / min(4, 3) = (1/2 + 2/4) / 3 = 1/3
        # user 1: P@1 / min(4, 1) = 1
        "map": [1 / 3, 1.0, NAN, 0.0],
        "hit_rate": [1.0, 1.0, NAN, 0.0],
        # user 0: first hit at rank 2 -> 1/2
        "mrr": [0.5, 1.0, NAN, 0.0],
    },
    2: {
        # user 0: top 2 = [0, 1], rel = [0, 1]
        "precision": [1 / 2, 1 / 2, NAN, 0.0],
        "recall": [1 / 3, 1.0, NAN, 0.0],
        # user 0: DCG = 1/log2(3); IDCG over min(2,3) = 2 items: 1 + 1/log2(3)
        "ndcg": [(1 / L3) / (1 + 1 / L3), 1.0, NAN, 0.0],
        # user 0: P@2 * 1 / min(2, 3) = (1/2) / 2 = 1/4
        "map": [1 / 4, 1.0, NAN, 0.0],
        "hit_rate": [1.0, 1.0, NAN, 0.0],
        "mrr": [0.5, 1.0, NAN, 0.0],
    },
    6: {
        # k beyond K = 4: the missing positions are padding; P divides by k = 6
        "precision": [2 / 6, 1 / 6, NAN, 0.0],
        "recall": [2 / 3, 1.0, NAN, 0.0],
        "ndcg": [(1 / L3 + 1 / L5) / (1 + 1 / L3 + 1 / L4), 1.0, NAN, 0.0],
        "map": [1 / 3, 1.0, NAN, 0.0],
        "hit_rate": [1.0, 1.0, NAN, 0.0],
        "mrr": [0.5, 1.0, NAN, 0.0],
    },
}


@pytest.mark.parametrize("k", [2, 4, 6])
@pytest.mark.parametrize("name", list(FUNCS))
def test_hand_computed(name, k):
    got = FUNCS[name](RECS, TEST, k)
    np.testing.assert_allclose(got, EXPECTED[k][name], rtol=0, atol=1e-12)
    assert got.dtype == np.float64


def test_hand_computed_map_two_hits_at_top():
    # recs [a, b, c], T = {a, c, x, y}: rel = [1, 0, 1]
    # MAP@3 = (P@1 * 1 + P@3 * 1) / min(3, 4) = (1 + 2/3) / 3 = 5/9
    # NDCG@3 = (1 + 1/log2(4)) / (1 + 1/log2(3) + 1/log2(4))
    recs = np.array([[0, 1, 2]])
    test = csr([[0, 2, 3, 4]], 5)
    assert map_at_k(recs, test, 3)[0] == pytest.approx(5 / 9)
    assert ndcg_at_k(recs, test, 3)[0] == pytest.approx((1 + 0.5) / (1 + 1 / L3 + 0.5))
    assert mrr_at_k(recs, test, 3)[0] == 1.0


def test_coverage_hand_computed():
    # top-2 lists: {0,1}, {4}, {0,1}, {5,0} -> distinct {0,1,4,5} = 4 of 6 items
    assert coverage_at_k(RECS, 6, 2) == pytest.approx(4 / 6)
    # top-4: {0,1,2,3,4,5} -> 6/6
    assert coverage_at_k(RECS, 6, 4) == 1.0
    assert coverage_at_k(np.full((3, 5), -1), 10, 5) == 0.0
    # the catalogue may be larger than the items appearing anywhere
    assert coverage_at_k(RECS, 12, 1) == pytest.approx(3 / 12)  # {0, 4, 5}


def test_ranking_metrics_keys_and_values():
    out = ranking_metrics(RECS, TEST, ks=[4, 2])
    assert list(out) == [f"{m}@{k}" for k in (2, 4) for m in METRICS]
    for k in (2, 4):
        for m in METRICS:
            np.testing.assert_allclose(out[f"{m}@{k}"], EXPECTED[k][m], atol=1e-12)
    assert list(ranking_metrics(RECS, TEST, ks=4)) == [f"{m}@4" for m in METRICS]


# ------------------------------------------------------------------ brute-force loop
def brute_force(recs, test_rows, k):
    """Plain per-user loop straight from the definitions."""
    out = {m: [] for m in METRICS}
    for row, T in zip(recs, test_rows, strict=True):
        if not T:
            for m in METRICS:
                out[m].append(np.nan)
            continue
        top = [i for i in row[:k]]
        rel = [1 if (i >= 0 and i in T) else 0 for i in top] + [0] * (k - len(top))
        hits = sum(rel)
        dcg = sum(r / math.log2(pos + 2) for pos, r in enumerate(rel))
        idcg = sum(1 / math.log2(pos + 2) for pos in range(min(k, len(T))))
        ap = sum((sum(rel[: r + 1]) / (r + 1)) * rel[r] for r in range(k))
        first = next((p + 1 for p, r in enumerate(rel) if r), None)
        out["precision"].append(hits / k)
        out["recall"].append(hits / len(T))
        out["ndcg"].append(dcg / idcg)
        out["map"].append(ap / min(k, len(T)))
        out["hit_rate"].append(float(hits > 0))
        out["mrr"].append(1 / first if first else 0.0)
    return {m: np.array(v) for m, v in out.items()}


def random_case(seed, n_users=400, n_items=60, K=15):
    rng = np.random.default_rng(seed)
    recs = np.full((n_users, K), -1, dtype=np.int64)
    test_rows = []
    for u in range(n_users):
        length = rng.integers(0, K + 1)  # some rows fully padded, some full
        recs[u, :length] = rng.choice(n_items, size=length, replace=False)
        if rng.random() < 0.15:  # -1 inside a list, not only at the end
            recs[u, rng.integers(0, K)] = -1
        n_t = 0 if rng.random() < 0.2 else rng.integers(1, 25)
        test_rows.append(set(rng.choice(n_items, size=n_t, replace=False).tolist()))
    return recs, test_rows, csr([sorted(t) for t in test_rows], n_items)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5, 15, 20])
def test_against_brute_force(seed, k):
    recs, rows, test = random_case(seed)
    expected = brute_force(recs, rows, k)
    got = ranking_metrics(recs, test, ks=[k])
    for m in METRICS:
        np.testing.assert_allclose(got[f"{m}@{k}"], expected[m], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(FUNCS[m](recs, test, k), expected[m], atol=1e-12)
    distinct = {i for r in recs for i in r[:k] if i >= 0}
    assert coverage_at_k(recs, 60, k) == pytest.approx(len(distinct) / 60)


def test_hit_matrix_and_binary_relevance():
    # explicit zeros are not relevant; repeated entries and weights count once
    test = sp.csr_matrix(
        (np.array([3.0, 0.0, 1.0, 1.0]), (np.array([0, 0, 0, 1]), np.array([1, 2, 1, 0]))),
        shape=(2, 4),
    )
    hits, n_rel = hit_matrix(np.array([[2, 1], [0, -1]]), test)
    np.testing.assert_array_equal(hits, [[False, True], [True, False]])
    np.testing.assert_array_equal(n_rel, [1, 1])


def test_empty_test_and_no_users():
    recs = np.array([[0, 1]])
    assert np.isnan(precision_at_k(recs, sp.csr_matrix((1, 3)), 2)).all()
    out = ranking_metrics(np.zeros((0, 3), dtype=int), sp.csr_matrix((0, 5)), 3)
    assert all(v.shape == (0,) for v in out.values())


@pytest.mark.parametrize(
    "recs, test, k, match",
    [
        (RECS, TEST, 0, "k must"),
        (RECS, TEST, -1, "k must"),
        (RECS, TEST, 2.5, "k must"),
        (RECS[:2], TEST, 2, "rows"),
        (np.array([0, 1]), TEST, 2, "2-D"),
        (RECS.astype(float), TEST, 2, "integer"),
        (np.array([[0, 0]] * 4), TEST, 2, "more than once"),
        (np.array([[0, -2]] * 4), TEST, 2, "-2"),
        (np.array([[0, 6]] * 4), TEST, 2, "6"),
        (RECS, TEST.toarray(), 2, "sparse"),
    ],
)
def test_bad_input(recs, test, k, match):
    with pytest.raises(ValueError, match=match):
        precision_at_k(recs, test, k)


def test_bad_ks_and_coverage_args():
    for ks in ([], [10, 0], "10", [True], None):
        with pytest.raises(ValueError, match="k must"):
            ranking_metrics(RECS, TEST, ks)
    with pytest.raises(ValueError, match="n_items"):
        coverage_at_k(RECS, 0, 2)
    with pytest.raises(ValueError, match="item index 5"):
        coverage_at_k(RECS, 5, 2)


# ------------------------------------------------------------------ frame level
def to_frames(recs, rows, user_ids, item_ids):
    rec_rows, test_rows = [], []
    for u, (row, T) in enumerate(zip(recs, rows, strict=True)):
        for pos, i in enumerate(row):
            if i >= 0:
                rec_rows.append((user_ids[u], item_ids[i], pos + 1, 1.0 / (pos + 1)))
        for i in T:
            test_rows.append((user_ids[u], item_ids[i]))
    recs_df = pd.DataFrame(rec_rows, columns=["user_id", "item_id", "rank", "score"])
    test_df = pd.DataFrame(test_rows, columns=["user_id", "item_id"])
    return recs_df.sample(frac=1.0, random_state=0), test_df


def test_metrics_from_frames_equals_array_path():
    recs, rows, test = random_case(5, n_users=120, n_items=40, K=12)
    user_ids = np.array([f"u{u:04d}" for u in range(120)])
    item_ids = np.arange(40) * 7 + 1000
    recs_df, test_df = to_frames(recs, rows, user_ids, item_ids)
    summary, per_user = metrics_from_frames(recs_df, test_df, ks=(5, 10), n_items=50)
    has_test = np.array([bool(t) for t in rows])
    arrays = ranking_metrics(recs, test, ks=(5, 10))
    assert list(per_user.index) == sorted(user_ids[has_test])
    for key, values in arrays.items():
        np.testing.assert_allclose(
            per_user[key].to_numpy(), values[has_test], rtol=0, atol=1e-12
        )
        assert summary[key] == pytest.approx(np.nanmean(values), abs=1e-12)
    for k in (5, 10):
        # coverage over the lists of the test users only
        assert summary[f"coverage@{k}"] == pytest.approx(coverage_at_k(recs[has_test], 50, k))
    assert summary["n_users_evaluated"] == has_test.sum()


def test_metrics_from_frames_gaps_and_missing_users():
    # user 1: ranks 1 and 3 (rank 2 missing -> padding); user 2 has no recommendations
    recs_df = pd.DataFrame(
        {"user_id": [1, 1, 9], "item_id": [10, 30, 10], "rank": [1, 3, 1]}
    )
    test_df = pd.DataFrame({"user_id": [1, 2], "item_id": [30, 10]})
    summary, per_user = metrics_from_frames(recs_df, test_df, ks=3)
    # user 1: rel = [0, 0, 1] -> MRR 1/3, NDCG = (1/log2 4) / 1 = 0.5; user 2: zeros
    assert per_user.loc[1, "mrr@3"] == pytest.approx(1 / 3)
    assert per_user.loc[1, "ndcg@3"] == pytest.approx(0.5)
    assert per_user.loc[2, "hit_rate@3"] == 0.0
    assert summary["hit_rate@3"] == 0.5
    # catalogue defaults to items of test and recs: {10, 30}; lists of users 1, 2: {10, 30}
    assert summary["coverage@3"] == 1.0


def test_metrics_from_frames_bad_input():
    test_df = pd.DataFrame({"user_id": [1], "item_id": [2]})
    dup = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 3], "rank": [1, 1]})
    with pytest.raises(DataError, match="user_id 1 at rank 1"):
        metrics_from_frames(dup, test_df, 5)
    bad_rank = pd.DataFrame({"user_id": [1], "item_id": [2], "rank": [0]})
    with pytest.raises(DataError, match="rank"):
        metrics_from_frames(bad_rank, test_df, 5)
    with pytest.raises(DataError, match="rank"):
        metrics_from_frames(pd.DataFrame({"user_id": [1], "item_id": [2]}), test_df, 5)
    with pytest.raises(DataError, match="item_id"):
        metrics_from_frames(dup, test_df.drop(columns="item_id"), 5)


def test_metrics_from_frames_refuses_integer_against_text_ids():
    recs_df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 6], "rank": [1, 2, 1]})
    text_users = pd.DataFrame({"user_id": ["1", "2"], "item_id": [2, 6]})
    with pytest.raises(DataError, match="'user_id' holds integers but test .* text .*'1'"):
        metrics_from_frames(recs_df, text_users, ks=3)
    text_items = pd.DataFrame({"user_id": [1, 2], "item_id": ["2", "6"]})
    with pytest.raises(DataError, match="test column 'item_id' holds text"):
        metrics_from_frames(recs_df, text_items, ks=3)
    text_recs = recs_df.astype({"item_id": str})
    with pytest.raises(DataError, match="test column 'item_id' holds integers but "
                                        "recommendations"):
        metrics_from_frames(text_recs, pd.DataFrame({"user_id": [1], "item_id": [2]}), ks=3)
    # the same ids as text on both sides score as integers do
    as_text = metrics_from_frames(recs_df.astype(str).astype({"rank": int}),
                                  text_users.astype(str), ks=3)[0]
    assert as_text["hit_rate@3"] == 1.0


def test_metrics_from_frames_warns_when_no_test_user_is_recommended():
    recs_df = pd.DataFrame({"user_id": [7, 8], "item_id": [1, 2], "rank": [1, 1]})
    test_df = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2]})
    with pytest.warns(UserWarning, match="none of the 2 test users has recommendations"):
        summary, _ = metrics_from_frames(recs_df, test_df, ks=1)
    assert summary["hit_rate@1"] == 0.0


def test_metrics_from_frames_takes_object_columns_of_python_ints_as_integers():
    recs_df = pd.DataFrame({"user_id": [1, 2], "item_id": [5, 6], "rank": [1, 1]})
    test_df = pd.DataFrame({"user_id": pd.Series([1, 2], dtype=object),
                            "item_id": pd.Series([5, 7], dtype=object)})
    assert metrics_from_frames(recs_df, test_df, ks=1)[0]["hit_rate@1"] == 0.5


def test_metrics_from_frames_takes_categorical_integer_ids_as_integers():
    recs_df = pd.DataFrame({"user_id": [1, 2], "item_id": [5, 6], "rank": [1, 1]})
    test_df = pd.DataFrame({"user_id": pd.Categorical([1, 2]), "item_id": [5, 7]})
    assert metrics_from_frames(recs_df, test_df, ks=1)[0]["hit_rate@1"] == 0.5
    with pytest.raises(DataError, match="holds text"):
        metrics_from_frames(recs_df, test_df.astype({"user_id": str}).astype(
            {"user_id": "category"}), ks=1)
