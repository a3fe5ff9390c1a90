"""A MovieLens-shaped synthetic data set whose preferences the attributes partly reveal.

Generative model (all draws from one seed; see :func:`make_synthetic`):

* users get ML-1M-like attributes (age group, gender, 21 occupations, zip) and items get
  1-3 of 18 genres and a release year;
* latent factors: ``u = sqrt(0.5) * attr_u + sqrt(0.5) * noise`` with
  ``attr_u = (A_age[age] + A_gender[gender] + A_occ[occupation]) / sqrt(3)``, and
  ``v = sqrt(0.6) * attr_i + sqrt(0.4) * noise`` with ``attr_i`` built from the genres
  (Σ A_genre / sqrt(#genres)) and the decade: half of the user and 60 % of the item
  variance is visible through attributes, the rest only through behaviour;
* item popularity is Zipf-like (``log pop = -ZIPF * log(rank + 10)`` on a random ranking)
  and user activity lognormal (at least ``min(10, …)`` interactions each, at most 60 % of
  the catalogue);
* user u picks its items without replacement with probability
  ∝ ``pop_i * exp(<u, v_i> / sqrt(k) / TEMPERATURE)`` (Gumbel-top-k, exact);
* the context of each pick (time-of-day period × platform, then an hour inside the period)
  follows the user's habits *and* the item's genres: horror/thriller/sci-fi at night,
  children's/animation in the morning and afternoon, comedy/animation on mobile,
  drama/documentary on the web. Given the context, the item distribution shifts, so a model
  that sees ``hour``/``platform`` can beat one that doesn't;
* a rating 1-5 comes from the affinity, a user bias, an item quality and noise, cut at the
  quantiles of ML-1M's rating distribution; timestamps increase over each user's active
  period inside 2000-04-25 .. 2003-02-28 and their hour of day equals ``hour``.

Users are processed in blocks of rows (about 4M user×item scores each), each with its own
random stream, so memory stays bounded and the result does not depend on the number of
threads.
"""
from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recfm._utils import check_positive_int
from recfm.datasets.dataset import Dataset
from recfm.datasets.movielens import GENRES_100K, OCCUPATIONS_1M

GENRES = GENRES_100K[1:]  # MovieLens' 18 genres, without "unknown"
# Movie counts per genre in ML-1M's movies.dat.
_GENRE_WEIGHTS = np.array([503, 283, 105, 251, 1200, 211, 127, 1603, 68, 44, 343, 114, 106,
                           471, 276, 492, 143, 68], float)
AGES = (1, 18, 25, 35, 45, 50, 56)  # ML-1M age-group codes
_AGE_COUNTS = np.array([222, 1103, 2096, 1193, 550, 496, 380], float)
OCCUPATIONS = OCCUPATIONS_1M
_OCC_COUNTS = np.array([711, 528, 267, 173, 759, 112, 236, 679, 17, 92, 195, 129, 388, 142,
                        302, 144, 241, 502, 70, 72, 281], float)
PLATFORMS = ("web", "ios", "android")
# Time-of-day periods and their hours; a context state is (period, platform).
PERIODS = ("night", "morning", "afternoon", "evening")
_PERIOD_HOURS = ((22, 23, 0, 1, 2, 3, 4, 5), (6, 7, 8, 9, 10, 11),
                 (12, 13, 14, 15, 16, 17), (18, 19, 20, 21))
_PERIOD_BASE = np.log([0.15, 0.15, 0.30, 0.40])
_PLATFORM_BASE = np.log([0.45, 0.30, 0.25])
# Planted genre × context effects (logits added to the context of a pick of that genre).
_NIGHT_GENRES = ("Horror", "Thriller", "Sci-Fi", "Mystery", "Film-Noir")
_DAY_GENRES = ("Children's", "Animation")
_MOBILE_GENRES = ("Comedy", "Animation", "Children's")
_WEB_GENRES = ("Drama", "Documentary", "War")

# ML-1M rating shares for 1..5; ratings are cut at these quantiles of the latent score.
_RATING_SHARES = np.array([0.0562, 0.1075, 0.2611, 0.3489, 0.2263])
_T0, _T1 = 956_703_932, 1_046_454_590  # ML-1M's first and last timestamps
_DAY = 86_400

