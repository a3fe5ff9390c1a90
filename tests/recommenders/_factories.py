"""Small data sets whose right answers are known, shared by the recommender tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

# Models that personalise (popularity cannot learn a checkerboard).
PERSONALISED = ["als", "bpr", "fm", "fm-features", "fm-warp"]
# Models that rank without user attributes, context or a request's log: the ones whose
# recommend is recfm.recommenders.base's (the item-item models add history=).
PLAIN = ["pop", "als", "bpr", "ease", "itemknn"]


def checkerboard(n_users: int = 100, n_items: int = 30, seed: int = 0):
    """Even users like even items, odd users odd items; one liked item per user withheld.

    Returns
    -------
    (train, held_out) DataFrames with ``user_id, item_id, rating`` (+ ``timestamp`` in
    train).
    """
    rng = np.random.default_rng(seed)
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    liked = (users % 2) == (items % 2)
    frame = pd.DataFrame({"user_id": users[liked], "item_id": items[liked]})
    frame["rating"] = 5.0
    # withhold one random liked item per user
    frame["key"] = rng.random(len(frame))
    first = frame.groupby("user_id")["key"].rank(method="first") == 1
    held_out = frame[first].drop(columns="key").reset_index(drop=True)
    train = frame[~first].drop(columns="key").reset_index(drop=True)
    # a time per event, for the models that order each user's log (fm-seq)
    train["timestamp"] = np.arange(len(train))
    return train, held_out
