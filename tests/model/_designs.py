"""Hand-made FM designs for the model tests (scipy only; no FeatureBuilder).

Column layout of a design: ``[user ids | user attributes | item ids | item attributes |
context]``; any block may be empty.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recfm.features.design import Design


def _csr(rows, cols, vals, shape) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (np.asarray(vals, np.float32), (np.asarray(rows), np.asarray(cols))), shape=shape
    )
    m.sum_duplicates()
    m.sort_indices()
    return m


def random_pairs(rng: np.random.Generator, n_users: int, n_items: int, n_pairs: int,
                 min_per_user: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random (user, item) pairs, every user with at least ``min_per_user``."""
    users = np.repeat(np.arange(n_users), min_per_user)
    items = np.concatenate([rng.choice(n_items, min_per_user, replace=False)
                            for _ in range(n_users)]) if min_per_user else np.empty(0, int)
    extra = max(n_pairs - users.size, 0)
    users = np.concatenate([users, rng.integers(0, n_users, extra)])
    items = np.concatenate([items, rng.integers(0, n_items, extra)])
    key = np.unique(users.astype(np.int64) * n_items + items)
    return (key // n_items).astype(np.int32), (key % n_items).astype(np.int32)


def design_from_pairs(users, items, n_users: int, n_items: int, *,
                      user_attrs: np.ndarray | None = None,
                      item_attrs: np.ndarray | None = None,
                      n_context: int = 0, context_rng: np.random.Generator | None = None,
                      use_user_ids: bool = True, use_item_ids: bool = True,
                      values=None) -> Design:
    """Design of the given samples. ``user_attrs`` (n_users, a_u) and ``item_attrs``
    (n_items, a_i) are dense attribute blocks (zeros are dropped); ``n_context`` > 0 adds
    one random context column of value 1 per sample (from ``n_context`` columns)."""
    users = np.asarray(users, np.int32)
    items = np.asarray(items, np.int32)
    au = 0 if user_attrs is None else user_attrs.shape[1]
    ai = 0 if item_attrs is None else item_attrs.shape[1]
    nu_id = n_users if use_user_ids else 0
    ni_id = n_items if use_item_ids else 0
    off_ua, off_iid = nu_id, nu_id + au
    off_ia, off_ctx = off_iid + ni_id, off_iid + ni_id + ai
    n_features = off_ctx + n_context

    def side(n, ids, off_id, attrs, off_attr):
        blocks = []
        if ids:
            blocks.append(sp.csr_matrix(
                (np.ones(n, np.float32), (np.arange(n), off_id + np.arange(n))),
                shape=(n, n_features)))
        if attrs is not None:
            a = sp.csr_matrix(attrs.astype(np.float32))
            a.eliminate_zeros()
            a = sp.csr_matrix((a.data, a.indices + off_attr, a.indptr), shape=(n, n_features))
            blocks.append(a)
        m = sp.csr_matrix((n, n_features), dtype=np.float32)
        for b in blocks:
            m = m + b
        m = sp.csr_matrix(m, dtype=np.float32)
        m.sort_indices()
        return m

    uf = side(n_users, use_user_ids, 0, user_attrs, off_ua)
    itf = side(n_items, use_item_ids, off_iid, item_attrs, off_ia)
    key = np.unique(users.astype(np.int64) * n_items + items)
    inter = _csr(key // n_items, key % n_items, np.ones(key.size), (n_users, n_items))
    ctx = None
    if n_context:
        rng = context_rng or np.random.default_rng(0)
        cols = off_ctx + rng.integers(0, n_context, users.size)
        ctx = _csr(np.arange(users.size), cols, np.ones(users.size), (users.size, n_features))
    vals = np.ones(users.size, np.float32) if values is None else np.asarray(values, np.float32)
    offsets = dict(user_ids=0, user_attrs=off_ua, item_ids=off_iid, item_attrs=off_ia,
                   context=off_ctx, n_features=n_features)
    return Design(user_features=uf, item_features=itf, interactions=inter,
                  sample_users=users, sample_items=items, sample_values=vals,
                  user_ids=np.arange(n_users), item_ids=np.arange(n_items), context=ctx,
                  extra={"offsets": offsets})


def random_design(seed: int = 0, n_users: int = 30, n_items: int = 20, n_pairs: int = 200,
                  n_user_attrs: int = 0, n_item_attrs: int = 0, n_context: int = 0,
                  ratings: bool = False) -> Design:
    """Random design; attributes are random 0/1 columns with random positive values."""
    rng = np.random.default_rng(seed)
    users, items = random_pairs(rng, n_users, n_items, n_pairs)
    ua = ia = None
    if n_user_attrs:
        shape = (n_users, n_user_attrs)
        ua = (rng.random(shape) < 0.3) * rng.uniform(0.5, 1.5, shape)
    if n_item_attrs:
        shape = (n_items, n_item_attrs)
        ia = (rng.random(shape) < 0.3) * rng.uniform(0.5, 1.5, shape)
    values = rng.integers(1, 6, users.size).astype(np.float32) if ratings else None
    return design_from_pairs(users, items, n_users, n_items, user_attrs=ua, item_attrs=ia,
                             n_context=n_context, context_rng=rng, values=values)


def attribute_rows(attrs: np.ndarray, offset: int, n_features: int) -> sp.csr_matrix:
    """Rows holding only an attribute block (dense ``attrs``) at column ``offset``: users or
    items unseen in training (no id column)."""
    a = sp.csr_matrix(attrs.astype(np.float32))
    a.eliminate_zeros()
    m = sp.csr_matrix((a.data, a.indices + offset, a.indptr), shape=(attrs.shape[0], n_features))
    m.sort_indices()
    return m


def planted_groups(seed: int, n_users: int = 80, n_items: int = 60, groups: int = 4,
                   test_share: float = 0.2):
    """Users who like exactly the items of their latent group: ``(design of the training
    pairs, test users, test items, rng)``, about ``test_share`` of the pairs held out."""
    rng = np.random.default_rng(seed)
    gu, gi = rng.integers(0, groups, n_users), rng.integers(0, groups, n_items)
    likes = [np.flatnonzero(gi == gu[u]) for u in range(n_users)]
    users = np.concatenate([np.full(len(lk), u) for u, lk in enumerate(likes)])
    items = np.concatenate(likes)
    test = rng.random(users.size) < test_share
    design = design_from_pairs(users[~test], items[~test], n_users, n_items)
    return design, users[test], items[test], rng


def held_out_beat_random(model, design, users, items, rng) -> float:
    """Share of the held-out pairs ``(users, items)`` that ``model`` scores above a random
    item for the same user."""
    P, _ = model.query_repr(design.user_features)
    E, b = model.item_repr(design.item_features)
    S = P @ E.T + b
    neg = rng.integers(0, design.item_features.shape[0], users.size)
    return float((S[users, items] > S[users, neg]).mean())
