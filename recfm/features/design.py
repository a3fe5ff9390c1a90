"""The FM design: sparse matrices a :class:`FactorizationMachine` trains on.

One column space of ``n_features`` columns is shared by both sides of the FM:

* the **query side** q of a sample = ``user_features[u]`` (+ ``context[s]`` when present),
* the **item side** t of a sample = ``item_features[i]``.

The full FM row of sample ``s`` is ``x_s = q_s + t_s`` (the two sides never share a column).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._files import atomic_file
from .._utils import DataError

#: Samples formatted per block when writing text files (bounds the memory of the writer).
_WRITE_BLOCK = 131072


@dataclass
class Design:
    """Sparse FM design matrices for one set of interactions.

    Attributes
    ----------
    user_features : csr_matrix of shape (n_users, n_features), float32
        Query-side columns of each user (id one-hot and/or attributes).
    item_features : csr_matrix of shape (n_items, n_features), float32
        Item-side columns of each item (id one-hot and/or attributes).
    interactions : csr_matrix of shape (n_users, n_items), float32
        One stored entry per distinct (user, item) pair, sorted column indices; the value is
        1 for binary feedback or the pair's weight.
    sample_users, sample_items : ndarray of shape (n_samples,), int32
        Row of each training sample (one per interaction row given to ``transform``).
    sample_values : ndarray of shape (n_samples,), float32
        Target of each sample (the rating for explicit feedback, else 1).
    context : csr_matrix of shape (n_samples, n_features), float32, or None
        Query-side context columns of each sample.
    user_ids, item_ids : ndarray
        External id of each row (``user_ids[u]`` is the id of row ``u``).
    space : FeatureSpace or None
        The fitted feature space (names, fields, vocabularies); None for hand-made designs.
    history_columns : ndarray of shape (n_items,), int64, or None
        With a :class:`~recfm.features.History` field: the history column of each item row
        (-1 when the item is not in the log). A training sample leaves its target item's
        column out of its own user's history (see :meth:`query_rows`).
    history_rescale : ndarray of shape (n_users,), float32, or None
        Factor turning the weights of a history of n items into those of n - 1 items
        (``1/sqrt(n-1)`` over ``1/sqrt(n)`` by default; 0 when n <= 1), applied to the rest
        of the history when the target is left out.
    """

    user_features: sp.csr_matrix
    item_features: sp.csr_matrix
    interactions: sp.csr_matrix
    sample_users: np.ndarray
    sample_items: np.ndarray
    sample_values: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    context: sp.csr_matrix | None = None
    space: Any = None
    extra: dict = field(default_factory=dict)
    history_columns: np.ndarray | None = None
    history_rescale: np.ndarray | None = None

    @classmethod
    def from_matrices(
        cls,
        interactions: Any,
        user_features: Any = None,
        item_features: Any = None,
        user_ids: Any = None,
        item_ids: Any = None,
        identity: bool = True,
    ) -> Design:
        """Design of a users x items interaction matrix and LightFM-style feature matrices.

        The low-level path for data already held as matrices (as `implicit` and LightFM take
        it): no frames and no :class:`FeatureBuilder`. Every stored entry of
        ``interactions`` is one training sample, its value the target (``sample_values``:
        1 for binary feedback, else the rating or weight).

        The columns of the design are laid out in one disjoint column space::

            [ user identity | user features | item identity | item features ]
              n_users*        a               n_items*        b       (* if identity)

        so user ``u``'s row holds 1 in column ``u`` (with ``identity``) and
        ``user_features[u]`` in columns ``n_users .. n_users + a``, and item ``i``'s row
        holds 1 in column ``off_i + i`` (``off_i = n_users + a``, or ``a`` without identity)
        and ``item_features[i]`` after the item identity block. The offsets of the four
        blocks are in ``extra["layout"]``.

        Parameters
        ----------
        interactions : scipy.sparse matrix of shape (n_users, n_items)
            One stored entry per interaction (duplicates are summed).
        user_features : scipy.sparse matrix or ndarray of shape (n_users, a), optional
            Attributes of each user (row ``u`` = user ``u``); zeros are not stored.
        item_features : scipy.sparse matrix or ndarray of shape (n_items, b), optional
            Attributes of each item.
        user_ids, item_ids : array-like, optional
            External id of each row / column (unique); default the row / column numbers.
        identity : bool, default True
            Add one identity (one-hot id) column per user and per item, as LightFM does by
            default; without it, each side is described by its feature matrix alone.

        Returns
        -------
        Design
            With ``space=None`` and no context or history.

        Raises
        ------
        DataError
            A matrix of the wrong shape or kind, a non-numeric or non-finite value, an
            ids array of the wrong length or with repeats, or no item columns at all; the
            message names the argument at fault.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from recfm.features import Design
        >>> X = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
        >>> genres = sp.csr_matrix(np.eye(3, 2, dtype=np.float32))   # 3 items x 2 genres
        >>> d = Design.from_matrices(X, item_features=genres)
        >>> d.n_users, d.n_items, d.n_features, d.n_samples
        (2, 3, 7, 3)
        >>> d.item_features[2].indices.tolist()   # item 2: its identity column only
        [4]
        """
        if not sp.issparse(interactions):
            raise DataError(
                "interactions must be a scipy.sparse users x items matrix; "
                f"got {type(interactions).__name__}"
            )
        if not isinstance(identity, (bool, np.bool_)):
            raise DataError(f"identity must be True or False; got {identity!r}")
        inter = _numeric_csr(interactions, "interactions")
        inter.sum_duplicates()
        inter.sort_indices()
        n_users, n_items = inter.shape
        uf = None if user_features is None else _numeric_csr(user_features, "user_features")
        itf = None if item_features is None else _numeric_csr(item_features, "item_features")
        for m, n, what, of in ((uf, n_users, "user_features", "rows (users)"),
                               (itf, n_items, "item_features", "columns (items)")):
            if m is not None and m.shape[0] != n:
                raise DataError(
                    f"{what} has {m.shape[0]} rows but interactions has {n} {of}"
                )
        uids = _check_ids(user_ids, n_users, "user_ids")
        iids = _check_ids(item_ids, n_items, "item_ids")
        a = 0 if uf is None else uf.shape[1]
        b = 0 if itf is None else itf.shape[1]
        nu_id, ni_id = (n_users, n_items) if identity else (0, 0)
        if ni_id + b == 0:
            raise DataError(
                "the item side has no columns: give item_features or keep identity=True"
            )
        layout = {"user_identity": 0, "user_features": nu_id, "item_identity": nu_id + a,
                  "item_features": nu_id + a + ni_id, "n_features": nu_id + a + ni_id + b}
        n_features = layout["n_features"]

        def side(n: int, n_id: int, off_id: int, feats: sp.csr_matrix | None,
                 off_feat: int) -> sp.csr_matrix:
            blocks = [sp.csr_matrix((n, off_id), dtype=np.float32)]
            if n_id:
                blocks.append(sp.identity(n, dtype=np.float32, format="csr"))
            if feats is not None:
                blocks.append(feats)
            blocks.append(sp.csr_matrix((n, n_features - off_feat - (0 if feats is None
                                                                     else feats.shape[1])),
                                        dtype=np.float32))
            m = sp.hstack(blocks, format="csr", dtype=np.float32)
            m.eliminate_zeros()
            m.sort_indices()
            return m

        U = side(n_users, nu_id, 0, uf, layout["user_features"])
        Itm = side(n_items, ni_id, layout["item_identity"], itf, layout["item_features"])
        rows = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(inter.indptr))
        return cls(
            user_features=U,
            item_features=Itm,
            interactions=inter,
            sample_users=rows,
            sample_items=inter.indices.astype(np.int32, copy=True),
            sample_values=inter.data.astype(np.float32, copy=True),
            user_ids=uids,
            item_ids=iids,
            extra={"layout": layout},
        )

    @property
    def n_features(self) -> int:
        return int(self.user_features.shape[1])

    @property
    def n_users(self) -> int:
        return int(self.user_features.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_features.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.sample_users.shape[0])

    # -- rows of samples -------------------------------------------------------------------
    def _sample_index(self, sample_idx: Any) -> np.ndarray:
        if sample_idx is None:
            return np.arange(self.n_samples)
        idx = np.asarray(sample_idx)
        if idx.dtype == bool:
            if idx.shape != (self.n_samples,):
                raise ValueError(
                    f"boolean sample_idx must have shape ({self.n_samples},); got {idx.shape}"
                )
            return np.flatnonzero(idx)
        idx = np.atleast_1d(idx)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"sample_idx must hold integers or booleans; got dtype {idx.dtype}")
        if idx.size and (idx.min() < -self.n_samples or idx.max() >= self.n_samples):
            raise IndexError(
                f"sample_idx out of range for a design with {self.n_samples} samples"
            )
        return idx.astype(np.int64, copy=False)

    def query_rows(self, sample_idx: Any = None) -> sp.csr_matrix:
        """Query side of samples: ``user_features[u] + context[s]``, as trained: with a
        history field, the target item's history column is left out of its user's row and
        the rest of the history re-weighted by ``history_rescale[u]``.

        Parameters
        ----------
        sample_idx : None, int array or bool mask
            Samples to take (all when None).

        Returns
        -------
        csr_matrix of shape (n, n_features), float32, sorted indices
        """
        idx = self._sample_index(sample_idx)
        Q = sp.csr_matrix(self.user_features[self.sample_users[idx]], dtype=np.float32)
        if self.history_columns is not None and Q.nnz:
            Q = self._exclude_targets(Q, idx)
        if self.context is not None:
            Q = Q + self.context[idx]
        Q = sp.csr_matrix(Q, dtype=np.float32)
        Q.sort_indices()
        return Q

    def _exclude_targets(self, Q: sp.csr_matrix, idx: np.ndarray) -> sp.csr_matrix:
        hist_cols = np.zeros(Q.shape[1], bool)
        hc, rescale = self.history_columns, self.history_rescale
        assert hc is not None and rescale is not None, "called for designs with history only"
        hist_cols[hc[hc >= 0]] = True
        rows = np.repeat(np.arange(Q.shape[0]), np.diff(Q.indptr))
        target = hc[self.sample_items[idx]][rows]
        is_target = Q.indices == target
        has_target = np.zeros(Q.shape[0], bool)
        has_target[rows[is_target]] = True
        scale = np.where(has_target, rescale[self.sample_users[idx]], 1.0)
        Q = Q.copy()
        in_hist = hist_cols[Q.indices]
        Q.data[in_hist] *= scale[rows[in_hist]].astype(np.float32)
        Q.data[is_target] = 0.0
        Q.eliminate_zeros()
        return Q

    def item_side_rows(self, sample_idx: Any = None) -> sp.csr_matrix:
        """Item side of samples: ``item_features[i]``; shape (n, n_features), float32."""
        idx = self._sample_index(sample_idx)
        T = sp.csr_matrix(self.item_features[self.sample_items[idx]], dtype=np.float32)
        T.sort_indices()
        return T

    def full_rows(self, sample_idx: Any = None) -> sp.csr_matrix:
        """Full FM rows of samples, query side + item side (the two never share a column).

        Returns
        -------
        csr_matrix of shape (n, n_features), float32, sorted indices
        """
        X = sp.csr_matrix(self.query_rows(sample_idx) + self.item_side_rows(sample_idx))
        X.sort_indices()
        return X

    # -- text export -------------------------------------------------------------------------
    def to_libfm(
        self, path: str | os.PathLike, target: str = "value", overwrite: bool = False
    ) -> None:
        """Write every sample in libFM's text format, one line per sample.

        Each line is ``target col:val col:val ...``: the query-side columns (user row plus
        context row), then the item-side columns, each side in increasing column order;
        columns are 0-based.

        Parameters
        ----------
        path : path-like
            Output file; written to a temporary file in the same directory and moved into
            place, so readers never see a partial file.
        target : {'value', 'binary'}, default 'value'
            ``'value'`` writes ``sample_values`` (ratings or weights); ``'binary'`` writes
            1 for samples with a positive value and -1 otherwise (libFM's class labels).
        overwrite : bool, default False
            Replace an existing file; otherwise an existing ``path`` raises.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        """
        if target not in ("value", "binary"):
            raise ValueError(f"target must be one of 'value', 'binary'; got {target!r}")
        y = self.sample_values
        if target == "binary":
            y = np.where(y > 0, 1.0, -1.0).astype(np.float32)
        _atomic_write(path, overwrite, self._text_blocks(y, split_sides=True))

    def to_svmlight(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write every sample in svmlight/libsvm format: ``value col:val ...``.

        Columns are 0-based and increasing over the whole line (query and item columns
        merged), as svmlight readers require (``sklearn.datasets.load_svmlight_file``
        with ``zero_based=True`` reads it back). Atomic, and refuses to overwrite unless
        ``overwrite=True``, like :meth:`to_libfm`.
        """
        _atomic_write(path, overwrite, self._text_blocks(self.sample_values, split_sides=False))

    def _text_blocks(self, y: np.ndarray, split_sides: bool) -> Iterator[bytes]:
        for start in range(0, self.n_samples, _WRITE_BLOCK):
            idx = np.arange(start, min(start + _WRITE_BLOCK, self.n_samples))
            if split_sides:
                sides = [self.query_rows(idx), self.item_side_rows(idx)]
            else:
                sides = [self.full_rows(idx)]
            yield _format_lines(y[idx], sides)


def _numeric_csr(m: Any, what: str) -> sp.csr_matrix:
    """``m`` (scipy.sparse or array-like, 2-D, numeric, finite) as a float32 csr copy."""
    if sp.issparse(m):
        dtype = m.dtype
    else:
        m = np.asarray(m)
        dtype = m.dtype
        if m.ndim != 2:
            raise DataError(f"{what} must be 2-D (one row per user or item); got shape {m.shape}")
    if not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)) or np.issubdtype(
            dtype, np.complexfloating):
        raise DataError(f"{what} must hold real numbers; got dtype {dtype}")
    out = sp.csr_matrix(m, dtype=np.float32, copy=True)
    if out.nnz and not np.isfinite(out.data).all():
        raise DataError(f"{what} holds NaN or infinite values")
    return out


