"""Without the extra, recfm.distributed says which one to install."""
from __future__ import annotations

import sys

import pytest

from recfm.distributed._deps import require_dask, require_pyarrow


@pytest.mark.parametrize("module", ["dask", "distributed", "pyarrow"])
def test_missing_dependency_names_the_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # import of it raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'recfm\[dask\]'"):
        require_dask()


def test_missing_pyarrow_names_the_parquet_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"recfm\[parquet\]"):
        require_pyarrow()
