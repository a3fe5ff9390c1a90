"""plot_curves: writes an image, refuses to overwrite, clear error without matplotlib."""
from __future__ import annotations

import builtins

import pytest

from recfm.evaluation import evaluate, per_k_table
from recfm.evaluation.plots import plot_curves

from .conftest import FakeRecommender


@pytest.fixture
def result(split):
    train, test = split
    return evaluate(
        {"a": FakeRecommender(), "b": FakeRecommender(noise=0.0)}, train, test, k=(1, 5, 10)
    )


def test_plot_curves_writes_and_refuses_overwrite(tmp_path, result):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    assert plot_curves(result, path) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot_curves(result, path)
    assert path.read_bytes() == before
    plot_curves(per_k_table(result), path, overwrite=True, metrics=("ndcg", "recall", "map"))
    plot_curves(result.table, tmp_path / "wide.svg")
    assert (tmp_path / "wide.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "wide.svg"]
    with pytest.raises(ValueError, match="auc"):
        plot_curves(result, tmp_path / "x.png", metrics=("auc",))


def test_plot_curves_without_matplotlib(tmp_path, result, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install recfm\[plot\]"):
        plot_curves(result, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
