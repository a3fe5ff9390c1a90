"""Factorization machine model: :class:`FactorizationMachine` (numba kernels in ``_kernels``)."""
from recfm._utils import NotFittedError
from recfm.model.fm import DivergenceError, FactorizationMachine

__all__ = ["FactorizationMachine", "DivergenceError", "NotFittedError"]
