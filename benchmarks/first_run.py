"""First-run time: a command run from an empty numba cache, then again from the warm cache.

    python benchmarks/first_run.py                                  # recfm evaluate (defaults)
    python benchmarks/first_run.py --what readme                    # README's Python example
    python benchmarks/first_run.py --what evaluate --args "--models all"
    python benchmarks/first_run.py --profile                        # + seconds per kernel

Each run is a fresh process (``python -m recfm.cli evaluate --quiet`` or README.md's first
``python`` block) with ``NUMBA_CACHE_DIR`` pointing at a new temporary folder, so every kernel
it needs is compiled, as on a fresh install; the second run reads that cache. Prints wall
seconds and CPU seconds (user + system of the child): numba compiles on one thread, so on a
busy machine the CPU figure is the steadier one. ``--profile`` adds numba's compile events
per kernel (inclusive of the kernels it calls). The README block needs ``RECFM_DATA``
(ML-100K); the script runs it in a scratch folder, so its ``rec.save("model/")`` lands there.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROFILE = r"""
import collections, runpy, sys, time
from numba.core import event
tot = collections.defaultdict(float)
class _L(event.Listener):
    def __init__(self):
        self.stack = []
    def on_start(self, ev):
        self.stack.append(time.perf_counter())
    def on_end(self, ev):
        d = ev.data["dispatcher"]
        name = d.py_func.__qualname__ + (" [parallel]" if d.targetoptions.get("parallel") else "")
        tot[name] += time.perf_counter() - self.stack.pop()
event.register("numba:compile", _L())
try:
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__")
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    for k, v in sorted(tot.items(), key=lambda kv: -kv[1])[:15]:
        print(f"compile {v:7.2f} s  {k}", file=sys.stderr)
"""


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.S)
    if match is None:
        raise SystemExit("README.md has no python block")
    return match.group(1)


def run(argv: list[str], cache: str, cwd: str) -> tuple[float, float, str]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", choices=["evaluate", "readme"], default="evaluate")
    ap.add_argument("--args", default="", help="extra arguments for recfm evaluate")
    ap.add_argument("--profile", action="store_true", help="print compile seconds per kernel")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if opts.what == "evaluate":
            target = ["-m", "recfm.cli", "evaluate", "--quiet", *shlex.split(opts.args)]
        else:
            script = Path(tmp, "readme_example.py")
            script.write_text(readme_block(), encoding="utf-8")
            target = [str(script)]
        prefix = [sys.executable, "-c", _PROFILE] if opts.profile else [sys.executable]
        cache = str(Path(tmp, "numba-cache"))
        label = "recfm evaluate --quiet " + opts.args if opts.what == "evaluate" else "README example"
        for i, run_name in enumerate(("first run (empty numba cache)", "second run (warm cache)")):
            cwd = Path(tmp, f"run{i}")  # a folder of its own: the README block saves model/
            cwd.mkdir()
            wall, cpu, err = run(prefix + target, cache, str(cwd))
            print(f"{label.strip()}: {run_name}: {wall:.1f} s wall, {cpu:.1f} s CPU")
            if opts.profile:
                print("".join(line + "\n" for line in err.splitlines() if line.startswith("compile")))


if __name__ == "__main__":
    main()
