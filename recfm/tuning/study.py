"""``recfm tune``: an optuna study of one model's hyper-parameters on a validation split.

Protocol
--------
1. The data set is split into train and test exactly as ``recfm evaluate`` splits it (same
   ``split``, ``test_size`` and ``seed``). The test part is not touched until step 6.
2. A validation split is carved from the *training* part, per user
   (:func:`recfm.split.random_folds`, ``validation_size``, seeded): trials fit on the rest.
   With ``validation_folds=k`` (default 3), k disjoint validation parts of ``validation_size`` each are
   carved, each with the rest of the training part as its fit part (``k *
   validation_size = 1`` is per-user k-fold cross-validation). Every step below then runs on
   each fold and averages: a trial's value is the mean over folds (for an FM, of the folds'
   validation curves; the first fold's curve drives early stopping and pruning, and the other
   folds train as many epochs), and the confirming refit compares per-user means over folds.
   One fold of 10 % of ML-100K's training part (~8k interactions) gives a difference of two
   settings a standard error of about 0.0035 NDCG@10, as large as the gains there are;
   three folds about 0.002, at three fits per trial (not pruned ones).
3. Trial 0 is the model's registry defaults (when its space holds them; every built-in
   space but EASE's, whose default ``l2="auto"`` is no point of a range), so the study can
   only end on a setting at least as good as the defaults *on validation*. The other trials
   draw a setting from the model's search space (:mod:`recfm.tuning.spaces`; TPE sampler,
   seeded). FMs train up to ``max_epochs`` epochs with early stopping on the validation
   ``metric`` and report the curve to a median pruner after every epoch, so bad trials stop
   early; the trial's value is the best centred moving average of ``window`` epochs of its
   curve, and the centre of that window, as an epoch count, is part of the setting. Other
   models are fitted once and score their top-N on the validation users. The metric code is
   :mod:`recfm.metrics` in both cases, as in ``recfm evaluate``.
4. The best trial's setting (with its epoch count) and the untouched defaults (with theirs)
   are refitted on the fit part and compared user by user on validation: the tuned setting
   replaces the defaults only if the mean per-user gain exceeds ``CONFIRM_SE`` (1)
   standard error, the one-standard-error rule; otherwise the defaults are returned as they
   are. (A model without epochs whose defaults were its best trial needs no refit.)
   On ML-100K, whose defaults were tuned there, settings within a few thousandths of NDCG
   of each other are the norm, and the raw maximum of 30 noisy trials would otherwise
   replace good defaults by a winner of the validation noise.
5. The study lives in ``OUT/study.db`` (SQLite), so an interrupted run keeps its finished
   trials and ``resume=True`` continues it up to ``n_trials``.
6. The chosen setting and the untuned defaults are then fitted on the whole training part and
   evaluated once on the test part, side by side. The FM keeps the epoch count found on the
   fit part although the whole training part has 1/(1 - validation_size) times its
   interactions: an epoch is one pass over the samples, and the number of passes that fits
   best moves little with 11 % more data (on ML-100K, split seed 7, the test curve of the
   defaults is flat from 30 to 60 epochs and falls off only below 20), while scaling it would guess at a
   direction the validation never measured.

Files written to ``OUT``: ``best_params.json`` (read back by ``recfm evaluate --params``),
``trials.csv``, ``optimization_history.png``, ``settings.json``, ``study.db`` and
``test_comparison.txt``.
"""
from __future__ import annotations

import json
import logging
import math
import numbers
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._utils import DataError, write_text_atomic
from ..datasets import Dataset, load_with_attributes
from ..datasets.attributes import AttributeSource, describe_source, same_source
from ..evaluation import EvaluationResult, evaluate
from ..evaluation.experiment import check_split_options, check_times, split_data
from ..metrics import metrics_from_frames
from ..model import DivergenceError, FactorizationMachine
from ..recommenders import FMRecommender, make_recommender, parse_model_names
from ..split import random_folds
from .spaces import SearchSpace, space_for

