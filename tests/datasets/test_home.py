from pathlib import Path

import platformdirs

from recfm.datasets import get_data_home


def test_argument_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RECFM_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == (tmp_path / "arg").absolute()


def test_environment_beats_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RECFM_DATA", str(tmp_path / "env"))
    assert get_data_home() == (tmp_path / "env").absolute()


def test_cache_dir_is_the_default(monkeypatch):
    monkeypatch.delenv("RECFM_DATA", raising=False)
    assert get_data_home() == Path(platformdirs.user_cache_dir("recfm")).absolute()


def test_empty_environment_variable_is_ignored(monkeypatch):
    monkeypatch.setenv("RECFM_DATA", "  ")
    assert get_data_home() == Path(platformdirs.user_cache_dir("recfm")).absolute()


def test_tilde_is_expanded_and_nothing_is_created(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    home = get_data_home("~/recfm-data")
    assert home == tmp_path / "recfm-data"
    assert not home.exists()
