"""Design helpers and libFM / svmlight export: parse the text back and compare."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recfm.features.design as design_mod
from recfm.features import Categorical, Design, FeatureBuilder, MultiValued, Numeric


def parse_libfm(path, n_features):
    """Read a libFM/svmlight text file into (targets, CSR, per-line column lists)."""
    targets, rows, cols, vals, per_line = [], [], [], [], []
    with open(path) as f:
        for r, line in enumerate(f):
            assert line.endswith("\n")
            parts = line.split()
            targets.append(float(parts[0]))
            line_cols = []
            for tok in parts[1:]:
                c, v = tok.split(":")
                rows.append(r)
                cols.append(int(c))
                vals.append(np.float32(v))
                line_cols.append(int(c))
            per_line.append(line_cols)
    X = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)),
        shape=(len(targets), n_features),
        dtype=np.float32,
    )
    return np.asarray(targets, dtype=np.float32), X, per_line


@pytest.fixture
def random_design():
    rng = np.random.default_rng(0)
    n = 3000
    inter = pd.DataFrame(
        {
            "user_id": rng.integers(0, 200, n),
            "item_id": rng.integers(0, 150, n),
            "rating": rng.integers(1, 6, n).astype(np.float32),
            "hour": rng.integers(0, 24, n),
            "platform": rng.choice(["web", "ios", "android"], n),
        }
    )
    users = pd.DataFrame({"user_id": np.arange(200), "age": rng.normal(35, 10, 200)})
    genres = np.array(list("ABCDEFG"))
    items = pd.DataFrame(
        {
            "item_id": np.arange(150),
            "genres": [list(genres[rng.random(7) < 0.3]) for _ in range(150)],
            "year": rng.integers(1950, 2000, 150),
        }
    )
    b = FeatureBuilder(
        user_features=[Numeric("age")],
        item_features=[MultiValued("genres", weights="normalized"), Numeric("year", bins=4)],
        context_features=["hour", Categorical("platform")],
    )
    return b.fit_transform(inter, users, items)


def test_libfm_round_trip(random_design, tmp_path, monkeypatch):
    d = random_design
    # Small blocks so block boundaries are exercised.
    monkeypatch.setattr(design_mod, "_WRITE_BLOCK", 701)
    path = tmp_path / "train.libfm"
    d.to_libfm(path)
    y, X, per_line = parse_libfm(path, d.n_features)
    np.testing.assert_array_equal(y, d.sample_values)
    assert (X != d.full_rows()).nnz == 0
    # Query columns (user + context) first, then item columns, each side increasing.
    item_cols = set(np.flatnonzero(d.space.item_column_mask).tolist())
    for s in (0, 1, 700, 701, d.n_samples - 1):
        cols = per_line[s]
        sides = [c in item_cols for c in cols]
        assert sides == sorted(sides), s
        q = [c for c in cols if c not in item_cols]
        t = [c for c in cols if c in item_cols]
        assert q == sorted(q) and t == sorted(t)
        assert q == d.query_rows([s]).indices.tolist()
        assert t == d.item_side_rows([s]).indices.tolist()


def test_libfm_binary_target(random_design, tmp_path):
    d = random_design
    d.sample_values[:3] = [0.0, -2.0, 0.5]
    d.to_libfm(tmp_path / "bin.libfm", target="binary")
    y, _, _ = parse_libfm(tmp_path / "bin.libfm", d.n_features)
    assert y[:3].tolist() == [-1.0, -1.0, 1.0]
    assert set(y.tolist()) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="target must be one of 'value', 'binary'; got 'rank'"):
        d.to_libfm(tmp_path / "x.libfm", target="rank")


def test_svmlight_reads_back_with_sklearn(random_design, tmp_path):
    datasets = pytest.importorskip("sklearn.datasets")
    d = random_design
    path = tmp_path / "train.svm"
    d.to_svmlight(path)
    X, y = datasets.load_svmlight_file(
        str(path), n_features=d.n_features, zero_based=True, dtype=np.float32
    )
    np.testing.assert_array_equal(y, d.sample_values)
    assert (X != d.full_rows()).nnz == 0


def test_text_export_handles_hand_made_design(tmp_path):
    # A Design built by hand (no space, no context) exports the same way.
    uf = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32))
    itf = sp.csr_matrix(np.array([[0, 0, 0.25, 0], [0, 0, 0, 1]], dtype=np.float32))
    d = Design(
        user_features=uf,
        item_features=itf,
        interactions=sp.csr_matrix(np.eye(2, dtype=np.float32)),
        sample_users=np.array([1, 0], dtype=np.int32),
        sample_items=np.array([0, 1], dtype=np.int32),
        sample_values=np.array([3.5, 1.0], dtype=np.float32),
        user_ids=np.array([7, 8]),
        item_ids=np.array([70, 80]),
    )
    d.to_libfm(tmp_path / "a.libfm")
    assert (tmp_path / "a.libfm").read_text() == "3.5 1:1 2:0.25\n1 0:1 3:1\n"


def test_refuses_to_overwrite_and_writes_atomically(random_design, tmp_path, monkeypatch):
    d = random_design
    path = tmp_path / "out.libfm"
    path.write_text("keep me\n")
    with pytest.raises(FileExistsError, match="out.libfm already exists; pass overwrite=True"):
        d.to_libfm(path)
    with pytest.raises(FileExistsError, match="already exists"):
        d.to_svmlight(path)
    assert path.read_text() == "keep me\n"
    d.to_libfm(path, overwrite=True)
    assert path.read_text().count("\n") == d.n_samples

    # A failure while writing leaves neither a partial file nor a temporary one behind.
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(design_mod, "_format_lines", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        d.to_libfm(tmp_path / "new.libfm")
    assert sorted(os.listdir(tmp_path)) == ["out.libfm"]


def test_sample_row_helpers(random_design):
    d = random_design
    idx = np.array([5, 0, 5])
    Q = d.query_rows(idx)
    expected = d.user_features[d.sample_users[idx]] + d.context[idx]
    assert (Q != expected).nnz == 0
    T = d.item_side_rows(idx)
    # The two sides never share a column, so the full row is their plain sum.
    assert Q.multiply(T).nnz == 0
    assert (d.full_rows(idx) != Q + T).nnz == 0
    mask = np.zeros(d.n_samples, dtype=bool)
    mask[[1, 2]] = True
    assert (d.full_rows(mask) != d.full_rows([1, 2])).nnz == 0
    with pytest.raises(IndexError, match="out of range"):
        d.full_rows([d.n_samples])
