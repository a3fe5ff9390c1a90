"""Evaluate several recommenders on one split, side by side.

Protocol (:func:`evaluate`)
---------------------------
1. Inputs are validated before any model is trained: ``k``, the two frames (columns,
   NaN ids, emptiness), leakage (a pair in both frames) and, unless ``cold_start``, test
   users absent from train (see :func:`recfm.split.check_split`).
2. The catalogue is every item id in ``train``, ``test`` and the ``items`` frame (when
   given); its size is the denominator of coverage. Every test row is a relevant pair
   (binary relevance): filter ``test`` beforehand to change what counts as relevant (e.g.
   ``test[test.rating >= 4]``). Test items that no model can know (absent from train) stay
   relevant and count as misses; a note says how many there are.
3. For each model: ``fit(train, users=users, items=items)`` is timed (``fit_s``), then
   ``recommend(test_user_ids, n=max(k), exclude_seen=exclude_seen)`` is timed
   (``recommend_s``); in cold-start mode, ``users=users`` is also passed to ``recommend``
   when its signature accepts it, so attribute-based models can serve new users.
4. Every metric of :mod:`recfm.evaluation.metrics` at every k, plus coverage@k, is computed
   over the distinct test users (all of them have at least one test item).
5. In cold-start mode, a model whose ``supports_cold_start`` attribute is not True is not
   fitted nor scored: its row has NaN metrics and a ``skipped`` reason, and a note says so
   (it is never silently scored zero).
"""
from __future__ import annotations

import inspect
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recfm._utils import DataError, check_columns
from recfm.evaluation.metrics import (
    METRICS,
    _coverage_any,
    _nanmean,
    _sorted_unique,
    _test_matrix,
    check_ks,
    ranking_metrics,
    recs_to_array,
)
from recfm.split import check_split

__all__ = ["EvaluationResult", "evaluate", "paired_test", "metric_columns"]

logger = logging.getLogger("recfm")

RECOMMENDATION_COLUMNS = ("user_id", "item_id", "rank", "score")


