"""recfm.tuning / ``recfm tune``: the validation protocol, the files written, resuming,
interruption and bad input. Tiny budgets on the 300-user sample keep this file fast."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recfm.cli import main
from recfm.datasets import load_sample
from recfm.evaluation.experiment import split_data
from recfm.tuning import (
    FILES,
    Float,
    Int,
    SearchSpace,
    read_best_params,
    tune,
    validation_split,
    validation_splits,
)
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
                            "--validation-folds", "1", "--out", out, "--quiet")
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
    result = tune("sample", "fm", validation_folds=1, n_trials=2, out=tmp_path / "fm", space=TINY_FM,
                  n_threads=1, evaluate_test=False)
    assert result.n_trials == 2 and result.comparison is None
    assert 1 <= result.best_params["model__n_epochs"] <= TINY_FM.max_epochs
    assert set(result.best_params) == {"model__learning_rate", "model__n_factors", "model__n_epochs"}
    trials = pd.read_csv(tmp_path / "fm" / FILES["trials"])
    assert trials["value"].max() == pytest.approx(result.best_value)


def test_resume_continues_the_trial_count(capsys, tmp_path):
    out = tmp_path / "study"
    first = tune("sample", "fm", validation_folds=1, n_trials=2, out=out, space=TINY_FM, evaluate_test=False)
    assert first.n_trials == 2
    resumed = tune("sample", "fm", validation_folds=1, n_trials=3, out=out, space=TINY_FM, resume=True,
                   evaluate_test=False)
    assert resumed.n_trials == 3
    trials = pd.read_csv(out / FILES["trials"])
    assert list(trials["number"]) == [0, 1, 2]
    assert json.loads((out / FILES["best_params"]).read_text())["n_trials"] == 3
    # the resumed sampler draws new settings, not the first trials' again
    assert trials["params_model__learning_rate"].nunique() == 3
    # a resumed study must keep its data, model and seed
    code, _, err = run(capsys, "tune", "--dataset", "sample", "--model", "fm", "--trials", "4",
                       "--validation-folds", "1", "--out", out, "--resume", "--seed", "1", "--quiet")
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
        tune("sample", "fm", validation_folds=1, n_trials=4, out=tmp_path / "s", space=TINY_FM,
             evaluate_test=False)
    trials = pd.read_csv(tmp_path / "s" / FILES["trials"])
    assert list(trials.loc[trials["state"] == "COMPLETE", "number"]) == [0]
    monkeypatch.setattr(tune_module._Objective, "__call__", original)
    result = tune("sample", "fm", validation_folds=1, n_trials=3, out=tmp_path / "s", space=TINY_FM,
                  resume=True,
                  evaluate_test=False)
    assert result.n_trials == 3


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--model", "pop"], "no search space for model 'pop'"),
    (["--model", "ease", "--trials", "0"], "n_trials must be a positive integer; got 0"),
    (["--model", "ease", "--metric", "auc"], "metric must be name@k"),
    (["--model", "ease", "--resume"], "no study to resume"),
    (["--model", "ease", "--validation-folds", "0"],
     "validation_folds must be a positive integer; got 0"),
    (["--model", "ease", "--validation-folds", "11"],
     "validation_folds * validation_size must be at most 1 (the folds are disjoint); got 11 * 0.1"),
])
def test_bad_input_is_one_line_and_exit_status_2(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, "tune", "--dataset", "sample", "--out", tmp_path / "new", *argv)
    assert code == 2 and out == ""
    assert err.startswith("recfm: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "new").exists()


def test_existing_out_without_resume_is_refused(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "tune", "--dataset", "sample", "--model", "ease", "--out", tmp_path)
    assert code == 2 and f"--out (out=) {tmp_path} exists; pass --resume (resume=True)" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


# the defaults of fm for the two searched parameters (learning_rate 0.03, n_negatives 4) are
# inside these ranges, so trial 0 runs them; few factors and epochs keep a trial short
WITH_DEFAULTS = SearchSpace({"model__learning_rate": Float(0.02, 0.2, log=True),
                             "model__n_negatives": Int(1, 4)},
                            epochs=True, max_epochs=4, patience=2, window=3,
                            fixed={"model__n_factors": 4})


def _fm_defaults() -> dict:
    from recfm.recommenders import make_recommender

    return make_recommender("fm").get_params(deep=True)


def test_every_builtin_space_holds_its_registry_defaults():
    from recfm.recommenders import make_recommender
    from recfm.tuning import SPACES, default_setting

    for model, space in SPACES.items():
        setting = default_setting(model, space)
        if model == "ease":  # l2="auto" is EASE's own search, no point of the range
            assert setting is None
            continue
        assert setting is not None, f"{model}: a default lies outside its search space"
        params = make_recommender(model).get_params(deep=True)
        for name, value in setting.items():
            assert value == params[name] or (name == "model__reg_factors" and params[name] is None)
    # reg_factors=None is searched as the value the loss resolves it to
    assert default_setting("fm-warp", SPACES["fm-warp"])["model__reg_factors"] == 0.1
    assert default_setting("fm-features", SPACES["fm-features"])["model__reg_factors"] == 0.01
    assert default_setting("fm", TINY_FM) is None  # 64 factors are not in Int(4, 8)


def test_defaults_are_trial_0_and_a_resumed_study_does_not_rerun_them(tmp_path):
    out = tmp_path / "study"
    first = tune("sample", "fm", validation_folds=1, n_trials=2, out=out, space=WITH_DEFAULTS, n_threads=1,
                 evaluate_test=False)
    trials = pd.read_csv(out / FILES["trials"])
    defaults = _fm_defaults()
    assert trials.loc[0, "params_model__learning_rate"] == defaults["model__learning_rate"]
    assert trials.loc[0, "params_model__n_negatives"] == defaults["model__n_negatives"]
    assert list(trials["user_attrs_default"].fillna(False)) == [True, False]
    assert first.best_value >= trials.loc[0, "value"]
    tune("sample", "fm", validation_folds=1, n_trials=3, out=out, space=WITH_DEFAULTS, n_threads=1,
         resume=True,
         evaluate_test=False)
    trials = pd.read_csv(out / FILES["trials"])
    assert list(trials["number"]) == [0, 1, 2]
    assert list(trials["user_attrs_default"].fillna(False)) == [True, False, False]


def test_defaults_interrupted_in_trial_0_run_again_on_resume(tmp_path, monkeypatch):
    original = tune_module._Objective.__call__

    def interrupted(self, trial):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_module._Objective, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune("sample", "fm", validation_folds=1, n_trials=2, out=tmp_path / "s", space=WITH_DEFAULTS,
             evaluate_test=False)
    monkeypatch.setattr(tune_module._Objective, "__call__", original)
    tune("sample", "fm", validation_folds=1, n_trials=2, out=tmp_path / "s", space=WITH_DEFAULTS, resume=True,
         n_threads=1, evaluate_test=False)
    trials = pd.read_csv(tmp_path / "s" / FILES["trials"])
    assert list(trials["state"]) == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials.loc[1, "params_model__learning_rate"] == _fm_defaults()["model__learning_rate"]
    assert list(trials["user_attrs_default"].fillna(False)) == [True, True, False]


@pytest.mark.parametrize("window", [1, 3, 5, 7])
def test_smoothed_best_is_the_best_centred_moving_average(window):
    from recfm.tuning import smoothed_best

    rng = np.random.default_rng(window)
    curve = rng.random(11)
    half = window // 2
    means = {e: curve[e - half:e + half + 1].mean() for e in range(half, len(curve) - half)}
    value, epoch = smoothed_best(curve, window)
    assert epoch == max(means, key=means.get) and value == pytest.approx(max(means.values()))
    if window == 1:
        assert epoch == int(np.argmax(curve))
    # a curve shorter than the window: the longest window that fits (here the mean of all 3)
    assert smoothed_best([0.1, 0.4, 0.1], window) == (
        (pytest.approx(0.2), 1) if window >= 3 else (0.4, 1))
    assert smoothed_best([0.3], window) == (0.3, 0)
    # one lucky epoch among flat ones wins raw, not smoothed: a steady rise beats it
    spike = [0.10, 0.30, 0.10, 0.10, 0.20, 0.21, 0.22, 0.21, 0.20]
    if window >= 3:
        assert smoothed_best(spike, window)[1] in (4, 5, 6)


def test_fm_trial_value_and_epochs_come_from_the_smoothed_curve(tmp_path, monkeypatch):
    from recfm.tuning import smoothed_best

    curves = []
    original = tune_module.FMRecommender.fit

    def fit(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if kwargs.get("validation") is not None:  # trials, not the confirming refits
            curves.append(list(self.history_["ndcg@10"]))
        return out

    monkeypatch.setattr(tune_module.FMRecommender, "fit", fit)
    tune("sample", "fm", validation_folds=1, n_trials=2, out=tmp_path / "s", space=WITH_DEFAULTS, n_threads=1,
         evaluate_test=False)
    trials = pd.read_csv(tmp_path / "s" / FILES["trials"])
    for (_, row), curve in zip(trials.iterrows(), curves, strict=True):
        value, epoch = smoothed_best(curve, WITH_DEFAULTS.window)
        assert row["value"] == pytest.approx(value)
        assert row["user_attrs_n_epochs"] == epoch + 1
        assert row["user_attrs_best_single_epoch"] == pytest.approx(max(curve))


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 4}, "window must be odd"),
    ({"window": 0}, "window must be a positive integer"),
    ({"patience": 0}, "patience must be a positive integer"),
    ({"max_epochs": 2.5}, "max_epochs must be a positive integer"),
])
def test_search_space_rejects_bad_epoch_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace({"model__learning_rate": Float(0.01, 0.1)}, epochs=True, **kwargs)


def test_distributions_know_their_points():
    from recfm.tuning import Choice

    assert Float(0.01, 0.1).contains(0.05) and not Float(0.01, 0.1).contains(0.0)
    assert not Float(0.01, 0.1).contains(None) and not Float(0.0, 1.0).contains(True)
    assert Int(1, 5).contains(5) and not Int(1, 5).contains(6) and not Int(1, 5).contains(2.0)
    assert Choice((16, 32)).contains(32) and not Choice((16, 32)).contains(64)
    assert not Choice((1, 2)).contains(True)


@pytest.mark.parametrize("threshold, chosen, folds", [(1e9, 0, 1), (-1e9, 1, 1), (-1e9, 1, 2)])
def test_the_best_replaces_the_defaults_only_if_it_beats_them_by_a_standard_error(
        tmp_path, monkeypatch, threshold, chosen, folds):
    from recfm.metrics import metrics_from_frames
    from recfm.recommenders import make_recommender

    # trial 1 (drawn) scores above trial 0 (the defaults); the refits then decide
    monkeypatch.setattr(tune_module._Objective, "__call__",
                        lambda self, trial: (self.space.suggest(trial), 0.1 + trial.number)[1])
    monkeypatch.setattr(tune_module, "CONFIRM_SE", threshold)
    result = tune("sample", "fm", n_trials=2, out=tmp_path / "s", space=WITH_DEFAULTS,
                  n_threads=1, evaluate_test=False, validation_folds=folds)
    trials = pd.read_csv(tmp_path / "s" / FILES["trials"])
    assert result.best_trial == chosen
    setting = {"model__learning_rate": trials.loc[chosen, "params_model__learning_rate"],
               "model__n_negatives": int(trials.loc[chosen, "params_model__n_negatives"]),
               "model__n_factors": 4}  # the space's fixed parameter is part of the setting
    assert result.best_params == pytest.approx(setting)
    saved = json.loads((tmp_path / "s" / FILES["best_params"]).read_text())
    assert saved["chosen_trial"] == chosen and saved["best_trial"] == 1
    # the recorded comparison, recomputed: both settings refitted on the fit part
    data = load_sample()
    train, _ = split_data(data.interactions, "random", 0.2, 0)
    splits = validation_splits(train, 0.1, folds, 0)
    # with several folds, each user's score is the mean over the folds that validate the user
    diff = 0.0
    for number, sign in ((1, 1), (0, -1)):
        per_fold = []
        for fit_part, val in splits:
            n_items = len(pd.unique(pd.concat([fit_part["item_id"], val["item_id"]])))
            rec = make_recommender("fm", seed=0, n_threads=1).set_params(
                model__learning_rate=trials.loc[number, "params_model__learning_rate"],
                model__n_negatives=int(trials.loc[number, "params_model__n_negatives"]),
                model__n_factors=4)
            rec.fit(fit_part, users=data.users, items=data.items)
            recs = rec.recommend(pd.unique(val["user_id"]), n=10)
            per_fold.append(metrics_from_frames(recs, val, 10, n_items=n_items)[1]["ndcg@10"])
        diff = diff + sign * pd.concat(per_fold, axis=1).mean(axis=1)
    check = result.confirmation
    assert check["difference"] == pytest.approx(diff.mean())
    assert check["standard_error"] == pytest.approx(diff.std(ddof=1) / np.sqrt(len(diff)))
    users = set().union(*(set(val["user_id"]) for _, val in splits))
    assert check["users"] == len(users) and check["folds"] == folds
    assert check["kept_defaults"] == (chosen == 0)


def _defaults_win(monkeypatch, threshold: float, n_epochs: int) -> None:
    """Fake trials in which trial 0 (the defaults) scores best, early-stopped at ``n_epochs``;
    the refitted comparison keeps the defaults unless the best trial wins by ``threshold``
    standard errors."""
    def objective(self, trial):
        self.space.suggest(trial)
        trial.set_user_attr("n_epochs", n_epochs)
        return 1.0 if trial.number == 0 else 0.1

    monkeypatch.setattr(tune_module._Objective, "__call__", objective)
    monkeypatch.setattr(tune_module, "CONFIRM_SE", threshold)


@pytest.mark.parametrize("threshold, epochs", [(1e9, None), (-1e9, 3)])
def test_a_best_default_trial_keeps_its_epoch_count_only_if_the_refit_confirms_it(
        tmp_path, monkeypatch, threshold, epochs):
    # trial 0 (the defaults) is best, early-stopped at 3 epochs: the defaults as they are (own
    # epochs) or the defaults with 3 epochs, as the refitted comparison decides
    _defaults_win(monkeypatch, threshold, n_epochs=3)
    result = tune("sample", "fm", validation_folds=1, n_trials=2, out=tmp_path / "s", space=WITH_DEFAULTS,
                  n_threads=1, evaluate_test=False)
    defaults = _fm_defaults()
    expected = {"model__learning_rate": defaults["model__learning_rate"],
                "model__n_negatives": defaults["model__n_negatives"], "model__n_factors": 4}
    if epochs is not None:
        expected["model__n_epochs"] = epochs
    assert result.best_trial == 0 and result.best_params == expected
    assert result.confirmation["kept_defaults"] == (epochs is None)
    assert read_best_params(tmp_path / "s" / FILES["best_params"])[1] == expected


@pytest.mark.parametrize("threshold, rows", [(1e9, ["fm tuned = default (kept)"]),
                                             (-1e9, ["fm tuned", "fm default"])])
def test_test_comparison_fits_kept_defaults_once(tmp_path, monkeypatch, threshold, rows):
    # kept defaults are one setting: fitting it twice would show thread noise as a tuning result
    _defaults_win(monkeypatch, threshold, n_epochs=2)
    result = tune("sample", "fm", validation_folds=1, n_trials=2, out=tmp_path / "s", space=WITH_DEFAULTS,
                  n_threads=1)
    assert list(result.comparison.table.index) == rows
    assert rows[0] in (tmp_path / "s" / FILES["comparison"]).read_text()


def test_a_frame_is_tuned_as_its_file_and_resumed_only_with_the_same_frame(tmp_path):
    log = load_sample().interactions[["user_id", "item_id", "rating", "timestamp"]]
    out = tmp_path / "study"
    result = tune(log, "ease", validation_folds=1, n_trials=1, out=out, evaluate_test=False)
    recorded = json.loads((out / FILES["settings"]).read_text())["dataset"]
    assert recorded.startswith(f"DataFrame ({len(log)} rows; columns user_id, item_id, rating, "
                               "timestamp; content hash ")
    assert result.settings["dataset"] == recorded
    other = log.assign(rating=log["rating"] + 1)
    with pytest.raises(ValueError, match=r"--resume \(resume=True\): the study .* other settings "
                                         r"\(dataset: "):
        tune(other, "ease", validation_folds=1, n_trials=2, out=out, resume=True, evaluate_test=False)
    tune(log.copy(), "ease", validation_folds=1, n_trials=2, out=out, resume=True, evaluate_test=False)
    assert len(pd.read_csv(out / FILES["trials"])) == 2


def test_a_study_recorded_before_frames_had_a_content_hash_resumes(tmp_path):
    log = load_sample().interactions[["user_id", "item_id", "rating", "timestamp"]]
    out = tmp_path / "study"
    tune(log, "ease", validation_folds=1, n_trials=1, out=out, evaluate_test=False)
    settings = json.loads((out / FILES["settings"]).read_text())
    shape_only = settings["dataset"].split("; content hash ")[0] + ")"
    (out / FILES["settings"]).write_text(json.dumps({**settings, "dataset": shape_only}))
    # the same values under another index are the same frame
    tune(log.set_axis(np.arange(len(log)) + 7), "ease", validation_folds=1, n_trials=2, out=out,
         resume=True, evaluate_test=False)
    assert len(pd.read_csv(out / FILES["trials"])) == 2
