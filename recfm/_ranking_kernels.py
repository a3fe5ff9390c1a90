"""numba kernels behind :mod:`recfm.ranking` (top-N selection).

Only numpy and numba are imported here. Kernels take plain arrays (CSR as ``indptr, indices``)
and scalars, and write into preallocated outputs; validation lives in :mod:`recfm.ranking`.

Selection order ("better than") is: higher score first; equal scores -> lower item index first.
Each row keeps a binary min-heap of its ``n`` best (item, score) pairs whose root is the worst
kept pair, so a scan over ``m`` items costs O(m + h log n) with h the number of heap updates
(small: most items fail the single ``score > root`` test).

Scores equal to ``-inf`` mark ineligible items (excluded, or not a candidate); the callers check
that the factor vectors are finite, so every real score is finite. Rows with fewer than ``n``
eligible items are padded with item ``-1`` and score ``-inf``.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

_NINF = np.float32(-np.inf)


@njit(cache=True, nogil=True, inline="always")
def _worse(s1, i1, s2, i2):
    """True when (score s1, item i1) ranks below (s2, i2)."""
    return s1 < s2 or (s1 == s2 and i1 > i2)


@njit(cache=True, nogil=True, inline="always")
def _swap(hs, hi, a, b):
    """Exchange heap slots ``a`` and ``b`` (score and item together)."""
    ts = hs[a]
    hs[a] = hs[b]
    hs[b] = ts
    ti = hi[a]
    hi[a] = hi[b]
    hi[b] = ti


@njit(cache=True, nogil=True)
def _sift_down(hs, hi, size, pos):
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        right = child + 1
        if right < size and _worse(hs[right], hi[right], hs[child], hi[child]):
            child = right
        if _worse(hs[child], hi[child], hs[pos], hi[pos]):
            _swap(hs, hi, child, pos)
            pos = child
        else:
            return


@njit(cache=True, nogil=True)
def _sift_up(hs, hi, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if _worse(hs[pos], hi[pos], hs[parent], hi[parent]):
            _swap(hs, hi, pos, parent)
            pos = parent
        else:
            return


@njit(cache=True, nogil=True)
def _offer(hs, hi, size, n, s, j):
    """Offer (s, j) to a heap holding ``size`` of at most ``n`` pairs; return the new size."""
    if size < n:
        hs[size] = s
        hi[size] = j
        _sift_up(hs, hi, size)
        return size + 1
    if _worse(hs[0], hi[0], s, j):
        hs[0] = s
        hi[0] = j
        _sift_down(hs, hi, n, 0)
    return size


@njit(cache=True, nogil=True)
def _drain(hs, hi, size, n, out_i, out_s):
    """Write the heap's pairs best-first into out_i/out_s[:size]; pad the rest."""
    k = size
    while k > 0:
        k -= 1
        out_s[k] = hs[0]
        out_i[k] = hi[0]
        hs[0] = hs[k]
        hi[0] = hi[k]
        _sift_down(hs, hi, k, 0)
    for t in range(size, n):
        out_s[t] = _NINF
        out_i[t] = -1


@njit(cache=True, nogil=True)
def _scan_dense(row, c0, n, hs, hi, size):
    """Offer every eligible score of ``row`` (items c0, c0+1, ...) to a heap; return its size."""
    m = row.shape[0]
    j = 0
    while j < m and size < n:
        s = row[j]
        if s > _NINF:
            hs[size] = s
            hi[size] = c0 + j
            _sift_up(hs, hi, size)
            size += 1
        j += 1
    if size == n:
        # Items arrive in increasing index order, so an item tying the root's score has a
        # larger index than the root and loses the tie: a strict ">" is the whole tie rule.
        thr = hs[0]
        while j < m:
            s = row[j]
            if s > thr:
                hs[0] = s
                hi[0] = c0 + j
                _sift_down(hs, hi, n, 0)
                thr = hs[0]
            j += 1
    return size


