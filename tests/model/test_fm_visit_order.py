"""Ids-only pairwise training in user visits: the epoch equals an explicit re-implementation
of its documented order, sampling and updates (float64), and the estimator uses it."""
from __future__ import annotations

import math

import numpy as np
import pytest
from _designs import held_out_beat_random, planted_groups, random_pairs

from recfm.model import FactorizationMachine
from recfm.model import _kernels as K

M64 = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return (z ^ (z >> 31)) | 1


class Stream:
    """xorshift64* as the kernels draw it (``rng_next``, ``rng_below``)."""

    def __init__(self, state):
        self.x = state

    def below(self, n):
        x = self.x
        x ^= x >> 12
        x ^= (x << 25) & M64
        x ^= x >> 27
        self.x = x
        return ((((x * 0x2545F4914F6CDD1D) & M64) >> 32) * n) >> 32

    def shuffle(self, arrays, start, end):
        for a in range(end - 1, start, -1):
            b = start + self.below(a - start + 1)
            for arr in arrays:
                arr[a], arr[b] = arr[b], arr[a]


def reference_bpr_step(u, i, j, wt, rows, params, hyper, adagrad):
    """BPR's step on user u, positive i, negative j, sample weight wt (Adagrad or SGD);
    returns the sample's weighted loss."""
    ucol, uval, icol, ival = rows
    w, V, gw, gV = params
    lr, reg_w, reg_v = hyper

    def step(arr, acc, idx, grad):
        if adagrad:
            acc[idx] += grad * grad
            arr[idx] -= lr * grad / np.sqrt(acc[idx])
        else:
            arr[idx] -= lr * grad

    cu, xu, ci, xi, cj, xj = ucol[u], uval[u], icol[i], ival[i], icol[j], ival[j]
    vu, vi, vj = V[cu].copy(), V[ci].copy(), V[cj].copy()
    d = w[ci] * xi - w[cj] * xj + xu * (vu @ (xi * vi - xj * vj))
    g = -wt / (1.0 + math.exp(d))  # dL/dd
    rw, rv = reg_w * wt, reg_v * wt
    step(w, gw, ci, g * xi + rw * w[ci])
    step(w, gw, cj, -g * xj + rw * w[cj])
    step(V, gV, cu, g * xu * (xi * vi - xj * vj) + rv * vu)
    step(V, gV, ci, g * xu * xi * vu + rv * vi)
    step(V, gV, cj, -g * xu * xj * vu + rv * vj)
    return wt * np.logaddexp(0.0, -d)


def reference_epoch(plan, queue, chunk_order, seed, rows, positives, weights, params, hyper,
                    adagrad):
    """One epoch as documented: chunk c (in ``chunk_order``) with stream splitmix64(seed + c)
    shuffles its users, then each user's samples, then steps on each sample against one
    uniform negative that is not a positive (up to 64 draws), BPR with Adagrad or SGD."""
    cptr, vusers, qptr = plan
    qu, qi, qs = queue
    n_items = len(rows[2])
    losses = np.zeros(len(cptr) - 1)
    counts = np.zeros(len(cptr) - 1, np.int64)
    for c in chunk_order:
        rng = Stream(splitmix64(seed + int(c)))
        rng.shuffle([vusers], cptr[c], cptr[c + 1])
        for a in range(cptr[c], cptr[c + 1]):
            u = vusers[a]
            rng.shuffle([qu, qi] + ([qs] if len(qs) else []), qptr[u], qptr[u + 1])
            for t in range(qptr[u], qptr[u + 1]):
                i = qi[t]
                wt = weights[qs[t]] if weights is not None else 1.0
                for _ in range(K.MAX_NEGATIVE_TRIES):
                    j = rng.below(n_items)
                    if j not in positives[u]:
                        break
                else:
                    continue
                losses[c] += reference_bpr_step(u, i, j, wt, rows, params, hyper, adagrad)
                counts[c] += 1
    return losses, counts


