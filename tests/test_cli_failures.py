"""Expected failures reach a CLI user as one line (status 2), Ctrl-C as one line (status 130)."""
from __future__ import annotations

import pytest

from recfm._utils import DataError, RecfmError
from recfm.model.fm import DivergenceError

from .test_cli import INTERACTIONS, assert_one_line_error, run


def test_recfm_errors_are_one_family():
    assert issubclass(DataError, RecfmError) and issubclass(DataError, ValueError)
    assert issubclass(DivergenceError, RecfmError) and issubclass(DivergenceError, FloatingPointError)


@pytest.mark.parametrize("loss", ["squared", "logistic", "bpr", "warp"])
def test_divergence_is_one_line_and_saves_nothing(capsys, tmp_path, loss):
    out = tmp_path / "model"
    code, stdout, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--loss", loss,
                            "--learning-rate", "1e6", "--epochs", "2", "--factors", "4",
                            "--threads", "1", "--out", out, "-q")
    assert_one_line_error(code, stdout, err, f"{loss} loss diverged at epoch 0")
    assert not out.exists()


def test_ctrl_c_is_one_line_status_130_and_leaves_nothing(capsys, tmp_path, monkeypatch):
    from recfm.model import FactorizationMachine

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(FactorizationMachine, "fit", interrupted)
    out = tmp_path / "model"
    code, stdout, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--epochs", "1",
                            "--threads", "1", "--out", out, "-q")
    assert code == 130
    assert err.strip().splitlines() == ["recfm: interrupted; nothing was written"]
    assert stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threads", ["-1", "0", "x"])
def test_bad_threads_are_refused_by_the_parser(capsys, threads):
    with pytest.raises(SystemExit) as exc:
        run(capsys, "evaluate", "--dataset", "sample", "--models", "pop,als,bpr",
            "--threads", threads, "-q")
    assert exc.value.code == 2
    assert "argument --threads: must be a positive integer" in capsys.readouterr().err


def test_huge_threads_are_capped_with_one_note(capsys):
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop,als,bpr",
                         "--threads", "100000", "-q", "--format", "json")
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("recfm: warning: ")]
    assert len(notes) == 1 and "--threads=100000 is more than the" in notes[0]


def test_k_far_above_the_catalogue_is_refused_naming_the_limit(capsys):
    code, out, err = run(capsys, "evaluate", "--dataset", "sample", "--models", "pop",
                         "--k", "10,1000000000", "-q")
    assert_one_line_error(code, out, err, "k=1000000000 is larger than the catalogue (",
                          "choose k <= ")


def test_n_far_above_the_catalogue_is_capped(capsys, tmp_path):
    out = tmp_path / "model"
    code, _, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--epochs", "1",
                       "--factors", "4", "--threads", "1", "--out", out, "-q")
    assert code == 0, err
    code, stdout, err = run(capsys, "recommend", "--model", out, "--users", "1",
                            "--n", "1000000000000", "--include-seen")
    assert code == 0, err
    import pandas as pd

    n_items = pd.read_csv(INTERACTIONS)["item_id"].nunique()
    assert len(stdout.strip().splitlines()) == n_items + 1


def test_float_written_user_ids_are_text_and_refused_against_integer_ids(capsys, tmp_path):
    """A CSV's ``1.0`` is the id written so, not 1: against a log of 1, 2 the file shares
    no id, which is said before training, naming both forms."""
    (tmp_path / "log.csv").write_text("user_id,item_id\n1,1\n1,2\n2,1\n2,3\n")
    (tmp_path / "users.csv").write_text("user_id,age\n1.0,20\n2.0,30\n")
    out = tmp_path / "model"
    code, stdout, err = run(capsys, "fit", "--interactions", tmp_path / "log.csv", "--users",
                            tmp_path / "users.csv", "--epochs", "1", "--factors", "4",
                            "--threads", "1", "--out", out, "-q")
    assert_one_line_error(code, stdout, err, "users.csv shares no user_id with the log",
                          "'1.0', '2.0' (str)", "1, 2 (int)")
    assert not out.exists()


def test_bad_user_balance_is_one_line_and_saves_nothing(capsys, tmp_path):
    out = tmp_path / "model"
    code, stdout, err = run(capsys, "fit", "--interactions", INTERACTIONS, "--user-balance",
                            "-1", "--epochs", "1", "--threads", "1", "--out", out, "-q")
    assert_one_line_error(code, stdout, err, "user_balance must be a non-negative")
    assert not out.exists()


def test_user_balance_reaches_the_saved_model(capsys, tmp_path):
    from recfm.recommenders import load as load_recommender

    out = tmp_path / "model"
    code, _, _ = run(capsys, "fit", "--interactions", INTERACTIONS, "--user-balance", "0.5",
                     "--epochs", "1", "--factors", "4", "--threads", "1", "--out", out, "-q")
    assert code == 0
    assert load_recommender(out).model_.user_balance == 0.5
