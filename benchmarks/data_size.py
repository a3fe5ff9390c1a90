"""How the FM's standing against EASE changes with the density of the log.

    python benchmarks/data_size.py                          # ML-100K, all ratings
    python benchmarks/data_size.py --min-rating 4
    python benchmarks/data_size.py --models fm-hybrid,fm-warp,als,ease --fractions 0.5,1

For each seed and share f (``--fractions``): the log is thinned to a per-user random share f
of every user's interactions (``recfm.split.random_split`` keeping f, seed + 1000: a
sparser log of the same users and items), then split 80/20 per user (as
``benchmarks/quality.py``, same seed); every model is fitted on the train part (EASE's λ
search carves its validation from it) and scored on the test part (NDCG@10, the metric
code of ``recfm evaluate``). Prints, per share, the training density (interactions /
(users x items)), each model's mean NDCG@10 and its ratio to ``--baseline`` on the same
split (mean, min and max over seeds). Share 1 is the plain split of ``quality.py``.

Why: on ML-100K's full random split recfm's best FM (``fm-hybrid``) ties EASE, while on
validation splits carved from the training part, with less data, it led by 4-5 %. This
measures that dependence directly, each log with a test part of its own.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from _protocol import add_protocol_args, positives, seeds_of

from recfm.evaluation import evaluate
from recfm.recommenders import make_recommender
from recfm.split import random_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_protocol_args(ap)
    ap.add_argument("--models", default="fm-hybrid,ease", help="recfm model names")
    ap.add_argument("--baseline", default="ease", help="the model the ratios are taken to")
    ap.add_argument("--fractions", default="0.25,0.5,0.7,0.9,1",
                    help="shares of each user's training interactions the models are fitted on")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.baseline not in models:
        models.append(args.baseline)
    fractions = sorted(float(f) for f in args.fractions.split(","))
    if not all(0.0 < f <= 1.0 for f in fractions):
        raise SystemExit(f"--fractions must be in (0, 1]; got {args.fractions}")
    seeds = seeds_of(args)
    metric = f"ndcg@{args.k}"

    rows = []
    for seed in seeds:
        data, interactions = positives(args, seed)
        for fraction in fractions:
            t0 = time.perf_counter()
            log = interactions if fraction == 1.0 else \
                random_split(interactions, test_size=1.0 - fraction, seed=seed + 1000)[0]
            train, test = random_split(log, test_size=0.2, seed=seed)
            density = len(train) / (train.user_id.nunique() * train.item_id.nunique())
            fitted = {m: make_recommender(m, seed=seed, n_threads=args.threads) for m in models}
            table = evaluate(fitted, train, test, k=args.k, users=data.users,
                             items=data.items).table
            rows.append({"seed": seed, "fraction": fraction, "density": density,
                         **{m: float(table.loc[m, metric]) for m in models}})
            print(f"seed {seed}, fraction {fraction:g}: {time.perf_counter() - t0:.0f} s; "
                  + ", ".join(f"{m} {rows[-1][m]:.4f}" for m in models), file=sys.stderr)

    df = pd.DataFrame(rows)
    print(f"dataset={args.dataset}, min_rating={args.min_rating}, seeds={seeds}; {metric} on "
          "each thinned log's own 80/20 split per user\n")
    others = [m for m in models if m != args.baseline]
    head = (["share of the log", "train density"] + [f"{m} {metric}" for m in models]
            + [f"{m} / {args.baseline}" for m in others])
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for fraction, g in df.groupby("fraction"):
        cells = [f"{fraction:g}", f"{g.density.mean():.2%}"]
        cells += [f"{g[m].mean():.4f}" for m in models]
        for m in others:
            ratio = g[m] / g[args.baseline]
            cells.append(f"{ratio.mean():.3f} ({ratio.min():.3f}–{ratio.max():.3f})")
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()
    if np.isnan(df[models].to_numpy()).any():
        print("note: a model was skipped on some share (NaN above)", file=sys.stderr)


if __name__ == "__main__":
    main()
