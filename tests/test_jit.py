"""The first-run notice: said once per process, only when a kernel has no numba cache."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from recfm._jit import MESSAGE

SCRIPT = textwrap.dedent("""
    import logging, sys
    from numba import njit
    from recfm._jit import announce_compilation

    @njit(cache=True)
    def plus_one(x):
        return x + 1

    @njit(cache=True)
    def plus_two(x):
        return x + 2

    said = announce_compilation(plus_one, plus_two)
    plus_one(1)
    plus_two(1)
    again = announce_compilation(plus_one, plus_two)
    print(said, again)
""")


def _run(tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, str(tmp_path / "kernels.py")], env=env,
                          capture_output=True, text=True, check=True)


def test_notice_once_on_a_cold_cache_and_never_on_a_warm_one(tmp_path):
    (tmp_path / "kernels.py").write_text(SCRIPT)
    cold = _run(tmp_path)
    assert cold.stdout.split() == ["True", "False"]
    assert cold.stderr.count(MESSAGE) == 1
    warm = _run(tmp_path)  # the same cache folder: the kernels load, nothing to say
    assert warm.stdout.split() == ["False", "False"]
    assert MESSAGE not in warm.stderr
