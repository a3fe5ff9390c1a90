"""Planted signal: user attributes drive preferences. For users never seen in training (no id
column, attributes only) an FM with attributes ranks their items clearly better than
popularity, and an ids-only FM cannot (it has nothing to go on)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _designs import attribute_rows, design_from_pairs

from recfm.model import FactorizationMachine

GROUPS, ITEMS_PER_GROUP = 4, 20


def simulate_users(rng, groups, per_user=12, loyalty=0.9):
    """Each user picks items of their own group (popularity-skewed within the group) with
    probability ``loyalty``, else any item uniformly."""
    n_items = GROUPS * ITEMS_PER_GROUP
    within = 1.0 / np.arange(1, ITEMS_PER_GROUP + 1) ** 0.7
    within /= within.sum()
    users, items = [], []
    for u, g in enumerate(groups):
        picks = set()
        while len(picks) < per_user:
            if rng.random() < loyalty:
                picks.add(int(g * ITEMS_PER_GROUP + rng.choice(ITEMS_PER_GROUP, p=within)))
            else:
                picks.add(int(rng.integers(n_items)))
        users += [u] * per_user
        items += sorted(picks)
    return np.array(users), np.array(items)


def ndcg_at_10(scores, truth):
    out = []
    for u in range(scores.shape[0]):
        rel = truth[u].indices
        top = np.lexsort((np.arange(scores.shape[1]), -scores[u]))[:10]
        dcg = sum(1 / np.log2(r + 2) for r, i in enumerate(top) if i in rel)
        out.append(dcg / sum(1 / np.log2(r + 2) for r in range(min(10, rel.size))))
    return float(np.mean(out))


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    n_train, n_cold, n_items = 200, 60, GROUPS * ITEMS_PER_GROUP
    g_train = np.arange(n_train) % GROUPS
    g_cold = np.arange(n_cold) % GROUPS
    users, items = simulate_users(rng, g_train)
    cold_users, cold_items = simulate_users(rng, g_cold)
    truth = sp.csr_matrix((np.ones(cold_users.size), (cold_users, cold_items)),
                          shape=(n_cold, n_items))
    onehot = np.eye(GROUPS)
    with_attrs = design_from_pairs(users, items, n_train, n_items, user_attrs=onehot[g_train])
    ids_only = design_from_pairs(users, items, n_train, n_items)
    popularity = np.bincount(items, minlength=n_items).astype(float)
    return with_attrs, ids_only, onehot[g_cold], truth, popularity


def cold_scores(model, design, cold_attrs):
    off = design.extra["offsets"]
    if off["user_attrs"] == off["item_ids"]:  # no attribute block: cold rows are empty
        Xq = sp.csr_matrix((cold_attrs.shape[0], off["n_features"]), dtype=np.float32)
    else:
        Xq = attribute_rows(cold_attrs, off["user_attrs"], off["n_features"])
    P, c = model.query_repr(Xq)
    E, b = model.item_repr(design.item_features)
    return P @ E.T + b + c[:, None]


@pytest.mark.parametrize("loss", ["warp", "bpr"])
def test_attributes_rank_cold_users_better_than_popularity_and_ids_cannot(planted, loss):
    with_attrs, ids_only, cold_attrs, truth, popularity = planted
    kw = dict(n_factors=8, loss=loss, n_epochs=25, n_threads=1, random_state=0)
    fm_attrs = FactorizationMachine(**kw).fit(with_attrs)
    fm_ids = FactorizationMachine(**kw).fit(ids_only)
    pop = ndcg_at_10(np.tile(popularity, (truth.shape[0], 1)), truth)
    attrs = ndcg_at_10(cold_scores(fm_attrs, with_attrs, cold_attrs), truth)
    ids = ndcg_at_10(cold_scores(fm_ids, ids_only, cold_attrs), truth)
    assert attrs > pop + 0.2 and attrs > 1.8 * pop, (attrs, pop, ids)
    assert ids < pop + 0.05, (attrs, pop, ids)