def metric_columns(ks: Iterable[int]) -> list[str]:
    """Metric column names in table order: for each k, every metric then coverage."""
    cols: list[str] = []
    for k in ks:
        cols += [f"{m}@{k}" for m in METRICS] + [f"coverage@{k}"]
    return cols


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns.

    Attributes
    ----------
    table : DataFrame
        One row per model (index ``model``, in the order given): every ``metric@k``
        (means over evaluated users), ``coverage@k``, ``fit_s``, ``recommend_s``,
        ``n_users_evaluated`` and ``skipped`` (None, or why the model was not scored).
    per_user : dict[str, DataFrame]
        Model → per-user metrics indexed by ``user_id`` (one column per ``metric@k``), for
        significance tests (:func:`paired_test`). Skipped models are absent.
    recommendations : dict[str, DataFrame]
        Model → its ``user_id, item_id, rank, score`` frame for the test users.
    notes : list[str]
        Remarks worth printing with the table (skipped models, unknown test items, ...).
    k : tuple[int, ...]
        Cut-offs, ascending.
    n_items : int
        Catalogue size used for coverage.
    cold_start : bool
        Whether the cold-start protocol was used.
    """

    table: pd.DataFrame
    per_user: dict[str, pd.DataFrame]
    recommendations: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    k: tuple[int, ...] = (10,)
    n_items: int = 0
    cold_start: bool = False


def _check_models(models: object) -> dict[str, Any]:
    if not isinstance(models, Mapping) or len(models) == 0:
        raise ValueError(
            "models must be a non-empty mapping of name -> recommender; "
            f"got {type(models).__name__}"
        )
    out = {}
    for name, model in models.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"model names must be non-empty strings; got {name!r}")
        for meth in ("fit", "recommend"):
            if not callable(getattr(model, meth, None)):
                raise TypeError(
                    f"model {name!r} ({type(model).__name__}) has no '{meth}' method; "
                    "recommenders implement fit(train, users=None, items=None) and "
                    "recommend(user_ids, n=10, exclude_seen=True)"
                )
        out[name] = model
    return out


def _accepts(func: Any, param: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return param in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _check_recommendations(df: object, name: str) -> pd.DataFrame:
    what = f"recommendations of model {name!r}"
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{what} must be a DataFrame; got {type(df).__name__}")
    missing = [c for c in RECOMMENDATION_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{what} is missing column(s) {missing}; it has {list(df.columns)}")
    return df.loc[:, list(RECOMMENDATION_COLUMNS)].reset_index(drop=True)


def _resource_check(models: Mapping[str, Any], train: pd.DataFrame, too_big: str,
                    cold_start: bool) -> dict[str, str]:
    """Ask every model's ``check_resources(train)`` before any is fitted: the reason each
    one that cannot fit gave (``too_big="skip"``), or raise the first (``"raise"``).
    Models the cold-start protocol skips anyway are not asked."""
    reasons: dict[str, str] = {}
    for name, model in models.items():
        check = getattr(model, "check_resources", None)
        if check is None or (cold_start and getattr(model, "supports_cold_start", False)
                             is not True):
            continue
        try:
            check(train)
        except MemoryError as exc:
            if too_big == "raise":
                raise MemoryError(f"model {name!r}: {exc}") from None
            reasons[name] = str(exc)
            continue
        slow = getattr(model, "slow_fit_reason", lambda train: None)(train)
        if slow is None:
            continue
        if too_big == "raise":
            warnings.warn(f"model {name!r} will take minutes: {slow}", UserWarning, stacklevel=3)
        else:
            reasons[name] = f"{slow}; name it in --models (models=) to fit it anyway"
    return reasons


def evaluate(
    models: Mapping[str, Any],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int | Iterable[int] = (10,),
    exclude_seen: bool = True,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    cold_start: bool = False,
    progress: bool = False,
    recommend: Callable[..., pd.DataFrame] | None = None,
    too_big: str = "raise",
) -> EvaluationResult:
    """Fit and score every model on the same split (protocol in the module docstring).

    Parameters
    ----------
    models : mapping str -> recommender
        Objects implementing ``fit(train, users=None, items=None)`` and
        ``recommend(user_ids, n=10, exclude_seen=True) -> DataFrame[user_id, item_id, rank,
        score]``; each is fitted in place.
    train, test : DataFrame
        Interactions with columns ``user_id, item_id`` (original ids).
    k : int or iterable of int > 0
        Cut-offs; lists of ``max(k)`` items are requested.
    exclude_seen : bool
        Passed to ``recommend``.
    users, items : DataFrame, optional
        Attribute frames passed to ``fit`` (column ``user_id`` / ``item_id``).
    cold_start : bool
        Cold-start protocol: test users need not be in train; only models with
        ``supports_cold_start = True`` are scored.
    progress : bool
        Show a progress bar over models on stderr (needs tqdm).
    recommend : callable, optional
        ``recommend(model, user_ids, **kwargs) -> DataFrame`` computes the lists instead of
        ``model.recommend(user_ids, **kwargs)``, e.g. on a cluster
        (:func:`recfm.distributed.recommend_all`); it must return the same rows.
    too_big : {"raise", "skip"}
        What to do with a model whose ``check_resources(train)`` raises ``MemoryError``
        (EASE on a catalogue whose dense matrices do not fit): every model is asked before
        the first one is fitted, and ``"raise"`` re-raises, naming the model; ``"skip"``
        reports it like a cold-start skip (NaN metrics, a ``skipped`` reason and a note,
        never scored as zero) and scores the others. A model whose
        ``slow_fit_reason(train)`` gives a reason (EASE's ~n³ fit past
        ``recfm.recommenders.ease.DEFAULT_LIST_MAX_ITEMS`` items) is skipped the same way
        with ``"skip"``, and fitted after a warning with ``"raise"``.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ValueError
        Bad ``k`` or ``models`` (message names the argument).
    DataError
        Bad frames, leakage, or test users absent from train outside cold start; raised
        before any model is fitted.
    MemoryError
        With ``too_big="raise"``, a model that cannot fit in memory; before any fitting.
    """
    models = _check_models(models)
    if too_big not in ("raise", "skip"):
        raise ValueError(f"too_big must be 'raise' or 'skip'; got {too_big!r}")
    ks = check_ks(k, "k")
    check_split(train, test, cold_start=cold_start)  # columns, NaN, empty, leakage, users
    if users is not None:
        check_columns(users, ["user_id"], "users")
    if items is not None:
        check_columns(items, ["item_id"], "items")
    n = max(ks)

    item_parts = [train["item_id"], test["item_id"]]
    if items is not None:
        item_parts.append(items["item_id"])
    catalogue = _sorted_unique(pd.concat(item_parts, ignore_index=True))
    n_items = len(catalogue)
    check_ks(ks, "k", n_items=n_items)
    test_users = _sorted_unique(test["user_id"])
    test_csr = _test_matrix(test, test_users, catalogue)
    n_eval = int(np.count_nonzero(np.diff(test_csr.indptr)))

    notes: list[str] = []
    unknown_items = ~test["item_id"].isin(pd.unique(train["item_id"].to_numpy())).to_numpy()
    if unknown_items.any():
        notes.append(
            f"{int(unknown_items.sum())} of {len(test)} test interactions involve items absent "
            "from train; they stay relevant and count as misses for models that cannot "
            "recommend unseen items"
        )
    if cold_start:
        n_cold = int((~test_users.isin(pd.unique(train["user_id"].to_numpy()))).sum())
        notes.append(
            f"cold-start protocol: {n_cold} of {len(test_users)} test users are absent from train"
        )

    too_big_reasons = _resource_check(models, train, too_big, cold_start)
    columns = metric_columns(ks)
    rows: dict[str, dict[str, Any]] = {}
    per_user: dict[str, pd.DataFrame] = {}
    recommendations: dict[str, pd.DataFrame] = {}

    iterator: Iterable = models.items()
    if progress:
        try:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, total=len(models), desc="evaluate", file=sys.stderr)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            pass

    for name, model in iterator:
        row: dict[str, Any] = {c: np.nan for c in columns}
        row.update(fit_s=np.nan, recommend_s=np.nan, n_users_evaluated=0, skipped=None)
        if cold_start and getattr(model, "supports_cold_start", False) is not True:
            reason = (
                f"cannot recommend for users absent from train "
                f"({type(model).__name__}.supports_cold_start is not True)"
            )
            row["skipped"] = reason
            notes.append(f"model {name!r} was not scored: it {reason}; not scored as zero")
            rows[name] = row
            logger.info("evaluate: skipping %s in cold-start mode", name)
            continue

        if name in too_big_reasons:
            row["skipped"] = too_big_reasons[name]
            notes.append(f"model {name!r} was not fitted: {too_big_reasons[name]}; not scored "
                         "as zero")
            rows[name] = row
            continue

        if hasattr(iterator, "set_postfix_str"):
            iterator.set_postfix_str(name)
        logger.info("evaluate: fitting %s", name)
        t0 = time.perf_counter()
        model.fit(train, users=users, items=items)
        fit_s = time.perf_counter() - t0

        kwargs: dict[str, Any] = {"n": n, "exclude_seen": exclude_seen}
        if cold_start and users is not None and _accepts(model.recommend, "users"):
            kwargs["users"] = users
        logger.info("evaluate: recommending with %s", name)
        t0 = time.perf_counter()
        if recommend is None:
            recs_df = model.recommend(test_users.to_numpy(), **kwargs)
        else:
            recs_df = recommend(model, test_users.to_numpy(), **kwargs)
        rec_s = time.perf_counter() - t0

        recs_df = _check_recommendations(recs_df, name)
        recs = recs_to_array(
            recs_df, test_users, catalogue, n, what=f"recommendations of model {name!r}"
        )
        values = ranking_metrics(recs, test_csr, ks)
        pu = pd.DataFrame(values, index=test_users.copy())
        pu.index.name = "user_id"
        for kk in ks:
            for m in METRICS:
                col = f"{m}@{kk}"
                row[col] = _nanmean(values[col])
            row[f"coverage@{kk}"] = _coverage_any(recs, n_items, kk)
        row.update(fit_s=fit_s, recommend_s=rec_s, n_users_evaluated=n_eval)
        rows[name] = row
        per_user[name] = pu
        recommendations[name] = recs_df

    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table[columns + ["fit_s", "recommend_s", "n_users_evaluated", "skipped"]]
    table["n_users_evaluated"] = table["n_users_evaluated"].astype(np.int64)
    # None (not NaN) for scored models: build the column explicitly as object dtype
    table["skipped"] = pd.Series(
        [rows[name]["skipped"] for name in rows], index=table.index, dtype=object
    )
    table.index.name = "model"
    return EvaluationResult(
        table=table,
        per_user=per_user,
        recommendations=recommendations,
        notes=notes,
        k=ks,
        n_items=n_items,
        cold_start=bool(cold_start),
    )


def paired_test(
    result: EvaluationResult,
    model_a: str,
    model_b: str,
    metric: str = "ndcg@10",
    method: str = "ttest",
) -> float:
    """Two-sided p-value of a paired test between two models on per-user metric values.

    Parameters
    ----------
    result : EvaluationResult
    model_a, model_b : str
        Scored models of ``result``.
    metric : str
        A per-user column such as ``"ndcg@10"``.
    method : {"ttest", "wilcoxon"}
        ``scipy.stats.ttest_rel`` or ``scipy.stats.wilcoxon`` (zero differences dropped).

    Returns
    -------
    float
        The p-value; 1.0 when the two models score every user identically.
    """
    from scipy import stats

    if method not in ("ttest", "wilcoxon"):
        raise ValueError(f"method must be 'ttest' or 'wilcoxon'; got {method!r}")
    frames = []
    for name in (model_a, model_b):
        if name not in result.per_user:
            skipped = name in result.table.index
            raise ValueError(
                f"model {name!r} has no per-user metrics"
                + (" (it was skipped)" if skipped else "")
                + f"; scored models: {sorted(result.per_user)}"
            )
        pu = result.per_user[name]
        if metric not in pu.columns:
            raise ValueError(f"metric {metric!r} unknown; choose one of {list(pu.columns)}")
        frames.append(pu[metric])
    both = pd.concat(frames, axis=1, keys=["a", "b"], join="inner").dropna()
    if len(both) < 2:
        raise ValueError(
            f"paired_test needs at least 2 users scored by both models; got {len(both)}"
        )
    a, b = both["a"].to_numpy(), both["b"].to_numpy()
    if np.allclose(a, b, rtol=0.0, atol=0.0):
        return 1.0
    if method == "ttest":
        p = stats.ttest_rel(a, b).pvalue
    else:
        p = stats.wilcoxon(a, b).pvalue
    return float(p)