__all__ = ["TuningResult", "tune", "search", "best_params", "chosen_trial", "default_setting",
           "read_best_params",
           "read_params_files", "smoothed_best", "validation_split", "validation_splits", "FILES"]

log = logging.getLogger("recfm")

#: names of the files ``tune`` writes in its output directory
FILES = {
    "best_params": "best_params.json",
    "trials": "trials.csv",
    "plot": "optimization_history.png",
    "settings": "settings.json",
    "study": "study.db",
    "comparison": "test_comparison.txt",
}
STUDY_NAME = "recfm-tune"
#: default number of disjoint validation folds of a study (``validation_folds``): three of
#: 10 % each triple the validation interactions (on ML-100K, 8k -> 24k) and shrink the
#: standard error of a difference of two settings by about sqrt(3), at three fits per trial
VALIDATION_FOLDS = 3


@dataclass
class TuningResult:
    """What :func:`tune` returns.

    Attributes
    ----------
    model : str
    best_params : dict
        The chosen setting, as ``set_params`` names (``model__n_epochs`` included for FMs):
        the best trial's, or the defaults' when the best did not beat them on validation by
        ``CONFIRM_SE`` standard errors.
    best_value : float
        Its trial's validation ``metric``.
    metric : str
    n_trials : int
        Finished trials (complete or pruned) in the study.
    n_pruned : int
    comparison : EvaluationResult or None
        Tuned vs default on the test part (None when ``evaluate_test=False``).
    files : dict[str, Path]
    seconds : float
        Wall time of the trials run by this call.
    settings : dict
        Data set, model, metric, seed and split of the study (``settings.json``).
    best_trial : int or None
        Number of the chosen trial (0 is the defaults when the space holds them).
    confirmation : dict or None
        The refitted comparison of the best trial with the untouched defaults (None without
        a refit: no default trial, or a model without epochs whose defaults were best):
        per-user ``difference`` mean (each user's mean over the validation folds),
        ``standard_error``, ``users``, ``folds``, ``kept_defaults``.
    """

    model: str
    best_params: dict[str, Any]
    best_value: float
    metric: str
    n_trials: int
    n_pruned: int
    comparison: EvaluationResult | None
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    best_trial: int | None = None
    confirmation: dict[str, Any] | None = None


def _require_optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError(
            "recfm tune needs optuna, an optional extra: pip install recfm[tune] "
            "(or pip install optuna)"
        ) from None
    return optuna


def _parse_metric(metric: str) -> tuple[str, int]:
    from ..metrics import METRICS

    name, _, k = str(metric).partition("@")
    if name not in METRICS or not k.isdigit() or int(k) <= 0:
        raise ValueError(f"metric must be name@k with name in {', '.join(METRICS)}; got {metric!r}")
    return name, int(k)


def _check_args(model: str, n_trials: object, timeout: object, metric: str,
                validation_size: object, validation_folds: object = 1
                ) -> tuple[SearchSpace, int]:
    parse_model_names([model])  # unknown names: the registry's message
    space = space_for(model)
    if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials <= 0:
        raise ValueError(f"n_trials must be a positive integer; got {n_trials!r}")
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
                                or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    _parse_metric(metric)
    if not isinstance(validation_size, (int, float)) or not 0.0 < float(validation_size) < 1.0:
        raise ValueError(f"validation_size must be in (0, 1); got {validation_size!r}")
    if (isinstance(validation_folds, bool) or not isinstance(validation_folds, numbers.Integral)
            or validation_folds <= 0):
        raise ValueError(f"validation_folds must be a positive integer; got {validation_folds!r}")
    if int(validation_folds) * float(validation_size) > 1.0 + 1e-9:
        raise ValueError(f"validation_folds * validation_size must be at most 1 (the folds are "
                         f"disjoint); got {validation_folds} * {validation_size}")
    return space, int(n_trials)


def _check_out(out: Path, resume: bool) -> None:
    if resume:
        if not (out / FILES["study"]).exists():
            raise FileNotFoundError(f"--resume (resume=True): no study to resume in {out} "
                                    f"({FILES['study']} not found)")
    elif out.exists():
        raise FileExistsError(
            f"--out (out=) {out} exists; pass --resume (resume=True) to continue its study, or "
            "choose a new directory"
        )


