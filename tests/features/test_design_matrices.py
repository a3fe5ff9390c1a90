"""Design.from_matrices and FMRecommender.fit from matrices (the implicit / LightFM path)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.features import Categorical, Design, FeatureBuilder
from recfm.model import FactorizationMachine
from recfm.recommenders import FMRecommender
from tests.model._designs import design_from_pairs


def _data(seed=0, n_users=9, n_items=7, a=3, b=4):
    rng = np.random.default_rng(seed)
    X = sp.random(n_users, n_items, density=0.4, random_state=seed, format="csr", dtype=np.float32)
    X.data[:] = rng.integers(1, 6, X.nnz)
    UF = (rng.random((n_users, a)) < 0.5) * rng.uniform(0.5, 2.0, (n_users, a))
    IF = sp.csr_matrix((rng.random((n_items, b)) < 0.4) * rng.uniform(0.5, 2.0, (n_items, b)))
    return X, UF, IF


def _brute_rows(n, identity, feats, off_id, off_feat, n_features):
    """Dense side matrix built one cell at a time from the documented layout."""
    M = np.zeros((n, n_features))
    for r in range(n):
        if identity:
            M[r, off_id + r] = 1.0
        if feats is not None:
            for j in range(feats.shape[1]):
                M[r, off_feat + j] = feats[r, j]
    return M


@pytest.mark.parametrize("identity", [True, False])
@pytest.mark.parametrize("with_user", [True, False])
def test_layout_equals_brute_force(identity, with_user):
    X, UF, IF = _data()
    uf = UF if with_user else None
    d = Design.from_matrices(X, user_features=uf, item_features=IF, identity=identity)
    nu, ni = X.shape
    a = UF.shape[1] if with_user else 0
    b = IF.shape[1]
    nu_id, ni_id = (nu, ni) if identity else (0, 0)
    n_features = nu_id + a + ni_id + b
    assert d.n_features == n_features
    assert d.extra["layout"] == {"user_identity": 0, "user_features": nu_id,
                                 "item_identity": nu_id + a, "item_features": nu_id + a + ni_id,
                                 "n_features": n_features}
    U = _brute_rows(nu, identity, uf, 0, nu_id, n_features)
    IFd = IF.toarray()
    Itm = _brute_rows(ni, identity, IFd, nu_id + a, nu_id + a + ni_id, n_features)
    np.testing.assert_array_equal(d.user_features.toarray(), U.astype(np.float32))
    np.testing.assert_array_equal(d.item_features.toarray(), Itm.astype(np.float32))
    # samples: one per stored entry, the value as target, row-major
    coo = X.tocoo()
    order = np.lexsort((coo.col, coo.row))
    np.testing.assert_array_equal(d.sample_users, coo.row[order])
    np.testing.assert_array_equal(d.sample_items, coo.col[order])
    np.testing.assert_array_equal(d.sample_values, coo.data[order])
    np.testing.assert_array_equal(d.interactions.toarray(), X.toarray())
    np.testing.assert_array_equal(d.user_ids, np.arange(nu))
    np.testing.assert_array_equal(d.item_ids, np.arange(ni))
    # the same layout as the hand-made designs of the model tests
    if identity:
        ref = design_from_pairs(d.sample_users, d.sample_items, nu, ni, user_attrs=uf,
                                item_attrs=IFd)
        assert (d.user_features != ref.user_features).nnz == 0
        assert (d.item_features != ref.item_features).nnz == 0


def test_fm_fits_a_matrices_design_and_scores_as_the_double_sum():
    X, UF, IF = _data(1)
    d = Design.from_matrices(X, user_features=sp.csr_matrix(UF), item_features=IF.toarray())
    fm = FactorizationMachine(n_factors=4, n_epochs=3, random_state=0, n_threads=1).fit(d)
    rows = d.full_rows()
    got = fm.predict(rows)
    dense = rows.toarray().astype(np.float64)
    w0, w, V = float(fm.w0_), fm.w_.astype(np.float64), fm.V_.astype(np.float64)
    for s in range(len(dense)):
        x = dense[s]
        ref = w0 + float(w @ x)
        nz = np.flatnonzero(x)
        for p in range(len(nz)):
            for q in range(p + 1, len(nz)):
                j, k = nz[p], nz[q]
                ref += float(V[j] @ V[k]) * x[j] * x[k]
        assert got[s] == pytest.approx(ref, rel=1e-4, abs=1e-4)


def _frames_and_matrices(seed=3, n_users=12, n_items=10):
    rng = np.random.default_rng(seed)
    # every user and item interacts, so the frame and the matrix have the same rows
    users = np.concatenate([np.arange(n_users), rng.integers(0, n_users, 40)])
    items = np.concatenate([rng.integers(0, n_items, n_users), rng.integers(0, n_items, 40)])
    items[:n_items] = np.arange(n_items)
    key = np.unique(users * n_items + items)
    u, i = key // n_items, key % n_items  # row-major, as the matrix's samples
    train = pd.DataFrame({"user_id": u, "item_id": i})
    genres = np.array(["a", "b", "c"])[rng.integers(0, 3, n_items)]
    genres[:3] = ["a", "b", "c"]
    items_frame = pd.DataFrame({"item_id": np.arange(n_items), "genre": genres})
    X = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(n_users, n_items))
    # the builder's genre columns: a, b, c, then <unknown> and <missing> (never set)
    onehot = np.zeros((n_items, 5), np.float32)
    onehot[np.arange(n_items), pd.Index(["a", "b", "c"]).get_indexer(genres)] = 1.0
    return train, items_frame, X, onehot


def test_recommender_from_matrices_equals_the_frames_fit():
    train, items_frame, X, onehot = _frames_and_matrices()
    model = FactorizationMachine(n_factors=4, n_epochs=4, random_state=7, n_threads=1)
    by_frames = FMRecommender(builder=FeatureBuilder(item_features=[Categorical("genre")]),
                              model=model).fit(train, items=items_frame)
    by_matrices = FMRecommender(model=model).fit(X, item_features=sp.csr_matrix(onehot))
    # identical column layouts: the same design, hence the same training run
    bf, bm = by_frames.builder_, by_matrices.builder_
    users, items = np.arange(X.shape[0]), np.arange(X.shape[1])
    assert (bf.user_rows(users) != bm.user_rows(users)).nnz == 0
    assert (bf.item_rows(items) != bm.item_rows(items)).nnz == 0
    np.testing.assert_array_equal(by_frames.model_.V_, by_matrices.model_.V_)
    pd.testing.assert_frame_equal(by_frames.recommend_all(n=5), by_matrices.recommend_all(n=5))
    u, i = np.repeat(users, len(items)), np.tile(items, len(users))
    np.testing.assert_array_equal(by_frames.score(u, i), by_matrices.score(u, i))


def test_recommender_from_matrices_with_ids_and_refusals(tmp_path):
    X, UF, IF = _data(2)
    uids = np.array([f"u{j}" for j in range(X.shape[0])])
    iids = np.arange(X.shape[1]) * 10
    rec = FMRecommender(model=FactorizationMachine(n_factors=3, n_epochs=2, random_state=0,
                                                   n_threads=1))
    rec.fit(X, user_features=UF, item_features=IF, user_ids=uids, item_ids=iids)
    out = rec.recommend(["u1", "u4"], n=3)
    assert set(out["user_id"]) == {"u1", "u4"} and set(out["item_id"]) <= set(iids)
    # the reported score is the model's score of that (user, item)
    first = out.iloc[0]
    assert rec.score([first["user_id"]], [first["item_id"]])[0] == pytest.approx(first["score"], abs=1e-4)
    seen = set(iids[X[1].indices])
    assert not seen & set(out.loc[out["user_id"] == "u1", "item_id"])
    assert len(rec.explain("u1", iids[0])) > 1
    # saved and loaded like any model: same lists, scores and explanations
    rec.save(tmp_path / "m")
    back = FMRecommender.load(tmp_path / "m")
    pd.testing.assert_frame_equal(back.recommend_all(n=3), rec.recommend_all(n=3))
    np.testing.assert_array_equal(back.score(["u1"], [iids[0]]), rec.score(["u1"], [iids[0]]))
    pd.testing.assert_frame_equal(back.explain("u1", iids[0]), rec.explain("u1", iids[0]))
    with pytest.raises(DataError, match="users="):
        rec.recommend(["new"], users=pd.DataFrame({"user_id": ["new"]}))
    with pytest.raises(KeyError, match="not seen in training"):
        rec.recommend(["nobody"])
    with pytest.raises(DataError, match="validation"):
        FMRecommender().fit(X, item_features=IF, validation=0.2)
    with pytest.raises(DataError, match="builder"):
        FMRecommender(builder="auto").fit(X, item_features=IF)


def test_saved_matrices_model_refuses_a_damaged_layout_or_missing_matrices(tmp_path):
    import json
    import zipfile

    X, UF, IF = _data(3)
    rec = FMRecommender(model=FactorizationMachine(n_factors=3, n_epochs=1, random_state=0,
                                                   n_threads=1))
    rec.fit(X, user_features=UF, item_features=IF).save(tmp_path / "m")
    meta_path = tmp_path / "m" / "recfm.json"
    meta = json.loads(meta_path.read_text())
    good = meta["state"]["builder"]["layout"]
    meta["state"]["builder"]["layout"] = {**good, "item_identity": good["user_features"] - 1}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="layout"):
        FMRecommender.load(tmp_path / "m")
    meta["state"]["builder"]["layout"] = good
    meta_path.write_text(json.dumps(meta))
    FMRecommender.load(tmp_path / "m")  # restored: loads again
    arrays = tmp_path / "m" / meta["arrays_file"]
    kept = {}
    with zipfile.ZipFile(arrays) as zf:
        for name in zf.namelist():
            if not name.startswith("item_features_indices"):
                kept[name] = zf.read(name)
    with zipfile.ZipFile(arrays, "w") as zf:
        for name, raw in kept.items():
            zf.writestr(name, raw)
    with pytest.raises(ValueError, match="item_features_indices"):
        FMRecommender.load(tmp_path / "m")


@pytest.mark.parametrize("kwargs, match", [
    (dict(user_features=np.ones((3, 2))), "user_features has 3 rows but interactions has 9"),
    (dict(item_features=np.ones((8, 2))), "item_features has 8 rows but interactions has 7"),
    (dict(item_features=np.full((7, 2), np.nan)), "item_features holds NaN"),
    (dict(user_features=sp.csr_matrix(np.array([[np.inf]] * 9))), "user_features holds NaN"),
    (dict(item_features=np.array([["x"]] * 7)), "item_features must hold real numbers"),
    (dict(item_features=np.ones(7)), "item_features must be 2-D"),
    (dict(user_ids=np.arange(4)), "user_ids has shape"),
    (dict(item_ids=np.zeros(7)), "item_ids holds repeated ids"),
    (dict(identity=False), "item side has no columns"),
])
def test_bad_input_names_the_argument(kwargs, match):
    X, _, _ = _data()
    with pytest.raises(DataError, match=match):
        Design.from_matrices(X, **kwargs)


def test_bad_interactions():
    X, _, _ = _data()
    with pytest.raises(DataError, match="interactions must be a scipy.sparse"):
        Design.from_matrices(X.toarray())
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(DataError, match="interactions holds NaN"):
        Design.from_matrices(bad)
