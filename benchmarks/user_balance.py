"""Does weighting users alike help? ``user_balance`` chosen on validation, then on test.

    python benchmarks/user_balance.py                       # fm-hybrid, ML-100K, all ratings
    python benchmarks/user_balance.py --min-rating 4
    python benchmarks/user_balance.py --model fm --balances 0,0.5

``FactorizationMachine(user_balance=b)`` weighs each training interaction of a user with n
of them by ``n ** -b`` (0: every interaction alike, so heavy users dominate training; 1:
every user alike, as user-averaged metrics do). For every seed: one random 80/20 split per
user (as ``benchmarks/quality.py``), a 10 % validation split carved per user from the train
part; the FM (``--model``) with each ``b`` of ``--balances`` is fitted on the rest and scored
on validation, then refitted on the whole train part and scored on test, beside EASE
(NDCG@10, the metric code of ``recfm evaluate``). Prints per ``b`` the mean validation
score and the test score as a ratio to EASE's (mean, min and max over seeds), then the ``b``
with the best mean validation score: the one a user could choose without the test part.
"""
from __future__ import annotations

import argparse
import sys
import time

import pandas as pd
from _protocol import add_protocol_args, positives, seeds_of

from recfm.evaluation import evaluate
from recfm.recommenders import make_recommender
from recfm.split import random_split


def scores(model: str, balances: list[float], train: pd.DataFrame, test: pd.DataFrame, data,
           seed: int, threads: int, k: int, ease: bool) -> dict[str, float]:
    """NDCG@k on ``test`` of the FM with each balance (and EASE), all fitted on ``train``."""
    fitted = {}
    for b in balances:
        fitted[f"{b:g}"] = make_recommender(model, seed=seed, n_threads=threads).set_params(
            model__user_balance=b)
    if ease:
        fitted["ease"] = make_recommender("ease", seed=seed)
    table = evaluate(fitted, train, test, k=k, users=data.users, items=data.items).table
    return {name: float(table.loc[name, f"ndcg@{k}"]) for name in fitted}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_protocol_args(ap)
    ap.add_argument("--model", default="fm-hybrid", help="a recfm FM model name")
    ap.add_argument("--balances", default="0,0.25,0.5,0.75,1")
    args = ap.parse_args()
    balances = [float(b) for b in args.balances.split(",") if b.strip()]
    seeds = seeds_of(args)

    val_rows, test_rows = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        data, interactions = positives(args, seed)
        train, test = random_split(interactions, test_size=0.2, seed=seed)
        fit_part, validation = random_split(train, test_size=0.1, seed=seed)
        val_rows.append(scores(args.model, balances, fit_part, validation, data, seed,
                               args.threads, args.k, ease=False))
        test_rows.append(scores(args.model, balances, train, test, data, seed, args.threads,
                                args.k, ease=True))
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s; validation "
              + ", ".join(f"{b}: {v:.4f}" for b, v in val_rows[-1].items()) + "; test "
              + ", ".join(f"{b}: {v:.4f}" for b, v in test_rows[-1].items()), file=sys.stderr)

    val, tst = pd.DataFrame(val_rows, index=seeds), pd.DataFrame(test_rows, index=seeds)
    print(f"dataset={args.dataset}, model={args.model}, min_rating={args.min_rating}, "
          f"seeds={seeds}; NDCG@{args.k}\n")
    print("| user_balance | validation (mean) | test (mean) | test / EASE (mean, range) |")
    print("|---:|---:|---:|---:|")
    for b in val.columns:
        ratio = tst[b] / tst["ease"]
        print(f"| {b} | {val[b].mean():.4f} | {tst[b].mean():.4f} | {ratio.mean():.3f} "
              f"({ratio.min():.3f}–{ratio.max():.3f}) |")
    print(f"| EASE | – | {tst['ease'].mean():.4f} | 1 |")
    chosen = val.mean().idxmax()
    ratio = tst[chosen] / tst["ease"]
    print(f"\nchosen on validation: user_balance={chosen}; test / EASE per seed "
          + ", ".join(f"{r:.3f}" for r in ratio) + f" (mean {ratio.mean():.3f})")


if __name__ == "__main__":
    main()
