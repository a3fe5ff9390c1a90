"""The optional dependencies of :mod:`recfm.distributed`, checked once with a clear message."""
from __future__ import annotations


def require_dask() -> None:
    """Raise an ImportError naming the extra when dask, distributed or pyarrow is missing."""
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"recfm.distributed needs dask[dataframe], distributed and pyarrow "
            f"({exc.name or exc} is not installed): pip install 'recfm[dask]'"
        ) from None


def require_pyarrow() -> None:
    """Raise an ImportError naming the extra when pyarrow (Parquet files) is missing."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError(
            "reading or writing Parquet needs pyarrow: pip install 'recfm[parquet]'"
        ) from None
