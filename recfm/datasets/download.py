"""Verified downloads of the original GroupLens archives.

An archive is downloaded with :mod:`pooch` to a temporary name in the data home,
checked against its pinned size and sha256, and only then renamed (atomically) to its
final name, so a half-written or corrupted file is never found under that name. An
existing file is never overwritten.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from recfm._files import atomic_file
from recfm._utils import DataError

logger = logging.getLogger("recfm.datasets")

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/"


class DataNotFoundError(DataError):
    """A data set is neither on disk nor downloadable; the message says which file to put where."""


@dataclass(frozen=True)
class Archive:
    """A downloadable archive with its pinned size and checksum.

    Parameters
    ----------
    filename : str
        Name of the file in the data home (``ml-1m.zip``).
    url : str
        Where GroupLens serves it.
    size : int
        Size in bytes.
    sha256 : str or None
        Hex digest; ``None`` when no published catalogue pins one (then only the
        size is checked).
    """

    filename: str
    url: str
    size: int
    sha256: str | None


# Sizes and sha256 are those pinned by published dataset catalogues (see
# ../shared/datasets/MANIFEST.md). GroupLens publishes no checksum for ml-10m: its size
# (65,566,137 bytes, agreed by two independent download scripts) is the only check.
ARCHIVES: dict[str, Archive] = {
    "ml-100k": Archive(
        "ml-100k.zip", GROUPLENS_URL + "ml-100k.zip", 4_924_029,
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    ),
    "ml-1m": Archive(
        "ml-1m.zip", GROUPLENS_URL + "ml-1m.zip", 5_917_549,
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    ),
    "ml-10m": Archive("ml-10m.zip", GROUPLENS_URL + "ml-10m.zip", 65_566_137, None),
    "ml-20m": Archive(
        "ml-20m.zip", GROUPLENS_URL + "ml-20m.zip", 198_702_078,
        "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
    ),
    "ml-25m": Archive(
        "ml-25m.zip", GROUPLENS_URL + "ml-25m.zip", 261_978_986,
        "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
    ),
    "ml-latest-small": Archive(
        "ml-latest-small.zip", GROUPLENS_URL + "ml-latest-small.zip", 978_202,
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
    ),
}


def _http_get(url: str, path: Path, progress: bool) -> None:
    """Write the body of ``url`` to ``path`` (tests replace this to stay offline)."""
    import pooch

    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=60)
    downloader(url, str(path), None)


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]  # covers socket and urllib errors
    try:
        import requests

        errors.append(requests.exceptions.RequestException)
    except ImportError:  # pragma: no cover - pooch depends on requests
        pass
    return tuple(errors)


def _mismatch(path: Path, size: int | None, sha256: str | None) -> str | None:
    """Describe how ``path`` differs from the expected size/sha256, or return None."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"size mismatch, expected {size:,} bytes, got {actual_size:,} (incomplete or wrong file)"
    if sha256 is not None:
        import pooch

        actual = pooch.file_hash(str(path), alg="sha256")
        if actual != sha256.lower():
            return f"sha256 mismatch, expected {sha256}, got {actual} (corrupted or changed file)"
    return None


def verify_file(path: Path, size: int | None, sha256: str | None) -> None:
    """Raise :class:`DataError` unless ``path`` has the expected size and sha256.

    Parameters
    ----------
    path : pathlib.Path
        File to check.
    size : int or None
        Expected size in bytes (``None``: not checked).
    sha256 : str or None
        Expected hex digest (``None``: not checked, e.g. ml-10m).
    """
    problem = _mismatch(Path(path), size, sha256)
    if problem:
        raise DataError(f"{path}: {problem}")


def fetch_archive(name: str, data_home: Path, *, hint: str = "", progress: bool = True) -> Path:
    """Return the path of archive ``name`` in ``data_home``, downloading it if absent.

    The download goes to a temporary file in ``data_home``; its size and sha256 are
    checked against :data:`ARCHIVES` (ml-10m: size only, GroupLens publishes no
    checksum) and only a verified file is renamed to its final name. On a mismatch the
    temporary file is deleted and a :class:`DataError` names the file with the expected
    and actual values. A file already at the final name is returned untouched (never
    overwritten, never re-downloaded).

    Parameters
    ----------
    name : str
        Key of :data:`ARCHIVES`, e.g. ``"ml-1m"``.
    data_home : pathlib.Path
        Target folder (created if needed).
    hint : str
        Sentence appended to network errors, saying which file to put where.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    pathlib.Path
        Path of the verified archive.

    Raises
    ------
    DataNotFoundError
        The network is unreachable or the data home is not writable.
    DataError
        The downloaded file does not match its pinned size or sha256.
    """
    archive = ARCHIVES[name]
    dest = Path(data_home) / archive.filename
    if dest.exists():
        return dest
    try:
        # atomic_file: the download lands under a temporary name with the umask's
        # permissions and is linked to ``dest`` only once verified, never over a file there
        with atomic_file(dest) as tmp:
            logger.info("downloading %s (%.1f MB) to %s", archive.url, archive.size / 1e6, dest)
            try:
                _http_get(archive.url, tmp, progress)
            except _network_errors() as exc:
                raise DataNotFoundError(
                    f"could not download {archive.url} ({type(exc).__name__}: {exc}); {hint}".rstrip("; ")
                ) from exc
            problem = _mismatch(tmp, archive.size, archive.sha256)
            if problem:
                # Name the final file, not the temporary one the user never sees.
                raise DataError(
                    f"downloaded {archive.filename} from {archive.url}: {problem}; "
                    f"the download was deleted, nothing was saved to {dest}"
                )
    except FileExistsError:
        return dest  # someone else finished first: keep theirs
    except DataError:
        raise
    except OSError as exc:
        raise DataNotFoundError(
            f"cannot write {archive.filename} to the data home {dest.parent} ({exc}); {hint}".rstrip("; ")
        ) from exc
    return dest
