"""Peers that are not recfm dependencies, wrapped in recfm's recommender protocol so that
:func:`recfm.evaluation.evaluate` runs them on exactly the same split as recfm's models.

LightFM is optional (``pip install recfm[lightfm]``, which installs ``lightfm-next``);
:func:`lightfm_available` tells whether it imports.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recfm.ranking import top_n
from recfm.recommenders import Recommender


def lightfm_available() -> bool:
    try:
        import lightfm  # noqa: F401
    except ImportError:
        return False
    return True


class LightFMRecommender(Recommender):
    """LightFM (WARP or BPR), ids only or with item genres, behind recfm's protocol.

    Ranking uses LightFM's own representations (``get_user/item_representations``) folded
    as ``[p_u, 1] · [q_i, b_i]``, which ranks exactly as ``LightFM.predict`` does.
    """

    def __init__(self, loss: str = "warp", no_components: int = 64, epochs: int = 30,
                 learning_rate: float = 0.05, genres: bool = False, n_threads: int = 2,
                 random_state: int = 0, min_rating: float | None = None, alpha: float = 0.0):
        super().__init__(min_rating=min_rating)
        self.loss = loss
        self.no_components = no_components
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.genres = genres
        self.n_threads = n_threads
        self.random_state = random_state
        self.alpha = alpha

    def fit(self, train, users=None, items=None):
        self._items_frame = items
        return super().fit(train, users=users, items=items)

    def _item_features(self) -> sp.csr_matrix | None:
        items = self._items_frame
        if not self.genres or items is None:
            return None
        genres = items.set_index("item_id")["genres"].reindex(self.item_ids_)
        exploded = genres.explode().dropna()
        names, codes = np.unique(exploded.to_numpy().astype(str), return_inverse=True)
        rows = self.item_ids_.get_indexer(exploded.index)
        n = len(self.item_ids_)
        genre_part = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, codes)), shape=(n, len(names))
        )
        # identity + genres, rows normalised to sum 1 (LightFM's usual hybrid setup)
        X = sp.hstack([sp.identity(n, dtype=np.float32, format="csr"), genre_part]).tocsr()
        sums = np.asarray(X.sum(axis=1)).ravel()
        return sp.diags(1.0 / sums).astype(np.float32) @ X

    def _fit(self, user_items):
        from lightfm import LightFM

        self.item_features_ = self._item_features()
        self.model_ = LightFM(no_components=self.no_components, loss=self.loss,
                              learning_rate=self.learning_rate, random_state=self.random_state,
                              user_alpha=self.alpha, item_alpha=self.alpha)
        self.model_.fit(user_items.tocoo(), item_features=self.item_features_,
                        epochs=self.epochs, num_threads=self.n_threads)
        ub, ue = self.model_.get_user_representations()
        ib, ie = self.model_.get_item_representations(self.item_features_)
        self._U = np.hstack([ue, np.ones((len(ue), 1))]).astype(np.float32)
        self._I = np.hstack([ie, ib[:, None]]).astype(np.float32)

    def _top_n(self, rows, n, exclude_seen):
        exclude = self.seen_[rows] if exclude_seen else None
        return top_n(self._U[rows], self._I, n, exclude=exclude)


def peer_models(seed: int = 0, threads: int = 2, genres: bool = True) -> dict[str, Recommender]:
    """LightFM configurations of ``REFERENCE_RESULTS.md``: its usual settings (64 components,
    30 epochs, lr 0.05), and ``-tuned`` WARP with the values that file reports as chosen on a
    validation split (15 epochs, user/item alpha 1e-5): untuned LightFM has no regularisation
    and overfits small data."""
    if not lightfm_available():
        return {}
    models: dict[str, Recommender] = {
        "lightfm-warp": LightFMRecommender("warp", n_threads=threads, random_state=seed),
        "lightfm-bpr": LightFMRecommender("bpr", n_threads=threads, random_state=seed),
    }
    tuned = dict(epochs=15, alpha=1e-5, n_threads=threads, random_state=seed)
    models["lightfm-warp-tuned"] = LightFMRecommender("warp", **tuned)
    if genres:
        models["lightfm-warp-genres"] = LightFMRecommender(
            "warp", genres=True, n_threads=threads, random_state=seed
        )
        models["lightfm-warp-genres-tuned"] = LightFMRecommender("warp", genres=True, **tuned)
    return models

