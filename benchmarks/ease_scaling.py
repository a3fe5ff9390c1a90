"""How EASE's fit time grows with the catalogue: the reason a default comparison leaves it
out past ``recfm.recommenders.ease.DEFAULT_LIST_MAX_ITEMS`` items.

    python benchmarks/ease_scaling.py                      # 2,000 ... 8,000 items
    python benchmarks/ease_scaling.py --items 3706,8000,12000

Each size is a synthetic log (``make_synthetic``) of 6,040 users (ML-1M's) and 160
interactions per user (ML-1M's density at 3,706 items), fitted once with EASE's defaults
(``l2="auto"``: one eigendecomposition for the λ search, then the Cholesky inverse), and
timed against the fit at ML-1M's 3,706 items in the same run: ratios, since the machine's
speed (and its load) sets the seconds. A cube law from 3,706 items is printed beside them.
"""
from __future__ import annotations

import argparse
import os
import time

from recfm.datasets import make_synthetic
from recfm.recommenders import EASE
from recfm.recommenders.ease import DEFAULT_LIST_MAX_ITEMS

ML_1M_ITEMS = 3706


def fit_seconds(n_items: int, threads: int | None) -> float:
    data = make_synthetic(n_users=6040, n_items=n_items, n_interactions=6040 * 160, seed=0)
    model = EASE(n_threads=threads)
    t0 = time.perf_counter()
    model.fit(data.interactions)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", default="2000,3706,6000,8000")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all cores)")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.items.split(",")} | {ML_1M_ITEMS})
    print(f"EASE fit (l2='auto'), 6,040 users x 160 interactions; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}; default list cap {DEFAULT_LIST_MAX_ITEMS:,} items")
    seconds = {n: fit_seconds(n, args.threads) for n in sizes}
    base = seconds[ML_1M_ITEMS]
    print(f"{'items':>7} {'fit s':>8} {'/ 3,706 items':>14} {'cube law':>9}")
    for n in sizes:
        print(f"{n:>7,} {seconds[n]:>8.1f} {seconds[n] / base:>14.2f} {(n / ML_1M_ITEMS) ** 3:>9.2f}")
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
