"""Parquet output that is either complete or absent: staged in a sibling folder, renamed at the end."""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from .._files import staged_dir

PART_GLOB = "part.*.parquet"


def check_output(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse, before any work, an output path that exists (unless ``overwrite``) or that
    ``overwrite`` would wrongly destroy (a folder holding anything but Parquet files)."""
    path = Path(path).expanduser()
    if not path.exists():
        return path
    if not overwrite:
        raise FileExistsError(f"output {path} exists; pass overwrite=True (--overwrite) to replace it")
    if path.is_dir():
        foreign = [p.name for p in path.iterdir() if not p.name.endswith(".parquet")]
        if foreign:
            raise FileExistsError(
                f"output {path} is a folder holding {foreign[0]!r}, not only Parquet files; "
                "refusing to replace it"
            )
    return path


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike, overwrite: bool) -> Iterator[Path]:
    """Yield an empty sibling folder to write into; it becomes ``path`` when the block ends.

    If the block raises, the staging folder is deleted and ``path`` is untouched: nobody
    ever sees a partial output under the name they asked for. Replacing an existing folder
    swaps the two atomically where the OS allows it (see :func:`recfm._files.replace_dir`).
    The folder gets the umask's permissions, not ``mkdtemp``'s private 0700.
    """
    path = check_output(path, overwrite)
    with staged_dir(path, replace=overwrite, suffix=".partial") as tmp:
        yield tmp
        check_output(path, overwrite)  # it may have appeared while we worked


def write_part(frame, folder: Path, index: int) -> int:
    """Write ``frame`` as ``folder/part.{index}.parquet`` through a temporary name.

    A retried task (its worker died) rewrites the same name, so a part is complete or
    absent, never half a file. Returns the number of rows.
    """
    final = folder / f"part.{index:05d}.parquet"
    tmp = folder / f".part.{index:05d}.{uuid.uuid4().hex}.tmp"
    try:
        frame.to_parquet(tmp, index=False, engine="pyarrow")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return len(frame)
