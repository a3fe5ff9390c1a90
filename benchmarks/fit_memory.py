"""How large a log single-machine ``fit`` handles: peak memory per interaction, extrapolated.

For each size, a fresh subprocess builds a synthetic log (ML-20M's shape: 26,744 items,
~144 interactions per user, so users grow with the log; Zipf-like item popularity), then
fits ``FMRecommender`` (ids only, 64 factors, BPR, 1 epoch: memory does not grow with
epochs) and reports its peak RSS (VmHWM). A least-squares line through the points,
peak = a + b * rows, gives bytes per interaction (b) and the largest log whose peak stays
under ``--budget-gib``: (budget - a) / b. This is an extrapolation from the measured sizes,
not a run at the limit (which would exhaust the machine).

Run manually (not a test), from the repository root::

    PYTHONPATH=. python benchmarks/fit_memory.py [--sizes 1000000,2000000,4000000,8000000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ML20M_USERS, ML20M_ITEMS, ML20M_ROWS = 138_493, 26_744, 20_000_263


def _hwm_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def child(rows: int, seed: int) -> None:
    import numpy as np
    import pandas as pd

    from recfm.model import FactorizationMachine
    from recfm.recommenders import FMRecommender

    base = _hwm_mib()
    n_users = max(1, round(rows * ML20M_USERS / ML20M_ROWS))
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(1.0 / np.arange(1, ML20M_ITEMS + 1) ** 0.9)
    cdf /= cdf[-1]
    user = rng.integers(0, n_users, rows)
    item = np.searchsorted(cdf, rng.random(rows))
    df = pd.DataFrame({"user_id": user, "item_id": item})
    del user, item
    log_mib = _hwm_mib()
    rec = FMRecommender(model=FactorizationMachine(n_factors=64, n_epochs=1, loss="bpr",
                                                   random_state=0))
    rec.fit(df)
    print(json.dumps({"rows": rows, "users": n_users, "nnz": int(rec.seen_.nnz),
                      "base_mib": base, "log_mib": log_mib, "peak_mib": _hwm_mib()}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,2000000,4000000,8000000")
    parser.add_argument("--budget-gib", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.seed)
        return
    import numpy as np

    points = []
    for rows in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(rows),
                              "--seed", str(args.seed)], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": os.path.dirname(
                                 os.path.dirname(os.path.abspath(__file__)))})
        r = json.loads(out.stdout.strip().splitlines()[-1])
        points.append(r)
        print(f"  {r['rows']:>12,} rows ({r['users']:,} users, {r['nnz']:,} distinct pairs): "
              f"peak {r['peak_mib']:,.0f} MiB (imports {r['base_mib']:,.0f}, + log frame "
              f"{r['log_mib'] - r['base_mib']:,.0f}); "
              f"{(r['peak_mib'] - r['base_mib']) * 2**20 / r['rows']:.0f} B/interaction beyond imports",
              flush=True)
    x = np.array([p["rows"] for p in points], float)
    y = np.array([p["peak_mib"] for p in points], float) * 2**20
    b, a = np.polyfit(x, y, 1)
    budget = args.budget_gib * 2**30
    print(f"fit: peak = {a / 2**20:,.0f} MiB + {b:.1f} B x rows (least squares over "
          f"{len(points)} sizes)")
    print(f"largest log under {args.budget_gib:g} GiB (extrapolated): {(budget - a) / b:,.0f} "
          f"interactions ({(budget - a) / b / ML20M_ROWS:.0f}x ML-20M)")


if __name__ == "__main__":
    main()
