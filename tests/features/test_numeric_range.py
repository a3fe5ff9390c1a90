"""Unbinned numeric values outside the fit range are clipped to it, with a warning."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm.features import FeatureBuilder


@pytest.fixture()
def builder():
    log = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 3],
                        "hour": [0.0, 6.0, 12.0, 23.0]})
    return FeatureBuilder(context_features=["hour"]).fit(log), log


def _hour_values(builder, hours):
    X = builder.context_rows(pd.DataFrame({"hour": hours}))
    return X.toarray()[:, builder.space_["hour"].column]


def test_out_of_range_context_is_clipped_to_the_fit_range_with_a_warning(builder):
    b, log = builder
    inside = _hour_values(b, [23.0, 0.0])
    with pytest.warns(UserWarning, match=r"column 'hour' has 2 value\(s\) outside the range seen "
                                         r"in fit \[0, 23\], first 1e\+30 at row 0; clipped"):
        out = _hour_values(b, [1e30, -5.0])
    np.testing.assert_array_equal(out, inside)
    assert np.abs(out).max() < 3  # standard-scaled: within a few sd, not ~1e29


def test_in_range_values_pass_without_warning(builder, recwarn):
    b, _ = builder
    _hour_values(b, [3.0, 23.0])
    assert not [w for w in recwarn if "outside the range" in str(w.message)]
