"""The ``recfm`` command line: evaluate, fit, recommend, datasets list, and bad input.

Commands are called in-process through ``recfm.cli.main(argv)`` (output captured with
``capsys``), plus once as ``python -m recfm.cli`` in a subprocess to check the real exit
status. Everything runs on the 300-user synthetic sample (``--dataset sample`` and the CSV
files in ``datasets/sample/``) with few epochs, so the file stays fast; the one MovieLens
test reads ML-100K from ``RECFM_DATA`` and skips when it is not there.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recfm.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "datasets" / "sample"
INTERACTIONS = SAMPLE / "interactions.csv"
USERS = SAMPLE / "users.csv"
ITEMS = SAMPLE / "items.csv"
RECOMMENDATION_HEADER = "user_id,item_id,rank,score"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` → (exit status, stdout, stderr)."""
    capsys.readouterr()  # drop anything printed before
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_quietly(*argv: str) -> tuple[int, str, str]:
    """Like :func:`run`, for module-scoped fixtures (no capsys there)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> str:
    assert code == 2, f"expected exit status 2, got {code}; stderr: {err!r}"
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("recfm: error: "), lines[0]
    assert out == "", f"nothing should go to stdout on error; got {out!r}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def data_home_with_ml100k() -> Path | None:
    """RECFM_DATA if set, else <repo>/../shared/datasets; None unless it holds ML-100K."""
    env = os.environ.get("RECFM_DATA", "").strip()
    home = Path(env).expanduser() if env else REPO.parent / "shared" / "datasets"
    if (home / "ml-100k" / "u.data").is_file() or (home / "ml-100k.zip").is_file():
        return home
    return None


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> tuple[Path, dict]:
    """One ``evaluate --save-run`` of pop and fm on the sample: (run dir, its JSON report)."""
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    code, out, err = run_quietly(
        "evaluate", "--dataset", "sample", "--models", "pop,fm", "--k", "5,10",
        "--format", "json", "--save-run", run_dir, "--threads", "1", "-q",
    )
    assert code == 0, err
    return run_dir, json.loads(out)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A model fitted by ``recfm fit`` on the sample CSVs (interactions + users + items)."""
    out = tmp_path_factory.mktemp("models") / "model"
    code, _, err = run_quietly(
        "fit", "--interactions", INTERACTIONS, "--users", USERS, "--items", ITEMS,
        "--epochs", "3", "--factors", "16", "--threads", "1", "--out", out, "-q",
    )
    assert code == 0, err
    assert "saved to" in err
    return out


@pytest.fixture()
def bad_csvs(tmp_path) -> dict[str, Path]:
    no_item = tmp_path / "no_item.csv"
    no_item.write_text("user_id,rating\n1,4\n2,5\n")
    nan_id = tmp_path / "nan_id.csv"
    nan_id.write_text("user_id,item_id,rating\n1,10,4\n,11,3\n2,10,5\n")
    return {"no_item": no_item, "nan_id": nan_id}


def train_pairs() -> set[tuple[int, int]]:
    df = pd.read_csv(INTERACTIONS, usecols=["user_id", "item_id"])
    return set(zip(df["user_id"].tolist(), df["item_id"].tolist(), strict=True))


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_json_has_both_models(capsys):
    # without -q: progress goes to stderr, so stdout must still be pure JSON
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop,fm",
                         "--format", "json", "--threads", "1")
    assert code == 0, err
    report = json.loads(out)  # valid JSON, nothing else on stdout
    assert [r["model"] for r in report["results"]] == ["pop", "fm"]
    assert report["k"] == [10]
    assert report["n_items"] == 400
    assert report["settings"]["dataset"] == "sample"
    assert report["settings"]["n_train"] + report["settings"]["n_test"] == 12000
    for rec in report["results"]:
        for metric in ("ndcg", "precision", "recall", "map", "hit_rate", "mrr", "coverage"):
            assert 0.0 <= rec[f"{metric}@10"] <= 1.0, (rec["model"], metric)
        assert rec["n_users_evaluated"] == 300
        assert rec["fit_s"] >= 0 and rec["recommend_s"] >= 0
        assert rec["skipped"] is None
    by_model = {r["model"]: r for r in report["results"]}
    assert by_model["fm"]["coverage@10"] > by_model["pop"]["coverage@10"]


def test_evaluate_ease_too_large_for_memory_is_a_one_line_error(capsys, monkeypatch):
    import recfm.recommenders.ease as ease

    monkeypatch.setattr(ease, "available_memory", lambda: 1000)
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "ease", "-q")
    assert code == 2
    assert err.startswith("recfm: error: model 'ease': EASE needs about") and "GiB" in err
    assert "Traceback" not in err


