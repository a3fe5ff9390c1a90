"""Cold start: recommend for users and items the model never saw in training.

Part 1, new users. ``cold_start_split`` holds out 20% of the users entirely. An FM whose
query side has user attributes (age group, gender, occupation) can score a new user from
those attributes alone: pass them with ``recommend(..., users=frame)``. We compare it on
the held-out users with popularity, the usual cold-start fallback, using
``evaluate(..., cold_start=True)``; the ids-only FM cannot serve new users, and the report
says so instead of scoring it zero.

Part 2, new items. We hide 20 movies from training, then add them to the fitted model with
``add_items`` (their genres and year only, no retraining) and check that they enter the
rankings, and that they reach the users who actually watched them more often than chance.

Run from the repository root::

    python examples/cold_start.py
"""
import numpy as np

from recfm.datasets import load_sample
from recfm.evaluation import evaluate, format_table
from recfm.features import Categorical, FeatureBuilder, MultiValued, Numeric
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender, Popularity
from recfm.split import cold_start_split

data = load_sample()
users, items = data.users, data.items


def fm_with_attributes() -> FMRecommender:
    builder = FeatureBuilder(
        user_features=[Numeric("age", bins=[18, 25, 35, 45, 50, 56]), Categorical("gender"),
                       Categorical("occupation")],
        item_features=[MultiValued("genres"), Numeric("year", bins=[1970, 1980, 1990, 1995])],
    )
    model = FactorizationMachine(loss="warp", n_factors=32, n_epochs=20, random_state=0, n_threads=1)
    return FMRecommender(builder=builder, model=model)


# ---------------------------------------------------------------------------- new users
train, test = cold_start_split(data.interactions, test_users=0.2, seed=0)
new_users = np.sort(test["user_id"].unique())
print(f"part 1: {train.user_id.nunique()} training users, {len(new_users)} new users "
      f"with {len(test):,} interactions to predict")

models = {
    "popularity": Popularity(),
    "fm ids only": FMRecommender(builder=None, model=FactorizationMachine(
        loss="warp", n_factors=32, n_epochs=20, random_state=0, n_threads=1)),
    "fm + attributes": fm_with_attributes(),
}
result = evaluate(models, train, test, k=10, users=users, items=items, cold_start=True)
print(format_table(result, "table"))

# The same by hand: attributes of two new users in, top-5 out.
rec = models["fm + attributes"]
frame = users[users.user_id.isin(new_users[:2])]
print("\nnew users (never in training):\n" + frame.to_string(index=False))
top = rec.recommend(new_users[:2], n=5, users=frame)
titles = items.set_index("item_id")["title"]
top["title"] = top["item_id"].map(titles)
print(top.to_string(index=False, float_format="%.3f"))
pop_ndcg = result.table.loc["popularity", "ndcg@10"]
fm_ndcg = result.table.loc["fm + attributes", "ndcg@10"]
print(f"cold-start NDCG@10: fm + attributes {fm_ndcg:.4f} vs popularity {pop_ndcg:.4f} "
      f"({'better' if fm_ndcg > pop_ndcg else 'NOT better'})")

# ---------------------------------------------------------------------------- new items
rng = np.random.default_rng(0)
counts = data.interactions["item_id"].value_counts()
hidden = np.sort(rng.choice(counts.index[counts >= 20].to_numpy(), size=20, replace=False))
is_hidden = data.interactions["item_id"].isin(hidden)
warm = data.interactions[~is_hidden]
print(f"\npart 2: training without {len(hidden)} movies ({int(is_hidden.sum())} interactions hidden)")

rec = fm_with_attributes().fit(warm, users=users, items=items[~items.item_id.isin(hidden)])
print(f"catalogue before add_items: {len(rec.item_ids_)} items")
rec.add_items(items[items.item_id.isin(hidden)])  # attributes only: genres, year
print(f"catalogue after add_items:  {len(rec.item_ids_)} items")

top10 = rec.recommend_all(n=10)
in_lists = top10[top10.item_id.isin(hidden)]
print(f"new movies appear {len(in_lists)} times in the {len(top10):,} top-10 slots "
      f"({in_lists.user_id.nunique()} users get at least one)")

# Do they reach the right people? Among the 20 new movies only, rank them for each user who
# watched some of them, and count hits in that user's top-5 (random ranking: 5/20 = 25%).
truth = data.interactions[is_hidden]
watchers = np.sort(truth["user_id"].unique())
ranked = rec.recommend(watchers, n=5, items=hidden)
hits = ranked.merge(truth[["user_id", "item_id"]], on=["user_id", "item_id"])
recall = (hits.groupby("user_id").size() / truth.groupby("user_id").size()).fillna(0)
recall = recall.reindex(watchers, fill_value=0)
expected = min(5, len(hidden)) / len(hidden)
print(f"recall@5 among the new movies for their {len(watchers)} watchers: {recall.mean():.3f} "
      f"(random: {expected:.3f})")

# The least active user whose top-10 holds a new movie.
activity = warm["user_id"].value_counts()
user = min(in_lists["user_id"].unique(), key=lambda u: (activity.get(u, 0), u))
example = rec.recommend([user], n=10)
example["new"] = np.where(example.item_id.isin(hidden), "*new*", "")
example["title"] = example["item_id"].map(titles)
print(f"\ntop-10 of user {user} ({activity.get(user, 0)} training interactions):\n"
      + example.to_string(index=False, float_format="%.3f"))
