"""recfm.tuning / ``recfm tune``: the validation protocol, the files written, resuming,
interruption and bad input. Tiny budgets on the 300-user sample keep this file fast."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from recfm.cli import main
from recfm.datasets import load_sample
from recfm.evaluation.experiment import split_data
from recfm.tuning import FILES, Float, Int, SearchSpace, read_best_params, tune, validation_split
from recfm.tuning import study as tune_module

# a small FM space so that a trial is a few short epochs
TINY_FM = SearchSpace({"model__learning_rate": Float(0.02, 0.2, log=True),
                       "model__n_factors": Int(4, 8)},
                      epochs=True, max_epochs=4, patience=2)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


def test_validation_is_carved_from_train_never_from_test():
    data = load_sample()
    train, test = split_data(data.interactions, "random", 0.2, 0)
    fit_part, val = validation_split(train, 0.1, 0)
    assert len(val) > 0
    assert not _pairs(val) & _pairs(test)
    assert _pairs(val) <= _pairs(train) and not _pairs(val) & _pairs(fit_part)
    assert _pairs(fit_part) | _pairs(val) <= _pairs(train)


def test_cli_tune_writes_every_file_and_evaluate_reuses_the_setting(capsys, tmp_path):
    out = tmp_path / "study"
    code, stdout, err = run(capsys, "tune", "--dataset", "sample", "--model", "ease", "--trials", "2",
                            "--out", out, "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES.values())
    assert "ease tuned" in stdout and "ease default" in stdout
    trials = pd.read_csv(out / FILES["trials"])
    assert list(trials["number"]) == [0, 1] and "params_l2" in trials.columns
    model, params = read_best_params(out / FILES["best_params"])
    assert model == "ease" and set(params) == {"l2"}
    assert (out / FILES["plot"]).read_bytes()[:4] == b"\x89PNG"
    code, stdout, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                            "--params", out / FILES["best_params"], "--quiet")
    assert code == 0, err
    assert "ease" in stdout and "pop" in stdout


def test_fm_trials_use_early_stopping_and_record_the_epochs(tmp_path):
    result = tune("sample", "fm", n_trials=2, out=tmp_path / "fm", space=TINY_FM,
                  n_threads=1, evaluate_test=False)
    assert result.n_trials == 2 and result.comparison is None
    assert 1 <= result.best_params["model__n_epochs"] <= TINY_FM.max_epochs
    assert set(result.best_params) == {"model__learning_rate", "model__n_factors", "model__n_epochs"}
    trials = pd.read_csv(tmp_path / "fm" / FILES["trials"])
    assert trials["value"].max() == pytest.approx(result.best_value)


def test_resume_continues_the_trial_count(capsys, tmp_path):
    out = tmp_path / "study"
    first = tune("sample", "fm", n_trials=2, out=out, space=TINY_FM, evaluate_test=False)
    assert first.n_trials == 2
    resumed = tune("sample", "fm", n_trials=3, out=out, space=TINY_FM, resume=True,
                   evaluate_test=False)
    assert resumed.n_trials == 3
    trials = pd.read_csv(out / FILES["trials"])
    assert list(trials["number"]) == [0, 1, 2]
    assert json.loads((out / FILES["best_params"]).read_text())["n_trials"] == 3
    # the resumed sampler draws new settings, not the first trials' again
    assert trials["params_model__learning_rate"].nunique() == 3
    # a resumed study must keep its data, model and seed
    code, _, err = run(capsys, "tune", "--dataset", "sample", "--model", "fm", "--trials", "4",
                       "--out", out, "--resume", "--seed", "1", "--quiet")
    assert code == 2 and "other settings (seed: 0 there, 1 now)" in err


def test_interrupt_keeps_finished_trials(tmp_path, monkeypatch):
    calls = []
    original = tune_module._Objective.__call__

    def interrupted(self, trial):
        calls.append(trial.number)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, trial)

    monkeypatch.setattr(tune_module._Objective, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune("sample", "fm", n_trials=4, out=tmp_path / "s", space=TINY_FM, evaluate_test=False)
    trials = pd.read_csv(tmp_path / "s" / FILES["trials"])
    assert list(trials.loc[trials["state"] == "COMPLETE", "number"]) == [0]
    monkeypatch.setattr(tune_module._Objective, "__call__", original)
    result = tune("sample", "fm", n_trials=3, out=tmp_path / "s", space=TINY_FM, resume=True,
                  evaluate_test=False)
    assert result.n_trials == 3


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--model", "pop"], "no search space for model 'pop'"),
    (["--model", "ease", "--trials", "0"], "n_trials must be a positive integer; got 0"),
    (["--model", "ease", "--metric", "auc"], "metric must be name@k"),
    (["--model", "ease", "--resume"], "no study to resume"),
])
def test_bad_input_is_one_line_and_exit_status_2(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, "tune", "--dataset", "sample", "--out", tmp_path / "new", *argv)
    assert code == 2 and out == ""
    assert err.startswith("recfm: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "new").exists()


def test_existing_out_without_resume_is_refused(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "tune", "--dataset", "sample", "--model", "ease", "--out", tmp_path)
    assert code == 2 and f"--out {tmp_path} exists; pass --resume" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"
