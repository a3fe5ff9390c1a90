"""The factorization machine estimator (scikit-learn conventions, numba kernels)."""
from __future__ import annotations

import inspect
import logging
import math
import numbers
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from recfm._jit import announce_compilation
from recfm._utils import (
    DataError,
    NotFittedError,
    Params,
    RecfmError,
    check_finite_number,
    check_is_fitted,
    check_n_threads,
    check_positive_int,
    check_random_state,
    numba_thread_count,
    numba_threads,
)
from recfm.model import _kernels as K
from recfm.model.folding import fold_rows

log = logging.getLogger("recfm")

_LOSSES = ("bpr", "warp", "logistic", "squared")
_LOSS_CODES = {
    "bpr": K.LOSS_BPR,
    "warp": K.LOSS_WARP,
    "logistic": K.LOSS_LOGISTIC,
    "squared": K.LOSS_SQUARED,
}
_SCHEDULES = ("adagrad", "sgd")
#: reg_factors=None resolves to these (tuned for NDCG@10 on ML-100K, random 80/20 split; WARP
#: multiplies the penalty by its rank weight yet needs a stronger one than BPR)
_DEFAULT_REG_FACTORS = {"bpr": 0.01, "warp": 0.1, "logistic": 0.01, "squared": 0.01}
_NEGATIVES = ("uniform", "popularity")
#: Initial value of the Adagrad accumulators (sums of squared gradients): the first steps
#: are then plain SGD steps of size ``learning_rate`` rather than ``learning_rate * sign(g)``.
ADAGRAD_INIT = 1.0
#: An epoch whose mean loss exceeds this multiple of an all-zero model's loss has diverged
#: (checked for every loss, after every epoch, so a diverged model is never returned).
DIVERGENCE_FACTOR = 100.0
#: Ids-only BPR (one negative, user visits) on T > 1 threads splits the items into T blocks,
#: one per thread at a time, when every block gets at least this many items on average (a
#: block must leave its users negatives to draw); smaller catalogues train without blocks.
MIN_BLOCK_ITEMS = 64


class DivergenceError(RecfmError, FloatingPointError):
    """Raised when training diverged: non-finite or exploding parameters or loss."""


def _fmt_choices(choices: tuple[str, ...]) -> str:
    return ", ".join(repr(c) for c in choices)


def _aligned(shape: tuple[int, ...], fill: Any = None) -> np.ndarray:
    """A C-contiguous float32 array whose data starts on a 64-byte boundary (so that rows of
    64 factors are exactly four cache lines and Hogwild threads writing neighbouring rows do
    not share a line: measured ~15% more samples/s on 2 threads; and so that the weights
    and factor rows of 16 consecutive features fill whole cache lines, which item blocks
    rely on), optionally filled."""
    n = int(np.prod(shape))
    buf = np.empty(n + 16, np.float32)
    off = (-buf.ctypes.data % 64) // 4
    out = buf[off:off + n].reshape(shape)
    if fill is not None:
        out[...] = fill
    return out