ZIPF = 1.0
TEMPERATURE = 0.6
USER_ATTR_SHARE = 0.5
ITEM_ATTR_SHARE = 0.6
MAX_CATALOGUE_SHARE = 0.6
_BLOCK_SCORES = 1 << 22  # user×item scores per block (~16 MB of float32)

SYNTHETIC_SIZES: dict[str, tuple[int, int, int]] = {
    "ml-1m": (6040, 3706, 1_000_209),
    "ml-20m": (138_493, 26_744, 20_000_263),
}

SAMPLE_PARAMS: dict[str, Any] = dict(n_users=300, n_items=400, n_interactions=12_000, seed=0)
"""Parameters of the small sample in the repository's ``datasets/sample/`` folder."""


@dataclass
class _Model:
    users_latent: np.ndarray  # (n_users, k) float32
    items_latent_t: np.ndarray  # (k, n_items) float32, pre-scaled by 1/(sqrt(k) T)
    log_pop: np.ndarray  # (n_items,) float32
    counts: np.ndarray  # (n_users,) int64
    user_ctx: np.ndarray  # (n_users, 12) float32 context-state logits of the user
    item_ctx: np.ndarray  # (n_items, 12) float32 context-state logits of the item
    start: np.ndarray  # (n_users,) float64 start of the active period (s)
    duration: np.ndarray  # (n_users,) float64 length of the active period (s)
    user_bias: np.ndarray  # (n_users,) float32
    item_quality: np.ndarray  # (n_items,) float32


def _allocate_counts(rng: np.random.Generator, n_users: int, total: int, low: int,
                     cap: int) -> np.ndarray:
    """Lognormal activity, at least ``low`` and at most ``cap`` per user, summing to ``total``."""
    weight = rng.lognormal(0.0, 1.2, n_users)
    counts = np.full(n_users, low, np.int64)
    rest = total - low * n_users
    free = np.ones(n_users, bool)
    # Water-filling: hand out the rest in proportion to weight, clip at cap, repeat with
    # the overflow among the users still below the cap (a few rounds at most).
    while rest > 0:
        share = np.where(free, weight, 0.0)
        exact = rest * share / share.sum()
        add = np.floor(exact).astype(np.int64)
        short = rest - int(add.sum())
        if short:  # largest remainders get the last units, so the total is exact
            add[np.argsort(-(exact - add), kind="stable")[:short]] += 1
        counts += add
        over = np.maximum(counts - cap, 0)
        counts -= over
        rest = int(over.sum())
        free &= counts < cap
    return counts


