"""Early stopping against the best fixed number of epochs, on the test part.

    RECFM_DATA=/work/shared/datasets python benchmarks/early_stopping.py
    python benchmarks/early_stopping.py --datasets synthetic --models fm-warp --seeds 0,1

For each data set and seed: split the interactions (per-user random 20 % test), carve
``--validation-size`` of each user's training interactions for validation, then train each FM
on the rest twice, with one thread and the seed, so the two runs visit identical parameters
epoch by epoch (the script checks that their losses agree):

* run A trains ``--max-epochs`` epochs and records test NDCG@10 after every epoch: the test
  score of every fixed number of epochs at once. The **best fixed setting** is the one epoch
  count whose mean test NDCG@10 over the seeds is highest: an oracle that peeks at test, so
  the comparison is generous to fixed epochs. ``default`` is the FM's default ``n_epochs``.
* run B is ``fit(validation=..., early_stopping=--patience)``: it stops when validation
  NDCG@10 has not improved for ``patience`` epochs and keeps the best validation epoch's
  parameters; its test NDCG@10 is run A's curve at that epoch.

Printed per data set and model: the best fixed setting and its NDCG, the default's NDCG, early
stopping's NDCG (mean ± standard deviation over seeds), the gap to the best fixed setting, the
epochs early stopping trained (the kept epoch plus the patience) against the best fixed
setting's, and the time spent validating as a share of the time training.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recfm.datasets import load_dataset  # noqa: E402
from recfm.recommenders import make_recommender  # noqa: E402
from recfm.split import random_split  # noqa: E402


def _runs(data, name: str, seed: int, args) -> dict:
    train, test = random_split(data.interactions, test_size=0.2, seed=seed)
    fit_part, val = random_split(train, test_size=args.validation_size, seed=seed)
    keep = test["user_id"].isin(fit_part["user_id"]) & test["item_id"].isin(fit_part["item_id"])
    test = test[keep.to_numpy()]
    a = make_recommender(name, seed=seed, n_threads=1)
    a.set_params(model__n_epochs=args.max_epochs, validation_users=None)
    a.fit(fit_part, users=data.users, items=data.items, validation=test)
    b = make_recommender(name, seed=seed, n_threads=1)
    b.set_params(model__n_epochs=args.max_epochs)
    b.fit(fit_part, users=data.users, items=data.items, validation=val,
          early_stopping=args.patience)
    loss_b = b.model_.history_["loss"]
    np.testing.assert_allclose(loss_b, a.model_.history_["loss"][:len(loss_b)], rtol=1e-6)
    return dict(test_curve=np.asarray(a.history_["ndcg@10"]), kept=int(b.model_.best_epoch_),
                trained=len(loss_b),
                share=b.model_.monitor_seconds_ / b.model_.train_seconds_)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ml-100k,synthetic")
    ap.add_argument("--models", default="fm,fm-warp")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--max-epochs", type=int, default=80)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--validation-size", type=float, default=0.2)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for ds in args.datasets.split(","):
        data = load_dataset(ds, download=False)
        for name in args.models.split(","):
            runs = [_runs(data, name, seed, args) for seed in seeds]
            curves = np.array([r["test_curve"] for r in runs])
            mean_curve = curves.mean(axis=0)
            best = int(np.argmax(mean_curve))
            default = make_recommender(name).model.n_epochs
            es = np.array([r["test_curve"][r["kept"]] for r in runs])
            trained = np.array([r["trained"] for r in runs])
            rows.append({
                "dataset": ds, "model": name,
                "best fixed epochs": best + 1, "best fixed NDCG": mean_curve[best],
                "default epochs": default, "default NDCG": mean_curve[min(default, len(mean_curve)) - 1],
                "ES NDCG": f"{es.mean():.4f} ± {es.std(ddof=1) if len(es) > 1 else 0:.4f}",
                "gap": mean_curve[best] - es.mean(),
                "ES kept": np.mean([r["kept"] + 1 for r in runs]),
                "ES trained": trained.mean(),
                "saving": 1 - trained.mean() / (best + 1),
                "validation share": np.mean([r["share"] for r in runs]),
            })
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="%.4f"), file=sys.stderr)
    table = pd.DataFrame(rows)
    print(f"seeds {args.seeds}, max_epochs={args.max_epochs}, patience={args.patience}, "
          f"validation_size={args.validation_size}, n_threads=1; test NDCG@10\n")
    print(table.to_string(index=False, float_format="%.4f"))
    total_es, total_fixed = table["ES trained"].sum(), table["best fixed epochs"].sum()
    print(f"\nlargest gap to the best fixed setting {table['gap'].max():.4f}; early stopping "
          f"trained {total_es:.0f} epochs over the {len(table)} cases against {total_fixed} for the "
          f"best fixed settings ({1 - total_es / total_fixed:.0%} fewer)")


if __name__ == "__main__":
    main()
