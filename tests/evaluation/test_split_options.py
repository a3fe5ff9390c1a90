"""Split options that contradict or mean nothing are refused up front, not ignored."""
from __future__ import annotations

import pytest

from recfm.datasets import load_sample
from recfm.evaluation.experiment import (
    DEFAULT_TEST_SIZE,
    check_split_options,
    run_experiment,
    split_data,
)


def test_check_split_resolves_the_size_and_refuses_what_would_be_ignored():
    assert check_split_options("random") == DEFAULT_TEST_SIZE == 0.2
    assert check_split_options("temporal", 0.3) == 0.3
    assert check_split_options("random", 0.4, cold_start=True) == 0.4
    assert check_split_options("leave-last-out") is None
    with pytest.raises(ValueError, match=r"test_size=0\.5 \(--test-size\) has no meaning with "
                                         r"split='leave-last-out' \(--split leave-last-out\)"):
        check_split_options("leave-last-out", 0.5)
    for split in ("temporal", "leave-last-out"):
        with pytest.raises(ValueError, match=rf"split='{split}' \(--split {split}\) and "
                                             r"cold_start \(--cold-start\) contradict"):
            check_split_options(split, cold_start=True)
    with pytest.raises(ValueError, match="unknown split 'x'"):
        check_split_options("x")
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\); got 1\.5"):
        check_split_options("random", 1.5)


def test_split_data_and_run_experiment_refuse_before_any_work(monkeypatch):
    data = load_sample()
    with pytest.raises(ValueError, match="has no meaning"):
        split_data(data.interactions, "leave-last-out", 0.2)

    def never(*args, **kwargs):
        raise AssertionError("data loaded before the options were checked")

    monkeypatch.setattr("recfm.evaluation.experiment.load_with_attributes", never)
    with pytest.raises(ValueError, match="contradict"):
        run_experiment("sample", models="pop", split="temporal", cold_start=True)


def test_leave_last_out_reports_no_test_size():
    exp = run_experiment(load_sample(), models="pop", split="leave-last-out")
    assert "test_size" not in exp.settings and exp.settings["split"] == "leave-last-out"
    assert exp.test.groupby("user_id").size().eq(1).all()
    assert run_experiment(load_sample(), models="pop").settings["test_size"] == 0.2


def test_tune_refuses_a_size_with_leave_last_out_before_writing(tmp_path):
    from recfm.tuning import tune

    with pytest.raises(ValueError, match="has no meaning"):
        tune("sample", "fm", n_trials=1, out=tmp_path / "t", split="leave-last-out",
             test_size=0.3)
    assert not (tmp_path / "t").exists()


def test_check_times_refuses_a_log_without_times_only_where_times_are_needed():
    import dataclasses

    from recfm._utils import DataError
    from recfm.evaluation.experiment import check_times
    from recfm.recommenders import make_recommender

    timed = load_sample()
    untimed = dataclasses.replace(timed, timed=False)
    seq = {"fm-seq": make_recommender("fm-seq"), "pop": make_recommender("pop")}
    for split in ("random", "temporal", "leave-last-out"):
        check_times(timed, split, recommenders=seq)  # a timed log passes silently
    check_times(untimed, "random", recommenders={"pop": seq["pop"]})
    check_times(untimed, "temporal", cold_start=True)
    with pytest.raises(DataError, match=r"needs the time of each interaction; data set "
                                        r"'sample' has no time column"):
        check_times(untimed, "temporal")
    with pytest.raises(DataError, match=r"^fm-seq order\(s\) each user's interactions by time"):
        check_times(untimed, "random", recommenders=seq)
    with pytest.warns(UserWarning, match="last row in file order"):
        check_times(untimed, "leave-last-out")
