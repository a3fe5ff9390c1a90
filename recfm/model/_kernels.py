"""Numba kernels of the factorization machine.

This module holds numba code only and imports only numpy and numba (with llvmlite, numba's
code generator, for the one prefetch intrinsic). Kernels take plain
arrays (CSR matrices as ``(indptr, indices, data)`` tuples), scalars and preallocated
outputs; they never see Python objects. Parameters are float32 in the library; every routine
also compiles for float64 arrays, which the gradient tests use.

Notation (see ARCHITECTURE.md): a sample is a query row q (user row + optional context row)
and an item row t. ``p = V^T q``, ``e = V^T t``, ``b(t) = w.t + pair(t)`` and
``pair(z) = 1/2 sum_f [(V^T z)_f^2 - sum_j v_jf^2 z_j^2]``. For any active feature j of a
row x with cached sum ``S = V^T x``: ``dy/dw_j = x_j`` and ``dy/dv_jf = x_j (S_f - v_jf x_j)``.

Argument bundles (tuples keep signatures short; also, CPython compiles a call with more than
30 arguments as ``f(*args)``, which numba cannot inline):

* ``csr = (indptr, indices, data)``; ``pos = positives_index(indptr, indices, n_items)``
  of the sorted interactions matrix (users x items), used to reject positives as negatives;
* ``params = (w0, w, V, gw0, gw, gV)``: ``w0`` and ``gw0`` have shape (1,); the ``g*`` arrays
  are the Adagrad sums of squared gradients (ignored, may be dummies, with plain SGD);
* ``hyper = (learning_rate, reg_linear, reg_factors)`` scalars of the parameters' dtype;
* ``buf``: per-chunk scratch of shape (3 + n_negatives, k): rows ``P`` (query vector p),
  ``EP`` (positive item vector), ``QG`` (query gradient), then one row per negative.

Epochs and chunks: the training queue (samples in shuffled order) is cut into chunks of
``CHUNK_SIZE`` samples (or, in user visits, into chunks of whole visits of about as many
samples). Chunk c is reshuffled in place and trained by one call of a
``chunk_*`` function with its own RNG stream (xorshift64* in an explicit ``uint64`` state
row, seeded ``splitmix64(seed + c)``: never by thread id). One serial epoch kernel per kind
trains a list of chunks; a multi-threaded epoch splits the shuffled chunk order between
Python threads that each run that kernel on their part (``nogil=True``: they run at once;
Hogwild: lock-free updates race between threads), so results depend on the chunk size,
never on the thread count's scheduling except through those races. With one thread the
epoch is bit-for-bit reproducible. The default ids-only BPR epoch on T > 1 threads
(:func:`visits_bpr_block_epoch`) runs in T rounds over T random item blocks instead, so
that threads running at once write disjoint rows: no races, reproducible too.

Compile time (a first run compiles everything used; numba caches it on disk): the epoch
was once also compiled with ``parallel=True`` and a ``prange`` over the chunks, and that
compilation alone cost about as much as the chunk functions it calls (~8 CPU-s per kind)
for no speed the threads do not give. Each helper compiles once per argument types, and
numba types a Python ``int`` constant as a literal of its value, so row constants are
``np.int64`` and indices read from int32 arrays are widened to int64 where they are read:
one version of each helper (dot_rows was compiled seven times). The epoch is built by a
factory whose closure constant ``kind`` lets numba prune the other kinds' branches (each
epoch links only its own chunk function) and enters the cache key.

Performance notes (what made the difference, measured):

* ``error_model="numpy"``: float division by zero gives inf/nan (caught by the estimator's
  divergence check) instead of raising; the hidden ZeroDivisionError branch otherwise stops
  LLVM from vectorising the per-factor Adagrad loops (sqrt, division): 5x slower steps.
* No array views and no reference counting per sample: small leaf helpers are inlined at
  numba-IR level (``inline="always"``); the larger ones are compiled without NRT
  (``_nrt=False``: they never allocate), so passing arrays to them costs no atomic
  reference-count updates, which otherwise dominate and are contended between threads.
  (IR-inlining the larger helpers too more than doubled compile time for no clear gain.)
* Dot products are the one place with fastmath, and only ``reassoc`` and ``contract``: a
  float sum may then be split into vector lanes (and use FMA), which made a 64-factor dot
  product ~5x faster than the scalar chain that strict order forces; they are compiled as
  functions of their own (not inlined), since an inlined body takes the caller's strict
  flags. The order is fixed by the compiled code, so runs stay bit-identical.
* A fused kernel for ids-only designs (one entry per user and item row): one pass over
  the factors per sample, like a plain MF epoch. BPR with n > 1 negatives
  (``ids_multi_step``) takes 2n + 2 contiguous passes with the general kernel's expressions,
  bit-identical to it for one-hot rows (values 1); it took ~2.4x less time per epoch than
  the general kernel (n = 4, 128 factors, synthetic ML-1M, 2 threads, busy machine:
  ``benchmarks/ids_negatives_speed.py``). One interleaved pass over the factors for all rows
  was ~1.6x slower than the general kernel (an index load per negative per factor, no
  vectorisation). Likewise for ids + History designs
  (``chunk_visits_ids``): the general visit kernel spent 2-4x the ids-only epoch's time
  (copies of item vectors, generic row loops, a binary search for each target's history
  entry); fused, with a per-visit column map, 1.1-1.5x on one thread (ML-1M-sized data).
* The queue holds (user, item[, sample id]) contiguously, so a chunk reads its samples from
  cache; RNG states sit one per 64-byte row, so threads never share a written cache line.
* Ids-only BPR designs with one negative per positive train in user visits
  (:func:`visits_ids_epoch`: the queue grouped by user, chunks of whole visits, users
  shuffled within their chunk and each user's samples shuffled before they are trained, all
  from the chunk's stream): the user's factor row, its Adagrad sums and its positives'
  filter are loaded once per visit instead of once per sample. Measured under load
  (synthetic data, 64 factors, Adagrad): on one thread 1.6-1.7x the shuffled order's
  samples/s at ML-1M size and 1.8-1.9x at ML-20M size, where the user tables outgrow the
  caches; on two threads 1.2x and 2.5x (``benchmarks/train_speed.py``).
* Two threads writing the same item rows: on ML-1M-sized data (3,706 items) the item
  factors and their Adagrad sums (1.9 MB) stay in a core's L2 cache when one thread trains,
  but when two threads both write them every item row keeps moving between the cores, and
  a sample cost 1.3-1.7x the CPU time of one thread's (``time.thread_time()`` per sample;
  not the thread pool, chunk sizes, RNG or Python between chunks: each thread's kernel
  time was >= 99 % of its wall time, the two threads' parts within 5 % of each other).
  Training the two threads on disjoint item halves brought it back to the one-thread cost;
  disjoint random items did not (16 items share a cache line of ``w`` and of its sums).
  Hence item blocks: random unions of 16-feature groups of columns (whole cache lines of
  ``w``, ``V`` and their sums, all 64-byte aligned), one block per thread and round,
  negatives drawn from the block (uniformly over its items, or by popularity with
  rejection), re-split every epoch. Two-thread fits then ran 1.26x the samples/s of the
  shared-items epoch at ML-1M size (1.71x one thread's, from 1.36x), and the same at ML-20M
  size (1.01x), where the item table outgrows a core's caches on one thread too.
* Prefetching in ids-only BPR with one negative: each sample's negative is drawn one
  sample ahead (the same draws in the same order, so results are unchanged bit for bit)
  and the first cache line of that next sample's item rows (and user row, when the user
  changes), their weights and Adagrad sums is prefetched (``llvm.prefetch``) while the
  current sample trains. At ML-20M size, where the 26,744 item rows outgrow a core's
  caches, whole fits ran 1.5-1.6x the samples/s on one thread and 1.3-1.8x on two; at
  ML-1M size 0.94-1.01x (whole fits of 1 and 3 epochs, old and new code interleaved in one
  process, runs disturbed by other processes left out). The ids + History BPR visit kernel
  (:func:`chunk_visits_ids`) does the same: ~1.2x at ML-20M size on two threads.
* Rejecting positives as negatives (``positives_index``): an exact bitset per heavy user
  and a one-hash Bloom filter per light user answer most checks with one load; the binary
  search runs only on a light user's filter hit.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]  # numba's code generator, untyped
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# see "Performance notes" above for error_model, inline and _nrt
# (typed as Any-valued so that mypy matches them against njit's keyword overloads)
_JIT: dict[str, Any] = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
_INL: dict[str, Any] = dict(_JIT, inline="always")
_NONRT: dict[str, Any] = dict(_JIT, _nrt=False)
_DOT: dict[str, Any] = dict(_NONRT, fastmath={"reassoc", "contract"})

LOSS_BPR = 0
LOSS_WARP = 1
LOSS_LOGISTIC = 2
LOSS_SQUARED = 3

#: Samples per chunk of the shuffled order. Chunks are the unit of RNG seeding and of
#: parallel work; results (even serial ones) depend on this value, so it is a constant.
CHUNK_SIZE = 4096
#: Draws allowed to find a negative that is not one of the user's positives (BPR, logistic).
MAX_NEGATIVE_TRIES = 64
#: Cap of the WARP rank weight (as in LightFM), for numerical stability.
MAX_WARP_WEIGHT = 10.0

# rows of the per-chunk scratch buffer. numpy ints, not Python ints: numba types a Python
# int global as a literal and compiles every callee once per literal value it is passed
# (seven versions of dot_rows); an int64 is one type. Row and column indices are likewise
# widened to int64 where they are read, so each helper compiles once (see "Compile time").
P = np.int64(0)
EP = np.int64(1)
QG = np.int64(2)
EN = np.int64(3)
_N0 = np.int64(0)
_N1 = np.int64(1)
_NONE = np.int64(-1)

# float32 constants keep float32 arithmetic float32 (a Python float literal would promote to
# float64); with float64 arrays they promote exactly.
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SM1 = np.uint64(0xBF58476D1CE4E5B9)
_SM2 = np.uint64(0x94D049BB133111EB)
_XSM = np.uint64(0x2545F4914F6CDD1D)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_U1 = np.uint64(1)


# --------------------------------------------------------------------------------------
# random numbers
# --------------------------------------------------------------------------------------
@njit(**_INL)
def splitmix64(x):
    """splitmix64 output for counter ``x`` (uint64), forced odd: a non-zero xorshift state."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _SM1
    z = (z ^ (z >> _S27)) * _SM2
    return (z ^ (z >> _S31)) | _U1