def validation_split(train: pd.DataFrame, validation_size: float, seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit part, validation part) carved per user from the training part only."""
    return validation_splits(train, validation_size, 1, seed)[0]


def validation_splits(train: pd.DataFrame, validation_size: float, folds: int, seed: int
                     ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """``folds`` (fit part, validation part) pairs carved per user from the training part only.

    The validation parts are disjoint, each ``validation_size`` of every user's training
    interactions (:func:`recfm.split.random_folds`); each fit part is the rest of ``train``.
    One fold is :func:`validation_split`.
    """
    out = []
    for fit_part, val in random_folds(train, folds, validation_size, seed=seed):
        # only pairs of a user and an item the fit part knows can be ranked
        known = (val["user_id"].isin(pd.unique(fit_part["user_id"].to_numpy()))
                 & val["item_id"].isin(pd.unique(fit_part["item_id"].to_numpy())))
        val = val[known.to_numpy()].reset_index(drop=True)
        if len(val) == 0:
            raise DataError("the validation split carved from train is empty "
                            "(users need >= 5 interactions)")
        out.append((fit_part, val))
    return out


def default_setting(model: str, space: SearchSpace) -> dict[str, Any] | None:
    """The registry defaults of ``model`` for the parameters ``space`` searches, or None when
    one of them is not a point of the space (then no trial runs the defaults)."""
    rec = make_recommender(model)
    params = rec.get_params(deep=True)
    if isinstance(rec, FMRecommender):
        # reg_factors=None means a value that depends on the loss: search the value it means
        fm = rec.model if rec.model is not None else FactorizationMachine()
        resolved = fm._validated_params()
        params.update({f"model__{k}": resolved[k] for k, v in fm.get_params(deep=False).items()
                       if v is None and k in resolved})
    setting = {name: params.get(name) for name in space.params}
    return setting if space.contains(setting) else None


def _enqueue_defaults(study, optuna, model: str, space: SearchSpace) -> None:
    """Queue the defaults as the next trial unless the study has run (or queued) them."""
    setting = default_setting(model, space)
    if setting is None:
        return
    kept = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.WAITING)
    if any(t.user_attrs.get("default") for t in study.get_trials(deepcopy=False, states=kept)):
        return
    study.enqueue_trial(setting, user_attrs={"default": True})


def smoothed_best(curve, window: int) -> tuple[float, int]:
    """(value, epoch) of the best centred moving average of ``window`` epochs of ``curve``.

    Only windows inside the curve count (a curve shorter than ``window`` uses the longest
    odd window that fits): a window cut short at an end would average fewer epochs and favour
    a lucky last one. ``epoch`` is the 0-based centre of the best window.
    """
    c = np.asarray(curve, dtype=np.float64)
    half = min(int(window) // 2, (len(c) - 1) // 2)
    width = 2 * half + 1
    sums = np.concatenate([[0.0], np.cumsum(c)])
    means = (sums[width:] - sums[:-width]) / width
    best = int(np.argmax(means))
    return float(means[best]), best + half


class _Fold:
    """One (fit part, validation part) pair of a study, with what scoring on it needs."""

    def __init__(self, fit_part: pd.DataFrame, val: pd.DataFrame):
        self.fit_part, self.val = fit_part, val
        self.val_users = pd.unique(val["user_id"].to_numpy())
        self.n_items = len(pd.unique(pd.concat([fit_part["item_id"], val["item_id"]])))


class _Objective:
    """One trial: draw a setting, fit on each fold's fit part, score on its validation part.

    With several folds, a trial's value is the mean over the folds: for an FM, the best
    centred moving average of the folds' mean validation curve. Only the first fold's curve
    is reported to the pruner (the other folds train exactly as many epochs as it did, so
    that the curves align), so a bad setting costs one fit.
    """

    def __init__(self, optuna, model: str, space: SearchSpace, folds, users, items,
                 metric: str, seed: int, n_threads: int | None):
        self.optuna, self.model, self.space = optuna, model, space
        self.folds = [_Fold(fit_part, val) for fit_part, val in folds]
        self.users, self.items = users, items
        self.metric, self.k = metric, _parse_metric(metric)[1]
        self.seed, self.n_threads = seed, n_threads

    def _make(self, setting: dict[str, Any]):
        rec = make_recommender(self.model, seed=self.seed, n_threads=self.n_threads)
        return rec.set_params(**setting)

    def _score(self, setting: dict[str, Any], fold: _Fold):
        """(summary, per-user frame) of ``setting`` fitted on the fit part of ``fold``."""
        rec = self._make(setting)
        rec.fit(fold.fit_part, users=self.users, items=self.items)
        recs = rec.recommend(fold.val_users, n=self.k)
        return metrics_from_frames(recs, fold.val, self.k, n_items=fold.n_items)

    def per_user(self, setting: dict[str, Any]) -> pd.Series:
        """``setting`` fitted on each fold's fit part: its metric per validation user, the
        mean over the folds that validate the user."""
        scores = [self._score(setting, fold)[1][self.metric] for fold in self.folds]
        if len(scores) == 1:
            return scores[0]
        return pd.concat(scores).groupby(level=0, sort=True).mean()

    def __call__(self, trial) -> float:
        params = self.space.suggest(trial)
        if not self.space.epochs:
            values = [float(self._score(params, fold)[0][self.metric]) for fold in self.folds]
            if len(values) > 1:
                trial.set_user_attr("fold_values", values)
            return float(np.mean(values))

        def report(epoch: int, model, metrics: dict[str, float]) -> None:
            trial.report(metrics[self.metric], epoch)
            if trial.should_prune():
                trial.set_user_attr("n_epochs", epoch + 1)
                raise self.optuna.TrialPruned()

        rec = self._make(params)
        if not isinstance(rec, FMRecommender):
            raise TypeError(f"a search space with epochs=True needs an FMRecommender; "
                            f"'{self.model}' is a {type(rec).__name__}")
        curves: list[np.ndarray] = []
        for j, fold in enumerate(self.folds):
            rec = self._make(params)
            if j == 0:
                rec.set_params(model__n_epochs=self.space.max_epochs, validation_metric=self.metric)
                stop, callback = self.space.patience, report
            else:  # the first fold's epochs, no early stopping: curves of one length
                rec.set_params(model__n_epochs=len(curves[0]), validation_metric=self.metric)
                stop, callback = None, None
            try:
                rec.fit(fold.fit_part, users=self.users, items=self.items, validation=fold.val,
                        early_stopping=stop, callback=callback)
            except DivergenceError as exc:  # a setting that diverges is a bad setting, not a bug
                trial.set_user_attr("diverged", str(exc).split(";")[0])
                raise self.optuna.TrialPruned() from None
            curves.append(np.asarray(rec.history_[self.metric], dtype=np.float64))
        length = min(len(c) for c in curves)
        curve = np.mean([c[:length] for c in curves], axis=0)
        value, best = smoothed_best(curve, self.space.window)
        trial.set_user_attr("n_epochs", best + 1)
        trial.set_user_attr("epochs_trained", len(curves[0]))
        trial.set_user_attr("best_single_epoch", float(np.max(curve)))
        if len(curves) > 1:  # each fold's mean over the chosen window
            half = min(self.space.window // 2, (length - 1) // 2)
            trial.set_user_attr("fold_values",
                                [float(c[best - half:best + half + 1].mean()) for c in curves])
        return value


def _setting(study, trial) -> dict[str, Any]:
    params = {**study.user_attrs.get("fixed", {}), **trial.params}
    if "n_epochs" in trial.user_attrs:
        params["model__n_epochs"] = int(trial.user_attrs["n_epochs"])
    return params


def chosen_trial(study):
    """The trial whose setting :func:`best_params` returns: the best on validation, or the
    defaults' when the best did not beat them by a standard error (see :func:`search`)."""
    number = study.user_attrs.get("chosen_trial")
    if number is None:
        return study.best_trial
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def best_params(study) -> dict[str, Any]:
    """The chosen setting of a study run by :func:`search`, as ``set_params`` names
    (``model__n_epochs`` included for FMs, unless the defaults were kept: then they are
    returned as they are, their own epoch count included)."""
    if study.user_attrs.get("chosen_trial") is not None and study.user_attrs.get("kept_defaults"):
        trial = chosen_trial(study)
        return {**study.user_attrs.get("fixed", {}), **trial.params}
    return _setting(study, chosen_trial(study))


