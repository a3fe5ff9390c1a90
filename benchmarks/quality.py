"""Ranking quality of recfm's models beside the peers, on identical splits, over several seeds.

    python benchmarks/quality.py --dataset ml-100k --seeds 42,43,44
    python benchmarks/quality.py --dataset ml-100k --seeds 42,43,44 --min-rating 4
    python benchmarks/quality.py --dataset ml-100k --models fm-warp,fm-hybrid,ease --no-peers
    python benchmarks/quality.py --dataset ml-100k --seeds 42,43,44 --split leave-last-out
    python benchmarks/quality.py --dataset synthetic-ml-1m --models fm,ease --no-peers
    python benchmarks/quality.py --dataset synthetic --sequence 0.5 --models fm,fm-seq,ease --no-peers
    python benchmarks/quality.py --dataset ml-100k --seeds 42 --models fm-warp,als --tuned --trials 30

For every seed: one split of the data (``--split random``: a per-user random 20 % holdout,
users with >= 5 interactions; ``leave-last-out``: each user's latest interaction), then every
model fitted on its train part and scored on its test part by :func:`recfm.evaluation.evaluate`
(seen items excluded), models seeded with the same seed. Hyper-parameters that are chosen
from data (EASE's λ) are chosen on a validation split carved from the train part, never the
test part. Printed: a markdown table of each metric's mean over the seeds (NDCG with its
standard deviation and range), each model's NDCG per seed, and the ratios that the issues set targets
for (recfm's best FM against EASE and the peers; ``fm-history``, ``fm-seq`` and ``fm-hybrid``
against ``fm``, ``fm-warp`` and EASE), per seed and as mean (min–max), with the issue's
targets marked met or not.

Peers: implicit ALS/BPR and recfm's own EASE/ItemKNN through the registry; LightFM
(``pip install lightfm-next``) with its usual settings (64 components, 30 epochs, learning rate
0.05) and with the settings REFERENCE_RESULTS.md reports as tuned on validation (15 epochs,
alpha 1e-5); skipped, with a note, when it does not import.

``--tuned`` runs the comparison tuned against tuned: before each seed's fit, every model with
a search space (:data:`recfm.tuning.SPACES`: the FMs, ALS, BPR, EASE) is tuned by
:func:`recfm.tuning.search` (``--trials`` optuna trials, TPE, pruning; trial 0 is the
defaults) on a validation split carved from that seed's *train* part, then fitted on the whole
train part with its best setting. The ratio lines then compare tuned models; each tuned model
also keeps a ``NAME (default)`` row with its untuned defaults, fitted on the same split (the
tuned row itself when the study kept the defaults: one fit, not two), and a
second table gives each study's trials, wall time and the load average around it. Models
without a search space keep their defaults (named on stderr).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import lightfm_available, peer_models  # noqa: E402

from recfm.datasets import load_dataset, make_synthetic, make_synthetic_like  # noqa: E402
from recfm.evaluation import evaluate  # noqa: E402
from recfm.recommenders import make_recommender, parse_model_names  # noqa: E402
from recfm.split import leave_last_out, random_split  # noqa: E402
from recfm.tuning.study import VALIDATION_FOLDS  # noqa: E402

DEFAULT_MODELS = "all"
METRICS = ("ndcg", "precision", "recall", "map", "hit_rate", "coverage")
LABELS = {"ndcg": "NDCG", "precision": "P", "recall": "R", "map": "MAP", "hit_rate": "HR",
          "coverage": "coverage"}


def split(interactions: pd.DataFrame, how: str, seed: int):
    if how == "random":
        return random_split(interactions, test_size=0.2, seed=seed)
    if how == "leave-last-out":
        return leave_last_out(interactions, n=1)
    raise ValueError(f"--split must be random or leave-last-out; got {how!r}")


def summarise(tables: list[pd.DataFrame], k: int) -> pd.DataFrame:
    """Mean, std and range of each metric over the per-seed tables (models as rows)."""
    stacked = pd.concat(tables, keys=range(len(tables)), names=["run", "model"])
    cols = [f"{m}@{k}" for m in METRICS] + ["fit_s"]
    grouped = stacked[cols].groupby(level="model", sort=False)
    out = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1), "min": grouped.min(),
                     "max": grouped.max()}, axis=1)
    return out.loc[tables[0].index]


def _cell(summary: pd.DataFrame, model: str, col: str, n_runs: int) -> str:
    mean = summary.loc[model, ("mean", col)]
    if n_runs == 1:
        return f"{mean:.3f}"
    return (f"{mean:.3f} ± {summary.loc[model, ('std', col)]:.3f} "
            f"({summary.loc[model, ('min', col)]:.3f}–{summary.loc[model, ('max', col)]:.3f})")


def markdown(summary: pd.DataFrame, tables: list[pd.DataFrame], seeds: list[int], k: int) -> str:
    n_runs = len(tables)
    head = [f"{LABELS[m]}@{k}" for m in METRICS]
    lines = ["| model | " + " | ".join(head) + " | fit s | "
             + " | ".join(f"NDCG seed {s}" for s in seeds) + " |",
             "|---|" + "---:|" * (len(head) + 1 + len(seeds))]
    for model in summary.index:
        cells = [_cell(summary, model, f"ndcg@{k}", n_runs)]
        cells += [f"{summary.loc[model, ('mean', f'{m}@{k}')]:.3f}" for m in METRICS[1:]]
        cells.append(f"{summary.loc[model, ('mean', 'fit_s')]:.2f}")
        cells += [f"{t.loc[model, f'ndcg@{k}']:.3f}" for t in tables]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio_line(tables: list[pd.DataFrame], col: str, a: str, b: str, target: float | None = None
                ) -> str:
    per_seed = np.array([t.loc[a, col] / t.loc[b, col] for t in tables])
    line = (f"{col} {a} / {b}: {per_seed.mean():.3f} (min {per_seed.min():.3f}, "
            f"max {per_seed.max():.3f}; per seed " + ", ".join(f"{r:.3f}" for r in per_seed) + ")")
    if target is not None:
        line += f"  [target >= {target:g}: {'met' if per_seed.mean() >= target else 'NOT met'}]"
    return line


def ratios(tables: list[pd.DataFrame], k: int, split_name: str, tuned: bool = False) -> list[str]:
    """NDCG ratios that issue targets name: recfm's best FM (by mean NDCG) against each
    reference, and the log-derived FMs (``fm-history``, ``fm-seq``, ``fm-hybrid``) against
    ``fm``, ``fm-warp`` and EASE;
    with ``tuned``, each tuned model against its defaults and the tuned FM against tuned ALS
    (issue 10: both >= 1)."""
    col = f"ndcg@{k}"
    mean = pd.concat([t[col] for t in tables], axis=1).mean(axis=1)
    # tuned vs tuned: the untuned "(default)" rows are no candidates
    fms = [m for m in mean.index if m.startswith("fm") and not m.endswith("(default)")]
    if not fms:
        return []
    best = str(mean[fms].idxmax())
    out = [f"best recfm FM by mean {col}: {best}"]
    for ref in ("ease", "itemknn", "als", "bpr", "lightfm-warp-tuned",
                "lightfm-warp-genres-tuned", "fm"):
        if ref != best and ref in mean.index:
            target = 1.05 if ref == "ease" and split_name == "random" else None
            if tuned and ref == "als":
                target = 1.0
            out.append(_ratio_line(tables, col, best, ref, target))
    for model in mean.index:
        if tuned and f"{model} (default)" in mean.index:
            out.append(_ratio_line(tables, col, model, f"{model} (default)", 1.0))
    for model in ("fm-history", "fm-seq", "fm-hybrid"):
        for ref in ("fm", "fm-warp", "ease"):
            if model in mean.index and ref in mean.index and model != best:
                target = 1.0 if model == "fm-seq" and split_name == "leave-last-out" else None
                out.append(_ratio_line(tables, col, model, ref, target))
    return out


def tune_models(models: dict, train: pd.DataFrame, data, args, seed: int) -> list[dict]:
    """Set every tunable model to its best setting on a validation split of ``train``; add
    its untuned defaults as ``NAME (default)``. Returns one record per study."""
    import optuna

    from recfm.tuning import SPACES, best_params, chosen_trial, search

    studies = []
    for name in list(models):
        if name not in SPACES:
            print(f"seed {seed}: {name} has no search space: defaults", file=sys.stderr)
            continue
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        study = search(name, train, users=data.users, items=data.items, n_trials=args.trials,
                       timeout=args.timeout, metric=f"ndcg@{args.k}", seed=seed,
                       n_threads=args.threads, validation_folds=args.validation_folds)
        seconds = time.perf_counter() - t0
        setting = best_params(study)
        kept = bool(study.user_attrs.get("kept_defaults"))
        if not kept:  # kept defaults: the "(default)" row is the same fit (main copies it)
            models[f"{name} (default)"] = make_recommender(name, seed=seed,
                                                           n_threads=args.threads)
        models[name].set_params(**setting)
        pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
        chosen = chosen_trial(study)
        check = study.user_attrs.get("confirmation")
        studies.append({"seed": seed, "model": name, "trials": len(study.trials),
                        "pruned": pruned, "best_trial": study.best_trial.number,
                        "chosen_trial": chosen.number, "kept_defaults": kept,
                        "validation": chosen.value,
                        "check": "" if check is None else
                        f"{check['difference']:+.4f} ± {check['standard_error']:.4f}",
                        "seconds": seconds, "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}"})
        shown = ", ".join(f"{k.removeprefix('model__')}={v:.3g}" if isinstance(v, float)
                          else f"{k.removeprefix('model__')}={v}" for k, v in setting.items())
        print(f"seed {seed}: tuned {name} in {seconds:.0f} s ({len(study.trials)} trials, chose "
              f"trial {chosen.number}, validation ndcg@{args.k} {chosen.value:.4f}): {shown}",
              file=sys.stderr)
    return studies


def study_table(studies: list[dict], k: int) -> str:
    lines = ["| seed | model | trials (pruned) | best trial | refitted best - defaults (± 1 s.e.) "
             f"| chosen (0 = defaults) | its validation NDCG@{k} | wall s | load avg (start-end) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in studies:
        lines.append(f"| {s['seed']} | {s['model']} | {s['trials']} ({s['pruned']}) | "
                     f"{s['best_trial']} | {s['check']} | {s['chosen_trial']} | "
                     f"{s['validation']:.4f} | {s['seconds']:.0f} | {s['load']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k",
                    help="a recfm dataset name, synthetic-ml-1m, or synthetic (make_synthetic's "
                         "default size: 1,000 users, 1,500 items, 60,000 interactions)")
    ap.add_argument("--sequence", type=float, default=0.0,
                    help="synthetic data: planted next-item signal (make_synthetic(sequence=))")
    ap.add_argument("--models", default=DEFAULT_MODELS, help="recfm model names (default all)")
    ap.add_argument("--no-peers", action="store_true", help="skip LightFM")
    ap.add_argument("--min-rating", type=float, default=None,
                    help="only ratings >= this are positives (default: every rating)")
    ap.add_argument("--split", default="random", choices=["random", "leave-last-out"])
    ap.add_argument("--seeds", default="42,43,44",
                    help="comma-separated seeds: one split and one fit of every model per seed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--tuned", action="store_true",
                    help="tune every model with a search space on a validation split of train first")
    ap.add_argument("--trials", type=int, default=30, help="optuna trials per model with --tuned")
    ap.add_argument("--validation-folds", type=int, default=VALIDATION_FOLDS,
                    help="with --tuned, disjoint validation folds per study (as recfm tune)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="with --tuned, stop starting trials of a model after this many seconds")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        ap.error("--seeds needs at least one seed")

    tables = []
    studies: list[dict] = []
    n_train = n_test = 0
    for seed in seeds:
        if args.dataset == "synthetic-ml-1m":
            data = make_synthetic_like("ml-1m", seed=seed, sequence=args.sequence)
        elif args.dataset == "synthetic":
            data = make_synthetic(seed=seed, sequence=args.sequence)
        else:
            data = load_dataset(args.dataset, download=False)
        interactions = data.interactions
        if args.min_rating is not None:
            interactions = interactions[interactions.rating >= args.min_rating]
        train, test = split(interactions, args.split, seed)
        n_train, n_test = len(train), len(test)
        models = {n: make_recommender(n, seed=seed, n_threads=args.threads)
                  for n in parse_model_names(args.models)}
        if args.tuned:
            studies += tune_models(models, train, data, args, seed)
        if not args.no_peers:
            if lightfm_available():
                models.update(peer_models(seed=seed, threads=args.threads,
                                          genres=data.items is not None))
            elif seed == seeds[0]:
                print("note: LightFM is not installed (pip install lightfm-next): "
                      "LightFM rows skipped", file=sys.stderr)
        t0 = time.perf_counter()
        result = evaluate(models, train, test, k=args.k, users=data.users, items=data.items)
        print(f"seed {seed}: {len(models)} models in {time.perf_counter() - t0:.0f} s "
              f"({n_train} train / {n_test} test interactions)", file=sys.stderr)
        if "ease" in models:
            print(f"seed {seed}: EASE chose l2={models['ease'].l2_:g} on validation",
                  file=sys.stderr)
        table = result.table
        for study in studies:
            if study["seed"] == seed and study["kept_defaults"]:
                # one fit, not two: a refit of the same setting would only measure the threads'
                # nondeterminism and report it as tuning's gain or loss
                table.loc[f"{study['model']} (default)"] = table.loc[study["model"]]
        tables.append(table)

    summary = summarise(tables, args.k)
    tuned = f", tuned on validation ({args.trials} trials per model)" if args.tuned else ""
    print(f"dataset={args.dataset}{tuned}, split={args.split}, min_rating={args.min_rating}, "
          f"seeds={seeds}, k={args.k}, threads={args.threads}, last split: {n_train} train / "
          f"{n_test} test interactions; NDCG: mean ± std (min–max) over the seeds, other "
          "metrics and fit seconds: means\n")
    print(markdown(summary, tables, seeds, args.k))
    print()
    if studies:
        print(study_table(studies, args.k))
        print()
    for line in ratios(tables, args.k, args.split, tuned=args.tuned):
        print(line)


if __name__ == "__main__":
    main()
