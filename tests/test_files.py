"""recfm._files: every writer gives its output the umask's permissions; up-front target checks;
the CLI checks every output before training and recommends from any saved model."""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recfm._files import atomic_file, check_dir_target, check_file_target, open_regular, write_text_atomic
from recfm.cli import main
from recfm.datasets import load_sample
from recfm.recommenders import EASE, FMRecommender, Popularity


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask):
        os.umask(mask)

    yield set_
    os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _write_everything(root: Path) -> dict[str, Path]:
    """Use each of recfm's writers once; return what they wrote."""
    from recfm.evaluation import evaluate
    from recfm.evaluation.plots import plot_curves
    from recfm.evaluation.runs import save_run
    from recfm.features import FeatureBuilder
    from recfm.split import random_split

    train, test = random_split(load_sample().interactions, test_size=0.2, seed=0)
    pop = Popularity().fit(train)
    out = {}
    out["report"] = root / "report.txt"
    write_text_atomic(out["report"], "hello\n")
    out["model"] = pop.save(root / "model")
    result = evaluate({"pop": pop}, train, test, k=[5, 10])
    out["plot"] = plot_curves(result, root / "plot.png")
    out["run"] = save_run(root / "run", train, test, result.recommendations, result)
    design = FeatureBuilder().fit_transform(train)
    out["libfm"] = root / "train.libfm"
    design.to_libfm(out["libfm"])
    return out


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_every_writer_follows_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _write_everything(tmp_path)
    for key in ("report", "plot", "libfm"):
        assert _mode(out[key]) == file_mode, key
    for folder in (out["model"], out["run"], out["run"] / "recommendations"):
        assert _mode(folder) == dir_mode, folder
        for f in folder.iterdir():
            if f.is_file():
                assert _mode(f) == file_mode, f