@njit(cache=True, nogil=True)
def _mask_excluded(row, c0, c1, q, q_end, ex_indices, item_map, use_map):
    """Set the excluded items of the chunk [c0, c1) of ``row`` to -inf; return the new cursor.

    Exclusions are sorted, so a cursor ``q`` into ``ex_indices`` walks each row once over all
    its chunks; ``item_map`` (when ``use_map``) maps a global item to its column, or -1.
    """
    while q < q_end:
        j = ex_indices[q]
        if use_map:
            j = item_map[j]
            if j < 0:
                q += 1
                continue
        if j >= c1:
            break
        row[j - c0] = _NINF
        q += 1
    return q


@njit(cache=True, nogil=True)
def _offer_candidates(row, c0, c1, p, p_end, cand_indices, hs, hi, size, n):
    """Offer the eligible candidates of the chunk [c0, c1) of ``row`` to a heap.

    Returns the new cursor into ``cand_indices`` (sorted) and the heap size.
    """
    while p < p_end and cand_indices[p] < c1:
        j = cand_indices[p]
        s = row[j - c0]
        if s > _NINF:
            size = _offer(hs, hi, size, n, s, j)
        p += 1
    return p, size


@njit(cache=True, nogil=True, parallel=True)
def topn_gemm(U, I, block, chunk, n_slots, ex_indptr, ex_indices, item_map,
              cand_indptr, cand_indices, n, out_i, out_s):
    """Tiled GEMM + per-row heap selection for every row of ``U``.

    U : (n_users, d) float32 C-contiguous; I : (m, d) float32 C-contiguous.
    Users are cut into blocks of ``block`` rows and items into chunks of ``chunk``. The blocks
    are a ``prange`` (run it under ``numba.parallel_chunksize(1)`` for dynamic scheduling);
    each thread works in its own slot (``numba.get_thread_id() < n_slots``) of preallocated
    state: a (block * chunk) score buffer, small enough to stay in the core's cache, and the
    block's heaps, which carry over from one item chunk to the next. For each (block, chunk)
    tile one BLAS sgemm writes the scores, which are then scanned.
    ex_indptr/ex_indices: sorted CSR (n_users + 1,) / (nnz,) of excluded items (global ids);
    item_map: global item id -> row of I, or -1, increasing where >= 0 (length 0: identity);
    cand_indptr/cand_indices: sorted CSR of allowed rows of I per user (length 0: all rows).
    """
    n_users = U.shape[0]
    m = I.shape[0]
    n_blocks = (n_users + block - 1) // block
    use_map = item_map.shape[0] > 0
    use_cand = cand_indptr.shape[0] > 0
    # per-thread state (np.empty: pages of unused slots are never touched)
    flat_all = np.empty((n_slots, block * chunk), np.float32)
    hs_all = np.empty((n_slots, block, n), np.float32)
    hi_all = np.empty((n_slots, block, n), np.int32)
    size_all = np.empty((n_slots, block), np.int64)
    ex_all = np.empty((n_slots, block), np.int64)
    cand_all = np.empty((n_slots, block), np.int64)
    for b in prange(n_blocks):
        t = numba.get_thread_id()
        flat = flat_all[t]
        hs = hs_all[t]
        hi = hi_all[t]
        size = size_all[t]
        ex_cur = ex_all[t]
        cand_cur = cand_all[t]
        s0 = b * block
        e0 = min(n_users, s0 + block)
        nr = e0 - s0
        for r in range(nr):
            size[r] = 0
            ex_cur[r] = ex_indptr[s0 + r]
            if use_cand:
                cand_cur[r] = cand_indptr[s0 + r]
        for c0 in range(0, m, chunk):
            c1 = min(m, c0 + chunk)
            sc = flat[: nr * (c1 - c0)].reshape((nr, c1 - c0))
            np.dot(U[s0:e0], I[c0:c1].T, sc)
            for r in range(nr):
                u = s0 + r
                row = sc[r]
                ex_cur[r] = _mask_excluded(row, c0, c1, ex_cur[r], ex_indptr[u + 1], ex_indices,
                                           item_map, use_map)
                if use_cand:
                    cand_cur[r], size[r] = _offer_candidates(
                        row, c0, c1, cand_cur[r], cand_indptr[u + 1], cand_indices,
                        hs[r], hi[r], size[r], n)
                else:
                    size[r] = _scan_dense(row, c0, n, hs[r], hi[r], size[r])
        for r in range(nr):
            _drain(hs[r], hi[r], size[r], n, out_i[s0 + r], out_s[s0 + r])


