"""Named recommender configurations, so the CLI and scripts agree on what ``als`` means."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from .base import Recommender
from .baselines import ImplicitALS, ImplicitBPR, Popularity
from .ease import EASE
from .fm import FMRecommender
from .itemknn import ItemKNN

#: Model settings of the named FMs beyond ``FactorizationMachine``'s own defaults. ``fm``'s
#: were chosen on validation splits of ML-100K, the synthetic data at three sizes (12k, 60k
#: and ML-1M-sized 1M interactions) with ``recfm tune`` studies and ``benchmarks/defaults.py``
#: (README, "Defaults revisited"): four negatives per positive and 128 small-initialised
#: factors beat one negative and 64 factors on every one of them, at 2-4x the fit time.
FM_SETTINGS: dict[str, dict] = {
    "fm": {"n_factors": 128, "learning_rate": 0.03, "reg_factors": 0.02, "init_std": 0.01,
           "n_negatives": 4, "n_epochs": 25},
    "fm-features": {"n_factors": 64},
    "fm-warp": {"n_factors": 64},
}


def _fm(name: str, builder, loss: str):
    from ..model import FactorizationMachine

    def factory(seed: int, threads: int | None, cold_start: bool = False) -> Recommender:
        # for a cold-start protocol, attribute models drop the user id column: test users
        # have no id to look up, and without it the attributes learn what users share
        return FMRecommender(
            builder="auto-attributes" if cold_start and builder == "auto" else builder,
            model=FactorizationMachine(loss=loss, random_state=seed, n_threads=threads,
                                       **FM_SETTINGS[name]),
        )

    return factory


# name -> (description, factory(seed, n_threads, cold_start=False) -> Recommender)
_FACTORIES: dict[str, tuple[str, Callable[..., Recommender]]] = {
    "pop": (
        "most popular items (same list for every user)",
        lambda seed, threads, cold_start=False: Popularity(),
    ),
    "als": (
        "implicit's ALS, 64 factors",
        lambda seed, threads, cold_start=False: ImplicitALS(random_state=seed, n_threads=threads),
    ),
    "bpr": (
        "implicit's BPR, 64 factors",
        lambda seed, threads, cold_start=False: ImplicitBPR(random_state=seed, n_threads=threads),
    ),
    "ease": (
        "EASE item-item regression (Steck 2019), l2 chosen on a validation split of train",
        lambda seed, threads, cold_start=False: EASE(random_state=seed, n_threads=threads),
    ),
    "itemknn": (
        "item kNN, cosine similarity, 20 neighbours per item",
        lambda seed, threads, cold_start=False: ItemKNN(n_threads=threads),
    ),
    "fm": ("recfm FM, ids only (biased MF), BPR with 4 negatives, 128 factors", _fm("fm", None, "bpr")),
    "fm-features": (
        "recfm FM with user and item attributes, BPR, 64 factors",
        _fm("fm-features", "auto", "bpr"),
    ),
    "fm-warp": (
        "recfm FM with user and item attributes, WARP, 64 factors",
        _fm("fm-warp", "auto", "warp"),
    ),
    "fm-history": (
        "recfm FM, ids + the user's training items (SVD++-style History field), WARP",
        lambda seed, threads, cold_start=False: _log_fm("history", seed, threads),
    ),
    "fm-hybrid": (
        "recfm FM, ids + item attributes + the user's training items (History), WARP, "
        "defaults chosen on validation",
        lambda seed, threads, cold_start=False: _hybrid_fm(seed, threads),
    ),
    "fm-seq": (
        "recfm FM, ids + the user's last items (FPMC-style RecentItems field), WARP",
        lambda seed, threads, cold_start=False: _log_fm("seq", seed, threads),
    ),
}


def _log_fm(kind: str, seed: int, threads: int | None) -> Recommender:
    """The FMs with log-derived fields (defaults in :data:`LOG_FIELD_DEFAULTS` and
    :data:`LOG_MODEL_DEFAULTS`)."""
    from ..features import FeatureBuilder, History, RecentItems
    from ..model import FactorizationMachine

    if kind == "history":
        builder = FeatureBuilder(user_features=[History(**LOG_FIELD_DEFAULTS["history"])])
    else:
        builder = FeatureBuilder(context_features=[RecentItems(**LOG_FIELD_DEFAULTS["seq"])])
    return FMRecommender(builder=builder, model=FactorizationMachine(
        loss="warp", n_factors=64, random_state=seed, n_threads=threads,
        **LOG_MODEL_DEFAULTS[kind]))


#: Field and model settings of ``fm-history`` and ``fm-seq``.
LOG_FIELD_DEFAULTS: dict[str, dict] = {"history": {"weight": "sqrt"}, "seq": {"n": 1}}
LOG_MODEL_DEFAULTS: dict[str, dict] = {"history": {}, "seq": {}}


#: Settings of ``fm-hybrid``: the one setting best on validation over both ML-100K protocols
#: (all ratings and ratings >= 4; seeds 42-44, validation carved per user from each seed's
#: training part, never its test part), from an optuna study of 80-95 trials per protocol
#: (loss WARP; fields, factors 32-256, learning rate, penalties, max_sampled, init) and a
#: comparison of its best settings at fixed epoch counts. ``user_balance`` 0.5 was added
#: later, the best of 0-1 on the same validation splits in both protocols
#: (``benchmarks/user_balance.py``).
HYBRID_DEFAULTS: dict = {"loss": "warp", "n_factors": 64, "learning_rate": 0.0313,
                         "reg_factors": 0.117, "max_sampled": 128, "init_std": 0.053,
                         "n_epochs": 30, "user_balance": 0.5}


def _hybrid_fm(seed: int, threads: int | None) -> Recommender:
    from ..model import FactorizationMachine

    return FMRecommender(builder="auto-history", model=FactorizationMachine(
        random_state=seed, n_threads=threads, **HYBRID_DEFAULTS))


def register(name: str, description: str, factory: Callable[..., Recommender]) -> None:
    """Add a named configuration: ``factory(seed, n_threads, cold_start=False)`` returns an
    unfitted recommender (``cold_start`` asks for the variant suited to new users)."""
    _FACTORIES[name] = (description, factory)


def model_names() -> list[str]:
    """Names accepted by :func:`make_recommender`, in display order."""
    return list(_FACTORIES)


def describe_models() -> dict[str, str]:
    return {name: desc for name, (desc, _) in _FACTORIES.items()}


def parse_model_names(spec: str | Sequence[str]) -> list[str]:
    """Split ``"pop,als"`` (or a list) into names; ``all`` expands to every model.

    Raises
    ------
    ValueError
        Naming the unknown model and listing the known ones.
    """
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    if not names:
        raise ValueError("no model named: give at least one of " + ", ".join(model_names()))
    if "all" in names:
        return model_names()
    for name in names:
        if name not in _FACTORIES:
            raise ValueError(
                f"unknown model '{name}'; choose from {', '.join(model_names())} or 'all'"
            )
    return list(dict.fromkeys(names))


def make_recommender(
    name: str, seed: int = 0, n_threads: int | None = None, cold_start: bool = False
) -> Recommender:
    """A fresh, unfitted recommender for the configuration ``name``.

    ``cold_start=True`` asks for the variant meant for users absent from training (the
    attribute FMs then leave out the user id column).
    """
    parse_model_names([name])
    return _FACTORIES[name][1](seed, n_threads, cold_start=cold_start)
