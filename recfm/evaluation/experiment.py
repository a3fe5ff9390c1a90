"""One offline experiment end to end: load, filter, split, fit every model, score.

This is what ``recfm evaluate`` runs; scripts can call :func:`run_experiment` directly.
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._utils import DataError, check_positive_int
from ..datasets import NO_TIMES, Dataset, load_with_attributes
from ..datasets.attributes import AttributeSource, describe_source
from ..datasets.dataset import rated_at_least
from ..features import RecentItems
from ..recommenders import make_recommender, parse_model_names
from ..split import cold_start_split, leave_last_out, random_split, temporal_split
from .evaluate import EvaluationResult, evaluate

log = logging.getLogger("recfm")

SPLITS = ("random", "temporal", "leave-last-out")
#: What ``recfm evaluate`` compares without ``--models``: recfm's FMs (ids only, and with
#: attributes under WARP) beside the baselines an outsider measures against, EASE (the
#: strongest simple one) included; well under a minute on the built-in data, first-run
#: compilation included.
DEFAULT_MODELS = "pop,als,bpr,ease,fm,fm-warp"


@dataclass
class Experiment:
    """What :func:`run_experiment` produced: the data, the split and the scores."""

    dataset: Dataset
    train: pd.DataFrame
    test: pd.DataFrame
    result: EvaluationResult
    settings: dict = field(default_factory=dict)


def parse_ks(spec: str | int | Sequence[int]) -> tuple[int, ...]:
    """``"10,20"`` → (10, 20); every k must be a positive integer."""
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"k must be positive integers separated by commas; got '{spec}'") from None
    elif isinstance(spec, int):
        values = [spec]
    else:
        values = list(spec)
    if not values:
        raise ValueError("k must name at least one cut-off, e.g. 10")
    return tuple(sorted(set(check_positive_int(v, "k") for v in values)))


#: The test fraction of the random and temporal splits and of the cold-start split's users
#: when none is given.
DEFAULT_TEST_SIZE = 0.2


def check_split_options(split: str = "random", test_size: float | None = None,
                cold_start: bool = False) -> float | None:
    """Check a split's options together, before any data is loaded.

    Parameters
    ----------
    split : {"random", "temporal", "leave-last-out"}
    test_size : float in (0, 1) or None
        None: :data:`DEFAULT_TEST_SIZE` where a split takes a fraction.
    cold_start : bool
        A cold-start split (whole users held out at random): only with ``split="random"``.

    Returns
    -------
    float or None
        The test fraction the split uses; None for leave-last-out, which takes none.

    Raises
    ------
    ValueError
        An unknown split; a test size out of (0, 1); ``cold_start`` with a split other
        than random (it would be ignored); ``test_size`` given with leave-last-out (which
        holds out each user's last interaction, whatever the size).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; choose from {', '.join(SPLITS)}")
    if cold_start and split != "random":
        raise ValueError(
            f"split={split!r} (--split {split}) and cold_start (--cold-start) contradict each "
            "other: a cold-start split holds out whole users at random; give one of them")
    if split == "leave-last-out":
        if test_size is not None:
            raise ValueError(
                f"test_size={test_size} (--test-size) has no meaning with split="
                "'leave-last-out' (--split leave-last-out), which holds out each user's last "
                "interaction; leave it unset")
        return None
    test_size = DEFAULT_TEST_SIZE if test_size is None else test_size
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1); got {test_size}")
    return float(test_size)


def _orders_by_time(recommender: object) -> bool:
    """Whether a recommender's features order each user's interactions by time (a
    RecentItems field, as ``fm-seq`` has)."""
    specs = getattr(getattr(recommender, "builder", None), "context_features", None) or ()
    return any(isinstance(spec, RecentItems) for spec in specs)