def reference_block_epoch(plan, queue, parts, seed, blocks, rows, positives, weights, params,
                          hyper, adagrad, popularity):
    """The multi-threaded epoch as documented, its rounds run one after the other: T = len(parts)
    rounds; in round r, part t's chunks (each with its stream splitmix64(seed + c), continued
    across rounds) train on item block (t + r) mod T. The first round shuffles each chunk's
    users, then each user's samples; every round trains, in that order, the samples whose
    item is in the block, each against a negative of the block that is not a positive: a
    uniform draw from the block's items, or (popularity) a queue entry's item redrawn until
    it is in the block (64 draws in all)."""
    cptr, vusers, qptr = plan
    qu, qi, qs = queue
    block_of, blk_ptr, blk_items = blocks
    n_parts = len(parts)
    losses = np.zeros(len(cptr) - 1)
    counts = np.zeros(len(cptr) - 1, np.int64)
    streams = {c: Stream(splitmix64(seed + c)) for c in range(len(cptr) - 1)}
    for r in range(n_parts):
        for t, part in enumerate(parts):
            b = (t + r) % n_parts
            lo, size = blk_ptr[b], blk_ptr[b + 1] - blk_ptr[b]
            for c in part:
                rng = streams[c]
                if r == 0:
                    rng.shuffle([vusers], cptr[c], cptr[c + 1])
                for a in range(cptr[c], cptr[c + 1]):
                    u = vusers[a]
                    if r == 0:
                        rng.shuffle([qu, qi] + ([qs] if len(qs) else []), qptr[u], qptr[u + 1])
                    for s in range(qptr[u], qptr[u + 1]):
                        i = qi[s]
                        if block_of[i] != b:
                            continue
                        wt = weights[qs[s]] if weights is not None else 1.0
                        for _ in range(K.MAX_NEGATIVE_TRIES):
                            if popularity:
                                j = qi[rng.below(len(qi))]
                                if block_of[j] != b:
                                    continue
                            else:
                                j = blk_items[lo + rng.below(size)]
                            if j not in positives[u]:
                                break
                        else:
                            continue
                        losses[c] += reference_bpr_step(u, i, j, wt, rows, params, hyper,
                                                        adagrad)
                        counts[c] += 1
    return losses, counts


