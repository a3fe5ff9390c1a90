"""Fake recommenders and a small split for the evaluation tests."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


class FakeRecommender:
    """Scores items by a fixed per-model random score plus popularity; records calls."""

    supports_cold_start = False

    def __init__(self, seed=0, noise=1.0):
        self.seed = seed
        self.noise = noise
        self.fit_calls = 0
        self.recommend_calls = []

    def fit(self, train, users=None, items=None):
        self.fit_calls += 1
        self.users_frame = users
        pop = train.groupby("item_id").size()
        rng = np.random.default_rng(self.seed)
        self.item_ids_ = pop.index
        self.item_score_ = pop.to_numpy() / pop.max() + self.noise * rng.random(len(pop))
        self.seen_ = train.groupby("user_id")["item_id"].agg(set).to_dict()
        return self

    def recommend(self, user_ids, n=10, exclude_seen=True):
        self.recommend_calls.append(dict(n=n, exclude_seen=exclude_seen))
        order = np.argsort(-self.item_score_, kind="stable")
        rows = []
        for u in user_ids:  # fine in a test fake
            seen = self.seen_.get(u, set()) if exclude_seen else set()
            rank = 0
            for j in order:
                item = self.item_ids_[j]
                if item in seen:
                    continue
                rank += 1
                rows.append((u, item, rank, float(self.item_score_[j])))
                if rank == n:
                    break
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"])


class FakeColdRecommender(FakeRecommender):
    supports_cold_start = True

    def recommend(self, user_ids, n=10, exclude_seen=True, users=None):
        self.users_at_recommend = users
        return super().recommend(user_ids, n=n, exclude_seen=exclude_seen)


def make_split(seed=0, n_users=60, n_items=40, n=1200):
    from recfm.split import random_split

    rng = np.random.default_rng(seed)
    p = np.linspace(2, 0.1, n_items)
    p /= p.sum()
    u = rng.integers(0, n_users, 3 * n)
    i = rng.choice(n_items, 3 * n, p=p)
    df = pd.DataFrame({"user_id": u + 100, "item_id": i + 1}).drop_duplicates().iloc[:n]
    df["rating"] = 4.0
    df["timestamp"] = np.arange(len(df))
    return random_split(df, test_size=0.25, seed=seed, min_interactions=2)


@pytest.fixture
def split():
    return make_split()
