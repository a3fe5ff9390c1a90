"""make_synthetic(sequence=p): a planted next-item signal, and nothing changed at p = 0."""
import pandas as pd
import pytest

from recfm.datasets import make_synthetic


def _transitions(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["user_id", "timestamp"], kind="stable")
    prev = df.item_id.shift(1)
    same = df.user_id.eq(df.user_id.shift(1))
    return pd.DataFrame({"prev": prev[same].astype(int), "next": df.item_id[same]})


def test_sequence_plants_a_successor_per_item_and_zero_changes_nothing():
    base = make_synthetic(200, 300, 8000, seed=1, n_threads=1)
    assert base.interactions.equals(
        make_synthetic(200, 300, 8000, seed=1, sequence=0.0, n_threads=1).interactions)
    seq = make_synthetic(200, 300, 8000, seed=1, sequence=0.5, n_threads=1).interactions
    assert not seq.duplicated(["user_id", "item_id"]).any()
    assert seq.groupby("user_id").timestamp.apply(lambda t: t.is_monotonic_increasing).all()

    def top_share(df):
        # share of transitions that go to each item's most frequent successor
        t = _transitions(df)
        counts = t.groupby(["prev", "next"]).size()
        return counts.groupby(level=0).max().sum() / len(t)

    assert top_share(seq) > 0.3 > top_share(base.interactions)
    with pytest.raises(ValueError, match="sequence"):
        make_synthetic(50, 60, 500, sequence=0.95)