def test_evaluate_markdown(capsys):
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--k", "5,10", "--format", "markdown", "-q")
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("| model |"))
    assert "| ndcg@5 |" in header and "| ndcg@10 |" in header
    sep = lines[lines.index(header) + 1]
    assert sep.startswith("|---|") and "---:" in sep
    assert any(line.startswith("| pop |") for line in lines)
    assert header.count("|") == sep.count("|")


def test_evaluate_table_is_the_default_format(capsys):
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop", "-q")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("dataset=sample,")  # the settings line
    assert any(line.split()[:2] == ["model", "ndcg@10"] for line in lines)
    assert any(line.startswith("pop ") for line in lines)
    assert "|" not in out and not out.lstrip().startswith("{")


def test_save_run_writes_the_files(saved_run):
    run_dir, report = saved_run
    assert (run_dir / "train.csv").is_file() and (run_dir / "test.csv").is_file()
    train = pd.read_csv(run_dir / "train.csv")
    test = pd.read_csv(run_dir / "test.csv")
    assert len(train) == report["settings"]["n_train"]
    assert len(test) == report["settings"]["n_test"]
    assert {"user_id", "item_id"} <= set(train.columns) and {"user_id", "item_id"} <= set(test.columns)
    for model in ("pop", "fm"):
        path = run_dir / "recommendations" / f"{model}.csv"
        assert path.is_file(), path
        assert path.read_text().splitlines()[0] == RECOMMENDATION_HEADER
        recs = pd.read_csv(path)
        assert set(recs["user_id"]) == set(test["user_id"])
        assert recs.groupby("user_id").size().max() == 10  # max(k)
        seen = set(zip(train["user_id"], train["item_id"], strict=True))
        assert not seen & set(zip(recs["user_id"], recs["item_id"], strict=True)), "seen items recommended"


def test_save_run_refuses_a_non_empty_directory(saved_run, capsys):
    run_dir, _ = saved_run
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--save-run", run_dir, "-q")
    assert_one_line_error(code, out, err, str(run_dir))
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


def test_save_run_accepts_an_existing_empty_directory(tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                       "--save-run", tmp_path, "-q")
    assert code == 0, err
    assert (tmp_path / "recommendations" / "pop.csv").is_file()


def test_saved_run_metrics_recomputed_independently(saved_run):
    run_dir, report = saved_run
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "recompute_metrics.py"), str(run_dir), "--check"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recomputed = json.loads(proc.stdout)
    assert all(d <= 1e-6 for d in recomputed["max_abs_diff"].values()), recomputed["max_abs_diff"]
    # and against the report printed by the CLI itself (rounded to 6 decimals there)
    printed = {r["model"]: r for r in report["results"]}
    for rec in recomputed["results"]:
        for key, value in rec.items():
            if "@" in key:
                assert value == pytest.approx(printed[rec["model"]][key], abs=1e-6), (rec["model"], key)


def test_output_file_is_never_overwritten_without_flag(tmp_path, capsys):
    target = tmp_path / "report.md"
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--format", "markdown", "--output", target, "-q")
    assert code == 0, err
    assert out == ""  # the report went to the file
    assert "| pop |" in target.read_text()

    target.write_text("keep me\n")
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--output", target, "-q")
    assert_one_line_error(code, out, err, str(target), "--overwrite")
    assert target.read_text() == "keep me\n"

    code, _, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                       "--format", "json", "--output", target, "--overwrite", "-q")
    assert code == 0, err
    assert json.loads(target.read_text())["results"][0]["model"] == "pop"


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")  # part of the dev extra
    target = tmp_path / "curves.png"
    code, _, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop,fm",
                       "--k", "5,10,20", "--threads", "1", "--plot", target, "-q")
    assert code == 0, err
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--plot", target, "-q")
    assert_one_line_error(code, out, err, str(target))
    assert target.read_bytes() == data


def test_evaluate_ml100k_popularity(capsys):
    home = data_home_with_ml100k()
    if home is None:
        pytest.skip("MovieLens 100K not found: set RECFM_DATA to a data home holding ml-100k/")
    code, out, err = run(capsys, "evaluate", "--dataset", "ml-100k", "--data-home", home,
                         "--no-download", "--models", "pop", "--format", "json", "-q")
    assert code == 0, err
    report = json.loads(out)
    assert report["n_items"] == 1682
    assert report["settings"]["n_train"] + report["settings"]["n_test"] == 100_000
    (pop,) = report["results"]
    assert pop["model"] == "pop" and pop["n_users_evaluated"] == 943
    assert 0.05 < pop["ndcg@10"] < 0.5


# ------------------------------------------------------------------------------ datasets
def test_datasets_list_names_movielens(capsys):
    code, out, err = run(capsys, "datasets", "list")
    assert code == 0, err
    assert "ml-100k" in out and "ml-1m" in out


