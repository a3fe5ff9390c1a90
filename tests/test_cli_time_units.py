"""--time-unit on every command that reads a log: a log in milliseconds (as web, JS and Kafka
logs keep time) gives the same models, splits and lists as its seconds form; without the
option it is refused in one line that says which --time-unit reads it."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from recfm.cli import build_parser
from recfm.datasets import load_sample
from tests.test_cli import assert_one_line_error, run

COLUMNS = ("--user-column", "user", "--item-column", "sku", "--time-column", "ts")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """1,200 of the sample's interactions twice, in folders a/ and b/ under one name (the
    reports name a data set after its file): seconds as ``user_id,item_id,timestamp``, and
    milliseconds (with a random part of the second) as ``user,sku,ts``."""
    df = load_sample().interactions.iloc[:1200][["user_id", "item_id", "timestamp"]]
    root = tmp_path_factory.mktemp("units")
    (root / "s").mkdir()
    (root / "ms").mkdir()
    df.to_csv(root / "s" / "log.csv", index=False)
    ms = df["timestamp"].to_numpy(np.int64) * 1000 + np.random.default_rng(0).integers(
        0, 1000, len(df))
    pd.DataFrame({"user": df["user_id"], "sku": df["item_id"], "ts": ms}).to_csv(
        root / "ms" / "log.csv", index=False)
    return root / "s" / "log.csv", root / "ms" / "log.csv"


def test_fit_and_recommend_history_in_milliseconds_match_seconds(logs, tmp_path, capsys):
    seconds, ms = logs
    lists = []
    # RecentItems orders each user's items by time, so the unit decides the model
    for name, argv in (("s", ["--interactions", seconds]),
                       ("ms", ["--interactions", ms, *COLUMNS, "--time-unit", "ms"])):
        code, _, err = run(capsys, "fit", *argv, "--recent-items", "2", "--user-history",
                           "--epochs", "1", "--factors", "4", "--threads", "1", "--out",
                           tmp_path / name, "-q")
        assert code == 0, err
        code, out, err = run(capsys, "recommend", "--model", tmp_path / name, "--all", "--n", "3")
        assert code == 0, err
        lists.append(pd.read_csv(io.StringIO(out)))
    pd.testing.assert_frame_equal(lists[0], lists[1])
    # a new user's history in milliseconds, its latest item last by time, not by row
    items = pd.read_csv(seconds)["item_id"].unique()[:3].tolist()
    history = pd.DataFrame({"user": [99_999] * 3, "sku": items,
                            "ts": [1_721_289_308_500, 1_721_289_309_000, 1_721_289_307_999]})
    history.to_csv(tmp_path / "h.csv", index=False)
    code, out, err = run(capsys, "recommend", "--model", tmp_path / "ms", "--users", "99999",
                         "--n", "4", "--history", tmp_path / "h.csv", *COLUMNS,
                         "--time-unit", "ms")
    assert code == 0, err
    from recfm.recommenders import load

    same = pd.DataFrame({"user_id": [99_999] * 3, "item_id": items,
                         "timestamp": [1_721_289_308, 1_721_289_309, 1_721_289_307]})
    expected = load(tmp_path / "ms").recommend([99_999], n=4, history=same)
    got = pd.read_csv(io.StringIO(out))
    assert got["item_id"].tolist() == expected["item_id"].tolist()
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5)


def test_evaluate_temporal_split_in_milliseconds_matches_seconds(logs, capsys):
    seconds, ms = logs
    reports = []
    for argv in (["--dataset", seconds], ["--dataset", ms, *COLUMNS, "--time-unit", "ms"]):
        code, out, err = run(capsys, "evaluate", *argv, "--models", "pop", "--split",
                             "temporal", "--format", "json", "-q")
        assert code == 0, err
        report = json.loads(out)
        for row in report["results"]:
            row.pop("fit_s"), row.pop("recommend_s")
        reports.append(report)
    assert reports[0]["settings"]["n_test"] > 0
    assert reports[0] == reports[1]


def test_milliseconds_read_as_seconds_are_refused_in_one_line(logs, tmp_path, capsys):
    _, ms = logs
    first = pd.read_csv(ms, nrows=1)["ts"][0]
    for argv in (["fit", "--interactions", ms, "--out", tmp_path / "m"],
                 ["evaluate", "--dataset", ms],
                 ["tune", "--dataset", ms, "--model", "ease", "--out", tmp_path / "t"]):
        code, out, err = run(capsys, *argv, *COLUMNS)
        assert_one_line_error(code, out, err, f"{ms}: column 'ts' has value {first} at line 2",
                              "after the year 2500", "--time-unit ms")
    assert not (tmp_path / "m").exists() and not (tmp_path / "t").exists()
    with pytest.raises(SystemExit):  # argparse's usage error
        run(capsys, "fit", "--interactions", ms, *COLUMNS, "--time-unit", "sec", "--out",
            tmp_path / "m")
    assert "--time-unit: invalid choice: 'sec'" in capsys.readouterr().err
    code, out, err = run(capsys, "recommend", "--model", tmp_path / "m", "--users", "1",
                         "--time-unit", "ms")
    assert_one_line_error(code, out, err, "--time-unit describe columns of --history")


def test_tune_passes_the_unit_and_records_it(logs, tmp_path, capsys):
    _, ms = logs
    out = tmp_path / "t"
    code, _, err = run(capsys, "tune", "--dataset", ms, *COLUMNS, "--time-unit", "ms",
                       "--model", "ease", "--trials", "1", "--split", "temporal",
                       "--validation-folds", "1", "--out", out, "-q")
    assert code == 0, err
    settings = json.loads((out / "settings.json").read_text())
    assert settings["columns"] == {"user_column": "user", "item_column": "sku",
                                   "time_column": "ts", "time_unit": "ms"}


@pytest.mark.parametrize("command", [
    ["fit", "--interactions", "x.csv", "--out", "m"],
    ["evaluate"],
    ["tune", "--dataset", "x.csv", "--model", "fm", "--out", "t"],
    ["recommend", "--model", "m", "--all", "--history", "h.csv"],
])
def test_every_command_with_column_options_has_the_unit(command):
    args = build_parser().parse_args([*command, "--time-unit", "us"])
    assert args.time_unit == "us"


def test_seconds_read_as_milliseconds_are_a_one_line_warning(logs, capsys):
    seconds, _ = logs
    code, out, err = run(capsys, "evaluate", "--dataset", seconds, "--time-unit", "ms",
                         "--models", "pop", "-q")
    assert code == 0, err
    warned = [line for line in err.splitlines() if line.startswith("recfm: warning:")]
    assert len(warned) == 1
    assert "falls in 1970" in warned[0] and "(--time-unit s)" in warned[0]
