"""Small helpers shared by every layer: errors, random states, input checks.

This module imports nothing from recfm, so any layer may use it.
"""
from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from ._files import write_text_atomic  # noqa: F401  (the writers' home is recfm._files)


class Params:
    """scikit-learn's parameter plumbing: the ``__init__`` arguments are the hyper-parameters.

    ``__init__`` must store each argument under its own name and do nothing else. Parameters
    nest as in scikit-learn: ``get_params(deep=True)`` adds ``name__param`` for every
    parameter that is itself an estimator (it has ``get_params``), ``set_params`` routes
    ``name__param`` to it, and ``sklearn.base.clone`` works without recfm depending on
    scikit-learn. A parameter left at ``None`` that stands for a default estimator (see
    :meth:`_default_component`) exposes that estimator's parameters too; setting one of them
    first puts a fresh default estimator in its place.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        import inspect

        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def _default_component(self, name: str) -> object | None:
        """The estimator a ``None`` parameter ``name`` stands for (None: not a component)."""
        return None

    def _component(self, name: str) -> Any:
        value = getattr(self, name)
        if value is None:
            value = self._default_component(name)
        if isinstance(value, type) or not hasattr(value, "get_params"):
            return None
        return value

    def get_params(self, deep: bool = True) -> dict:
        """Hyper-parameters as a dict (the ``__init__`` arguments).

        With ``deep=True``, the parameters of nested estimators too, as ``name__param``.
        """
        out = {}
        for name in self._param_names():
            out[name] = getattr(self, name)
            if deep:
                inner = self._component(name)
                if inner is not None:
                    out.update((f"{name}__{k}", v) for k, v in inner.get_params(deep=True).items())
        return out

    def set_params(self, **params):
        """Set hyper-parameters, nested ones as ``name__param``; an unknown name raises
        ``ValueError``. Returns self."""
        valid = self._param_names()
        nested: dict[str, dict] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    "Check the list of available parameters with estimator.get_params().keys()."
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            inner = self._component(name)
            if inner is None:
                raise ValueError(
                    f"cannot set {sorted(name + '__' + k for k in sub_params)} on "
                    f"{type(self).__name__}: its {name!r} is {getattr(self, name)!r}, "
                    "not an estimator"
                )
            if getattr(self, name) is None:
                setattr(self, name, inner)
            inner.set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


class RecfmError(Exception):
    """Base of the errors recfm raises on purpose (bad data, divergence, unfitted models).

    Each subclass also derives from the built-in exception a caller would expect
    (``ValueError``, ``FloatingPointError``, ...), so ``except ValueError`` keeps working;
    ``except RecfmError`` catches the whole family (the CLI does).
    """


class NotFittedError(RecfmError, ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before ``fit``."""


class DataError(RecfmError, ValueError):
    """Raised for bad input data; the message names the column, value or file at fault."""


def check_random_state(seed: None | int | np.random.Generator | np.random.RandomState) -> np.random.Generator:
    """Turn ``seed`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    seed : None, int, numpy.random.Generator or numpy.random.RandomState
        ``None`` gives fresh OS entropy; an int seeds a new generator; a Generator is
        returned as is; a legacy RandomState seeds a new Generator from one draw of it.
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**31 - 1))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"random_state must be a non-negative int; got {seed}")
        return np.random.default_rng(int(seed))
    raise ValueError(
        f"random_state must be None, an int, a numpy Generator or RandomState; got {seed!r}"
    )


def check_is_fitted(estimator: object, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has ``attribute`` set."""
    if getattr(estimator, attribute, None) is None:
        name = type(estimator).__name__
        raise NotFittedError(
            f"This {name} instance is not fitted yet. Call 'fit' with appropriate "
            "arguments before using this estimator."
        )


