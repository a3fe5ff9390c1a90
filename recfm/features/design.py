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