@njit(**_JIT)
def seed_states(seed, n_states):
    """States of ``n_states`` xorshift64* streams, ``states[c, 0] = splitmix64(seed + c)``.

    One 64-byte row per stream, so that threads drawing from different streams never write
    to the same cache line."""
    states = np.zeros((n_states, 8), np.uint64)
    for c in range(n_states):
        states[c, 0] = splitmix64(np.uint64(seed) + np.uint64(c))
    return states


@njit(**_INL)
def rng_next(states, c):
    """Next 32 random bits (as uint64) of stream ``c`` (xorshift64*)."""
    x = states[c, 0]
    x ^= x >> _S12
    x ^= x << _S25
    x ^= x >> _S27
    states[c, 0] = x
    return (x * _XSM) >> _S32


@njit(**_INL)
def rng_below(states, c, n):
    """Random int in ``[0, n)`` from stream ``c`` (multiply-shift; needs n < 2**32)."""
    return np.int64((rng_next(states, c) * np.uint64(n)) >> _S32)


@njit(**_INL)
def shuffle_queue(queue, start, end, states, c):
    """Fisher-Yates shuffle of ``queue[:][start:end]`` with stream ``c``: users and items
    permuted together, and sample ids too unless the queue carries none (empty array)."""
    qu, qi, qs = queue
    with_ids = qs.shape[0] > 0
    for a in range(end - 1, start, -1):
        b = start + rng_below(states, c, a - start + 1)
        t = qu[a]
        qu[a] = qu[b]
        qu[b] = t
        t = qi[a]
        qi[a] = qi[b]
        qi[b] = t
        if with_ids:
            t = qs[a]
            qs[a] = qs[b]
            qs[b] = t


@njit(**_JIT)
def make_queue(users, items, seed, with_ids):
    """The training queue: copies of the sample users and items (int32) shuffled together
    from stream ``splitmix64(seed)``, plus the shuffled sample ids when ``with_ids`` (needed
    for weights, context rows or target values; else an empty array, saving memory)."""
    n = users.shape[0]
    qu = users.astype(np.int32)
    qi = items.astype(np.int32)
    qs = np.empty(n if with_ids else 0, np.int32)
    for a in range(qs.shape[0]):
        qs[a] = a
    states = seed_states(seed, _N1)
    shuffle_queue((qu, qi, qs), 0, n, states, 0)
    return qu, qi, qs


