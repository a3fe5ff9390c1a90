"""Named recommender configurations, so the CLI and scripts agree on what ``als`` means."""
from __future__ import annotations

from typing import Callable

from .base import Recommender
from .baselines import ImplicitALS, ImplicitBPR, Popularity
from .fm import FMRecommender


def _fm(builder, loss: str):
    from ..model import FactorizationMachine

    def factory(seed: int, threads: int | None) -> Recommender:
        return FMRecommender(
            builder=builder,
            model=FactorizationMachine(loss=loss, n_factors=64, random_state=seed, n_threads=threads),
        )

    return factory


# name -> (description, factory(seed, n_threads) -> Recommender)
_FACTORIES: dict[str, tuple[str, Callable[[int, int | None], Recommender]]] = {
    "pop": ("most popular items (same list for every user)", lambda seed, threads: Popularity()),
    "als": (
        "implicit's ALS, 64 factors",
        lambda seed, threads: ImplicitALS(random_state=seed, n_threads=threads),
    ),
    "bpr": (
        "implicit's BPR, 64 factors",
        lambda seed, threads: ImplicitBPR(random_state=seed, n_threads=threads),
    ),
    "fm": ("recfm FM, ids only (biased MF), BPR, 64 factors", _fm(None, "bpr")),
    "fm-features": (
        "recfm FM with user and item attributes, BPR, 64 factors",
        _fm("auto", "bpr"),
    ),
    "fm-warp": (
        "recfm FM with user and item attributes, WARP, 64 factors",
        _fm("auto", "warp"),
    ),
}


def register(name: str, description: str, factory: Callable[[int, int | None], Recommender]) -> None:
    """Add a named configuration (``factory(seed, n_threads)`` returns an unfitted recommender)."""
    _FACTORIES[name] = (description, factory)


def model_names() -> list[str]:
    """Names accepted by :func:`make_recommender`, in display order."""
    return list(_FACTORIES)


def describe_models() -> dict[str, str]:
    return {name: desc for name, (desc, _) in _FACTORIES.items()}


def parse_model_names(spec: str | list[str] | tuple[str, ...]) -> list[str]:
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


def make_recommender(name: str, seed: int = 0, n_threads: int | None = None) -> Recommender:
    """A fresh, unfitted recommender for the configuration ``name``."""
    parse_model_names([name])
    return _FACTORIES[name][1](seed, n_threads)
