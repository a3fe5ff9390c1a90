"""recfm: top-N recommendation with factorization machines.

Layers, each importing only the ones before it: ``recfm.datasets`` → ``recfm.split`` →
``recfm.features`` → ``recfm.model`` → ``recfm.ranking`` → ``recfm.recommenders`` →
``recfm.evaluation`` → ``recfm.cli``. Import what you need from its layer; this top level
only re-exports the most used names, lazily, so ``import recfm`` stays fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_movielens": "recfm.datasets",
    "load_dataset": "recfm.datasets",
    "make_synthetic": "recfm.datasets",
    "Dataset": "recfm.datasets",
    "random_split": "recfm.split",
    "temporal_split": "recfm.split",
    "leave_last_out": "recfm.split",
    "cold_start_split": "recfm.split",
    "FeatureBuilder": "recfm.features",
    "FactorizationMachine": "recfm.model",
    "FMRecommender": "recfm.recommenders",
    "Popularity": "recfm.recommenders",
    "ImplicitALS": "recfm.recommenders",
    "ImplicitBPR": "recfm.recommenders",
    "evaluate": "recfm.evaluation",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recfm' has no attribute {name!r}")
