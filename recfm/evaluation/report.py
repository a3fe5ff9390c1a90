"""Formatting of evaluation results: plain text, markdown and JSON.

* ``table``: aligned plain text (model left, numbers right), notes below.
* ``markdown``: a pipe table with a header row and ``---:`` alignment, notes as a list.
* ``json``: ``{"k": [...], "n_items": n, "cold_start": bool, "results": [records...],
  "notes": [...]}``; one record per model (``model`` first), metrics rounded to 6 decimals,
  seconds to 4, missing values as ``null`` (never NaN), so that the output is valid JSON.

In table and markdown, metrics show 4 decimals and missing values ``-``; the ``skipped``
column only appears when some model was skipped.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from recfm.evaluation.evaluate import EvaluationResult
from recfm.evaluation.metrics import METRICS

__all__ = ["format_table", "to_records", "per_k_table"]

FORMATS = ("table", "markdown", "json")
_SECONDS = ("fit_s", "recommend_s")
_INTS = ("n_users_evaluated",)


def _parts(result: EvaluationResult | pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict]:
    if isinstance(result, EvaluationResult):
        meta = {
            "k": list(result.k),
            "n_items": int(result.n_items),
            "cold_start": result.cold_start,
        }
        return result.table, list(result.notes), meta
    if isinstance(result, pd.DataFrame):
        return result, [], {}
    raise TypeError(
        f"expected an EvaluationResult or a DataFrame; got {type(result).__name__}"
    )


def _clean(value: Any, column: str, metric_digits: int | None, seconds_digits: int | None) -> Any:
    """A JSON-safe Python scalar: NaN/None -> None, numpy -> Python, floats rounded."""
    if value is None:
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if column in _INTS:
            return int(value)
        digits = seconds_digits if column in _SECONDS else metric_digits
        return value if digits is None else round(value, digits)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def to_records(
    result: EvaluationResult | pd.DataFrame,
    metric_digits: int | None = 6,
    seconds_digits: int | None = 4,
) -> list[dict[str, Any]]:
    """One JSON-safe dict per model (``model`` first); ``None`` digits keep full precision."""
    table, _, _ = _parts(result)
    records = []
    for name, row in table.iterrows():
        rec: dict[str, Any] = {"model": str(name)}
        for col, val in row.items():
            rec[str(col)] = _clean(val, str(col), metric_digits, seconds_digits)
        records.append(rec)
    return records


def _display(value: Any, column: str, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, (np.generic,)):
        value = value.item()
    if column in _INTS and isinstance(value, (int, float)):
        return str(int(value))
    if column in _SECONDS and isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _string_rows(table: pd.DataFrame, digits: int) -> tuple[list[str], list[list[str]], list[bool]]:
    cols = list(table.columns)
    if "skipped" in cols and table["skipped"].isna().all():
        cols.remove("skipped")
    header = ["model"] + [str(c) for c in cols]
    rows = []
    for name, row in table.iterrows():
        rows.append([str(name)] + [_display(row[c], str(c), digits) for c in cols])
    numeric = [False] + [
        pd.api.types.is_numeric_dtype(table[c]) and c != "skipped" for c in cols
    ]
    return header, rows, numeric


def format_table(
    result: EvaluationResult | pd.DataFrame,
    fmt: str = "table",
    digits: int = 4,
    settings: dict | None = None,
) -> str:
    """Render an :class:`EvaluationResult` (or its ``table``) as text.

    Parameters
    ----------
    result : EvaluationResult or DataFrame
    fmt : {"table", "markdown", "json"}
    digits : int
        Decimals of metrics in ``table`` and ``markdown`` (JSON always uses 6).
    settings : dict, optional
        How the run was made (data set, split, seed, ...): a ``settings`` object in JSON,
        a first line in the text formats, so a report says what produced it.

    Returns
    -------
    str
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {list(FORMATS)}; got {fmt!r}")
    table, notes, meta = _parts(result)
    if fmt == "json":
        payload = dict(meta)
        if settings:
            payload["settings"] = settings
        payload["results"] = to_records(table)
        payload["notes"] = notes
        return json.dumps(payload, indent=2, allow_nan=False)

    header, rows, numeric = _string_rows(table, digits)
    intro = []
    if settings:
        intro = [", ".join(f"{k}={v}" for k, v in settings.items()), ""]
    if fmt == "markdown":
        lines = intro + [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
        ]
        lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
        if notes:
            lines += [""] + [f"- {_md_escape(n)}" for n in notes]
        return "\n".join(lines)

    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    lines = intro + [line(header)] + [line(r) for r in rows]
    if notes:
        lines += [""] + [f"note: {n}" for n in notes]
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


_COL = re.compile(r"^(?P<name>[a-z_]+)@(?P<k>\d+)$")


def per_k_table(result: EvaluationResult | pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (model, k) with a column per metric (and ``coverage``).

    Accepts an :class:`EvaluationResult` or a wide table whose columns are ``name@k``.
    """
    table, _, _ = _parts(result)
    records: dict[tuple[str, int], dict[str, float]] = {}
    for col in table.columns:
        m = _COL.match(str(col))
        if not m:
            continue
        name, k = m.group("name"), int(m.group("k"))
        for model, val in table[col].items():
            records.setdefault((str(model), k), {})[name] = float(val)
    if not records:
        raise ValueError(
            "no 'metric@k' columns found; expected columns such as 'ndcg@10' "
            f"(got {list(table.columns)})"
        )
    out = pd.DataFrame.from_dict(records, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["model", "k"])
    ordered = [c for c in (*METRICS, "coverage") if c in out.columns]
    out = out[ordered + [c for c in out.columns if c not in ordered]].reset_index()
    order = {m: i for i, m in enumerate(dict.fromkeys(str(x) for x in table.index))}
    out["_o"] = out["model"].map(order)
    return out.sort_values(["_o", "k"]).drop(columns="_o").reset_index(drop=True)
