"""Saving and loading every recommender: one format, crash and concurrency safety, tampering.

The models are small (the 300-user sample, few factors and epochs), so the file stays fast;
the crash and concurrency tests fork processes that only save and load.
"""
from __future__ import annotations

import io
import json
import multiprocessing
import os
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recfm import _files
from recfm.datasets import load_sample
from recfm.model import FactorizationMachine
from recfm.recommenders import (
    EASE,
    FMRecommender,
    ImplicitALS,
    ImplicitBPR,
    ItemKNN,
    Popularity,
    load,
    persistence,
)

FACTORIES = {
    "Popularity": lambda: Popularity(),
    "ImplicitALS": lambda: ImplicitALS(factors=6, iterations=2, n_threads=1),
    "ImplicitBPR": lambda: ImplicitBPR(factors=6, iterations=3, n_threads=1),
    "EASE": lambda: EASE(l2=50.0, n_threads=1),
    "ItemKNN": lambda: ItemKNN(n_neighbors=10, n_threads=1),
    "FMRecommender": lambda: FMRecommender(
        builder="auto", model=FactorizationMachine(n_factors=4, n_epochs=2, n_threads=1, random_state=0)
    ),
}


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def fitted(sample):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit's BLAS advice
        for name, make in FACTORIES.items():
            out[name] = make().fit(sample.interactions, sample.users, sample.items)
    return out


def _recs(rec, n=8):
    return rec.recommend(rec.user_ids_[:15], n=n)


def _arrays_file(path: Path) -> Path:
    return path / json.loads((path / "recfm.json").read_text())["arrays_file"]


def _own_files(path: Path) -> list[str]:
    return sorted(n for n in os.listdir(path) if n == "recfm.json" or n.startswith(("arrays", ".")))


# ------------------------------------------------------------------ one format for all
@pytest.mark.parametrize("name", list(FACTORIES))
def test_every_recommender_round_trips(fitted, tmp_path, name):
    rec = fitted[name]
    path = rec.save(tmp_path / "m")
    loaded = load(path)
    assert type(loaded) is type(rec)
    assert type(rec).load(path).get_params(deep=False).keys() == rec.get_params(deep=False).keys()
    pd.testing.assert_frame_equal(_recs(loaded), _recs(rec))
    pd.testing.assert_index_equal(loaded.item_ids_, rec.item_ids_)
    assert (loaded.seen_ != rec.seen_).nnz == 0
    meta = json.loads((path / "recfm.json").read_text())
    assert meta["class"] == name and meta["format"] == "recfm.model"
    with zipfile.ZipFile(_arrays_file(path)) as zf:  # no pickled member anywhere
        assert all(i.filename.endswith(".npy") for i in zf.infolist())


