"""Saving and loading every recfm recommender: a folder of JSON + npz, no pickle, checked on load.

Format (version 2)
------------------
A model folder holds two files that recfm writes:

``recfm.json`` (the manifest, at most :data:`MAX_META_BYTES`)
    ``{"format": "recfm.model", "version": 2, "recfm_version": ..., "class": "EASE",
    "params": {hyper-parameters}, "user_ids": [...], "item_ids": [...],
    "state": {fitted scalars}, "arrays_file": "arrays-<32 hex digits>.npz"}``
``arrays-<32 hex digits>.npz``
    numpy's npz (a zip of ``.npy`` members, stored uncompressed, no pickle): the seen
    items ``seen_indptr, seen_indices``, the items rated below ``min_rating``
    ``rated_below_indptr, rated_below_indices`` (only when there are some; folders saved
    before recfm kept them load with none) and the arrays the class declares.

Folders of format 1 (recfm 0.1's ``FMRecommender`` with ``arrays.npz``) are still read,
with the same checks; the next save to such a folder writes format 2.

What a class saves is declared, not coded per class: each :class:`~recfm.recommenders.base.Recommender`
lists its fitted arrays in ``_state_arrays`` (name -> :class:`Dense` or :class:`CSR`, with
the dtype and a shape written in named sizes such as ``("n_items", "n_factors")``) and its
fitted scalars in ``_state_scalars``; :func:`save_recommender` and :func:`load_recommender`
serve every class from that declaration. ``"class"`` is looked up in a fixed table of
recfm's own classes (:func:`saveable_classes`); nothing named in a file is ever imported.

Guarantees when saving
----------------------
* **Only recfm's files are replaced.** ``overwrite=True`` on a model folder replaces
  ``recfm.json`` and the arrays file; any other file in the folder (notes, scripts) is left
  as it was. A non-empty folder that holds no ``recfm.json`` is refused, naming one of its
  files.
* **Crash safety.** A new arrays file is written under a fresh name and fsynced; then
  ``recfm.json`` is replaced by one atomic rename (the commit point); only then are the
  arrays files it no longer names deleted. A process killed at any instant therefore
  leaves ``path`` loadable as the old model or as the new one. A new path is written as
  a hidden sibling folder and renamed into place, so it holds the complete model or
  nothing. Files a killed save left behind (unreferenced arrays files, temporary files,
  hidden ``.NAME.recfm-new-*`` siblings) are removed by the next save to the same path.
* **Concurrent saves** to one path are serialised by an ``fcntl`` lock on
  ``NAME/.recfm.lock`` (removed again when the save ends): the last writer wins, every
  save succeeds, and nothing is left over. A concurrent :func:`load_recommender` that
  meets a replaced arrays file reads the new manifest again.
* Files and folders get the permissions of the user's umask.

Guarantees when loading (a model folder is a file people share)
---------------------------------------------------------------
* ``recfm.json`` and the arrays file must be regular files inside the folder (no FIFO, no
  device, no symlink leading out); they are opened without blocking. ``recfm.json`` is
  read only up to :data:`MAX_META_BYTES`.
* Every npz member's npy header (dtype, shape) is checked against what ``recfm.json``
  implies (number of users and items, hyper-parameters), and the zip's declared sizes
  against the header, *before* its data is read; members must be stored or compressed
  at most :data:`MAX_COMPRESSION_RATIO` to 1, so a small file cannot inflate to gigabytes.
* Every array's values are checked before anything is built from them: finite floats,
  bounds, and for sparse matrices ``indptr`` starting at 0, non-decreasing and ending at
  ``nnz``, with column indices inside the shape and strictly increasing within each row.
  A tampered file gives a ``ValueError`` naming the file and the array.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._files import (
    atomic_file,
    check_dir_target,
    fsync_dir,
    open_regular,
    remove_stale,
    staging_dir,
)

if TYPE_CHECKING:  # pragma: no cover
    from .base import Recommender

FORMAT = "recfm.model"
VERSION = 2
META_FILE = "recfm.json"
LOCK_FILE = ".recfm.lock"
#: Largest ``recfm.json`` read (its id lists and feature vocabularies grow with the data).
MAX_META_BYTES = 256 * 2**20
#: Largest ratio of a member's uncompressed to compressed size (recfm writes them stored).
MAX_COMPRESSION_RATIO = 100
#: Largest npy header read from a member.
_MAX_HEADER = 2**16

_ARRAYS_NAME = re.compile(r"arrays-[0-9a-f]{32}\.npz")
# every name recfm writes in a model folder: the manifest, arrays files, their temporary
# files (atomic_file's ``.NAME.XXXXXXXX.tmp``) and the lock
_OWNED = re.compile(
    r"recfm\.json|arrays(-[0-9a-f]{32})?\.npz|\.recfm\.lock"
    r"|\.(recfm\.json|arrays(-[0-9a-f]{32})?\.npz)\.[A-Za-z0-9_]+\.tmp"
)
_INDEX_DTYPES = ("int32", "int64")


# -- declarations ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Dense:
    """A saved dense array: ``dtype`` (a numpy name) and ``shape`` (ints or named sizes).

    ``low`` is an inclusive lower bound on the values; float arrays must be finite.
    ``optional`` arrays may be absent (``None`` when saving).
    """

    dtype: str
    shape: tuple[int | str, ...]
    low: float | None = None
    optional: bool = False


@dataclass(frozen=True)
class CSR:
    """A saved ``scipy.sparse.csr_matrix`` of ``shape``, stored as ``NAME_indptr``,
    ``NAME_indices`` and (when ``values``) ``NAME_data`` (float32, finite); a binary matrix
    (``values=False``) is rebuilt with ones. ``optional`` matrices may be absent (``None``
    when saving, ``None`` again on load)."""

    shape: tuple[int | str, int | str]
    values: bool = True
    optional: bool = False


Spec = Dense | CSR


def saveable_classes() -> dict[str, type[Recommender]]:
    """The recommender classes a model folder may name, by class name (a fixed table)."""
    from .baselines import ImplicitALS, ImplicitBPR, Popularity
    from .ease import EASE
    from .fm import FMRecommender
    from .itemknn import ItemKNN

    return {c.__name__: c for c in (FMRecommender, Popularity, ImplicitALS, ImplicitBPR, EASE, ItemKNN)}


def _members(name: str, spec: Spec) -> list[str]:
    """npz member names of a declared array (``similarity_`` -> ``similarity_indptr``, ...)."""
    if isinstance(spec, Dense):
        return [name]
    stem = name.rstrip("_")
    return [f"{stem}_indptr", f"{stem}_indices"] + ([f"{stem}_data"] if spec.values else [])


def _all_specs(cls: type[Recommender]) -> dict[str, Spec]:
    # rated_below: absent when the model has none, and in folders saved before it existed
    return {"seen": CSR(("n_users", "n_items"), values=False),
            "rated_below": CSR(("n_users", "n_items"), values=False, optional=True),
            **cls._state_arrays}


# -- saving ---------------------------------------------------------------------------------
def _json_value(value: Any, what: str) -> Any:
    """``value`` as plain JSON (numpy scalars and tuples converted), or a TypeError naming ``what``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v, what) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, what) for k, v in value.items()}
    raise TypeError(f"{what} is a {type(value).__name__}, which a recfm model folder cannot hold")


