"""Errors that name the file or option at fault, given before any work (an outside audit's
findings: misleading or missing messages)."""
from __future__ import annotations

import gzip
import io
import shutil

import pandas as pd
import pytest

from .test_cli import INTERACTIONS, assert_one_line_error, model_dir, run  # noqa: F401


def _report(code: int, out: str, err: str) -> str:
    assert code == 0, err
    return out.splitlines()[0]


@pytest.mark.parametrize("name", ["log.csv.gz", "log.txt", "log"])
def test_evaluate_reads_an_existing_file_of_any_name(capsys, tmp_path, name):
    path = tmp_path / name
    if name.endswith(".gz"):
        with open(INTERACTIONS, "rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        shutil.copy(INTERACTIONS, path)
    first = _report(*run(capsys, "evaluate", "--dataset", path, "--models", "pop", "-q"))
    expected = _report(*run(capsys, "evaluate", "--dataset", INTERACTIONS, "--models", "pop",
                            "-q"))
    # the same data and split: the same counts (names differ by the file's stem)
    assert first.split("n_train")[1] == expected.split("n_train")[1]
    assert "split=random" in first


def test_a_missing_file_is_named_as_a_missing_file_not_a_dataset(capsys, tmp_path):
    code, out, err = run(capsys, "evaluate", "--dataset", tmp_path / "log.txt", "--models", "pop",
                         "-q")
    assert_one_line_error(code, out, err, f"no file '{tmp_path / 'log.txt'}' exists")


def test_a_tab_separated_file_is_said_to_be_one(capsys, tmp_path):
    path = tmp_path / "tab.tsv"
    pd.read_csv(INTERACTIONS).to_csv(path, sep="\t", index=False)
    code, out, err = run(capsys, "fit", "--interactions", path, "--out", tmp_path / "m", "-q")
    assert_one_line_error(code, out, err, f"{path} looks tab-separated",
                          "recfm reads comma-separated CSV (or Parquet)")
    assert not (tmp_path / "m").exists()


def test_split_options_that_contradict_are_refused_naming_both(capsys):
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--split", "leave-last-out", "--test-size", "0.5", "-q")
    assert_one_line_error(code, out, err, "--test-size", "--split leave-last-out")
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--split", "temporal", "--cold-start", "-q")
    assert_one_line_error(code, out, err, "--split temporal", "--cold-start")
    first = _report(*run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--split", "leave-last-out", "-q"))
    assert "split=leave-last-out" in first and "test_size" not in first


def test_recommend_errors_name_the_file_or_the_flag(capsys, tmp_path, model_dir):  # noqa: F811
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "1",
                         "--context", tmp_path / "nofile.csv")
    assert_one_line_error(code, out, err, f"{tmp_path / 'nofile.csv'}: file not found")
    (tmp_path / "empty.csv").write_text("")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "1",
                         "--context", tmp_path / "empty.csv")
    assert_one_line_error(code, out, err, f"{tmp_path / 'empty.csv'}: empty file")
    attrs = tmp_path / "new_users.csv"
    attrs.write_text("user_id,x\n100000,1\n")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "100000",
                         "--user-attributes", attrs)
    assert_one_line_error(code, out, err, f"users frame ({attrs}) has no column")
    code, out, err = run(capsys, "recommend", "--model", INTERACTIONS, "--users", "1")
    assert_one_line_error(code, out, err, f"{INTERACTIONS} is a file, not a saved recfm model "
                          "folder")
    history = tmp_path / "history.csv"
    history.write_text("user_id,item_id\n100000,1\n")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "100000",
                         "--history", history)
    assert_one_line_error(code, out, err, "no History or RecentItems field",
                          "--user-history or --recent-items")


def test_a_context_file_missing_a_column_is_named(capsys, tmp_path):
    out_dir = tmp_path / "m"
    code, _, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--context-features",
                       "platform", "--epochs", "1", "--factors", "4", "--threads", "1",
                       "--out", out_dir, "-q")
    assert code == 0, err
    context = tmp_path / "ctx.csv"
    context.write_text("hour\n3\n")
    code, out, err = run(capsys, "recommend", "--model", out_dir, "--users", "1",
                         "--context", context)
    assert_one_line_error(code, out, err, f"context frame ({context}) has no column 'platform'")


@pytest.fixture()
def untimed_log(tmp_path):
    """The sample's log without its time column, and the same log with every time 0."""
    log = pd.read_csv(INTERACTIONS)[["user_id", "item_id", "rating"]]
    log.to_csv(tmp_path / "log_nots.csv", index=False)
    log.assign(timestamp=0).to_csv(tmp_path / "log_zeros.csv", index=False)
    return tmp_path / "log_nots.csv", tmp_path / "log_zeros.csv"