def check_columns(
    df: pd.DataFrame, columns: Iterable[str], what: str, first_line: int | None = None
) -> None:
    """Check that ``df`` is a non-empty DataFrame holding ``columns`` without NaN.

    ``what`` names the frame in the message (e.g. ``"interactions"`` or a file path). When
    the frame was read from a text file, ``first_line`` is the file line of its first row
    (2 after a header), so messages point at the line a user can open.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame; got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{what} is missing column(s) {missing}; it has {list(df.columns)}"
        )
    if len(df) == 0:
        raise DataError(f"{what} is empty: it has no rows")
    for c in columns:
        isna = df[c].isna().to_numpy()
        if isna.any():
            row = int(np.flatnonzero(isna)[0])
            where = f"row {row}" if first_line is None else f"line {row + first_line}"
            raise DataError(
                f"{what} column '{c}' has {int(isna.sum())} missing (NaN) value(s), "
                f"first at {where}"
            )


#: Largest magnitude an int64 column holds exactly as a float (2**63 itself overflows).
_INT64_LIMIT = float(2**63)


def check_finite_numbers(values: np.ndarray, column: str, what: str,
                         first_line: int | None = None, integer: bool = False,
                         original: pd.Series | None = None) -> None:
    """Refuse NaN-free float ``values`` of ``column`` holding inf, or (``integer``) values no
    int64 can hold (a cast would silently turn 1e30 into -2**63).

    ``what`` and ``first_line`` name the frame and the line of its first row, as in
    :func:`check_columns`; ``original`` (the column as read) gives the value as written.
    """
    bad = ~np.isfinite(values)
    if integer:
        bad |= np.abs(np.where(bad, 0.0, values)) >= _INT64_LIMIT
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        where = f"row {row}" if first_line is None else f"line {row + first_line}"
        value = plain(original.iloc[row]) if original is not None else plain(values[row])
        kind = "an integer within int64 range" if integer else "a finite number"
        raise DataError(f"{what}: column '{column}' has value {value!r} at {where}, "
                        f"which is not {kind}")


def plain(value: object) -> object:
    """A numpy scalar as the Python scalar it holds, so messages read ``99999`` not ``np.int64(99999)``."""
    return value.item() if isinstance(value, np.generic) else value


def plain_list(values) -> list:
    """Values (an Index, array or list) as plain Python objects, ready for JSON."""
    return [plain(v) for v in list(values)]


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int, or raise naming ``name`` when it is not an int > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def is_text_ids(values: pd.Series | pd.Index) -> bool:
    """Whether ``values`` are text ids: strings, or a mix of kinds in an object column
    (integers among strings); an object column of Python ints (a frame built with
    ``dtype=object``, JSON, SQL) is integers, as its values say. The one rule
    :mod:`recfm.datasets.ids` matches ids by, and :func:`recfm.metrics.metrics_from_frames`
    checks their kinds by."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # the kind of its categories
        values, dtype = dtype.categories, dtype.categories.dtype
    if pd.api.types.is_numeric_dtype(dtype):
        return False
    if not pd.api.types.is_object_dtype(dtype):  # str / string[pyarrow] and the like
        return True
    return pd.api.types.infer_dtype(values, skipna=True) not in ("integer", "empty")


def check_finite_number(value: object, name: str, positive: bool = False) -> float:
    """Return ``value`` as a float, or raise naming ``name`` when it is not a finite real
    number ``>= 0`` (``> 0`` with ``positive``); a bool, a string or NaN is refused."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
        if np.isfinite(number) and (number > 0 if positive else number >= 0):
            return number
    what = "a positive" if positive else "a non-negative"
    raise ValueError(f"{name} must be {what} finite number; got {value!r}")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_n_threads(n_threads: object, name: str = "n_threads", note: bool = True) -> int:
    """The number of threads to run: ``None`` means every available core.

    Every model and kernel resolves its thread setting here, so all accept the same values:
    ``None`` or a positive int. A count above the cores this process may use
    (:func:`available_cores`) is capped at that number with a warning (unless ``note`` is
    false: for a pre-flight check whose caller resolves the value again): more threads than
    cores only slow Hogwild and BLAS down, and very large counts crash OpenMP runtimes.

    Raises
    ------
    ValueError
        ``n_threads`` is not None or a positive integer (0 and -1 included: say None for
        "all cores").
    """
    cores = available_cores()
    if n_threads is None:
        return cores
    if (isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral)
            or n_threads <= 0):
        raise ValueError(f"{name} must be None (all cores) or a positive integer; got {n_threads!r}")
    if int(n_threads) > cores:
        if note:
            import warnings

            warnings.warn(f"{name}={int(n_threads)} is more than the {cores} core(s) "
                          f"available; using {cores}", UserWarning, stacklevel=2)
        return cores
    return int(n_threads)


def numba_thread_count(n_threads: int | None) -> int:
    """The thread count :func:`numba_threads` runs a block with for ``n_threads`` (checked
    by :func:`check_n_threads`, at most numba's own limit)."""
    import numba

    limit = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # numba.config sets it at import, from the environment
    return min(check_n_threads(n_threads), limit)


@contextlib.contextmanager
def numba_threads(n_threads: int | None) -> Iterator[int]:
    """Run a block with numba's thread count set to ``n_threads`` (None: all cores).

    ``n_threads`` is checked by :func:`check_n_threads`. The previous setting is restored
    even when the block raises.
    """
    import numba

    n = numba_thread_count(n_threads)
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(old)