#: The tuned setting replaces the defaults only if, refitted, it beats them on validation by
#: more than this many standard errors of the per-user paired difference (the
#: one-standard-error rule: among settings the validation cannot tell apart, keep the
#: defaults, which were chosen on other data and are no winner of this validation's noise).
CONFIRM_SE = 1.0


def _confirm(study, optuna, objective: _Objective) -> None:
    """Refit the best trial's setting (its epoch count included) and the untouched defaults
    on the fit part and compare them user by user on validation; record the choice."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    defaults = [t for t in complete if t.user_attrs.get("default")]
    best = study.best_trial
    study.set_user_attr("kept_defaults", False)
    if not defaults:
        study.set_user_attr("chosen_trial", best.number)
        return
    default = defaults[0]
    tuned = _setting(study, best)
    plain = {**study.user_attrs.get("fixed", {}), **default.params}
    if tuned == plain:  # a model without epochs whose defaults won
        study.set_user_attr("chosen_trial", default.number)
        study.set_user_attr("kept_defaults", True)
        return
    diff = objective.per_user(tuned) - objective.per_user(plain)
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else math.inf
    keep = not mean > CONFIRM_SE * se
    study.set_user_attr("chosen_trial", default.number if keep else best.number)
    study.set_user_attr("kept_defaults", keep)
    study.set_user_attr("confirmation", {
        "best_trial": best.number, "default_trial": default.number,
        "difference": mean, "standard_error": se, "users": int(len(diff)),
        "folds": len(objective.folds), "threshold_se": CONFIRM_SE, "kept_defaults": keep,
    })


def _finished(study, optuna) -> list:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def plot_history(study, path: Path, metric: str) -> None:
    """Validation metric of every finished trial and the best so far, to a PNG."""
    from ..evaluation.plots import require_matplotlib

    Figure = require_matplotlib()
    trials = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    pruned = [t for t in trials if t.state.name == "PRUNED" and t.intermediate_values]
    ax.scatter([t.number for t in done], [t.value for t in done], s=18, label="complete trial")
    ax.scatter([t.number for t in pruned],
               [max(t.intermediate_values.values()) for t in pruned],
               s=18, marker="x", color="grey", label="pruned (best epoch before pruning)")
    if done:
        order = sorted(done, key=lambda t: t.number)
        ax.step([t.number for t in order], np.maximum.accumulate([t.value for t in order]),
                where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title("optimisation history")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


def _write_outputs(study, optuna, out: Path, settings: dict, metric: str, model: str) -> dict:
    files = {name: out / fname for name, fname in FILES.items()}
    write_text_atomic(files["settings"], json.dumps(settings, indent=2) + "\n", overwrite=True)
    trials = study.trials_dataframe()
    write_text_atomic(files["trials"], trials.to_csv(index=False, lineterminator="\n"), overwrite=True)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        return files
    chosen = chosen_trial(study)
    payload = {
        "model": model,
        "params": best_params(study),
        "metric": metric,
        "validation_value": chosen.value,
        "chosen_trial": chosen.number,
        "best_trial": study.best_trial.number,
        "confirmation": study.user_attrs.get("confirmation"),
        "n_trials": len(_finished(study, optuna)),
        "settings": settings,
    }
    write_text_atomic(files["best_params"], json.dumps(payload, indent=2) + "\n", overwrite=True)
    plot_history(study, files["plot"], metric)
    return files


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`search`, carrying the study (its finished trials are kept)."""

    def __init__(self, study):
        super().__init__()
        self.study = study


