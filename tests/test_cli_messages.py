"""Errors that name the file or option at fault, given before any work (an outside audit's
findings: misleading or missing messages)."""
from __future__ import annotations

import gzip
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
