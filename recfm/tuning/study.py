"""``recfm tune``: an optuna study of one model's hyper-parameters on a validation split.

Protocol
--------
1. The data set is split into train and test exactly as ``recfm evaluate`` splits it (same
   ``split``, ``test_size`` and ``seed``). The test part is not touched until step 5.
2. A validation split is carved from the *training* part, per user
   (:func:`recfm.split.random_split`, ``validation_size``, seeded): trials fit on the rest.
3. Each trial draws a setting from the model's search space (:mod:`recfm.tuning.spaces`;
   TPE sampler, seeded). FMs train up to ``max_epochs`` epochs with early stopping on the
   validation ``metric`` and report the curve to a median pruner after every epoch, so bad
   trials stop early; the trial's value is its best epoch's, and that epoch count is part of
   the setting. Other models are fitted once and score their top-N on the validation users.
   The metric code is :mod:`recfm.metrics` in both cases, as in ``recfm evaluate``.
4. The study lives in ``OUT/study.db`` (SQLite), so an interrupted run keeps its finished
   trials and ``resume=True`` continues it up to ``n_trials``.
5. The best setting and the untuned defaults are then fitted on the whole training part and
   evaluated once on the test part, side by side.

Files written to ``OUT``: ``best_params.json`` (read back by ``recfm evaluate --params``),
``trials.csv``, ``optimization_history.png``, ``settings.json``, ``study.db`` and
``test_comparison.txt``.
"""
from __future__ import annotations

import json
import logging
import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._utils import DataError, write_text_atomic
from ..datasets import Dataset, load_dataset
from ..evaluation import EvaluationResult, evaluate
from ..evaluation.experiment import split_data
from ..metrics import metrics_from_frames
from ..model import DivergenceError
from ..recommenders import FMRecommender, make_recommender, parse_model_names
from ..split import random_split
from .spaces import SearchSpace, space_for

__all__ = ["TuningResult", "tune", "search", "best_params", "read_best_params", "read_params_files",
           "FILES"]

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


@dataclass
class TuningResult:
    """What :func:`tune` returns.

    Attributes
    ----------
    model : str
    best_params : dict
        The best setting, as ``set_params`` names (``model__n_epochs`` included for FMs).
    best_value : float
        Its validation ``metric``.
    metric : str
    n_trials : int
        Finished trials (complete or pruned) in the study.
    n_pruned : int
    comparison : EvaluationResult or None
        Tuned vs default on the test part (None when ``evaluate_test=False``).
    files : dict[str, Path]
    seconds : float
        Wall time of the trials run by this call.
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
                validation_size: object) -> tuple[SearchSpace, int]:
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
    return space, int(n_trials)


def _check_out(out: Path, resume: bool) -> None:
    if resume:
        if not (out / FILES["study"]).exists():
            raise FileNotFoundError(f"--resume: no study to resume in {out} ({FILES['study']} not found)")
    elif out.exists():
        raise FileExistsError(
            f"--out {out} exists; pass --resume to continue its study, or choose a new directory"
        )


def validation_split(train: pd.DataFrame, validation_size: float, seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit part, validation part) carved per user from the training part only."""
    fit_part, val = random_split(train, test_size=validation_size, seed=seed)
    # only pairs of a user and an item the fit part knows can be ranked
    known = (val["user_id"].isin(pd.unique(fit_part["user_id"].to_numpy()))
             & val["item_id"].isin(pd.unique(fit_part["item_id"].to_numpy())))
    val = val[known.to_numpy()].reset_index(drop=True)
    if len(val) == 0:
        raise DataError("the validation split carved from train is empty (users need >= 5 interactions)")
    return fit_part, val


class _Objective:
    """One trial: draw a setting, fit on the fit part, score on the validation part."""

    def __init__(self, optuna, model: str, space: SearchSpace, fit_part, val, users, items,
                 metric: str, seed: int, n_threads: int | None):
        self.optuna, self.model, self.space = optuna, model, space
        self.fit_part, self.val, self.users, self.items = fit_part, val, users, items
        self.metric, self.k = metric, _parse_metric(metric)[1]
        self.seed, self.n_threads = seed, n_threads
        self.val_users = pd.unique(val["user_id"].to_numpy())
        self.n_items = len(pd.unique(pd.concat([fit_part["item_id"], val["item_id"]])))

    def __call__(self, trial) -> float:
        params = self.space.suggest(trial)
        rec = make_recommender(self.model, seed=self.seed, n_threads=self.n_threads)
        rec.set_params(**params)
        if not self.space.epochs:
            rec.fit(self.fit_part, users=self.users, items=self.items)
            recs = rec.recommend(self.val_users, n=self.k)
            summary, _ = metrics_from_frames(recs, self.val, self.k, n_items=self.n_items)
            return float(summary[self.metric])

        def report(epoch: int, model, metrics: dict[str, float]) -> None:
            trial.report(metrics[self.metric], epoch)
            if trial.should_prune():
                trial.set_user_attr("n_epochs", epoch + 1)
                raise self.optuna.TrialPruned()

        if not isinstance(rec, FMRecommender):
            raise TypeError(f"a search space with epochs=True needs an FMRecommender; "
                            f"'{self.model}' is a {type(rec).__name__}")
        rec.set_params(model__n_epochs=self.space.max_epochs, validation_metric=self.metric)
        try:
            rec.fit(self.fit_part, users=self.users, items=self.items, validation=self.val,
                    early_stopping=self.space.patience, callback=report)
        except DivergenceError as exc:  # a setting that diverges is a bad setting, not a bug
            trial.set_user_attr("diverged", str(exc).split(";")[0])
            raise self.optuna.TrialPruned() from None
        curve = rec.history_[self.metric]
        best = int(np.argmax(curve))
        trial.set_user_attr("n_epochs", best + 1)
        trial.set_user_attr("epochs_trained", len(curve))
        return float(curve[best])


