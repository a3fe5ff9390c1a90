"""File-system primitives every recfm writer and reader shares.

Writers
    :func:`atomic_file` (and :func:`write_text_atomic`) writes a file through a temporary
    sibling that is fsynced and then renamed over the target, so a reader or a crash only
    ever sees the old file or the new one. :func:`staged_dir` does the same for a folder.
    Both give their output the permissions the user's umask implies (``0666 & ~umask`` for
    files, ``0777 & ~umask`` for folders), not the private 0600/0700 of ``mkstemp`` and
    ``mkdtemp``. A temporary sibling is ``flock``-ed by its writer while it lives; one left
    by a killed process (unlocked, older than :data:`STALE_SECONDS`) is removed by the next
    write to the same target (:func:`remove_stale`).
Up-front checks
    :func:`check_file_target` and :func:`check_dir_target` refuse, before any work, an
    output that exists (without ``overwrite``), has the wrong kind, or cannot be written.
Readers of untrusted folders
    :func:`open_regular` opens a file only if it is a regular file inside a given folder
    (no FIFO, device, or symlink leading out of it), without blocking, and up to a size.

This module imports nothing from recfm, so any layer may use it.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, leftovers stay
    fcntl = None  # type: ignore[assignment]

_UMASK_LOCK = threading.Lock()
#: An unlocked temporary sibling at least this old (seconds) is a killed writer's leftover.
STALE_SECONDS = 5.0


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file under the current umask (what ``open(..., 'w')`` gives)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Permissions of a new folder under the current umask (what ``mkdir`` gives)."""
    return 0o777 & ~current_umask()


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename inside it) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish_no_clobber(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless ``path`` exists (checked atomically by link)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True (--overwrite) to replace it"
        ) from None
    except OSError as exc:
        # file systems without hard links: the existence check is no longer atomic
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(path):
            raise FileExistsError(
                f"{path} already exists; pass overwrite=True (--overwrite) to replace it"
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _try_lock(fd: int, block: bool = False) -> bool:
    """``flock`` ``fd`` exclusively; False if another process holds it (or no flock here)."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def remove_stale(parent: Path, pattern: str) -> None:
    """Delete entries of ``parent`` whose name fully matches the regex ``pattern`` and that
    a killed writer left: nobody holds their lock and they are :data:`STALE_SECONDS` old."""
    if fcntl is None or not parent.is_dir():  # pragma: no cover - no locks to tell the living
        return
    regex = re.compile(pattern)
    for name in os.listdir(parent):
        if not regex.fullmatch(name):
            continue
        entry = parent / name
        try:
            fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if _try_lock(fd) and time.time() - st.st_mtime >= STALE_SECONDS:
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(entry, ignore_errors=True)
                elif stat.S_ISREG(st.st_mode):
                    os.unlink(entry)
        except OSError:
            pass
        finally:
            os.close(fd)


def _tmp_file_pattern(name: str) -> str:
    # mkstemp's names: prefix + 8 characters of [a-z0-9_] + suffix
    return re.escape(f".{name}.") + r"[a-z0-9_]{8}" + re.escape(".tmp")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path`` atomically.

    Write the whole content to the yielded path (any writer that takes a file name). When
    the block ends the file is fsynced, given the umask's permissions and renamed to
    ``path``; if the block raises, the temporary file is deleted and ``path`` is untouched.
    Without ``overwrite`` an existing ``path`` is refused, also if it appeared while the
    block ran (the final link fails rather than replacing it).
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, _tmp_file_pattern(path.name))
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        _try_lock(fd, block=True)  # held until the end: the file is alive, not a leftover
        yield tmp
        os.fsync(fd)  # the writer's data, whichever handle it wrote through
        os.chmod(tmp, file_mode())
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_no_clobber(tmp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def staging_dir(path: Path, tag: str = "tmp", suffix: str = "") -> Iterator[Path]:
    """A new empty folder ``.NAME.<tag>-XXXXXXXX<suffix>`` beside ``path``, with the umask's
    permissions, locked while the block runs and deleted after it unless renamed away.

    Leftovers of killed writers with the same name pattern are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, re.escape(f".{path.name}.{tag}-") + r"[a-z0-9_]{8}" + re.escape(suffix))
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{tag}-", suffix=suffix, dir=path.parent))
    fd = os.open(tmp, os.O_RDONLY)
    try:
        _try_lock(fd, block=True)
        os.chmod(tmp, dir_mode())
        yield tmp
    finally:
        os.close(fd)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def exchange_dirs(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one atomic step (Linux ``renameat2``).

    Returns False where the OS or the file system cannot (then nothing happened).
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(new: Path, path: Path) -> None:
    """Put the complete folder ``new`` at ``path``, replacing a folder there, then delete the old one.

    Where the OS can swap two folders atomically, ``path`` always holds one complete folder
    (old or new); elsewhere a crash between the two renames leaves the old folder at a
    hidden ``.NAME.old-XXXXXXXX`` sibling.
    """
    if not os.path.lexists(path):
        os.rename(new, path)
    elif exchange_dirs(new, path):
        shutil.rmtree(new)  # now holds the old folder
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.rename(path, old / "x")
        os.rename(new, path)
        shutil.rmtree(old)
    fsync_dir(path.parent)


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike, replace: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; it becomes ``path`` when the block ends.

    If the block raises, the staging folder is deleted and ``path`` is untouched. With
    ``replace`` an existing folder at ``path`` is replaced (see :func:`replace_dir`);
    without it only a missing path or an empty folder is accepted. The caller checks what
    may be replaced (see :func:`check_dir_target`) before calling.
    """
    path = Path(path)
    with staging_dir(path, suffix=suffix) as tmp:
        yield tmp
        if replace and path.is_dir() and any(path.iterdir()):
            replace_dir(tmp, path)
        else:
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()  # an empty folder: nothing is lost
            try:
                os.rename(tmp, path)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise FileExistsError(
                        f"{path} appeared while it was being written; nothing was replaced"
                    ) from None
                raise
            fsync_dir(path.parent)


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _check_creatable(path: Path, what: str) -> None:
    """Raise if nothing can be created at ``path`` (its nearest existing ancestor is not a
    writable folder). ``os.access`` also reports a read-only file system; no probe file is
    created, so a kill here leaves nothing behind."""
    base = path.parent if path.parent.exists() else _nearest_existing(path.parent)
    if not base.is_dir():
        raise NotADirectoryError(f"{what} {path} cannot be created: {base} is not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path} cannot be written: {base} is not writable")


def check_file_target(path: str | os.PathLike | None, overwrite: bool, what: str = "output",
                      folder_ok: bool = False) -> None:
    """Check, before any work, that a file can be written at ``path`` (None: nothing to check).

    Raises ``FileExistsError`` if it exists and ``overwrite`` is false, ``IsADirectoryError``
    if it is a folder (unless ``folder_ok``: outputs such as a Parquet folder), and
    ``NotADirectoryError`` / ``PermissionError`` if it cannot be created.
    """
    if path is None:
        return
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{what} {path} exists; pass --overwrite (overwrite=True) to replace it")
    if path.is_dir() and not folder_ok:
        raise IsADirectoryError(f"{what} {path} is a folder; give a file name")
    _check_creatable(path, what)


def check_dir_target(path: str | os.PathLike | None, what: str = "output folder") -> None:
    """Check, before any work, that a folder can be created (or filled) at ``path``.

    An existing file there raises ``NotADirectoryError``; an unwritable location raises
    ``PermissionError``. Whether an existing folder may be replaced is the caller's rule.
    """
    if path is None:
        return
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise NotADirectoryError(f"{what} {path} exists and is not a folder")
    _check_creatable(path, what)
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path} is not writable")


def open_regular(path: str | os.PathLike, root: str | os.PathLike, max_bytes: int | None = None):
    """Open ``path`` for binary reading if it is a regular file inside the folder ``root``.

    Symlinks are followed only while they stay inside ``root``; FIFOs, devices, sockets and
    folders are refused without blocking (the file is opened with ``O_NONBLOCK`` and
    checked with ``fstat`` before any read). A file larger than ``max_bytes`` is refused.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Any other refusal; the message names the file and the reason.
    """
    path = Path(path)
    root_real = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([root_real, real]) != root_real:
        raise ValueError(f"{path} is a link leading out of {root} (to {real}); refusing to read it")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink since realpath
            raise ValueError(f"{path} changed into a link while being opened; refusing it") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(
                f"{path} is not a regular file (a FIFO, device, socket or folder); refusing to read it"
            )
        if max_bytes is not None and st.st_size > max_bytes:
            raise ValueError(f"{path} is {st.st_size:,} bytes, more than the {max_bytes:,} allowed")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
