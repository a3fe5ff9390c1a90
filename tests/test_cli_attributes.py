"""``recfm evaluate/tune --users FILE --items FILE``: a log's own attribute files reach the
attribute-aware models, with the log's id-column options, and are refused (one line, before
any fitting) when missing, keyed by no id column, duplicated, or sharing no id with the log."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recfm.datasets import SAMPLE_DIR
from recfm.evaluation.experiment import run_experiment
from tests.test_cli import assert_one_line_error, run

LOG = SAMPLE_DIR / "interactions.csv"
USERS = SAMPLE_DIR / "users.csv"
ITEMS = SAMPLE_DIR / "items.csv"
#: one thread: Hogwild with several would make equal inputs give unequal metrics
FM_WARP = ("--models", "fm-warp", "--threads", "1", "--format", "json", "-q")
METRICS = ("ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "mrr@10",
           "coverage@10")


def _evaluate(capsys, *argv) -> dict:
    code, out, err = run(capsys, "evaluate", *argv, *FM_WARP)
    assert code == 0, err
    return json.loads(out)


def _metrics(report: dict) -> dict:
    (row,) = report["results"]
    return {m: row[m] for m in METRICS}


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> Path:
    """The sample's log and attribute files with ids in `member` and `product` columns."""
    folder = tmp_path_factory.mktemp("renamed")
    names = {"user_id": "member", "item_id": "product"}
    for path in (LOG, USERS, ITEMS):
        pd.read_csv(path, dtype=str, keep_default_na=False).rename(columns=names).to_csv(
            folder / path.name, index=False)
    return folder


def test_attribute_files_give_the_metrics_of_the_sample_that_loads_them(capsys):
    """The sample's CSV log with its users.csv/items.csv scores fm-warp exactly as the
    named sample (which loads the same attributes), and differently without them."""
    with_files = _evaluate(capsys, "--dataset", LOG, "--users", USERS, "--items", ITEMS)
    named = _evaluate(capsys, "--dataset", "sample")
    ids_only = _evaluate(capsys, "--dataset", LOG)
    assert _metrics(with_files) == _metrics(named)
    assert _metrics(with_files)["ndcg@10"] != _metrics(ids_only)["ndcg@10"]
    # every user and item of the log has a row: nothing to note
    assert with_files["notes"] == []
    assert with_files["settings"]["users"] == str(USERS.resolve())
    assert with_files["settings"]["items"] == str(ITEMS.resolve())
    assert "items" not in ids_only["settings"]


def test_id_column_options_name_the_attribute_files_ids_too(renamed, capsys):
    named = _evaluate(capsys, "--dataset", "sample")
    own = _evaluate(capsys, "--dataset", renamed / "interactions.csv", "--users",
                    renamed / "users.csv", "--items", renamed / "items.csv",
                    "--user-column", "member", "--item-column", "product")
    assert _metrics(own) == _metrics(named)
    # with a named data set (recfm's own columns), the option names the given file's column
    replaced = _evaluate(capsys, "--dataset", "sample", "--items", renamed / "items.csv",
                         "--item-column", "product")
    assert _metrics(replaced) == _metrics(named)


def test_a_file_replaces_a_named_data_sets_own_frame_and_missing_rows_are_noted(
        tmp_path, capsys):
    items = pd.read_csv(ITEMS, dtype=str, keep_default_na=False)
    items.iloc[::2].to_csv(tmp_path / "half.csv", index=False)
    named = _evaluate(capsys, "--dataset", "sample")
    half = _evaluate(capsys, "--dataset", "sample", "--items", tmp_path / "half.csv")
    assert _metrics(half) != _metrics(named)
    assert half["notes"] == [
        f"200 of the log's 400 items have no row in {tmp_path / 'half.csv'}: their item "
        "attributes are missing (the feature builder's missing-value handling applies)"]


