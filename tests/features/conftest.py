"""Small hand-made frames for the feature-builder tests (no dataset layer needed)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def users() -> pd.DataFrame:
    # User 4 never interacts: it must still get a row (the catalogue of users).
    return pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "age": [20, 30, 40, 60],
            "gender": ["M", "F", "M", "F"],
            "occupation": ["writer", "artist", "writer", "doctor"],
        }
    )


@pytest.fixture
def items() -> pd.DataFrame:
    # Item 40 never interacts; item 30 has no genre; item 20's year is missing.
    return pd.DataFrame(
        {
            "item_id": [10, 20, 30, 40],
            "genres": [["Comedy"], ["Drama", "Comedy"], [], ["Horror"]],
            "year": pd.array([1990, None, 2000, 2012], dtype="Int64"),
        }
    )


@pytest.fixture
def interactions() -> pd.DataFrame:
    # (3, 20) appears twice: one entry in the interactions matrix, two samples.
    return pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3, 3, 3],
            "item_id": [10, 20, 10, 30, 20, 20],
            "rating": np.array([5, 4, 3, 2, 1, 5], dtype=np.float32),
            "timestamp": np.arange(6, dtype=np.int64) * 1000,
            "hour": [1, 2, 3, 4, 5, 6],
            "platform": ["web", "ios", "web", "ios", "android", "web"],
        }
    )

