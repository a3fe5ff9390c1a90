"""format_table in the three formats, records and the per-k table."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from recfm.evaluation import evaluate, format_table, per_k_table, to_records
from recfm.split import cold_start_split

from .conftest import FakeColdRecommender, FakeRecommender


@pytest.fixture
def result(split):
    train, test = split
    return evaluate(
        {"pop": FakeRecommender(noise=0.0), "noisy": FakeRecommender(seed=3)},
        train, test, k=(5, 10),
    )


@pytest.fixture
def cold_result(split):
    df = pd.concat(split, ignore_index=True)
    train, test = cold_start_split(df, test_users=0.2, seed=0)
    return evaluate(
        {"warm": FakeRecommender(), "cold": FakeColdRecommender()},
        train, test, k=10, cold_start=True,
    )


def test_json_is_valid_and_rounded(result):
    payload = json.loads(format_table(result, "json"))
    assert payload["k"] == [5, 10]
    assert payload["n_items"] == result.n_items
    assert [r["model"] for r in payload["results"]] == ["pop", "noisy"]
    rec = payload["results"][0]
    assert list(rec)[0] == "model"
    assert rec["ndcg@10"] == round(result.table.loc["pop", "ndcg@10"], 6)
    assert isinstance(rec["n_users_evaluated"], int)
    assert rec["skipped"] is None
    assert payload["notes"] == result.notes


def test_json_has_null_not_nan(cold_result):
    text = format_table(cold_result, "json")
    assert "NaN" not in text
    payload = json.loads(text)
    warm = payload["results"][0]
    assert warm["model"] == "warm" and warm["ndcg@10"] is None and warm["fit_s"] is None
    assert "supports_cold_start" in warm["skipped"]
    assert any("not scored" in n for n in payload["notes"])


def test_markdown_table(result, cold_result):
    lines = format_table(result, "markdown").splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["model", "ndcg@5", "precision@5"]
    assert "skipped" not in header  # no model skipped
    assert set(lines[1].replace("|", "")) <= set("-:")
    assert lines[1].count("|") == lines[0].count("|")
    assert lines[2].startswith("| pop |")
    assert f"{result.table.loc['pop', 'ndcg@5']:.4f}" in lines[2]
    md = format_table(cold_result, "markdown")
    assert "skipped" in md.splitlines()[0]
    assert "\n- " in md  # notes as a list


def test_plain_table_is_aligned(result, cold_result):
    lines = format_table(result, "table").splitlines()
    assert lines[0].split()[0] == "model"
    assert len(lines) == 3
    assert lines[1].split()[0] == "pop" and lines[2].split()[0] == "noisy"
    # right-aligned numbers: every number of a column ends at the same offset
    col_end = lines[0].index("ndcg@10") + len("ndcg@10")
    for line in lines[1:]:
        assert line[col_end - 1] != " "
    text = format_table(cold_result, "table")
    assert " - " in text and "note:" in text


def test_format_table_accepts_dataframe_and_rejects_bad_fmt(result):
    assert format_table(result.table, "markdown").startswith("| model |")
    json.loads(format_table(result.table, "json"))
    with pytest.raises(ValueError, match="fmt"):
        format_table(result, "html")
    with pytest.raises(TypeError):
        format_table({"a": 1})


def test_records_full_precision(result):
    recs = to_records(result, metric_digits=None, seconds_digits=None)
    assert recs[0]["ndcg@10"] == result.table.loc["pop", "ndcg@10"]


def test_per_k_table(result):
    long = per_k_table(result)
    assert list(long.columns[:3]) == ["model", "k", "ndcg"]
    assert "coverage" in long.columns
    assert long[["model", "k"]].values.tolist() == [
        ["pop", 5], ["pop", 10], ["noisy", 5], ["noisy", 10]
    ]
    assert long.loc[3, "recall"] == result.table.loc["noisy", "recall@10"]
    with pytest.raises(ValueError, match="metric@k"):
        per_k_table(pd.DataFrame({"a": [1.0]}))
