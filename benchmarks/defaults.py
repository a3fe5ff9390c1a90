"""Do the FM's defaults hold up across data sets? Candidate settings scored on validation.

    RECFM_DATA=/work/shared/datasets python benchmarks/defaults.py --model fm \\
        --datasets ml-100k,synthetic,sample --seeds 0,1,2 \\
        --candidates benchmarks/candidates/fm-before-session-4.json
    python benchmarks/defaults.py --model fm-warp --datasets ml-100k,synthetic,sample \\
        --seeds 0,1,2 --candidates runs/warp-synthetic/best_params.json   # a recfm tune study

The candidates are the model's current defaults plus settings found by ``recfm tune`` (each a
``best_params.json``), e.g. one study per data set. For every data set and seed: the
interactions are split as ``recfm evaluate`` splits them (per-user random 20 % test), a
validation split is carved from the training part (``--validation-size`` per user, as
``recfm tune`` carves it), and every candidate is fitted on the rest and scored on validation
(NDCG@10, averaged over ``--seeds``). A candidate's score on a data set is its ratio to the
best candidate there; the one with the highest *worst* ratio holds up best. Choices are made
on validation only; then every candidate is fitted on the whole training part and scored on
test, as a check, not a choice.

An epoch count found by a study on one data set says little about another (ML-100K peaks near
30 epochs, the synthetic data near 13), so ``--epochs-from-study`` (default) keeps each
candidate's ``model__n_epochs`` while ``--no-epochs`` drops it and uses the model's default.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recfm.datasets import load_dataset  # noqa: E402
from recfm.evaluation.experiment import split_data  # noqa: E402
from recfm.metrics import metrics_from_frames  # noqa: E402
from recfm.recommenders import make_recommender  # noqa: E402
from recfm.tuning import read_best_params  # noqa: E402
from recfm.tuning.study import validation_split  # noqa: E402


def _score(model: str, params: dict, fit, truth, data, seed: int, threads: int | None) -> tuple:
    rec = make_recommender(model, seed=seed, n_threads=threads).set_params(**params)
    t = time.perf_counter()
    rec.fit(fit, users=data.users, items=data.items)
    seconds = time.perf_counter() - t
    users = pd.unique(truth["user_id"].to_numpy())
    recs = rec.recommend(users, n=10)
    n_items = len(pd.unique(pd.concat([fit["item_id"], truth["item_id"]])))
    summary, _ = metrics_from_frames(recs, truth, 10, n_items=n_items)
    return float(summary["ndcg@10"]), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="fm-warp")
    ap.add_argument("--datasets", default="ml-100k,synthetic")
    ap.add_argument("--candidates", default="",
                    help="comma-separated best_params.json files of recfm tune")
    ap.add_argument("--seeds", default="0", help="comma-separated; scores are means over them")
    ap.add_argument("--validation-size", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-epochs", action="store_true",
                    help="drop the studies' model__n_epochs (use the default epoch count)")
    args = ap.parse_args()

    candidates: dict[str, dict] = {"default": {}}
    for path in filter(None, args.candidates.split(",")):
        name, params = read_best_params(path)
        if name != args.model:
            sys.exit(f"{path} tunes model '{name}', not '{args.model}'")
        if args.no_epochs:
            params.pop("model__n_epochs", None)
        # recfm tune writes OUT/best_params.json: name a candidate after its study's folder
        label = Path(path).parent.name if Path(path).name == "best_params.json" else Path(path).stem
        candidates[label] = params
    for label, params in candidates.items():
        print(f"{label}: {params or '(the model defaults)'}", file=sys.stderr)

    seeds = [int(s) for s in args.seeds.split(",")]
    val_scores, fit_seconds, splits = {}, {}, {}
    for ds in args.datasets.split(","):
        data = load_dataset(ds, download=False)
        for seed in seeds:
            train, test = split_data(data.interactions, "random", 0.2, seed)
            fit_part, val = validation_split(train, args.validation_size, seed)
            splits[(ds, seed)] = (data, train, test)
            for label, params in candidates.items():
                score, sec = _score(args.model, params, fit_part, val, data, seed, args.threads)
                val_scores[(label, ds, seed)], fit_seconds[(label, ds, seed)] = score, sec
                print(f"{ds:>16} seed {seed} {label:>20}: validation NDCG@10 {score:.4f} "
                      f"(fit {sec:.1f} s)", file=sys.stderr)

    table = pd.Series(val_scores).groupby(level=[0, 1]).mean().unstack()
    ratio = table / table.max(axis=0)
    table["worst ratio"] = ratio.min(axis=1)
    table["mean ratio"] = ratio.mean(axis=1)
    chosen = str(table["worst ratio"].idxmax())
    print(f"model {args.model}, seeds {args.seeds}; mean validation NDCG@10 "
          f"({args.validation_size:.0%} of "
          "each user's training interactions), fitted on the rest:\n")
    print(table.to_string(float_format="%.4f"))
    print(f"\nholds up best (highest worst ratio): {chosen}")
    secs = pd.Series(fit_seconds).groupby(level=[0, 1]).mean().unstack()
    print("\nfit seconds:\n" + secs.to_string(float_format="%.1f"))

    rows = []
    for (ds, seed), (data, train, test) in splits.items():
        for label in candidates:
            score, _ = _score(args.model, candidates[label], train, test, data, seed, args.threads)
            rows.append({"dataset": ds, "setting": label, "test NDCG@10": score})
    check = pd.DataFrame(rows).pivot_table(index="setting", columns="dataset",
                                           values="test NDCG@10", aggfunc="mean")
    print("\ncheck on test (fitted on the whole training part; not used for the choice):\n")
    print(check.to_string(float_format="%.4f"))
    ratios = check / check.loc["default"]
    print("\nratio to the current defaults:\n" + ratios.to_string(float_format="%.3f"))


if __name__ == "__main__":
    main()
