"""Top-10 for every user, seen items excluded: recfm's ``top_n`` against implicit's ``recommend``.

Both rank the SAME factor arrays: implicit's ``AlternatingLeastSquares`` gets them as
``user_factors`` / ``item_factors`` and runs
``model.recommend(np.arange(n_users), user_items, N=10, filter_already_liked_items=True)``;
recfm runs ``top_n(U, I, 10, exclude=user_items)``. A second recfm row ranks the folded
(k + 1)-column vectors an FM produces (``U = [P, 1]``, ``I = [E, b]``), the realistic case.

Sizes (``--sizes``): ``ml-1m`` (6,040 users x 3,706 items, ~1M interactions) and ``ml-20m``
(138,493 x 26,744, ~20M interactions). The interactions are a random CSR with a long-tailed
(Zipf-like) item popularity and log-normal user activity, and the factors are Gaussian: ranking
speed depends only on the shapes and the number of exclusions, not on what the numbers mean.
``--data synthetic`` takes the interactions from ``recfm.datasets.make_synthetic_like`` instead
(slower to build, and its data frames raise the process's peak RSS).

Threads. ``--threads`` goes to both libraries (0 = all cores). implicit's topk runs its own
thread pool over 100-user batches and calls BLAS inside each batch; implicit itself warns that
a multithreaded OpenBLAS slows it down and advises one BLAS thread, so implicit is timed with
BLAS held to one thread (threadpoolctl), its best configuration (with BLAS at its default thread
count it was ~1.8x slower here). recfm's ``top_n`` does the same internally (one BLAS thread per
numba worker), so no environment variable is needed.

Memory. For each run the script prints the process's peak RSS (``resource.getrusage``) and,
where Linux allows resetting the high-water mark (``/proc/self/clear_refs``), the peak RSS
reached during that call alone, minus the RSS before it ("extra").

Run manually (not a test), from the repository root::

    PYTHONPATH=. /work/venv/bin/python benchmarks/recommend_speed.py --sizes ml-1m,ml-20m

Times are best-of ``--repeat`` (runs interleaved), because shared machines are noisy; the CPU
time of each call (``time.process_time``, all threads) is printed too, as a check that is less
sensitive to other load.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from recfm.ranking import top_n  # noqa: E402

SIZES = {
    "ml-1m": (6_040, 3_706, 1_000_209),
    "ml-20m": (138_493, 26_744, 20_000_263),
}


def random_interactions(n_users: int, n_items: int, nnz: int, seed: int) -> sp.csr_matrix:
    """A users x items CSR with exactly ``nnz`` distinct pairs, long-tailed item popularity."""
    rng = np.random.default_rng(seed)
    item_cdf = np.cumsum(1.0 / np.arange(1, n_items + 1) ** 0.9)  # Zipf-like popularity
    item_perm = rng.permutation(n_items).astype(np.int32)  # popular items anywhere in the range
    user_cdf = np.cumsum(rng.lognormal(0.0, 1.0, n_users))  # log-normal user activity
    X = sp.csr_matrix((n_users, n_items), dtype=np.float32)
    draw = int(1.3 * nnz)
    while X.nnz < nnz:
        rows = np.searchsorted(user_cdf, rng.random(draw) * user_cdf[-1]).astype(np.int32)
        cols = item_perm[np.searchsorted(item_cdf, rng.random(draw) * item_cdf[-1])]
        X = X + sp.csr_matrix((np.ones(draw, np.float32), (rows, cols)), shape=(n_users, n_items))
        X.sum_duplicates()  # per-row sorts in C++, far cheaper than one global sort
        draw = int(1.5 * (nnz - X.nnz)) + 1000
    keep = np.ones(X.nnz, dtype=bool)
    keep[rng.choice(X.nnz, size=X.nnz - nnz, replace=False)] = False
    row_of = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(X.indptr))
    indptr = np.zeros(n_users + 1, dtype=np.int32)
    np.cumsum(np.bincount(row_of[keep], minlength=n_users), out=indptr[1:])
    return sp.csr_matrix((np.ones(nnz, np.float32), X.indices[keep], indptr),
                         shape=(n_users, n_items))


def synthetic_interactions(size: str, seed: int) -> sp.csr_matrix | None:
    try:
        from recfm.datasets import make_synthetic_like
    except ImportError:
        return None
    ds = make_synthetic_like(size, seed=seed, context=False)
    df = ds.interactions
    users = np.unique(df["user_id"].to_numpy(), return_inverse=True)[1]
    items, cols = np.unique(df["item_id"].to_numpy(), return_inverse=True)
    n_items = max(SIZES[size][1], len(items))
    X = sp.csr_matrix((np.ones(len(df), np.float32), (users, cols)),
                      shape=(int(users.max()) + 1, n_items))
    X.sum_duplicates()
    X.data[:] = 1.0
    return X


# ---- memory ---------------------------------------------------------------------------------
_PEAK_MIB = 0.0  # running maximum: resetting the high-water mark also resets ru_maxrss


def peak_rss_mib() -> float:
    """Peak RSS of the process so far (MiB), from resource.getrusage (Linux: KiB)."""
    global _PEAK_MIB
    _PEAK_MIB = max(_PEAK_MIB, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    return _PEAK_MIB


def _status_kib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure(fn, repeat: int):
    """Run fn() ``repeat`` times; return (best wall s, best CPU s, result, extra peak MiB)."""
    best, best_cpu, result, extra = float("inf"), float("inf"), None, None
    for _ in range(repeat):
        peak_rss_mib()  # record the peak before the reset clears it
        ok = reset_hwm()
        before = _status_kib("VmRSS")
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        hwm = _status_kib("VmHWM")
        if ok and before is not None and hwm is not None:
            e = (hwm - before) / 1024.0
            extra = e if extra is None else max(extra, e)
        peak_rss_mib()
    return best, best_cpu, result, extra


# ---- the two contenders --------------------------------------------------------------------
def make_implicit(U: np.ndarray, I: np.ndarray, threads: int):
    import warnings

    from implicit.cpu.als import AlternatingLeastSquares

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the BLAS-threads warning: we limit BLAS below
        model = AlternatingLeastSquares(factors=U.shape[1], num_threads=threads,
                                        random_state=0)
    model.user_factors = U
    model.item_factors = I
    return model


def run_implicit(model, X: sp.csr_matrix, n: int):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return model.recommend(np.arange(X.shape[0]), X, N=n, filter_already_liked_items=True)


def bench(size: str, args) -> dict:
    n_users, n_items, nnz = SIZES[size]
    t0 = time.perf_counter()
    X = synthetic_interactions(size, args.seed) if args.data == "synthetic" else None
    source = "recfm.datasets.make_synthetic_like" if X is not None else "random long-tailed CSR"
    if X is None:
        X = random_interactions(n_users, n_items, nnz, args.seed)
    n_users, n_items = X.shape
    rng = np.random.default_rng(args.seed + 1)
    k = args.factors
    U = (0.3 * rng.standard_normal((n_users, k))).astype(np.float32)
    I = (0.3 * rng.standard_normal((n_items, k))).astype(np.float32)
    # folded FM-style vectors: [P, 1] and [E, b]
    Uf = np.ascontiguousarray(np.hstack([U, np.ones((n_users, 1), np.float32)]))
    b = (0.5 * rng.standard_normal((n_items, 1))).astype(np.float32)
    If = np.ascontiguousarray(np.hstack([I, b]))
    print(f"\n== {size}: {n_users:,} users x {n_items:,} items, {X.nnz:,} interactions "
          f"({source}, built in {time.perf_counter() - t0:.1f}s), {k} factors, "
          f"threads={args.threads or 'all'}, peak RSS so far {peak_rss_mib():.0f} MiB")

    threads = args.threads
    recfm_threads = None if threads == 0 else threads
    model = make_implicit(U, I, threads)
    # warm-up: numba compilation / caches, implicit's first call
    top_n(U[:64], I, args.n, exclude=X[:64], n_threads=recfm_threads)
    top_n(Uf[:64], If, args.n, exclude=X[:64], n_threads=recfm_threads)
    run_implicit(make_implicit(U[:64], I, threads), X[:64], args.n)

    best = {"recfm": float("inf"), "recfm_folded": float("inf"), "implicit": float("inf")}
    cpu = dict(best)
    extra = {key: None for key in best}
    res = {}
    for _ in range(args.repeat):  # interleaved, so noise hits both sides alike
        runs = {
            "recfm": lambda: top_n(U, I, args.n, exclude=X, n_threads=recfm_threads),
            "recfm_folded": lambda: top_n(Uf, If, args.n, exclude=X, n_threads=recfm_threads),
            "implicit": lambda: run_implicit(model, X, args.n),
        }
        for key, fn in runs.items():
            dt, dc, out, ex = measure(fn, 1)
            best[key] = min(best[key], dt)
            cpu[key] = min(cpu[key], dc)
            if ex is not None:
                extra[key] = ex if extra[key] is None else max(extra[key], ex)
            res[key] = out

    ids_r, sc_r = res["recfm"]
    ids_i, sc_i = res["implicit"]
    same_rows = float(np.mean(np.all(ids_r == ids_i, axis=1)))
    score_gap = float(np.max(np.abs(sc_r - sc_i)))
    seen_hits = int(X[np.arange(n_users)[:, None], np.maximum(ids_r, 0)].sum())

    def line(name, key):
        e = f", extra peak {extra[key]:.0f} MiB" if extra[key] is not None else ""
        return (f"  {name:<34s} {best[key]:8.3f} s  {n_users / best[key]:>10,.0f} users/s  "
                f"(CPU {cpu[key]:.2f} s){e}")

    print(line("recfm top_n (same factors)", "recfm"))
    print(line(f"recfm top_n (folded, {k + 1} columns)", "recfm_folded"))
    print(line("implicit recommend (BLAS 1 thread)", "implicit"))
    ratio = best["implicit"] / best["recfm"]
    print(f"  ratio recfm/implicit (speed, same factors): {ratio:.2f}x")
    folded_ratio = best["implicit"] / best["recfm_folded"]
    print(f"  ratio recfm(folded)/implicit:               {folded_ratio:.2f}x")
    print(f"  CPU-time ratio implicit/recfm:              {cpu['implicit'] / cpu['recfm']:.2f}x"
          "  (less sensitive to other load on the machine)")
    print(f"  identical top-{args.n} rows vs implicit: {100 * same_rows:.3f}%  "
          f"(max |score diff| {score_gap:.2e}); seen items recommended by recfm: {seen_hits}")
    if same_rows < 1.0 and score_gap == 0.0:
        print("  (the rows that differ hold exactly equal scores: ties, which implicit orders "
              "differently; recfm puts the lower item index first)")
    print(f"  peak RSS of the process: {peak_rss_mib():.0f} MiB")
    return {"size": size, "ratio": ratio, "cpu_ratio": cpu["implicit"] / cpu["recfm"], **best}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="ml-1m,ml-20m",
                        help="comma-separated: ml-1m, ml-20m (default both)")
    parser.add_argument("--threads", type=int, default=0, help="threads for both (0 = all cores)")
    parser.add_argument("--factors", type=int, default=64, help="number of factors (default 64)")
    parser.add_argument("--n", type=int, default=10, help="list length (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="best of R interleaved runs")
    parser.add_argument("--data", choices=("random", "synthetic"), default="random",
                        help="interactions: random long-tailed CSR (default) or "
                             "recfm.datasets.make_synthetic_like")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            parser.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    import numba

    print(f"recommend_speed: numba {numba.__version__}, {os.cpu_count()} CPUs, "
          f"numba threads {numba.config.NUMBA_NUM_THREADS}")
    results = [bench(s, args) for s in sizes]
    print("\nsummary (speed ratio recfm/implicit, >1 means recfm is faster):")
    for r in results:
        print(f"  {r['size']:<7s} {r['ratio']:.2f}x  (recfm {r['recfm']:.3f}s, "
              f"implicit {r['implicit']:.3f}s; CPU-time ratio {r['cpu_ratio']:.2f}x)")


if __name__ == "__main__":
    main()