def search(
    model: str,
    train: pd.DataFrame,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    n_trials: int = 50,
    timeout: float | None = None,
    metric: str = "ndcg@10",
    seed: int = 0,
    validation_size: float = 0.1,
    n_threads: int | None = None,
    space: SearchSpace | None = None,
    validation_folds: int = VALIDATION_FOLDS,
    storage: str | None = None,
    resume: bool = False,
    progress: bool = False,
):
    """Run the study of steps 2-4 on ``train`` alone and return it (an ``optuna.Study``).

    The validation split is carved from ``train`` (:func:`validation_split`); nothing else is
    seen. ``storage`` is an optuna storage URL (None: in memory); with ``resume``, the study
    stored there is continued up to ``n_trials`` finished trials. :func:`best_params` reads
    the best setting. Other parameters as in :func:`tune`. On Ctrl-C, the finished trials
    stay in the study and ``KeyboardInterrupt`` is raised.
    """
    default_space, n_trials = _check_args(model, n_trials, timeout, metric, validation_size,
                                          validation_folds)
    space = default_space if space is None else space
    optuna = _require_optuna()
    folds = validation_splits(train, validation_size, validation_folds, seed)
    log.info("tune %s: %d folds of %d fit / %d validation interactions", model, len(folds),
             len(folds[0][0]), len(folds[0][1]))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=storage,
        load_if_exists=resume,
        direction="maximize",
        # no pruning before epoch 10: strongly regularised settings start slowly and end best
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10),
    )
    # a resumed study draws new settings: the sampler's seed moves on with the trial count
    # multivariate: the parameters' joint density. With one density per parameter, no
    # 30-trial ML-100K study of fm-warp beat the defaults on test; modelled jointly, every
    # seed's did (README, "Tuning on your own data")
    study.sampler = optuna.samplers.TPESampler(seed=int(seed) + len(study.trials),
                                               multivariate=True)
    _enqueue_defaults(study, optuna, model, space)
    study.set_user_attr("fixed", dict(space.fixed))
    # until this run's trials are confirmed
    for name in ("chosen_trial", "confirmation"):
        study.set_user_attr(name, None)
    objective = _Objective(optuna, model, space, folds, users, items, metric, seed, n_threads)
    done = len(_finished(study, optuna))
    remaining = max(n_trials - done, 0)
    from tqdm.auto import tqdm

    bar = tqdm(total=n_trials, initial=min(done, n_trials), desc=f"tune {model}", unit="trial",
               disable=not progress)

    def advance(study, trial) -> None:
        bar.update(1)
        if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            bar.set_postfix({metric: f"{study.best_value:.4f}"})

    try:
        if remaining:
            study.optimize(objective, n_trials=remaining, timeout=timeout, callbacks=[advance],
                           gc_after_trial=False)
    except KeyboardInterrupt:
        raise _Interrupted(study) from None
    finally:
        bar.close()
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        _confirm(study, optuna, objective)
    return study


