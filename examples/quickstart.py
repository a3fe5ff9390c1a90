"""Quickstart: a MovieLens-style CSV in, top-10 recommendations out.

The file ``datasets/sample/interactions.csv`` has the MovieLens layout
(``user_id,item_id,rating,timestamp``, plus two context columns we ignore here). We fit an
ids-only factorization machine (biased matrix factorisation, trained with WARP) and print
the top-10 of a few users next to what they watched, with titles from ``items.csv``.

Run from the repository root::

    python examples/quickstart.py

The same thing from the command line (``recfm`` is installed with the package; in a
checkout, ``python -m recfm.cli`` does the same)::

    recfm fit --interactions datasets/sample/interactions.csv --out /tmp/quickstart-model --epochs 20
    recfm recommend --model /tmp/quickstart-model --users 1,2,3 --n 10
    # and a quick offline comparison with the popularity baseline:
    recfm evaluate --dataset sample --models pop,fm --format markdown
"""
from pathlib import Path

from recfm.datasets import read_attributes_csv, read_interactions_csv
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"

# 1. Read the interactions (any CSV with user_id,item_id[,rating,timestamp] works).
interactions = read_interactions_csv(SAMPLE / "interactions.csv").interactions
titles = read_attributes_csv(SAMPLE / "items.csv", "item_id").set_index("item_id")["title"]
print(
    f"{len(interactions):,} interactions, {interactions.user_id.nunique()} users, "
    f"{interactions.item_id.nunique()} items"
)

# 2. Fit. builder=None means user and item ids only; every rating counts as a positive.
rec = FMRecommender(
    builder=None,
    model=FactorizationMachine(loss="warp", n_factors=32, n_epochs=20, random_state=0, n_threads=1),
)
rec.fit(interactions)
print(f"trained: {rec.model_.n_features_} features, final loss {rec.model_.history_['loss'][-1]:.3f}")

# 3. Recommend: one DataFrame with user_id, item_id, rank, score (seen items left out).
users = [1, 2, 3]
recs = rec.recommend(users, n=10)
recs["title"] = recs["item_id"].map(titles)
for user_id, top in recs.groupby("user_id", sort=False):
    seen = interactions.loc[interactions.user_id == user_id].sort_values("rating", ascending=False)
    print(f"\nuser {user_id} rated {len(seen)} movies; favourites: "
          + "; ".join(seen["item_id"].head(3).map(titles)))
    print(top[["rank", "item_id", "title", "score"]].to_string(index=False, float_format="%.3f"))

# 4. Everything at once (e.g. to write a CSV for a batch job).
all_recs = rec.recommend_all(n=10)
print(f"\nrecommend_all: {len(all_recs):,} rows for {all_recs.user_id.nunique()} users; "
      f"{all_recs.item_id.nunique()} distinct items recommended")