def test_load_checks_the_class(fitted, tmp_path):
    fitted["EASE"].save(tmp_path / "ease")
    with pytest.raises(ValueError, match="holds a saved EASE, not a FMRecommender"):
        FMRecommender.load(tmp_path / "ease")
    meta = json.loads((tmp_path / "ease" / "recfm.json").read_text())
    meta["class"] = "os.system"
    (tmp_path / "ease" / "recfm.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="names class 'os.system', which is not one of recfm's"):
        load(tmp_path / "ease")


def test_loaded_ease_and_fm_keep_their_fitted_details(fitted, tmp_path):
    ease = load(fitted["EASE"].save(tmp_path / "e"))
    assert ease.l2_ == fitted["EASE"].l2_ and ease.l2_scores_ == fitted["EASE"].l2_scores_
    fm = load(fitted["FMRecommender"].save(tmp_path / "f"))
    assert fm.model_.n_epochs_ == 2 and fm.model_.history_ == fitted["FMRecommender"].model_.history_
    np.testing.assert_array_equal(fm.model_.grad_sq_V_, fitted["FMRecommender"].model_.grad_sq_V_)


# ------------------------------------------------------------------ 1. foreign files
def test_overwrite_keeps_files_recfm_did_not_write(fitted, tmp_path):
    path = tmp_path / "model"
    fitted["Popularity"].save(path)
    (path / "notes").mkdir()
    (path / "notes" / "todo.txt").write_text("retrain weekly\n")
    (path / "train.py").write_text("print('hi')\n")
    fitted["EASE"].save(path, overwrite=True)
    assert (path / "notes" / "todo.txt").read_text() == "retrain weekly\n"
    assert (path / "train.py").read_text() == "print('hi')\n"
    assert isinstance(load(path), EASE)
    assert len([n for n in os.listdir(path) if n.startswith("arrays")]) == 1


def test_a_folder_that_is_not_a_model_is_refused_naming_a_file(fitted, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="not a saved recfm model \\(it holds 'cat.jpg'\\)"):
            fitted["Popularity"].save(other, overwrite=overwrite)
    assert os.listdir(other) == ["cat.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    fitted["Popularity"].save(empty)  # an empty folder holds nothing to lose
    assert isinstance(load(empty), Popularity)


# ------------------------------------------------------------------ 2. crashes
def _killed_save(rec, path, overwrite, step, conn):
    """Child process: save, but die (no cleanup at all) at the ``step``-th file operation."""
    calls = {"n": 0}

    def dying(real):
        def op(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == step:
                os._exit(17)
            return real(*args, **kwargs)
        return op

    for name in ("replace", "rename", "link", "unlink", "rmdir"):
        setattr(os, name, dying(getattr(os, name)))
    rec.save(path, overwrite=overwrite)
    conn.send(calls["n"])
    os._exit(0)


def _run_killed(rec, path, overwrite, step) -> int:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_killed_save, args=(rec, path, overwrite, step, child))
    p.start()
    p.join(60)
    return p.exitcode


@pytest.mark.parametrize("existing", [True, False])
def test_a_save_killed_at_any_step_leaves_the_old_or_the_new_model(fitted, tmp_path, existing,
                                                                   monkeypatch):
    monkeypatch.setattr(_files, "STALE_SECONDS", 0.0)
    old, new = fitted["Popularity"], fitted["ItemKNN"]
    step, killed = 1, 0
    while True:
        path = tmp_path / f"m{step}"
        if existing:
            old.save(path)
        code = _run_killed(new, path, overwrite=True, step=step)
        if code == 0:
            break  # the save got through every step
        assert code == 17
        killed += 1
        if existing or path.exists():
            got = load(path)
            assert type(got) in (Popularity, ItemKNN)
            expected = old if type(got) is Popularity else new
            pd.testing.assert_frame_equal(_recs(got), _recs(expected))
        # the next save cleans every leftover of the killed one
        new.save(path, overwrite=True)
        assert _own_files(path) == sorted(["recfm.json", _arrays_file(path).name])
        assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []
        pd.testing.assert_frame_equal(_recs(load(path)), _recs(new))
        step += 1
    assert killed >= (4 if existing else 1)  # the kill really happened, at every step


def test_a_failing_rename_leaves_the_old_model_and_no_debris(fitted, tmp_path, monkeypatch):
    path = tmp_path / "m"
    fitted["Popularity"].save(path)
    real_replace, real_link = os.replace, os.link
    for fail_at in (1, 2):  # the arrays file's rename (a link), the manifest's
        calls = {"n": 0}

        def failing(real, _fail_at=fail_at, calls=calls):
            def op(*args, **kwargs):
                calls["n"] += 1
                if calls["n"] == _fail_at:
                    raise OSError(28, "No space left on device")
                return real(*args, **kwargs)
            return op

        monkeypatch.setattr(os, "replace", failing(real_replace))
        monkeypatch.setattr(os, "link", failing(real_link))
        with pytest.raises(OSError, match="No space left"):
            fitted["EASE"].save(path, overwrite=True)
        monkeypatch.setattr(os, "replace", real_replace)
        monkeypatch.setattr(os, "link", real_link)
        assert isinstance(load(path), Popularity)
        assert _own_files(path) == sorted(["recfm.json", _arrays_file(path).name])


def _save_many(models, path, n, conn):
    try:
        for i in range(n):
            models[i % len(models)].save(path, overwrite=True)
        conn.send("ok")
    except BaseException as exc:  # report, the parent asserts
        conn.send(repr(exc))


def _load_many(path, n, conn):
    try:
        for _ in range(n):
            load(path)
        conn.send("ok")
    except BaseException as exc:
        conn.send(repr(exc))


def test_concurrent_saves_and_loads_all_succeed_and_leave_no_debris(fitted, tmp_path):
    path = tmp_path / "shared"
    models = [fitted["Popularity"], fitted["ItemKNN"], fitted["ImplicitALS"]]
    ctx = multiprocessing.get_context("fork")
    procs = []
    for k in range(4):
        parent, child = ctx.Pipe()
        order = models[k:] + models[:k]
        procs.append((ctx.Process(target=_save_many, args=(order, path, 12, child)), parent))
    for _ in range(2):
        parent, child = ctx.Pipe()
        procs.append((ctx.Process(target=_load_many, args=(path, 25, child)), parent))
    models[0].save(path)  # the loaders need a model from the start
    for p, _ in procs:
        p.start()
    results = []
    for p, conn in procs:
        p.join(120)
        results.append(conn.recv() if conn.poll() else f"exit {p.exitcode}")
    assert results == ["ok"] * len(procs)
    assert _own_files(path) == sorted(["recfm.json", _arrays_file(path).name])
    assert os.listdir(tmp_path) == ["shared"]
    assert type(load(path)) in (Popularity, ItemKNN, ImplicitALS)


def test_stale_leftovers_do_not_block_and_are_removed(fitted, tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "STALE_SECONDS", 0.0)
    path = tmp_path / "m"
    fitted["Popularity"].save(path)
    # what older saves could leave: recfm 0.1's .NAME.old, a killed new-folder save,
    # a temporary file and an unreferenced arrays file inside the folder
    legacy = tmp_path / ".m.old"
    legacy.mkdir()
    (legacy / "recfm.json").write_text("{}")
    (legacy / "arrays.npz").write_bytes(b"")
    (tmp_path / ".m.recfm-new-abcd1234").mkdir()
    (path / ".recfm.json.abcd1234.tmp").write_text("{")
    (path / ("arrays-" + "0" * 32 + ".npz")).write_bytes(b"x")
    fitted["EASE"].save(path, overwrite=True)
    assert os.listdir(tmp_path) == ["m"]
    assert _own_files(path) == sorted(["recfm.json", _arrays_file(path).name])


# ------------------------------------------------------------------ 4. tampered arrays
def _rewrite_member(path: Path, member: str, value) -> None:
    f = _arrays_file(path)
    with np.load(f) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if value is None:
        del arrays[member]
    else:
        arrays[member] = value
    with open(f, "wb") as fh:
        np.savez(fh, **arrays)


def _member(path: Path, member: str) -> np.ndarray:
    with np.load(_arrays_file(path)) as npz:
        return npz[member]


def _bad_indptr(indptr):
    bad = indptr.copy()
    bad[5] = bad[7] + 1000  # no longer monotone
    return bad


TAMPERINGS = [
    ("FMRecommender", "seen_indptr", _bad_indptr, "'seen_indptr' must start at 0, never decrease"),
    ("FMRecommender", "seen_indptr", lambda a: a[:-1], "'seen_indptr' has shape"),
    ("FMRecommender", "seen_indptr", lambda a: np.r_[a[:-1], a[-1] + 5].astype(a.dtype),
     "end at the number of indices"),
    ("FMRecommender", "seen_indices", lambda a: np.where(np.arange(len(a)) == 3, 10**6, a).astype(a.dtype),
     "'seen_indices' holds column indices outside"),
    ("FMRecommender", "seen_indices", lambda a: a[::-1].copy(), "not strictly increasing"),
    ("FMRecommender", "V", lambda a: a[:, :3].copy(), "array 'V' has shape"),
    ("FMRecommender", "w", lambda a: a.astype(np.float64), "array 'w' has dtype float64, expected float32"),
    ("FMRecommender", "item_vectors", lambda a: np.where(a == a.flat[0], np.nan, a).astype(np.float32),
     "'item_vectors' holds NaN"),
    ("FMRecommender", "grad_sq_V", lambda a: -a, "'grad_sq_V' holds values below 0"),
    ("FMRecommender", "w", lambda a: None, "missing array(s) ['w']"),
    ("EASE", "B_", lambda a: a[:-1], "array 'B_' has shape"),
    ("ItemKNN", "similarity_indptr", _bad_indptr, "'similarity_indptr' must start at 0"),
    ("ItemKNN", "similarity_data", lambda a: a[:-1], "'similarity_data' and 'similarity_indices' have "
     "different lengths"),
    ("ImplicitALS", "item_factors", lambda a: a[:, :2].copy(), "array 'item_factors' has shape"),
    ("Popularity", "item_popularity_", lambda a: np.array(["x"] * len(a), dtype=object), "bad npy header"),
    ("Popularity", "extra", lambda a: np.zeros(3), "unexpected member 'extra.npy'"),
]


@pytest.mark.parametrize("name,member,change,message", TAMPERINGS)
def test_tampered_arrays_are_refused_naming_the_array(fitted, tmp_path, name, member, change, message):
    path = fitted[name].save(tmp_path / "m")
    current = _member(path, member) if member != "extra" else None
    if member == "item_popularity_":
        # an object array needs pickle: write it by hand as numpy would
        f = _arrays_file(path)
        with np.load(f) as npz:
            arrays = {k: npz[k] for k in npz.files}
        buf = io.BytesIO()
        np.save(buf, change(current), allow_pickle=True)
        with zipfile.ZipFile(f, "w") as zf:
            for k, v in arrays.items():
                if k != member:
                    b = io.BytesIO()
                    np.save(b, v)
                    zf.writestr(k + ".npy", b.getvalue())
            zf.writestr(member + ".npy", buf.getvalue())
    else:
        _rewrite_member(path, member, change(current))
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")
                       .replace("[", "\\[").replace("]", "\\]")):
        load(path)


def test_tampered_manifest_is_refused(fitted, tmp_path):
    path = fitted["FMRecommender"].save(tmp_path / "m")
    meta_path = path / "recfm.json"
    good = json.loads(meta_path.read_text())

    def check(change, message):
        meta = json.loads(json.dumps(good))
        change(meta)
        meta_path.write_text(json.dumps(meta))
        with pytest.raises(ValueError, match=message):
            load(path)

    check(lambda m: m["user_ids"].pop(), "'seen_indptr' has shape")
    check(lambda m: m["item_ids"].__setitem__(1, m["item_ids"][0]), "item_ids repeats")
    check(lambda m: m.__setitem__("arrays_file", "../../etc/passwd"), "arrays_file must be")
    check(lambda m: m["params"]["model"].__setitem__("n_factors", 5), "array 'V' has shape")
    check(lambda m: m["params"].__setitem__("evil", 1), "unknown parameter")
    field = next(f for f in good["state"]["builder"]["space"]["fields"] if f["value_columns"])
    check(lambda m: next(f for f in m["state"]["builder"]["space"]["fields"] if f["name"] == field["name"])
          ["value_columns"].__setitem__(0, 10**7), "has columns outside")


# ------------------------------------------------------------------ 5. unsafe files
def _load_in_thread(path):
    box = {}

    def target():
        try:
            load(path)
        except BaseException as exc:
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "load hung"
    return box.get("exc")


def test_links_leaving_the_folder_and_special_files_are_refused(fitted, tmp_path):
    path = fitted["Popularity"].save(tmp_path / "m")
    meta = path / "recfm.json"
    text = meta.read_text()
    meta.unlink()
    meta.symlink_to("/dev/zero")
    exc = _load_in_thread(path)
    assert isinstance(exc, ValueError) and "link leading out of" in str(exc)
    meta.unlink()
    (path / "real.json").write_text(text)
    meta.symlink_to("real.json")  # a link inside the folder is fine
    assert isinstance(load(path), Popularity)
    meta.unlink()
    os.mkfifo(meta)
    exc = _load_in_thread(path)
    assert isinstance(exc, ValueError) and "not a regular file" in str(exc)
    meta.unlink()
    meta.write_text(text)
    arrays = _arrays_file(path)
    arrays.unlink()
    os.mkfifo(arrays)
    exc = _load_in_thread(path)
    assert isinstance(exc, ValueError) and "not a regular file" in str(exc)


def test_oversized_manifest_is_refused(fitted, tmp_path, monkeypatch):
    path = fitted["Popularity"].save(tmp_path / "m")
    monkeypatch.setattr(persistence, "MAX_META_BYTES", 1000)
    with pytest.raises(ValueError, match="more than the 1,000 allowed"):
        load(path)


def test_a_small_npz_inflating_to_much_more_is_refused_before_reading(fitted, tmp_path):
    path = fitted["EASE"].save(tmp_path / "m")
    f = _arrays_file(path)
    with np.load(f) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["B_"] = np.zeros_like(arrays["B_"])  # 640 kB of zeros deflate ~1000:1
    with open(f, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    with pytest.raises(ValueError, match=r"member 'B_.npy' would inflate .*more than 100:1"):
        load(path)


def _write_version_1(rec, path: Path) -> None:
    """A folder as recfm 0.1's save_fm_recommender wrote it (format 1, arrays.npz)."""
    model = rec.model_
    path.mkdir()
    meta = {
        "format": "recfm.FMRecommender", "version": 1, "recfm_version": "0.1.0",
        "recommender": {"min_rating": rec.min_rating, "block_size": rec.block_size},
        "model": model.get_params(), "builder": rec.builder_.get_state(),
        "user_ids": [int(u) for u in rec.user_ids_], "item_ids": [int(i) for i in rec.item_ids_],
        "history": {k: [float(x) for x in v] for k, v in model.history_.items()},
        "n_epochs_trained": int(model.n_epochs_), "best_epoch": model.best_epoch_,
    }
    (path / "recfm.json").write_text(json.dumps(meta))
    np.savez(path / "arrays.npz", w0=np.float64(model.w0_), w=model.w_, V=model.V_,
             item_vectors=rec.item_vectors_, seen_indptr=rec.seen_.indptr,
             seen_indices=rec.seen_.indices, seen_shape=np.asarray(rec.seen_.shape, dtype=np.int64),
             grad_sq_w0=np.asarray(model.grad_sq_w0_), grad_sq_w=model.grad_sq_w_,
             grad_sq_V=model.grad_sq_V_)


def test_folders_of_format_1_still_load_and_are_replaced_cleanly(fitted, tmp_path):
    fm = fitted["FMRecommender"]
    path = tmp_path / "old"
    _write_version_1(fm, path)
    loaded = load(path)
    pd.testing.assert_frame_equal(_recs(loaded), _recs(fm))
    assert loaded.model_.grad_sq_w0_ == fm.model_.grad_sq_w0_
    loaded.save(path, overwrite=True)  # the format-1 arrays.npz goes with the old manifest
    assert _own_files(path) == sorted(["recfm.json", _arrays_file(path).name])
    _write_version_1(fm, tmp_path / "bad")
    with np.load(tmp_path / "bad" / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["seen_shape"] = np.array([3, 4], dtype=np.int64)
    np.savez(tmp_path / "bad" / "arrays.npz", **arrays)
    with pytest.raises(ValueError, match="'seen_shape' disagrees"):
        load(tmp_path / "bad")


def test_a_path_under_home_is_saved_and_loaded_there(tmp_path, monkeypatch):
    from recfm.datasets import load_sample
    from recfm.recommenders import Popularity, load

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    rec = Popularity().fit(load_sample().interactions)
    saved = rec.save("~/models/pop")
    assert saved == tmp_path / "home" / "models" / "pop" and (saved / "recfm.json").is_file()
    assert not (tmp_path / "~").exists()  # no folder named "~" in the working directory
    assert load("~/models/pop").recommend([1], n=3).equals(rec.recommend([1], n=3))
