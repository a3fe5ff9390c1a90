"""save_run / load_run and the independent recomputation script."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recfm.evaluation import evaluate, load_run, save_run
from recfm.evaluation.metrics import metrics_from_frames

from .conftest import FakeRecommender

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def evaluated(split):
    train, test = split
    result = evaluate(
        {"pop": FakeRecommender(noise=0.0), "fm-features": FakeRecommender(seed=2)},
        train, test, k=(5, 10),
    )
    return train, test, result


def test_save_and_load_round_trip(tmp_path, evaluated):
    train, test, result = evaluated
    out = save_run(tmp_path / "run", train, test, result.recommendations, result)
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json", "recommendations", "test.csv", "train.csv"
    ]
    assert sorted(p.name for p in (out / "recommendations").iterdir()) == [
        "fm-features.csv", "pop.csv"
    ]
    header = (out / "recommendations" / "pop.csv").read_text().splitlines()[0]
    assert header == "user_id,item_id,rank,score"
    run = load_run(out)
    pd.testing.assert_frame_equal(run.train, train.reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(run.test, test.reset_index(drop=True), check_dtype=False)
    for name, df in result.recommendations.items():
        pd.testing.assert_frame_equal(run.recommendations[name], df, check_dtype=False)
    meta = run.metrics
    assert meta["format"] == "recfm-run" and meta["format_version"] == 1
    assert meta["k"] == [5, 10] and meta["n_items"] == result.n_items
    got = {r["model"]: r for r in meta["results"]}
    assert got["pop"]["ndcg@10"] == result.table.loc["pop", "ndcg@10"]  # full precision
    # the saved CSVs reproduce the numbers through the frame-level path
    summary, _ = metrics_from_frames(
        run.recommendations["pop"], run.test, (5, 10), n_items=meta["n_items"]
    )
    for key, value in summary.items():
        if key != "n_users_evaluated":
            assert value == pytest.approx(got["pop"][key], abs=1e-12)


def test_save_run_refuses_existing_non_empty_directory(tmp_path, evaluated):
    train, test, result = evaluated
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="mine"):
        save_run(target, train, test, result.recommendations, result)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "precious"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(FileExistsError, match="afile"):
        save_run(afile, train, test, result.recommendations)
    assert afile.read_text() == "x"
    # an existing empty directory is fine; no temporary directories are left behind
    empty = tmp_path / "empty"
    empty.mkdir()
    save_run(empty, train, test, result.recommendations)
    assert json.loads((empty / "metrics.json").read_text())["results"] is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_save_run_bad_model_name_leaves_nothing(tmp_path, evaluated):
    train, test, result = evaluated
    recs = {"../evil": result.recommendations["pop"]}
    with pytest.raises(ValueError, match="evil"):
        save_run(tmp_path / "run", train, test, recs)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Exception, match="score"):
        save_run(tmp_path / "run", train, test, {"m": result.recommendations["pop"].iloc[:, :3]})
    assert list(tmp_path.iterdir()) == []


def test_load_run_errors(tmp_path, evaluated):
    train, test, result = evaluated
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_run(tmp_path / "nowhere")
    out = save_run(tmp_path / "run", train, test, result.recommendations, result)
    meta = json.loads((out / "metrics.json").read_text())
    meta["format_version"] = 99
    (out / "metrics.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="version 99"):
        load_run(out)
    (out / "metrics.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_run(out)


def test_independent_recomputation_agrees(tmp_path, evaluated):
    train, test, result = evaluated
    out = save_run(tmp_path / "run", train, test, result.recommendations, result)
    script = REPO / "benchmarks" / "recompute_metrics.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(out), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    payload = json.loads(proc.stdout)
    assert payload["agree"] is True
    assert max(payload["max_abs_diff"].values()) < 1e-9
    # independent code: the script never imports recfm
    assert not re.search(r"^\s*(import|from)\s+recfm", script.read_text(), re.M)


def test_a_run_keeps_its_ids_as_written(tmp_path):
    """007 and 7 stay two users; test and recommendations whose ids are all canonical
    integers still match the text ids of train."""
    train = pd.DataFrame({"user_id": ["007", "7", "7"], "item_id": ["A", "NA", "B"]})
    test = pd.DataFrame({"user_id": ["7"], "item_id": ["1"]})
    recs = pd.DataFrame({"user_id": ["7", "7"], "item_id": ["1", "2"], "rank": [1, 2],
                         "score": [0.5, 0.25]})
    out = save_run(tmp_path / "run", train, test, {"pop": recs})
    run = load_run(out)
    assert run.train["user_id"].tolist() == ["007", "7", "7"]
    assert run.train["item_id"].tolist() == ["A", "NA", "B"]
    assert run.test["user_id"].tolist() == ["7"] and run.test["item_id"].tolist() == ["1"]
    assert run.recommendations["pop"]["item_id"].tolist() == ["1", "2"]
    assert run.test["user_id"].isin(run.train["user_id"]).all()
    # an integer-id run stays int64
    ints = save_run(tmp_path / "ints", train.assign(user_id=[1, 2, 2], item_id=[3, 4, 5]),
                    test.assign(item_id=[6]).assign(user_id=[2]),
                    {"pop": recs.assign(user_id=[2, 2], item_id=[6, 7])})
    assert (load_run(ints).train["user_id"].dtype, load_run(ints).test["item_id"].dtype) == (
        "int64", "int64")


def test_independent_recomputation_keeps_ids_as_written(tmp_path, split):
    """Users 7 and 07 are two users in recfm's metrics and in the independent script."""
    low = split[0]["user_id"].min()

    def written(df):
        u = df["user_id"] - low
        return df.assign(user_id=np.where(u % 2, "0", "") + (u // 2).astype(str))

    train, test = (written(df) for df in split)
    assert {"7", "07"} <= set(train["user_id"])
    result = evaluate({"pop": FakeRecommender(seed=1)}, train, test, k=(5,))
    out = save_run(tmp_path / "run", train, test, result.recommendations, result)
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "recompute_metrics.py"), str(out), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["agree"] is True
