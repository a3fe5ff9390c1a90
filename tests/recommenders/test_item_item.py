"""EASE and ItemKNN against dense numpy references; λ chosen on train only; bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.evaluation import evaluate
from recfm.recommenders import EASE, ItemKNN
from recfm.split import random_split
from tests.test_ranking import brute_top


def _frame(seed: int = 0, n_users: int = 60, n_items: int = 25, density: float = 0.3):
    """Random binary interactions; every user and item has at least one."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_users, n_items)) < density
    X[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    X[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    u, i = np.nonzero(X)
    # ids that are not row numbers, in shuffled order: the model must map them
    frame = pd.DataFrame({"user_id": u * 7 + 3, "item_id": 1000 - i, "rating": 4.0})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _dense(model, frame: pd.DataFrame) -> np.ndarray:
    """Binary users x items matrix of ``frame`` in the model's row/column order."""
    X = np.zeros((len(model.user_ids_), len(model.item_ids_)))
    X[model.user_ids_.get_indexer(frame.user_id), model.item_ids_.get_indexer(frame.item_id)] = 1
    return X


def ease_reference(X: np.ndarray, l2: float) -> np.ndarray:
    """Steck's closed form, literally: P = (XᵀX + λI)⁻¹, B = I − P diag(1/diag P)."""
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    return np.eye(X.shape[1]) - P / np.diag(P)[None, :]


def ndcg_reference(S: np.ndarray, seen: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean NDCG@k over users with truth, by brute-force ranking of S (seen excluded)."""
    S = np.where(seen > 0, -np.inf, S)
    items, _ = brute_top(S, k)
    values = []
    for u in np.flatnonzero(truth.sum(axis=1)):
        gains = [truth[u, j] if j >= 0 else 0.0 for j in items[u]]
        dcg = sum(g / np.log2(r + 2) for r, g in enumerate(gains))
        ideal = sum(1 / np.log2(r + 2) for r in range(min(k, int(truth[u].sum()))))
        values.append(dcg / ideal)
    return float(np.mean(values))


def rank_all(model, n_items: int, exclude_seen: bool):
    """(items, scores) arrays of recommend_all, users in fitted order."""
    recs = model.recommend_all(n=n_items, exclude_seen=exclude_seen)
    rows = model.user_ids_.get_indexer(recs.user_id)
    items = np.full((len(model.user_ids_), n_items), -1)
    scores = np.full((len(model.user_ids_), n_items), -np.inf)
    items[rows, recs["rank"] - 1] = model.item_ids_.get_indexer(recs.item_id)
    scores[rows, recs["rank"] - 1] = recs.score
    return items, scores


# --------------------------------------------------------------------------------------------
# EASE
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("l2", [0.5, 30.0])
def test_ease_weights_and_scores_equal_dense_reference(l2):
    frame = _frame()
    model = EASE(l2=l2, n_threads=1).fit(frame)
    X = _dense(model, frame)
    B = ease_reference(X, l2)
    assert model.B_.dtype == np.float32
    np.testing.assert_allclose(model.B_, B, rtol=1e-5, atol=1e-6)
    assert (np.diag(model.B_) == 0).all()
    n_items = X.shape[1]
    for exclude_seen in (False, True):
        S = X @ B
        if exclude_seen:
            S[X > 0] = -np.inf
        want_items, want_scores = brute_top(S, n_items)
        items, scores = rank_all(model, n_items, exclude_seen)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(items, want_items)


def test_ease_candidates_and_min_rating():
    frame = _frame(1)
    frame.loc[frame.index[::3], "rating"] = 2.0
    model = EASE(l2=10.0, min_rating=4, n_threads=1).fit(frame)
    pos = frame[frame.rating >= 4]
    X = _dense(model, pos)
    np.testing.assert_allclose(model.B_, ease_reference(X, 10.0), rtol=1e-5, atol=1e-6)
    candidates = model.item_ids_[[0, 3, 5, 8]]
    recs = model.recommend(model.user_ids_[:10], n=3, items=candidates)
    assert set(recs.item_id) <= set(candidates)
    S = X[:10] @ ease_reference(X, 10.0)
    allowed = np.zeros_like(S, bool)
    allowed[:, [0, 3, 5, 8]] = True
    # the low ratings are not positives, but are excluded like them (rated_below_)
    known = frame[frame.user_id.isin(model.user_ids_) & frame.item_id.isin(model.item_ids_)]
    S[~allowed | (_dense(model, known)[:10] > 0)] = -np.inf
    want, _ = brute_top(S, 3)
    got = np.full((10, 3), -1)
    rows = model.user_ids_.get_indexer(recs.user_id)
    got[rows, recs["rank"] - 1] = model.item_ids_.get_indexer(recs.item_id)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(KeyError, match="not in the catalogue, e.g. 123456"):
        model.recommend(model.user_ids_[:1], items=[123456])


@pytest.mark.filterwarnings("ignore:EASE chose")
def test_ease_auto_l2_equals_search_by_hand_on_a_split_of_train():
    """Each grid λ's validation NDCG (from the one eigendecomposition) equals a direct fit on
    the validation split carved from train, and the best one is chosen."""
    frame = _frame(2, n_users=80, n_items=30)
    grid = (1.0, 10.0, 100.0)
    model = EASE(l2="auto", l2_grid=grid, validation_size=0.2, random_state=5,
                 n_threads=1).fit(frame)
    fit_part, val_part = random_split(frame[["user_id", "item_id"]], test_size=0.2, seed=5)
    X_fit, X_val = _dense(model, fit_part), _dense(model, val_part)
    want = {l2: ndcg_reference(X_fit @ ease_reference(X_fit, l2), X_fit, X_val, 10)
            for l2 in grid}
    assert model.l2_scores_.keys() == want.keys()
    np.testing.assert_allclose(list(model.l2_scores_.values()), list(want.values()), atol=1e-9)
    assert model.l2_ == max(want, key=want.get)
    # the final weights are the full-train fit at the chosen λ
    np.testing.assert_allclose(model.B_, ease_reference(_dense(model, frame), model.l2_),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:EASE chose")
def test_ease_search_ranks_the_documented_sample_of_validation_users():
    """With more validation users than ``validation_users``, each λ's NDCG is the by-hand
    NDCG over the seeded sample the docstring names, and no more than that many users."""
    frame = _frame(6, n_users=80, n_items=30)
    grid = (1.0, 10.0, 100.0)
    model = EASE(l2_grid=grid, validation_size=0.2, validation_users=15, random_state=3,
                 n_threads=1).fit(frame)
    fit_part, val_part = random_split(frame[["user_id", "item_id"]], test_size=0.2, seed=3)
    X_fit, X_val = _dense(model, fit_part), _dense(model, val_part)
    with_items = np.flatnonzero(X_val.sum(axis=1))
    assert len(with_items) > 15
    sample = np.sort(np.random.default_rng(3).choice(with_items, 15, replace=False))
    mask = np.zeros(len(X_val), bool)
    mask[sample] = True
    truth = np.where(mask[:, None], X_val, 0.0)
    want = {l2: ndcg_reference(X_fit @ ease_reference(X_fit, l2), X_fit, truth, 10)
            for l2 in grid}
    np.testing.assert_allclose(list(model.l2_scores_.values()), list(want.values()), atol=1e-9)
    everyone = EASE(l2_grid=grid, validation_size=0.2, validation_users=None, random_state=3,
                    n_threads=1).fit(frame)
    assert everyone.l2_scores_ != model.l2_scores_  # the sample is not all of them
    # a cap above the number of validation users changes nothing
    above = EASE(l2_grid=grid, validation_size=0.2, validation_users=len(with_items),
                 random_state=3, n_threads=1).fit(frame)
    assert above.l2_scores_ == everyone.l2_scores_
    with pytest.raises(ValueError, match="validation_users must be a positive integer; got 0"):
        EASE(validation_users=0).fit(frame)


def test_ease_l2_never_sees_the_test_set():
    frame = _frame(3, n_users=80, n_items=30)
    train, test = random_split(frame, test_size=0.2, seed=0)
    # a poisoned test set: every test user's "relevant" items replaced by other items
    poisoned = test.copy()
    poisoned["item_id"] = np.roll(poisoned["item_id"].to_numpy(), 7)
    poisoned = poisoned.drop_duplicates(["user_id", "item_id"])
    poisoned = poisoned.merge(train[["user_id", "item_id"]], how="left", indicator=True)
    poisoned = poisoned[poisoned["_merge"] == "left_only"].drop(columns="_merge")
    chosen = []
    for t in (test, poisoned):
        model = EASE(l2_grid=(0.5, 5.0, 50.0, 500.0), random_state=1, n_threads=1)
        result = evaluate({"ease": model}, train, t, k=10)
        chosen.append((model.l2_, model.l2_scores_, result.table.loc["ease", "ndcg@10"]))
    assert chosen[0][0] == chosen[1][0] and chosen[0][1] == chosen[1][1]
    assert chosen[0][2] != chosen[1][2]  # the poison did change the test metric


def test_ease_warns_on_grid_edge_and_rejects_bad_params():
    frame = _frame(4)
    with pytest.warns(UserWarning, match="on the edge of l2_grid"):
        EASE(l2_grid=(1e4, 1e5), n_threads=1).fit(frame)
    for bad in ("big", -1.0, 0, float("nan"), True):
        with pytest.raises(ValueError, match="l2 must be a positive number or 'auto'"):
            EASE(l2=bad).fit(frame)
    with pytest.raises(ValueError, match="l2_grid must hold positive finite numbers"):
        EASE(l2_grid=(10.0, -1.0)).fit(frame)
    with pytest.raises(ValueError, match="validation_size must be in"):
        EASE(validation_size=1.5).fit(frame)
    with pytest.raises(ValueError, match="validation_k must be a positive integer; got 0"):
        EASE(validation_k=0).fit(frame)


def test_ease_auto_needs_users_to_validate_on():
    few = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 11, 10, 12, 11]})
    with pytest.raises(DataError, match="no user with enough interactions to carve a validation"):
        EASE().fit(few)
    assert EASE(l2=1.0).fit(few).recommend([1], n=1).item_id.tolist() == [12]


def test_ease_refuses_a_catalogue_too_large_for_memory_before_work():
    frame = _frame(5)
    model = EASE(l2=10.0, memory_limit=10_000)
    with pytest.raises(MemoryError, match=r"about 0\.0 GiB for its dense 25 x 25 item matrices"):
        model.fit(frame)
    assert not hasattr(model, "seen_")
    n = 26_744  # ML-20M's catalogue
    with pytest.raises(MemoryError, match=r"needs about 13\.3 GiB .* 26,744 x 26,744"):
        EASE(l2=10.0, memory_limit=2**30)._check_memory(n, search=False)


# --------------------------------------------------------------------------------------------
# ItemKNN
# --------------------------------------------------------------------------------------------
def knn_reference(X: np.ndarray, k: int, shrinkage: float) -> np.ndarray:
    """Dense cosine (with shrinkage), each row cut to its k largest positive off-diagonal
    entries, ties to the lower column."""
    norms = np.sqrt(X.sum(axis=0))
    sim = (X.T @ X) / (norms[:, None] * norms[None, :] + shrinkage)
    np.fill_diagonal(sim, -np.inf)
    keep, _ = brute_top(sim.astype(np.float32).astype(np.float64), k)
    S = np.zeros_like(sim)
    for i, row in enumerate(keep):
        row = row[row >= 0]
        row = row[sim[i, row] > 0]
        S[i, row] = sim[i, row].astype(np.float32)  # the model keeps float32 similarities
    return S


@pytest.mark.parametrize("k, shrinkage", [(3, 0.0), (7, 2.5), (100, 0.0)])
def test_itemknn_equals_bruteforce_cosine(k, shrinkage, monkeypatch):
    import recfm.recommenders.item_item as item_item

    monkeypatch.setattr(item_item, "_BLOCK_BYTES", 4 * 25 * 4)  # several blocks of 4 rows
    frame = _frame(6, density=0.15)
    model = ItemKNN(n_neighbors=k, shrinkage=shrinkage, n_threads=1).fit(frame)
    X = _dense(model, frame)
    S = knn_reference(X, k, shrinkage)
    got = model.similarity_.toarray()
    np.testing.assert_array_equal(got != 0, S != 0)
    np.testing.assert_array_equal(got, S)
    n_items = X.shape[1]
    for exclude_seen in (False, True):
        scores = X @ S
        if exclude_seen:
            scores[X > 0] = -np.inf
        want_items, want_scores = brute_top(scores.astype(np.float32).astype(np.float64), n_items)
        items, got_scores = rank_all(model, n_items, exclude_seen)
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5)
        np.testing.assert_array_equal(items, want_items)


def test_itemknn_bad_params():
    frame = _frame(7)
    with pytest.raises(ValueError, match="n_neighbors must be a positive integer; got 0"):
        ItemKNN(n_neighbors=0).fit(frame)
    with pytest.raises(ValueError, match="shrinkage must be a finite number >= 0; got -1"):
        ItemKNN(shrinkage=-1).fit(frame)


def test_item_item_models_are_sparse_in_what_they_store():
    frame = _frame(8, n_items=40, density=0.1)
    model = ItemKNN(n_neighbors=5, n_threads=1).fit(frame)
    assert sp.isspmatrix_csr(model.similarity_)
    assert np.diff(model.similarity_.indptr).max() <= 5


# --------------------------------------------------------------------------------------------
# history= (users described by their items at request time)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: EASE(l2=20.0, n_threads=1),
                                  lambda: ItemKNN(n_neighbors=5, n_threads=1)])
def test_new_user_from_history_scores_as_the_trained_user_with_those_items(make):
    frame = _frame(9)
    model = make().fit(frame)
    user = model.user_ids_[3]
    own = frame.loc[frame.user_id == user, "item_id"].tolist()
    want = model.recommend([user], n=8)
    for history in ({"new": own}, pd.DataFrame({"user_id": "new", "item_id": own})):
        got = model.recommend(["new"], n=8, history=history)
        assert got.item_id.tolist() == want.item_id.tolist()
        np.testing.assert_allclose(got.score, want.score, rtol=1e-6)
    # a known user's history replaces its training items; both are excluded
    other = frame.loc[frame.user_id == model.user_ids_[4], "item_id"].tolist()
    mixed = model.recommend([user], n=len(model.item_ids_), history={user: other})
    assert not set(mixed.item_id) & (set(own) | set(other))
    X = np.zeros((1, len(model.item_ids_)))
    X[0, model.item_ids_.get_indexer(other)] = 1
    W = model.B_ if isinstance(model, EASE) else model.similarity_.toarray()
    S = (X @ W)[0]
    np.testing.assert_allclose(mixed.score, S[model.item_ids_.get_indexer(mixed.item_id)],
                               rtol=1e-5, atol=1e-6)
    # an empty history: every score 0, ties to the lower item index
    empty = model.recommend(["new"], n=3, history={"new": []})
    assert empty.score.tolist() == [0.0] * 3
    assert empty.item_id.tolist() == list(model.item_ids_[:3])


def test_history_bad_input():
    frame = _frame(10)
    model = EASE(l2=20.0, n_threads=1).fit(frame)
    with pytest.raises(DataError, match="history has 1 item id.* not in the catalogue, e.g. 99999"):
        model.recommend(["new"], history={"new": [model.item_ids_[0], 99999]})
    with pytest.raises(DataError, match="history must be a DataFrame"):
        model.recommend(["new"], history=[1, 2])
    with pytest.raises(DataError, match=r"history is missing column\(s\) \['item_id'\]"):
        model.recommend(["new"], history=pd.DataFrame({"user_id": ["new"]}))
    with pytest.raises(KeyError, match="not seen in training, e.g. 'other'"):
        model.recommend(["new", "other"], history={"new": [model.item_ids_[0]]})


@pytest.mark.parametrize("make", [lambda: EASE(l2=20.0, n_threads=1),
                                  lambda: ItemKNN(n_neighbors=5, n_threads=1)])
def test_history_ids_are_matched_by_their_text(make):
    """A request's history names users and items as the CLI reads them: '3' is user 3 of a
    model with integer ids, and the frame echoes the model's ids."""
    frame = _frame(11)
    model = make().fit(frame)
    user, items = model.user_ids_[2], model.item_ids_[:4]
    want = model.recommend([user, "new"], n=5, history={"new": list(items)})
    for history in ({"new": [str(i) for i in items]},
                    pd.DataFrame({"user_id": "new", "item_id": [str(i) for i in items]})):
        got = model.recommend([str(user), "new"], n=5, history=history)
        pd.testing.assert_frame_equal(got, want)
    # a known user's history given under its id as text replaces its training items
    replaced = model.recommend([user], n=5, history={str(user): list(items)})
    pd.testing.assert_frame_equal(replaced, model.recommend([user], n=5, history={user: list(items)}))
    with pytest.raises(DataError, match=r"e.g. '0999'; the model's item ids are integers"):
        model.recommend(["new"], history={"new": ["0999"]})
    with pytest.raises(DataError, match=f"history names user {user} twice"):
        model.recommend([user], history={user: [], str(user): list(items)})