def assert_as_reference(kernel, reference):
    """The kernel's chunk losses and counts, user order, queue and parameters ``(w, V, gw,
    gV)`` of ``prm`` equal the reference's (float64)."""
    out_loss, out_count, vusers, queue, prm = kernel
    losses, counts, ref_vusers, ref_queue, ref = reference
    assert np.array_equal(out_count, counts)
    np.testing.assert_allclose(out_loss, losses, rtol=1e-12)
    assert np.array_equal(vusers, ref_vusers)
    for a, b in zip(queue, ref_queue, strict=True):
        assert np.array_equal(a, b)
    for got, want in zip((prm[1], prm[2], prm[4], prm[5]), ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def visit_problem(rng, n_users, n_items, n_pairs, weighted):
    """Random distinct samples in no particular order (user 7 has none), their weights,
    one-entry rows with values other than 1 (users and items in interleaved columns), the
    positives' index and sets, and the number of features."""
    users, items = random_pairs(rng, n_users, n_items, n_pairs)
    users[users == 7] = 8  # a user without samples is never visited
    keep = np.unique(users.astype(np.int64) * n_items + items, return_index=True)[1]
    users, items = users[keep], items[keep]
    perm = rng.permutation(users.size)  # samples in no particular order
    users, items = users[perm], items[perm]
    weights = rng.uniform(0.5, 2.0, users.size) if weighted else None
    ucol = (2 * np.arange(n_users)).astype(np.int32)
    icol = (2 * rng.permutation(n_items) + 1).astype(np.int32)
    uval = rng.uniform(0.5, 1.5, n_users)
    ival = rng.uniform(0.5, 1.5, n_items)
    ones = np.arange(n_users + 1, dtype=np.int32), np.arange(n_items + 1, dtype=np.int32)
    order = np.lexsort((items, users))
    inter_ptr = np.searchsorted(users[order], np.arange(n_users + 1)).astype(np.int32)
    pos = K.positives_index(inter_ptr, items[order].astype(np.int32), n_items)
    positives = [set(items[users == u].tolist()) for u in range(n_users)]
    return (users, items, weights, (ucol, uval, icol, ival), (ones[0], ucol, uval),
            (ones[1], icol, ival), pos, positives, 2 * max(n_users, n_items))


@pytest.mark.parametrize("adagrad", [True, False], ids=["adagrad", "sgd"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_visit_epoch_equals_the_documented_order_and_updates(adagrad, weighted):
    rng = np.random.default_rng(3)
    n_users, n_items, k = 30, 25, 4
    users, items, weights, (ucol, uval, icol, ival), uf, itf, pos, positives, nf = \
        visit_problem(rng, n_users, n_items, 260, weighted)

    queue, qptr = K.make_visit_queue(users, items, n_users, weighted)
    # grouped by user, in the samples' own order within a user (a stable counting sort)
    assert np.array_equal(queue[0], np.sort(users))
    expect = np.argsort(users, kind="stable")
    assert np.array_equal(queue[1], items[expect])
    assert np.array_equal(queue[2], expect if weighted else np.empty(0))
    assert np.array_equal(qptr, np.searchsorted(np.sort(users), np.arange(n_users + 1)))
    vusers = rng.permutation(np.flatnonzero(np.diff(qptr) > 0)).astype(np.int32)
    cptr = np.array([0, 5, 6, 17, len(vusers)], np.int64)  # chunks of whole visits

    prm = [np.zeros(1), rng.normal(0, 0.1, nf), rng.normal(0, 0.3, (nf, k)), np.ones(1),
           np.ones(nf), np.ones((nf, k))]
    ref = [a.copy() for a in (prm[1], prm[2], prm[4], prm[5])]
    V_init = prm[2].copy()
    ref_plan = (cptr, list(vusers), qptr)
    ref_queue = tuple(list(a) for a in queue)
    hyper = (0.07, 0.02, 0.03)
    samples = (np.zeros(users.size), weights if weighted else np.zeros(1), weighted)
    for epoch, seed in enumerate((11, 12)):
        chunk_order = np.array([2, 0, 3, 1] if epoch else [1, 3, 0, 2], np.int64)
        out_loss, out_count = np.zeros(4), np.zeros(4, np.int64)
        K.visits_ids_epoch(K.LOSS_BPR, cptr, vusers, qptr, uf, itf, pos, queue, samples,
                           chunk_order, np.uint64(seed), tuple(prm), hyper, adagrad, False, 1,
                           1, out_loss, out_count)
        losses, counts = reference_epoch(ref_plan, ref_queue, chunk_order, seed,
                                         (ucol, uval, icol, ival), positives, weights, ref,
                                         hyper, adagrad)
        assert counts.sum() == users.size
        assert_as_reference((out_loss, out_count, vusers, queue, prm),
                            (losses, counts, ref_plan[1], ref_queue, ref))
    assert np.abs(prm[2] - V_init).max() > 1e-3  # the epochs did train


def test_count_values_is_bincount():
    values = np.random.default_rng(1).integers(0, 50, 1000).astype(np.int32)
    assert np.array_equal(K.count_values(values, 60), np.bincount(values, minlength=60))


def test_item_blocks_are_random_balanced_unions_of_whole_groups():
    rng = np.random.default_rng(0)
    n_items = 300
    group = np.sort(rng.integers(0, 40, n_items))  # consecutive columns, as fit's // 16
    group = np.unique(group, return_inverse=True)[1]
    counts = rng.integers(0, 60, n_items)
    gcounts = np.bincount(group, weights=counts)
    for n_blocks in (2, 3):
        found = []
        for seed in (1, 2):
            block_of, blk_ptr, blk_items = FactorizationMachine._item_blocks(
                group, counts, n_blocks, np.random.default_rng(seed))
            assert np.array_equal(np.sort(blk_items), np.arange(n_items))
            assert blk_ptr[0] == 0 and blk_ptr[-1] == n_items
            for b in range(n_blocks):
                assert (block_of[blk_items[blk_ptr[b]:blk_ptr[b + 1]]] == b).all()
                # about 1/n_blocks of the samples: off by less than the largest group's
                share = counts[block_of == b].sum()
                assert abs(share - counts.sum() / n_blocks) <= gcounts.max()
            for g in range(group.max() + 1):  # a group is never split
                assert np.unique(block_of[group == g]).size == 1
            found.append(block_of)
        assert not np.array_equal(found[0], found[1])  # a random split


@pytest.mark.parametrize("adagrad", [True, False], ids=["adagrad", "sgd"])
@pytest.mark.parametrize("weighted, popularity", [(False, False), (True, True)],
                         ids=["uniform", "weighted-popularity"])
def test_block_epoch_equals_the_documented_rounds_and_keeps_threads_apart(adagrad, weighted,
                                                                          popularity):
    rng = np.random.default_rng(4)
    n_users, n_items, k = 40, 48, 4
    users, items, weights, rows, uf, itf, pos, positives, nf = \
        visit_problem(rng, n_users, n_items, 300, weighted)
    ucol, icol = rows[0], rows[2]
    queue, qptr = K.make_visit_queue(users, items, n_users, weighted)
    vusers = rng.permutation(np.flatnonzero(np.diff(qptr) > 0)).astype(np.int32)
    cptr = np.array([0, 6, 7, 19, 30, len(vusers)], np.int64)
    parts = [np.array([3, 0], np.int64), np.array([1, 4, 2], np.int64)]
    prm = [np.zeros(1), rng.normal(0, 0.1, nf), rng.normal(0, 0.3, (nf, k)), np.ones(1),
           np.ones(nf), np.ones((nf, k))]
    ref = [a.copy() for a in (prm[1], prm[2], prm[4], prm[5])]
    ref_plan = (cptr, list(vusers), qptr)
    ref_queue = tuple(list(a) for a in queue)
    hyper = (0.07, 0.02, 0.03)
    samples = (np.zeros(users.size), weights if weighted else np.zeros(1), weighted)
    counts_in = np.bincount(items, minlength=n_items)
    for epoch, seed in enumerate((21, 22)):
        blocks = FactorizationMachine._item_blocks(np.arange(n_items) // 4, counts_in, 2,
                                                   np.random.default_rng(epoch))
        states = K.seed_states(np.uint64(seed), len(cptr) - 1)
        out_loss, out_count = np.zeros(5), np.zeros(5, np.int64)
        for r in range(2):
            for t, part in enumerate(parts):
                b = (t + r) % 2
                before = [a.copy() for a in prm]
                K.visits_bpr_block_epoch(cptr, vusers, qptr, uf, itf, pos, queue, samples,
                                         part, states, tuple(prm), hyper, adagrad, popularity,
                                         blocks, np.int64(b), r == 0, out_loss, out_count)
                # written: only the part's users' rows and the block's items' rows, so
                # threads running the other parts on the other blocks at once share none
                mine = {int(ucol[u]) for c in part for u in vusers[cptr[c]:cptr[c + 1]]}
                mine |= {int(icol[i]) for i in np.flatnonzero(blocks[0] == b)}
                others = np.setdiff1d(np.arange(nf), sorted(mine))
                for got, old in zip(prm[1:], before[1:], strict=True):
                    if got.shape[0] == nf:
                        assert np.array_equal(got[others], old[others])
        losses, counts = reference_block_epoch(ref_plan, ref_queue, parts, seed, blocks, rows,
                                               positives, weights, ref, hyper, adagrad,
                                               popularity)
        assert counts.sum() == users.size  # each sample once per epoch
        assert_as_reference((out_loss, out_count, vusers, queue, prm),
                            (losses, counts, ref_plan[1], ref_queue, ref))


@pytest.mark.parametrize("loss, n_negatives", [("bpr", 1), ("bpr", 3), ("warp", 1)])
def test_estimator_trains_ids_designs_in_visits(loss, n_negatives, monkeypatch):
    """Ids-only BPR fits with one negative per positive run the visit epoch (several BPR
    negatives and WARP keep the shuffled order unless visits are asked for); every order is
    reproducible with one thread and a seed and learns."""
    d, users, items, rng = planted_groups(5)
    calls = []
    monkeypatch.setattr(K, "visits_ids_epoch",
                        lambda *a, f=K.visits_ids_epoch: calls.append(a[0]) or f(*a))
    kw = dict(n_factors=8, loss=loss, n_negatives=n_negatives, n_epochs=15, n_threads=1,
              random_state=2)
    fits = {}
    for order in ("auto", "visits", "shuffled"):
        monkeypatch.setattr(FactorizationMachine, "_ids_sample_order", order)
        n_calls = len(calls)
        a = FactorizationMachine(**kw).fit(d)
        default = loss == "bpr" and n_negatives == 1
        in_visits = order == "visits" or (order == "auto" and default)
        assert len(calls) - n_calls == (15 if in_visits else 0)
        b = FactorizationMachine(**kw).fit(d)
        assert np.array_equal(a.V_, b.V_) and a.history_["loss"] == b.history_["loss"]
        assert held_out_beat_random(a, d, users, items, rng) > 0.8
        fits[order] = a
    assert not np.array_equal(fits["visits"].V_, fits["shuffled"].V_)
    auto_as = "visits" if loss == "bpr" and n_negatives == 1 else "shuffled"
    assert np.array_equal(fits["auto"].V_, fits[auto_as].V_)


def test_estimator_trains_in_item_blocks_on_several_threads(monkeypatch):
    """Ids-only BPR (one negative) on two threads trains each epoch in two rounds of item
    blocks once the catalogue has MIN_BLOCK_ITEMS items per thread: threads running at once
    share no parameter row, so even a two-thread fit is reproducible with a seed; it learns.
    One thread, and smaller catalogues, keep the visit epoch."""
    import recfm.model.fm as fm_module

    rounds, visits = [], []  # (block, first round?) of each call; calls of the visit epoch
    monkeypatch.setattr(K, "visits_bpr_block_epoch",
                        lambda *a, f=K.visits_bpr_block_epoch:
                        rounds.append((int(a[15]), bool(a[16]))) or f(*a))
    monkeypatch.setattr(K, "visits_ids_epoch",
                        lambda *a, f=K.visits_ids_epoch: visits.append(1) or f(*a))
    d, users, items, rng = planted_groups(6, n_users=60, n_items=2 * fm_module.MIN_BLOCK_ITEMS)
    kw = dict(n_factors=8, n_epochs=10, n_threads=2, random_state=3)
    a = FactorizationMachine(**kw).fit(d)
    two = fm_module.numba_thread_count(2) == 2  # a one-core machine runs one thread
    # per epoch: round 0 trains blocks 0 and 1 (one per thread), round 1 blocks 1 and 0
    assert sorted(rounds) == (sorted([(0, True), (1, True), (1, False), (0, False)] * 10)
                              if two else [])
    assert len(visits) == (0 if two else 10)
    b = FactorizationMachine(**kw).fit(d)
    assert np.array_equal(a.V_, b.V_) and np.array_equal(a.w_, b.w_)
    assert held_out_beat_random(a, d, users, items, rng) > 0.8
    rounds.clear()
    visits.clear()
    FactorizationMachine(**{**kw, "n_threads": 1}).fit(d)
    assert not rounds and len(visits) == 10
    monkeypatch.setattr(fm_module, "MIN_BLOCK_ITEMS", fm_module.MIN_BLOCK_ITEMS + 1)
    visits.clear()
    FactorizationMachine(**kw).fit(d)
    assert not rounds and len(visits) == (20 if two else 10)
