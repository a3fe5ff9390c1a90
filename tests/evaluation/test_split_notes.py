"""The report says what a split did to a log beside the metrics: repeated rows merged,
users not scored."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recfm.evaluation.experiment import run_experiment, split_data, split_notes


def test_the_report_says_which_rows_were_merged_and_which_users_are_not_scored():
    heavy = pd.DataFrame({"user_id": np.repeat([1, 2], 10), "item_id": np.tile(np.arange(10), 2)})
    light = pd.DataFrame({"user_id": [3, 3, 4], "item_id": [1, 2, 1]})
    log = pd.concat([heavy, light, heavy.iloc[:4]], ignore_index=True)  # 4 repeated rows
    exp = run_experiment(log, models="pop", seed=0)
    notes = [n for n in exp.result.notes if "repeated" in n or "not scored" in n]
    assert notes == [
        "4 repeated (user_id, item_id) rows merged before the split (23 distinct pairs): a "
        "repeat counts once, in training as in test",
        "2 of 4 users (50%) have no test interactions (fewer than 5 distinct items: all kept "
        "in train) and are not scored; the metrics are means over the other 2",
    ]
    assert exp.result.table.loc["pop", "n_users_evaluated"] == 2
    once = heavy.assign(timestamp=np.arange(len(heavy)))
    train, test = split_data(once, "leave-last-out")
    assert split_notes(once, train, test, "leave-last-out") == []


def test_the_temporal_notes_count_the_users_it_drops_apart():
    early = pd.DataFrame({"user_id": np.repeat([1, 2, 3], 4), "item_id": np.tile([1, 2, 3, 4], 3),
                          "timestamp": np.r_[np.arange(4), np.arange(4), [0, 1, 200, 201]]})
    late = pd.DataFrame({"user_id": [9, 9], "item_id": [1, 2], "timestamp": [300, 301]})
    log = pd.concat([early, late], ignore_index=True)
    train, test = split_data(log, "temporal", 0.3)
    assert test.attrs["n_dropped_users"] == 1
    (note,) = split_notes(log, train, test, "temporal")
    assert note.startswith("3 of 4 users (75%) have no test interactions (2 with no interaction "
                           "after the cut, 1 with every interaction after it, dropped as new "
                           "users) and are not scored; the metrics are means over the other 1")
