"""Reading a log from CSV: recfm's reader against plain ``pandas.read_csv``, in one run.

    python benchmarks/read_speed.py                      # 5M rows (ML-10M-ish), in a temp dir
    python benchmarks/read_speed.py --rows 20000000      # ML-20M-sized

recfm reads ids as written (``007`` is not ``7``; ``NA`` is an id): a column becomes int64
only when every id is a canonical integer, else it stays text. Building a Python string per
id cell costs several times pandas' own integer parse, so
:func:`recfm.datasets.files.read_interactions_csv` first scans the file's bytes for an
integer written otherwise (a leading zero, a sign, a space, a quote) and, when there is
none, keeps pandas' native parse (``recfm.datasets.ids.integers_written_canonically``).

Writes three logs of ``--rows`` interactions with ML-20M's proportions (user, item,
rating, Unix time): integer ids, text ids (``u123``, ``sku-45``), and integer ids with one
user id written ``007`` (which sends the whole file down the text path). Each is read
``--repeat`` times, in turns, by ``pandas.read_csv(path)`` (ids guessed, ``007`` read as 7)
and by ``read_interactions_csv(path)``; prints the median seconds and their ratio, the
scan's own share, and the peak memory of each reader (separate processes: ``ru_maxrss``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
import pandas as pd
from recfm.datasets.files import read_interactions_csv
from recfm.datasets.ids import integers_written_canonically
path, how = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if how == "pandas":
    pd.read_csv(path)
elif how == "scan":
    integers_written_canonically(path)
else:
    read_interactions_csv(path)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _write_logs(folder: Path, rows: int, seed: int) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    users = rng.integers(1, max(2, rows // 144), rows)  # ML-20M: 138k users, 20M ratings
    items = rng.integers(1, max(2, rows // 740), rows)  # and 27k items
    frame = pd.DataFrame({"user_id": users, "item_id": items,
                          "rating": rng.integers(1, 11, rows) / 2.0,
                          "timestamp": rng.integers(789_652_009, 1_427_784_002, rows)})
    paths = {"integer ids": folder / "int.csv", "text ids": folder / "text.csv",
             "integer ids, one written 007": folder / "zero.csv"}
    frame.to_csv(paths["integer ids"], index=False)
    text = frame.assign(user_id="u" + frame.user_id.astype(str),
                        item_id="sku-" + frame.item_id.astype(str))
    text.to_csv(paths["text ids"], index=False)
    zero = frame.astype({"user_id": object})
    zero.loc[rows // 2, "user_id"] = "007"
    zero.to_csv(paths["integer ids, one written 007"], index=False)
    return paths


def _run(path: Path, how: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT)), str(path), how],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = _write_logs(Path(tmp), args.rows, args.seed)
        print(f"{args.rows:,} rows per log, written in {time.perf_counter() - t0:.0f} s; "
              f"load average (1 min) {os.getloadavg()[0]:.1f}; median of {args.repeat} rounds\n")
        print("| log | MB | pandas.read_csv s | recfm s | recfm / pandas (rounds) | scan s | "
              "peak MB pandas / recfm |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, path in paths.items():
            got: dict[str, list[tuple[float, float]]] = {"pandas": [], "recfm": [], "scan": []}
            for r in range(args.repeat):
                for how in (["pandas", "recfm", "scan"] if r % 2 == 0 else ["recfm", "pandas", "scan"]):
                    got[how].append(_run(path, how))
            sec = {k: np.array([s for s, _ in v]) for k, v in got.items()}
            mem = {k: max(m for _, m in v) for k, v in got.items()}
            ratio = sec["recfm"] / sec["pandas"]
            print(f"| {label} | {path.stat().st_size / 2**20:.0f} | {np.median(sec['pandas']):.2f} | "
                  f"{np.median(sec['recfm']):.2f} | {np.median(ratio):.2f} ({ratio.min():.2f}–"
                  f"{ratio.max():.2f}) | {np.median(sec['scan']):.2f} | "
                  f"{mem['pandas']:.0f} / {mem['recfm']:.0f} |")
        print(f"\nload average (1 min) after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
