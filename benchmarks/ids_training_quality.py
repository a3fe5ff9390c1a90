"""Ranking quality of the ids-only BPR training variants, side by side on identical splits.

    python benchmarks/ids_training_quality.py --dataset ml-100k --seeds 42,43,44
    python benchmarks/ids_training_quality.py --dataset synthetic --seeds 42,43,44
    python benchmarks/ids_training_quality.py --dataset synthetic-ml-1m --seeds 42,43 --configs defaults

The evidence behind the ids-only training defaults (README, "Speed"): for every seed, one
per-user random 20 % holdout (users with >= 5 interactions), then each configuration (``defaults``:
``FactorizationMachine()``'s own settings; ``fm``: the ``fm`` registry model's) fitted on the
train part with each training variant and scored on the test part (NDCG@10, seen items
excluded), models seeded with the same seed. No validation is involved: the variants share
every hyper-parameter, so this compares the training procedures, not tuned models.

Variants: ``shuffled`` (the samples in one shuffled order, chunk by chunk: the order before
user visits, and still the default for WARP and several BPR negatives), ``visits`` (each
user's samples in a row, users in a random order: the default for BPR with one negative per
positive). Configurations: ``defaults`` (BPR, one negative), ``warp`` (ids-only WARP), ``fm``
(BPR, four negatives: trained in the shuffled order by default, because of this comparison).
Printed: NDCG@10 per seed, the mean with its range, and each variant's mean change against the
first with the per-seed range.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recfm.datasets import load_dataset, make_synthetic, make_synthetic_like  # noqa: E402
from recfm.evaluation import evaluate  # noqa: E402
from recfm.model import FactorizationMachine  # noqa: E402
from recfm.recommenders import FMRecommender  # noqa: E402
from recfm.recommenders.registry import FM_SETTINGS  # noqa: E402
from recfm.split import random_split  # noqa: E402


class Variant:
    """An ``FMRecommender`` fitted with one training variant: ``order`` sets the estimator's
    (private) choice of sample order for the duration of ``fit``."""

    def __init__(self, rec: FMRecommender, order: str):
        self.rec = rec
        self.order = order

    def fit(self, train, users=None, items=None):
        saved = FactorizationMachine._ids_sample_order
        FactorizationMachine._ids_sample_order = self.order
        try:
            self.rec.fit(train, users=users, items=items)
        finally:
            FactorizationMachine._ids_sample_order = saved
        return self

    def recommend(self, user_ids, **kwargs):
        return self.rec.recommend(user_ids, **kwargs)


#: variant name -> (sample order, extra estimator settings)
VARIANTS: dict[str, tuple[str, dict]] = {
    "shuffled": ("shuffled", {}),
    "visits": ("visits", {}),
}
CONFIGS = {"defaults": {}, "warp": {"loss": "warp"}, "fm": FM_SETTINGS["fm"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k",
                    help="a recfm dataset name, synthetic (make_synthetic's default size) or "
                         "synthetic-ml-1m")
    ap.add_argument("--seeds", default="42,43,44")
    ap.add_argument("--configs", default="defaults,warp,fm", help=f"of {', '.join(CONFIGS)}")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    ap.add_argument("--threads", type=int, default=1,
                    help="training threads (1: each fit is reproducible)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    configs = args.configs.split(",")
    variants = args.variants.split(",")
    ndcg: dict[tuple[str, str], list[float]] = {}
    secs: dict[tuple[str, str], list[float]] = {}
    for seed in seeds:
        if args.dataset == "synthetic-ml-1m":
            data = make_synthetic_like("ml-1m", seed=seed)
        elif args.dataset == "synthetic":
            data = make_synthetic(seed=seed)
        else:
            data = load_dataset(args.dataset, download=False)
        train, test = random_split(data.interactions, test_size=0.2, seed=seed)
        models = {}
        for config in configs:
            for variant in variants:
                order, extra = VARIANTS[variant]
                model = FactorizationMachine(random_state=seed, n_threads=args.threads,
                                             **{**CONFIGS[config], **extra})
                models[f"{config}/{variant}"] = Variant(FMRecommender(model=model),
                                                        order)
        result = evaluate(models, train, test, k=10)
        table = result.table
        for name in models:
            config, variant = name.split("/")
            ndcg.setdefault((config, variant), []).append(float(table.loc[name, "ndcg@10"]))
            secs.setdefault((config, variant), []).append(float(table.loc[name, "fit_s"]))
        print(f"seed {seed} done ({len(train)} train / {len(test)} test interactions)",
              file=sys.stderr)

    print(f"dataset={args.dataset}, seeds={seeds}, threads={args.threads}, "
          f"load average {os.getloadavg()[0]:.1f}; NDCG@10 on the test part\n")
    print("| config | variant | NDCG@10 per seed | mean (min-max) | change vs "
          f"{variants[0]}: mean (per-seed range) | fit s |")
    print("|---|---|---|---|---|---|")
    for config in configs:
        base = np.array(ndcg[(config, variants[0])])
        for variant in variants:
            v = np.array(ndcg[(config, variant)])
            rel = v / base - 1
            print(f"| {config} | {variant} | {', '.join(f'{x:.4f}' for x in v)} | "
                  f"{v.mean():.4f} ({v.min():.4f}-{v.max():.4f}) | "
                  f"{100 * rel.mean():+.1f} % ({100 * rel.min():+.1f} to {100 * rel.max():+.1f} %) | "
                  f"{np.mean(secs[(config, variant)]):.1f} |")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
