"""A real local Dask cluster (2 worker processes, 1 thread each) per test module."""
from __future__ import annotations

import pytest

from recfm.datasets import make_synthetic


@pytest.fixture(scope="module")
def client():
    from recfm.distributed import dask_client

    with dask_client("local", n_workers=2, threads_per_worker=1, memory_limit="1.5GiB") as c:
        yield c


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic(n_users=300, n_items=200, n_interactions=6000, seed=0)