@njit(cache=True, nogil=True)
def _dot(U, u, I, j, d):
    """<U[u], I[j]> in float32 with four partial sums (fixed order: deterministic)."""
    a0 = np.float32(0.0)
    a1 = np.float32(0.0)
    a2 = np.float32(0.0)
    a3 = np.float32(0.0)
    f = 0
    while f + 4 <= d:
        a0 += U[u, f] * I[j, f]
        a1 += U[u, f + 1] * I[j, f + 1]
        a2 += U[u, f + 2] * I[j, f + 2]
        a3 += U[u, f + 3] * I[j, f + 3]
        f += 4
    while f < d:
        a0 += U[u, f] * I[j, f]
        f += 1
    return (a0 + a1) + (a2 + a3)


@njit(cache=True, nogil=True, parallel=True)
def topn_direct(U, I, rows_per_task, n_slots, ex_indptr, ex_indices, cand_indptr,
                cand_indices, n, out_i, out_s):
    """Top-n over per-user candidate lists, scoring only the candidates (no GEMM).

    Used when the candidate CSR is sparse. Candidate and exclusion rows must be sorted
    (canonical CSR): excluded candidates are skipped by a merge walk. Tasks of
    ``rows_per_task`` users form the ``prange``; per-thread heaps as in :func:`topn_gemm`.
    """
    n_users = U.shape[0]
    d = U.shape[1]
    n_tasks = (n_users + rows_per_task - 1) // rows_per_task
    hs_all = np.empty((n_slots, n), np.float32)
    hi_all = np.empty((n_slots, n), np.int32)
    for task in prange(n_tasks):
        t = numba.get_thread_id()
        hs = hs_all[t]
        hi = hi_all[t]
        for u in range(task * rows_per_task, min(n_users, (task + 1) * rows_per_task)):
            size = 0
            q = ex_indptr[u]
            q_end = ex_indptr[u + 1]
            for p in range(cand_indptr[u], cand_indptr[u + 1]):
                j = cand_indices[p]
                while q < q_end and ex_indices[q] < j:
                    q += 1
                if q < q_end and ex_indices[q] == j:
                    continue
                size = _offer(hs, hi, size, n, _dot(U, u, I, j, d), j)
            _drain(hs, hi, size, n, out_i[u], out_s[u])


@njit(cache=True, nogil=True, parallel=True)
def topn_dense(S, rows_per_task, n_slots, ex_indptr, ex_indices, cand_indptr, cand_indices, n,
               out_i, out_s):
    """Top-n of every row of a precomputed dense score matrix ``S`` (n_users, n_items).

    For models that produce scores themselves (item-item models: X @ B). ``S`` is
    overwritten: excluded items become -inf. Exclusions and candidates as in
    :func:`topn_gemm` (global item ids, no item map); tasks of ``rows_per_task`` rows form the
    ``prange``, with per-thread heaps.
    """
    n_users, m = S.shape
    use_cand = cand_indptr.shape[0] > 0
    n_tasks = (n_users + rows_per_task - 1) // rows_per_task
    no_map = np.zeros(0, np.int32)
    hs_all = np.empty((n_slots, n), np.float32)
    hi_all = np.empty((n_slots, n), np.int32)
    for task in prange(n_tasks):
        t = numba.get_thread_id()
        hs = hs_all[t]
        hi = hi_all[t]
        for u in range(task * rows_per_task, min(n_users, (task + 1) * rows_per_task)):
            row = S[u]
            _mask_excluded(row, 0, m, ex_indptr[u], ex_indptr[u + 1], ex_indices, no_map, False)
            if use_cand:
                _, size = _offer_candidates(row, 0, m, cand_indptr[u], cand_indptr[u + 1],
                                            cand_indices, hs, hi, 0, n)
            else:
                size = _scan_dense(row, 0, n, hs, hi, 0)
            _drain(hs, hi, size, n, out_i[u], out_s[u])