def tune(
    dataset: str | os.PathLike | pd.DataFrame | Dataset,
    model: str,
    n_trials: int = 50,
    out: str | Path = "recfm-tune",
    timeout: float | None = None,
    metric: str = "ndcg@10",
    seed: int = 0,
    resume: bool = False,
    split: str = "random",
    test_size: float | None = None,
    validation_size: float = 0.1,
    validation_folds: int = VALIDATION_FOLDS,
    n_threads: int | None = None,
    data_home: str | Path | None = None,
    download: bool = True,
    evaluate_test: bool = True,
    progress: bool = False,
    space: SearchSpace | None = None,
    columns: Mapping[str, str | None] | None = None,
    users: AttributeSource = None,
    items: AttributeSource = None,
) -> TuningResult:
    """Tune ``model`` on a validation split of the training part; compare on test.

    Parameters
    ----------
    dataset : str, path, DataFrame or Dataset
        A name ``recfm evaluate`` accepts (``ml-100k``, ``synthetic``, ...), a CSV or
        Parquet path, or an interactions frame (see :func:`recfm.evaluation.run_experiment`).
    model : str
        A model with a search space (:data:`recfm.tuning.spaces.SPACES`).
    n_trials : int > 0
        Trials of the study in total: with ``resume``, only the missing ones are run.
    out : path
        Output directory; must not exist unless ``resume`` (then it must hold the study).
    timeout : float, optional
        Stop starting trials after this many seconds (the running one finishes).
    metric : str
        Validation metric to maximise, ``name@k`` of :mod:`recfm.metrics`.
    seed : int
        Seed of the splits, the sampler and every model.
    resume : bool
        Continue the study in ``out`` (same data set, model, metric, split and seed).
    split, test_size : as ``recfm evaluate``
    validation_size : float in (0, 1)
        Fraction of each user's training interactions carved for validation (per fold).
    validation_folds : int > 0
        Disjoint validation parts of ``validation_size`` each (``validation_folds *
        validation_size <= 1``), each with the rest of the training part as its fit part: a
        trial's value is the mean over them, and the confirming refit compares per-user
        means over them (see the module docstring).
    n_threads : int, optional
        Threads per model.
    evaluate_test : bool
        Fit the best setting and the defaults on the training part and score them on test.
    progress : bool
        A progress bar over trials (stderr).
    space : SearchSpace, optional
        Search this space instead of the model's entry in :data:`recfm.tuning.SPACES`.
    columns : mapping, optional
        For a file ``dataset``: the column options of
        :func:`recfm.datasets.read_interactions_csv` (``{"user_column": "user", ...}``);
        part of the settings a resumed study must match. ``user_column``/``item_column``
        also name the id column of ``users``/``items``.
    users, items : path, DataFrame or None
        The log's user and item attributes, as :func:`recfm.evaluation.run_experiment`
        takes them (replacing the data set's own frame); a file's resolved path is part of
        the settings a resumed study must match.

    Returns
    -------
    TuningResult

    Raises
    ------
    ValueError, FileExistsError, FileNotFoundError, ImportError
        Bad arguments, an existing ``out`` without ``resume``, a missing study with
        ``resume``, optuna not installed: all before any data is loaded.
    KeyboardInterrupt
        After writing the outputs of the finished trials (the study keeps them).
    """
    default_space, n_trials = _check_args(model, n_trials, timeout, metric, validation_size,
                                          validation_folds)
    test_size = check_split_options(split, test_size)
    space = default_space if space is None else space
    out = Path(out).expanduser()
    _check_out(out, resume)
    optuna = _require_optuna()
    from ..evaluation.plots import require_matplotlib

    require_matplotlib()
    settings = dict(dataset=_describe_dataset(dataset), model=model,
                    metric=metric, seed=int(seed), split=split,
                    **({} if test_size is None else {"test_size": test_size}),
                    validation_size=float(validation_size), validation_folds=int(validation_folds))
    # the default unit given or not is one setting, so either resumes the other's study
    given_columns = {k: v for k, v in (columns or {}).items()
                     if v is not None and (k, v) != ("time_unit", "s")}
    if given_columns:  # absent otherwise, so studies made before column options still resume
        settings["columns"] = given_columns
    for side, source in (("users", users), ("items", items)):
        if source is not None:  # absent otherwise, as columns
            settings[side] = describe_source(source)
    if resume:
        old = json.loads((out / FILES["settings"]).read_text(encoding="utf-8"))
        old.setdefault("validation_folds", 1)  # studies made before folds existed
        if old.get("split") == "leave-last-out":  # which never used the size it recorded
            old.pop("test_size", None)
        # both ways: an option given then (columns, attribute files) and dropped now differs
        differ = {k: (old.get(k), settings.get(k)) for k in {**old, **settings}
                  if not same_source(old.get(k), settings.get(k))}
        if differ:
            raise ValueError(
                f"--resume (resume=True): the study in {out} was made with other settings "
                f"({', '.join(f'{k}: {a!r} there, {b!r} now' for k, (a, b) in differ.items())})"
            )

    data, data_notes = load_with_attributes(dataset, users=users, items=items,
                                            data_home=data_home, download=download,
                                            columns=columns)
    for note in data_notes:
        log.info("%s", note)
    check_times(data, split, recommenders={model: make_recommender(model, seed=seed)})
    train, test = split_data(data.interactions, split, test_size, seed)

    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        write_text_atomic(out / FILES["settings"], json.dumps(settings, indent=2) + "\n")
    t0 = time.perf_counter()
    try:
        study = search(model, train, users=data.users, items=data.items, n_trials=n_trials,
                       timeout=timeout, metric=metric, seed=seed, validation_size=validation_size,
                       n_threads=n_threads, space=space, validation_folds=validation_folds,
                       storage=f"sqlite:///{(out / FILES['study']).resolve()}", resume=resume,
                       progress=progress)
    except _Interrupted as stop:
        _write_outputs(stop.study, optuna, out, settings, metric, model)
        raise KeyboardInterrupt from None
    seconds = time.perf_counter() - t0
    files = _write_outputs(study, optuna, out, settings, metric, model)
    finished = _finished(study, optuna)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in finished):
        raise ValueError(
            f"no trial of the study in {out} completed (all {len(finished)} were pruned or failed); "
            "run more trials"
        )
    setting = best_params(study)
    comparison = None
    if evaluate_test:
        default = make_recommender(model, seed=seed, n_threads=n_threads)
        confirmation = study.user_attrs.get("confirmation") or {}
        if confirmation.get("kept_defaults"):
            # the tuned setting *is* the defaults: one fit, not two whose difference would be
            # thread noise read as a tuning result
            models = {f"{model} tuned = default (kept)": default}
        else:
            tuned = make_recommender(model, seed=seed, n_threads=n_threads).set_params(**setting)
            models = {f"{model} tuned": tuned, f"{model} default": default}
        comparison = evaluate(models, train, test, k=(_parse_metric(metric)[1],),
                              users=data.users, items=data.items)
        comparison.notes[:0] = data_notes
        from ..evaluation.report import format_table

        text = format_table(comparison, "table", settings={**settings, "trials": len(finished)})
        write_text_atomic(files["comparison"], text + "\n", overwrite=True)
    n_pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in finished)
    chosen = chosen_trial(study)
    return TuningResult(model=model, best_params=setting, best_value=float(chosen.value),
                        metric=metric, n_trials=len(finished), n_pruned=int(n_pruned),
                        comparison=comparison, files=files, seconds=seconds, settings=settings,
                        best_trial=int(chosen.number),
                        confirmation=study.user_attrs.get("confirmation"))


