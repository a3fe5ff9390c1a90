"""Context: the same user gets different recommendations at night on a phone and in the
daytime on the web.

The sample's interactions carry two context columns, ``hour`` (0-23) and ``platform``
(web/ios/android); in this synthetic data horror and thrillers are watched more at night,
children's films in the daytime and on mobile, dramas on the web. We bucket the hour into
a part of the day and declare both as context features: they join the *query* side of the
FM (user features + context), so a context vector shifts every item score through its
interactions with the item's features.

Then ``recommend(..., context=frame)`` ranks for a given context, and ``explain`` splits
one score into its terms (bias, item terms, query × item interactions), which sum to it.

Run from the repository root::

    python examples/context.py
"""
import pandas as pd

from recfm.datasets import load_sample
from recfm.features import Categorical, FeatureBuilder, MultiValued
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender

# hour of day → part of day: 0-5 and 22-23 night, 6-11 morning, 12-17 afternoon, 18-21 evening
DAYPART = dict(enumerate(["night"] * 6 + ["morning"] * 6 + ["afternoon"] * 6 + ["evening"] * 4
                         + ["night"] * 2))

data = load_sample()
interactions = data.interactions.assign(daypart=data.interactions["hour"].map(DAYPART))
print("context columns:", list(data.context_columns), "→ daypart, platform")
print(pd.crosstab(interactions["daypart"], interactions["platform"]).to_string(), "\n")

builder = FeatureBuilder(
    user_features=[Categorical("gender"), Categorical("occupation")],
    item_features=[MultiValued("genres")],
    context_features=[Categorical("daypart"), Categorical("platform")],
)
model = FactorizationMachine(loss="warp", n_factors=32, n_epochs=20, random_state=0, n_threads=1)
rec = FMRecommender(builder=builder, model=model).fit(interactions, users=data.users, items=data.items)

user = 7
contexts = {
    "night, ios": pd.DataFrame({"daypart": ["night"], "platform": ["ios"]}),
    "afternoon, web": pd.DataFrame({"daypart": ["afternoon"], "platform": ["web"]}),
}
genres = data.items.set_index("item_id")["genres"]
titles = data.items.set_index("item_id")["title"]
lists = {}
for name, ctx in contexts.items():
    top = rec.recommend([user], n=10, context=ctx)
    lists[name] = top
    top = top.assign(title=top["item_id"].map(titles))
    print(f"user {user}, {name}:")
    print(top[["rank", "item_id", "title", "score"]].to_string(index=False, float_format="%.3f"))
    counts = top["item_id"].map(genres).explode().value_counts()
    print("  genres:", ", ".join(f"{g} {c}" for g, c in counts.head(5).items()), "\n")

a, b = (set(df["item_id"]) for df in lists.values())
print(f"the two top-10 lists share {len(a & b)} of 10 items "
      f"({'they differ' if a != b else 'identical!'})")


# Across all users: how the context moves horror/thriller vs children's films.
def share(ctx: pd.DataFrame, genre: str) -> float:
    top = rec.recommend_all(n=10, context=ctx)
    return top["item_id"].map(genres).map(lambda g: genre in g).mean()


for genre in ("Horror", "Children's", "Drama"):
    print(f"share of {genre:<10} in everyone's top-10: "
          + ", ".join(f"{name} {share(ctx, genre):.1%}" for name, ctx in contexts.items()))

# Why is an item in the night-time list but not in the afternoon one? Its score's terms.
night = lists["night, ios"]
only_night = night[~night["item_id"].isin(b)]
row = (only_night if len(only_night) else night).iloc[0]
item, rank = int(row["item_id"]), int(row["rank"])
terms = rec.explain(user, item, context=contexts["night, ios"])
print(f"\nexplain(user {user}, item {item} '{titles[item]}', night on ios), rank {rank}: "
      f"score {terms.attrs['score']:.3f} = sum of {len(terms)} terms; the largest:")
print(terms.head(8).to_string(index=False, float_format="%.3f"))
print(f"sum of terms {terms['value'].sum():.4f}, recommend() score {row['score']:.4f}")
# bias, query and query×query terms are the same for every item (they never change the
# ranking); the item and query×item terms set this item apart. The context's share:
ctx_terms = terms[(terms["kind"] == "query×item")
                  & terms["feature"].str.startswith(("daypart=", "platform="))]
print("context × item terms:\n" + ctx_terms.to_string(index=False, float_format="%.3f"))