def _serialise(rec: Recommender) -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest (without ``arrays_file``) and the npz members of a fitted recommender."""
    from .. import __version__
    from .._utils import check_is_fitted, plain_list

    check_is_fitted(rec, "seen_")
    cls = type(rec)
    if saveable_classes().get(cls.__name__) is not cls:
        raise TypeError(
            f"{cls.__name__} cannot be saved: only recfm's own recommenders "
            f"({', '.join(saveable_classes())}) have a saved format"
        )
    scalars, arrays = rec._get_state()
    arrays = {"seen": rec.seen_, "rated_below": getattr(rec, "rated_below_", None), **arrays}
    members: dict[str, np.ndarray] = {}
    for name, spec in _all_specs(cls).items():
        value = arrays.get(name)
        if value is None:
            if spec.optional:
                continue
            raise ValueError(f"{cls.__name__}: fitted array {name!r} is missing")
        if isinstance(spec, Dense):
            members[name] = np.ascontiguousarray(value)
        else:
            m = sp.csr_matrix(value)
            m.sort_indices()
            names = _members(name, spec)
            members[names[0]], members[names[1]] = m.indptr, m.indices
            if spec.values:
                members[names[2]] = np.ascontiguousarray(m.data, dtype=np.float32)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "recfm_version": __version__,
        "class": cls.__name__,
        "params": _json_value(rec._params_to_json(), f"{cls.__name__} parameters"),
        "user_ids": plain_list(rec.user_ids_),
        "item_ids": plain_list(rec.item_ids_),
        "state": _json_value(scalars, f"{cls.__name__} fitted state"),
    }
    # what is written is checked as a load would check it: never save a folder load refuses
    dims = _dims(rec, manifest, "the model being saved")
    for name, spec in _all_specs(cls).items():
        if not all(m in members for m in _members(name, spec)):
            continue
        parts = {m: members[m] for m in _members(name, spec)}
        for m, a in parts.items():
            _check_header(m, a.dtype, a.shape, spec, dims, "the model being saved")
        _check_values(name, spec, parts, dims, "the model being saved")
    return manifest, members


def check_save_target(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check, before any work, that a model may be saved at ``path``.

    Accepted: a missing path; an empty folder; a folder holding a saved model
    (``recfm.json``) when ``overwrite`` is true (its other files are kept). Refused:
    a file; a model folder without ``overwrite``; a folder holding files but no
    ``recfm.json`` (the message names one); a location that cannot be written.
    """
    path = Path(path).expanduser()
    if os.path.lexists(path) and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder; a model is saved as a folder")
    if path.is_dir():
        names = sorted(os.listdir(path))
        if META_FILE in names:
            if not overwrite:
                raise FileExistsError(
                    f"{path} holds a saved model; pass overwrite=True (--overwrite) to replace it"
                )
        else:
            foreign = [n for n in names if not _OWNED.fullmatch(n)]
            if foreign:
                raise FileExistsError(
                    f"{path} exists and is not a saved recfm model (it holds {foreign[0]!r}); "
                    "choose a new or empty folder"
                )
    check_dir_target(path, "model folder")
    return path


