"""How much do recfm's best FM and EASE know that the other does not? A score blend of the two.

    python benchmarks/ease_blend.py --dataset ml-100k
    python benchmarks/ease_blend.py --dataset ml-100k --min-rating 4

Issue 9 asks for an FM at 1.05 x EASE's NDCG@10 on ML-100K's random split. This script
measures how far apart the two models' rankings are, by blending their scores: for every
seed, one random 80/20 split per user (as ``benchmarks/quality.py``), the FM (``--model``,
default ``fm-hybrid``) and EASE fitted on the train part, each user's scores of the two
standardised (z-scores over the catalogue) and mixed as ``(1 - a) * fm + a * ease``.

Two blends are printed:

* **validation-chosen** -- ``a`` picked on a 10 % validation split carved per user from the
  train part (both models fitted on the rest), then both refitted on the whole train part:
  what a user could deploy;
* **best on test** -- the best ``a`` of the grid read off the test part itself: not a result
  but an *upper bound* on what mixing the two models' scores can give on this split.

If even the upper bound stays below 1.05 x EASE, the target needs a model that knows
something neither of the two knows, not a better mix of them.

``--user-ease`` adds a third model that looks at the log from the other side: EASE's closed
form on the transposed matrix (each user's row regressed on the other users',
``B = I - P diag(1/diag P)``, ``P = (X Xᵀ + λI)⁻¹``; scores ``Bᵀ X``), with λ from
``--user-lambdas`` chosen on the validation split. The three standardised scores are mixed as
``(1 - a - b) * fm + a * ease + b * user_ease`` over a grid of ``(a, b)``, again chosen on
validation and, as an upper bound, on test.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _protocol import add_protocol_args, positives, seeds_of

from recfm.metrics import ranking_metrics
from recfm.ranking import fold, top_n_scores
from recfm.recommenders import make_recommender
from recfm.recommenders.ease import ease_weights
from recfm.split import random_split


def _standardise(scores: np.ndarray) -> np.ndarray:
    std = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)


def score_matrices(name: str, train: pd.DataFrame, data, seed: int, threads: int
                   ) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, pd.Index, pd.Index]:
    """Standardised FM and EASE scores of every training user (rows) and catalogue item
    (columns, the FM's catalogue), the users' seen items, and the user and item ids."""
    fm = make_recommender(name, seed=seed, n_threads=threads)
    fm.fit(train, users=data.users, items=data.items)
    ease = make_recommender("ease", seed=seed).fit(train, users=data.users, items=data.items)
    users, items = fm.user_ids_, fm.item_ids_
    Xq, known = fm.query_rows(users)
    U, _, c = fold(fm.model_, Xq, Xq[:0])
    s_fm = U.astype(np.float64) @ fm.item_vectors_.T.astype(np.float64) + c[:, None]
    seen = fm.seen_rows(known)
    # EASE scores over its own catalogue (the training items), spread onto the FM's; an
    # item EASE never saw gets EASE's lowest score (it cannot recommend it)
    eu = ease.user_ids_.get_indexer(users)
    ei = ease.item_ids_.get_indexer(items)
    # users the FM knows from the users frame alone have no training items: EASE scores
    # them 0 (they hold nothing out either)
    s_e = np.asarray(ease.seen_rows(eu) @ ease.B_, dtype=np.float64)
    s_e[eu < 0] = 0.0
    s_ease = np.full(s_fm.shape, s_e.min() - 1.0)
    s_ease[:, ei >= 0] = s_e[:, ei[ei >= 0]]
    return _standardise(s_fm), _standardise(s_ease), seen, users, items


def user_ease_scores(seen: sp.csr_matrix, l2: float) -> np.ndarray:
    """Standardised scores of user-user EASE (the closed form on the transposed matrix).
    An item nobody has in ``seen`` gets the lowest score, as in :func:`score_matrices`:
    its 0 would otherwise rank above the items a user's neighbours score negatively."""
    X = seen.astype(np.float64)
    B = ease_weights(np.asarray((X @ X.T).todense()), l2)
    scores = np.asarray(X.T @ B).T
    scores[:, np.asarray(X.sum(axis=0)).ravel() == 0] = scores.min() - 1.0
    return _standardise(scores)


def relevant_matrix(users: pd.Index, items: pd.Index, heldout: pd.DataFrame) -> sp.csr_matrix:
    """Users x items indicator of the held-out interactions inside the models' catalogue."""
    r = users.get_indexer(heldout["user_id"])
    c = items.get_indexer(heldout["item_id"])
    if (r < 0).any() or (c < 0).any():
        print(f"note: {int(((r < 0) | (c < 0)).sum())} held-out interactions of users or items "
              "outside the models' catalogue left out", file=sys.stderr)
        r, c = r[(r >= 0) & (c >= 0)], c[(r >= 0) & (c >= 0)]
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(users), len(items)))


def ndcg_of(scores: np.ndarray, seen: sp.csr_matrix, relevant: sp.csr_matrix, k: int) -> float:
    """NDCG@k of ``scores`` (mean over users with held-out items), seen items excluded."""
    recs, _ = top_n_scores(scores.astype(np.float32), k, exclude=seen, overwrite=True)
    return float(np.nanmean(ranking_metrics(recs, relevant, ks=k)[f"ndcg@{k}"]))


