"""Where recfm keeps data sets on disk (the *data home*)."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "RECFM_DATA"


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder that holds (or will hold) recfm's data sets.

    Precedence: the ``data_home`` argument, then the ``RECFM_DATA`` environment
    variable, then the per-user cache directory (``platformdirs.user_cache_dir("recfm")``,
    e.g. ``~/.cache/recfm`` on Linux).

    Parameters
    ----------
    data_home : str or path-like, optional
        Explicit folder; ``~`` is expanded.

    Returns
    -------
    pathlib.Path
        An absolute path. The folder is *not* created here: loaders create it only
        when they download into it, so resolving a path never touches the disk.
    """
    if data_home is not None:
        return Path(data_home).expanduser().absolute()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    # Imported lazily: platformdirs is only needed when neither override is given.
    import platformdirs

    return Path(platformdirs.user_cache_dir("recfm")).absolute()
