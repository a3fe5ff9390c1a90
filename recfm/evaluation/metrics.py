"""The ranking metrics of :mod:`recfm.metrics`, seen from the evaluation layer.

Metric definitions live once in :mod:`recfm.metrics`, below the models, so that validation
during training scores with the same code as :func:`recfm.evaluation.evaluate`.
"""
from recfm.metrics import *  # noqa: F403
from recfm.metrics import (  # noqa: F401  (helpers the evaluation layer shares)
    __all__,
    _check_recs,
    _coverage_any,
    _hits,
    _nanmean,
    _sorted_unique,
    _test_matrix,
    check_ks,
)
