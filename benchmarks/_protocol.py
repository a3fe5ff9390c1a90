"""The ML-100K protocol shared by the issue-9 studies (``data_size.py``, ``ease_blend.py``,
``user_balance.py``): the same options, and the same data per seed."""
from __future__ import annotations

import argparse

import pandas as pd

from recfm.datasets import Dataset, load_dataset, make_synthetic


def add_protocol_args(ap: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--min-rating``, ``--seeds``, ``--threads`` and ``--k``."""
    ap.add_argument("--dataset", default="ml-100k",
                    help="a recfm dataset name, or synthetic (make_synthetic's default size)")
    ap.add_argument("--min-rating", type=float, default=None,
                    help="only ratings >= this are positives (default: every rating)")
    ap.add_argument("--seeds", default="42,43,44")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)


def seeds_of(args: argparse.Namespace) -> list[int]:
    return [int(s) for s in args.seeds.split(",") if s.strip()]


def positives(args: argparse.Namespace, seed: int) -> tuple[Dataset, pd.DataFrame]:
    """The data set of ``--dataset`` (the synthetic one drawn with ``seed``) and its
    interactions, only those rated ``>= --min-rating`` when given."""
    data = make_synthetic(seed=seed) if args.dataset == "synthetic" else \
        load_dataset(args.dataset, download=False)
    interactions = data.interactions
    if args.min_rating is not None:
        interactions = interactions[interactions.rating >= args.min_rating]
    return data, interactions