def test_datasets_list_with_an_empty_data_home(tmp_path, capsys):
    code, out, err = run(capsys, "datasets", "list", "--data-home", tmp_path)
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line.strip()}
    assert rows["ml-100k"] == "False" and rows["ml-1m"] == "False"
    assert rows["synthetic"] == "True"


# ------------------------------------------------------------------------------ fit / recommend
def test_fit_writes_a_model(model_dir):
    assert (model_dir / "recfm.json").is_file()
    assert json.loads((model_dir / "recfm.json").read_text())  # valid JSON


def test_recommend_users_prints_csv(model_dir, capsys):
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "1,2,3", "--n", "5")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == RECOMMENDATION_HEADER
    recs = pd.read_csv(io.StringIO(out))
    assert len(recs) == 15
    assert recs.groupby("user_id").size().to_dict() == {1: 5, 2: 5, 3: 5}
    for _, top in recs.groupby("user_id"):
        assert top["rank"].tolist() == [1, 2, 3, 4, 5]
        assert top["score"].is_monotonic_decreasing
        assert top["item_id"].is_unique
    recommended = set(zip(recs["user_id"], recs["item_id"], strict=True))
    assert not recommended & train_pairs(), "seen items recommended"


def test_recommend_all(model_dir, capsys):
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--all", "--n", "3")
    assert code == 0, err
    assert out.splitlines()[0] == RECOMMENDATION_HEADER
    recs = pd.read_csv(io.StringIO(out))
    assert recs["user_id"].nunique() == 300
    assert (recs.groupby("user_id").size() == 3).all()


def test_recommend_to_a_file_and_refuse_to_overwrite(model_dir, tmp_path, capsys):
    target = tmp_path / "recs.csv"
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "4",
                         "--n", "2", "--output", target)
    assert code == 0, err
    assert out == ""
    assert target.read_text().splitlines()[0] == RECOMMENDATION_HEADER
    content = target.read_text()
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "4",
                         "--n", "3", "--output", target)
    assert_one_line_error(code, out, err, "--overwrite")
    assert target.read_text() == content


def test_recommend_new_user_from_attributes(model_dir, tmp_path, capsys):
    attrs = tmp_path / "new_users.csv"
    attrs.write_text("user_id,age,gender,occupation,zip\n9001,25,F,artist,12345\n")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "9001",
                         "--user-attributes", attrs, "--n", "4")
    assert code == 0, err
    recs = pd.read_csv(io.StringIO(out))
    assert recs["user_id"].tolist() == [9001] * 4


def test_fit_refuses_an_existing_out(model_dir, capsys):
    before = (model_dir / "recfm.json").read_bytes()
    code, out, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--epochs", "1",
                         "--out", model_dir, "-q")
    assert_one_line_error(code, out, err, str(model_dir), "--overwrite")
    assert (model_dir / "recfm.json").read_bytes() == before


def test_fit_overwrite_replaces_a_model(tmp_path, capsys):
    out_dir = tmp_path / "m"
    for extra in ((), ("--overwrite",)):
        code, _, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--epochs", "1",
                           "--factors", "8", "--threads", "1", "--out", out_dir, "-q", *extra)
        assert code == 0, err
    code, out, err = run(capsys, "recommend", "--model", out_dir, "--users", "1", "--n", "2")
    assert code == 0, err
    assert len(out.splitlines()) == 3


def test_fit_with_validation_and_early_stopping(tmp_path, capsys):
    code, _, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--epochs", "40",
                       "--factors", "8", "--threads", "1", "--validation", "0.2",
                       "--early-stopping", "2", "--out", tmp_path / "m", "-q")
    assert code == 0, err
    line = next(x for x in err.splitlines() if x.startswith("validation ndcg@10"))
    best, trained = (int(v) for v in re.search(r"at epoch (\d+) of (\d+) trained", line).groups())
    assert trained == min(best + 2, 40) and "(early stopping)" in line
    assert f"--epochs {best}" in line  # carved rows were not trained on: how to use them
    assert json.loads((tmp_path / "m" / "recfm.json").read_text())


def test_recommend_serves_a_new_user_from_a_history_file(tmp_path, capsys):
    from recfm.recommenders import load

    out_dir = tmp_path / "m"
    code, _, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--user-history",
                       "--recent-items", "2", "--epochs", "2", "--factors", "8", "--threads", "1",
                       "--out", out_dir, "-q")
    assert code == 0, err
    history = pd.DataFrame({"user_id": [10_001] * 3, "item_id": [173, 269, 5],
                            "timestamp": [1, 2, 3]})
    history.to_csv(tmp_path / "h.csv", index=False)
    code, out, err = run(capsys, "recommend", "--model", out_dir, "--users", "10001", "--n", "5",
                         "--history", tmp_path / "h.csv")
    assert code == 0, err
    recs = pd.read_csv(io.StringIO(out))
    expected = load(out_dir).recommend([10_001], n=5, history=history)
    assert recs["item_id"].tolist() == expected["item_id"].tolist()
    np.testing.assert_allclose(recs["score"], expected["score"], rtol=1e-5)
    assert not set(recs["item_id"]) & {173, 269, 5}  # the history's items are excluded


