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


def test_figure_has_run_title_and_bars_for_one_k(split, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.container import BarContainer

    from recfm.evaluation.plots import curves_figure, run_title

    train, test = split
    one_k = evaluate({"a": FakeRecommender(), "b": FakeRecommender(noise=0.0)}, train, test,
                     k=(10,))
    settings = {"dataset": "sample", "split": "random", "seed": 3}
    n_users = int(one_k.table["n_users_evaluated"].max())
    title = run_title(settings, n_users)
    assert title == f"sample, random split, seed 3, {n_users:,} users"
    fig = curves_figure(one_k, title=title)
    assert fig.get_suptitle() == title
    for ax, metric in zip(fig.axes, ("ndcg", "recall"), strict=True):
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == 1 and len(bars[0]) == 2  # one bar per model
        heights = [p.get_height() for p in bars[0]]
        assert heights == pytest.approx(list(one_k.table[f"{metric}@10"]))
        assert not ax.lines  # no lone dots
        assert ax.get_ylabel().endswith("@10")
    # with several k: lines, one per model, through every k
    many = curves_figure(evaluate({"a": FakeRecommender()}, train, test, k=(1, 5, 10)))
    assert [len(line.get_xdata()) for line in many.axes[0].lines] == [3]
    assert not many.axes[0].containers
    # plot_curves titles the figure from the settings when no title is given
    path = plot_curves(one_k, tmp_path / "one.png", settings=settings)
    assert path.stat().st_size > 0