def _describe_dataset(dataset: str | os.PathLike | pd.DataFrame | Dataset) -> str:
    """The data set as ``settings.json`` records it: a name or path as given, a frame's
    shape and content hash, a loaded Dataset's name (a path object: its file name)."""
    if isinstance(dataset, pd.DataFrame):
        return str(describe_source(dataset))
    if isinstance(dataset, str):
        return dataset
    return dataset.name if isinstance(dataset, Dataset) else Path(dataset).name


def read_best_params(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(model name, setting) from a ``best_params.json`` written by :func:`tune`."""
    path = Path(path).expanduser()
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"--params file {path} not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params file {path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    if not (isinstance(payload, Mapping) and isinstance(payload.get("model"), str)
            and isinstance(payload.get("params"), Mapping)):
        raise ValueError(f"--params file {path} has no 'model' name and 'params' object "
                         "(write it with recfm tune)")
    params = dict(payload["params"])
    for name, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--params file {path}: parameter {name} is {value}")
    return payload["model"], params


def read_params_files(paths) -> dict[str, dict[str, Any]]:
    """Model name -> setting from several ``best_params.json`` files (one per model)."""
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        name, params = read_best_params(path)
        if name in out:
            raise ValueError(f"--params: two files tune model '{name}'; give one per model")
        out[name] = params
    return out
