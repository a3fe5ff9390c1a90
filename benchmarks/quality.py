"""Ranking quality of recfm's models beside the peers, on one split, in one run.

    python benchmarks/quality.py --dataset ml-100k              # all ratings positive
    python benchmarks/quality.py --dataset ml-100k --min-rating 4
    python benchmarks/quality.py --dataset synthetic-ml-1m      # ML-1M-sized synthetic data

Runs popularity, implicit ALS/BPR, recfm's FMs and (when ``lightfm-next`` is installed)
LightFM WARP/BPR/WARP+genres through :func:`recfm.evaluation.evaluate`, so every model sees
the same random 80/20 per-user split, and prints the table (markdown) and the ratios that
matter: recfm's ids-only FM against implicit BPR, recfm's WARP FM against LightFM WARP.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import lightfm_available, peer_models  # noqa: E402

from recfm.datasets import load_dataset, make_synthetic_like  # noqa: E402
from recfm.evaluation import evaluate  # noqa: E402
from recfm.evaluation.report import format_table  # noqa: E402
from recfm.recommenders import make_recommender, parse_model_names  # noqa: E402
from recfm.split import random_split  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k", help="a recfm dataset name, or synthetic-ml-1m")
    ap.add_argument("--models", default="all", help="recfm model names (default all)")
    ap.add_argument("--no-peers", action="store_true", help="skip LightFM")
    ap.add_argument("--min-rating", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", default="10")
    args = ap.parse_args()

    if args.dataset == "synthetic-ml-1m":
        data = make_synthetic_like("ml-1m", seed=args.seed)
    else:
        data = load_dataset(args.dataset, download=False)
    interactions = data.interactions
    if args.min_rating is not None:
        interactions = interactions[interactions.rating >= args.min_rating]
    train, test = random_split(interactions, test_size=0.2, seed=args.seed)
    models = {n: make_recommender(n, seed=args.seed, n_threads=args.threads)
              for n in parse_model_names(args.models)}
    if not args.no_peers:
        if lightfm_available():
            models.update(peer_models(seed=args.seed, threads=args.threads,
                                      genres=data.items is not None))
        else:
            print("LightFM is not installed (pip install lightfm-next): peers skipped", file=sys.stderr)
    ks = tuple(int(k) for k in args.k.split(","))
    result = evaluate(models, train, test, k=ks, users=data.users, items=data.items, progress=True)
    settings = dict(dataset=data.name, min_rating=args.min_rating, seed=args.seed,
                    split="random 80/20 per user", threads=args.threads,
                    n_train=len(train), n_test=len(test))
    print(format_table(result, "markdown", digits=3, settings=settings))
    t = result.table
    k = ks[0]
    pairs = [("fm", "bpr"), ("fm", "als"), ("fm-warp", "bpr"), ("fm-warp", "als"),
             ("fm-warp", "lightfm-warp"), ("fm-warp", "lightfm-warp-genres"),
             ("fm-features", "pop"), ("fm", "lightfm-bpr")]
    print()
    for a, b in pairs:
        if a in t.index and b in t.index:
            print(f"NDCG@{k} {a} / {b}: {t.loc[a, f'ndcg@{k}'] / t.loc[b, f'ndcg@{k}']:.3f}")


if __name__ == "__main__":
    main()