def _split_columns(m: sp.csr_matrix, mask: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The stored non-zero entries of the canonical CSR ``m`` whose column is outside /
    inside ``mask`` (bool per column), as two canonical CSRs of ``m``'s shape."""
    inside = mask[m.indices]
    nonzero = m.data != 0
    out = []
    for keep in (~inside & nonzero, inside & nonzero):
        before = np.zeros(m.nnz + 1, np.int64)
        np.cumsum(keep, out=before[1:])
        part = sp.csr_matrix((m.data[keep], m.indices[keep], before[m.indptr]), shape=m.shape)
        part.has_canonical_format = True
        out.append(part)
    return out[0], out[1]


def _index32(m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` with int32 ``indptr``/``indices`` when they fit (one kernel signature for all
    designs); only the index arrays are converted, ``data`` is shared."""
    if m.indptr.dtype == np.int32 and m.indices.dtype == np.int32:
        return m
    if m.nnz >= 2**31 - 1 or max(m.shape) >= 2**31 - 1:
        return m
    out = sp.csr_matrix((m.data, m.indices.astype(np.int32), m.indptr.astype(np.int32)),
                        shape=m.shape, copy=False)
    out.has_sorted_indices = m.has_sorted_indices
    return out


class FactorizationMachine(Params):
    """Factorization machine for top-N recommendation and rating prediction.

    Scores a sparse feature row x with
    ``y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l`` in O(k nnz(x)). A training
    sample joins a query side q (user row of the design + its context row) and an item side t
    (item row): with ids only, ``y = w0 + w_u + w_i + <v_u, v_i>`` is biased matrix
    factorization. Trained by Hogwild SGD/Adagrad in numba over shuffled positive samples
    (``recfm.model._kernels``); designs whose user and item rows are single ids and that have
    no context take a fused kernel with the same sampling and updates. With BPR and one
    negative per positive (the defaults), such designs train in user visits: each user's
    samples in a row (in a random order), the users in a random order each epoch, which
    keeps the user's parameters in cache (1.2x to 2.5x the samples per second on two
    threads at ML-1M to ML-20M size, at the same NDCG@10: README, "Speed"). A History field
    trains in user visits too.

    Parameters
    ----------
    n_factors : int, default 64
        Dimension k of the latent vectors.
    loss : {'bpr', 'warp', 'logistic', 'squared'}, default 'bpr'
        'bpr' (``log(1 + exp(-d))``, ``d = y(q,t+) - y(q,t-)``, over ``n_negatives`` sampled
        negatives) and 'warp' (``log(floor((n_items-1)/n)) * max(0, 1 - d)`` for the first
        of up to ``max_sampled`` draws that violates the margin, n draws) train only the item
        side and the query-item cross term (c(q) cancels in d); 'logistic' (positives label
        1, ``n_negatives`` sampled negatives label 0) and 'squared' (``(y - value)^2 / 2`` on
        ``design.sample_values``, for explicit ratings) train the full y(x).
    learning_rate : float, default 0.05
        Step size; with Adagrad each parameter's step is divided by the root of its running
        sum of squared gradients, which starts at 1.
    learning_schedule : {'adagrad', 'sgd'}, default 'adagrad'
    reg_linear : float, default 0.0
        L2 penalty on the linear weights w (item-side weights only for pairwise losses).
    reg_factors : float or None, default None
        L2 penalty on the factors V. None picks the value tuned on MovieLens for the loss
        (NDCG@10): 0.1 for 'warp', 0.01 for the others. Penalties apply to the parameters a
        sample touches: ``reg/2 * theta^2`` joins that sample's objective, which the sample
        weight (times the WARP rank weight) multiplies as a whole.
    n_epochs : int, default 30
    negatives : {'uniform', 'popularity'}, default 'uniform'
        How negative items are drawn: uniformly over the catalogue (as LightFM's WARP), or in
        proportion to their number of training samples (as implicit's and LightFM's BPR).
        Negatives are never one of the user's positives (``design.interactions``). Uniform
        ranks much better on MovieLens (NDCG@10 0.41 against 0.24 for ids-only BPR).
    n_negatives : int, default 1
        Negatives per positive for 'bpr' (one step on the sum of their losses) and
        'logistic' (one step each).
    max_sampled : int, default 10
        Draws per positive for 'warp'.
    init_std : float, default 0.1
        Standard deviation of the normal initialisation of V (w and w0 start at 0; 'squared'
        starts w0 at the mean target).
    user_balance : float, default 0.0
        How far training weighs users alike rather than interactions alike. Each sample of
        a user with ``n`` samples in the design is weighted ``n ** -user_balance`` (times
        its ``sample_weight``), and the weights are rescaled to keep their total unchanged,
        so the learning rate keeps its meaning. 0: every interaction counts the same, so
        the heaviest users dominate training; 1: every user counts the same, as in
        user-averaged metrics such as NDCG@k. ``fm-hybrid`` uses 0.5, chosen on validation
        (ML-100K; see README, ``benchmarks/user_balance.py``). ``partial_fit`` counts the
        samples of its own design.
    n_threads : int or None, default None
        Threads of the training epochs (None: all cores numba may use; more than the cores
        available are capped, with a warning). With ``n_threads=1``
        and an int ``random_state``, training is **bit-for-bit reproducible**: every run on
        the same machine and software gives the same parameters (tested). With more threads
        the lock-free (Hogwild) updates race, so runs differ slightly even with a seed; the
        random streams themselves never depend on the thread count (they belong to fixed
        chunks of the sample order, not to threads). Except for ids-only BPR with one
        negative (the default) when the catalogue has at least ``MIN_BLOCK_ITEMS`` (64)
        items per thread: each epoch then runs in one round per thread over random item
        blocks (threads running at once write disjoint users and items, each positive's
        negative drawn from its own block), which takes no races and is reproducible with
        a seed for a given thread count.
    random_state : None, int, numpy Generator or RandomState
        Seeds the initialisation, the sample order and the negative sampling.
    verbose : bool, default False
        Show a tqdm progress bar over the epochs.

    Attributes
    ----------
    w0_ : float
    w_ : ndarray of shape (n_features,), float32
    V_ : ndarray of shape (n_features, n_factors), float32, C-contiguous
    grad_sq_w0_, grad_sq_w_, grad_sq_V_ : float and ndarrays shaped like w_ and V_
        Adagrad accumulators (sums of squared gradients), None with plain SGD.
    history_ : dict of lists
        ``'loss'``: mean training loss per epoch, measured during the epoch (``partial_fit``
        appends to it); with a ``monitor`` (validation), one list per monitored value
        (e.g. ``'ndcg@10'``) as well.
    n_features_ : int
        Number of feature columns (rows of ``V_``).
    n_epochs_ : int
        Epochs trained so far (fit and partial_fit).
    n_updates_ : int
        Calls to ``fit`` and ``partial_fit`` that have changed the parameters (counted when
        training starts, so a call that fails half-way counts too). Whoever keeps vectors
        folded from the parameters compares it to know when they are stale
        (:class:`~recfm.recommenders.FMRecommender` refolds its item vectors then). Parameters
        changed by hand (``model.V_[...] = ...``) are not counted.
    reg_factors_ : float
        The L2 penalty on V in use (``reg_factors`` resolved).
    best_epoch_ : int or None
        With early stopping, the (0-based) epoch whose parameters were kept.
    train_seconds_, monitor_seconds_ : float
        Time the last call to ``fit``/``partial_fit`` spent in the training epochs and in
        ``monitor`` (validation): the price of validation is their ratio.

    Notes
    -----
    Ranking only needs ``query_repr`` and ``item_repr``: ``y(q, t) = c(q) + b(t) + <P_q, E_t>``,
    so top-N for a block of users is one matrix product (see ``recfm.ranking``).
    """

    # learned attributes whose type the first assignment does not tell
    grad_sq_w0_: float | None
    grad_sq_w_: np.ndarray | None
    grad_sq_V_: np.ndarray | None
    history_: dict[str, list[float]]
    best_epoch_: int | None

    def __init__(
        self,
        n_factors: int = 64,
        loss: str = "bpr",
        learning_rate: float = 0.05,
        learning_schedule: str = "adagrad",
        reg_linear: float = 0.0,
        reg_factors: float | None = None,
        n_epochs: int = 30,
        negatives: str = "uniform",
        n_negatives: int = 1,
        max_sampled: int = 10,
        init_std: float = 0.1,
        user_balance: float = 0.0,
        n_threads: int | None = None,
        random_state: Any = None,
        verbose: bool = False,
    ):
        self.n_factors = n_factors
        self.loss = loss
        self.learning_rate = learning_rate
        self.learning_schedule = learning_schedule
        self.reg_linear = reg_linear
        self.reg_factors = reg_factors
        self.n_epochs = n_epochs
        self.negatives = negatives
        self.n_negatives = n_negatives
        self.max_sampled = max_sampled
        self.init_std = init_std
        self.user_balance = user_balance
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ sklearn plumbing
    def __repr__(self) -> str:
        defaults = {
            n: p.default for n, p in inspect.signature(type(self).__init__).parameters.items()
        }
        args = []
        for name, value in self.get_params(deep=False).items():
            d = defaults.get(name)
            if not (value is d or (type(value) is type(d) and value == d)):
                args.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(args)})"

    # ------------------------------------------------------------------ validation
    def check_params(self) -> None:
        """Raise ``ValueError`` naming the first invalid hyper-parameter (fit checks them too);
        lets callers fail before they build a design."""
        self._validated_params()

    def _validated_params(self) -> dict[str, Any]:
        def pos_int(name: str) -> int:
            return check_positive_int(getattr(self, name), name)

        def nonneg_float(name: str, positive: bool = False) -> float:
            return check_finite_number(getattr(self, name), name, positive=positive)

        def choice(name: str, choices: tuple[str, ...]) -> str:
            v = getattr(self, name)
            if not isinstance(v, str) or v not in choices:
                raise ValueError(f"{name} must be one of {_fmt_choices(choices)}; got {v!r}")
            return v

        out = dict(
            n_factors=pos_int("n_factors"),
            loss=choice("loss", _LOSSES),
            learning_rate=nonneg_float("learning_rate", positive=True),
            learning_schedule=choice("learning_schedule", _SCHEDULES),
            reg_linear=nonneg_float("reg_linear"),
            reg_factors=(_DEFAULT_REG_FACTORS[self.loss] if self.reg_factors is None
                         and self.loss in _DEFAULT_REG_FACTORS else nonneg_float("reg_factors")),
            n_epochs=pos_int("n_epochs"),
            negatives=choice("negatives", _NEGATIVES),
            n_negatives=pos_int("n_negatives"),
            max_sampled=pos_int("max_sampled"),
            init_std=nonneg_float("init_std"),
            user_balance=nonneg_float("user_balance"),
        )
        out["n_threads"] = check_n_threads(self.n_threads)
        rs = self.random_state
        if not (rs is None or isinstance(rs, (np.random.Generator, np.random.RandomState))
                or (isinstance(rs, numbers.Integral) and not isinstance(rs, bool) and int(rs) >= 0)):
            raise ValueError(
                "random_state must be None, a non-negative int, a numpy Generator or "
                f"RandomState; got {rs!r}"
            )
        return out

    @staticmethod
    def _check_design(design: Any) -> dict[str, Any]:
        names = ("user_features", "item_features", "interactions", "sample_users",
                 "sample_items", "sample_values")
        missing = [n for n in names if not hasattr(design, n)]
        if missing:
            raise TypeError(
                f"design must be a recfm.features.Design; got {type(design).__name__} "
                f"without {missing}"
            )

        def csr(name: str, m: Any) -> sp.csr_matrix:
            if not sp.issparse(m):
                raise DataError(
                    f"design.{name} must be a scipy sparse matrix; got {type(m).__name__}"
                )
            m = m.tocsr() if m.format != "csr" else m
            if m.dtype != np.float32:
                m = m.astype(np.float32)
            if not m.has_canonical_format:
                m = m.copy()
                m.sum_duplicates()
            if m.nnz and not np.isfinite(m.data).all():
                raise DataError(f"design.{name} holds non-finite values (NaN or inf)")
            return _index32(m)

        uf = csr("user_features", design.user_features)
        itf = csr("item_features", design.item_features)
        n_users, n_features = uf.shape
        n_items = itf.shape[0]
        if itf.shape[1] != n_features:
            raise DataError(
                f"design.item_features has {itf.shape[1]} columns but design.user_features "
                f"has {n_features}; both must span the same feature space"
            )
        inter = design.interactions
        if not sp.issparse(inter):
            raise DataError("design.interactions must be a scipy sparse matrix")
        inter = inter.tocsr() if inter.format != "csr" else inter
        if inter.shape != (n_users, n_items):
            raise DataError(
                f"design.interactions has shape {inter.shape} but the design has "
                f"{n_users} users and {n_items} items"
            )
        if not inter.has_sorted_indices:
            inter = inter.copy()
            inter.sort_indices()
        inter = _index32(inter)
        su = np.ascontiguousarray(design.sample_users)
        si = np.ascontiguousarray(design.sample_items)
        sv = np.ascontiguousarray(design.sample_values, dtype=np.float32)
        n = su.shape[0]
        if n == 0:
            raise DataError("design has no samples (sample_users is empty)")
        if si.shape != (n,) or sv.shape != (n,) or su.ndim != 1:
            raise DataError(
                "design.sample_users, sample_items and sample_values must be 1-D and of "
                f"equal length; got {su.shape}, {si.shape}, {sv.shape}"
            )
        for name, arr, hi in (("sample_users", su, n_users), ("sample_items", si, n_items)):
            if not np.issubdtype(arr.dtype, np.integer):
                raise DataError(f"design.{name} must hold integers; got dtype {arr.dtype}")
            if arr.min() < 0 or arr.max() >= hi:
                raise DataError(
                    f"design.{name} holds rows outside [0, {hi}): min {arr.min()}, max {arr.max()}"
                )
        if not np.isfinite(sv).all():
            raise DataError("design.sample_values holds non-finite values (NaN or inf)")
        su = su.astype(np.int32, copy=False) if n_users < 2**31 else su
        si = si.astype(np.int32, copy=False) if n_items < 2**31 else si
        ctx = getattr(design, "context", None)
        if ctx is not None:
            ctx = csr("context", ctx)
            if ctx.shape != (n, n_features):
                raise DataError(
                    f"design.context has shape {ctx.shape}; expected (n_samples, n_features) "
                    f"= ({n}, {n_features})"
                )
        out = dict(uf=uf, itf=itf, inter=inter, su=su, si=si, sv=sv, ctx=ctx,
                   n_users=n_users, n_items=n_items, n_features=n_features, n_samples=n)
        hc = getattr(design, "history_columns", None)
        if hc is not None:
            hc = np.asarray(hc, dtype=np.int64)
            hres = np.ascontiguousarray(getattr(design, "history_rescale", None),
                                        dtype=np.float32)
            if hc.shape != (n_items,) or hres.shape != (n_users,):
                raise DataError(
                    f"design.history_columns must have shape ({n_items},) and "
                    f"design.history_rescale ({n_users},); got {hc.shape} and {hres.shape}"
                )
            if (hc >= n_features).any():
                raise DataError("design.history_columns holds columns outside the design")
            is_hist = np.zeros(n_features, bool)
            is_hist[hc[hc >= 0]] = True
            static, hist = _split_columns(uf, is_hist)
            out.update(uf_static=_index32(static), hist=_index32(hist),
                       hcol=np.ascontiguousarray(hc, dtype=np.int32), hres=hres)
        return out

    @staticmethod
    def _check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        sw = np.ascontiguousarray(sample_weight, dtype=np.float32)
        if sw.shape != (n,):
            raise ValueError(
                f"sample_weight must have shape (n_samples,) = ({n},); got {sw.shape}"
            )
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must hold finite, non-negative values")
        return sw

    @staticmethod
    def _user_balanced(sw: np.ndarray | None, data: dict[str, Any], balance: float
                       ) -> np.ndarray | None:
        """``sw`` times ``n_u ** -balance`` (``n_u``: the samples of the sample's user),
        rescaled to the same total weight (see ``user_balance``)."""
        if balance == 0.0:
            return sw
        su = data["su"]
        counts = np.bincount(su, minlength=data["n_users"]).astype(np.float64)
        w = counts[su] ** -balance
        base = np.ones(len(su)) if sw is None else sw.astype(np.float64)
        w *= base
        total = w.sum()
        if total > 0:
            w *= base.sum() / total
        return w.astype(np.float32)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        design: Any,
        sample_weight: Any = None,
        monitor: Callable[[FactorizationMachine], Mapping[str, float]] | None = None,
        early_stopping: int | None = None,
        callback: Callable[[int, FactorizationMachine, dict[str, float]], Any] | None = None,
        smoothing: int = 1,
    ) -> FactorizationMachine:
        """Learn the parameters from a :class:`~recfm.features.Design`.

        Parameters
        ----------
        design : Design
            Training samples and feature rows (``n_features`` columns).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample (scales its loss).
        monitor : callable, optional
            ``monitor(model) -> {name: value}``, called after every epoch; each value is
            appended to ``history_[name]``. The first one is the validation score (higher is
            better) that early stopping watches. The recommenders layer builds it (ranking a
            validation split with the metrics of :mod:`recfm.metrics`, see
            :meth:`recfm.recommenders.FMRecommender.fit`).
        early_stopping : int, optional
            Patience: stop when the monitored score has not improved for this many epochs,
            and keep the parameters of the best epoch (``best_epoch_``), whatever ended the
            training. Needs ``monitor``.
        smoothing : int, default 1
            Early stopping compares the mean of the last ``smoothing`` monitored scores (the
            scores of fewer epochs at the start), so one lucky epoch on a noisy validation
            curve neither resets the patience nor is kept; the kept parameters are those of
            the last epoch of the best window. 1: the raw scores.
        callback : callable, optional
            ``callback(epoch, model, metrics)`` after every epoch (0-based ``epoch``;
            ``metrics`` holds ``'loss'`` and the monitored values). Returning ``False`` or
            raising :class:`StopIteration` stops training cleanly (with early stopping, the
            best epoch's parameters are then kept); any other exception (e.g. optuna's
            ``TrialPruned``) propagates out of ``fit`` and leaves the last epoch's parameters.

        Returns
        -------
        self
        """
        return self._fit(design, sample_weight, monitor, early_stopping, None, callback, smoothing)

    def _fit(self, design, sample_weight, monitor, early_stopping, n_epochs, callback=None,
             smoothing=1):
        params = self._validated_params()
        if n_epochs is not None:
            params["n_epochs"] = n_epochs
        data = self._check_design(design)
        sw = self._user_balanced(self._check_sample_weight(sample_weight, data["n_samples"]),
                                 data, params["user_balance"])
        if monitor is not None and not callable(monitor):
            raise ValueError(f"monitor must be callable (model -> {{name: value}}); got {monitor!r}")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be callable (epoch, model, metrics); got {callback!r}")
        if early_stopping is not None:
            if (isinstance(early_stopping, bool)
                    or not isinstance(early_stopping, numbers.Integral) or early_stopping <= 0):
                raise ValueError(
                    f"early_stopping must be None or a positive integer (patience in epochs); "
                    f"got {early_stopping!r}"
                )
            if monitor is None:
                raise ValueError("early_stopping needs a validation score to monitor (monitor=)")
        smoothing = check_positive_int(smoothing, "smoothing")

        rng = check_random_state(self.random_state)
        self._rng = rng
        self._count_update()
        nf, k = data["n_features"], params["n_factors"]
        self.V_ = self._init_factors(rng, nf, k, params["init_std"])
        self.w_ = _aligned((nf,), 0.0)
        w0 = 0.0
        if params["loss"] == "squared":
            w0 = float(np.average(data["sv"], weights=sw)) if sw is not None and sw.sum() > 0 \
                else float(data["sv"].mean())
        self.w0_ = w0
        self._reset_accumulators(params)
        self.n_features_ = nf
        self.history_ = {"loss": []}
        self.best_epoch_ = None
        self.n_epochs_ = 0
        self._train(params, data, sw, params["n_epochs"], monitor, early_stopping, callback,
                    smoothing)
        return self

    def partial_fit(
        self,
        design: Any,
        sample_weight: Any = None,
        n_epochs: int | None = None,
        callback: Callable[[int, FactorizationMachine, dict[str, float]], Any] | None = None,
    ) -> FactorizationMachine:
        """Continue training on ``design`` for ``n_epochs`` (default ``self.n_epochs``).

        The model **grows** when ``design.n_features`` exceeds ``n_features_`` (the feature
        space is append-only): new rows of ``w_``, ``V_`` and of the Adagrad state are
        initialised as ``fit`` does (``init_std``; w and accumulators as at the start), and
        existing columns keep their values and meaning. A design with fewer columns (an older
        feature space) trains the leading columns. An unfitted model is fitted. The loss of
        each epoch is appended to ``history_['loss']``.

        Parameters
        ----------
        design : Design
        sample_weight : array-like of shape (n_samples,), optional
        n_epochs : int, optional
            Epochs to run (default ``self.n_epochs``).
        callback : callable, optional
            ``callback(epoch, model, {'loss': ...})`` after every epoch, as in :meth:`fit`
            (``epoch`` counts from 0 in this call; return ``False`` or raise
            :class:`StopIteration` to stop).

        Returns
        -------
        self
        """
        if n_epochs is not None and (isinstance(n_epochs, bool)
                                     or not isinstance(n_epochs, numbers.Integral)
                                     or n_epochs <= 0):
            raise ValueError(f"n_epochs must be a positive integer; got {n_epochs!r}")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be callable (epoch, model, metrics); got {callback!r}")
        if getattr(self, "V_", None) is None:
            return self._fit(design, sample_weight, None, None,
                             None if n_epochs is None else int(n_epochs), callback)
        # a model whose learned arrays were set from outside (e.g. loaded from disk) lacks
        # the training bookkeeping: rebuild it
        if getattr(self, "_rng", None) is None:
            self._rng = check_random_state(self.random_state)
        if getattr(self, "history_", None) is None:
            self.history_ = {"loss": []}
        if getattr(self, "n_epochs_", None) is None:
            self.n_epochs_ = len(self.history_.get("loss", []))
        self.n_features_ = int(self.V_.shape[0])
        for name in ("grad_sq_w0_", "grad_sq_w_", "grad_sq_V_"):
            if not hasattr(self, name):
                setattr(self, name, None)
        params = self._validated_params()
        if n_epochs is not None:
            params["n_epochs"] = int(n_epochs)
        if params["n_factors"] != self.V_.shape[1]:
            raise ValueError(
                f"n_factors is {params['n_factors']} but the fitted model has "
                f"{self.V_.shape[1]} factors; call fit to start afresh"
            )
        data = self._check_design(design)
        sw = self._user_balanced(self._check_sample_weight(sample_weight, data["n_samples"]),
                                 data, params["user_balance"])
        nf = data["n_features"]
        self._count_update()
        if nf > self.V_.shape[0]:
            self._grow(nf, params)
        if params["learning_schedule"] == "adagrad" and self.grad_sq_V_ is None:
            self._reset_accumulators(params)
        self._train(params, data, sw, params["n_epochs"], None, None, callback)
        return self

    def _count_update(self) -> None:
        """Count a call that changes the parameters (``n_updates_``)."""
        self.n_updates_ = int(getattr(self, "n_updates_", 0)) + 1

    @staticmethod
    def _init_factors(rng: np.random.Generator, n: int, k: int, std: float) -> np.ndarray:
        V = _aligned((n, k), rng.standard_normal((n, k), dtype=np.float32))
        V *= np.float32(std)
        return V

    def _reset_accumulators(self, params: dict[str, Any]) -> None:
        if params["learning_schedule"] == "adagrad":
            self.grad_sq_w0_ = ADAGRAD_INIT
            self.grad_sq_w_ = _aligned(self.w_.shape, ADAGRAD_INIT)
            self.grad_sq_V_ = _aligned(self.V_.shape, ADAGRAD_INIT)
        else:
            self.grad_sq_w0_ = self.grad_sq_w_ = self.grad_sq_V_ = None

    def _grow(self, nf: int, params: dict[str, Any]) -> None:
        old, k = self.V_.shape
        add = nf - old
        V = _aligned((nf, k))
        V[:old] = self.V_
        V[old:] = self._init_factors(self._rng, add, k, params["init_std"])
        self.V_ = V
        w = _aligned((nf,), 0.0)
        w[:old] = self.w_
        self.w_ = w
        if self.grad_sq_V_ is not None:
            gV = _aligned((nf, k), ADAGRAD_INIT)
            gV[:old] = self.grad_sq_V_
            self.grad_sq_V_ = gV
            gw = _aligned((nf,), ADAGRAD_INIT)
            gw[:old] = self.grad_sq_w_
            self.grad_sq_w_ = gw
        self.n_features_ = nf
        log.info("FactorizationMachine grew from %d to %d features", old, nf)

    @staticmethod
    def _visit_chunks(qptr: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The users with samples (``qptr``: user u's are ``[qptr[u], qptr[u + 1])``) in a
        random order (``vusers``), cut into chunks of about ``CHUNK_SIZE`` samples
        (``cptr``: chunk c visits ``vusers[cptr[c]:cptr[c + 1]]``)."""
        counts = np.diff(qptr)
        vusers = rng.permutation(np.flatnonzero(counts > 0)).astype(np.int32)
        ends = np.cumsum(counts[vusers])
        # a chunk closes at the first user that brings it to CHUNK_SIZE samples
        cut = np.flatnonzero(np.diff(ends // K.CHUNK_SIZE, prepend=0) > 0) + 1
        cptr = np.unique(np.concatenate([[0], cut, [len(vusers)]])).astype(np.int64)
        return vusers, cptr

    @staticmethod
    def _item_blocks(group: np.ndarray, counts: np.ndarray, n_blocks: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A random split of the items into ``n_blocks`` blocks of about equal numbers of
        training samples, whole groups at a time (item i is in group ``group[i]`` of
        ``0..n_groups - 1`` and has ``counts[i]`` samples): each item's block
        (``block_of``), and the items by block (block b's are
        ``blk_items[blk_ptr[b]:blk_ptr[b + 1]]``)."""
        n_groups = int(group.max()) + 1 if len(group) else 0
        gcounts = np.bincount(group, weights=counts, minlength=n_groups)
        perm = rng.permutation(n_groups)
        cum = np.cumsum(gcounts[perm])
        # a group goes to the block that holds the midpoint of its samples
        mid = (cum - 0.5 * gcounts[perm]) * n_blocks / max(float(cum[-1]), 1.0)
        gblock = np.empty(n_groups, np.int64)
        gblock[perm] = np.minimum(mid.astype(np.int64), n_blocks - 1)
        block_of = gblock[group].astype(np.int32)
        blk_items = np.argsort(block_of, kind="stable").astype(np.int32)
        blk_ptr = np.searchsorted(block_of[blk_items], np.arange(n_blocks + 1)).astype(np.int64)
        return block_of, blk_ptr, blk_items

    def _align_parameters(self) -> None:
        """Reallocate (same values) any of ``w_``, ``V_`` and their Adagrad sums whose data
        does not start on a 64-byte boundary (arrays fit allocates always do; unpickled ones
        may not): item blocks assume the cache lines of 16 consecutive features are theirs."""
        for name in ("w_", "V_", "grad_sq_w_", "grad_sq_V_"):
            arr = getattr(self, name)
            if arr is not None and (arr.ctypes.data % 64 or not arr.flags.c_contiguous):
                out = _aligned(arr.shape)
                out[...] = arr
                setattr(self, name, out)

    def _visit_plan(self, data: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Samples grouped by user (``queue``, ``qptr``), the users with samples in a random
        order (``vusers``), cut into chunks of about ``CHUNK_SIZE`` samples (``cptr``)."""
        # the same grouping as the ids-only visits; the History kernel reads items and
        # sample ids only (the user is the visit's)
        (_, items, sample_ids), qptr = K.make_visit_queue(data["su"], data["si"],
                                                          data["n_users"], True)
        vusers, cptr = self._visit_chunks(qptr, rng)
        return dict(
            queue=(items, sample_ids),
            qptr=qptr, vusers=vusers, cptr=cptr, max_visit=int(np.diff(qptr).max()),
            hslot=np.zeros(data["hist"].nnz, np.int32),
        )

    def _train(self, params, data, sw, n_epochs, monitor, patience, callback, smoothing=1) -> None:
        from tqdm.auto import tqdm

        self.reg_factors_ = params["reg_factors"]
        rng = self._rng
        loss_code = _LOSS_CODES[params["loss"]]
        pairwise = loss_code in (K.LOSS_BPR, K.LOSS_WARP)
        adagrad = params["learning_schedule"] == "adagrad"
        f32 = np.float32
        uf, itf, inter, ctx = data["uf"], data["itf"], data["inter"], data["ctx"]
        n = data["n_samples"]
        has_ctx = ctx is not None
        dummy_i = np.zeros(2, np.int32)
        dummy_f = np.zeros(1, np.float32)
        uf_t = (uf.indptr, uf.indices, uf.data)
        itf_t = (itf.indptr, itf.indices, itf.data)
        cx_t = (ctx.indptr, ctx.indices, ctx.data) if has_ctx else (dummy_i, dummy_i, dummy_f)
        has_w = sw is not None
        s_w = sw if has_w else dummy_f
        # the training queue: samples in shuffled order, contiguous (chunks are reshuffled in
        # place each epoch and visited in a random order); user and item arrays are the one
        # copy of the samples, plus sample ids only when weights, context or values need them
        with_ids = has_w or has_ctx or loss_code == K.LOSS_SQUARED
        queue_seed = np.uint64(rng.integers(0, 2**63 - 1, dtype=np.int64))
        visits = "hist" in data  # a History field: user visits, their own queue (_visit_plan)
        fast = pairwise and self._ids_only(data, data["uf"])
        one_negative = loss_code == K.LOSS_WARP or params["n_negatives"] == 1
        # ids-only BPR with one negative per positive trains in user visits too (each
        # user's samples in a row, so the user's row, accumulators and positives' filter
        # stay in cache: 1.2x / 2.5x the samples/s at ML-1M / ML-20M size). Several BPR
        # negatives and WARP keep the shuffled order: the `fm` model's setting (4
        # negatives) lost 2 % NDCG@10 on ML-100K in visits
        # (benchmarks/ids_training_quality.py; README, "Speed"), WARP ranked worse on the
        # recommenders' checkerboard test
        order = self._ids_sample_order
        bpr_one = loss_code == K.LOSS_BPR and params["n_negatives"] == 1
        ids_visits = fast and not visits and (
            order == "visits" or (order == "auto" and bpr_one))
        kind = (K.KIND_PAIRWISE_IDS if fast else K.KIND_PAIRWISE) if pairwise \
            else K.KIND_POINTWISE
        # Ids-only BPR in visits on several threads: threads that wrote the same item rows
        # (and their Adagrad sums) made every item row move between the cores' caches, which
        # cost ~1.3-1.7x the CPU time per sample of one thread on ML-1M-sized data (the item
        # table otherwise stays in a core's L2 cache); with the items split into one block
        # per thread per round, threads running at once share no parameter's cache line
        # (measured: see the kernels' "Performance notes")
        n_thr_run = numba_thread_count(params["n_threads"])
        blocked = (ids_visits and bpr_one and n_thr_run > 1
                   and itf.shape[0] >= MIN_BLOCK_ITEMS * n_thr_run)
        if visits and not pairwise:
            raise ValueError(
                f"a History field trains with a pairwise loss ('bpr' or 'warp'); got "
                f"loss={params['loss']!r}"
            )
        if visits:
            ids = one_negative and self._ids_only(data, data["uf_static"])
            epoch_kernel = K.VISIT_EPOCHS[int(ids)]
        else:
            epoch_kernel = ((K.visits_bpr_block_epoch if blocked else K.visits_ids_epoch)
                            if ids_visits else K.EPOCHS[kind])
        # only the kernels this fit runs: naming others (never compiled by this kind of fit)
        # would announce a compilation on every run
        announce_compilation(K.positives_index, epoch_kernel,
                             K.make_visit_queue if visits or ids_visits else K.make_queue,
                             *((K.count_values, K.seed_states) if blocked else ()))
        pos = K.positives_index(inter.indptr, inter.indices, inter.shape[1])
        if visits:
            queue = None
        elif ids_visits:
            queue, qptr = K.make_visit_queue(data["su"], data["si"], data["n_users"],
                                             with_ids)
            vusers, cptr = self._visit_chunks(qptr, rng)
        else:
            queue = K.make_queue(data["su"], data["si"], queue_seed, with_ids)
        n_chunks = len(cptr) - 1 if ids_visits else -(-n // K.CHUNK_SIZE)
        out_loss = np.zeros(n_chunks, np.float64)
        out_count = np.zeros(n_chunks, np.int64)
        w0 = np.array([self.w0_], np.float32)
        if blocked:
            self._align_parameters()  # before ``acc`` and ``prm`` take the arrays
        if adagrad:
            gw0 = np.array([self.grad_sq_w0_], np.float32)
            acc = (gw0, self.grad_sq_w_, self.grad_sq_V_)
        else:
            gw0 = dummy_f
            acc = (dummy_f, dummy_f, np.zeros((1, 1), np.float32))
        hyper = (f32(params["learning_rate"]), f32(params["reg_linear"]),
                 f32(params["reg_factors"]))
        popularity = params["negatives"] == "popularity"
        best = None
        best_score = -np.inf
        since_best = 0
        start_epoch = self.n_epochs_
        samples = (data["sv"], s_w, has_w)
        if visits:
            plan = self._visit_plan(data, rng)
            hist = data["hist"]
            hist_t = (hist.indptr, hist.indices, hist.data)
            us = data["uf_static"]
            us_t = (us.indptr, us.indices, us.data)
            n_chunks = len(plan["cptr"]) - 1
            out_loss = np.zeros(n_chunks, np.float64)
            out_count = np.zeros(n_chunks, np.int64)
            args: tuple[Any, ...] = (loss_code, plan["cptr"], plan["vusers"], plan["qptr"], plan["queue"],
                    us_t, hist_t, data["hcol"], data["hres"], plan["hslot"],
                    plan["max_visit"], itf_t, cx_t, has_ctx, pos, samples)
        elif ids_visits:
            args = (loss_code, cptr, vusers, qptr, uf_t, itf_t, pos, queue, samples)
            if blocked:
                item_counts = K.count_values(data["si"], itf.shape[0])
                # items whose columns share a cache line of w, V or their sums always share
                # a block (16 features per 64-byte line of w; 16 rows of V fill whole lines)
                item_group = np.unique(itf.indices // 16, return_inverse=True)[1].ravel()
        else:
            args = (loss_code, uf_t, itf_t, cx_t, has_ctx, pos, queue, samples)
        loss_limit = DIVERGENCE_FACTOR * self._reference_loss(params, data, sw)
        self.monitor_seconds_ = self.train_seconds_ = 0.0
        with numba_threads(params["n_threads"]) as n_thr, \
                ThreadPoolExecutor(max(1, min(n_thr, n_chunks))) as pool:
            bar = tqdm(range(n_epochs), desc="FM epochs", disable=not self.verbose,
                       unit="epoch")
            for epoch in bar:
                t0 = time.perf_counter()
                seed = np.uint64(rng.integers(0, 2**63 - 1, dtype=np.int64))
                chunk_order = rng.permutation(n_chunks).astype(np.int64)
                prm = (w0, self.w_, self.V_) + acc
                rest: tuple[Any, ...] = (seed, prm, hyper, adagrad, popularity,
                                         params["n_negatives"], params["max_sampled"],
                                         out_loss, out_count)
                # Hogwild: with n_thr threads each trains every n_thr-th chunk of the
                # shuffled order (the kernels release the GIL); one thread, all in order
                parts = [np.ascontiguousarray(chunk_order[t::n_thr]) for t in range(n_thr)]
                if blocked:
                    # n_thr rounds: in round r thread t trains its chunks' samples of item
                    # block (t + r) mod n_thr (negatives from that block too), so threads
                    # running at once write disjoint users and items; the chunks' random
                    # streams continue from round to round
                    shared = (K.seed_states(seed, n_chunks), prm, hyper, adagrad, popularity,
                              self._item_blocks(item_group, item_counts, n_thr, rng))
                    for r in range(n_thr):
                        jobs = [(parts[t], np.int64((t + r) % n_thr), r == 0)
                                for t in range(n_thr)]
                        # args[1:]: the visit epoch's arguments but its loss code (BPR only)
                        list(pool.map(lambda job, shared=shared: K.visits_bpr_block_epoch(
                            *args[1:], job[0], *shared, job[1], job[2], out_loss, out_count),
                            jobs))
                else:
                    list(pool.map(lambda part, rest=rest: epoch_kernel(*args, part, *rest),
                                  parts))
                self.train_seconds_ += time.perf_counter() - t0
                if not pairwise:
                    self.w0_ = float(w0[0])
                    if adagrad:
                        self.grad_sq_w0_ = float(gw0[0])
                cnt = out_count.sum()
                loss = float(out_loss.sum() / cnt) if cnt else 0.0
                self.n_epochs_ += 1
                self._check_finite(loss, start_epoch + epoch, params, loss_limit)
                self.history_.setdefault("loss", []).append(loss)
                info = {"loss": f"{loss:.4f}"}
                log.debug("epoch %d: loss %.5f, %.2fs (%.2fM samples/s)", epoch, loss,
                          time.perf_counter() - t0,
                          n / max(time.perf_counter() - t0, 1e-9) / 1e6)
                metrics = {"loss": loss}
                if monitor is not None:
                    t1 = time.perf_counter()
                    monitored = dict(monitor(self))
                    self.monitor_seconds_ += time.perf_counter() - t1
                    for name, value in monitored.items():
                        self.history_.setdefault(name, []).append(float(value))
                        info[name] = f"{value:.4f}"
                    metrics.update(monitored)
                    key = next(iter(monitored))
                    score = float(np.mean(self.history_[key][-smoothing:]))
                    if patience is not None and score > best_score:
                        best_score, since_best = score, 0
                        self.best_epoch_ = epoch
                        best = self._snapshot()
                    elif patience is not None:
                        since_best += 1
                bar.set_postfix(info)
                stop = patience is not None and since_best >= patience
                if stop:
                    log.info("early stopping at epoch %d (best %s, score %.4f)",
                             epoch, self.best_epoch_, best_score)
                if callback is not None:
                    try:
                        stop = (callback(epoch, self, metrics) is False) or stop
                    except StopIteration:
                        stop = True
                if stop:
                    break
            bar.close()
        if best is not None:
            self._restore(best)

    #: Use the fused ids-only kernel when the design allows it (tests switch it off to compare
    #: it with the general kernel).
    _allow_ids_fast_path = True
    #: Sample order of ids-only pairwise designs: "auto" (user visits for BPR with one
    #: negative per positive, else one shuffled order), "visits" or "shuffled" (tests and
    #: benchmarks set it to compare the two).
    _ids_sample_order = "auto"

    def _ids_only(self, data: dict[str, Any], uf: sp.csr_matrix) -> bool:
        """Every row of ``uf`` (the user rows, or their part besides a History field) and
        of the item rows holds exactly one entry, item columns are distinct, and there is no
        context: the fused ids-only kernels apply."""
        if not self._allow_ids_fast_path or data["ctx"] is not None:
            return False
        itf = data["itf"]
        if not (np.all(np.diff(uf.indptr) == 1) and np.all(np.diff(itf.indptr) == 1)):
            return False
        return np.unique(itf.indices).size == itf.shape[0]

    def _snapshot(self) -> dict[str, Any]:
        snap = {"w0_": self.w0_, "w_": self.w_.copy(), "V_": self.V_.copy(),
                "grad_sq_w0_": self.grad_sq_w0_}
        for name in ("grad_sq_w_", "grad_sq_V_"):
            arr = getattr(self, name)
            snap[name] = None if arr is None else arr.copy()
        return snap

    def _restore(self, snap: dict[str, Any]) -> None:
        # copy into the existing arrays so that views held by callers stay valid
        self.w0_ = snap["w0_"]
        self.grad_sq_w0_ = snap["grad_sq_w0_"]
        for name in ("w_", "V_", "grad_sq_w_", "grad_sq_V_"):
            if snap[name] is not None:
                getattr(self, name)[...] = snap[name]

    @staticmethod
    def _reference_loss(params: dict[str, Any], data: dict[str, Any], sw: np.ndarray | None
                        ) -> float:
        """Mean loss per counted sample of the model scoring every pair 0 (about where training
        starts), at least the mean sample weight: the yardstick of divergence."""
        weight = 1.0 if sw is None or len(sw) == 0 else float(np.mean(sw))
        loss = params["loss"]
        if loss == "squared":  # l = (y - 0)^2 / 2
            y2 = np.square(data["sv"].astype(np.float64))
            ref = 0.5 * float(np.average(y2, weights=sw) if sw is not None and sw.sum() > 0
                              else y2.mean()) * weight
        elif loss == "logistic":  # softplus(0) for positives and sampled negatives alike
            ref = math.log(2.0) * weight
        elif loss == "bpr":  # softplus(0) for each negative of a sample
            ref = math.log(2.0) * params["n_negatives"] * weight
        else:  # warp: hinge 1 times a rank weight of at most ~1 + ln(n_items)
            ref = (1.0 + math.log(max(data["itf"].shape[0], 1))) * weight
        return max(ref, weight)

    def _check_finite(self, loss: float, epoch: int, params: dict[str, Any],
                      loss_limit: float = math.inf) -> None:
        """Raise :class:`DivergenceError` on non-finite parameters or loss, or a loss above
        ``loss_limit`` (the weights have exploded even if they are still finite)."""
        bad = [name for name, arr in (("w_", self.w_), ("V_", self.V_))
               if not np.isfinite(arr).all()]
        if not np.isfinite(self.w0_):
            bad.insert(0, "w0_")
        if not np.isfinite(loss):
            bad.append("the training loss")
        if bad:
            what = f"non-finite values in {', '.join(bad)}"
        elif loss > loss_limit:
            what = (f"training loss {loss:.3g} is over {DIVERGENCE_FACTOR:g} times that of an "
                    f"all-zero model ({loss_limit / DIVERGENCE_FACTOR:.3g}): the weights exploded")
        else:
            return
        raise DivergenceError(
            f"{params['loss']} loss diverged at epoch {epoch} ({what}); "
            f"try a lower learning_rate (now {params['learning_rate']}), more "
            "regularisation, or normalize=True feature rows in the FeatureBuilder "
            "(large feature values or sample weights make steps too big)"
        )

    # ------------------------------------------------------------------ scoring
    def _check_rows(self, X: Any, name: str) -> sp.csr_matrix:
        check_is_fitted(self, "V_")
        if not sp.issparse(X):
            raise ValueError(f"{name} must be a scipy sparse matrix (csr); got {type(X).__name__}")
        X = X.tocsr() if X.format != "csr" else X
        nf = self.V_.shape[0]
        if X.shape[1] > nf:
            raise ValueError(
                f"{name} has {X.shape[1]} columns but the model has n_features_ = "
                f"{nf}; call partial_fit with the grown design first"
            )
        return X

    def predict(self, X: sp.spmatrix) -> np.ndarray:
        """Full FM score of each row of a design matrix, in O(k nnz).

        Parameters
        ----------
        X : csr_matrix of shape (n, n_features) (fewer columns are allowed: the model's
            leading columns are used)

        Returns
        -------
        ndarray of shape (n,), float64
        """
        X = self._check_rows(X, "X")
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        X = _index32(X)
        if X.dtype != np.float32:
            X = X.astype(np.float32)
        out = np.empty(X.shape[0], np.float64)
        K.predict_rows(X.indptr, X.indices, X.data, np.float64(self.w0_), self.w_, self.V_, out)
        return out

    def query_repr(self, Xq: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
        """Fold query rows: ``P = Xq @ V`` and ``c = w0 + Xq @ w + pair(Xq)``.

        Returns
        -------
        P : ndarray of shape (n, n_factors), float32
        c : ndarray of shape (n,), float32
        """
        P, const = fold_rows(self._check_rows(Xq, "Xq"), self.w_, self.V_)
        return P.astype(np.float32), (self.w0_ + const).astype(np.float32)

    def item_repr(self, Xt: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
        """Fold item rows: ``E = Xt @ V`` and ``b = Xt @ w + pair(Xt)``, so that
        ``y(q, t) = c(q) + b(t) + <P_q, E_t>``.

        Returns
        -------
        E : ndarray of shape (n, n_factors), float32
        b : ndarray of shape (n,), float32
        """
        E, const = fold_rows(self._check_rows(Xt, "Xt"), self.w_, self.V_)
        return E.astype(np.float32), const.astype(np.float32)


__all__ = ["FactorizationMachine", "DivergenceError", "NotFittedError"]
