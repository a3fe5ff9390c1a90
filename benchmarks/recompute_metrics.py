#!/usr/bin/env python
"""Recompute every metric of a saved run (``recfm evaluate --save-run DIR``) independently.

This script deliberately does NOT import recfm: it reads the run's CSV files with pandas
and recomputes each metric with a plain Python loop over users, straight from the written
definitions (T = a user's test items, rel_r = 1 when the item at rank r is in T):

    P@k    = hits / k
    R@k    = hits / |T|
    NDCG@k = DCG / IDCG, DCG = sum_{r<=k} rel_r / log2(r+1),
             IDCG = sum_{r=1}^{min(k,|T|)} 1/log2(r+1)
    MAP@k  = sum_{r<=k} P@r * rel_r / min(k, |T|)
    HR@k   = 1 if hits > 0 else 0
    MRR@k  = 1 / (rank of first hit) if any, else 0
    coverage@k = distinct items in the test users' top-k lists / catalogue size

Averages run over the distinct users of test.csv. The catalogue size is ``n_items`` from
metrics.json when present, else the number of distinct item ids in train.csv, test.csv and
the recommendations together.

Usage::

    python benchmarks/recompute_metrics.py RUN_DIR [--k 10,20] [--check] [--tol 1e-6]

Prints JSON: {"k": [...], "n_items": n, "results": [{"model": ..., "ndcg@10": ...}, ...],
and, when metrics.json holds recfm's numbers, "max_abs_diff": {model: float}}. With
``--check`` the exit status is 1 when any difference exceeds ``--tol``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import pandas as pd

NAMES = ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")


def user_metrics(ranked: list, relevant: set, k: int) -> dict:
    top = ranked[:k]
    rel = [1 if item in relevant else 0 for item in top]
    hits = sum(rel)
    n_t = len(relevant)
    dcg = sum(r / math.log2(pos + 2) for pos, r in enumerate(rel))
    idcg = sum(1.0 / math.log2(pos + 2) for pos in range(min(k, n_t)))
    ap = 0.0
    running = 0
    for pos, r in enumerate(rel):
        if r:
            running += 1
            ap += running / (pos + 1)
    first = next((pos + 1 for pos, r in enumerate(rel) if r), None)
    return {
        "ndcg": dcg / idcg,
        "precision": hits / k,
        "recall": hits / n_t,
        "map": ap / min(k, n_t),
        "hit_rate": 1.0 if hits else 0.0,
        "mrr": 1.0 / first if first else 0.0,
    }


def read(path: str) -> pd.DataFrame:
    """A run's CSV with its ids compared as written (007 is not 7, NA is an id)."""
    return pd.read_csv(path, dtype={"user_id": str, "item_id": str}, keep_default_na=False)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("run_dir")
    parser.add_argument(
        "--k", default=None, help="cut-offs, e.g. 10,20 (default: metrics.json's, else 10)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a difference exceeds --tol")
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args(argv)

    run = args.run_dir
    meta = {}
    if os.path.exists(os.path.join(run, "metrics.json")):
        with open(os.path.join(run, "metrics.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
    if args.k:
        ks = sorted({int(x) for x in args.k.split(",")})
    elif meta.get("k"):
        ks = sorted(int(x) for x in meta["k"])
    else:
        ks = [10]

    train = read(os.path.join(run, "train.csv"))
    test = read(os.path.join(run, "test.csv"))
    rec_dir = os.path.join(run, "recommendations")
    models = meta.get("models") or sorted(f[:-4] for f in os.listdir(rec_dir) if f.endswith(".csv"))

    # test sets per user
    relevant: dict = {}
    for u, i in zip(test["user_id"].tolist(), test["item_id"].tolist(), strict=True):
        relevant.setdefault(u, set()).add(i)

    recs_by_model = {m: read(os.path.join(rec_dir, f"{m}.csv")) for m in models}
    if meta.get("n_items"):
        n_items = int(meta["n_items"])
    else:
        items = set(train["item_id"].tolist()) | set(test["item_id"].tolist())
        for df in recs_by_model.values():
            items |= set(df["item_id"].tolist())
        n_items = len(items)

    results = []
    for model in models:
        df = recs_by_model[model]
        lists: dict = {}
        for u, i, r in zip(df["user_id"].tolist(), df["item_id"].tolist(), df["rank"].tolist(), strict=True):
            lists.setdefault(u, []).append((int(r), i))
        ranked_by_user = {}
        for u, pairs in lists.items():
            pairs.sort()
            # place items at their rank; gaps are empty positions (None never matches)
            max_rank = pairs[-1][0]
            slots = [None] * max_rank
            for r, i in pairs:
                slots[r - 1] = i
            ranked_by_user[u] = slots
        row = {"model": model}
        for k in ks:
            sums = dict.fromkeys(NAMES, 0.0)
            recommended = set()
            for u, rel in relevant.items():
                ranked = ranked_by_user.get(u, [])
                values = user_metrics(ranked, rel, k)
                for name in NAMES:
                    sums[name] += values[name]
                recommended |= {i for i in ranked[:k] if i is not None}
            for name in NAMES:
                row[f"{name}@{k}"] = sums[name] / len(relevant)
            row[f"coverage@{k}"] = len(recommended) / n_items
        row["n_users_evaluated"] = len(relevant)
        results.append(row)

    out = {"k": ks, "n_items": n_items, "results": results}
    failed = False
    if meta.get("results"):
        theirs = {r["model"]: r for r in meta["results"]}
        diffs = {}
        for row in results:
            other = theirs.get(row["model"])
            if other is None:
                continue
            d = 0.0
            for key, val in row.items():
                if key in ("model", "n_users_evaluated") or other.get(key) is None:
                    continue
                d = max(d, abs(val - other[key]))
            diffs[row["model"]] = d
            failed |= d > args.tol
        out["max_abs_diff"] = diffs
        out["tolerance"] = args.tol
        out["agree"] = not failed
    print(json.dumps(out, indent=2))
    return 1 if (args.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