def save_recommender(rec: Recommender, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a fitted recommender to the folder ``path`` (format and guarantees: module docstring).

    Raises
    ------
    FileExistsError
        ``path`` holds a model and ``overwrite`` is false, or holds files that are not
        a model's, or is a file.
    recfm._utils.NotFittedError
        ``rec`` is not fitted.
    """
    manifest, members = _serialise(rec)  # everything in memory before the disk is touched
    path = check_save_target(path, overwrite)
    _remove_stale_siblings(path, overwrite)
    if not path.is_dir():
        try:
            _save_new(path, manifest, members)
            return path
        except FileExistsError:
            if not overwrite:
                raise
            # another process created it meanwhile: replace it in place, as asked
    with _folder_lock(path):
        check_save_target(path, overwrite)  # again, now that no other save can run here
        _save_into(path, manifest, members)
    return path


def _write_npz(target: Path, members: dict[str, np.ndarray]) -> None:
    with open(target, "wb") as fh:
        np.savez(fh, allow_pickle=False, **members)
        fh.flush()
        os.fsync(fh.fileno())


def _write_manifest(target: Path, manifest: dict) -> None:
    with open(target, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _save_new(path: Path, manifest: dict, members: dict[str, np.ndarray]) -> None:
    """Build the model in a hidden sibling folder and rename it to ``path``."""
    with staging_dir(path, "recfm-new") as tmp:
        arrays_file = f"arrays-{secrets.token_hex(16)}.npz"
        _write_npz(tmp / arrays_file, members)
        _write_manifest(tmp / META_FILE, {**manifest, "arrays_file": arrays_file})
        fsync_dir(tmp)
        try:
            os.rename(tmp, path)  # also replaces an empty folder that appeared meanwhile
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise FileExistsError(f"{path} was created by someone else while saving") from None
            raise
        fsync_dir(path.parent)


def _save_into(path: Path, manifest: dict, members: dict[str, np.ndarray]) -> None:
    """Replace the model in the existing folder ``path`` (the caller holds its lock)."""
    _remove_owned(path, keep=_current_arrays_file(path))  # leftovers of killed saves
    arrays_file = f"arrays-{secrets.token_hex(16)}.npz"
    with atomic_file(path / arrays_file) as tmp:
        _write_npz(tmp, members)
    try:
        with atomic_file(path / META_FILE, overwrite=True) as tmp:  # the commit point
            _write_manifest(tmp, {**manifest, "arrays_file": arrays_file})
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path / arrays_file)  # never referenced: the old model stays whole
        raise
    _remove_owned(path, keep=arrays_file)


def _current_arrays_file(path: Path) -> str | None:
    try:
        with open_regular(path / META_FILE, path, MAX_META_BYTES) as fh:
            name = json.loads(fh.read()).get("arrays_file", "arrays.npz")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def _remove_owned(path: Path, keep: str | None) -> None:
    """Delete the files recfm owns in a model folder except the manifest, ``keep`` and the lock."""
    for name in os.listdir(path):
        if name in (META_FILE, LOCK_FILE, keep) or not _OWNED.fullmatch(name):
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            os.unlink(path / name)
    fsync_dir(path)


def _remove_stale_siblings(path: Path, overwrite: bool) -> None:
    """Remove hidden siblings left by killed saves to ``path``.

    ``.NAME.recfm-new-*`` folders whose writer is gone are deleted (see
    :func:`recfm._files.remove_stale`). A ``.NAME.old`` folder left by recfm 0.1's
    two-rename overwrite is deleted on ``overwrite`` only, and only if it holds nothing but
    recfm's files.
    """
    remove_stale(path.parent, re.escape(f".{path.name}.recfm-new-") + r"[a-z0-9_]{8}")
    legacy = path.parent / f".{path.name}.old"
    if overwrite and legacy.is_dir() and not legacy.is_symlink():
        names = os.listdir(legacy)
        if names and all(_OWNED.fullmatch(n) for n in names):
            shutil.rmtree(legacy, ignore_errors=True)


@contextlib.contextmanager
def _folder_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path/.recfm.lock``; the file is removed on release.

    A waiter that obtains the lock on a lock file already unlinked by its previous holder
    sees that the path now names another file (or none) and tries again.
    """
    from .._files import fcntl, file_mode

    if fcntl is None:  # pragma: no cover - no advisory locks (Windows): saves do not take turns
        yield
        return
    lock = path / LOCK_FILE
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                current = os.stat(lock, follow_symlinks=False)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_ino, current.st_dev) == (st.st_ino, st.st_dev):
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