def test_a_temporal_split_of_a_log_without_times_names_the_missing_column(capsys, tmp_path,
                                                                          untimed_log):
    nots, zeros = untimed_log
    code, out, err = run(capsys, "evaluate", "--dataset", nots, "--models", "pop",
                         "--split", "temporal", "-q")
    assert_one_line_error(code, out, err, "--split temporal (split='temporal') needs the time "
                          f"of each interaction; {nots} has no time column (name it with "
                          "--time-column")
    code, out, err = run(capsys, "tune", "--dataset", nots, "--model", "fm", "--trials", "1",
                         "--split", "temporal", "--out", tmp_path / "t", "-q")
    assert_one_line_error(code, out, err, f"{nots} has no time column")
    assert not (tmp_path / "t").exists()
    # times that are all equal are times: the splitter's own message stays
    code, out, err = run(capsys, "evaluate", "--dataset", zeros, "--models", "pop",
                         "--split", "temporal", "-q")
    assert_one_line_error(code, out, err, "column 'timestamp' has too few distinct values")


def test_leave_last_out_of_a_log_without_times_says_it_uses_the_file_order(capsys,
                                                                          untimed_log):
    nots, zeros = untimed_log
    code, out, err = run(capsys, "evaluate", "--dataset", nots, "--models", "pop",
                         "--split", "leave-last-out", "-q")
    assert code == 0, err
    assert err.splitlines() == [f"recfm: warning: {nots} has no time column: --split "
                                "leave-last-out holds out each user's last row in file order"]
    code, out, err = run(capsys, "evaluate", "--dataset", zeros, "--models", "pop",
                         "--split", "leave-last-out", "-q")
    assert code == 0 and err == ""


def test_a_time_ordered_field_on_a_log_without_times_names_the_file(capsys, tmp_path,
                                                                    untimed_log):
    nots, zeros = untimed_log
    code, out, err = run(capsys, "evaluate", "--dataset", nots, "--models", "pop,fm-seq", "-q")
    assert_one_line_error(code, out, err, "fm-seq order(s) each user's interactions by time",
                          f"{nots} has no time column")
    code, out, err = run(capsys, "fit", "--interactions", nots, "--recent-items", "2",
                         "--min-rating", "2", "--validation", "0.2", "--epochs", "1",
                         "--out", tmp_path / "m", "-q")
    assert_one_line_error(code, out, err, "needs the time of each interaction",
                          f"{nots} has no time column")
    assert not (tmp_path / "m").exists()
    code, out, err = run(capsys, "fit", "--interactions", zeros, "--recent-items", "2",
                         "--epochs", "1", "--factors", "4", "--threads", "1",
                         "--out", tmp_path / "m", "-q")
    assert code == 0, err
    assert "holds the same time (0) for every interaction" in err


def test_users_blank_or_a_list_beside_a_file_of_that_name(capsys, tmp_path, model_dir,  # noqa: F811
                                                          monkeypatch):
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", " ")
    assert_one_line_error(code, out, err, "--users is empty")
    # a file named like the list does not turn the list into a file
    monkeypatch.chdir(tmp_path)
    (tmp_path / "1,2").write_text("note\n")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "1,2", "--n", "3")
    assert code == 0, err
    assert sorted(set(pd.read_csv(io.StringIO(out)).user_id)) == [1, 2]


def test_a_history_file_without_times_on_a_recent_items_model_says_row_order(capsys,
                                                                             tmp_path):
    model = tmp_path / "m"
    code, _, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--recent-items", "1",
                       "--epochs", "1", "--factors", "8", "--threads", "1", "--out", model, "-q")
    assert code == 0, err
    untimed, timed = tmp_path / "h.csv", tmp_path / "ht.csv"
    untimed.write_text("user_id,item_id\nnew,50\nnew,181\n")
    timed.write_text("user_id,item_id,timestamp\nnew,50,2\nnew,181,1\n")
    code, out, err = run(capsys, "recommend", "--model", model, "--users", "new", "--history",
                         untimed, "--n", "3")
    assert code == 0, err
    assert err.count("has no time column") == 1 and "row order" in err and str(untimed) in err
    code, out, err = run(capsys, "recommend", "--model", model, "--users", "new", "--history",
                         timed, "--n", "3")
    assert code == 0 and "time column" not in err
