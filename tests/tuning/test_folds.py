"""Several validation folds (``validation_folds``): the carving, a trial's value as the mean
over folds, and resuming. Tiny budgets on the 300-user sample keep this file fast."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recfm.datasets import load_sample
from recfm.evaluation.experiment import split_data
from recfm.tuning import FILES, Float, SearchSpace, smoothed_best, tune, validation_splits
from recfm.tuning import study as tune_module

SPACE = SearchSpace({"model__learning_rate": Float(0.02, 0.2, log=True)}, epochs=True,
                    max_epochs=4, patience=2, window=3, fixed={"model__n_factors": 4})


def _pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


def test_validation_folds_are_disjoint_carved_from_train_and_never_hold_test():
    data = load_sample()
    train, test = split_data(data.interactions, "random", 0.2, 0)
    splits = validation_splits(train, 0.1, 3, 0)
    assert len(splits) == 3
    vals = [_pairs(val) for _, val in splits]
    for j, (fit_part, val) in enumerate(splits):
        assert len(val) > 0 and not vals[j] & _pairs(test)
        assert vals[j] <= _pairs(train) and not vals[j] & _pairs(fit_part)
        # the fit part is the rest of train: the other folds are trained on
        assert _pairs(fit_part) | vals[j] == _pairs(train)
        assert all(not vals[j] & vals[i] for i in range(j))
    # the first fold is the one-fold study's validation split
    pd.testing.assert_frame_equal(splits[0][1], validation_splits(train, 0.1, 1, 0)[0][1])


def test_fm_trial_value_is_the_smoothed_mean_curve_of_the_folds(tmp_path, monkeypatch):
    curves: list[list[float]] = []
    original = tune_module.FMRecommender.fit

    def fit(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if kwargs.get("validation") is not None:
            curves.append(list(self.history_["ndcg@10"]))
        return out

    monkeypatch.setattr(tune_module.FMRecommender, "fit", fit)
    result = tune("sample", "fm", n_trials=2, out=tmp_path / "s", space=SPACE, n_threads=1,
                  evaluate_test=False, validation_folds=2)
    trials = pd.read_csv(tmp_path / "s" / FILES["trials"])
    assert len(curves) == 4  # two folds per trial, in order
    for number, row in trials.iterrows():
        first, second = curves[2 * number], curves[2 * number + 1]
        assert len(second) == len(first)  # the second fold trains the first fold's epochs
        value, epoch = smoothed_best(np.mean([first, second], axis=0), SPACE.window)
        assert row["value"] == pytest.approx(value)
        assert row["user_attrs_n_epochs"] == epoch + 1
        assert np.mean(json.loads(row["user_attrs_fold_values"].replace("'", '"'))) == \
            pytest.approx(value)
    assert result.settings["validation_folds"] == 2
    assert result.confirmation["folds"] == 2


def test_a_model_without_epochs_scores_the_mean_over_folds(tmp_path):
    space = SearchSpace({"regularization": Float(0.1, 100.0, log=True)},
                        fixed={"factors": 8, "iterations": 3})
    tune("sample", "als", n_trials=2, out=tmp_path / "s", space=space, evaluate_test=False,
         validation_folds=3)
    trials = pd.read_csv(tmp_path / "s" / FILES["trials"])
    for _, row in trials.iterrows():
        folds = json.loads(row["user_attrs_fold_values"].replace("'", '"'))
        assert len(folds) == 3 and row["value"] == pytest.approx(np.mean(folds))
        assert len(set(folds)) == 3  # three different validation parts


def test_resume_keeps_the_folds(tmp_path):
    out = tmp_path / "s"
    tune("sample", "fm", n_trials=1, out=out, space=SPACE, evaluate_test=False,
         validation_folds=2, n_threads=1)
    resumed = tune("sample", "fm", n_trials=2, out=out, space=SPACE, evaluate_test=False,
                   validation_folds=2, resume=True, n_threads=1)
    assert resumed.n_trials == 2
    with pytest.raises(ValueError, match="validation_folds: 2 there, 3 now"):
        tune("sample", "fm", n_trials=3, out=out, space=SPACE, evaluate_test=False,
             validation_folds=3, resume=True)
    # a study written before folds existed was a one-fold study
    settings = json.loads((out / FILES["settings"]).read_text())
    del settings["validation_folds"]
    (out / FILES["settings"]).write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="validation_folds: 1 there, 2 now"):
        tune("sample", "fm", n_trials=3, out=out, space=SPACE, evaluate_test=False,
             validation_folds=2, resume=True)