# -- loading --------------------------------------------------------------------------------
def load_recommender(path: str | os.PathLike, expected: type[Recommender] | None = None) -> Recommender:
    """Read a model folder written by :func:`save_recommender` (any recfm recommender).

    Parameters
    ----------
    path : str or path-like
        The model folder.
    expected : class, optional
        Refuse a folder holding another class (``FMRecommender.load`` passes itself).

    Raises
    ------
    FileNotFoundError
        ``path`` or one of its files is missing.
    ValueError
        The folder is not a recfm model, is damaged or tampered with (the message names
        the file and the array), or comes from a newer format.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        hint = ""
        if (path.parent / f".{path.name}.old").is_dir():
            hint = f"; an interrupted save of recfm 0.1 left the previous model at .{path.name}.old"
        if path.exists():
            raise FileNotFoundError(f"{path} is a file, not a saved recfm model folder (one "
                                    "written by recfm fit --out or a recommender's save())")
        raise FileNotFoundError(f"{path} not found: it is not a saved recfm model folder{hint}")
    meta_path = path / META_FILE
    for _attempt in range(20):
        raw = _read_meta(meta_path, path)
        manifest = _check_manifest(json_loads(raw, meta_path), meta_path)
        arrays_path = path / manifest["arrays_file"]
        try:
            fh = open_regular(arrays_path, path)
        except FileNotFoundError:
            if _read_meta(meta_path, path) != raw:
                continue  # a concurrent save replaced the model: read the new one
            raise FileNotFoundError(
                f"{arrays_path} not found: the model folder {path} is incomplete"
            ) from None
        break
    else:  # pragma: no cover - 20 saves in a row, each landing between two reads
        raise OSError(f"{path} kept changing while it was being loaded")

    cls = saveable_classes()[manifest["class"]]
    if expected is not None and not issubclass(cls, expected):
        fh.close()
        raise ValueError(
            f"{path} holds a saved {cls.__name__}, not a {expected.__name__}; "
            "load it with recfm.recommenders.load"
        )
    with fh:
        try:
            rec = cls._from_json_params(manifest["params"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{meta_path}: bad parameters for {cls.__name__}: {exc}") from None
        user_ids = _id_index(manifest, "user_ids", meta_path)
        item_ids = _id_index(manifest, "item_ids", meta_path)
        state = manifest["state"]
        rec.user_ids_, rec.item_ids_ = user_ids, item_ids
        dims = _dims(rec, manifest, meta_path)
        v1 = bool(manifest.get("_v1"))
        arrays = _read_arrays(fh, arrays_path, {**_all_specs(cls), **(_V1_SCALARS if v1 else {})}, dims)
    n_users, n_items = dims["n_users"], dims["n_items"]
    if v1:
        if tuple(arrays.pop("seen_shape").tolist()) != (n_users, n_items):
            raise ValueError(f"{arrays_path}: array 'seen_shape' disagrees with the id lists")
        state = {**state, "w0": float(arrays.pop("w0"))}
        if "grad_sq_w0" in arrays:
            state["grad_sq_w0"] = float(arrays.pop("grad_sq_w0"))
    indptr, indices = arrays.pop("seen_indptr"), arrays.pop("seen_indices")
    rec.seen_ = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(n_users, n_items)
    )
    rec.rated_below_ = None
    if "rated_below_indptr" in arrays:
        indptr, indices = arrays.pop("rated_below_indptr"), arrays.pop("rated_below_indices")
        rec.rated_below_ = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(n_users, n_items))
    values: dict[str, Any] = {}
    for name, spec in cls._state_arrays.items():
        if isinstance(spec, CSR):
            if spec.optional and _members(name, spec)[0] not in arrays:
                values[name] = None
                continue
            parts = [arrays.pop(m) for m in _members(name, spec)]
            data = parts[2] if spec.values else np.ones(len(parts[1]), np.float32)
            values[name] = sp.csr_matrix((data, parts[1], parts[0]), shape=_shape(spec.shape, dims))
        else:
            values[name] = arrays.pop(name, None)
    try:
        rec._set_state(state, values)
    except (TypeError, KeyError, AttributeError, ValueError, IndexError) as exc:
        raise ValueError(f"{meta_path}: bad fitted state for {cls.__name__}: {exc}") from None
    return rec


def json_loads(raw: bytes, where: Path) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{where} is corrupt: {exc}") from None


def _read_meta(meta_path: Path, root: Path) -> bytes:
    try:
        fh = open_regular(meta_path, root, MAX_META_BYTES)
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path} not found: {root} is not a saved recfm model") from None
    with fh:
        raw = fh.read(MAX_META_BYTES + 1)
    if len(raw) > MAX_META_BYTES:
        raise ValueError(f"{meta_path} is larger than the {MAX_META_BYTES:,} bytes allowed")
    return raw


def _check_manifest(meta: Any, meta_path: Path) -> dict:
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path} is not a saved recfm model (not a JSON object)")
    if meta.get("format") == "recfm.FMRecommender" and meta.get("version") == 1:
        meta = _from_version_1(meta, meta_path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path} is not a saved recfm model (format tag missing)")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 2:
        raise ValueError(f"{meta_path} has format version {version!r}; this recfm reads version {VERSION}")
    if version > VERSION:
        raise ValueError(
            f"{meta_path} has format version {version}, newer than this recfm reads "
            f"({VERSION}); upgrade recfm to load it"
        )
    classes = saveable_classes()
    if meta.get("class") not in classes:
        raise ValueError(
            f"{meta_path} names class {meta.get('class')!r}, which is not one of recfm's "
            f"recommenders ({', '.join(classes)})"
        )
    arrays_file = meta.get("arrays_file")
    if not isinstance(arrays_file, str) or not (
        _ARRAYS_NAME.fullmatch(arrays_file) or (meta.get("_v1") and arrays_file == "arrays.npz")
    ):
        raise ValueError(
            f"{meta_path}: arrays_file must be 'arrays-<32 hex digits>.npz'; got {arrays_file!r}"
        )
    for key, kind in (("params", dict), ("state", dict), ("user_ids", list), ("item_ids", list)):
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"{meta_path}: {key!r} is missing or not a JSON {kind.__name__}")
    return meta


#: Arrays of format 1 (FMRecommender only) that format 2 keeps in recfm.json's state.
_V1_SCALARS = {
    "w0": Dense("float64", ()),
    "grad_sq_w0": Dense("float64", (), low=0.0, optional=True),
    "seen_shape": Dense("int64", (2,), low=0.0),
}


def _from_version_1(meta: dict, meta_path: Path) -> dict:
    """Format 1 (recfm 0.1's FMRecommender folders, ``arrays.npz``) as a format-2 manifest.

    ``w0``, ``grad_sq_w0`` and ``seen_shape`` were arrays then; :func:`load_recommender`
    reads and checks them as declared in :data:`_V1_SCALARS` and moves them into the state.
    """
    try:
        params = {**dict(meta["recommender"]), "model": dict(meta["model"])}
        state = {"builder": meta["builder"], "w0": None, "grad_sq_w0": None,
                 "history": meta.get("history", {}), "n_epochs_trained": meta.get("n_epochs_trained", 0),
                 "best_epoch": meta.get("best_epoch")}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{meta_path} (format 1) is damaged: {exc!r}") from None
    return {"format": FORMAT, "version": VERSION, "class": "FMRecommender", "params": params,
            "user_ids": meta.get("user_ids"), "item_ids": meta.get("item_ids"), "state": state,
            "arrays_file": "arrays.npz", "_v1": True}


def _id_index(meta: dict, key: str, meta_path: Path) -> pd.Index:
    values = meta[key]
    bad = next((v for v in values if not isinstance(v, (str, int, float)) or isinstance(v, bool)), None)
    if bad is not None:
        raise ValueError(f"{meta_path}: {key} holds {bad!r}; ids are strings or numbers")
    index = pd.Index(values) if values else pd.Index([], dtype=object)
    if not index.is_unique:
        raise ValueError(f"{meta_path}: {key} repeats {index[index.duplicated()][0]!r}")
    return index


def _dims(rec: Recommender, manifest: dict, where: Any) -> dict[str, int]:
    dims = {"n_users": len(manifest["user_ids"]), "n_items": len(manifest["item_ids"])}
    try:
        extra = rec._state_dims(manifest["state"])
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        raise ValueError(f"{where}: bad fitted state for {type(rec).__name__}: {exc}") from None
    for k, v in extra.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{where}: size {k} must be a non-negative integer; got {v!r}")
    return {**dims, **extra}


def _shape(shape: tuple[int | str, ...], dims: dict[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else dims[d] for d in shape)


def _expected(member: str, spec: Spec, dims: dict[str, int]
              ) -> tuple[tuple[str, ...], tuple[int | None, ...]]:
    """Allowed dtypes and the shape (None: any length) of one npz member."""
    if isinstance(spec, Dense):
        return (spec.dtype,), _shape(spec.shape, dims)
    n_rows = _shape(spec.shape, dims)[0]
    if member.endswith("_indptr"):
        return _INDEX_DTYPES, (n_rows + 1,)
    if member.endswith("_indices"):
        return _INDEX_DTYPES, (None,)
    return ("float32",), (None,)


def _check_header(member: str, dtype: np.dtype, shape: tuple, spec: Spec, dims: dict[str, int],
                  where: Any) -> None:
    dtypes, want = _expected(member, spec, dims)
    if dtype.name not in dtypes or not (dtype.isnative or dtype.itemsize == 1):
        raise ValueError(f"{where}: array {member!r} has dtype {dtype}, expected {' or '.join(dtypes)}")
    if len(shape) != len(want) or any(w is not None and s != w for s, w in zip(shape, want, strict=True)):
        shown = tuple("nnz" if w is None else w for w in want)
        raise ValueError(f"{where}: array {member!r} has shape {tuple(shape)}, expected {shown}")


def _check_values(name: str, spec: Spec, parts: dict[str, np.ndarray], dims: dict[str, int],
                  where: Any) -> None:
    """Values of one declared array (its members in ``parts``): finite, bounds, CSR structure."""
    if isinstance(spec, Dense):
        a = parts[name]
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{where}: array {name!r} holds NaN or infinite values")
        if spec.low is not None and a.size and a.min() < spec.low:
            raise ValueError(f"{where}: array {name!r} holds values below {spec.low}")
        return
    n_rows, n_cols = _shape(spec.shape, dims)
    m_indptr, m_indices, *m_data = _members(name, spec)
    indptr, indices = parts[m_indptr], parts[m_indices]
    nnz = len(indices)
    if nnz > n_rows * n_cols:
        raise ValueError(f"{where}: array {m_indices!r} has {nnz} entries, more than {n_rows}x{n_cols}")
    if indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any():
        raise ValueError(
            f"{where}: array {m_indptr!r} must start at 0, never decrease and end at "
            f"the number of indices ({nnz})"
        )
    if nnz and (indices.min() < 0 or indices.max() >= n_cols):
        raise ValueError(f"{where}: array {m_indices!r} holds column indices outside [0, {n_cols})")
    if nnz > 1:
        step = np.diff(indices)
        new_row = np.zeros(nnz - 1, dtype=bool)
        starts = indptr[1:-1]
        starts = starts[(starts > 0) & (starts < nnz)]
        new_row[starts - 1] = True
        if (step[~new_row] <= 0).any():
            raise ValueError(f"{where}: array {m_indices!r} is not strictly increasing within a row")
    if spec.values:
        data = parts[m_data[0]]
        if len(data) != nnz:
            raise ValueError(f"{where}: array {m_data[0]!r} has {len(data)} values for {nnz} indices")
        if not np.isfinite(data).all():
            raise ValueError(f"{where}: array {m_data[0]!r} holds NaN or infinite values")


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(n + 64, dtype=np.uint8)
    off = -buf.ctypes.data % 64
    return buf[off:off + n].view(dtype).reshape(shape)


def _read_arrays(fh, arrays_path: Path, specs: dict[str, Spec], dims: dict[str, int]
                 ) -> dict[str, np.ndarray]:
    """Check every member's zip entry and npy header, then read and check the values."""
    where = arrays_path
    wanted = {m: (name, spec) for name, spec in specs.items() for m in _members(name, spec)}
    file_size = os.fstat(fh.fileno()).st_size
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{where} is not a valid npz file: {exc}") from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise ValueError(f"{where} holds a member name twice")
        by_member = {}
        for info in infos:
            member = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if member not in wanted:
                raise ValueError(f"{where} holds an unexpected member {info.filename!r}")
            by_member[member] = info
        missing = [m for m, (_, spec) in wanted.items() if m not in by_member and not spec.optional]
        # an optional matrix is there whole or not at all
        missing += [m for name, spec in specs.items() if spec.optional and not isinstance(spec, Dense)
                    and any(k in by_member for k in _members(name, spec))
                    for m in _members(name, spec) if m not in by_member]
        if missing:
            raise ValueError(f"{where} is missing array(s) {missing}")
        if sum(i.compress_size for i in infos) > file_size:
            raise ValueError(f"{where} declares members larger than the file")
        # pass 1: zip entries and npy headers only (nothing is allocated from the data yet)
        headers = {}
        for member, info in by_member.items():
            if info.flag_bits & 0x1:
                raise ValueError(f"{where}: member {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"{where}: member {info.filename!r} uses an unsupported compression")
            if info.file_size > MAX_COMPRESSION_RATIO * info.compress_size + 4096:
                raise ValueError(
                    f"{where}: member {info.filename!r} would inflate {info.compress_size:,} bytes to "
                    f"{info.file_size:,} (more than {MAX_COMPRESSION_RATIO}:1); refusing to read it"
                )
            try:
                with zf.open(info) as mf:
                    dtype, shape, offset = _read_npy_header(mf)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
                raise ValueError(f"{where}: array {member!r} has a bad npy header: {exc}") from None
            name, spec = wanted[member]
            _check_header(member, dtype, shape, spec, dims, where)
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if info.file_size != offset + nbytes:
                raise ValueError(
                    f"{where}: array {member!r} declares {info.file_size:,} bytes in the zip but "
                    f"{offset + nbytes:,} in its header"
                )
            headers[member] = (dtype, shape, offset)
        for name, spec in specs.items():  # CSR parts must agree before their data is read
            if isinstance(spec, CSR):
                parts = _members(name, spec)
                if parts[0] not in headers:  # an absent optional matrix
                    continue
                dtypes = {headers[m][0] for m in parts[:2]}
                if len(dtypes) != 1:
                    raise ValueError(f"{where}: {parts[0]!r} and {parts[1]!r} have different dtypes")
                if spec.values and headers[parts[2]][1] != headers[parts[1]][1]:
                    raise ValueError(f"{where}: {parts[2]!r} and {parts[1]!r} have different lengths")
        # pass 2: data
        arrays = {}
        for member, (dtype, shape, offset) in headers.items():
            out = _aligned_empty(shape, dtype)
            flat = out.reshape(-1).view(np.uint8)
            got = 0
            try:
                with zf.open(by_member[member]) as mf:
                    mf.read(offset)
                    while got < len(flat):  # in chunks: no second full-size copy
                        chunk = mf.read(min(len(flat) - got, 2**24))
                        if not chunk:
                            break
                        flat[got:got + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                        got += len(chunk)
            except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
                raise ValueError(f"{where}: array {member!r} cannot be read: {exc}") from None
            if got != len(flat):
                raise ValueError(f"{where}: array {member!r} is truncated")
            arrays[member] = out
    for name, spec in specs.items():
        present = {m: arrays[m] for m in _members(name, spec) if m in arrays}
        if present:
            _check_values(name, spec, present, dims, where)
    return arrays


def _read_npy_header(fp) -> tuple[np.dtype, tuple[int, ...], int]:
    """dtype, shape and data offset of an npy stream; object dtypes and Fortran order refused."""
    from numpy.lib import format as npy

    major, minor = npy.read_magic(fp)
    if (major, minor) == (1, 0):
        shape, fortran, dtype = npy.read_array_header_1_0(fp, max_header_size=_MAX_HEADER)
    elif (major, minor) in ((2, 0), (3, 0)):
        shape, fortran, dtype = npy.read_array_header_2_0(fp, max_header_size=_MAX_HEADER)
    else:
        raise ValueError(f"npy version {major}.{minor} is not supported")
    if fortran and len(shape) > 1:
        raise ValueError("Fortran-ordered arrays are not written by recfm")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"dtype {dtype} is not a plain numeric dtype")
    if any((not isinstance(s, int)) or s < 0 for s in shape):
        raise ValueError(f"shape {shape} is not valid")
    return dtype, tuple(shape), fp.tell()
