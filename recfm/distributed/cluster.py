"""Connecting to a Dask cluster: a local one started here, or a scheduler's address."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import distributed

#: Seconds to wait for a scheduler address to answer before giving up.
CONNECT_TIMEOUT = 5.0


@contextlib.contextmanager
def dask_client(scheduler: str = "local", n_workers: int | None = None,
                threads_per_worker: int = 1, memory_limit: str | int | None = None,
                timeout: float = CONNECT_TIMEOUT) -> Iterator[distributed.Client]:
    """A :class:`distributed.Client` for the block, closed (with its local cluster) at exit.

    Parameters
    ----------
    scheduler : str
        ``"local"``: start a :class:`distributed.LocalCluster` of worker *processes* here;
        otherwise the address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    n_workers : int, optional
        Worker processes of a local cluster (default: one per core). Ignored for an address.
    threads_per_worker : int
        Threads per local worker (default 1: recfm's kernels run one thread per task, so
        processes, not threads, use the cores).
    memory_limit : str or int, optional
        Per-worker memory limit of a local cluster (Dask's default: a share of the RAM).
    timeout : float
        Seconds to wait for a scheduler address to answer.

    Raises
    ------
    ConnectionError
        The scheduler did not answer within ``timeout`` seconds; the message names it.
    """
    from ._deps import require_dask

    require_dask()
    from distributed import Client, LocalCluster

    if scheduler == "local":
        kwargs = {} if memory_limit is None else {"memory_limit": memory_limit}
        # dashboard on a free port: several local clusters on one machine never clash
        with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                          processes=True, dashboard_address=":0", silence_logs=logging.ERROR,
                          **kwargs) as cluster, \
                Client(cluster) as client:
            yield client
        return
    if "://" not in scheduler:
        raise ValueError(
            f"scheduler must be 'local' or an address such as tcp://host:8786; got {scheduler!r}"
        )
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"no Dask scheduler answered at {scheduler} within {timeout:g} s ({exc}); "
            "check the address, or use --scheduler local"
        ) from None
    with client:
        yield client
