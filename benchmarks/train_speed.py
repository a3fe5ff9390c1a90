"""Training throughput of recfm's FM against implicit's BPR and LightFM's WARP, in one run.

    python benchmarks/train_speed.py                       # ML-1M-sized synthetic data
    python benchmarks/train_speed.py --data ml-1m          # real ML-1M (needs ratings.dat)
    python benchmarks/train_speed.py --data ml-100k --epochs 10
    python benchmarks/train_speed.py --data synthetic-ml-20m --epochs 1 --repeat 1 --skip-lightfm
    python benchmarks/train_speed.py --epochs 5 --repeat 3 --skip-lightfm   # issue 9's ratios

Figures are positive samples per second of training (interactions × epochs / fit seconds),
ids only, the same factor count and threads for every library; JIT compilation is warmed
up first and not counted. Shared machines are noisy, so the libraries are timed in turns,
``--repeat`` rounds of one fit each, and the figures are medians; each ratio is the median
of the per-round ratios (both fits of a round ran under similar load), followed by their
range and by the ratio of each library's best time (the least disturbed run). Also prints the
peak memory that ``FactorizationMachine.fit`` allocates beyond its inputs, as a multiple of the
interaction matrix's size (tracemalloc sees numpy's allocations), to show the interactions are
not copied over and over.

The default ids-only FM trains in user visits (each user's samples in a row); the row
``recfm FM, BPR (ids, shuffled)`` times the same model over one shuffled sample order (the
order before visits), and the ratio of the two is printed. The row ``recfm FM, BPR
(user_balance)`` times it with ``user_balance=0.5`` (every sample then carries a weight, which
the visit queue looks up by sample id), against the default.

Also times the FM with a History field (ids + each user's training items, SVD++-style, as
``fm-history``), trained in user visits with cached history sums, and prints its time per epoch
against the ids-only FM with the same loss (issue 9's target: at most 2x). Its recommend time
must not grow: both are fitted as ``FMRecommender`` s (one epoch; ranking speed does not depend
on how well they learnt) and ``recommend_all(n=10)`` (every user, seen items excluded) is timed
for each in turns, ``--repeat`` rounds; a user's query vector with its history is folded once
(on the first call, whose time is printed apart), then ranked with the same blocked GEMM as
the ids-only model, so the ratio should be ~1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recfm.datasets import load_dataset  # noqa: E402
from recfm.features import FeatureBuilder, History  # noqa: E402
from recfm.model import FactorizationMachine  # noqa: E402
from recfm.recommenders import FMRecommender  # noqa: E402


def _design(name: str):
    data = load_dataset(name, download=False)
    pairs = data.interactions[["user_id", "item_id"]]
    design = FeatureBuilder().fit_transform(pairs)
    history = FeatureBuilder(user_features=[History()]).fit_transform(pairs)
    return data.name, pairs, design, history


def _recommenders(pairs, factors: int, threads: int, seed: int) -> dict:
    """``fm`` (ids) and ``fm-history`` (ids + History) fitted for one epoch."""
    out = {}
    for label, builder in (("fm", FeatureBuilder()),
                           ("fm-history", FeatureBuilder(user_features=[History()]))):
        model = FactorizationMachine(n_factors=factors, loss="warp", n_epochs=1,
                                     n_threads=threads, random_state=seed)
        out[label] = FMRecommender(builder=builder, model=model).fit(pairs)
    return out


def _time_recommend_all(rec) -> float:
    t = time.perf_counter()
    rec.recommend_all(n=10)
    return time.perf_counter() - t


def _time_recfm(design, loss: str, factors: int, epochs: int, threads: int, seed: int,
                schedule: str = "adagrad", order: str = "auto",
                user_balance: float = 0.0) -> float:
    fm = FactorizationMachine(n_factors=factors, loss=loss, n_epochs=epochs, n_threads=threads,
                              learning_schedule=schedule, random_state=seed,
                              user_balance=user_balance)
    # order="shuffled": ids-only samples in one shuffled order, as before user visits
    # (the estimator's private switch, for this comparison)
    saved = FactorizationMachine._ids_sample_order
    FactorizationMachine._ids_sample_order = order
    try:
        t = time.perf_counter()
        fm.fit(design)
        return time.perf_counter() - t
    finally:
        FactorizationMachine._ids_sample_order = saved


def _time_implicit_bpr(X, factors: int, epochs: int, threads: int, seed: int) -> float:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(factors=factors, iterations=epochs, num_threads=threads,
                                        random_state=seed)
    t = time.perf_counter()
    model.fit(X, show_progress=False)
    return time.perf_counter() - t


def _time_lightfm(X, loss: str, factors: int, epochs: int, threads: int, seed: int) -> float | None:
    try:
        from lightfm import LightFM
    except ImportError:
        return None
    model = LightFM(no_components=factors, loss=loss, random_state=seed)
    coo = X.tocoo()
    t = time.perf_counter()
    model.fit(coo, epochs=epochs, num_threads=threads)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="synthetic-ml-1m",
                    help="synthetic-ml-1m, synthetic-ml-20m, ml-100k, ml-1m, ...")
    ap.add_argument("--skip-lightfm", action="store_true", help="leave LightFM out (slow at ML-20M size)")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="rounds; figures are medians")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-recommend", action="store_true",
                    help="leave out the recommend-time ratio fm-history / fm")
    args = ap.parse_args()

    name, pairs, design, hist_design = _design(args.data)
    X = design.interactions
    n_pos = design.n_samples
    print(f"data: {name}: {design.n_users:,} users x {design.n_items:,} items, {n_pos:,} positives; "
          f"{args.factors} factors, {args.threads} threads, {args.epochs} epochs, "
          f"median of {args.repeat} rounds; load average (1 min) {os.getloadavg()[0]:.1f}")

    # warm-up: compile (or load cached) kernels outside the timings
    small = FeatureBuilder().fit_transform(
        load_dataset("sample").interactions[["user_id", "item_id"]])
    for loss in ("bpr", "warp"):
        for schedule in ("adagrad", "sgd"):
            for order in ("auto", "shuffled"):
                _time_recfm(small, loss, args.factors, 1, args.threads, args.seed, schedule,
                            order)
    _time_recfm(small, "bpr", args.factors, 1, args.threads, args.seed, user_balance=0.5)
    small_hist = FeatureBuilder(user_features=[History()]).fit_transform(
        load_dataset("sample").interactions[["user_id", "item_id"]])
    for loss in ("bpr", "warp"):
        _time_recfm(small_hist, loss, args.factors, 1, args.threads, args.seed)

    a = (args.factors, args.epochs, args.threads, args.seed)
    runs = {
        "recfm FM, BPR (ids, Adagrad)": lambda: _time_recfm(design, "bpr", *a),
        "recfm FM, BPR (ids, SGD)": lambda: _time_recfm(design, "bpr", *a, "sgd"),
        "recfm FM, BPR (ids, shuffled)": lambda: _time_recfm(design, "bpr", *a, "adagrad", "shuffled"),
        "recfm FM, BPR (user_balance)": lambda: _time_recfm(design, "bpr", *a, "adagrad", "auto",
                                                            0.5),
        "implicit BPR (SGD)": lambda: _time_implicit_bpr(X, *a),
        "recfm FM, WARP (ids, Adagrad)": lambda: _time_recfm(design, "warp", *a),
        "LightFM WARP (Adagrad)": lambda: None if args.skip_lightfm else _time_lightfm(X, "warp", *a),
        "LightFM BPR (Adagrad)": lambda: None if args.skip_lightfm else _time_lightfm(X, "bpr", *a),
        "recfm FM, WARP (ids + history)": lambda: _time_recfm(hist_design, "warp", *a),
        "recfm FM, BPR (ids + history)": lambda: _time_recfm(hist_design, "bpr", *a),
    }
    times: dict[str, list] = {label: [] for label in runs}
    labels = list(runs)
    for r in range(args.repeat):
        # each round starts one library later, so no library always runs first or after the
        # same neighbour
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            times[label].append(runs[label]())
    print(f"\nload average (1 min) after the rounds: {os.getloadavg()[0]:.1f}")
    print(f"\n{'model':<32}{'fit s':>9}{'samples/s':>14}")
    for label, ts in times.items():
        if ts[0] is None:
            why = ("skipped (--skip-lightfm)" if args.skip_lightfm
                   else "not installed (pip install lightfm-next)")
            print(f"{label:<32}{'-':>9}   {why}")
        else:
            t = float(np.median(ts))
            print(f"{label:<32}{t:>9.2f}{n_pos * args.epochs / t:>14,.0f}")

    def ratio(fast: str, slow: str) -> str:
        if times[slow][0] is None:
            return "LightFM skipped" if args.skip_lightfm else "LightFM not installed"
        r = np.array(times[slow]) / np.array(times[fast])
        best = min(times[slow]) / min(times[fast])
        return f"{np.median(r):.2f}x (rounds: {r.min():.2f}-{r.max():.2f}x; best times: {best:.2f}x)"

    print()
    print("ratio recfm BPR (Adagrad, the default) / implicit BPR (samples/s): "
          + ratio("recfm FM, BPR (ids, Adagrad)", "implicit BPR (SGD)"))
    print("ratio recfm BPR (SGD, as implicit) / implicit BPR (samples/s):     "
          + ratio("recfm FM, BPR (ids, SGD)", "implicit BPR (SGD)"))
    print("ratio recfm BPR in user visits (default) / in one shuffled order:   "
          + ratio("recfm FM, BPR (ids, Adagrad)", "recfm FM, BPR (ids, shuffled)"))
    print("time, BPR with user_balance=0.5 / without (its per-sample weights): "
          + ratio("recfm FM, BPR (ids, Adagrad)", "recfm FM, BPR (user_balance)"))
    print("ratio recfm WARP / LightFM WARP (samples/s):                       "
          + ratio("recfm FM, WARP (ids, Adagrad)", "LightFM WARP (Adagrad)"))
    print("ratio recfm BPR / LightFM BPR (samples/s):                         "
          + ratio("recfm FM, BPR (ids, Adagrad)", "LightFM BPR (Adagrad)"))
    print("time per epoch, ids + history / ids only, WARP (target <= 2x):      "
          + ratio("recfm FM, WARP (ids, Adagrad)", "recfm FM, WARP (ids + history)"))
    print("time per epoch, ids + history / ids only, BPR (target <= 2x):       "
          + ratio("recfm FM, BPR (ids, Adagrad)", "recfm FM, BPR (ids + history)"))

    if not args.skip_recommend:
        recs = _recommenders(pairs, args.factors, args.threads, args.seed)
        first = {}
        for label, rec in recs.items():
            rec.recommend(rec.user_ids_[:64], n=10)  # warm-up: kernels compiled or loaded
            first[label] = _time_recommend_all(rec)  # also folds every training user, once
        rt: dict[str, list] = {label: [] for label in recs}
        for r in range(args.repeat):
            for label in list(recs)[r % 2:] + list(recs)[:r % 2]:
                rt[label].append(_time_recommend_all(recs[label]))
        rr = np.array(rt["fm-history"]) / np.array(rt["fm"])
        print(f"\nrecommend_all(n=10) for {design.n_users:,} users, seen items excluded "
              f"(median of {args.repeat}): fm {np.median(rt['fm']):.2f} s, "
              f"fm-history {np.median(rt['fm-history']):.2f} s")
        print(f"(first recommend_all, which also folds every training user's query vector once: "
              f"fm {first['fm']:.2f} s, fm-history {first['fm-history']:.2f} s)")
        print(f"recommend time, ids + history / ids only (target ~1x):             "
              f"{np.median(rr):.2f}x (rounds: {rr.min():.2f}-{rr.max():.2f}x; best times: "
              f"{min(rt['fm-history']) / min(rt['fm']):.2f}x)")

    # memory: what fit allocates beyond its inputs, against the interaction CSR's size
    csr_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    tracemalloc.start()
    FactorizationMachine(n_factors=args.factors, loss="bpr", n_epochs=1, n_threads=args.threads,
                         random_state=args.seed).fit(design)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    params = (design.n_users + design.n_items) * (args.factors + 1) * 4 * 2  # V, w + Adagrad state
    print(f"\nmemory: fit's peak allocation {peak / 2**20:.1f} MiB; "
          f"interaction CSR {csr_bytes / 2**20:.1f} MiB; "
          f"parameters + Adagrad state {params / 2**20:.1f} MiB; "
          f"(peak - parameters) / CSR = {(peak - params) / csr_bytes:.2f}x")


if __name__ == "__main__":
    main()
