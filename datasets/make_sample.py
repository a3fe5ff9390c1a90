"""Regenerate the small synthetic sample in datasets/sample/ (used by the examples).

    python datasets/make_sample.py

The sample is ``recfm.datasets.make_synthetic(**SAMPLE_PARAMS)`` (300 users, 400 items,
12,000 interactions, seed 0) written as interactions.csv, users.csv and items.csv
(genres ``|``-joined). ``recfm.datasets.load_sample()`` reads these files, or regenerates
the same data in memory when they are absent; a test checks that both agree, so rerun
this script whenever the generator changes.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from recfm.datasets import write_sample  # noqa: E402


def main() -> None:
    for path in write_sample(HERE / "sample"):
        print(f"wrote {path.relative_to(HERE.parent)} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
