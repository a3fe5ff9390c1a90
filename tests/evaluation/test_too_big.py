"""A model the data is too big for (EASE's dense item x item matrices) is found before any
model is fitted: an error naming it when it was asked for, a reported skip in the default
comparison."""
from __future__ import annotations

import numpy as np
import pytest

import recfm.evaluation.experiment as experiment
import recfm.recommenders.ease as ease_module
from recfm.cli import main
from recfm.datasets import load_sample
from recfm.evaluation import evaluate
from recfm.evaluation.experiment import run_experiment
from recfm.recommenders import EASE

from .conftest import FakeRecommender, make_split


def test_evaluate_names_the_model_too_big_before_fitting_any():
    train, test = make_split()
    first = FakeRecommender()
    with pytest.raises(MemoryError, match=r"model 'ease': EASE needs about .* GiB .* 40 x 40"):
        evaluate({"first": first, "ease": EASE(memory_limit=1000)}, train, test)
    assert first.fit_calls == 0


def test_evaluate_can_report_it_skipped_and_score_the_others():
    train, test = make_split()
    first = FakeRecommender()
    result = evaluate({"first": first, "ease": EASE(memory_limit=1000)}, train, test,
                      too_big="skip")
    t = result.table
    assert t.loc["first", "skipped"] is None and t.loc["first", "ndcg@10"] > 0
    assert "EASE needs about" in t.loc["ease", "skipped"]
    assert np.isnan(t.loc["ease", "ndcg@10"]) and "ease" not in result.per_user
    assert any(n.startswith("model 'ease' was not fitted: EASE needs about") for n in result.notes)
    # a model that fits is unaffected by the option
    fits = evaluate({"ease": EASE(l2=10.0, n_threads=1)}, train, test, too_big="skip")
    assert fits.table.loc["ease", "skipped"] is None
    with pytest.raises(ValueError, match="too_big must be 'raise' or 'skip'; got 'drop'"):
        evaluate({"first": FakeRecommender()}, train, test, too_big="drop")


def test_cold_start_does_not_ask_the_models_it_skips():
    from recfm.split import cold_start_split

    train, test = make_split()
    train, test = cold_start_split(train, test_users=0.2, seed=0)
    result = evaluate({"ease": EASE(memory_limit=1000)}, train, test, cold_start=True)
    assert "supports_cold_start" in result.table.loc["ease", "skipped"]


@pytest.fixture
def little_memory(monkeypatch):
    """A machine with 1 MB available and a default list of pop and EASE (fast to fit)."""
    monkeypatch.setattr(ease_module, "available_memory", lambda: 10**6)
    monkeypatch.setattr(experiment, "DEFAULT_MODELS", "pop,ease")


def test_default_comparison_skips_ease_on_a_catalogue_too_big(little_memory):
    exp = run_experiment(load_sample(), seed=0)
    t = exp.result.table
    assert list(t.index) == ["pop", "ease"]
    assert t.loc["pop", "skipped"] is None and t.loc["pop", "ndcg@10"] > 0
    assert "EASE needs about" in t.loc["ease", "skipped"] and "400 x 400" in t.loc["ease", "skipped"]


def test_ease_asked_for_raises_before_anything_is_fitted(little_memory, monkeypatch):
    from recfm.recommenders import Popularity

    def refuse(*args, **kwargs):
        raise AssertionError("fitted before the memory check")

    monkeypatch.setattr(Popularity, "fit", refuse)
    with pytest.raises(MemoryError, match="model 'ease': EASE needs about"):
        run_experiment(load_sample(), models="pop,ease", seed=0)


def test_cli_default_run_reports_the_skip(little_memory, capsys):
    assert main(["evaluate", "--dataset", "sample", "-q"]) == 0
    out = capsys.readouterr().out
    assert "note: model 'ease' was not fitted: EASE needs about" in out
    assert main(["evaluate", "--dataset", "sample", "-q", "--models", "pop,ease"]) != 0
    assert "model 'ease': EASE needs about" in capsys.readouterr().err


def test_ease_names_a_catalogue_past_the_default_list_size_as_slow(monkeypatch):
    train, _ = make_split()  # 40 items
    assert EASE().slow_fit_reason(train) is None
    monkeypatch.setattr(ease_module, "DEFAULT_LIST_MAX_ITEMS", 39)
    reason = EASE().slow_fit_reason(train)
    assert reason is not None and "on 40 items cost ~n³" in reason
    assert EASE(l2=500.0).slow_fit_reason(train) is None  # a given l2: one inverse, no search


def test_default_comparison_leaves_a_slow_ease_out_and_a_named_one_is_fitted_after_a_warning(
        monkeypatch, capsys):
    monkeypatch.setattr(ease_module, "DEFAULT_LIST_MAX_ITEMS", 100)  # the sample has 400
    monkeypatch.setattr(experiment, "DEFAULT_MODELS", "pop,ease")
    fitted = []
    monkeypatch.setattr(EASE, "_fit", lambda self, X: fitted.append(X.shape) or
                        setattr(self, "B_", np.zeros((X.shape[1],) * 2, np.float32)))
    t = run_experiment(load_sample(), seed=0).result.table
    assert not fitted and np.isnan(t.loc["ease", "ndcg@10"])
    assert "on 400 items cost ~n³" in t.loc["ease", "skipped"]
    assert t.loc["ease", "skipped"].endswith("name it in --models (models=) to fit it anyway")
    with pytest.warns(UserWarning, match="model 'ease' will take minutes: EASE's l2 search"):
        named = run_experiment(load_sample(), models="pop,ease", seed=0).result.table
    assert fitted and named.loc["ease", "skipped"] is None
    assert main(["evaluate", "--dataset", "sample", "-q"]) == 0
    assert "note: model 'ease' was not fitted: EASE's l2 search and fit on 400 items" in \
        capsys.readouterr().out