def check_times(data: Dataset, split: str = "random", cold_start: bool = False,
                recommenders: Mapping[str, object] | None = None) -> None:
    """Refuse a log without times (:attr:`Dataset.timed` False: a file without a time
    column) for what needs them, before any work: a temporal split, a model with a
    RecentItems field. A leave-last-out split of such a log holds out each user's last
    row in file order, with a warning saying so.

    Raises
    ------
    DataError
        A temporal split or a time-ordered model (named) on a log without times; the
        message names the file and the option that names its time column.

    Warns
    -----
    UserWarning
        A leave-last-out split of a log without times.
    """
    if data.timed:
        return
    what = data.interactions.attrs.get(NO_TIMES, f"data set {data.name!r}")
    hint = "name it with --time-column (time_column=)"
    if split == "temporal" and not cold_start:
        raise DataError(f"--split temporal (split='temporal') needs the time of each "
                        f"interaction; {what} has no time column ({hint})")
    ordered = [name for name, rec in (recommenders or {}).items() if _orders_by_time(rec)]
    if ordered:
        raise DataError(f"{', '.join(ordered)} order(s) each user's interactions by time (a "
                        f"RecentItems field); {what} has no time column ({hint})")
    if split == "leave-last-out" and not cold_start:
        warnings.warn(f"{what} has no time column: --split leave-last-out holds out each "
                      "user's last row in file order", UserWarning, stacklevel=2)


