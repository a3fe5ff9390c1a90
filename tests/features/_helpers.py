"""Helpers shared by the feature-builder tests."""
from __future__ import annotations

import scipy.sparse as sp


def row_dict(X: sp.csr_matrix, r: int, names: list[str]) -> dict[str, float]:
    """Row ``r`` of ``X`` as {feature name: value}."""
    row = X.getrow(r)
    return {names[j]: float(v) for j, v in zip(row.indices, row.data, strict=True)}
