"""Recommenders: one protocol (:class:`Recommender`) for the FM and every baseline."""
from .base import RECOMMENDATION_COLUMNS, Recommender
from .baselines import ImplicitALS, ImplicitBPR, Popularity
from .ease import EASE
from .fm import FMRecommender, auto_feature_specs
from .itemknn import ItemKNN
from .persistence import load_recommender as load
from .registry import describe_models, make_recommender, model_names, parse_model_names

__all__ = [
    "RECOMMENDATION_COLUMNS",
    "Recommender",
    "Popularity",
    "FMRecommender",
    "auto_feature_specs",
    "ImplicitALS",
    "ImplicitBPR",
    "EASE",
    "ItemKNN",
    "load",
    "make_recommender",
    "model_names",
    "describe_models",
    "parse_model_names",
]