def split_data(
    interactions: pd.DataFrame,
    split: str = "random",
    test_size: float | None = None,
    seed: int = 0,
    cold_start: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the named split protocol (or a cold-start split of whole users), its options
    checked by :func:`check_split_options` (``test_size`` None: the split's default)."""
    size = check_split_options(split, test_size, cold_start)
    if size is None:  # leave-last-out, the one split that takes no fraction
        return leave_last_out(interactions, n=1)
    if cold_start:
        return cold_start_split(interactions, test_users=size, seed=seed)
    if split == "random":
        return random_split(interactions, test_size=size, seed=seed)
    return temporal_split(interactions, test_size=size)


#: Why a user of the log has no test interaction, per split protocol.
_UNSCORED_BECAUSE = {
    "random": "fewer than 5 distinct items: all kept in train",
    "temporal": "no interaction after the cut",
    "leave-last-out": "a single distinct item, kept in train",
}


def split_notes(interactions: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame,
                split: str, cold_start: bool = False) -> list[str]:
    """What a report must say about a split of ``interactions`` beside its metrics: the
    repeated (user, item) rows it merged, and the users it scores none of (on a skewed log,
    most of them)."""
    notes = []
    merged = int(train.attrs.get("n_duplicates_merged", 0))
    # the temporal split drops the test rows of users absent from train (and warns)
    dropped_users = int(test.attrs.get("n_dropped_users", 0))
    dropped_rows = int(test.attrs.get("n_dropped_interactions", 0))
    if merged:
        notes.append(f"{merged:,} repeated (user_id, item_id) rows merged before the split "
                     f"({len(train) + len(test) + dropped_rows:,} distinct pairs): a repeat "
                     "counts once, in training as in test")
    n_users = int(interactions["user_id"].nunique())
    n_scored = int(test["user_id"].nunique())
    if n_scored < n_users and not cold_start:
        why = _UNSCORED_BECAUSE.get(split, "no test interaction")
        if dropped_users:
            why = (f"{n_users - n_scored - dropped_users:,} with {why}, {dropped_users:,} with "
                   "every interaction after it, dropped as new users")
        notes.append(f"{n_users - n_scored:,} of {n_users:,} users "
                     f"({(n_users - n_scored) / n_users:.0%}) have no test interactions "
                     f"({why}) and are not scored; the metrics are means over the other "
                     f"{n_scored:,}")
    return notes


def run_experiment(
    dataset: str | os.PathLike | pd.DataFrame | Dataset = "synthetic",
    models: str | Sequence[str] | None = None,
    split: str = "random",
    k: str | Sequence[int] = (10,),
    min_rating: float | None = None,
    seed: int = 0,
    test_size: float | None = None,
    cold_start: bool = False,
    data_home: str | Path | None = None,
    download: bool = True,
    n_threads: int | None = None,
    progress: bool = False,
    recommend: Callable[..., pd.DataFrame] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    columns: Mapping[str, str | None] | None = None,
    users: AttributeSource = None,
    items: AttributeSource = None,
) -> Experiment:
    """Load ``dataset``, split it and evaluate ``models`` side by side on the same split.

    Every argument is checked before any data is loaded or any model is trained.

    Parameters
    ----------
    dataset : str, path, DataFrame or Dataset
        ``"synthetic"`` (default), a MovieLens name (``"ml-100k"``, ...), a CSV or Parquet
        path, or an interactions frame (``user_id, item_id[, rating, timestamp]``, or the
        names given in ``columns``), read as such a file
        (:func:`recfm.datasets.frame_dataset`).
    models : str, sequence of str or None
        Model names from :func:`recfm.recommenders.model_names` (``"all"`` for every one).
        None: :data:`DEFAULT_MODELS`, minus any the data is too big for (EASE past the
        memory its dense item x item matrices need), which are reported as skipped; a
        model named here that cannot fit raises ``MemoryError`` before any is fitted.
    split : {"random", "temporal", "leave-last-out"}
        Split protocol; ``cold_start`` goes with ``"random"`` only.
    k : str or sequence of int
        Cut-offs, e.g. ``"10,20"``.
    min_rating : float or None
        Only interactions rated at least this count as positives (train and test alike).
    seed : int
        Seed of the split and of every model.
    test_size : float in (0, 1), optional
        Test fraction of the random and temporal splits (of the users, with
        ``cold_start``); default :data:`DEFAULT_TEST_SIZE`. Refused with leave-last-out
        (see :func:`check_split_options`).
    cold_start : bool
        Hold out whole users; models that cannot serve new users are reported, not scored.
    recommend : callable, optional
        How the test users' lists are computed (see :func:`recfm.evaluation.evaluate`).
    params : mapping of model name -> {set_params name: value}, optional
        Settings to apply to those models (e.g. ``recfm tune``'s ``best_params.json``, read
        by :func:`recfm.tuning.read_best_params`); a model named here and not in ``models``
        is added. Unknown parameter names raise before any data is loaded.
    columns : mapping, optional
        For a file ``dataset``: the column options of
        :func:`recfm.datasets.read_interactions_csv` (``{"user_column": "user", ...}``);
        ``user_column``/``item_column`` also name the id column of ``users``/``items``.
    users, items : path, DataFrame or None
        The log's user and item attributes: a CSV (lists as ``a|b``) or Parquet file, or a
        frame, replacing the data set's own frame if it has one (ml-100k, sample,
        synthetic). The attribute-aware models (``fm-features``, ``fm-warp``,
        ``fm-hybrid``) use every usable column. Read and checked before the log
        (:func:`recfm.datasets.load_with_attributes`): a source sharing no id with the log
        is an error; the log's users/items without a row are counted in the notes.
    """
    names = parse_model_names(DEFAULT_MODELS if models is None else models)
    params = dict(params or {})
    names += [name for name in parse_model_names(list(params)) if name not in names] if params else []
    ks = parse_ks(k)
    test_size = check_split_options(split, test_size, cold_start)

    recommenders = {
        name: make_recommender(name, seed=seed, n_threads=n_threads, cold_start=cold_start)
        for name in names
    }
    for name, setting in params.items():
        recommenders[name].set_params(**setting)

    data, data_notes = load_with_attributes(dataset, users=users, items=items,
                                            data_home=data_home, download=download,
                                            columns=columns)
    check_times(data, split, cold_start, recommenders)
    interactions = data.interactions
    if min_rating is not None:
        interactions = rated_at_least(interactions, min_rating, f"data set {data.name!r}")
    train, test = split_data(interactions, split, test_size, seed, cold_start)
    log.info("%s: %d train / %d test interactions", data.name, len(train), len(test))

    result = evaluate(
        recommenders,
        train,
        test,
        k=ks,
        users=data.users,
        items=data.items,
        cold_start=cold_start,
        progress=progress,
        recommend=recommend,
        too_big="skip" if models is None else "raise",
    )
    result.notes[:0] = data_notes + split_notes(interactions, train, test, split, cold_start)
    settings = dict(
        dataset=data.name,
        models=names,
        split="cold-start" if cold_start else split,
        k=list(ks),
        min_rating=min_rating,
        seed=seed,
        **({} if test_size is None else {"test_size": test_size}),
        n_train=len(train),
        n_test=len(test),
    )
    for side, source in (("users", users), ("items", items)):
        if source is not None:
            settings[side] = describe_source(source)
    if params:
        settings["tuned"] = sorted(params)
    return Experiment(data, train, test, result, settings)
