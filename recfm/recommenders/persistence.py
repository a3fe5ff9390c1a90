"""Saving and loading an :class:`FMRecommender`: a directory, JSON + npz, no pickle.

Format (version 1), a directory holding two files:

``recfm.json``
    ``{"format": "recfm.FMRecommender", "version": 1, "recfm_version": ...,
    "recommender": {min_rating, block_size}, "model": {FactorizationMachine params},
    "builder": FeatureBuilder.get_state(), "item_ids": [...], "user_ids": [...],
    "history": {...}}``
``arrays.npz`` (``allow_pickle=False``)
    ``w0, w, V`` (the FM), ``grad_sq_w0, grad_sq_w, grad_sq_V`` (Adagrad state, so
    ``partial_fit`` can go on), ``item_vectors`` (the folded catalogue, including items
    added with ``add_items``), ``seen_indptr, seen_indices, seen_shape``.

The directory is written beside its target under a temporary name and renamed into place,
so a crash never leaves half a model where a good one was; an existing path is replaced
only with ``overwrite=True``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:  # pragma: no cover
    from .fm import FMRecommender

FORMAT = "recfm.FMRecommender"
VERSION = 1
META_FILE = "recfm.json"
ARRAYS_FILE = "arrays.npz"


def save_fm_recommender(rec: FMRecommender, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a fitted recommender to the directory ``path`` (see the module docstring)."""
    from .. import __version__
    from .._utils import check_is_fitted, plain_list

    check_is_fitted(rec, "seen_")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if path.exists() and not (path / META_FILE).exists():
        # never delete a directory that is not a saved model, even with overwrite=True
        raise FileExistsError(f"{path} exists and is not a saved recfm model; refusing to replace it")
    model = rec.model_
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "recfm_version": __version__,
        "recommender": {"min_rating": rec.min_rating, "block_size": rec.block_size},
        "model": model.get_params(),
        "builder": rec.builder_.get_state(),
        "user_ids": plain_list(rec.user_ids_),
        "item_ids": plain_list(rec.item_ids_),
        "history": {k: [float(x) for x in v] for k, v in getattr(model, "history_", {}).items()},
        "n_epochs_trained": int(getattr(model, "n_epochs_", 0)),
        "best_epoch": getattr(model, "best_epoch_", None),
    }
    if not isinstance(meta["model"].get("random_state"), (int, type(None))):
        meta["model"]["random_state"] = None
    arrays = {
        "w0": np.float64(model.w0_),
        "w": model.w_,
        "V": model.V_,
        "item_vectors": rec.item_vectors_,
        "seen_indptr": rec.seen_.indptr,
        "seen_indices": rec.seen_.indices,
        "seen_shape": np.asarray(rec.seen_.shape, dtype=np.int64),
    }
    for name in ("grad_sq_w0_", "grad_sq_w_", "grad_sq_V_"):
        value = getattr(model, name, None)
        if value is not None:
            arrays[name.rstrip("_")] = np.asarray(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        np.savez(tmp / ARRAYS_FILE, **arrays)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_fm_recommender(path: str | os.PathLike) -> FMRecommender:
    """Read a recommender written by :func:`save_fm_recommender`.

    Raises
    ------
    FileNotFoundError
        ``path`` or one of its files is missing.
    ValueError
        The files are not a recfm model, are corrupt, or come from a newer format.
    """
    from ..features import FeatureBuilder
    from ..model import FactorizationMachine
    from .fm import FMRecommender

    path = Path(path)
    meta_path, arrays_path = path / META_FILE, path / ARRAYS_FILE
    for f in (meta_path, arrays_path):
        if not f.exists():
            raise FileNotFoundError(f"{f} not found: {path} is not a saved recfm model")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{meta_path} is corrupt: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path} is not a saved FMRecommender (format tag missing)")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(
            f"{meta_path} has format version {version!r}, newer than this recfm reads "
            f"({VERSION}); upgrade recfm to load it"
        )
    try:
        with np.load(arrays_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile/numpy raise many types for damaged files
        raise ValueError(f"{arrays_path} is corrupt: {exc}") from None
    required = ("w0", "w", "V", "item_vectors", "seen_indptr", "seen_indices", "seen_shape")
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{arrays_path} is corrupt: missing arrays {missing}")

    model = FactorizationMachine(**meta["model"])
    model.w0_ = float(arrays["w0"])
    model.w_ = np.ascontiguousarray(arrays["w"], dtype=np.float32)
    model.V_ = np.ascontiguousarray(arrays["V"], dtype=np.float32)
    model.n_features_ = int(model.V_.shape[0])
    model.history_ = {k: list(v) for k, v in meta.get("history", {}).items()}
    model.grad_sq_w0_ = float(arrays["grad_sq_w0"]) if "grad_sq_w0" in arrays else None
    model.grad_sq_w_ = arrays.get("grad_sq_w")
    model.grad_sq_V_ = arrays.get("grad_sq_V")
    model.n_epochs_ = int(meta.get("n_epochs_trained", 0))
    model.best_epoch_ = meta.get("best_epoch")
    model._rng = np.random.default_rng(meta["model"].get("random_state"))

    builder = FeatureBuilder.from_state(meta["builder"])
    rec = FMRecommender(model=FactorizationMachine(**meta["model"]), **meta["recommender"])
    rec.builder = FeatureBuilder(**builder.get_params())
    shape = tuple(int(s) for s in arrays["seen_shape"])
    indices = arrays["seen_indices"]
    seen = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, arrays["seen_indptr"]), shape=shape
    )
    rec.builder_ = builder
    rec.model_ = model
    rec.user_ids_ = pd.Index(meta["user_ids"])
    rec.item_ids_ = pd.Index(meta["item_ids"])
    rec.seen_ = seen
    rec.item_vectors_ = np.ascontiguousarray(arrays["item_vectors"], dtype=np.float32)
    n_users, n_items = len(rec.user_ids_), len(rec.item_ids_)
    if rec.item_vectors_.shape[0] != n_items or seen.shape != (n_users, n_items):
        raise ValueError(f"{path} is corrupt: array shapes disagree with the id lists")
    return rec
