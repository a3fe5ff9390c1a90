"""Hyper-parameter tuning on a validation split carved from the training data (optuna).

``optuna`` is an optional extra (``pip install recfm[tune]``), imported when a study runs.
"""
from recfm.tuning.spaces import SPACES, Choice, Float, Int, SearchSpace, register_space
from recfm.tuning.study import (
    FILES,
    TuningResult,
    best_params,
    chosen_trial,
    default_setting,
    read_best_params,
    read_params_files,
    search,
    smoothed_best,
    tune,
    validation_split,
    validation_splits,
)

__all__ = [
    "FILES",
    "SPACES",
    "Choice",
    "Float",
    "Int",
    "SearchSpace",
    "TuningResult",
    "best_params",
    "chosen_trial",
    "default_setting",
    "read_best_params",
    "read_params_files",
    "register_space",
    "search",
    "smoothed_best",
    "tune",
    "validation_split",
    "validation_splits",
]
