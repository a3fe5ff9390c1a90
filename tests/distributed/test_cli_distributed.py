"""recfm fit / recommend / evaluate with Parquet files and --scheduler (a real LocalCluster)."""
from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from recfm.datasets import load_sample
from recfm.recommenders import FMRecommender
from tests.test_cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def parquet_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("parquet")
    sample = load_sample()
    sample.interactions.to_parquet(d / "interactions.parquet")
    sample.users.to_parquet(d / "users.parquet")
    sample.items.to_parquet(d / "items.parquet")  # genres: a list column
    return d


@pytest.fixture(scope="module")
def model_dir(parquet_files, tmp_path_factory):
    from tests.test_cli import run_quietly

    out = tmp_path_factory.mktemp("model") / "model"
    code, _, err = run_quietly(
        "fit", "--interactions", parquet_files / "interactions.parquet",
        "--users", parquet_files / "users.parquet", "--items", parquet_files / "items.parquet",
        "--out", out, "--epochs", "2", "--factors", "8", "--quiet")
    assert code == 0, err
    return out


def test_fit_from_parquet_uses_the_attributes(model_dir):
    rec = FMRecommender.load(str(model_dir))
    assert rec.builder_.user_features and rec.builder_.item_features
    from recfm.features import MultiValued

    genres = [f for f in rec.builder_.item_features if getattr(f, "name", None) == "genres"]
    assert genres and isinstance(genres[0], MultiValued)  # a Parquet list column


def test_recommend_on_the_cluster_to_parquet(model_dir, client, tmp_path, capsys):
    out = tmp_path / "recs.parquet"
    code, _, err = run(capsys, "recommend", "--model", model_dir, "--users", "all", "--n", "7",
                       "--output", out, "--scheduler", client.scheduler.address)
    assert code == 0, err
    rec = FMRecommender.load(str(model_dir))
    pd.testing.assert_frame_equal(pd.read_parquet(out), rec.recommend_all(n=7))
    # an existing output is refused, and kept, unless --overwrite
    code, out_, err = run(capsys, "recommend", "--model", model_dir, "--all", "--n", "3",
                          "--output", out, "--scheduler", client.scheduler.address)
    assert_one_line_error(code, out_, err, "exists", "--overwrite")
    assert pd.read_parquet(out)["rank"].max() == 7
    code, _, err = run(capsys, "recommend", "--model", model_dir, "--all", "--n", "3",
                       "--output", out, "--scheduler", client.scheduler.address, "--overwrite")
    assert code == 0, err
    assert pd.read_parquet(out)["rank"].max() == 3


def test_recommend_users_from_a_file_single_machine_and_cluster_agree(model_dir, client, tmp_path,
                                                                       capsys):
    rec = FMRecommender.load(str(model_dir))
    pd.DataFrame({"user_id": rec.user_ids_[::5]}).to_parquet(tmp_path / "who.parquet")
    one = tmp_path / "one.parquet"
    code, _, err = run(capsys, "recommend", "--model", model_dir, "--users", tmp_path / "who.parquet",
                       "--output", one)
    assert code == 0, err
    assert one.is_file()  # one Parquet file on a single machine
    code, csv, err = run(capsys, "recommend", "--model", model_dir, "--users",
                         tmp_path / "who.parquet", "--scheduler", client.scheduler.address)
    assert code == 0, err
    from io import StringIO

    ref = rec.recommend(rec.user_ids_[::5], n=10)
    pd.testing.assert_frame_equal(pd.read_parquet(one), ref)
    pd.testing.assert_frame_equal(pd.read_csv(StringIO(csv)), ref, check_exact=False, rtol=1e-6,
                                  check_dtype=False)


def test_recommend_bad_input_is_named(model_dir, client, tmp_path, capsys):
    pd.DataFrame({"uid": [1, 2]}).to_parquet(tmp_path / "who.parquet")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", tmp_path / "who.parquet",
                         "--scheduler", client.scheduler.address, "--output", tmp_path / "r.parquet")
    assert_one_line_error(code, out, err, "user_id", "who.parquet")
    pd.DataFrame({"user_id": [1, 99999]}).to_parquet(tmp_path / "who.parquet")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", tmp_path / "who.parquet",
                         "--scheduler", client.scheduler.address, "--output", tmp_path / "r.parquet")
    assert_one_line_error(code, out, err, "99999")
    assert not (tmp_path / "r.parquet").exists()


def test_unreachable_scheduler_is_a_clear_error(model_dir, capsys):
    t0 = time.perf_counter()
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--all",
                         "--scheduler", "tcp://127.0.0.1:9")
    assert_one_line_error(code, out, err, "no Dask scheduler answered at tcp://127.0.0.1:9")
    assert time.perf_counter() - t0 < 60  # the 5 s connect timeout, not a hang


def test_evaluate_scores_on_the_cluster_like_one_machine(parquet_files, client, capsys):
    argv = ["evaluate", "--dataset", parquet_files / "interactions.parquet", "--models", "pop,fm",
            "--format", "json", "--quiet", "--threads", "1"]
    code, here, err = run(capsys, *argv)
    assert code == 0, err
    code, there, err = run(capsys, *argv, "--scheduler", client.scheduler.address)
    assert code == 0, err
    a, b = json.loads(here), json.loads(there)
    rows_a = {r["model"]: r for r in a["results"]}
    rows_b = {r["model"]: r for r in b["results"]}
    assert rows_a.keys() == rows_b.keys() == {"pop", "fm"}
    metrics = [key for key in rows_a["fm"] if "@" in key]
    assert "ndcg@10" in metrics
    for model in rows_a:
        for key in metrics:
            assert rows_b[model][key] == rows_a[model][key], (model, key)
