"""Query and item rows of an :class:`FMRecommender` fitted from matrices.

``FMRecommender.fit(X, user_features=..., item_features=...)`` builds its design with
:meth:`recfm.features.Design.from_matrices` instead of a :class:`FeatureBuilder`; this
object stands in for the fitted builder (the same ``user_rows`` / ``item_rows`` calls), so
``recommend``, ``score``, ``explain`` and the neighbour queries run unchanged. It has no
frames to read, so the features that need them (new users or items described by
attributes, context, history) are refused with an error saying so. A saved model keeps the
column layout in its JSON and the two feature matrices as arrays (see :meth:`get_state`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import DataError
from ..features import Design

_UNSUPPORTED = "not supported for an FMRecommender fitted from matrices"


class MatrixRows:
    """Rows of a :meth:`Design.from_matrices` design, looked up by external id.

    Attributes
    ----------
    user_index_, item_index_ : pandas.Index
        External id of each user row / item row.
    user_features, context_features : None and []
        As a builder without user attribute specs or context: no cold start from frames.
    """

    user_features = None
    context_features: list = []

    def __init__(self, design: Design):
        self.user_features_ = design.user_features
        self.item_features_ = design.item_features
        self.layout = dict(design.extra["layout"])
        self.user_index_ = pd.Index(design.user_ids)
        self.item_index_ = pd.Index(design.item_ids)

    @classmethod
    def from_state(cls, state: dict, user_features: sp.csr_matrix, item_features: sp.csr_matrix,
                   user_ids: pd.Index, item_ids: pd.Index) -> MatrixRows:
        """The rows of a saved model: layout from ``recfm.json``, matrices from its arrays
        (their shapes and indices were checked against the layout's ``n_features`` on load)."""
        layout = state["layout"]
        keys = ("user_identity", "user_features", "item_identity", "item_features", "n_features")
        if not isinstance(layout, dict) or set(layout) != set(keys):
            raise ValueError(f"the saved matrix layout must have the keys {keys}")
        offsets = [layout[k] for k in keys]
        if any(isinstance(v, bool) or not isinstance(v, int) for v in offsets) or offsets[0] != 0 \
                or any(b < a for a, b in zip(offsets, offsets[1:], strict=False)):
            raise ValueError(f"the saved matrix layout must be increasing offsets from 0; got {layout}")
        rows = cls.__new__(cls)
        rows.user_features_, rows.item_features_ = user_features, item_features
        rows.layout = dict(layout)
        rows.user_index_, rows.item_index_ = pd.Index(user_ids), pd.Index(item_ids)
        return rows

    def _rows(self, index: pd.Index, ids: Any, what: str) -> np.ndarray:
        pos = index.get_indexer(pd.Index(np.atleast_1d(np.asarray(ids))))
        if (pos < 0).any():
            bad = np.atleast_1d(np.asarray(ids))[pos < 0][0]
            raise KeyError(f"{what} id {bad!r} is not a row of the matrices the model was fitted on")
        return pos

    def user_rows(self, ids: Any, users: Any = None, history: Any = None) -> sp.csr_matrix:
        if users is not None:
            raise DataError(f"users= (cold start from attribute frames) is {_UNSUPPORTED}")
        if history is not None:
            raise DataError(f"history= is {_UNSUPPORTED}")
        return self.user_features_[self._rows(self.user_index_, ids, "user")]

    def item_rows(self, ids: Any, items: Any = None) -> sp.csr_matrix:
        if items is not None:
            raise DataError(f"items= (add_items, attribute frames) is {_UNSUPPORTED}")
        return self.item_features_[self._rows(self.item_index_, ids, "item")]

    def context_rows(self, context: Any) -> sp.csr_matrix:  # pragma: no cover - guarded
        raise DataError(f"context is {_UNSUPPORTED}")

    def _log_infos(self) -> list:
        return []

    def feature_names(self) -> list[str]:
        """``user=<id>``, ``user_feature=<j>``, ``item=<id>``, ``item_feature=<j>`` by column."""
        lay = self.layout
        n_uid = lay["user_features"] - lay["user_identity"]
        n_iid = lay["item_features"] - lay["item_identity"]
        names = [f"user={u}" for u in self.user_index_[:n_uid]]
        names += [f"user_feature={j}" for j in range(lay["item_identity"] - lay["user_features"])]
        names += [f"item={i}" for i in self.item_index_[:n_iid]]
        names += [f"item_feature={j}" for j in range(lay["n_features"] - lay["item_features"])]
        return names

    def get_state(self) -> dict:
        """What ``recfm.json`` keeps: the kind and the column layout (the feature matrices
        themselves are saved as arrays by the recommender)."""
        return {"kind": "matrices", "layout": dict(self.layout)}
