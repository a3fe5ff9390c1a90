"""Fused ids-only BPR kernel against the general sparse kernel, several negatives per positive.

    python benchmarks/ids_negatives_speed.py                      # synthetic ML-1M, 4 negatives
    python benchmarks/ids_negatives_speed.py --negatives 1 2 4 --factors 128 --threads 2

Fits the same ids-only BPR model (one user and one item one-hot per sample) twice per setting,
with the fused ids-only epoch and with it switched off (``_allow_ids_fast_path = False``, the
general kernel), after a one-epoch warm-up of each (compilation); prints training seconds per
epoch, their ratio, and the largest parameter difference between the two fits (float rounding
only on one thread: both draw the same negatives in the same order; Hogwild threads add their
interleaving). Timings on a shared machine are noisy:
note the load (``uptime``) next to any figure.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recfm.datasets import load_dataset  # noqa: E402
from recfm.features import FeatureBuilder  # noqa: E402
from recfm.model import FactorizationMachine  # noqa: E402


def _fit(design, fused: bool, **kw) -> FactorizationMachine:
    FactorizationMachine._allow_ids_fast_path = fused
    try:
        return FactorizationMachine(loss="bpr", **kw).fit(design)
    finally:
        FactorizationMachine._allow_ids_fast_path = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="synthetic-ml-1m")
    ap.add_argument("--negatives", type=int, nargs="+", default=[4])
    ap.add_argument("--factors", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = load_dataset(args.data, download=False)
    design = FeatureBuilder().fit_transform(data.interactions[["user_id", "item_id"]])
    print(f"{data.name}: {design.n_samples} samples, {args.factors} factors, "
          f"{args.threads} threads, {args.epochs} epochs; load {os.getloadavg()[0]:.2f}")
    for n_neg in args.negatives:
        kw = dict(n_factors=args.factors, n_negatives=n_neg, n_threads=args.threads,
                  random_state=args.seed)
        for fused in (True, False):  # warm-up: compile outside the timed fits
            _fit(design, fused, n_epochs=1, **kw)
        fast = _fit(design, True, n_epochs=args.epochs, **kw)
        general = _fit(design, False, n_epochs=args.epochs, **kw)
        tf = fast.train_seconds_ / args.epochs
        tg = general.train_seconds_ / args.epochs
        diff = float(np.abs(fast.V_ - general.V_).max())
        print(f"n_negatives={n_neg}: fused {tf:.2f} s/epoch, general {tg:.2f} s/epoch, "
              f"general/fused {tg / tf:.2f}x; max |V_fused - V_general| {diff:.2g}")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