def test_library_takes_frames_and_leaves_them_unchanged():
    users = pd.read_csv(USERS)
    users["user_id"] = users["user_id"].astype(float)  # as pandas reads ids beside a blank
    before = users.copy()
    exp = run_experiment(str(LOG), models="fm-features", n_threads=1, users=users)
    pd.testing.assert_frame_equal(users, before)
    assert exp.dataset.users["user_id"].dtype == "int64"  # matched to the log's int ids
    assert list(exp.dataset.users.columns) == ["user_id", "age", "gender", "occupation", "zip"]
    assert exp.dataset.items is None
    assert exp.settings["users"].startswith("DataFrame (300 rows")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("make, fragments", [
    (lambda d: d / "absent.csv", ["absent.csv: file not found"]),
    (lambda d: _write(d / "keyed.csv", "movie,colour\n1,red\n"),
     ["keyed.csv has no id column 'item_id'; it has ['movie', 'colour']", "--item-column"]),
    (lambda d: _write(d / "twice.csv", "item_id,colour\n1,red\n7,blue\n7,red\n"),
     ["twice.csv: item_id 7 appears more than once"]),
    (lambda d: _write(d / "other.csv", "item_id,colour\ni1,red\ni2,blue\n"),
     ["other.csv shares no item_id with the log", "'i1', 'i2' (str)", "(int)"]),
])
def test_bad_attribute_files_are_one_line_errors_before_any_fitting(
        make, fragments, tmp_path, capsys, monkeypatch):
    from recfm.evaluation import experiment
    from recfm.tuning import study

    def no_fit(*args, **kwargs):
        raise AssertionError("models were fitted")

    monkeypatch.setattr(experiment, "evaluate", no_fit)
    monkeypatch.setattr(study, "search", no_fit)
    path = make(tmp_path)
    code, out, err = run(capsys, "evaluate", "--dataset", LOG, "--items", path, "--models",
                         "pop,fm-warp", "-q")
    assert_one_line_error(code, out, err, *fragments)
    code, out, err = run(capsys, "tune", "--dataset", LOG, "--items", path, "--model", "ease",
                         "--trials", "1", "--out", tmp_path / "t", "-q")
    assert_one_line_error(code, out, err, *fragments)
    assert not (tmp_path / "t").exists()


def test_an_attribute_file_is_read_before_the_log(tmp_path, capsys):
    code, out, err = run(capsys, "evaluate", "--dataset", tmp_path / "no-log.csv", "--users",
                         tmp_path / "no-users.csv", "-q")
    assert_one_line_error(code, out, err, "no-users.csv: file not found")


def test_tune_records_the_attribute_files_and_resumes_only_with_them(tmp_path, capsys,
                                                                    monkeypatch):
    out = tmp_path / "t"
    common = ("tune", "--dataset", LOG, "--users", USERS, "--model", "ease",
              "--validation-folds", "1", "--threads", "1", "--out", out, "-q")
    code, _, err = run(capsys, *common, "--items", ITEMS, "--trials", "1")
    assert code == 0, err
    settings = json.loads((out / "settings.json").read_text())
    assert settings["users"] == str(USERS.resolve()) and settings["items"] == str(ITEMS.resolve())
    other = pd.read_csv(ITEMS, dtype=str, keep_default_na=False)
    other.to_csv(tmp_path / "items.csv", index=False)
    code, stdout, err = run(capsys, *common, "--items", tmp_path / "items.csv", "--trials", "2",
                            "--resume")
    assert_one_line_error(code, stdout, err, "--resume", "other settings",
                          f"items: {str(ITEMS.resolve())!r} there, "
                          f"{str((tmp_path / 'items.csv').resolve())!r} now")
    code, stdout, err = run(capsys, *common, "--trials", "2", "--resume")  # no --items
    assert_one_line_error(code, stdout, err, "items: ")
    # the same file named by a relative path is the same setting
    monkeypatch.chdir(SAMPLE_DIR)
    code, _, err = run(capsys, *common, "--items", "items.csv", "--trials", "2", "--resume")
    assert code == 0, err
    assert json.loads((out / "best_params.json").read_text())["n_trials"] == 2


def test_parquet_attribute_files_with_list_columns(tmp_path, capsys):
    from recfm.datasets import load_sample

    sample = load_sample()
    sample.items.to_parquet(tmp_path / "items.parquet")  # genres as a list column
    sample.users.to_parquet(tmp_path / "users.parquet")
    own = _evaluate(capsys, "--dataset", LOG, "--users", tmp_path / "users.parquet", "--items",
                    tmp_path / "items.parquet")
    assert _metrics(own) == _metrics(_evaluate(capsys, "--dataset", "sample"))
