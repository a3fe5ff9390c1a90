"""Telling the user, once, that numba is compiling recfm's kernels.

A fresh install compiles the kernels a command needs on its first call (20-40 s on a
2-core machine for ``recfm evaluate``; numba keeps them in its on-disk cache afterwards).
Without a word this looks like a hang, so the first kernel call of a process that finds
no cache entry logs one warning on the ``recfm`` logger (shown on stderr by default).

This module imports nothing from recfm, so any layer may use it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("recfm")

MESSAGE = ("recfm: compiling numba kernels, first run only (they are cached on disk "
           "afterwards); this can take a minute...")

_announced = False


def _cache_is_cold(kernel: Any) -> bool:
    """Whether ``kernel`` (a numba dispatcher) is neither compiled in this process nor has an
    index file in numba's cache: its first call will compile it."""
    if getattr(kernel, "signatures", None):
        return False
    try:
        index = kernel._cache._cache_file._index_path  # numba's cache index of the function
    except AttributeError:  # not a caching dispatcher, or a numba without this layout
        return False
    return not Path(index).exists()


def announce_compilation(*kernels: Any) -> bool:
    """Log :data:`MESSAGE` once per process if any of ``kernels`` is about to be compiled
    (no cache entry on disk). Returns whether it did so now."""
    global _announced
    if _announced or not any(_cache_is_cold(k) for k in kernels):
        return False
    _announced = True
    log.warning(MESSAGE)
    return True
