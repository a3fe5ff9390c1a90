"""Every script in ``examples/`` runs cleanly and prints what it promises.

Each example runs in a fresh interpreter (``sys.executable``) from the repository root with
the checkout on ``PYTHONPATH``, exactly as ``examples/README.md`` says to run them. The
examples only use the synthetic sample in ``datasets/sample/``, so nothing is downloaded.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
# generous: the first example of a fresh checkout also compiles the numba kernels
TIMEOUT = 600

# Text each example must print (regular expressions, searched in stdout).
EXPECTED: dict[str, list[str]] = {
    "quickstart.py": [
        r"12,000 interactions, 300 users, 400 items",
        r"user 1 rated \d+ movies",
        r"rank\s+item_id\s+title\s+score",
        r"recommend_all: 3,000 rows for 300 users",
    ],
    "features_genres_demographics.py": [
        r"popularity\s",
        r"fm ids only\s",
        r"fm \+ genres & demographics\s",
        r"ndcg@10",
        r"genres\s+\d+\s+e\.g\.",
        r"age\s+7\s+e\.g\. \(-inf,18\), \[18,25\)",
        r"best NDCG@10: ",
    ],
    "cold_start.py": [
        r"part 1: 240 training users, 60 new users",
        r"fm ids only .*cannot recommend for users absent from train",
        r"cold-start NDCG@10: fm \+ attributes [\d.]+ vs popularity [\d.]+ \(better\)",
        r"catalogue before add_items: 380 items",
        r"catalogue after add_items:  400 items",
        r"new movies appear [1-9]\d* times",
        r"recall@5 among the new movies",
        r"\*new\*",
    ],
    "context.py": [
        r"user 7, night, ios:",
        r"user 7, afternoon, web:",
        r"the two top-10 lists share \d of 10 items \(they differ\)",
        r"share of Horror",
        r"explain\(user 7, item \d+ ",
        r"query×item",
        r"sum of terms (-?\d+\.\d+), recommend\(\) score \1\b",  # terms sum to the score
        r"context × item terms:",
    ],
    "log_features.py": [
        r"60 new users, 5 clicks each: precision@10 on the rest of their log",
        r"fm \+ history 0\.\d{3}\n\s+ease\s+0\.\d{3}\n\s+popularity\s+0\.\d{3}",
        r"fm \+ history / popularity: (1\.[1-9]\d|[2-9]\.\d\d)x",  # at least 1.10x
        r"explain\(new user \d+, item \d+\): score -?\d+\.\d+",
        r"history=\d+\s+item_id=\d+\s+-?\d+\.\d{3}",
        r"served from its training items as a new user: same top-10 and scores: True",
        r"fm \+ recent item\s+0\.\d{3}\s+0\.\d{3}",
        # planted order: the last item is worth several times the ids alone
        r"on sample \(no planted order\), ([2-9]|\d{2,})\.\d\dx on synthetic",
    ],
    "compare_with_implicit.py": [
        r"\| model \| ndcg@10 \|",
        r"\| pop \|",
        r"\| als \|",
        r"\| bpr \|",
        r"\| fm \|",
        r"\| fm-warp \|",
        r"best NDCG@10: ",
        r"paired t-test p = ",
    ],
}

SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def run_example(name: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.setdefault("MPLBACKEND", "Agg")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_the_examples_are_there():
    assert set(EXPECTED) <= set(SCRIPTS), f"missing examples: {set(EXPECTED) - set(SCRIPTS)}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name: str):
    proc = run_example(name)
    assert proc.returncode == 0, (
        f"{name} exited with {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}"
        f"\n--- stderr ---\n{proc.stderr[-3000:]}"
    )
    assert proc.stdout.strip(), f"{name} printed nothing"
    assert "Traceback" not in proc.stderr, proc.stderr
    for pattern in EXPECTED.get(name, []):
        assert re.search(pattern, proc.stdout), (
            f"{name}: expected output matching {pattern!r}\n--- stdout ---\n{proc.stdout}"
        )


def test_examples_readme_lists_every_script():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in SCRIPTS:
        assert f"`{name}`" in readme, f"examples/README.md does not describe {name}"
        assert f"python examples/{name}" in readme, f"examples/README.md does not say how to run {name}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_has_a_docstring_saying_how_to_run_it(name: str):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert text.startswith('"""'), f"{name} should open with a docstring"
    assert f"python examples/{name}" in text