def ndcg_curve(s_fm: np.ndarray, s_ease: np.ndarray, seen: sp.csr_matrix, users: pd.Index,
               items: pd.Index, heldout: pd.DataFrame, weights: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k (mean over users with held-out items) of each blend weight."""
    relevant = relevant_matrix(users, items, heldout)
    return np.array([ndcg_of((1.0 - a) * s_fm + a * s_ease, seen, relevant, k)
                     for a in weights])


def three_way(s_fm: np.ndarray, s_ease: np.ndarray, s_user: np.ndarray, seen: sp.csr_matrix,
              relevant: sp.csr_matrix, pairs: list[tuple[float, float]], k: int) -> np.ndarray:
    """NDCG@k of ``(1 - a - b) * fm + a * ease + b * user_ease`` for each ``(a, b)``."""
    return np.array([ndcg_of((1.0 - a - b) * s_fm + a * s_ease + b * s_user, seen, relevant, k)
                     for a, b in pairs])


def user_ease_blend(val_scores: tuple, validation: pd.DataFrame, test_scores: tuple,
                    test: pd.DataFrame, lambdas: list[float], pairs: list[tuple[float, float]],
                    k: int) -> dict[str, float | str]:
    """User-user EASE (λ chosen on validation) alone and in the three-way blend: weights
    chosen on validation, and the best weights read off test (an upper bound)."""
    v_fm, v_ease, v_seen, v_users, v_items = val_scores
    v_rel = relevant_matrix(v_users, v_items, validation)
    by_l2 = {l2: ndcg_of(user_ease_scores(v_seen, l2), v_seen, v_rel, k) for l2 in lambdas}
    l2 = max(by_l2, key=by_l2.__getitem__)
    v_curve = three_way(v_fm, v_ease, user_ease_scores(v_seen, l2), v_seen, v_rel, pairs, k)
    t_fm, t_ease, t_seen, t_users, t_items = test_scores
    t_rel = relevant_matrix(t_users, t_items, test)
    t_user = user_ease_scores(t_seen, l2)
    t_curve = three_way(t_fm, t_ease, t_user, t_seen, t_rel, pairs, k)
    chosen, best = int(np.argmax(v_curve)), int(np.argmax(t_curve))
    return {"user-EASE λ": f"{l2:g}", "user-EASE": ndcg_of(t_user, t_seen, t_rel, k),
            "a, b (validation)": "{:g}, {:g}".format(*pairs[chosen]),
            "3-way (validation a, b)": t_curve[chosen],
            "a, b (test)": "{:g}, {:g}".format(*pairs[best]),
            "3-way (best a, b on test)": t_curve[best]}


def _cell(col: str, value: float | str) -> str:
    if isinstance(value, str):
        return value
    return f"{value:g}" if col.startswith("a ") else f"{value:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_protocol_args(ap)
    ap.add_argument("--model", default="fm-hybrid", help="the recfm FM to blend with EASE")
    ap.add_argument("--step", type=float, default=0.1, help="grid step of the blend weight")
    ap.add_argument("--user-ease", action="store_true",
                    help="also blend user-user EASE in, a third model (see above)")
    ap.add_argument("--user-lambdas", default="100,200,500,1000,2000",
                    help="the L2 penalties user-user EASE chooses from on validation")
    args = ap.parse_args()
    lambdas = [float(x) for x in args.user_lambdas.split(",") if x.strip()]
    seeds = seeds_of(args)
    weights = np.round(np.arange(0.0, 1.0 + 1e-9, args.step), 6)
    pairs = [(float(a), float(b)) for a in weights for b in weights if a + b <= 1.0 + 1e-9]

    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        data, interactions = positives(args, seed)
        train, test = random_split(interactions, test_size=0.2, seed=seed)
        fit_part, validation = random_split(train, test_size=0.1, seed=seed)
        val_scores = score_matrices(args.model, fit_part, data, seed, args.threads)
        val_curve = ndcg_curve(*val_scores, validation, weights, args.k)
        chosen = float(weights[int(np.argmax(val_curve))])
        test_scores = score_matrices(args.model, train, data, seed, args.threads)
        test_curve = ndcg_curve(*test_scores, test, weights, args.k)
        best = int(np.argmax(test_curve))
        row = {"seed": seed, "fm": test_curve[0], "ease": test_curve[-1],
               "a (validation)": chosen,
               "blend (validation a)": test_curve[int(np.argmax(val_curve))],
               "a (test)": float(weights[best]), "blend (best a on test)": test_curve[best]}
        if args.user_ease:
            row.update(user_ease_blend(val_scores, validation, test_scores, test, lambdas,
                                       pairs, args.k))
        rows.append(row)
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s; test NDCG@{args.k} by weight a of "
              "EASE: " + ", ".join(f"{a:g}: {v:.4f}" for a, v in zip(weights, test_curve, strict=True)),
              file=sys.stderr)

    table = pd.DataFrame(rows).set_index("seed")
    print(f"dataset={args.dataset}, model={args.model}, min_rating={args.min_rating}, "
          f"seeds={seeds}, k={args.k}; NDCG@{args.k} on test, a = weight of EASE's "
          "standardised scores" + (", b = user-user EASE's" if args.user_ease else "") + "\n")
    print("| seed | " + " | ".join(table.columns) + " |")
    print("|---:|" + "---:|" * len(table.columns))
    for seed, row in table.iterrows():
        print(f"| {seed} | " + " | ".join(_cell(col, v) for col, v in row.items()) + " |")
    print()
    for col in ("fm", "blend (validation a)", "blend (best a on test)", "user-EASE",
                "3-way (validation a, b)", "3-way (best a, b on test)"):
        if col not in table:
            continue
        ratio = table[col] / table["ease"]
        print(f"{col} / ease: {ratio.mean():.3f} (min {ratio.min():.3f}, max {ratio.max():.3f})"
              + ("  [upper bound: weights read off the test part]" if "test" in col else ""))


if __name__ == "__main__":
    main()
