"""recfm's FM against implicit's ALS and BPR and popularity, on one split.

``run_experiment`` is what ``recfm evaluate`` runs: load a data set, split it (random
80/20 per user, seed 0), fit every named model on the same train set and score the same
test set. Model names (see ``recfm.recommenders.describe_models()``):

* ``pop``: most popular items;
* ``als`` / ``bpr``: implicit's AlternatingLeastSquares / BayesianPersonalizedRanking, 64 factors;
* ``fm``: recfm's FM on user and item ids only (biased MF), BPR loss, 64 factors;
* ``fm-features`` / ``fm-warp``: recfm's FM with the user and item attributes, BPR / WARP loss.

The command-line equivalent, and the same on MovieLens 100K (downloaded on first use, or
read from your data home, ``$RECFM_DATA``)::

    recfm evaluate --dataset sample --models pop,als,bpr,fm,fm-features,fm-warp --k 10,20 --format markdown
    recfm evaluate --dataset ml-100k --models all --format markdown

The FM configurations train on all cores with lock-free updates, so their numbers move a
little from run to run; the paired t-tests at the end say which gaps are beyond noise.

Run from the repository root::

    python examples/compare_with_implicit.py
"""
from recfm.datasets import load_sample
from recfm.evaluation import format_table, paired_test
from recfm.evaluation.experiment import run_experiment
from recfm.recommenders import describe_models

MODELS = ["pop", "als", "bpr", "fm", "fm-features", "fm-warp"]
for name in MODELS:
    print(f"{name:>8}: {describe_models()[name]}")

exp = run_experiment(load_sample(), models=MODELS, split="random", k=(10, 20), seed=0)
print()
print(format_table(exp.result, "markdown", settings=exp.settings))

# Is a difference more than noise? A paired t-test over the per-user NDCG@10 values.
table = exp.result.table
best = table["ndcg@10"].idxmax()
print(f"\nbest NDCG@10: {best} ({table.loc[best, 'ndcg@10']:.4f})")
pairs = [("fm", "bpr"), ("fm", "als"), ("fm-features", "fm"), ("fm-warp", "fm-features")]
pairs += [(best, "pop")] if best != "pop" else []
for a, b in pairs:
    p = paired_test(exp.result, a, b, metric="ndcg@10")
    print(f"  {a:>11} vs {b:<11} NDCG@10 {table.loc[a, 'ndcg@10']:.4f} vs "
          f"{table.loc[b, 'ndcg@10']:.4f}, paired t-test p = {p:.3g}")