def test_atomic_file_refuses_a_file_that_appears_meanwhile(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_file(target) as tmp:
            tmp.write_text("new")
            target.write_text("someone else's")
    assert target.read_text() == "someone else's"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_leftovers_of_killed_writers_are_removed_but_live_ones_kept(tmp_path, monkeypatch):
    import fcntl

    from recfm import _files

    monkeypatch.setattr(_files, "STALE_SECONDS", 0.0)
    dead = tmp_path / ".report.txt.abcd1234.tmp"
    alive = tmp_path / ".report.txt.live5678.tmp"
    user = tmp_path / ".report.txt.mine.tmp"  # not a name recfm makes
    for p in (dead, alive, user):
        p.write_text("partial")
    fd = os.open(alive, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # its writer is still running
        write_text_atomic(tmp_path / "report.txt", "done\n")
        assert sorted(os.listdir(tmp_path)) == sorted([alive.name, user.name, "report.txt"])
    finally:
        os.close(fd)
    write_text_atomic(tmp_path / "report.txt", "again\n", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == sorted([user.name, "report.txt"])


def test_target_checks(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a_file is not a folder"):
        check_file_target(tmp_path / "a_file" / "out.csv", False, "--output")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_file_target(tmp_path, True, "--plot")
    with pytest.raises(FileExistsError, match="exists"):
        check_file_target(tmp_path / "a_file", False, "--output")
    check_file_target(tmp_path / "a_file", True, "--output")
    check_file_target(tmp_path / "new" / "deeper" / "out.csv", False, "--output")
    with pytest.raises(NotADirectoryError, match="exists and is not a folder"):
        check_dir_target(tmp_path / "a_file", "--save-run")


def test_open_regular_refuses_links_out_and_fifos(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "secret").write_text("s")
    (tmp_path / "inside" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(ValueError, match="link leading out"):
        open_regular(tmp_path / "inside" / "link", tmp_path / "inside")
    os.mkfifo(tmp_path / "inside" / "fifo")
    with pytest.raises(ValueError, match="not a regular file"):
        open_regular(tmp_path / "inside" / "fifo", tmp_path / "inside")


# ------------------------------------------------------------------ the CLI
REPO = Path(__file__).resolve().parents[1]
INTERACTIONS = REPO / "datasets" / "sample" / "interactions.csv"


def _error(capsys, *argv) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    return capsys.readouterr().err


def test_cli_checks_every_output_before_training(tmp_path, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the outputs")

    monkeypatch.setattr(FMRecommender, "fit", no_training)
    monkeypatch.setattr("recfm.evaluation.experiment.run_experiment", no_training)
    (tmp_path / "file").write_text("x")
    model = tmp_path / "model"
    model.mkdir()
    (model / "train.py").write_text("x")
    err = _error(capsys, "fit", "--interactions", INTERACTIONS, "--out", model, "--overwrite", "-q")
    assert "is not a saved recfm model (it holds 'train.py')" in err
    err = _error(capsys, "fit", "--interactions", INTERACTIONS, "--out", tmp_path / "file" / "m", "-q")
    assert "not a folder" in err
    err = _error(capsys, "evaluate", "--plot", tmp_path, "--overwrite", "-q")
    assert "is a folder" in err
    err = _error(capsys, "evaluate", "--output", tmp_path / "file" / "r.txt", "-q")
    assert "not a folder" in err
    err = _error(capsys, "evaluate", "--save-run", tmp_path / "file", "-q")
    assert "exists and is not a folder" in err


def test_cli_recommends_from_any_saved_recommender(tmp_path, capsys):
    train = pd.read_csv(INTERACTIONS)
    ease = EASE(l2=50.0, n_threads=1).fit(train)
    ease.save(tmp_path / "ease")
    users = ease.user_ids_[:3]
    capsys.readouterr()
    assert main(["recommend", "--model", str(tmp_path / "ease"), "--users",
                 ",".join(map(str, users)), "--n", "4"]) == 0
    got = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    expected = ease.recommend(users, n=4)
    np.testing.assert_array_equal(got["item_id"].to_numpy(), expected["item_id"].to_numpy())
    Popularity().fit(train).save(tmp_path / "pop")
    err = _error(capsys, "recommend", "--model", tmp_path / "pop", "--users", str(users[0]),
                 "--context", INTERACTIONS)
    assert "--context is not supported by a saved Popularity" in err


def test_cli_ranks_only_the_items_given_with_every_saved_recommender(tmp_path, capsys):
    from recfm.recommenders import ImplicitALS

    train = pd.read_csv(INTERACTIONS)
    items = sorted(train["item_id"].unique())[:5]
    for name, rec in (("pop", Popularity()), ("als", ImplicitALS(factors=4, iterations=2, n_threads=1))):
        rec.fit(train).save(tmp_path / name)
        user = rec.user_ids_[0]
        capsys.readouterr()
        assert main(["recommend", "--model", str(tmp_path / name), "--users", str(user), "--n", "3",
                     "--items", ",".join(map(str, items))]) == 0
        got = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
        assert set(got["item_id"]) <= set(items) and len(got) > 0
        want = rec.recommend([user], n=3, items=items)
        assert got["item_id"].tolist() == want["item_id"].tolist()


def test_cli_fit_overwrite_keeps_files_recfm_did_not_write(tmp_path, capsys):
    from recfm.recommenders import load

    out = tmp_path / "model"
    argv = ["fit", "--interactions", str(INTERACTIONS), "--out", str(out), "--epochs", "1",
            "--factors", "4", "--threads", "1", "-q"]
    assert main(argv) == 0
    (out / "notes").mkdir()
    (out / "notes" / "todo.txt").write_text("retrain weekly\n")
    (out / "train.py").write_text("print('hi')\n")
    assert main(argv + ["--overwrite"]) == 0
    assert (out / "notes" / "todo.txt").read_text() == "retrain weekly\n"
    assert (out / "train.py").read_text() == "print('hi')\n"
    assert isinstance(load(out), FMRecommender)
