"""recfm beyond one machine, on Dask: log preparation, batch top-N, evaluation; Parquet in/out.

Needs the ``dask`` extra (``pip install 'recfm[dask]'``: dask[dataframe], distributed,
pyarrow); importing this package without it raises an ImportError naming the extra.

* :func:`prepare_interactions`: a partitioned Parquet/CSV log -> filtered, k-cored, id-
  factorised training CSR for single-machine training (identical to the pandas path).
* :func:`recommend_all`: top-N for every user, partition by partition on the cluster, to
  Parquet; the model's item vectors are scattered once, or workers load a saved model.
* :func:`evaluate_recommendations`: ranking metrics from per-partition sums, equal to
  :mod:`recfm.evaluation` on one machine.
* :func:`dask_client`: a local cluster of worker processes or a scheduler's address.
"""
from ._deps import require_dask

require_dask()

from .cluster import dask_client  # noqa: E402
from .evaluate import evaluate_recommendations  # noqa: E402
from .factors import FactorModel  # noqa: E402
from .io import read_frame  # noqa: E402
from .prepare import PreparedInteractions, prepare_interactions  # noqa: E402
from .recommend import recommend_all  # noqa: E402

__all__ = [
    "FactorModel",
    "PreparedInteractions",
    "dask_client",
    "evaluate_recommendations",
    "prepare_interactions",
    "read_frame",
    "recommend_all",
]