def test_recommend_history_for_a_model_without_log_fields_is_refused(model_dir, tmp_path, capsys):
    (tmp_path / "h.csv").write_text("user_id,item_id\n10001,173\n")
    code, out, err = run(capsys, "recommend", "--model", model_dir, "--users", "10001",
                         "--history", tmp_path / "h.csv")
    assert_one_line_error(code, out, err, "histor")


def test_fit_early_stopping_without_validation_is_refused(tmp_path, capsys):
    code, out, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--epochs", "2",
                         "--early-stopping", "2", "--out", tmp_path / "m", "-q")
    assert_one_line_error(code, out, err, "early_stopping needs validation")
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------ bad input
EVALUATE = ("evaluate", "--format", "json", "-q")


EVAL_SAMPLE = (*EVALUATE, "--dataset", "sample")
FIT = ("fit", "-q", "--out", "{out}", "--interactions")


@pytest.mark.parametrize(
    "argv, fragments",
    [
        pytest.param((*EVALUATE, "--dataset", "no-such-data"), ("no-such-data",),
                     id="unknown-dataset"),
        pytest.param((*EVAL_SAMPLE, "--models", "pop,nope"), ("nope",), id="unknown-model"),
        pytest.param((*EVAL_SAMPLE, "--models", "pop", "--k", "0"), ("k",), id="k-zero"),
        pytest.param((*EVAL_SAMPLE, "--models", "pop", "--k", "10,-5"), ("k",), id="k-negative"),
        pytest.param((*EVALUATE, "--dataset", "{missing}", "--models", "pop"), ("not found",),
                     id="missing-csv"),
        pytest.param((*EVALUATE, "--dataset", "{no_item}", "--models", "pop"), ("item_id",),
                     id="csv-missing-item_id"),
        pytest.param((*EVALUATE, "--dataset", "{nan_id}", "--models", "pop"), ("user_id",),
                     id="csv-nan-id"),
        pytest.param((*FIT, "{no_item}"), ("item_id",), id="fit-csv-missing-item_id"),
        pytest.param((*FIT, "{nan_id}"), ("user_id",), id="fit-csv-nan-id"),
        pytest.param((*FIT, INTERACTIONS, "--users", ITEMS), ("user_id",),
                     id="fit-users-csv-without-user_id"),
    ],
)
def test_bad_input_is_one_line_and_status_2(argv, fragments, bad_csvs, tmp_path, capsys):
    names = {**{k: str(v) for k, v in bad_csvs.items()},
             "missing": str(tmp_path / "absent.csv"), "out": str(tmp_path / "model")}
    argv = [str(a).format(**names) for a in argv]
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, out, err, *fragments)
    assert not (tmp_path / "model").exists()  # nothing written on bad input


@pytest.mark.parametrize(
    "extra, fragments",
    [
        pytest.param(("--users", "99999"), ("99999",), id="unknown-user"),
        pytest.param(("--users", "1", "--n", "0"), ("n",), id="n-zero"),
        pytest.param(("--users", "1", "--n", "-2"), ("n",), id="n-negative"),
        pytest.param(("--users", "1,abc"), ("abc",), id="non-integer-user"),
        pytest.param(("--users", "1", "--items", "1,99999"), ("99999",), id="unknown-candidate-item"),
    ],
)
def test_recommend_bad_input(model_dir, extra, fragments, capsys):
    code, out, err = run(capsys, "recommend", "--model", model_dir, *extra)
    assert_one_line_error(code, out, err, *fragments)


def test_recommend_from_a_directory_that_is_not_a_model(tmp_path, capsys):
    code, out, err = run(capsys, "recommend", "--model", tmp_path / "nothing", "--users", "1")
    assert_one_line_error(code, out, err, "nothing")


def test_module_entry_point_exit_status_and_one_line_error():
    """``python -m recfm.cli``: the process itself exits 2 with the one-line error."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    proc = subprocess.run(
        [sys.executable, "-m", "recfm.cli", "evaluate", "--dataset", "sample",
         "--models", "pop,nope", "-q"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("recfm: error: unknown model 'nope'")


def test_evaluate_defaults_show_recfm_models_beside_the_baselines():
    from recfm.cli import build_parser
    from recfm.evaluation.experiment import DEFAULT_MODELS

    args = build_parser().parse_args(["evaluate"])
    assert args.models is None  # run_experiment's default list (and its skip of EASE)
    names = DEFAULT_MODELS.split(",")
    assert {"fm", "fm-warp"} <= set(names) and {"pop", "als", "bpr", "ease"} <= set(names)
