"""Search spaces of :func:`recfm.tuning.tune`: one table entry per model name.

A space maps ``set_params`` names (nested ones as ``model__learning_rate``) of the recommender
that :func:`recfm.recommenders.make_recommender` builds to a distribution. Models trained in
epochs (``epochs=True``, the FMs) also get their number of epochs from early stopping on the
validation curve, and report that curve for pruning; the others are scored once per trial.
Adding a model is one entry in :data:`SPACES` (or a call to :func:`register_space`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Choice", "Float", "Int", "SearchSpace", "SPACES", "register_space", "space_for"]


@dataclass(frozen=True)
class Float:
    """A float in [low, high], sampled on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    def suggest(self, trial: Any, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high, log=self.log))


@dataclass(frozen=True)
class Int:
    """An int in [low, high], sampled on a log scale when ``log``."""

    low: int
    high: int
    log: bool = False

    def suggest(self, trial: Any, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, log=self.log))


@dataclass(frozen=True)
class Choice:
    """One of a few values (ints, floats or strings)."""

    choices: tuple

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))


@dataclass(frozen=True)
class SearchSpace:
    """Distributions of one model's hyper-parameters.

    Attributes
    ----------
    params : mapping of set_params name -> Float, Int or Choice
    epochs : bool
        The model trains in epochs with a validation curve (an :class:`FMRecommender`):
        trials run up to ``max_epochs`` with early stopping (``patience``) and are pruned
        from the curve; the best epoch count becomes ``model__n_epochs``.
    max_epochs, patience : int
    """

    params: Mapping[str, Float | Int | Choice]
    epochs: bool = False
    max_epochs: int = 60
    patience: int = 6
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """One setting drawn through an optuna ``trial`` (names as ``set_params`` takes them)."""
        out = dict(self.fixed)
        out.update({name: dist.suggest(trial, name) for name, dist in self.params.items()})
        return out


# what every FM loss shares: step size, size, regularisation, initialisation
_FM: dict[str, Float | Int | Choice] = {
    "model__learning_rate": Float(0.005, 0.3, log=True),
    "model__n_factors": Choice((16, 32, 64, 128)),
    "model__reg_factors": Float(1e-4, 0.3, log=True),
    "model__reg_linear": Float(1e-6, 0.1, log=True),
    "model__init_std": Float(0.01, 0.3, log=True),
}
_FM_BPR = SearchSpace({**_FM, "model__n_negatives": Int(1, 5)}, epochs=True)
_FM_WARP = SearchSpace({**_FM, "model__max_sampled": Int(5, 50, log=True)}, epochs=True)

#: model name -> search space
SPACES: dict[str, SearchSpace] = {
    "fm": _FM_BPR,
    "fm-features": _FM_BPR,
    "fm-warp": _FM_WARP,
    # ids + SVD++-style History field, WARP (its validation ranks the training history rows)
    "fm-history": _FM_WARP,
    "als": SearchSpace({
        "factors": Choice((16, 32, 64, 128)),
        "regularization": Float(1e-3, 100.0, log=True),
        "alpha": Float(0.1, 100.0, log=True),
        "iterations": Int(5, 30),
    }),
    "bpr": SearchSpace({
        "factors": Choice((16, 32, 64, 128)),
        "learning_rate": Float(1e-3, 0.2, log=True),
        "regularization": Float(1e-5, 0.1, log=True),
        "iterations": Int(20, 200, log=True),
    }),
    # λ directly (EASE's own l2="auto" grid search is what tuning replaces)
    "ease": SearchSpace({"l2": Float(1.0, 1e4, log=True)}),
}


def register_space(name: str, space: SearchSpace) -> None:
    """Make ``name`` (a :func:`recfm.recommenders.make_recommender` name) tunable."""
    SPACES[name] = space


def space_for(name: str) -> SearchSpace:
    """The search space of model ``name``; an unknown name raises ``ValueError`` listing them."""
    if name not in SPACES:
        raise ValueError(f"no search space for model '{name}'; tunable models: {', '.join(SPACES)}")
    return SPACES[name]