def _multi_hot_genres(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """(n_items, 18) bool: 1-3 genres per item, frequent genres more often."""
    n_genres = rng.choice([1, 2, 3], size=n_items, p=[0.5, 0.33, 0.17])
    keys = np.log(_GENRE_WEIGHTS / _GENRE_WEIGHTS.sum()) + rng.gumbel(size=(n_items, len(GENRES)))
    order = np.argsort(-keys, axis=1)
    hot = np.zeros((n_items, len(GENRES)), bool)
    take = np.arange(3)[None, :] < n_genres[:, None]
    rows = np.repeat(np.arange(n_items), 3).reshape(n_items, 3)
    hot[rows[take], order[:, :3][take]] = True
    return hot


def _context_effects(genre_hot: np.ndarray) -> np.ndarray:
    """(n_items, 12) planted logits of each (period, platform) state, averaged over genres."""
    idx = {g: i for i, g in enumerate(GENRES)}
    effect = np.zeros((len(GENRES), len(PERIODS), len(PLATFORMS)))
    for g in _NIGHT_GENRES:
        effect[idx[g], 0, :] += 1.5
    for g in _DAY_GENRES:
        effect[idx[g], 1:3, :] += 1.0
        effect[idx[g], 0, :] -= 1.0
    for g in _MOBILE_GENRES:
        effect[idx[g], :, 1:] += 1.0
    for g in _WEB_GENRES:
        effect[idx[g], :, 0] += 1.0
    weights = genre_hot / genre_hot.sum(axis=1, keepdims=True)
    return (weights @ effect.reshape(len(GENRES), -1)).astype(np.float32)


def _sample_block(model: _Model, r0: int, r1: int, seed: np.random.SeedSequence,
                  buffers: queue.Queue[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple:
    """Interactions of users r0..r1-1: (user rows, item cols, state, hour, timestamp, latent)."""
    rng = np.random.default_rng(seed)
    counts = model.counts[r0:r1]
    n_rows, n_items = r1 - r0, model.log_pop.shape[0]
    # Reused work buffers: fresh 16 MB arrays per block cost more in page faults than
    # the arithmetic done in them.
    buf = buffers.get()
    try:
        score, key, mask = (b[:n_rows] for b in buf)
        np.matmul(model.users_latent[r0:r1], model.items_latent_t, out=score)
        score += model.log_pop
        # Gumbel-top-k = sampling without replacement ∝ exp(score): key = score + Gumbel,
        # with Gumbel = -log(-log(U)).
        rng.random(out=key, dtype=np.float32)
        with np.errstate(divide="ignore"):
            np.log(key, out=key)
            np.negative(key, out=key)
            np.log(key, out=key)
        np.subtract(score, key, out=key)
        # Exact top-k per row without sorting whole rows: the threshold is the j-th
        # largest key of a strided subsample, j chosen to leave k + ~3 sd candidates;
        # rows that still come out short are redone with no threshold.
        stride = max(1, min(8, n_items // 1000))
        sub = np.sort(key[:, ::stride], axis=1)
        m = sub.shape[1]
        expect = counts / stride
        j = np.ceil(expect + 3.0 * np.sqrt(expect) + 4).astype(np.int64)
        thr = np.where(j < m, sub[np.arange(n_rows), np.maximum(m - j, 0)], -np.inf).astype(np.float32)
        del sub
        for _ in range(2):
            np.greater_equal(key, thr[:, None], out=mask)
            rows, cols = np.divmod(np.flatnonzero(mask), n_items)
            have = np.bincount(rows, minlength=n_rows)
            short = have < counts
            if not short.any():
                break
            thr[short] = -np.inf
        # Candidates come row-major; sort them by key inside each row with one float64
        # argsort (keys are clipped to a range far wider than any finite key).
        kv = np.clip(key[rows, cols], -1e3, 1e3).astype(np.float64)
        order = np.argsort(rows * 1e4 - kv, kind="stable")
        rows, cols = rows[order], cols[order]
        first = np.concatenate(([0], np.cumsum(have)[:-1]))
        keep = np.arange(len(rows)) - first[rows] < counts[rows]
        rows, cols = rows[keep], cols[keep]
        affinity = (score[rows, cols] - model.log_pop[cols]).astype(np.float32)
    finally:
        buffers.put(buf)
    n = len(rows)
    users = rows + r0

    # Context state = Gumbel-max over user habits + the item's planted genre effects.
    logits = model.user_ctx[users] + model.item_ctx[cols]
    logits += rng.gumbel(size=logits.shape).astype(np.float32)
    state = np.argmax(logits, axis=1).astype(np.int8)
    period = state // len(PLATFORMS)
    n_hours = np.array([len(h) for h in _PERIOD_HOURS])
    table = np.full((len(PERIODS), n_hours.max()), -1, np.int64)
    for p, hours in enumerate(_PERIOD_HOURS):
        table[p, : len(hours)] = hours
    pick = (rng.random(n) * n_hours[period]).astype(np.int64)
    hour = table[period, pick]

    t = model.start[users] + rng.random(n) * model.duration[users]
    ts = (t // _DAY).astype(np.int64) * _DAY + hour * 3600 + rng.integers(0, 3600, n)
    latent = (affinity + model.user_bias[users] + model.item_quality[cols]
              + rng.normal(0.0, 0.6, n).astype(np.float32))
    order = np.lexsort((ts, users))
    return (users[order], cols[order].astype(np.int32), state[order], hour[order], ts[order],
            latent[order].astype(np.float32))


def make_synthetic(n_users: int = 1000, n_items: int = 1500, n_interactions: int | None = None,
                   n_factors: int = 8, seed: int = 0, context: bool = True, *,
                   sequence: float = 0.0, n_threads: int | None = None) -> Dataset:
    """Generate a MovieLens-shaped data set driven by latent factors the attributes partly reveal.

    See the module docstring for the generative model. Everything is vectorised numpy,
    processed in blocks of users; ML-20M size (138,493 × 26,744, 20M interactions) takes
    30-70 s on two cores and about 2.5 GB peak memory.

    Parameters
    ----------
    n_users, n_items : int
        Numbers of users and items (ids are 1..n_users and 1..n_items; a tail item may
        get no interaction, as in MovieLens).
    n_interactions : int, optional
        Total number of (distinct) user-item pairs. Default ``60 * n_users``, at most a
        quarter of all pairs. Each user gets between ``min(10, n_interactions // (3 *
        n_users))`` (at least 1) and 60 % of the catalogue.
    n_factors : int
        Dimension k of the latent factors.
    seed : int
        Seed; the same seed gives the same data set whatever ``n_threads``.
    context : bool
        Add the context columns ``hour`` (int 0-23) and ``platform`` (str: web, ios,
        android). With ``False`` the columns are dropped; everything else is identical.
    sequence : float in [0, 0.9], default 0.0
        Planted order (FPMC-style signal): each interaction but a user's first is, with
        this probability, replaced by the *successor* of the user's previous item, under
        one fixed random permutation of the catalogue (so the next item depends on the last
        one), keeping its timestamp and rating; a replacement that repeats one of the
        user's items is dropped. 0 leaves the data exactly as without the argument.
    n_threads : int, optional
        Worker threads over user blocks (None: all cores, at most 4).

    Returns
    -------
    Dataset
        ``name="synthetic"``; interactions sorted by user then timestamp with columns
        ``user_id, item_id, rating, timestamp`` (+ ``hour, platform``); ``users``:
        ``user_id, age, gender, occupation, zip``; ``items``: ``item_id, title, year,
        genres``.
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    k = check_positive_int(n_factors, "n_factors")
    cap = max(1, int(MAX_CATALOGUE_SHARE * n_items))
    if n_interactions is None:
        n_interactions = max(n_users, min(60 * n_users, n_users * n_items // 4))
    total = check_positive_int(n_interactions, "n_interactions")
    if total > cap * n_users:
        raise ValueError(f"n_interactions={total:,} is too many: each of the {n_users:,} users can "
                         f"have at most {cap:,} items (60% of n_items={n_items:,})")
    if total < n_users:
        raise ValueError(f"n_interactions={total:,} must be at least n_users={n_users:,} "
                         f"(every user has one interaction or more)")
    low = int(max(1, min(10, total // (3 * n_users), cap)))

    root = np.random.SeedSequence(seed)
    s_users, s_items, s_latent, s_counts, s_ctx, s_time, s_blocks = root.spawn(7)

    # --- users
    rng = np.random.default_rng(s_users)
    age_code = rng.choice(len(AGES), n_users, p=_AGE_COUNTS / _AGE_COUNTS.sum())
    gender_code = (rng.random(n_users) < 1709 / 6040).astype(np.int64)  # 1 = F, ML-1M share
    occ_code = rng.choice(len(OCCUPATIONS), n_users, p=_OCC_COUNTS / _OCC_COUNTS.sum())
    zips = rng.integers(0, 100_000, n_users)
    users = pd.DataFrame({
        "user_id": np.arange(1, n_users + 1, dtype=np.int64),
        "age": np.asarray(AGES, np.int64)[age_code],
        "gender": pd.Series(np.array(["M", "F"], dtype=object)[gender_code], dtype="str"),
        "occupation": pd.Series(np.array(OCCUPATIONS, dtype=object)[occ_code], dtype="str"),
        "zip": pd.Series(zips, dtype="str").str.zfill(5),
    })

    # --- items
    rng = np.random.default_rng(s_items)
    genre_hot = _multi_hot_genres(rng, n_items)
    year = np.clip(2000 - np.floor(rng.exponential(9.0, n_items)), 1919, 2000).astype(np.int64)
    decade = (year - 1910) // 10  # 0..9
    names = np.array(GENRES, dtype=object)
    genre_lists = [names[row].tolist() for row in genre_hot]  # a loop over items, not interactions
    item_ids = np.arange(1, n_items + 1, dtype=np.int64)
    title = pd.Series(["/".join(g) for g in genre_lists], dtype="str") + " #" + \
        pd.Series(item_ids).astype("str") + " (" + pd.Series(year).astype("str") + ")"
    items = pd.DataFrame({"item_id": item_ids, "title": title,
                          "year": pd.array(year, dtype="Int64"),
                          "genres": pd.Series(genre_lists, dtype=object)})

    # --- latent factors, popularity, quality
    rng = np.random.default_rng(s_latent)
    a_age, a_gender, a_occ = (rng.standard_normal((n, k)) for n in (len(AGES), 2, len(OCCUPATIONS)))
    attr_u = (a_age[age_code] + a_gender[gender_code] + a_occ[occ_code]) / np.sqrt(3)
    u = np.sqrt(USER_ATTR_SHARE) * attr_u + np.sqrt(1 - USER_ATTR_SHARE) * rng.standard_normal((n_users, k))
    a_genre, a_decade = rng.standard_normal((len(GENRES), k)), rng.standard_normal((10, k))
    genre_part = (genre_hot @ a_genre) / np.sqrt(genre_hot.sum(axis=1, keepdims=True))
    attr_i = np.sqrt(0.75) * genre_part + np.sqrt(0.25) * a_decade[decade]
    v = np.sqrt(ITEM_ATTR_SHARE) * attr_i + np.sqrt(1 - ITEM_ATTR_SHARE) * rng.standard_normal((n_items, k))
    rank = rng.permutation(n_items)
    log_pop = -ZIPF * np.log(rank + 10.0)
    log_pop -= log_pop.max()
    pop_z = (log_pop - log_pop.mean()) / (log_pop.std() + 1e-12)
    item_quality = 0.5 * rng.standard_normal(n_items) + 0.3 * pop_z
    user_bias = 0.5 * rng.standard_normal(n_users)

    # --- activity, context habits, active periods
    counts = _allocate_counts(np.random.default_rng(s_counts), n_users, total, low, cap)
    rng = np.random.default_rng(s_ctx)
    period_logit = _PERIOD_BASE + 0.7 * rng.standard_normal((n_users, len(PERIODS)))
    platform_logit = _PLATFORM_BASE + 1.5 * rng.standard_normal((n_users, len(PLATFORMS)))
    user_ctx = (period_logit[:, :, None] + platform_logit[:, None, :]).reshape(n_users, -1)
    rng = np.random.default_rng(s_time)
    span = float(_T1 - _T0)
    duration = np.minimum(span, np.exp(rng.normal(np.log(60 * _DAY), 1.5, n_users)))
    start = _T0 + rng.random(n_users) * (span - duration)

    model = _Model(
        users_latent=u.astype(np.float32),
        items_latent_t=np.ascontiguousarray((v / (np.sqrt(k) * TEMPERATURE)).T, dtype=np.float32),
        log_pop=log_pop.astype(np.float32), counts=counts,
        user_ctx=user_ctx.astype(np.float32), item_ctx=_context_effects(genre_hot),
        start=start, duration=duration,
        user_bias=user_bias.astype(np.float32), item_quality=item_quality.astype(np.float32),
    )

    block = max(1, _BLOCK_SCORES // n_items)
    bounds = [(r0, min(r0 + block, n_users)) for r0 in range(0, n_users, block)]
    seeds = s_blocks.spawn(len(bounds))
    n_workers = min(4, os.cpu_count() or 1) if n_threads is None else max(1, int(n_threads))
    n_workers = min(n_workers, len(bounds))
    buffers: queue.Queue = queue.Queue()
    rows_max = bounds[0][1] - bounds[0][0]
    for _ in range(n_workers):
        buffers.put((np.empty((rows_max, n_items), np.float32), np.empty((rows_max, n_items), np.float32),
                     np.empty((rows_max, n_items), bool)))

    def work(b: int) -> tuple:
        return _sample_block(model, *bounds[b], seeds[b], buffers)

    from threadpoolctl import threadpool_limits

    # The GEMM has only k columns: a multi-threaded BLAS just fights the block workers
    # (numpy releases the GIL in the heavy calls, so threads do run in parallel).
    with threadpool_limits(1, user_api="blas"):
        if n_workers == 1:
            parts = [work(b) for b in range(len(bounds))]
        else:
            with ThreadPoolExecutor(n_workers) as pool:
                parts = list(pool.map(work, range(len(bounds))))
    # Free the scratch buffers (the closure above still refers to the queue itself).
    while not buffers.empty():
        buffers.get_nowait()
    user_rows, item_cols, state, hour, ts, latent = (np.concatenate(p) for p in zip(*parts, strict=True))
    del parts

    if sequence:
        user_rows, item_cols, state, hour, ts, latent = _plant_sequence(
            root.spawn(1)[0], sequence, n_items, user_rows, item_cols, state, hour, ts, latent)

    # Ratings: the latent score cut at ML-1M's rating quantiles.
    cuts = np.quantile(latent, np.cumsum(_RATING_SHARES)[:-1])
    rating = (np.searchsorted(cuts, latent) + 1).astype(np.float32)
    del latent

    interactions = pd.DataFrame({
        "user_id": user_rows.astype(np.int64) + 1,
        "item_id": item_cols.astype(np.int64) + 1,
        "rating": rating,
        "timestamp": ts,
    })
    context_columns: tuple[str, ...] = ()
    if context:
        interactions["hour"] = hour.astype(np.int64)
        platform = pd.Categorical.from_codes(state % len(PLATFORMS), categories=list(PLATFORMS))
        interactions["platform"] = pd.Series(platform).astype("str")
        context_columns = ("hour", "platform")
    return Dataset(name="synthetic", interactions=interactions, users=users, items=items,
                   context_columns=context_columns)


def _plant_sequence(seed: np.random.SeedSequence, p: float, n_items: int, users: np.ndarray,
                    items: np.ndarray, *rest: np.ndarray) -> tuple:
    """Replace, with probability ``p``, each interaction (but a user's first, in the time
    order the rows are in) by the successor of the user's previous item; duplicates of a
    (user, item) pair are dropped (the first kept). Returns the arrays in the same order."""
    if not 0 <= p <= 0.9:
        raise ValueError(f"sequence must be in [0, 0.9]; got {p!r}")
    rng = np.random.default_rng(seed)
    succ = rng.permutation(n_items).astype(items.dtype)
    n = len(items)
    first = np.r_[True, users[1:] != users[:-1]]
    replace = (rng.random(n) < p) & ~first
    # a run of replaced rows follows its anchor (the last kept row): row t takes
    # succ^depth(anchor's item), depth = distance to the anchor
    anchor = np.maximum.accumulate(np.where(replace, 0, np.arange(n)))
    depth = np.arange(n) - anchor
    cur = items[anchor]
    for d in range(1, int(depth.max(initial=0)) + 1):  # a loop over run lengths, not rows
        cur = np.where(depth >= d, succ[cur], cur)
    keep = ~pd.DataFrame({"u": users, "i": cur}).duplicated().to_numpy()
    return (users[keep], cur[keep]) + tuple(a[keep] for a in rest)


def make_synthetic_like(name: str, seed: int = 0, **kwargs) -> Dataset:
    """A synthetic data set with the user, item and interaction counts of a MovieLens release.

    Parameters
    ----------
    name : str
        A key of :data:`SYNTHETIC_SIZES` (``"ml-1m"`` or ``"ml-20m"``).
    seed : int
        Seed passed to :func:`make_synthetic`.
    **kwargs
        Other :func:`make_synthetic` arguments (``n_factors``, ``context``, ``n_threads``).
    """
    if name not in SYNTHETIC_SIZES:
        raise ValueError(f"unknown size {name!r}; choose one of {', '.join(SYNTHETIC_SIZES)}")
    n_users, n_items, n_interactions = SYNTHETIC_SIZES[name]
    return make_synthetic(n_users, n_items, n_interactions, seed=seed, **kwargs)