def best_params(study) -> dict[str, Any]:
    best = study.best_trial
    params = dict(best.params)
    if "n_epochs" in best.user_attrs:
        params["model__n_epochs"] = int(best.user_attrs["n_epochs"])
    return params


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
    best = study.best_trial
    payload = {
        "model": model,
        "params": best_params(study),
        "metric": metric,
        "validation_value": best.value,
        "best_trial": best.number,
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
    default_space, n_trials = _check_args(model, n_trials, timeout, metric, validation_size)
    space = default_space if space is None else space
    optuna = _require_optuna()
    fit_part, val = validation_split(train, validation_size, seed)
    log.info("tune %s: %d fit / %d validation interactions", model, len(fit_part), len(val))
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
    study.sampler = optuna.samplers.TPESampler(seed=int(seed) + len(study.trials))
    objective = _Objective(optuna, model, space, fit_part, val, users, items, metric, seed,
                           n_threads)
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
    return study


def tune(
    dataset: str | Dataset,
    model: str,
    n_trials: int = 50,
    out: str | Path = "recfm-tune",
    timeout: float | None = None,
    metric: str = "ndcg@10",
    seed: int = 0,
    resume: bool = False,
    split: str = "random",
    test_size: float = 0.2,
    validation_size: float = 0.1,
    n_threads: int | None = None,
    data_home: str | Path | None = None,
    download: bool = True,
    evaluate_test: bool = True,
    progress: bool = False,
    space: SearchSpace | None = None,
) -> TuningResult:
    """Tune ``model`` on a validation split of the training part; compare on test.

    Parameters
    ----------
    dataset : str or Dataset
        A name ``recfm evaluate`` accepts (``ml-100k``, ``synthetic``, ...) or a CSV path.
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
        Fraction of each user's training interactions carved for validation.
    n_threads : int, optional
        Threads per model.
    evaluate_test : bool
        Fit the best setting and the defaults on the training part and score them on test.
    progress : bool
        A progress bar over trials (stderr).
    space : SearchSpace, optional
        Search this space instead of the model's entry in :data:`recfm.tuning.SPACES`.

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
    default_space, n_trials = _check_args(model, n_trials, timeout, metric, validation_size)
    space = default_space if space is None else space
    out = Path(out)
    _check_out(out, resume)
    optuna = _require_optuna()
    from ..evaluation.plots import require_matplotlib

    require_matplotlib()
    settings = dict(dataset=dataset if isinstance(dataset, str) else dataset.name, model=model,
                    metric=metric, seed=int(seed), split=split, test_size=float(test_size),
                    validation_size=float(validation_size))
    if resume:
        old = json.loads((out / FILES["settings"]).read_text(encoding="utf-8"))
        differ = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if differ:
            raise ValueError(
                f"--resume: the study in {out} was made with other settings "
                f"({', '.join(f'{k}: {a!r} there, {b!r} now' for k, (a, b) in differ.items())})"
            )

    data = dataset if isinstance(dataset, Dataset) else load_dataset(
        dataset, data_home=data_home, download=download)
    train, test = split_data(data.interactions, split, test_size, seed)

    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        write_text_atomic(out / FILES["settings"], json.dumps(settings, indent=2) + "\n")
    t0 = time.perf_counter()
    try:
        study = search(model, train, users=data.users, items=data.items, n_trials=n_trials,
                       timeout=timeout, metric=metric, seed=seed, validation_size=validation_size,
                       n_threads=n_threads, space=space,
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
        tuned = make_recommender(model, seed=seed, n_threads=n_threads).set_params(**setting)
        default = make_recommender(model, seed=seed, n_threads=n_threads)
        comparison = evaluate({f"{model} tuned": tuned, f"{model} default": default}, train, test,
                              k=(_parse_metric(metric)[1],), users=data.users, items=data.items)
        from ..evaluation.report import format_table

        text = format_table(comparison, "table", settings={**settings, "trials": len(finished)})
        write_text_atomic(files["comparison"], text + "\n", overwrite=True)
    n_pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in finished)
    return TuningResult(model=model, best_params=setting, best_value=float(study.best_value),
                        metric=metric, n_trials=len(finished), n_pruned=int(n_pruned),
                        comparison=comparison, files=files, seconds=seconds, settings=settings)


def read_best_params(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(model name, setting) from a ``best_params.json`` written by :func:`tune`."""
    path = Path(path)
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
