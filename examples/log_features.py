"""The interaction log as features: a new user served from a few clicks, and the last item.

An FM turns classic factorization models into feature choices. This script shows the two
that recfm builds from the log itself, on synthetic data only (nothing is downloaded):

1. **History** (SVD++ / asymmetric SVD): a user is described by the items they consumed.
   Users held out of training are served from their first 5 clicks, without retraining,
   against EASE served the same way and popularity. Built with ``use_user_ids=False`` the
   model has no per-user parameter at all, so a new user is served exactly as a trained
   user with the same items would be (checked below). ``explain`` shows which click drove
   a recommendation (item–item terms).
2. **RecentItems** (FPMC): the user's last item is a feature of each interaction, so the
   next item can depend on it. On data with planted order (``make_synthetic(sequence=0.5)``:
   half the time the next item is a fixed successor of the previous one), leave-last-out
   shows what ids alone and EASE miss. On the shipped sample, which has no such order, the
   field does not help (printed too: a field is worth what the data holds).

Run from the repository root::

    python examples/log_features.py

The command-line equivalents (``fit --user-history`` adds the History field, and
``recommend --history`` serves the users a CSV of clicks names)::

    recfm fit --interactions datasets/sample/interactions.csv --user-history --out /tmp/history-model
    printf 'user_id,item_id\\n9999,12\\n9999,40\\n' > /tmp/clicks.csv   # user 9999 is new
    recfm recommend --model /tmp/history-model --users 9999 --history /tmp/clicks.csv
"""
import numpy as np
import pandas as pd

from recfm.datasets import load_sample, make_synthetic
from recfm.evaluation import evaluate
from recfm.features import FeatureBuilder, History, RecentItems
from recfm.metrics import metrics_from_frames
from recfm.model import FactorizationMachine
from recfm.recommenders import EASE, FMRecommender, Popularity
from recfm.split import cold_start_split, leave_last_out


def fm(builder: FeatureBuilder | None) -> FMRecommender:
    """An FM trained with WARP; one thread and a seed, so every run prints the same."""
    return FMRecommender(builder=builder, model=FactorizationMachine(
        loss="warp", n_factors=32, n_epochs=20, random_state=0, n_threads=1))


# --- 1. History: new users from a few clicks --------------------------------------------
data = load_sample()
# 60 users the model never sees in training; each shows its first 5 clicks, and we look
# for the rest of what it watched in its top-10
train, new = cold_start_split(data.interactions, test_users=60, seed=0)
new = new.sort_values(["user_id", "timestamp"], kind="stable")
first = new.groupby("user_id").cumcount() < 5
clicks, later = new[first], new[~first]

rec = fm(FeatureBuilder(user_features=[History()], use_user_ids=False)).fit(train)
popularity = Popularity().fit(train)
new_users = clicks["user_id"].unique()


# the clicks are the query: no retraining (the clicked items themselves are left out);
# EASE serves new users from their items the same way, popularity ignores them
served = rec.recommend(new_users, n=10, history=clicks)
ease = EASE().fit(train).recommend(new_users, n=10, history=clicks)
pop = popularity.recommend(new_users, n=15).merge(clicks[["user_id", "item_id"]],
                                                  how="left", indicator=True)
pop = pop[pop["_merge"] == "left_only"].groupby("user_id").head(10)
pop["rank"] = pop.groupby("user_id").cumcount() + 1
print(f"{len(new_users)} new users, 5 clicks each: precision@10 on the rest of their log")
scores = {name: metrics_from_frames(recs, later, 10)[0]["precision@10"]
          for name, recs in [("fm + history", served), ("ease", ease), ("popularity", pop)]}
for name, value in scores.items():
    print(f"  {name:<13}{value:.3f}")
print(f"fm + history / popularity: {scores['fm + history'] / scores['popularity']:.2f}x")

# Which click drove a recommendation: the history x item terms are item-item.
user = new_users[0]
item = int(served.loc[served.user_id == user, "item_id"].iloc[0])
terms = rec.explain(user, item, history=clicks[clicks.user_id == user])
item_item = terms[terms["kind"] == "query×item"]
print(f"\nexplain(new user {user}, item {item}): score {terms.attrs['score']:.3f}; "
      "the click x item terms:")
print(item_item[["feature", "other_feature", "value"]].to_string(index=False, float_format="%.3f"))

# With no user-id feature, a user *is* their items: serving a trained user's items as a
# stranger's history gives that user's own top-10 and scores.
trained = int(train["user_id"].iloc[0])
own = rec.recommend([trained], n=10)
items_of_1 = train.loc[train.user_id == trained, "item_id"].tolist()
as_stranger = rec.recommend(["stranger"], n=10, history={"stranger": items_of_1})
same = (own["item_id"].to_numpy() == as_stranger["item_id"].to_numpy()).all() and np.allclose(
    own["score"], as_stranger["score"], rtol=1e-5, atol=1e-6)
print(f"\nuser {trained} served from its training items as a new user: same top-10 and "
      f"scores: {same}")

# --- 2. RecentItems: the next item given the last one -----------------------------------
print("\nleave-last-out NDCG@10 (each user's latest interaction held out):")
rows = {}
for name, log in [("sample (no planted order)", data.interactions),
                  ("synthetic, sequence=0.5", make_synthetic(
                      n_users=300, n_items=400, n_interactions=12000, seed=0,
                      sequence=0.5).interactions)]:
    train, test = leave_last_out(log)
    models = {"fm ids only": fm(None),
              "fm + recent item": fm(FeatureBuilder(context_features=[RecentItems(n=1)])),
              "ease": EASE()}
    rows[name] = evaluate(models, train, test, k=10).table["ndcg@10"]
table = pd.DataFrame(rows)
print(table.to_string(float_format="%.3f"))
gain = table.loc["fm + recent item"] / table.loc["fm ids only"]
print("fm + recent item / fm ids only: " + ", ".join(f"{g:.2f}x on {n}" for n, g in gain.items()))
