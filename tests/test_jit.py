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


def test_a_fit_announces_only_the_kernels_it_compiles(monkeypatch):
    # naming a kernel the fit never runs (another loss's or order's epoch) kept it cold,
    # so the notice came back on every run
    import numpy as np
    import pandas as pd

    import recfm.model._kernels as K
    import recfm.model.fm as fm_module
    from recfm.features import FeatureBuilder, History
    from recfm.model import FactorizationMachine

    named: list = []
    monkeypatch.setattr(fm_module, "announce_compilation", lambda *ks: named.append(ks))
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame({"user_id": rng.integers(0, 30, 400), "item_id": rng.integers(0, 40, 400)})
    pairs = pairs.drop_duplicates()
    ids = FeatureBuilder().fit_transform(pairs)
    hist = FeatureBuilder(user_features=[History()]).fit_transform(pairs)
    for design, params in [(ids, {}), (ids, {"n_negatives": 3}), (ids, {"loss": "warp"}),
                           (ids, {"loss": "logistic"}), (hist, {"loss": "warp"})]:
        named.clear()
        FactorizationMachine(n_epochs=1, n_factors=4, random_state=0, n_threads=1,
                             **params).fit(design)
        kernels = [k for ks in named for k in ks]
        epochs = [k for k in kernels
                  if k in (*K.EPOCHS, *K.VISIT_EPOCHS, K.visits_ids_epoch)]
        assert len(epochs) == 1, (params, [k.py_func.__name__ for k in epochs])
        for k in kernels:  # each one compiled (or loaded from the cache) by this fit
            assert k.signatures, (params, k.py_func.__name__)
