"""recfm.distributed against the single-process path: batch top-N and log preparation.

``top-n`` (default): synthetic data with 10 x ML-20M's users (1,384,930 users x 26,744
items, 64 factors folded into 65 columns, ~144 seen items per user as in ML-20M). Random
Gaussian user/item vectors and a random long-tailed seen CSR stand in for a trained model:
ranking cost depends on the shapes and the exclusions, not on what the numbers mean (as in
``recommend_speed.py``). Top-10 for every user, seen items excluded, written to Parquet:

* in-process: ``recommend_all(model, client=False, output=...)`` -- the partitions run one
  after another in this process, numba using every core;
* cluster: the same call on a ``LocalCluster`` of ``--workers`` worker processes (1 thread
  each); the item vectors are scattered once, each partition carries its seen rows.

It checks that the two Parquet outputs are identical (ids, ranks and scores), and prints
users/s, the overhead ratio cluster/in-process and the peak RSS of every worker.

``prepare``: a synthetic interaction log of ``--rows`` rows (default 20M; ML-20M-like
shape) written as partitioned Parquet, prepared by ``prepare_interactions`` (rating filter
+ k-core, Dask on the LocalCluster) and by recfm's pandas path
(``Popularity().fit(k_core(df[df.rating >= r], k))``): same ids, same CSR; time and peak
memory of both.

Run manually (not a test), from the repository root::

    PYTHONPATH=. python benchmarks/distributed.py top-n [--users 1384930] [--workers 2]
    PYTHONPATH=. python benchmarks/distributed.py prepare [--rows 20000000]

On a machine shared with other jobs the seconds are noise; the ratio is less so.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

_HERE = os.path.dirname(os.path.abspath(__file__))
# this file is named like the ``distributed`` package: keep its folder off the import path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

ML20M_USERS, ML20M_ITEMS, ML20M_ROWS = 138_493, 26_744, 20_000_263


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker_peak_mib() -> float:
    """Peak RSS of this worker process (VmHWM: ru_maxrss would report the parent's peak,
    which a spawned child inherits)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def random_seen(n_users: int, n_items: int, per_user: float, seed: int,
                chunk: int = 100_000) -> sp.csr_matrix:
    """A users x items CSR of distinct pairs: log-normal activity, Zipf-like popularity.

    Built a chunk of users at a time (draw, encode as row * n_items + col, sort, drop
    repeats), so
    memory stays near the size of the result.
    """
    rng = np.random.default_rng(seed)
    counts = rng.lognormal(0.0, 1.0, n_users)
    counts = np.clip(np.rint(counts * per_user / counts.mean()), 1, n_items // 2).astype(np.int64)
    item_cdf = np.cumsum(1.0 / np.arange(1, n_items + 1) ** 0.9)
    item_cdf /= item_cdf[-1]
    perm = rng.permutation(n_items).astype(np.int64)
    indptr = np.zeros(n_users + 1, np.int64)
    parts = []
    for s in range(0, n_users, chunk):
        c = counts[s:s + chunk]
        rows = np.repeat(np.arange(len(c), dtype=np.int64), c)
        cols = perm[np.searchsorted(item_cdf, rng.random(len(rows)))]
        keys = np.sort(rows * n_items + cols)  # np.unique: ~20x slower here (numpy 2.4)
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
        parts.append((keys % n_items).astype(np.int32))
        indptr[s + 1:s + len(c) + 1] = np.bincount(keys // n_items, minlength=len(c))
    np.cumsum(indptr, out=indptr)
    indices = np.concatenate(parts)
    return sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                         shape=(n_users, n_items))


def bench_top_n(args) -> None:
    from recfm.distributed import FactorModel, dask_client, recommend_all

    n_users, n_items, k = args.users, args.items, args.factors
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    seen = random_seen(n_users, n_items, ML20M_ROWS / ML20M_USERS, args.seed)
    U = np.empty((n_users, k + 1), np.float32)
    U[:, :k] = 0.3 * rng.standard_normal((n_users, k), dtype=np.float32)
    U[:, k] = 1.0
    I = np.empty((n_items, k + 1), np.float32)
    I[:, :k] = 0.3 * rng.standard_normal((n_items, k), dtype=np.float32)
    I[:, k] = 0.5 * rng.standard_normal(n_items, dtype=np.float32)
    model = FactorModel(user_ids=pd.RangeIndex(n_users), item_ids=pd.RangeIndex(n_items),
                        item_vectors=I, user_vectors=U, seen=seen)
    print(f"top-n: {n_users:,} users x {n_items:,} items, {k} factors (+1 bias column), "
          f"{seen.nnz:,} seen pairs; built in {time.perf_counter() - t0:.0f} s; "
          f"peak RSS {peak_rss_mib():,.0f} MiB", flush=True)
    tmp = tempfile.mkdtemp(prefix="recfm-bench-", dir=args.tmp)
    try:
        # warm-up: numba kernels from cache
        recommend_all(model, users=np.arange(1000), n=args.n, client=False)
        t0 = time.perf_counter()
        recommend_all(model, n=args.n, client=False, output=os.path.join(tmp, "local.parquet"))
        t_local = time.perf_counter() - t0
        print(f"  in-process : {t_local:8.1f} s  {n_users / t_local:>10,.0f} users/s  "
              f"(peak RSS of this process {peak_rss_mib():,.0f} MiB)", flush=True)
        with dask_client("local", n_workers=args.workers, threads_per_worker=1,
                         memory_limit=args.memory_limit) as client:
            t0 = time.perf_counter()
            recommend_all(model, n=args.n, client=client, output=os.path.join(tmp, "cluster.parquet"))
            t_cluster = time.perf_counter() - t0
            peaks = client.run(_worker_peak_mib)
        print(f"  cluster    : {t_cluster:8.1f} s  {n_users / t_cluster:>10,.0f} users/s  "
              f"({args.workers} worker processes x 1 thread)")
        print(f"  overhead ratio cluster / in-process: {t_cluster / t_local:.2f}x (goal <= 1.3x)")
        print("  peak RSS per worker: " + ", ".join(f"{v:,.0f} MiB" for v in peaks.values())
              + " (goal < 2048 MiB)")
        a = pd.read_parquet(os.path.join(tmp, "local.parquet"))
        b = pd.read_parquet(os.path.join(tmp, "cluster.parquet"))
        same = a.equals(b)
        print(f"  outputs identical (user_id, item_id, rank, score): {same}  ({len(a):,} rows)")
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_prepare(args) -> None:
    import dask.dataframe as dd

    from recfm.distributed import dask_client, prepare_interactions
    from recfm.recommenders import Popularity
    from recfm.split import k_core

    rows = args.rows
    n_users = max(1, int(round(rows * ML20M_USERS / ML20M_ROWS)))
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    # exactly ``rows`` rows, repeats included (a raw log): log-normal activity, Zipf items
    activity = np.cumsum(rng.lognormal(0.0, 1.0, n_users))
    item_cdf = np.cumsum(1.0 / np.arange(1, ML20M_ITEMS + 1) ** 0.9)
    users = np.searchsorted(activity, rng.random(rows) * activity[-1])
    items = np.searchsorted(item_cdf, rng.random(rows) * item_cdf[-1])
    df = pd.DataFrame({"user_id": users.astype(np.int64) * 7 + 3,
                       "item_id": rng.permutation(ML20M_ITEMS)[items].astype(np.int64) * 5 + 1,
                       "rating": rng.integers(1, 11, rows).astype(np.float32) / 2,
                       "timestamp": rng.integers(8e8, 1.4e9, rows)})
    del users, items
    tmp = tempfile.mkdtemp(prefix="recfm-bench-", dir=args.tmp)
    try:
        path = os.path.join(tmp, "log")
        dd.from_pandas(df, npartitions=max(1, len(df) // 1_000_000)).to_parquet(path)
        print(f"prepare: {len(df):,} rows ({df['user_id'].nunique():,} users, "
              f"{df['item_id'].nunique():,} items) written to partitioned Parquet in "
              f"{time.perf_counter() - t0:.0f} s; min_rating={args.min_rating}, k_core={args.k_core}",
              flush=True)
        t0 = time.perf_counter()
        before = peak_rss_mib()
        ref = Popularity().fit(k_core(df[df["rating"] >= args.min_rating], args.k_core))
        t_pandas = time.perf_counter() - t0
        print(f"  pandas path: {t_pandas:7.1f} s, peak RSS {peak_rss_mib():,.0f} MiB "
              f"(before it {before:,.0f} MiB, the log frame held in memory)", flush=True)
        del df
        with dask_client("local", n_workers=args.workers, threads_per_worker=1,
                         memory_limit=args.memory_limit) as client:
            t0 = time.perf_counter()
            got = prepare_interactions(path, min_rating=args.min_rating, k_core=args.k_core,
                                       client=client)
            t_dask = time.perf_counter() - t0
            peaks = client.run(_worker_peak_mib)
        print(f"  dask path  : {t_dask:7.1f} s, peak RSS per worker "
              + ", ".join(f"{v:,.0f} MiB" for v in peaks.values())
              + f"; this process {peak_rss_mib():,.0f} MiB (includes the pandas run)")
        same = (got.user_ids.equals(ref.user_ids_) and got.item_ids.equals(ref.item_ids_)
                and np.array_equal(got.matrix.indptr, ref.seen_.indptr)
                and np.array_equal(got.matrix.indices, ref.seen_.indices)
                and np.array_equal(got.matrix.data, ref.seen_.data))
        print(f"  same ids and CSR as the pandas path: {same}  ({got.matrix.shape[0]:,} x "
              f"{got.matrix.shape[1]:,}, {got.matrix.nnz:,} pairs)")
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", nargs="?", default="top-n", choices=["top-n", "prepare"])
    parser.add_argument("--users", type=int, default=10 * ML20M_USERS)
    parser.add_argument("--items", type=int, default=ML20M_ITEMS)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--rows", type=int, default=20_000_000, help="prepare: log rows")
    parser.add_argument("--min-rating", type=float, default=3.5, help="prepare: rating filter")
    parser.add_argument("--k-core", type=int, default=5, help="prepare: k-core")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GiB", help="per worker (Dask pauses above it)")
    parser.add_argument("--tmp", default=None, help="where the Parquet outputs go (temporary)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    (bench_top_n if args.task == "top-n" else bench_prepare)(args)


if __name__ == "__main__":
    main()
