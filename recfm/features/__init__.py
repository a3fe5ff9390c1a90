"""Feature building: frames of interactions, users, items and context → FM design matrices.

>>> from recfm.features import FeatureBuilder, MultiValued, Numeric
>>> builder = FeatureBuilder(user_features=["occupation", Numeric("age", bins=[18, 25, 35])],
...                          item_features=[MultiValued("genres")])
>>> design = builder.fit_transform(train, users=users, items=items)   # doctest: +SKIP

Fields built from the interaction log: :class:`History` (the user's training items, SVD++),
:class:`RecentItems` (the items just before each event, FPMC) and :class:`TimeBin` (bins of
the event's timestamp).

See :class:`FeatureBuilder` for the row layout, :class:`FeatureSpace` for column names and
append-only growth, and :class:`Design` for the matrices and libFM/svmlight export.
"""
from .builder import FeatureBuilder
from .design import Design
from .fields import (
    MISSING,
    UNKNOWN,
    Categorical,
    Field,
    History,
    Id,
    MultiValued,
    Numeric,
    RecentItems,
    TimeBin,
    infer_field,
)
from .space import FeatureSpace, FieldInfo

__all__ = [
    "Categorical",
    "Design",
    "FeatureBuilder",
    "FeatureSpace",
    "Field",
    "FieldInfo",
    "History",
    "Id",
    "MISSING",
    "MultiValued",
    "Numeric",
    "RecentItems",
    "TimeBin",
    "UNKNOWN",
    "infer_field",
]
