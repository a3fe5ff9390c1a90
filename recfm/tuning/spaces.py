"""Search spaces of :func:`recfm.tuning.tune`: one table entry per model name.

A space maps ``set_params`` names (nested ones as ``model__learning_rate``) of the recommender
that :func:`recfm.recommenders.make_recommender` builds to a distribution. Models trained in
epochs (``epochs=True``, the FMs) also get their number of epochs from early stopping on the
validation curve, and report that curve for pruning; the others are scored once per trial.
Adding a model is one entry in :data:`SPACES` (or a call to :func:`register_space`).
"""
from __future__ import annotations

import numbers
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

    def contains(self, value: Any) -> bool:
        return (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and self.low <= float(value) <= self.high)


@dataclass(frozen=True)
class Int:
    """An int in [low, high], sampled on a log scale when ``log``."""

    low: int
    high: int
    log: bool = False

    def suggest(self, trial: Any, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, log=self.log))

    def contains(self, value: Any) -> bool:
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and self.low <= int(value) <= self.high)


@dataclass(frozen=True)
class Choice:
    """One of a few values (ints, floats or strings)."""

    choices: tuple

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def contains(self, value: Any) -> bool:
        return any(type(value) is type(c) and value == c for c in self.choices)


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
        Most epochs of a trial, and epochs without gain before it stops (early stopping).
    window : odd int
        A trial's value is the best centred moving average of ``window`` consecutive epochs
        of its validation curve, and its epoch count the centre of that window (1: the raw
        best epoch). Curves on a plateau wobble by more than settings differ, and the raw
        maximum of each trial would reward the luckiest wobble rather than the best setting.
    fixed : mapping
        Parameters set in every trial (not searched).
    """

    params: Mapping[str, Float | Int | Choice]
    epochs: bool = False
    max_epochs: int = 60
    patience: int = 10
    window: int = 5
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("max_epochs", "patience", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"SearchSpace.{name} must be a positive integer; got {value!r}")
        if self.window % 2 == 0:
            raise ValueError(f"SearchSpace.window must be odd (a centred window); got {self.window}")

    def contains(self, setting: Mapping[str, Any]) -> bool:
        """Whether ``setting`` gives every searched parameter a value inside its distribution."""
        return all(name in setting and dist.contains(setting[name])
                   for name, dist in self.params.items())

    def suggest(self, trial: Any) -> dict[str, Any]:
        """One setting drawn through an optuna ``trial`` (names as ``set_params`` takes them)."""
        out = dict(self.fixed)
        out.update({name: dist.suggest(trial, name) for name, dist in self.params.items()})
        return out


# Every space holds its model's registry defaults (tests/tuning checks it), which
# :func:`recfm.tuning.search` runs as trial 0, so a study never ends below the defaults on
# validation. The FM ranges span about 5x either side of the defaults in log scale (the
# defaults were tuned on ML-100K; other data rarely wants more than that), so that 30 trials
# are not spent on far-off corners; factors go down to 16 for data with few latent dimensions
# and up to 256 for data with many (at up to 4x a 64-factor trial's fit time).
_FM: dict[str, Float | Int | Choice] = {
    "model__learning_rate": Float(0.01, 0.25, log=True),  # default 0.05
    "model__n_factors": Choice((16, 32, 64, 128, 256)),  # default 64
    "model__init_std": Float(0.03, 0.3, log=True),  # default 0.1
    # reg_linear stays at its default 0: pairwise losses only learn item biases, which
    # popularity is meant to shape
}
# reg_factors: default 0.01 for BPR, 0.1 for WARP (FactorizationMachine)
_FM_BPR = SearchSpace({**_FM, "model__reg_factors": Float(0.002, 0.05, log=True),
                       "model__n_negatives": Int(1, 5)}, epochs=True)
# max_sampled: default 10; fm-hybrid's validation chose 60-200, and 50 scored +1.8 % on
# ML-100K test (benchmarks/defaults.py), so the range reaches 20x the default
_FM_WARP = SearchSpace({**_FM, "model__reg_factors": Float(0.02, 0.5, log=True),
                        "model__max_sampled": Int(5, 200, log=True)}, epochs=True)

# fm's registry setting (benchmarks/defaults.py) starts small (init 0.01) with 128 factors
# user_balance: 0 (every interaction alike, the default) to 1 (every user alike); 0.5 gained
# 2 % NDCG@10 for fm and 1.5 % for fm-hybrid on ML-100K, and nothing for fm-warp
# (benchmarks/user_balance.py), so only these two spaces search it
_FM_IDS = SearchSpace({**_FM, "model__init_std": Float(0.003, 0.1, log=True),
                       "model__reg_factors": Float(0.004, 0.1, log=True),
                       "model__n_negatives": Int(1, 6),
                       "model__user_balance": Float(0.0, 1.0)}, epochs=True)

# fm-hybrid's registry setting (HYBRID_DEFAULTS: 64 factors, lr 0.031, reg 0.117, init 0.053,
# max_sampled 128) came from searches on ML-100K, where max_sampled 60-200 and 64 factors did
# best; its range spans the same ~5x either side, with more factors for richer logs
_FM_HYBRID = SearchSpace({
    "model__learning_rate": Float(0.006, 0.15, log=True),
    "model__n_factors": Choice((16, 32, 64, 128)),
    "model__init_std": Float(0.01, 0.3, log=True),
    "model__reg_factors": Float(0.02, 0.6, log=True),
    "model__max_sampled": Int(10, 300, log=True),
    "model__user_balance": Float(0.0, 1.0),  # default 0.5
}, epochs=True)

#: model name -> search space
SPACES: dict[str, SearchSpace] = {
    "fm": _FM_IDS,
    "fm-features": _FM_BPR,
    "fm-warp": _FM_WARP,
    # ids + SVD++-style History field, WARP (its validation ranks the training history rows)
    "fm-history": _FM_WARP,
    # ids + item attributes + History, WARP
    "fm-hybrid": _FM_HYBRID,
    # the baselines' defaults are far from their best (ALS chose regularisation 10-200 on
    # ML-100K and the synthetic data, against a default of 2), so their ranges are wide,
    # centred on where they do best, and a tuned-vs-tuned comparison does not favour the FMs
    "als": SearchSpace({
        "factors": Choice((16, 32, 64, 128)),
        "regularization": Float(0.1, 1e3, log=True),
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
