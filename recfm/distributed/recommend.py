"""Top-N for many users on a Dask cluster, written to Parquet.

The model is reduced to its factor form (:class:`~recfm.distributed.factors.FactorModel`):
the item vectors and the FM's query side are scattered to every worker once; the users are
cut into partitions, each carrying its users' seen rows (and a baseline's user vectors), and
every partition runs the same blocked top-N kernel as the single-machine recommender
(:func:`recfm.ranking.top_n`, pure over user partitions). A saved model directory is loaded
by each worker itself instead (nothing is scattered).

Each partition is written as one Parquet file into a staging folder beside the output; the
folder is renamed to the output only when every partition is there, so a failure never leaves
a partial result under the requested name. A worker lost mid-run costs only its partitions:
Dask runs them again elsewhere, and a rerun rewrites its file atomically.
"""
from __future__ import annotations

import os
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._utils import DataError, check_positive_int
from ._deps import require_dask
from ._output import PART_GLOB, check_output, staged_folder, write_part
from .factors import FactorModel, WholeRecommender, ranking_source

__all__ = ["recommend_all", "read_user_ids"]

#: Users per partition (task) at most: its outputs (28 bytes x n per user) and seen rows
#: stay a few tens of MiB, whatever the number of users.
PARTITION_USERS = 50_000
#: Partitions in flight per worker thread: enough to keep every core busy while the client
#: prepares the next ones, few enough that the scheduler never holds all the seen rows.
IN_FLIGHT_PER_THREAD = 2

_CACHE: dict[tuple[str, int], FactorModel | WholeRecommender] = {}
_CACHE_LOCK = threading.Lock()


def load_source(path: str | os.PathLike) -> FactorModel | WholeRecommender:
    """The ranking form of the recommender saved in directory ``path`` (cached per process).

    Workers call this themselves, so a saved model is read from shared storage once per
    worker process instead of being sent over the network.
    """
    from ..recommenders import load

    path = Path(path).expanduser().resolve()
    stamp = max((p.stat().st_mtime_ns for p in path.iterdir()), default=0) if path.is_dir() else 0
    key = (str(path), stamp)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE.clear()  # one model per worker process at a time
            _CACHE[key] = ranking_source(load(path))  # any saved recommender
        return _CACHE[key]


def _rank_part(source: FactorModel | WholeRecommender | str, ids: np.ndarray, rows: np.ndarray,
               U: np.ndarray | None, seen: Any, n: int, exclude_seen: bool,
               candidates: np.ndarray | None, folder: str | None, index: int,
               n_threads: int | None) -> Any:
    if isinstance(source, str):  # a saved model: this worker reads it and slices its rows
        source = load_source(source)
        U, seen = source.block(rows, exclude_seen)
    frame = source.rank(ids, n, U, seen, candidates, n_threads, exclude_seen)
    if folder is None:
        return frame
    return write_part(frame, Path(folder), index)


def read_user_ids(users: Any) -> np.ndarray:
    """User ids from a Dask/pandas frame, a Series/array, or a Parquet/CSV path (column ``user_id``).

    Raises
    ------
    DataError
        The frame or file has no ``user_id`` column (the message names the file), or holds
        missing ids.
    """
    from ..datasets.ids import parse_ids
    from .io import read_frame, reads_as_csv

    path = isinstance(users, (str, os.PathLike)) and reads_as_csv(users)
    if isinstance(users, (str, os.PathLike)):
        users = read_frame(users, columns=["user_id"], text_columns=["user_id"])
    what = "users"
    if hasattr(users, "columns"):
        if "user_id" not in users.columns:
            raise DataError(f"{what} has no 'user_id' column; it has {list(users.columns)}")
        users = users["user_id"]
    if hasattr(users, "compute"):
        users = users.compute()
    if path and not pd.api.types.is_numeric_dtype(pd.Series(users).dtype):  # a CSV's, as written
        users = parse_ids(pd.Series(users))
    ids = np.asarray(pd.Series(users).to_numpy())
    if len(ids) == 0:
        raise DataError("users is empty: no user to recommend for")
    if pd.isna(ids).any():
        raise DataError(f"{what} column 'user_id' has {int(pd.isna(ids).sum())} missing value(s)")
    return ids


def _client(client: Any) -> Any:
    if client is False:
        return None
    if client is not None:
        return client
    from distributed import default_client

    try:
        return default_client()
    except ValueError:  # no client in this process: rank in-process
        return None