# --------------------------------------------------------------------------------------
# negative sampling
# --------------------------------------------------------------------------------------
@njit(**_INL)
def find_in_row(indptr, indices, row, col):
    """Position of ``col`` in row ``row`` of a CSR with sorted indices, or -1."""
    lo = indptr[row]
    hi = indptr[row + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < col:
            lo = mid + 1
        elif v > col:
            hi = mid
        else:
            return mid
    return -1


@njit(**_INL)
def is_positive(indptr, indices, row, col):
    """Whether ``(row, col)`` is stored in a CSR matrix with sorted indices (binary search)."""
    return find_in_row(indptr, indices, row, col) >= 0


_BLOOM_MULT = np.uint64(0x9E3779B1)
_S6 = np.uint64(6)
_S23 = np.uint64(23)
_M63 = np.uint64(63)
_U0 = np.uint64(0)
#: Filter bits per stored positive: a user's filter has the next power of two at or above
#: this many bits per positive (at least 64); one hash, so about 1 - exp(-1/8) = 12% of the
#: non-positives a Bloom filter sees must be checked by binary search.
FILTER_BITS_PER_POSITIVE = 8


@njit(**_INL)
def bloom_bit(col, mask):
    """Bit of item ``col`` in a Bloom filter of ``mask + 1`` bits (a power of two): a
    multiplicative hash (Fibonacci hashing) of the item id."""
    return ((np.uint64(col) * _BLOOM_MULT) >> _S23) & mask


@njit(**_JIT)
def positives_index(indptr, indices, n_cols):
    """``(indptr, indices, offsets, masks, words)`` for :func:`is_positive_fast`: the sorted
    CSR of the users' positives plus one bit filter per user, in ``words[offsets[u]:
    offsets[u + 1]]``.

    A user's filter gets ``FILTER_BITS_PER_POSITIVE`` bits per positive, rounded up to a power
    of two. When that reaches ``n_cols`` the filter is an exact bitset of the user's items
    (``masks[u] = 0``), answered with one load: these are the heavy users, who are also most
    of the training samples and whose long rows made binary searches slow (measured: the
    lookup was half of a BPR epoch's time on ML-1M-sized data with one-hash 512-bit Bloom
    filters). Lighter users get a one-hash Bloom filter (``masks[u] = n_bits - 1``) that
    rules out most non-positives with one load; a hit falls back to the binary search.
    Memory: at most ``2 * FILTER_BITS_PER_POSITIVE`` bits per positive plus 64 per user."""
    n = indptr.shape[0] - 1
    full_words = (n_cols + 63) // 64
    offsets = np.zeros(n + 1, np.int64)
    masks = np.zeros(n, np.uint64)
    for r in range(n):
        want = FILTER_BITS_PER_POSITIVE * (indptr[r + 1] - indptr[r])
        n_bits = 64
        while n_bits < want:
            n_bits *= 2
        if n_bits >= n_cols:
            offsets[r + 1] = offsets[r] + full_words
        else:
            masks[r] = np.uint64(n_bits - 1)
            offsets[r + 1] = offsets[r] + n_bits // 64
    words = np.zeros(offsets[n], np.uint64)
    for r in range(n):
        m = masks[r]
        for jj in range(indptr[r], indptr[r + 1]):
            col = indices[jj]
            h = np.uint64(col) if m == _U0 else bloom_bit(col, m)
            words[offsets[r] + np.int64(h >> _S6)] |= _U1 << (h & _M63)
    return indptr, indices, offsets, masks, words


@njit(**_INL)
def is_positive_fast(pos, row, col):
    """:func:`is_positive` on ``pos = positives_index(...)``: one load of the user's filter,
    exact for heavy users; for the others a set Bloom bit (never a false negative) is
    confirmed by binary search."""
    m = pos[3][row]
    h = np.uint64(col) if m == _U0 else bloom_bit(col, m)
    if (pos[4][pos[2][row] + np.int64(h >> _S6)] >> (h & _M63)) & _U1 == _U0:
        return False
    if m == _U0:
        return True
    return is_positive(pos[0], pos[1], row, col)


@njit(**_INL)
def draw_item(states, c, n_items, pop_items, popularity):
    """One candidate item: uniform over ``n_items``, or (``popularity``) the item of a random
    training sample, i.e. drawn in proportion to its number of training samples."""
    if popularity:
        return np.int64(pop_items[rng_below(states, c, pop_items.shape[0])])
    return rng_below(states, c, n_items)


@njit(**_INL)
def draw_negative(states, c, user, pos, n_items, pop_items, popularity, max_tries):
    """An item that is not one of ``user``'s positives (row ``user`` of ``pos``), or -1 when
    ``max_tries`` draws all hit positives."""
    for _ in range(max_tries):
        j = draw_item(states, c, n_items, pop_items, popularity)
        if not is_positive_fast(pos, user, j):
            return j
    return -1


@njit(**_JIT)
def draw_negatives(seed, n, user, pos, n_items, pop_items, popularity, max_tries):
    """``n`` draws of :func:`draw_negative` from stream ``splitmix64(seed)`` (for tests)."""
    states = seed_states(seed, _N1)
    out = np.empty(n, np.int64)
    for t in range(n):
        out[t] = draw_negative(states, 0, user, pos, n_items, pop_items, popularity, max_tries)
    return out


# --------------------------------------------------------------------------------------
# representations (vectors live in rows of 2-D arrays: no per-sample views)
# --------------------------------------------------------------------------------------
@njit(**_DOT)
def dot_rows(A, a, B, b):
    """<A[a], B[b]>."""
    s = _ZERO
    for f in range(A.shape[1]):
        s += A[a, f] * B[b, f]
    return s


@njit(**_DOT)
def dot_diff_rows(A, a, V, xi, i, xj, j):
    """<A[a], xi V[i] - xj V[j]> (the BPR score difference of ids-only item rows)."""
    s = _ZERO
    for f in range(V.shape[1]):
        s += A[a, f] * (xi * V[i, f] - xj * V[j, f])
    return s


@njit(**_NONRT)
def add_row_vector(csr, row, V, out, r):
    """``out[r] += sum_j x_j v_j`` over the stored entries of ``row``."""
    indptr, indices, data = csr
    k = V.shape[1]
    for jj in range(indptr[row], indptr[row + 1]):
        j = indices[jj]
        x = data[jj]
        for f in range(k):
            out[r, f] += x * V[j, f]


@njit(**_NONRT)
def add_row_terms(csr, row, w, V, out, r):
    """``out[r] += sum_j x_j v_j``; returns ``(sum_j w_j x_j, sum_j x_j^2 |v_j|^2)``."""
    indptr, indices, data = csr
    k = V.shape[1]
    lin = _ZERO
    sq = _ZERO
    for jj in range(indptr[row], indptr[row + 1]):
        j = indices[jj]
        x = data[jj]
        lin += w[j] * x
        for f in range(k):
            out[r, f] += x * V[j, f]
        # a separate pass: summing |v_j|^2 inside the loop above made it one chain of 64
        # dependent additions (no reassociation without fastmath) and kept that loop from
        # vectorising; dot_rows' eight partial sums do not wait on each other
        sq += (dot_rows(V, np.int64(j), V, np.int64(j)) * x) * x
    return lin, sq


@njit(**_NONRT)
def item_vector(csr, row, w, V, out, r):
    """Item side of a row: writes ``e = V^T t`` into ``out[r]``; returns ``b(t)``.

    A row with one stored entry has ``pair(t) = 0`` exactly (the ids-only case)."""
    indptr, indices, data = csr
    k = V.shape[1]
    start = indptr[row]
    end = indptr[row + 1]
    if end - start == 1:
        j = indices[start]
        x = data[start]
        for f in range(k):
            out[r, f] = x * V[j, f]
        return w[j] * x
    for f in range(k):
        out[r, f] = _ZERO
    lin, sq = add_row_terms(csr, row, w, V, out, r)
    return lin + _HALF * (dot_rows(out, r, out, r) - sq)


@njit(**_NONRT)
def query_vector(uf, u, cx, s, has_ctx, V, out, r):
    """Query side of a sample: ``p = V^T (user row u + context row s)`` into ``out[r]``."""
    k = V.shape[1]
    start = uf[0][u]
    if uf[0][u + 1] - start == 1 and not has_ctx:
        j = uf[1][start]
        x = uf[2][start]
        for f in range(k):
            out[r, f] = x * V[j, f]
        return
    for f in range(k):
        out[r, f] = _ZERO
    add_row_vector(uf, u, V, out, r)
    if has_ctx:
        add_row_vector(cx, s, V, out, r)


@njit(**_NONRT)
def query_terms(uf, u, cx, s, has_ctx, w, V, out, r):
    """Query side with its own terms: ``p`` into ``out[r]``; returns ``w.q + pair(q)``."""
    k = V.shape[1]
    for f in range(k):
        out[r, f] = _ZERO
    lin, sq = add_row_terms(uf, u, w, V, out, r)
    if has_ctx:
        lin2, sq2 = add_row_terms(cx, s, w, V, out, r)
        lin += lin2
        sq += sq2
    return lin + _HALF * (dot_rows(out, r, out, r) - sq)


# --------------------------------------------------------------------------------------
# parameter updates (Adagrad or SGD; L2 on the parameters the sample touches)
# --------------------------------------------------------------------------------------
@njit(**_NONRT)
def update_full_row(csr, row, g, buf, rp, re, params, hyper, adagrad):
    """Step on every feature j of ``row`` for ``dL/dy = g``, where the row belongs to a sample
    with cached sum ``S = buf[rp] + buf[re]``: ``dL/dw_j = g x_j + reg_w w_j`` and
    ``dL/dv_jf = g x_j (S_f - v_jf x_j) + reg_v v_jf``."""
    indptr, indices, data = csr
    w = params[1]
    V = params[2]
    gw = params[4]
    gV = params[5]
    lr, reg_w, reg_v = hyper
    k = V.shape[1]
    for jj in range(indptr[row], indptr[row + 1]):
        j = indices[jj]
        x = data[jj]
        gx = g * x
        gl = gx + reg_w * w[j]
        if adagrad:
            a = gw[j] + gl * gl
            gw[j] = a
            w[j] -= lr * gl / math.sqrt(a)
            for f in range(k):
                v = V[j, f]
                gv = gx * (buf[rp, f] + buf[re, f] - v * x) + reg_v * v
                a = gV[j, f] + gv * gv
                gV[j, f] = a
                V[j, f] = v - lr * gv / math.sqrt(a)
        else:
            w[j] -= lr * gl
            for f in range(k):
                v = V[j, f]
                V[j, f] = v - lr * (gx * (buf[rp, f] + buf[re, f] - v * x) + reg_v * v)


@njit(**_NONRT)
def update_query_row(csr, row, buf, rq, params, hyper, adagrad):
    """Pairwise step on the factors of a query row: ``dL/dv_jf = x_j buf[rq, f] + reg_v v_jf``
    (the query's own terms c(q) cancel in a score difference; its linear weights stay)."""
    indptr, indices, data = csr
    V = params[2]
    gV = params[5]
    lr = hyper[0]
    reg_v = hyper[2]
    k = V.shape[1]
    for jj in range(indptr[row], indptr[row + 1]):
        j = indices[jj]
        x = data[jj]
        if adagrad:
            for f in range(k):
                v = V[j, f]
                gv = x * buf[rq, f] + reg_v * v
                a = gV[j, f] + gv * gv
                gV[j, f] = a
                V[j, f] = v - lr * gv / math.sqrt(a)
        else:
            for f in range(k):
                v = V[j, f]
                V[j, f] = v - lr * (x * buf[rq, f] + reg_v * v)


@njit(**_INL)
def scale_reg(hyper, scale):
    """``hyper`` with both L2 strengths multiplied by ``scale`` (the sample's weight: a
    weight multiplies the sample's whole objective, its regulariser included)."""
    return (hyper[0], hyper[1] * scale, hyper[2] * scale)


@njit(**_INL)
def softplus(z):
    """log(1 + exp(z)), stable for large |z|."""
    if z > 0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@njit(**_INL)
def bpr_terms(d):
    """``(log(1 + exp(-d)), sigmoid(-d))`` from a single exp: BPR's loss and -dloss/dd."""
    if d > 0:
        e = math.exp(-d)  # sigmoid(-d) = e / (1 + e)
        return math.log1p(e), e / (_ONE + e)
    e = math.exp(d)  # sigmoid(-d) = 1 / (1 + e)
    return math.log1p(e) - d, _ONE / (_ONE + e)


@njit(**_INL)
def sigmoid(z):
    if z >= 0:
        return _ONE / (_ONE + math.exp(-z))
    ez = math.exp(z)
    return ez / (_ONE + ez)


# --------------------------------------------------------------------------------------
# per-sample steps (exposed for the gradient tests)
# --------------------------------------------------------------------------------------
@njit(**_NONRT)
def pairwise_backward(uf, u, cx, s, has_ctx, itf, i, negs, n_neg, gneg, buf, params, hyper,
                      adagrad):
    """Update for a pairwise loss sum_n L(d_n), d_n = y(q, t+) - y(q, t-_n), given
    ``gneg[n] = dL/dd_n`` and the forward rows ``buf[P], buf[EP], buf[EN + n]`` (all from the
    same parameters). ``dd/dtheta`` is the full-FM gradient on t+ minus that on t-; for query
    factors it is ``x_j (e+ - e-)``; w0 and the query's linear weights get no gradient."""
    k = buf.shape[1]
    G = _ZERO
    for n in range(n_neg):
        G += gneg[n]
    for f in range(k):
        buf[QG, f] = G * buf[EP, f]
    for n in range(n_neg):
        gn = gneg[n]
        for f in range(k):
            buf[QG, f] -= gn * buf[EN + n, f]
    update_full_row(itf, i, G, buf, P, EP, params, hyper, adagrad)
    for n in range(n_neg):
        update_full_row(itf, negs[n], -gneg[n], buf, P, EN + n, params, hyper, adagrad)
    update_query_row(uf, u, buf, QG, params, hyper, adagrad)
    if has_ctx:
        update_query_row(cx, s, buf, QG, params, hyper, adagrad)


@njit(**_INL)
def fill_negatives(states, c, u, pos, n_items, q_items, popularity, n_negatives, negs):
    """BPR's negatives for one positive of user ``u`` into ``negs``; returns how many were
    found (a draw that keeps hitting the user's positives gives up, see ``draw_negative``)."""
    n_ok = np.int64(0)
    for _ in range(n_negatives):
        j = draw_negative(states, c, u, pos, n_items, q_items, popularity, MAX_NEGATIVE_TRIES)
        if j >= 0:
            negs[n_ok] = j
            n_ok += 1
    return n_ok


@njit(**_INL)
def warp_step(states, c, u, i, pos, n_items, q_items, popularity, max_sampled, top, wt, uf, cx,
              smp, has_ctx, itf, negs, gneg, buf, params, hyper, adagrad):
    """One WARP positive ``i`` against the query vector already in ``buf[P]``: draw items
    until one violates the margin, then step on it with rank weight log(top / tries).
    Returns (the sample's loss, the weight of its step; both 0 when no step was taken)."""
    w = params[1]
    V = params[2]
    spos = item_vector(itf, i, w, V, buf, EP) + dot_rows(buf, P, buf, EP)
    for tries in range(1, max_sampled + 1):
        j = draw_item(states, c, n_items, q_items, popularity)
        sneg = item_vector(itf, j, w, V, buf, EN) + dot_rows(buf, P, buf, EN)
        if sneg > spos - _ONE:
            if is_positive_fast(pos, u, j):
                continue
            rw = min(math.log(max(1.0, math.floor(top / tries))), MAX_WARP_WEIGHT)
            if rw > 0.0:
                g = -wt * np.float32(rw)
                negs[0] = j
                gneg[0] = g
                pairwise_backward(uf, u, cx, smp, has_ctx, itf, i, negs, _N1, gneg, buf,
                                  params, scale_reg(hyper, -g), adagrad)
                return np.float64(-g * (_ONE - (spos - sneg))), -g
            break
    return np.float64(0.0), _ZERO


@njit(**_NONRT)
def pairwise_step(loss_code, uf, u, cx, s, has_ctx, itf, i, negs, n_neg, rank_weight, weight,
                  gneg, buf, params, hyper, adagrad):
    """One step of a pairwise loss on sample (q = user u + context s, t+ = item i) against
    the negatives ``negs[:n_neg]``; returns the sample's loss before the step.

    The objective is ``m * (sum_n l(d_n) + R)`` with ``d = y(q, t+) - y(q, t-)``; BPR:
    ``l(d) = log(1 + exp(-d))``, ``m = weight``; WARP: ``l(d) = max(0, 1 - d)``,
    ``m = weight * rank_weight``; ``R = sum reg/2 theta^2`` over every parameter occurrence
    the step touches (``reg_linear`` for item-side linear weights, ``reg_factors`` for the
    factors of the query row(s), of t+ and of each t-). The returned loss omits ``R``."""
    query_vector(uf, u, cx, s, has_ctx, params[2], buf, P)
    return pairwise_step_p(loss_code, uf, u, cx, s, has_ctx, itf, i, negs, n_neg, rank_weight,
                           weight, gneg, buf, params, hyper, adagrad)


@njit(**_NONRT)
def pairwise_step_p(loss_code, uf, u, cx, s, has_ctx, itf, i, negs, n_neg, rank_weight,
                    weight, gneg, buf, params, hyper, adagrad):
    """:func:`pairwise_step` with the query vector already in ``buf[P]``; leaves
    ``dL/dp`` in ``buf[QG]``."""
    w = params[1]
    V = params[2]
    spos = item_vector(itf, i, w, V, buf, EP) + dot_rows(buf, P, buf, EP)
    loss = 0.0
    for n in range(n_neg):
        sneg = item_vector(itf, negs[n], w, V, buf, EN + n) + dot_rows(buf, P, buf, EN + n)
        d = spos - sneg
        if loss_code == LOSS_BPR:
            lo, sg = bpr_terms(d)
            loss += weight * lo
            gneg[n] = -weight * sg
        elif d < _ONE:
            loss += weight * rank_weight * (_ONE - d)
            gneg[n] = -weight * rank_weight
        else:
            gneg[n] = _ZERO
    m = weight if loss_code == LOSS_BPR else weight * rank_weight
    pairwise_backward(uf, u, cx, s, has_ctx, itf, i, negs, n_neg, gneg, buf, params,
                      scale_reg(hyper, m), adagrad)
    return loss


@njit(**_NONRT)
def pointwise_step(loss_code, uf, u, cx, s, has_ctx, itf, i, target, weight, buf, params,
                   hyper, adagrad):
    """One step of a pointwise loss on the full FM score y(x), x = q + t; returns the loss
    before the step. The objective is ``weight * (l(y) + R)``; logistic: ``target`` in {0, 1},
    ``l = log(1 + exp(-/+ y))``; squared: ``l = (y - target)^2 / 2``; ``R = sum reg/2
    theta^2`` over the linear weights and factors of every feature of x (``w0`` has no L2).
    The returned loss omits ``R``."""
    w0 = params[0]
    w = params[1]
    V = params[2]
    gw0 = params[3]
    lr = hyper[0]
    cq = query_terms(uf, u, cx, s, has_ctx, w, V, buf, P)
    bt = item_vector(itf, i, w, V, buf, EP)
    y = w0[0] + cq + bt + dot_rows(buf, P, buf, EP)
    if loss_code == LOSS_LOGISTIC:
        if target > _ZERO:
            loss = weight * softplus(-y)
        else:
            loss = weight * softplus(y)
        g = weight * (sigmoid(y) - target)
    else:
        r = y - target
        loss = weight * _HALF * r * r
        g = weight * r
    if adagrad:
        a = gw0[0] + g * g
        gw0[0] = a
        w0[0] -= lr * g / math.sqrt(a)
    else:
        w0[0] -= lr * g
    # S = p + e for every row of the sample
    hs = scale_reg(hyper, weight)
    update_full_row(uf, u, g, buf, P, EP, params, hs, adagrad)
    if has_ctx:
        update_full_row(cx, s, g, buf, P, EP, params, hs, adagrad)
    update_full_row(itf, i, g, buf, P, EP, params, hs, adagrad)
    return loss


@njit(**_JIT)
def pairwise_sample(loss_code, uf, u, cx, s, has_ctx, itf, i, negs, rank_weight, weight,
                    params, hyper, adagrad):
    """Non-inlined entry to :func:`pairwise_step` for tests (allocates its scratch)."""
    n_neg = negs.shape[0]
    buf = np.zeros((EN + n_neg, params[2].shape[1]), params[2].dtype)
    gneg = np.zeros(n_neg, params[2].dtype)
    return pairwise_step(loss_code, uf, u, cx, s, has_ctx, itf, i, negs, n_neg, rank_weight,
                         weight, gneg, buf, params, hyper, adagrad)


@njit(**_JIT)
def pointwise_sample(loss_code, uf, u, cx, s, has_ctx, itf, i, target, weight, params, hyper,
                     adagrad):
    """Non-inlined entry to :func:`pointwise_step` for tests (allocates its scratch)."""
    buf = np.zeros((EN, params[2].shape[1]), params[2].dtype)
    return pointwise_step(loss_code, uf, u, cx, s, has_ctx, itf, i, target, weight, buf,
                          params, hyper, adagrad)


# --------------------------------------------------------------------------------------
# prefetching (the next sample's rows are loaded while the current one trains)
# --------------------------------------------------------------------------------------
def _emit_prefetch(context, builder, aryty, aryval, idxs):
    """``llvm.prefetch`` for writing, high locality, of the element at ``idxs``: a hint
    that never faults and changes no value."""
    ary = context.make_array(aryty)(context, builder, aryval)
    ptr = cgutils.get_item_pointer2(context, builder, ary.data,
                                    cgutils.unpack_tuple(builder, ary.shape),
                                    cgutils.unpack_tuple(builder, ary.strides), aryty.layout,
                                    idxs, wraparound=False)
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
    builder.call(fn, [ptr, i32(1), i32(3), i32(1)])


def _prefetch1(typingctx, arr, i):
    """Prefetch (for writing) the cache line holding ``arr[i]`` of a 1-D array."""
    def codegen(context, builder, signature, args):
        _emit_prefetch(context, builder, signature.args[0], args[0],
                       [context.cast(builder, args[1], signature.args[1], types.intp)])
        return context.get_dummy_value()
    return types.void(arr, i), codegen


def _prefetch2(typingctx, arr, r, f):
    """Prefetch (for writing) the cache line holding ``arr[r, f]`` of a 2-D array."""
    def codegen(context, builder, signature, args):
        _emit_prefetch(context, builder, signature.args[0], args[0],
                       [context.cast(builder, args[1], signature.args[1], types.intp),
                        context.cast(builder, args[2], signature.args[2], types.intp)])
        return context.get_dummy_value()
    return types.void(arr, r, f), codegen


# (typed Any: called from kernels as prefetch1(arr, i), prefetch2(arr, r, f))
prefetch1: Any = intrinsic(_prefetch1)
prefetch2: Any = intrinsic(_prefetch2)


@njit(**_INL)
def prefetch_feature(params, adagrad, col):
    """Start loading the weight, the factor row and (Adagrad) their sums of feature column
    ``col``: the first cache line of each row (the hardware prefetcher follows the row from
    there). Prefetching every line of the rows ran 1.9x / 1.7x one / two threads' samples/s
    at ML-20M size, but 0.9x on one thread at ML-1M size (where the rows are in cache
    anyway); the first line alone 1.6x / 1.3x, and 1.0x at ML-1M size."""
    prefetch1(params[1], col)
    prefetch2(params[2], col, _N0)
    if adagrad:
        prefetch1(params[4], col)
        prefetch2(params[5], col, _N0)


# --------------------------------------------------------------------------------------
# ids-only fast path: every user and item row is one entry, no context
# --------------------------------------------------------------------------------------
@njit(**_INL)
def step_weight(w, gw, j, gl, lr, adagrad):
    """``w[j] -= lr gl``, by Adagrad (divided by the root of the updated sum ``gw[j]`` of
    squared gradients) or plain SGD."""
    if adagrad:
        a = gw[j] + gl * gl
        gw[j] = a
        w[j] -= lr * gl / math.sqrt(a)
    else:
        w[j] -= lr * gl


@njit(**_INL)
def step_factor(V, gV, j, f, v, gv, lr, adagrad):
    """``V[j, f] = v - lr gv`` (v: its current value), by Adagrad or plain SGD, as
    :func:`step_weight`."""
    if adagrad:
        a = gV[j, f] + gv * gv
        gV[j, f] = a
        V[j, f] = v - lr * gv / math.sqrt(a)
    else:
        V[j, f] = v - lr * gv


@njit(**_INL)
def ids_pair_step(cu, xu, ci, xi, cj, xj, g, params, hyper, adagrad):
    """Fused BPR/WARP step for one-entry rows (user column cu with value xu, positive ci/xi,
    negative cj/xj, distinct columns) and ``g = dL/dd``: the same gradient as
    :func:`pairwise_backward` (p = xu v_cu, e = x v_c), in one pass over the factors."""
    w = params[1]
    V = params[2]
    gw = params[4]
    gV = params[5]
    lr, reg_w, reg_v = hyper
    k = V.shape[1]
    gxu = g * xu
    step_weight(w, gw, ci, g * xi + reg_w * w[ci], lr, adagrad)
    step_weight(w, gw, cj, -g * xj + reg_w * w[cj], lr, adagrad)
    for f in range(k):
        vu = V[cu, f]
        vi = V[ci, f]
        vj = V[cj, f]
        step_factor(V, gV, cu, f, vu, gxu * (xi * vi - xj * vj) + reg_v * vu, lr, adagrad)
        step_factor(V, gV, ci, f, vi, gxu * xi * vu + reg_v * vi, lr, adagrad)
        step_factor(V, gV, cj, f, vj, -gxu * xj * vu + reg_v * vj, lr, adagrad)


@njit(**_INL)
def ids_bpr_sample(cu, xu, ci, xi, cj, xj, wt, params, hyper, adagrad):
    """BPR on one-entry rows (user cu/xu, positive ci/xi, negative cj/xj) for a sample of
    weight ``wt``: the score difference, then :func:`ids_pair_step`. Returns the weighted
    loss."""
    w = params[1]
    V = params[2]
    d = w[ci] * xi - w[cj] * xj + xu * dot_diff_rows(V, cu, V, xi, ci, xj, cj)
    lo, sg = bpr_terms(d)
    ids_pair_step(cu, xu, ci, xi, cj, xj, -wt * sg, params, scale_reg(hyper, wt), adagrad)
    return wt * lo


@njit(**_INL)
def ids_multi_step(cu, xu, ci, xi, cols, xs, n_neg, gneg, buf, params, hyper, adagrad):
    """Fused BPR step for one-entry rows against the negatives in columns ``cols[:n_neg]``
    with values ``xs`` (possibly repeated) and ``gneg[n] = dL/dd_n``: the updates of
    :func:`pairwise_backward` with its expressions (``S - v x``, ``S = p + e`` from the
    pre-step values, ``v`` the current one), so a repeated negative steps twice on its row
    as there. Rows are distinct otherwise, so the positive's and the user's steps share one
    pass; ``buf[QG]`` and ``buf[EN + n]`` are scratch (user gradient, pre-step e of t-_n)."""
    w = params[1]
    V = params[2]
    gw = params[4]
    gV = params[5]
    lr, reg_w, reg_v = hyper
    k = V.shape[1]
    G = _ZERO
    for n in range(n_neg):
        G += gneg[n]
    gx = G * xi
    step_weight(w, gw, ci, gx + reg_w * w[ci], lr, adagrad)
    for n in range(n_neg):
        cj = cols[n]
        step_weight(w, gw, cj, -gneg[n] * xs[n] + reg_w * w[cj], lr, adagrad)
    # the user's gradient reads every item row before any of them steps
    for f in range(k):
        buf[QG, f] = G * (xi * V[ci, f])
    for n in range(n_neg):
        cj = cols[n]
        xj = xs[n]
        r = EN + n
        gn = gneg[n]
        for f in range(k):
            e = xj * V[cj, f]
            buf[r, f] = e
            buf[QG, f] -= gn * e
    for n in range(n_neg):
        cj = cols[n]
        xj = xs[n]
        r = EN + n
        gj = -gneg[n] * xj
        for f in range(k):
            v = V[cj, f]
            step_factor(V, gV, cj, f, v, gj * (xu * V[cu, f] + buf[r, f] - v * xj) + reg_v * v,
                        lr, adagrad)
    for f in range(k):
        vu = V[cu, f]
        vi = V[ci, f]
        step_factor(V, gV, ci, f, vi, gx * (xu * vu + xi * vi - vi * xi) + reg_v * vi, lr,
                    adagrad)
        step_factor(V, gV, cu, f, vu, xu * buf[QG, f] + reg_v * vu, lr, adagrad)


@njit(**_INL)
def warp_draw_ids(states, c, u, pos, n_items, q_items, popularity, max_sampled, top, icol, ival,
                  w, V, A, a, xa, spos):
    """WARP's search over ids-only item rows (item j is column ``icol[j]``, value ``ival[j]``)
    for the query vector ``xa A[a]``, given the positive's score ``spos``: draws items until a
    non-positive one violates the margin. Returns its (column, value, rank weight
    log(top / tries) capped at ``MAX_WARP_WEIGHT``, score); rank weight 0 when none did."""
    for tries in range(1, max_sampled + 1):
        j = draw_item(states, c, n_items, q_items, popularity)
        cj = np.int64(icol[j])
        xj = ival[j]
        sneg = w[cj] * xj + xa * xj * dot_rows(A, a, V, cj)
        if sneg > spos - _ONE:
            if is_positive_fast(pos, u, j):
                continue
            rw = min(math.log(max(1.0, math.floor(top / tries))), MAX_WARP_WEIGHT)
            return cj, xj, rw, sneg
    return _NONE, ival[0], 0.0, spos


# --------------------------------------------------------------------------------------
# chunks: the per-sample loops
# --------------------------------------------------------------------------------------
@njit(**_NONRT)
def chunk_pairwise(loss_code, c, start, end, states, uf, itf, cx, has_ctx, pos, queue, samples,
                   params, hyper, adagrad, popularity, n_negatives, max_sampled, buf, negs,
                   gneg):
    """BPR or WARP over ``queue[:][start:end]`` (shuffled first) with RNG stream ``c``.

    ``queue = (users, items, sample_ids)`` holds the training samples in (chunk-wise)
    shuffled order, contiguous so that a chunk reads them from cache; ``samples = (values,
    weights, has_weights)`` is indexed by sample id. Returns (summed loss, number of trained
    samples)."""
    q_users, q_items, q_ids = queue
    has_ids = q_ids.shape[0] > 0
    _, s_weights, has_weights = samples
    n_items = itf[0].shape[0] - 1
    top = n_items - 1
    V = params[2]
    shuffle_queue(queue, start, end, states, c)
    loss = 0.0
    count = 0
    for t in range(start, end):
        u = np.int64(q_users[t])
        i = np.int64(q_items[t])
        smp = np.int64(q_ids[t]) if has_ids else _NONE
        wt = s_weights[smp] if has_weights else _ONE
        if loss_code == LOSS_BPR:
            n_ok = fill_negatives(states, c, u, pos, n_items, q_items, popularity, n_negatives,
                                  negs)
            if n_ok == 0:
                continue
            loss += pairwise_step(loss_code, uf, u, cx, smp, has_ctx, itf, i, negs, n_ok, _ONE,
                                  wt, gneg, buf, params, hyper, adagrad)
            count += 1
        else:
            query_vector(uf, u, cx, smp, has_ctx, V, buf, P)
            step_loss, _ = warp_step(states, c, u, i, pos, n_items, q_items, popularity,
                                     max_sampled, top, wt, uf, cx, smp, has_ctx, itf, negs, gneg,
                                     buf, params, hyper, adagrad)
            loss += step_loss
            count += 1
    return loss, count


@njit(**_NONRT)
def chunk_pairwise_ids(loss_code, c, start, end, states, ucol, uval, icol, ival, pos, queue,
                       samples, params, hyper, adagrad, popularity, n_negatives, max_sampled,
                       buf, negs, gneg, xs):
    """``chunk_pairwise`` for ids-only designs: user u is column ``ucol[u]`` with value
    ``uval[u]``, item i column ``icol[i]`` (all distinct) with value ``ival[i]``. Same
    sampling, RNG draws and update order as ``chunk_pairwise``. One BPR negative or WARP:
    the parameters differ from it by float rounding (one fused pass); several BPR negatives:
    its expressions, so bit for bit when the values are 1 (one-hot rows)."""
    q_users, q_items, q_ids = queue
    has_ids = q_ids.shape[0] > 0
    _, s_weights, has_weights = samples
    n_items = icol.shape[0]
    top = n_items - 1
    w = params[1]
    V = params[2]
    shuffle_queue(queue, start, end, states, c)
    loss = 0.0
    count = 0
    # BPR with one negative draws each sample's negative one sample ahead (the same draws in
    # the same order) and prefetches that sample's rows meanwhile
    bpr_one = loss_code == LOSS_BPR and n_negatives == 1
    j_next = _NONE
    if bpr_one and start < end:
        j_next = draw_negative(states, c, np.int64(q_users[start]), pos, n_items, q_items,
                               popularity, MAX_NEGATIVE_TRIES)
    for t in range(start, end):
        u = np.int64(q_users[t])
        i = np.int64(q_items[t])
        smp = np.int64(q_ids[t]) if has_ids else _NONE
        wt = s_weights[smp] if has_weights else _ONE
        cu = np.int64(ucol[u])
        xu = uval[u]
        ci = np.int64(icol[i])
        xi = ival[i]
        if bpr_one:
            j = j_next
            if t + 1 < end:
                u_next = np.int64(q_users[t + 1])
                j_next = draw_negative(states, c, u_next, pos, n_items, q_items, popularity,
                                       MAX_NEGATIVE_TRIES)
                if u_next != u:  # (in user visits the user's row is in cache already)
                    prefetch_feature(params, adagrad, np.int64(ucol[u_next]))
                prefetch_feature(params, adagrad, np.int64(icol[np.int64(q_items[t + 1])]))
                if j_next >= 0:
                    prefetch_feature(params, adagrad, np.int64(icol[j_next]))
            if j < 0:
                continue
            loss += ids_bpr_sample(cu, xu, ci, xi, np.int64(icol[j]), ival[j], wt, params,
                                   hyper, adagrad)
            count += 1
        elif loss_code == LOSS_BPR:
            n_ok = fill_negatives(states, c, u, pos, n_items, q_items, popularity, n_negatives,
                                  negs)
            if n_ok == 0:
                continue
            # the general kernel's scores: y(q, t) = b(t) + <p, e>, p = xu v_u, e = x v_t
            spos = w[ci] * xi + xu * xi * dot_rows(V, cu, V, ci)
            sample_loss = 0.0
            for n in range(n_ok):
                cj = np.int64(icol[negs[n]])
                xj = ival[negs[n]]
                negs[n] = cj  # from here on the negative's column
                xs[n] = xj
                d = spos - (w[cj] * xj + xu * xj * dot_rows(V, cu, V, cj))
                lo, sg = bpr_terms(d)
                sample_loss += wt * lo
                gneg[n] = -wt * sg
            loss += sample_loss
            ids_multi_step(cu, xu, ci, xi, negs, xs, n_ok, gneg, buf, params,
                           scale_reg(hyper, wt), adagrad)
            count += 1
        else:
            spos = w[ci] * xi + xu * xi * dot_rows(V, cu, V, ci)
            cj, xj, rw, sneg = warp_draw_ids(states, c, u, pos, n_items, q_items, popularity,
                                             max_sampled, top, icol, ival, w, V, V, cu, xu,
                                             spos)
            if rw > 0.0:
                g = -wt * np.float32(rw)
                loss += -g * (_ONE - (spos - sneg))
                ids_pair_step(cu, xu, ci, xi, cj, xj, g, params, scale_reg(hyper, -g), adagrad)
            count += 1
    return loss, count


@njit(**_NONRT)
def chunk_pointwise(loss_code, c, start, end, states, uf, itf, cx, has_ctx, pos, queue,
                    samples, params, hyper, adagrad, popularity, n_negatives, buf):
    """Logistic (each positive label 1, plus ``n_negatives`` sampled label-0 items) or squared
    (target = sample value) over ``queue[:][start:end]``. Returns (summed loss, number of
    steps)."""
    q_users, q_items, q_ids = queue
    has_ids = q_ids.shape[0] > 0
    s_values, s_weights, has_weights = samples
    n_items = itf[0].shape[0] - 1
    shuffle_queue(queue, start, end, states, c)
    loss = 0.0
    count = 0
    for t in range(start, end):
        u = np.int64(q_users[t])
        i = np.int64(q_items[t])
        smp = np.int64(q_ids[t]) if has_ids else _NONE
        wt = s_weights[smp] if has_weights else _ONE
        target = s_values[smp] if loss_code == LOSS_SQUARED else _ONE
        loss += pointwise_step(loss_code, uf, u, cx, smp, has_ctx, itf, i, target, wt, buf,
                               params, hyper, adagrad)
        count += 1
        if loss_code == LOSS_LOGISTIC:
            for _ in range(n_negatives):
                j = draw_negative(states, c, u, pos, n_items, q_items, popularity,
                                  MAX_NEGATIVE_TRIES)
                if j < 0:
                    break
                loss += pointwise_step(loss_code, uf, u, cx, smp, has_ctx, itf, j, _ZERO, wt,
                                       buf, params, hyper, adagrad)
                count += 1
    return loss, count


# --------------------------------------------------------------------------------------
# epochs: one serial kernel per kind; parallel epochs run it on threads (Hogwild)
# --------------------------------------------------------------------------------------
KIND_PAIRWISE = 0
KIND_PAIRWISE_IDS = 1
KIND_POINTWISE = 2


@njit(**_INL)
def pairwise_scratch(n_negatives, V):
    """An epoch's scratch ``(buf, negs, gneg, xs)`` for the chunk functions: written before
    it is read within each sample, so the chunks share it."""
    nn = max(n_negatives, 1)
    buf = np.zeros((EN + nn, V.shape[1]), V.dtype)
    return buf, np.zeros(nn, np.int64), np.zeros(nn, V.dtype), np.zeros(nn, V.dtype)


def _make_epoch(kind):
    # ``kind`` is a closure constant: numba prunes the branches of the other kinds before
    # typing (each epoch links only its own chunk function, which keeps compile times down),
    # and it enters the cache key, so the three kinds get distinct cache entries

    def epoch(loss_code, uf, itf, cx, has_ctx, pos, queue, samples, chunk_order, seed, params,
              hyper, adagrad, popularity, n_negatives, max_sampled, out_loss, out_count):
        """Train the chunks listed in ``chunk_order`` (a part of one epoch over the sample
        ``queue``, cut into ``out_loss.shape[0]`` chunks of ``CHUNK_SIZE`` samples), in that
        order; chunk c has its own RNG stream seeded ``seed + c`` and is shuffled in place
        before it is trained. The kind (pairwise, pairwise ids-only reading column
        ``indices[u]`` of one-entry rows, or pointwise) is fixed per compiled epoch. Writes
        each chunk's summed loss and count into ``out_loss[c]``, ``out_count[c]``; returns
        the kind. Threads may run it at once on disjoint ``chunk_order`` parts (Hogwild)."""
        n_chunks = out_loss.shape[0]
        n_samples = queue[0].shape[0]
        V = params[2]
        buf, negs, gneg, xs = pairwise_scratch(n_negatives, V)
        states = seed_states(seed, n_chunks)
        for cc in range(chunk_order.shape[0]):
            c = chunk_order[cc]
            start = c * CHUNK_SIZE
            end = min(start + CHUNK_SIZE, n_samples)
            if kind == KIND_PAIRWISE:
                loss, count = chunk_pairwise(loss_code, c, start, end, states, uf, itf, cx,
                                             has_ctx, pos, queue, samples, params, hyper,
                                             adagrad, popularity, n_negatives, max_sampled,
                                             buf, negs, gneg)
            elif kind == KIND_PAIRWISE_IDS:
                loss, count = chunk_pairwise_ids(loss_code, c, start, end, states, uf[1],
                                                 uf[2], itf[1], itf[2], pos, queue, samples,
                                                 params, hyper, adagrad, popularity,
                                                 n_negatives, max_sampled, buf, negs, gneg,
                                                 xs)
            else:
                loss, count = chunk_pointwise(loss_code, c, start, end, states, uf, itf, cx,
                                              has_ctx, pos, queue, samples, params, hyper,
                                              adagrad, popularity, n_negatives, buf)
            out_loss[c] = loss
            out_count[c] = count
        return kind

    return epoch


#: ``EPOCHS[kind]``: the epoch kernel of each kind (serial; threads run it in parallel).
EPOCHS = tuple(njit(**_JIT)(_make_epoch(kind))
               for kind in (KIND_PAIRWISE, KIND_PAIRWISE_IDS, KIND_POINTWISE))


# --------------------------------------------------------------------------------------
# ids-only designs in user visits: each user's samples in a row (the user's row, its
# accumulators and its positives' filter stay in cache across them)
# --------------------------------------------------------------------------------------
@njit(**_JIT)
def make_visit_queue(users, items, n_users, with_ids):
    """The training queue grouped by user: ``(users, items, sample_ids)`` (int32) with user
    u's samples in ``[qptr[u], qptr[u + 1])`` in their original order (a counting sort),
    and ``qptr``. Sample ids as :func:`make_queue` (an empty array without ``with_ids``)."""
    n = users.shape[0]
    qptr = np.zeros(n_users + 1, np.int64)
    for a in range(n):
        qptr[np.int64(users[a]) + 1] += 1
    for u in range(n_users):
        qptr[u + 1] += qptr[u]
    fill = qptr[:-1].copy()
    qu = np.empty(n, np.int32)
    qi = np.empty(n, np.int32)
    qs = np.empty(n if with_ids else 0, np.int32)
    for a in range(n):
        u = np.int64(users[a])
        b = fill[u]
        fill[u] = b + 1
        qu[b] = u
        qi[b] = items[a]
        if with_ids:
            qs[b] = a
    return (qu, qi, qs), qptr


@njit(**_NONRT)
def chunk_visits_pairwise_ids(loss_code, c, ustart, uend, states, vusers, qptr, ucol, uval,
                              icol, ival, pos, queue, samples, params, hyper, adagrad,
                              popularity, n_negatives, max_sampled, buf, negs, gneg, xs):
    """:func:`chunk_pairwise_ids` over the visits of users ``vusers[ustart:uend]`` (shuffled
    first) with RNG stream ``c``: each user's samples ``queue[:][qptr[u]:qptr[u + 1]]``
    (shuffled, then trained by :func:`chunk_pairwise_ids`) in a row. Returns (summed loss,
    number of trained samples)."""
    shuffle_rows(vusers, ustart, uend, states, c)
    loss = 0.0
    count = 0
    for a in range(ustart, uend):
        u = np.int64(vusers[a])
        vloss, vcount = chunk_pairwise_ids(loss_code, c, qptr[u], qptr[u + 1], states, ucol,
                                           uval, icol, ival, pos, queue, samples, params,
                                           hyper, adagrad, popularity, n_negatives,
                                           max_sampled, buf, negs, gneg, xs)
        loss += vloss
        count += vcount
    return loss, count


@njit(**_JIT)
def visits_ids_epoch(loss_code, cptr, vusers, qptr, uf, itf, pos, queue, samples, chunk_order,
                     seed, params, hyper, adagrad, popularity, n_negatives, max_sampled,
                     out_loss, out_count):
    """The ids-only pairwise epoch (``EPOCHS[KIND_PAIRWISE_IDS]``) in user visits: trains
    the chunks listed in ``chunk_order``, chunk c being the visits of users
    ``vusers[cptr[c]:cptr[c + 1]]`` with its own RNG stream ``seed + c``
    (:func:`chunk_visits_pairwise_ids`). Threads may run it at once on disjoint parts
    (Hogwild); with one thread the epoch is reproducible. Writes each chunk's summed loss
    and count into ``out_loss[c]``, ``out_count[c]``."""
    n_chunks = out_loss.shape[0]
    buf, negs, gneg, xs = pairwise_scratch(n_negatives, params[2])
    states = seed_states(seed, n_chunks)
    for cc in range(chunk_order.shape[0]):
        c = chunk_order[cc]
        loss, count = chunk_visits_pairwise_ids(loss_code, c, cptr[c], cptr[c + 1], states,
                                                vusers, qptr, uf[1], uf[2], itf[1], itf[2],
                                                pos, queue, samples, params, hyper, adagrad,
                                                popularity, n_negatives, max_sampled, buf,
                                                negs, gneg, xs)
        out_loss[c] = loss
        out_count[c] = count


# --------------------------------------------------------------------------------------
# ids-only BPR in user visits on several threads: item blocks, one per thread and round
# --------------------------------------------------------------------------------------
@njit(**_JIT)
def count_values(values, n):
    """``np.bincount(values, minlength=n)`` without its int64 copy of ``values`` (8 bytes
    per sample: 160 MB at ML-20M size)."""
    out = np.zeros(n, np.int64)
    for a in range(values.shape[0]):
        out[values[a]] += 1
    return out


@njit(**_INL)
def draw_negative_in_block(states, c, user, pos, blocks, b, pop_items, popularity, max_tries):
    """An item of block ``b`` that is not one of ``user``'s positives: uniform over the
    block's items, or (``popularity``) the item of a random training sample, redrawn until
    it falls in the block; -1 when ``max_tries`` draws all miss."""
    block_of, blk_ptr, blk_items = blocks
    lo = blk_ptr[b]
    size = blk_ptr[b + 1] - lo
    if size == 0:
        return _NONE
    for _ in range(max_tries):
        if popularity:
            j = np.int64(pop_items[rng_below(states, c, pop_items.shape[0])])
            if block_of[j] != b:
                continue
        else:
            j = np.int64(blk_items[lo + rng_below(states, c, size)])
        if not is_positive_fast(pos, user, j):
            return j
    return _NONE


@njit(**_INL)
def next_in_block(q_items, block_of, b, t, end):
    """The first queue position in ``[t, end)`` whose item is in block ``b``, else ``end``."""
    while t < end and block_of[np.int64(q_items[t])] != b:
        t += 1
    return t


@njit(**_NONRT)
def chunk_visits_bpr_block(c, ustart, uend, states, vusers, qptr, ucol, uval, icol, ival,
                           pos, queue, samples, params, hyper, adagrad, popularity, blocks, b,
                           first):
    """BPR with one negative over the visits of users ``vusers[ustart:uend]`` with RNG
    stream ``c``, restricted to item block ``b``: only the samples whose item is in the
    block, each against a negative drawn from the block (:func:`draw_negative_in_block`),
    with the updates of :func:`chunk_pairwise_ids`. The ``first`` round of an epoch
    shuffles the users, then each user's samples, before training them; later rounds keep
    that order. Returns (summed loss, number of trained samples)."""
    q_users, q_items, q_ids = queue
    has_ids = q_ids.shape[0] > 0
    _, s_weights, has_weights = samples
    block_of = blocks[0]
    if first:
        shuffle_rows(vusers, ustart, uend, states, c)
    loss = 0.0
    count = 0
    for a in range(ustart, uend):
        u = np.int64(vusers[a])
        start = qptr[u]
        end = qptr[u + 1]
        if first:
            shuffle_queue(queue, start, end, states, c)
        cu = np.int64(ucol[u])
        xu = uval[u]
        # each sample's negative is drawn one sample ahead (the same draws in the same
        # order), and that sample's item rows prefetched meanwhile
        t_next = next_in_block(q_items, block_of, b, start, end)
        j_next = _NONE
        if t_next < end:
            j_next = draw_negative_in_block(states, c, u, pos, blocks, b, q_items, popularity,
                                            MAX_NEGATIVE_TRIES)
        while t_next < end:
            t = t_next
            j = j_next
            t_next = next_in_block(q_items, block_of, b, t + 1, end)
            if t_next < end:
                j_next = draw_negative_in_block(states, c, u, pos, blocks, b, q_items,
                                                popularity, MAX_NEGATIVE_TRIES)
                prefetch_feature(params, adagrad, np.int64(icol[np.int64(q_items[t_next])]))
                if j_next >= 0:
                    prefetch_feature(params, adagrad, np.int64(icol[j_next]))
            i = np.int64(q_items[t])
            smp = np.int64(q_ids[t]) if has_ids else _NONE
            wt = s_weights[smp] if has_weights else _ONE
            if j < 0:
                continue
            loss += ids_bpr_sample(cu, xu, np.int64(icol[i]), ival[i], np.int64(icol[j]),
                                   ival[j], wt, params, hyper, adagrad)
            count += 1
    return loss, count


@njit(**_JIT)
def visits_bpr_block_epoch(cptr, vusers, qptr, uf, itf, pos, queue, samples, chunk_order,
                           states, params, hyper, adagrad, popularity, blocks, b, first,
                           out_loss, out_count):
    """One round of the multi-threaded ids-only BPR epoch (one negative, user visits): the
    chunks in ``chunk_order`` (chunk c: the visits of users ``vusers[cptr[c]:cptr[c + 1]]``,
    RNG stream ``states[c]``, continued across rounds) trained on item block ``b`` of
    ``blocks = (block_of, blk_ptr, blk_items)`` (item i is in block ``block_of[i]``; block
    b's items are ``blk_items[blk_ptr[b]:blk_ptr[b + 1]]``) by
    :func:`chunk_visits_bpr_block`. An epoch on T threads is T rounds; in round r thread t
    trains its chunks on block (t + r) mod T, so threads running at once write disjoint
    user rows and disjoint item rows, and each sample is trained once per epoch. The
    ``first`` round writes each chunk's summed loss and count into ``out_loss[c]``,
    ``out_count[c]``; later rounds add to them."""
    for cc in range(chunk_order.shape[0]):
        c = chunk_order[cc]
        loss, count = chunk_visits_bpr_block(c, cptr[c], cptr[c + 1], states, vusers, qptr,
                                             uf[1], uf[2], itf[1], itf[2], pos, queue,
                                             samples, params, hyper, adagrad, popularity,
                                             blocks, b, first)
        if first:
            out_loss[c] = loss
            out_count[c] = count
        else:
            out_loss[c] += loss
            out_count[c] += count


# --------------------------------------------------------------------------------------
# scoring and evaluation
# --------------------------------------------------------------------------------------
@njit(**_JIT)
def predict_rows(indptr, indices, data, w0, w, V, out):
    """Full FM score of each CSR row in O(k nnz), accumulated in float64, into ``out``."""
    n = indptr.shape[0] - 1
    k = V.shape[1]
    S = np.zeros(k, np.float64)
    for r in range(n):
        for f in range(k):
            S[f] = 0.0
        lin = 0.0
        sq = 0.0
        for jj in range(indptr[r], indptr[r + 1]):
            j = indices[jj]
            x = np.float64(data[jj])
            lin += np.float64(w[j]) * x
            for f in range(k):
                v = np.float64(V[j, f])
                S[f] += v * x
                sq += v * v * x * x
        ss = 0.0
        for f in range(k):
            ss += S[f] * S[f]
        out[r] = w0 + lin + 0.5 * (ss - sq)


# --------------------------------------------------------------------------------------
# user visits: pairwise losses with a history field (cached sums, as libFM)
# --------------------------------------------------------------------------------------
@njit(**_INL)
def visit_rows(n_negatives):
    """Rows ``(HS, HG)`` of the visit scratch buffer, after the negatives': the cached
    history sum ``S = sum_j x_j y_j`` and the accumulated ``sum_s r_s dL_s/dp``."""
    return EN + n_negatives, EN + n_negatives + 1


@njit(**_INL)
def shuffle_rows(arr, start, end, states, c):
    """Fisher-Yates shuffle of ``arr[start:end]`` with stream ``c``."""
    for a in range(end - 1, start, -1):
        b = start + rng_below(states, c, a - start + 1)
        tmp = arr[a]
        arr[a] = arr[b]
        arr[b] = tmp


@njit(**_INL)
def visit_sample(queue, samples, t):
    """Item, sample id (-1 when the queue carries none) and weight of queue entry ``t``."""
    q_items, q_ids = queue
    smp = np.int64(q_ids[t]) if q_ids.shape[0] > 0 else _NONE
    return np.int64(q_items[t]), smp, samples[1][smp] if samples[2] else _ONE


@njit(**_NONRT)
def begin_visit(states, c, u, qptr, queue, hist, V, buf, hs, hg, hmap):
    """Start of user ``u``'s visit: shuffles its samples ``queue[:][qptr[u]:qptr[u + 1]]``
    with stream ``c``, caches the history sum ``S = sum_j x_j y_j`` in ``buf[hs]``, zeroes
    the visit's gradient ``buf[hg]`` and maps each history column j of the user's row to its
    position in that row (``hmap[j]``; ``hmap`` is -1 elsewhere, and again after
    :func:`push_history`): a target's history entry is then one load, not a binary search."""
    q_items, q_ids = queue
    s0 = qptr[u]
    s1 = qptr[u + 1]
    for x in range(s1 - 1, s0, -1):
        y = s0 + rng_below(states, c, x - s0 + 1)
        tmp = q_items[x]
        q_items[x] = q_items[y]
        q_items[y] = tmp
        if q_ids.shape[0] > 0:
            tmp = q_ids[x]
            q_ids[x] = q_ids[y]
            q_ids[y] = tmp
    indptr, indices, data = hist
    k = V.shape[1]
    for f in range(k):
        buf[hs, f] = _ZERO
        buf[hg, f] = _ZERO
    h0 = indptr[u]
    for jj in range(h0, indptr[u + 1]):
        j = indices[jj]
        x = data[jj]
        hmap[j] = jj - h0
        for f in range(k):
            buf[hs, f] += x * V[j, f]


@njit(**_INL)
def visit_target(hist, u, hmap, hcol, hres, i):
    """Item ``i``'s history column ``hc`` (-1: none), its entry ``jj`` in user ``u``'s
    history row (-1: not in it) and the weight ``r`` of the rest of the history in the
    query (``hres[u]``, for n - 1 items, when the target is left out; else 1)."""
    hc = np.int64(hcol[i])
    jj = _NONE
    if hc >= 0:
        rel = np.int64(hmap[hc])
        if rel >= 0:
            jj = np.int64(hist[0][u]) + rel
    r = hres[u] if jj >= 0 else _ONE
    return hc, jj, r


@njit(**_NONRT)
def add_history(hist, hc, jj, r, V, buf, hs):
    """``buf[P] += r (S - x_t y_t)``: the cached history sum re-weighted, without the
    target's own history feature (entry ``jj``, column ``hc``) when it has one."""
    k = V.shape[1]
    if jj >= 0:
        xt = hist[2][jj]
        for f in range(k):
            buf[P, f] += r * (buf[hs, f] - xt * V[hc, f])
    else:
        for f in range(k):
            buf[P, f] += r * buf[hs, f]


@njit(**_NONRT)
def visit_gradient(buf, hg, r, jj, m, hslot, cg, cm, n_slots):
    """After a step of L2 multiplier ``m`` that left ``dL/dp`` in ``buf[QG]``: adds
    ``dL/dy_j = r x_j dL/dp`` (without x_j) to the visit's history gradient ``buf[hg]`` and,
    when the target is history entry ``jj`` (which this sample left out of its query), to
    that entry's slot of ``cg``/``cm``, which :func:`push_history` takes back out. Returns
    the number of slots in use."""
    k = buf.shape[1]
    for f in range(k):
        buf[hg, f] += r * buf[QG, f]
    if jj >= 0:
        sl = hslot[jj] - 1
        if sl < 0:
            sl = n_slots
            n_slots += 1
            hslot[jj] = sl + 1
            cm[sl] = m
            for f in range(k):
                cg[sl, f] = r * buf[QG, f]
        else:
            cm[sl] += m
            for f in range(k):
                cg[sl, f] += r * buf[QG, f]
    return n_slots


@njit(**_NONRT)
def push_history(hist, u, buf, hg, mtot, hslot, hmap, cg, cm, params, hyper, adagrad):
    """End of a visit: one step on every history feature j of user u with the visit's
    summed gradient ``x_j (buf[hg] - cg[slot_j] + reg_v (mtot - cm[slot_j]) y_j)``, where
    slot j (``hslot``, 1-based, 0 = none) holds what the samples whose target was j
    contributed (they left j out of their history); resets the slots and ``hmap``.

    The L2 penalty of a history feature is weighted by its value x_j in the row
    (``x_j reg_v/2 |y_j|^2`` per sample): its gradient signal is scaled by x_j = 1/sqrt(n)
    too, and an unweighted penalty shrank the history vectors to nothing (measured on
    ML-100K: validation NDCG@10 0.218 against 0.276 for ids + history at reg 0.01)."""
    indptr, indices, data = hist
    V = params[2]
    gV = params[5]
    lr = hyper[0]
    reg_v = hyper[2]
    k = V.shape[1]
    for jj in range(indptr[u], indptr[u + 1]):
        j = indices[jj]
        x = data[jj]
        hmap[j] = -1
        sl = hslot[jj] - 1
        hslot[jj] = 0
        if sl >= 0:
            m = mtot - cm[sl]
            for f in range(k):
                v = V[j, f]
                step_factor(V, gV, j, f, v, x * (buf[hg, f] - cg[sl, f] + reg_v * m * v), lr,
                            adagrad)
        else:
            for f in range(k):
                v = V[j, f]
                step_factor(V, gV, j, f, v, x * (buf[hg, f] + reg_v * mtot * v), lr, adagrad)


@njit(**_NONRT)
def chunk_visits(loss_code, c, ustart, uend, states, vusers, qptr, queue, uf, hist, hcol, hres,
                 hslot, hmap, itf, cx, has_ctx, pos, samples, params, hyper, adagrad,
                 popularity, n_negatives, max_sampled, buf, negs, gneg, cg, cm):
    """BPR or WARP over the visits of users ``vusers[ustart:uend]`` (shuffled first) with RNG
    stream ``c``: each user's samples ``queue[:][qptr[u]:qptr[u + 1]]`` (shuffled) in a row.

    The query of a sample is ``p = V^T (uf[u] + cx[s]) + r_s (S - x_t y_t)``: the user's
    own row (id, attributes) and context at their current values, plus the history sum
    ``S = sum_j x_j y_j`` cached once per visit, with the target's history feature t left
    out (``r_s = hres[u]`` re-weights the rest, for n - 1 items; ``r_s = 1`` when t is not in
    the history). Item sides, the user's row and the context step per sample, as in
    :func:`chunk_pairwise`; the history features step once, at the end of the visit, with
    the sum over the visit of each sample's gradient (:func:`push_history`): exactly the
    per-sample gradients at the visit's starting history. Scratch: ``cg`` (rows >= the
    longest visit) and ``cm`` hold the targets' contributions, ``hmap`` (one int per
    feature, all -1) the visit's history positions. Returns (summed loss, count)."""
    q_items = queue[0]
    n_items = itf[0].shape[0] - 1
    top = n_items - 1
    V = params[2]
    hs, hg = visit_rows(n_negatives)
    shuffle_rows(vusers, ustart, uend, states, c)
    loss = 0.0
    count = 0
    for a in range(ustart, uend):
        u = np.int64(vusers[a])
        begin_visit(states, c, u, qptr, queue, hist, V, buf, hs, hg, hmap)
        mtot = _ZERO
        n_slots = 0
        for t in range(qptr[u], qptr[u + 1]):
            i, smp, wt = visit_sample(queue, samples, t)
            hc, jj, r = visit_target(hist, u, hmap, hcol, hres, i)
            query_vector(uf, u, cx, smp, has_ctx, V, buf, P)
            add_history(hist, hc, jj, r, V, buf, hs)
            m = _ZERO
            if loss_code == LOSS_BPR:
                n_ok = fill_negatives(states, c, u, pos, n_items, q_items, popularity,
                                      n_negatives, negs)
                if n_ok == 0:
                    continue
                loss += pairwise_step_p(loss_code, uf, u, cx, smp, has_ctx, itf, i, negs, n_ok,
                                        _ONE, wt, gneg, buf, params, hyper, adagrad)
                m = wt
                count += 1
            else:
                step_loss, m = warp_step(states, c, u, i, pos, n_items, q_items, popularity,
                                         max_sampled, top, wt, uf, cx, smp, has_ctx, itf, negs,
                                         gneg, buf, params, hyper, adagrad)
                loss += step_loss
                count += 1
            if m == _ZERO:
                continue
            mtot += m
            n_slots = visit_gradient(buf, hg, r, jj, m, hslot, cg, cm, n_slots)
        push_history(hist, u, buf, hg, mtot, hslot, hmap, cg, cm, params, hyper, adagrad)
    return loss, count


@njit(**_INL)
def visit_slot(hslot, jj, m, cg, cm, n_slots):
    """Row of ``cg`` for a step of L2 multiplier ``m`` on a sample whose target is history
    entry ``jj`` (zeroed on first use; with ``m`` added to ``cm``), or the spare last row
    (zeroed, never read) when ``jj`` is -1; and the number of slots in use."""
    if jj < 0:
        sl = np.int64(cg.shape[0] - 1)
        for f in range(cg.shape[1]):
            cg[sl, f] = _ZERO
        return sl, n_slots
    sl = np.int64(hslot[jj]) - 1
    if sl < 0:
        sl = np.int64(n_slots)
        n_slots += 1
        hslot[jj] = sl + 1
        cm[sl] = _ZERO
        for f in range(cg.shape[1]):
            cg[sl, f] = _ZERO
    cm[sl] += m
    return sl, n_slots


@njit(**_INL)
def visit_query(buf, V, cu, xu, hs, hist, hc, jj, r):
    """``buf[P] = xu v_cu + r (S - x_t y_t)``: :func:`query_vector` and :func:`add_history`
    in one pass for a one-entry user row."""
    k = V.shape[1]
    if jj >= 0:
        xt = hist[2][jj]
        for f in range(k):
            p = xu * V[cu, f]
            buf[P, f] = p + r * (buf[hs, f] - xt * V[hc, f])
    else:
        for f in range(k):
            p = xu * V[cu, f]
            buf[P, f] = p + r * buf[hs, f]


@njit(**_INL)
def visit_pair_step(cu, xu, ci, xi, cj, xj, g, buf, hg, r, cg, sl, params, hyper, adagrad):
    """:func:`ids_pair_step` for a query vector ``p = buf[P]`` of which the user's id
    feature (column cu, value xu) is one part: the same gradient as
    :func:`pairwise_backward`, in one pass over the factors, which also adds
    ``r dL/dp`` to the visit's history gradient ``buf[hg]`` and to row ``sl`` of ``cg``
    (what :func:`visit_gradient` does after the general step)."""
    w = params[1]
    V = params[2]
    gw = params[4]
    gV = params[5]
    lr, reg_w, reg_v = hyper
    k = V.shape[1]
    gxi = g * xi
    gxj = g * xj
    step_weight(w, gw, ci, gxi + reg_w * w[ci], lr, adagrad)
    step_weight(w, gw, cj, -gxj + reg_w * w[cj], lr, adagrad)
    for f in range(k):
        vu = V[cu, f]
        vi = V[ci, f]
        vj = V[cj, f]
        p = buf[P, f]
        qg = gxi * vi - gxj * vj
        rq = r * qg
        buf[hg, f] += rq
        cg[sl, f] += rq
        step_factor(V, gV, cu, f, vu, xu * qg + reg_v * vu, lr, adagrad)
        step_factor(V, gV, ci, f, vi, gxi * p + reg_v * vi, lr, adagrad)
        step_factor(V, gV, cj, f, vj, -gxj * p + reg_v * vj, lr, adagrad)


@njit(**_NONRT)
def chunk_visits_ids(loss_code, c, ustart, uend, states, vusers, qptr, queue, ucol, uval, hist,
                     hcol, hres, hslot, hmap, icol, ival, pos, samples, params, hyper, adagrad,
                     popularity, max_sampled, buf, cg, cm):
    """:func:`chunk_visits` when the rest of the design is ids only: user u's own row is
    column ``ucol[u]`` with value ``uval[u]``, item i column ``icol[i]`` with value
    ``ival[i]`` (all distinct), no context; one negative per BPR positive. A sample is three
    passes over the factors (query vector, score, step with the history's gradient:
    :func:`visit_pair_step`), without copies of item vectors; ``cg`` needs one spare row.
    Same sampling and RNG draws as :func:`chunk_visits`; the parameters differ from it only
    by float rounding."""
    q_items = queue[0]
    n_items = icol.shape[0]
    top = n_items - 1
    w = params[1]
    V = params[2]
    hs, hg = visit_rows(_N1)
    shuffle_rows(vusers, ustart, uend, states, c)
    loss = 0.0
    count = 0
    for a in range(ustart, uend):
        u = np.int64(vusers[a])
        begin_visit(states, c, u, qptr, queue, hist, V, buf, hs, hg, hmap)
        cu = np.int64(ucol[u])
        xu = uval[u]
        mtot = _ZERO
        n_slots = 0
        end = qptr[u + 1]
        # BPR: each sample's negative drawn one sample ahead (the same draws in the same
        # order) and that sample's item rows prefetched meanwhile, as chunk_pairwise_ids
        j_next = _NONE
        if loss_code == LOSS_BPR and qptr[u] < end:
            j_next = draw_negative(states, c, u, pos, n_items, q_items, popularity,
                                   MAX_NEGATIVE_TRIES)
        for t in range(qptr[u], end):
            i, smp, wt = visit_sample(queue, samples, t)
            ci = np.int64(icol[i])
            xi = ival[i]
            hc, jj, r = visit_target(hist, u, hmap, hcol, hres, i)
            visit_query(buf, V, cu, xu, hs, hist, hc, jj, r)
            if loss_code == LOSS_BPR:
                j = j_next
                if t + 1 < end:
                    j_next = draw_negative(states, c, u, pos, n_items, q_items, popularity,
                                           MAX_NEGATIVE_TRIES)
                    prefetch_feature(params, adagrad, np.int64(icol[np.int64(q_items[t + 1])]))
                    if j_next >= 0:
                        prefetch_feature(params, adagrad, np.int64(icol[j_next]))
                if j < 0:
                    continue
                cj = np.int64(icol[j])
                xj = ival[j]
                d = w[ci] * xi - w[cj] * xj + dot_diff_rows(buf, P, V, xi, ci, xj, cj)
                lo, sg = bpr_terms(d)
                loss += wt * lo
                g = -wt * sg
                m = wt
                count += 1
            else:
                spos = w[ci] * xi + xi * dot_rows(buf, P, V, ci)
                cj, xj, rw, sneg = warp_draw_ids(states, c, u, pos, n_items, q_items, popularity,
                                                 max_sampled, top, icol, ival, w, V, buf, P,
                                                 _ONE, spos)
                count += 1
                if rw <= 0.0:
                    continue
                g = -wt * np.float32(rw)
                loss += -g * (_ONE - (spos - sneg))
                m = -g
            # a zero-weight step adds zeros: the same as the general kernel's skipping it
            sl, n_slots = visit_slot(hslot, jj, m, cg, cm, n_slots)
            mtot += m
            visit_pair_step(cu, xu, ci, xi, cj, xj, g, buf, hg, r, cg, sl, params,
                            scale_reg(hyper, m), adagrad)
        push_history(hist, u, buf, hg, mtot, hslot, hmap, cg, cm, params, hyper, adagrad)
    return loss, count


def _make_visit_epoch(ids):
    # ``ids`` is a closure constant, as ``kind`` in _make_epoch: each epoch links one chunk
    # function

    def visit_epoch(loss_code, cptr, vusers, qptr, queue, uf, hist, hcol, hres, hslot, max_visit,
                    itf, cx, has_ctx, pos, samples, chunk_order, seed, params, hyper, adagrad,
                    popularity, n_negatives, max_sampled, out_loss, out_count):
        """Train the chunks of user visits listed in ``chunk_order`` (a part of one epoch of
        ``out_loss.shape[0]`` chunks): chunk c trains the users ``vusers[cptr[c]:cptr[c+1]]``
        with its own RNG stream ``seed + c``, by :func:`chunk_visits_ids` when the epoch is
        the ids one (``uf`` and ``itf`` one entry per row, no context, one BPR negative),
        else :func:`chunk_visits`. Threads may run it at once on disjoint parts (Hogwild).
        ``hslot`` (one int per history entry) must be zero. Returns whether it is the ids
        epoch."""
        n_chunks = out_loss.shape[0]
        V = params[2]
        k = V.shape[1]
        nn = max(n_negatives, 1)
        states = seed_states(seed, n_chunks)
        # scratch, written before it is read within each visit: shared by the chunks
        buf = np.zeros((EN + nn + 2, k), V.dtype)
        negs = np.zeros(nn, np.int64)
        gneg = np.zeros(nn, V.dtype)
        cg = np.empty((max_visit + 1, k), V.dtype)
        cm = np.empty(max_visit + 1, V.dtype)
        hmap = np.full(V.shape[0], -1, np.int32)
        for cc in range(chunk_order.shape[0]):
            c = chunk_order[cc]
            if ids:
                loss, count = chunk_visits_ids(loss_code, c, cptr[c], cptr[c + 1], states,
                                               vusers, qptr, queue, uf[1], uf[2], hist, hcol,
                                               hres, hslot, hmap, itf[1], itf[2], pos, samples,
                                               params, hyper, adagrad, popularity, max_sampled,
                                               buf, cg, cm)
            else:
                loss, count = chunk_visits(loss_code, c, cptr[c], cptr[c + 1], states, vusers,
                                           qptr, queue, uf, hist, hcol, hres, hslot, hmap, itf,
                                           cx, has_ctx, pos, samples, params, hyper, adagrad,
                                           popularity, n_negatives, max_sampled, buf, negs,
                                           gneg, cg, cm)
            out_loss[c] = loss
            out_count[c] = count
        return ids

    return visit_epoch


#: ``VISIT_EPOCHS[ids]``: the visit epoch, general (0) or for ids-only user and item rows (1)
#: (serial; threads run it in parallel, as the other epochs).
VISIT_EPOCHS = tuple(njit(**_JIT)(_make_visit_epoch(ids)) for ids in (False, True))
