"""``recfm fit --min-rating``: what was trained on is counted, and low ratings stay seen."""
from __future__ import annotations

import io

import pandas as pd

from .test_cli import INTERACTIONS, assert_one_line_error, run


def test_fit_min_rating_counts_positives_and_never_recommends_low_ratings(tmp_path, capsys):
    log = pd.read_csv(INTERACTIONS)
    n_low = int((log.rating < 4).sum())
    assert 0 < n_low < len(log)
    model = tmp_path / "m"
    code, _, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--min-rating", "4",
                       "--epochs", "1", "--factors", "8", "--threads", "1", "--out", model, "-q")
    assert code == 0, err
    assert f"on {len(log) - n_low} interactions rated >= 4 (of {len(log)} rows)" in err
    code, out, err = run(capsys, "recommend", "--model", model, "--all", "--n", "50")
    assert code == 0, err
    recs = pd.read_csv(io.StringIO(out))
    rated = set(zip(log.user_id, log.item_id, strict=True))
    assert len(recs) and not set(zip(recs.user_id, recs.item_id, strict=True)) & rated


def test_min_rating_on_a_log_without_ratings_names_the_file(tmp_path, capsys):
    path = tmp_path / "clicks.csv"
    path.write_text("user_id,item_id\n1,2\n1,3\n2,2\n2,4\n")
    for argv in (["evaluate", "--dataset", path, "--models", "pop", "-q"],
                 ["fit", "--interactions", path, "--epochs", "1", "--out", tmp_path / "m", "-q"]):
        code, out, err = run(capsys, *argv, "--min-rating", "4")
        assert_one_line_error(code, out, err, f"{path} has no rating column", "--rating-column")
    assert not (tmp_path / "m").exists()