def recommend_all(model: Any, users: Any = None, n: int = 10, exclude_seen: bool = True,
                  client: Any = None, output: str | os.PathLike | None = None,
                  items: Any = None, overwrite: bool = False,
                  partition_size: int | None = None) -> Any:
    """Top-``n`` items for many users, computed partition by partition on a Dask cluster.

    Parameters
    ----------
    model : fitted recommender, FactorModel, or str / path-like
        A fitted recommender, or the directory of a saved model (every worker then loads
        it itself). ``FMRecommender``, ``Popularity``, ``ImplicitALS`` and ``ImplicitBPR``
        are ranked in factor form (item vectors scattered once, worker memory bounded by
        the partition size); any other recommender (EASE, ItemKNN) is sent whole to each
        worker, which calls its own ``recommend`` on every partition.
    users : None, array-like, pandas or Dask DataFrame, or path
        Who to recommend for: None = every training user of the model; else ids, a frame
        with a ``user_id`` column, or a Parquet/CSV file or folder holding one. Users absent
        from the model are refused (named) before any work.
    n : int
        Items per user.
    exclude_seen : bool
        Leave out each user's training items.
    client : distributed.Client, None or False
        None: the current Dask client, or, with none, this process. False: this process
        (the single-machine path: the same partitions one after another, same output).
    output : str or path-like, optional
        Parquet folder to write (one ``part.NNNNN.parquet`` per partition of users, columns
        ``user_id, item_id, rank, score``). None: return a pandas DataFrame instead.
    items : array-like, optional
        Rank only these catalogue item ids.
    overwrite : bool
        Allow replacing an existing ``output``.
    partition_size : int, optional
        Users per partition (default: at most 50,000, and at least 4 partitions per worker
        thread when there are enough users). Worker memory grows with it, not with the
        number of users.

    Returns
    -------
    pathlib.Path of the written folder, or the DataFrame when ``output`` is None. Rows come
    in the order of ``users``, each user's items by rank, exactly as the recommender's own
    ``recommend`` gives them.

    Raises
    ------
    FileExistsError
        ``output`` exists and ``overwrite`` is false (checked before any work).
    KeyError
        Users absent from the model, or ``items`` absent from the catalogue (named).
    RuntimeError
        The cluster failed to finish (e.g. workers kept dying); nothing was written.
    """
    require_dask()
    n = check_positive_int(n, "n")
    if output is not None:
        check_output(output, overwrite)
    source_path = None
    if isinstance(model, (str, os.PathLike)):
        source_path = str(Path(model).resolve())
        fm = load_source(source_path)
    else:
        fm = ranking_source(model)
    from ..datasets.ids import ids_like

    if users is None:
        ids = fm.user_ids.to_numpy()
    elif isinstance(users, (str, os.PathLike)):  # a file's ids meet the model's by their text
        ids = ids_like(read_user_ids(users), fm.user_ids).to_numpy()
    else:
        ids = read_user_ids(users)
    rows = fm.rows_of(ids)
    candidates = None if items is None else fm.candidate_indices(items)

    client = _client(client)
    threads = sum(client.nthreads().values()) if client is not None else 1
    if partition_size is None:
        partition_size = max(1, min(PARTITION_USERS, -(-len(ids) // (4 * threads))))
    partition_size = check_positive_int(partition_size, "partition_size")
    starts = list(range(0, len(ids), partition_size))

    def job(folder: Path | None) -> list[Any]:
        target = None if folder is None else str(folder)
        if client is None:
            out = []
            for i, s in enumerate(starts):
                r = rows[s:s + partition_size]
                U, seen = fm.block(r, exclude_seen)
                out.append(_rank_part(fm, ids[s:s + partition_size], r, U, seen, n,
                                      exclude_seen, candidates, target, i, None))
            return out
        return _run_on_cluster(client, fm, source_path, ids, rows, starts, partition_size, n,
                               exclude_seen, candidates, target, threads)

    if output is None:
        frames = job(None)
        return pd.concat(frames, ignore_index=True)
    with staged_folder(output, overwrite) as folder:
        counts = job(folder)
        _check_parts(folder, len(starts), counts)
    return Path(output).expanduser()


def _run_on_cluster(client, fm, source_path, ids, rows, starts, size, n, exclude_seen,
                    candidates, folder, threads) -> list[Any]:
    with warnings.catch_warnings():
        # each task carries its users' seen rows by design (the scheduler can rerun it if
        # its worker dies); Dask's "large graph" hint is about graphs, not this
        warnings.filterwarnings("ignore", message="Sending large graph")
        return _submit_all(client, fm, source_path, ids, rows, starts, size, n, exclude_seen,
                           candidates, folder, threads)


def _submit_all(client, fm, source_path, ids, rows, starts, size, n, exclude_seen,
                candidates, folder, threads) -> list[Any]:
    from distributed import as_completed

    source = source_path if source_path is not None else client.scatter(
        fm.for_workers(), broadcast=True, hash=False)

    token = uuid.uuid4().hex

    def submit(i: int):
        s = starts[i]
        r = rows[s:s + size]
        U, seen = (None, None) if source_path is not None else fm.block(r, exclude_seen)
        return client.submit(_rank_part, source, ids[s:s + size], r, U, seen, n, exclude_seen,
                             candidates, folder, i, 1, pure=False, key=f"recfm-top-n-{token}-{i}")

    results: list[Any] = [None] * len(starts)
    window = max(1, IN_FLIGHT_PER_THREAD * threads)
    futures = {submit(i): i for i in range(min(window, len(starts)))}
    next_i = len(futures)
    pending = as_completed(list(futures))
    try:
        for fut in pending:
            i = futures.pop(fut)
            try:
                results[i] = fut.result()
            except Exception as exc:
                raise RuntimeError(
                    f"distributed top-N failed on partition {i} (users {starts[i]}.."
                    f"{min(starts[i] + size, len(ids)) - 1}): {type(exc).__name__}: {exc}"
                ) from exc
            if next_i < len(starts):
                new = submit(next_i)
                futures[new] = next_i
                pending.add(new)
                next_i += 1
    finally:
        for fut in futures:
            fut.cancel()
    return results


def _check_parts(folder: Path, n_parts: int, counts: list[int]) -> None:
    """Every partition's file is present with its row count; stray temporaries removed."""
    for p in folder.iterdir():
        if not p.name.endswith(".parquet"):  # a write interrupted by a lost worker
            p.unlink()
    import pyarrow.parquet as pq

    parts = sorted(folder.glob(PART_GLOB))
    if len(parts) != n_parts:
        raise RuntimeError(f"expected {n_parts} partitions in {folder}, found {len(parts)}")
    for i, p in enumerate(parts):
        rows = pq.ParquetFile(p).metadata.num_rows
        if rows != counts[i]:
            raise RuntimeError(f"{p.name} holds {rows} rows; its task wrote {counts[i]}")
