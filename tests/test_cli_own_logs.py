"""The CLI on a log as people keep it: own column names (--user-column etc.) and ISO 8601
times, through fit, recommend --history, evaluate and tune; their errors, one line each."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from recfm.datasets import load_sample
from tests.test_cli import assert_one_line_error, run

COLUMNS = ("--user-column", "user", "--item-column", "sku", "--time-column", "ts")


@pytest.fixture(scope="module")
def own_log(tmp_path_factory):
    """The sample's first 3,000 interactions as `user,sku,ts` with text ids and ISO times in
    three layouts (a naive time, Z, and a +02:00 offset for the same instants)."""
    df = load_sample().interactions.iloc[:3000]
    when = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    layouts = np.arange(len(df)) % 3
    ts = np.where(layouts == 0, when.dt.strftime("%Y-%m-%d %H:%M:%S"),
                  np.where(layouts == 1, when.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           when.dt.tz_convert("Etc/GMT-2").dt.strftime("%Y-%m-%dT%H:%M:%S+02:00")))
    log = pd.DataFrame({"user": "u" + df["user_id"].astype(str),
                        "sku": "sku-" + df["item_id"].astype(str), "ts": ts})
    path = tmp_path_factory.mktemp("own") / "log.csv"
    log.to_csv(path, index=False)
    return path, df


def test_fit_and_recommend_history_on_an_own_log(own_log, tmp_path, capsys):
    path, df = own_log
    first = pd.read_csv(path, nrows=1)
    assert list(first.columns) == ["user", "sku", "ts"] and "-" in first["ts"][0]
    model = tmp_path / "m"
    code, _, err = run(capsys, "fit", "--interactions", path, *COLUMNS, "--user-history",
                       "--recent-items", "2", "--epochs", "2", "--factors", "8", "--threads", "1",
                       "--out", model, "-q")
    assert code == 0, err
    assert "fitted warp FM on 3000 interactions" in err
    # a new user's history in the same own format, latest item last by time, not by row
    history = pd.DataFrame({"user": ["newbie"] * 3, "sku": ["sku-173", "sku-269", "sku-5"],
                            "ts": ["2024-07-18T09:00:00+02:00", "2024-07-18 06:00:00",
                                   "2024-07-18"]})
    history.to_csv(tmp_path / "h.csv", index=False)
    code, out, err = run(capsys, "recommend", "--model", model, "--users", "newbie", "--n", "5",
                         "--history", tmp_path / "h.csv", *COLUMNS)
    assert code == 0, err
    recs = pd.read_csv(io.StringIO(out))
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert recs["user_id"].tolist() == ["newbie"] * 5 and recs["rank"].tolist() == [1, 2, 3, 4, 5]
    assert recs["item_id"].str.startswith("sku-").all()
    assert not set(recs["item_id"]) & set(history["sku"])
    from recfm.recommenders import load

    same = pd.DataFrame({"user_id": ["newbie"] * 3, "item_id": history["sku"],
                         "timestamp": [1_721_286_000, 1_721_282_400, 1_721_260_800]})
    expected = load(model).recommend(["newbie"], n=5, history=same)
    assert recs["item_id"].tolist() == expected["item_id"].tolist()
    np.testing.assert_allclose(recs["score"], expected["score"], rtol=1e-5)


def test_evaluate_on_an_own_log_equals_evaluate_on_its_plain_form(own_log, tmp_path, capsys):
    path, df = own_log
    plain = tmp_path / "log.csv"  # same stem: the reports name the data set alike
    df[["user_id", "item_id", "timestamp"]].assign(
        user_id="u" + df["user_id"].astype(str), item_id="sku-" + df["item_id"].astype(str)
    ).to_csv(plain, index=False)
    reports = []
    for argv in (["--dataset", path, *COLUMNS], ["--dataset", plain]):
        code, out, err = run(capsys, "evaluate", *argv, "--models", "pop", "--split", "temporal",
                             "--format", "json", "-q")
        assert code == 0, err
        report = json.loads(out)
        for row in report["results"]:
            row.pop("fit_s"), row.pop("recommend_s")
        reports.append(report)
    assert reports[0]["settings"]["n_test"] > 0 and reports[0]["results"][0]["ndcg@10"] > 0
    assert reports[0] == reports[1]


def test_the_default_missing_columns_error_names_the_options(own_log, tmp_path, capsys):
    path, _ = own_log
    code, out, err = run(capsys, "fit", "--interactions", path, "--out", tmp_path / "m")
    assert_one_line_error(code, out, err, "log.csv is missing column(s) ['user_id', 'item_id']; "
                          "it has ['user', 'sku', 'ts']", "--user-column", "--item-column")
    assert not (tmp_path / "m").exists()


def test_an_absent_column_option_is_one_line_naming_it(own_log, tmp_path, capsys):
    path, _ = own_log
    code, out, err = run(capsys, "fit", "--interactions", path, "--user-column", "user",
                         "--item-column", "sku", "--time-column", "time", "--out", tmp_path / "m")
    assert_one_line_error(code, out, err, "has no column 'time'", "--time-column",
                          "it has ['user', 'sku', 'ts']")


def test_an_unparsable_time_is_one_line_with_its_line(tmp_path, capsys):
    (tmp_path / "log.csv").write_text("user,sku,ts\nu1,a,2024-07-18\nu1,b,07/18/2024\n")
    code, out, err = run(capsys, "fit", "--interactions", tmp_path / "log.csv", *COLUMNS,
                         "--out", tmp_path / "m")
    assert_one_line_error(code, out, err, "column 'ts' has value '07/18/2024' at line 3")


def test_column_options_need_a_file(tmp_path, capsys):
    code, out, err = run(capsys, "tune", "--dataset", "sample", "--model", "fm", "--trials", "1",
                         "--user-column", "user", "--out", tmp_path / "t")
    assert_one_line_error(code, out, err, "--user-column", "'sample' is a named data set")
    assert not (tmp_path / "t").exists()
    code, out, err = run(capsys, "recommend", "--model", tmp_path / "m", "--users", "1",
                         "--time-column", "ts")
    assert_one_line_error(code, out, err, "--time-column", "--history (and --user-column the id "
                          "column of --users FILE / --user-attributes), none of which is given")


def test_tune_reads_an_own_log_and_resumes_only_with_the_same_columns(own_log, tmp_path, capsys):
    path, _ = own_log
    out = tmp_path / "t"
    code, _, err = run(capsys, "tune", "--dataset", path, *COLUMNS, "--model", "fm", "--trials", "1",
                       "--threads", "1", "--out", out, "-q")
    assert code == 0, err
    settings = json.loads((out / "settings.json").read_text())
    assert settings["columns"] == {"user_column": "user", "item_column": "sku", "time_column": "ts"}
    code, out_, err = run(capsys, "tune", "--dataset", path, *COLUMNS[:4], "--model", "fm",
                          "--trials", "2", "--out", out, "--resume", "-q")
    assert_one_line_error(code, out_, err, "--resume", "other settings", "columns")


def test_attribute_files_may_name_their_ids_as_the_log_does(own_log, tmp_path, capsys):
    """--items/--users files keyed like the log (`sku`, `user`) are read with the same
    options; a file holding both names is refused rather than guessed at."""
    path, df = own_log
    skus = pd.Series(pd.unique(pd.read_csv(path)["sku"]))
    items = pd.DataFrame({"sku": skus, "colour": np.where(np.arange(len(skus)) % 2, "red", "blue")})
    items.to_csv(tmp_path / "items.csv", index=False)
    model = tmp_path / "m"
    code, _, err = run(capsys, "fit", "--interactions", path, *COLUMNS, "--items",
                       tmp_path / "items.csv", "--epochs", "1", "--factors", "4", "--threads", "1",
                       "--out", model, "-q")
    assert code == 0, err
    from recfm.recommenders import load

    names = load(model).builder_.feature_names()
    assert "colour=red" in names and "colour=blue" in names
    (tmp_path / "users.csv").write_text("user\nu1\nu2\n")
    code, out, err = run(capsys, "recommend", "--model", model, "--users", tmp_path / "users.csv",
                         "--user-column", "user", "--n", "2")
    assert code == 0, err
    assert pd.read_csv(io.StringIO(out))["user_id"].tolist() == ["u1", "u1", "u2", "u2"]
    items.assign(item_id=items["sku"]).to_csv(tmp_path / "both.csv", index=False)
    code, out, err = run(capsys, "fit", "--interactions", path, *COLUMNS, "--items",
                         tmp_path / "both.csv", "--out", tmp_path / "m2")
    assert_one_line_error(code, out, err, "has both 'sku' (the ids' column in the log) and "
                          "'item_id'")
    items.rename(columns={"sku": "id"}).to_csv(tmp_path / "neither.csv", index=False)
    code, out, err = run(capsys, "fit", "--interactions", path, *COLUMNS, "--items",
                         tmp_path / "neither.csv", "--out", tmp_path / "m2")
    assert_one_line_error(code, out, err, "has no id column 'sku' or 'item_id'; it has "
                          "['id', 'colour']")
    assert not (tmp_path / "m2").exists()


def _fit(capsys, tmp_path, log: str, *options, name="m"):
    (tmp_path / f"{name}.csv").write_text(log)
    model = tmp_path / name
    code, _, err = run(capsys, "fit", "--interactions", tmp_path / f"{name}.csv", *options,
                       "--epochs", "1", "--factors", "4", "--threads", "1", "--out", model, "-q")
    assert code == 0, err
    return model, err


def _recommend(capsys, model, *options) -> pd.DataFrame:
    code, out, err = run(capsys, "recommend", "--model", model, "--n", "2", *options)
    assert code == 0, err
    return pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)


def test_ids_are_read_as_written_through_fit_and_recommend(tmp_path, capsys):
    """007 and 7 stay two users; NA, null and a 23-digit number are ids like any other."""
    model, err = _fit(capsys, tmp_path, "user_id,item_id\n007,A\n007,B\n7,C\n7,D\n8,A\n8,C\n"
                      "9,B\n9,D\n")
    assert "(4 users, 4 items" in err
    recs = _recommend(capsys, model, "--users", "007,7")
    assert recs["user_id"].tolist() == ["007", "007", "7", "7"]
    assert set(recs["item_id"][:2]) == {"C", "D"} and set(recs["item_id"][2:]) == {"A", "B"}
    model, _ = _fit(capsys, tmp_path, "user_id,item_id\nNA,A\nNone,B\nnull,A\n"
                    "12345678901234567890123,B\n5,A\n", name="words")
    recs = _recommend(capsys, model, "--users", "NA,null,5,12345678901234567890123",
                      "--include-seen")
    assert recs["user_id"].tolist() == ["NA"] * 2 + ["null"] * 2 + ["5"] * 2 + [
        "12345678901234567890123"] * 2


def test_integer_and_text_ids_of_two_files_meet_by_their_text(tmp_path, capsys):
    """A log with users 1, 2, u3 (text ids) meets an attribute file and a --users file of
    1, 2 (integers), and a history of the new user 5."""
    (tmp_path / "users.csv").write_text("user_id,age\n1,20\n2,30\n")
    model, _ = _fit(capsys, tmp_path, "user_id,item_id,timestamp\n1,A,1\n1,B,2\n2,B,1\n"
                    "2,C,2\nu3,A,1\nu3,C,2\n", "--users", tmp_path / "users.csv",
                    "--user-features", "age", "--user-history")
    from recfm.recommenders import load

    assert load(model).user_ids_.tolist() == ["1", "2", "u3"]
    (tmp_path / "who.csv").write_text("user_id\n1\n")
    assert _recommend(capsys, model, "--users", tmp_path / "who.csv")["user_id"].tolist() == ["1"]
    (tmp_path / "h.csv").write_text("user_id,item_id,timestamp\n5,A,1\n5,B,2\n")
    recs = _recommend(capsys, model, "--users", "5", "--history", tmp_path / "h.csv")
    assert recs["user_id"].tolist() == ["5"] and recs["item_id"].tolist() == ["C"]


def test_a_new_text_user_of_an_integer_model_is_served_from_its_history(tmp_path, capsys):
    model, _ = _fit(capsys, tmp_path, "user_id,item_id,timestamp\n1,10,1\n1,20,2\n2,20,1\n"
                    "2,30,2\n3,10,1\n3,40,2\n", "--user-history", "--recent-items", "1")
    (tmp_path / "h.csv").write_text("user_id,item_id,timestamp\nnew,10,1\nnew,20,2\n")
    recs = _recommend(capsys, model, "--users", "new", "--history", tmp_path / "h.csv")
    from recfm.recommenders import load

    expected = load(model).recommend(["new"], n=2, history={"new": [10, 20]})
    assert recs["user_id"].tolist() == ["new", "new"]
    assert recs["item_id"].tolist() == expected["item_id"].astype(str).tolist()
    # an integer id written otherwise is another user, not one of the model's
    code, out, err = run(capsys, "recommend", "--model", model, "--users", "01", "--n", "2")
    assert_one_line_error(code, out, err, "not seen in training, e.g. '01'")


def test_fit_says_how_many_distinct_pairs_a_log_with_repeats_holds(tmp_path, capsys):
    log = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3], "item_id": [10, 10, 11, 10, 12, 11]})
    log.to_csv(tmp_path / "log.csv", index=False)
    code, _, err = run(capsys, "fit", "--interactions", tmp_path / "log.csv", "--epochs", "1",
                       "--factors", "4", "--threads", "1", "--out", tmp_path / "m", "-q")
    assert code == 0, err
    assert ("fitted warp FM on 6 interactions, 5 distinct (user, item) pairs: a repeated row "
            "is trained once per row") in err
    log.drop_duplicates().to_csv(tmp_path / "once.csv", index=False)
    code, _, err = run(capsys, "fit", "--interactions", tmp_path / "once.csv", "--epochs", "1",
                       "--factors", "4", "--threads", "1", "--out", tmp_path / "m2", "-q")
    assert code == 0 and "fitted warp FM on 5 interactions (" in err
