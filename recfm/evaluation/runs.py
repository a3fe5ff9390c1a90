"""Saved evaluation runs: plain CSV files any outside tool can read.

Layout of a run directory (format version 1)::

    train.csv                     the training interactions (all columns)
    test.csv                      the test interactions (all columns)
    recommendations/<model>.csv   user_id,item_id,rank,score (rank 1-based)
    metrics.json                  {"format": "recfm-run", "format_version": 1, "k": [...],
                                   "n_items": catalogue size, "cold_start": bool,
                                   "models": [...], "results": [records] or null,
                                   "notes": [...]}

``results`` holds full-precision values (``null`` for missing ones) so that an independent
recomputation (``benchmarks/recompute_metrics.py``) can be compared to 1e-6.

:func:`save_run` never overwrites anything: it refuses an existing non-empty directory (or
an existing file) and writes into a temporary sibling directory that is renamed into place
only once complete, so a failure leaves no half-written run behind.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recfm._files import staged_dir
from recfm._utils import DataError, check_columns
from recfm.datasets.files import read_table
from recfm.datasets.ids import same_id_kind
from recfm.evaluation.evaluate import EvaluationResult, _check_recommendations
from recfm.evaluation.report import to_records

__all__ = ["save_run", "load_run", "SavedRun", "RUN_FORMAT", "RUN_FORMAT_VERSION"]

RUN_FORMAT = "recfm-run"
RUN_FORMAT_VERSION = 1
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass
class SavedRun:
    """A run read back by :func:`load_run`."""

    directory: Path
    train: pd.DataFrame
    test: pd.DataFrame
    recommendations: dict[str, pd.DataFrame]
    metrics: dict[str, Any]


def _check_target(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise FileExistsError(f"save_run: {str(directory)!r} exists and is not a directory")
        if any(directory.iterdir()):
            raise FileExistsError(
                f"save_run: directory {str(directory)!r} exists and is not empty; "
                "choose a new directory (saved runs are never overwritten)"
            )


def save_run(
    directory: str | os.PathLike,
    train: pd.DataFrame,
    test: pd.DataFrame,
    recommendations: Mapping[str, pd.DataFrame],
    result: EvaluationResult | None = None,
) -> Path:
    """Write a run directory (layout in the module docstring).

    Parameters
    ----------
    directory : path
        Must not exist, or be an empty directory.
    train, test : DataFrame
        Interaction frames with at least ``user_id, item_id``.
    recommendations : mapping str -> DataFrame
        Model name → frame with ``user_id, item_id, rank, score``. Names become file names:
        letters, digits and ``. _ + -`` only.
    result : EvaluationResult, optional
        Its table and notes go to ``metrics.json`` (``results`` is null without it).

    Returns
    -------
    Path
        The run directory.

    Raises
    ------
    FileExistsError
        ``directory`` exists and is not an empty directory (nothing is written).
    """
    directory = Path(directory).expanduser()
    _check_target(directory)
    check_columns(train, ["user_id", "item_id"], "train")
    check_columns(test, ["user_id", "item_id"], "test")
    recs: dict[str, pd.DataFrame] = {}
    for name, df in recommendations.items():
        if not isinstance(name, str) or not _MODEL_NAME.match(name):
            raise ValueError(
                f"model name {name!r} cannot be a file name; use letters, digits and . _ + -"
            )
        recs[name] = _check_recommendations(df, name)

    meta: dict[str, Any] = {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "models": list(recs),
        "k": list(result.k) if result is not None else None,
        "n_items": int(result.n_items) if result is not None else None,
        "cold_start": bool(result.cold_start) if result is not None else None,
        "results": (
            to_records(result, metric_digits=None, seconds_digits=None)
            if result is not None
            else None
        ),
        "notes": list(result.notes) if result is not None else [],
    }

    with staged_dir(directory) as tmp:
        train.to_csv(tmp / "train.csv", index=False)
        test.to_csv(tmp / "test.csv", index=False)
        (tmp / "recommendations").mkdir()
        for name, df in recs.items():
            df.to_csv(tmp / "recommendations" / f"{name}.csv", index=False)
        with open(tmp / "metrics.json", "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, allow_nan=False)
            fh.write("\n")
        _check_target(directory)  # again: something may have appeared meanwhile
    return directory


def load_run(directory: str | os.PathLike) -> SavedRun:
    """Read a run written by :func:`save_run`.

    Raises
    ------
    FileNotFoundError
        The directory or one of its files is missing (the message names it).
    DataError
        ``metrics.json`` is corrupt or declares a newer format version.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"load_run: no run directory at {str(directory)!r}")
    for required in ("train.csv", "test.csv", "metrics.json"):
        if not (directory / required).is_file():
            raise FileNotFoundError(
                f"load_run: {str(directory / required)!r} is missing; not a recfm run directory"
            )
    try:
        with open(directory / "metrics.json", encoding="utf-8") as fh:
            meta = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"load_run: {str(directory / 'metrics.json')!r} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise DataError(f"load_run: {str(directory / 'metrics.json')!r} is not a recfm run file")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > RUN_FORMAT_VERSION:
        raise DataError(
            f"load_run: {str(directory)!r} has run format version {version!r}; this recfm "
            f"reads versions up to {RUN_FORMAT_VERSION} (upgrade recfm)"
        )
    train = read_table(directory / "train.csv")
    test = read_table(directory / "test.csv")
    recs: dict[str, pd.DataFrame] = {}
    for name in meta.get("models", []):
        path = directory / "recommendations" / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"load_run: {str(path)!r} is missing")
        recs[name] = read_table(path)
    # ids as written (007 is not 7), of one kind in every file so that they match
    for col in ("user_id", "item_id"):
        frames = [f for f in (train, test, *recs.values()) if col in f.columns]
        for frame, ids in zip(frames, same_id_kind(*(f[col] for f in frames)), strict=True):
            frame[col] = ids
    return SavedRun(directory=directory, train=train, test=test, recommendations=recs, metrics=meta)