def _check_ids(ids: Any, n: int, what: str) -> np.ndarray:
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(ids)
    if arr.ndim != 1 or len(arr) != n:
        raise DataError(f"{what} has shape {arr.shape} but the interactions give {n} of them")
    if len(pd.unique(arr)) != n:
        raise DataError(f"{what} holds repeated ids")
    return arr


def _format_number(v: np.ndarray) -> list[str]:
    """Shortest text that reads back as the same float32 (``1`` rather than ``1.0``)."""
    return [np.format_float_positional(np.float32(x), unique=True, trim="-") for x in v]


def _format_lines(y: np.ndarray, sides: list[sp.csr_matrix]) -> bytes:
    """Text lines ``y col:val ...`` for a block of samples, built without a loop over lines.

    Each distinct (column, value) token and each distinct target is formatted once; the
    bytes of the block are then gathered from that pool with numpy.
    """
    n = len(y)
    counts = [np.diff(S.indptr) for S in sides]
    per_row = np.sum(counts, axis=0) if counts else np.zeros(n, dtype=np.int64)
    nnz = int(per_row.sum())
    # Position of each entry in the line-major token order (sides one after the other).
    line_ptr = np.concatenate([[0], np.cumsum(per_row)])
    cols = np.empty(nnz, dtype=np.int64)
    vals = np.empty(nnz, dtype=np.float32)
    before = np.zeros(n, dtype=np.int64)
    for S, c in zip(sides, counts, strict=True):
        rows = np.repeat(np.arange(n), c)
        rank = np.arange(S.nnz) - S.indptr[:-1].astype(np.int64)[rows]
        pos = line_ptr[rows] + before[rows] + rank
        cols[pos] = S.indices
        vals[pos] = S.data
        before += c
    # Token pool: targets, then " col:val" tokens, then the newline. Values are formatted
    # once per distinct value, tokens once per distinct (column, value).
    key = (cols << 32) | vals.view(np.uint32).astype(np.int64)
    tok_codes, tok_uniques = pd.factorize(key)
    u_cols = (tok_uniques >> 32).tolist()
    v_codes, v_uniques = pd.factorize((tok_uniques & 0xFFFFFFFF).astype(np.uint32))
    v_text = _format_number(v_uniques.astype(np.uint32).view(np.float32))
    tokens = [f" {c}:{v_text[v]}" for c, v in zip(u_cols, v_codes.tolist(), strict=True)]
    y_codes, y_uniques = pd.factorize(np.asarray(y, dtype=np.float32))
    targets = _format_number(np.asarray(y_uniques, dtype=np.float32))
    pieces = [t.encode() for t in targets] + [t.encode() for t in tokens] + [b"\n"]
    # Pad every piece to one width: gathering whole rows of a 2-D byte table and then
    # dropping the padding is much faster than gathering byte by byte.
    width = max(len(p) for p in pieces)
    table = np.frombuffer(b"".join(p.ljust(width, b"\0") for p in pieces), dtype=np.uint8)
    table = table.reshape(len(pieces), width)
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    used = np.arange(width) < lengths[:, None]
    newline = len(pieces) - 1
    # Sequence of pieces: per line [target, tokens..., newline].
    seq = np.empty(nnz + 2 * n, dtype=np.int64)
    line_start = line_ptr[:-1] + 2 * np.arange(n)
    seq[line_start] = y_codes
    seq[line_start + per_row + 1] = newline
    entry_rows = np.repeat(np.arange(n), per_row)
    seq[line_start[entry_rows] + 1 + (np.arange(nnz) - line_ptr[:-1][entry_rows])] = (
        len(targets) + tok_codes
    )
    return table[seq][used[seq]].tobytes()


def _atomic_write(path: str | os.PathLike, overwrite: bool, blocks: Iterator[bytes]) -> None:
    with atomic_file(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        for block in blocks:
            f.write(block)
