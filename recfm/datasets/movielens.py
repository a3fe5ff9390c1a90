"""MovieLens loaders: the original GroupLens files, from a zip or an extracted folder.

Supported: ``ml-100k``, ``ml-1m``, ``ml-10m``, ``ml-20m``, ``ml-25m``, ``ml-latest-small``
(see :data:`SUPPORTED`). Three layouts are parsed:

* ``ml-100k``: ``u.data`` (tab), ``u.item`` and ``u.user`` (``|``, latin-1);
* ``ml-1m`` / ``ml-10m``: ``ratings.dat``, ``movies.dat`` (+ ``users.dat`` for ml-1m),
  ``::``-separated, latin-1;
* ``ml-20m`` / ``ml-25m`` / ``ml-latest-small``: ``ratings.csv`` and ``movies.csv`` (UTF-8).

The ``::`` separator forces pandas onto its slow Python engine; instead the bytes are
rewritten with a one-byte separator and read by the C engine with explicit dtypes
(ML-1M's 1,000,209 ratings load in well under a second). ``::`` never occurs inside a
title (single ``:`` does), so the rewrite is lossless.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recfm._utils import DataError
from recfm.datasets.dataset import Dataset, split_lists
from recfm.datasets.download import ARCHIVES, Archive, DataNotFoundError, fetch_archive
from recfm.datasets.home import get_data_home

LICENCE = (
    "GroupLens Research (University of Minnesota) licence: research use only; "
    "no redistribution; no commercial use without permission; cite "
    "F. M. Harper and J. A. Konstan (2015), The MovieLens Datasets, ACM TiiS 5(4)"
)

# u.genre order; "unknown" is dropped from the genre lists (as "(no genres listed)" is
# in the CSV layouts) so that every layout uses the same convention.
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
# ml-1m users.dat occupation codes 0..20 (from its README).
OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer",
    "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
    "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
)
NO_GENRES = "(no genres listed)"


class ChecksumWarning(UserWarning):
    """A user's own file differs from the GroupLens original; it is used anyway."""


@dataclass(frozen=True)
class MovieLensInfo:
    """What recfm knows about one MovieLens release.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"ml-1m"``.
    description : str
        One line for listings.
    folder : str
        Name of the extracted folder (``ml-10M100K`` for ml-10m).
    layout : {"100k", "dat", "csv"}
        File layout.
    ratings_file, items_file : str
        Files inside the folder.
    users_file : str or None
        ``None`` when the release has no user attributes.
    licence : str
        Licence note.
    """

    name: str
    description: str
    folder: str
    layout: str
    ratings_file: str
    items_file: str
    users_file: str | None
    licence: str = LICENCE

    @property
    def archive(self) -> Archive:
        """The zip GroupLens serves, with its pinned size and sha256 (from ``ARCHIVES``)."""
        return ARCHIVES[self.name]

    @property
    def size_mb(self) -> float:
        """Download size of the archive in MB."""
        return self.archive.size / 1e6


SUPPORTED: dict[str, MovieLensInfo] = {
    "ml-100k": MovieLensInfo(
        "ml-100k", "100,000 ratings 1-5, 943 users, 1,682 movies; user age/gender/occupation/zip",
        "ml-100k", "100k", "u.data", "u.item", "u.user",
    ),
    "ml-1m": MovieLensInfo(
        "ml-1m", "1,000,209 ratings 1-5, 6,040 users, 3,706 movies; user age/gender/occupation/zip",
        "ml-1m", "dat", "ratings.dat", "movies.dat", "users.dat",
    ),
    "ml-10m": MovieLensInfo(
        "ml-10m", "10,000,054 ratings 0.5-5, 69,878 users, 10,677 movies; no user attributes",
        "ml-10M100K", "dat", "ratings.dat", "movies.dat", None,
    ),
    "ml-20m": MovieLensInfo(
        "ml-20m", "20,000,263 ratings 0.5-5, 138,493 users, 26,744 movies; no user attributes",
        "ml-20m", "csv", "ratings.csv", "movies.csv", None,
    ),
    "ml-25m": MovieLensInfo(
        "ml-25m", "25,000,095 ratings 0.5-5, 162,541 users, 59,047 movies; no user attributes",
        "ml-25m", "csv", "ratings.csv", "movies.csv", None,
    ),
    "ml-latest-small": MovieLensInfo(
        "ml-latest-small",
        "100,836 ratings 0.5-5, 610 users, 9,724 movies (2018 release; GroupLens updates it)",
        "ml-latest-small", "csv", "ratings.csv", "movies.csv", None,
    ),
}

# Checksums of the extracted files of the original archives (../shared/datasets/MANIFEST.md).
# ratings.dat of ml-1m is known only by its git blob id (SHA-1 of b"blob <size>\0" + content).
_EXTRACTED_CHECKSUMS: dict[tuple[str, str], tuple[str, str]] = {
    ("ml-100k", "u.data"): ("sha256", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
    ("ml-100k", "u.item"): ("sha256", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
    ("ml-100k", "u.user"): ("sha256", "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
    ("ml-1m", "movies.dat"): ("sha256", "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"),
    ("ml-1m", "users.dat"): ("sha256", "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3"),
    ("ml-1m", "ratings.dat"): ("git-blob", "77a7c4b150f588c23bb9e1f068aa996c0b413695"),
}

_RATINGS_NAMES = ["user_id", "item_id", "rating", "timestamp"]
_RATINGS_DTYPES = {"user_id": np.int64, "item_id": np.int64, "rating": np.float32, "timestamp": np.int64}
_CSV_RATINGS_HEADER = ["userId", "movieId", "rating", "timestamp"]
_CSV_MOVIES_HEADER = ["movieId", "title", "genres"]
_YEAR_RE = r".*\((\d{4})[^()]*\)"  # last "(1995)" or "(1994-1998)" in the title


# ----------------------------------------------------------------------------- sources
class _DirSource:
    """An extracted folder; ``name.gz`` is accepted in place of ``name``."""

    def __init__(self, folder: Path):
        self.folder = folder

    def has(self, filename: str) -> bool:
        return (self.folder / filename).is_file() or (self.folder / (filename + ".gz")).is_file()

    def read(self, filename: str) -> tuple[bytes, str]:
        path = self.folder / filename
        if path.is_file():
            return path.read_bytes(), str(path)
        gz = self.folder / (filename + ".gz")
        if gz.is_file():
            try:
                return gzip.decompress(gz.read_bytes()), str(gz)
            except (EOFError, OSError, zlib.error) as exc:
                raise DataError(f"{gz}: corrupt or truncated gzip file ({exc})") from None
        present = sorted(p.name for p in self.folder.iterdir()) if self.folder.is_dir() else []
        raise DataError(f"{path} not found (the folder holds {present}); restore {filename} "
                        f"from the GroupLens archive")


class _ZipSource:
    """The original archive, read member by member without extracting."""

    def __init__(self, path: Path, folder: str):
        self.path, self.folder = path, folder
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{path}: not a valid zip archive, probably truncated ({exc}); delete it "
                            f"and download again") from None

    def close(self) -> None:
        self.zf.close()

    def _member(self, filename: str) -> str | None:
        exact = f"{self.folder}/{filename}"
        names = self.zf.namelist()
        if exact in names:
            return exact
        # Tolerate re-packed zips (no top folder or another folder name).
        hits = [n for n in names if n.rsplit("/", 1)[-1] == filename]
        return hits[0] if len(hits) == 1 else None

    def has(self, filename: str) -> bool:
        return self._member(filename) is not None

    def read(self, filename: str) -> tuple[bytes, str]:
        member = self._member(filename)
        if member is None:
            raise DataError(f"{self.path} has no member {self.folder}/{filename}")
        try:
            return self.zf.read(member), f"{self.path}:{member}"
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            # zipfile checks each member's CRC-32, so corruption surfaces here.
            raise DataError(f"{self.path}: member {member} is corrupt ({exc}); delete the zip and "
                            f"download again") from None


# ----------------------------------------------------------------------------- parsing
def _line_numbers(raw: bytes, rows: np.ndarray, header: bool) -> np.ndarray:
    """1-based file line of each data row, skipping blank lines as pandas does."""
    buf = np.frombuffer(raw, np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(buf)]))
    length = ends - starts
    has_cr = (length > 0) & (buf[np.maximum(ends - 1, 0)] == 13) if len(buf) else np.zeros(len(ends), bool)
    nonblank = np.flatnonzero(length - has_cr > 0)
    idx = np.asarray(rows) + (1 if header else 0)
    idx = np.minimum(idx, len(nonblank) - 1)
    return nonblank[idx] + 1


def _diagnose(raw: bytes, what: str, exc: Exception, kwargs: dict, numeric: dict[str, bool],
              header: bool) -> DataError:
    """Turn a pandas parse failure into a DataError naming the file, line and field."""
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if m:
        return DataError(f"{what}: line {m.group(2)} has {m.group(3)} fields, expected {m.group(1)} "
                         f"(corrupt file?)")
    if isinstance(exc, UnicodeDecodeError):
        return DataError(f"{what}: not valid {kwargs.get('encoding')} text ({exc})")
    try:
        text = pd.read_csv(io.BytesIO(raw), dtype=str, na_filter=False, **kwargs)
    except Exception:  # noqa: BLE001 - the original error is the informative one
        return DataError(f"{what}: cannot be parsed ({exc})")
    first: tuple[int, str, str] | None = None
    for col, is_int in numeric.items():
        values = text[col]
        num = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
        bad = np.isnan(num)
        if is_int:
            bad |= ~np.isnan(num) & (num != np.floor(num))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            if first is None or row < first[0]:
                first = (row, col, values.iloc[row])
    if first is None:
        return DataError(f"{what}: cannot be parsed ({exc})")
    row, col, value = first
    line = int(_line_numbers(raw, np.array([row]), header)[0])
    if pd.isna(value) or value == "":
        return DataError(f"{what}: line {line}: field '{col}' is missing (fewer than "
                         f"{len(text.columns)} fields; truncated file?)")
    kind = "an integer" if numeric[col] else "a number"
    return DataError(f"{what}: line {line}: field '{col}' = {value!r} is not {kind}")


def _read_table(raw: bytes, what: str, *, sep: str, names: list[str], dtypes: dict,
                header: list[str] | None = None, encoding: str = "latin-1",
                quoted: bool = False) -> pd.DataFrame:
    """Parse delimited bytes with pandas' C engine; every failure names ``what``.

    ``header`` is the expected header line (CSV layouts) or None (headerless files).
    Numeric columns are checked for NaN; string columns keep "NA"-like values as text.
    """
    if header is not None:
        first = raw[: raw.find(b"\n")] if b"\n" in raw else raw
        found = first.decode(encoding, errors="replace").strip().lstrip("\ufeff").split(sep)
        if found != header:
            raise DataError(f"{what}: header is {found}, expected {header}")
    kwargs = dict(sep=sep, names=names, header=0 if header is not None else None,
                  encoding=encoding, engine="c",
                  quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
    numeric = {c: np.issubdtype(np.dtype(t), np.integer) for c, t in dtypes.items()
               if t is not str and np.issubdtype(np.dtype(t), np.number)}
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype=dtypes, keep_default_na=False, na_values=[""],
                         **kwargs)
    except (ValueError, UnicodeDecodeError) as exc:  # ParserError is a ValueError
        raise _diagnose(raw, what, exc, kwargs, numeric, header is not None) from None
    if len(df) == 0:
        raise DataError(f"{what}: no data rows (empty or truncated file)")
    for col in numeric:
        isna = df[col].isna().to_numpy()
        if isna.any():
            row = int(np.flatnonzero(isna)[0])
            line = int(_line_numbers(raw, np.array([row]), header is not None)[0])
            raise DataError(f"{what}: line {line}: field '{col}' is missing or NaN "
                            f"({int(isna.sum())} such rows)")
    for col, t in dtypes.items():
        if t is str:
            df[col] = df[col].fillna("")
    return df


def _check_unique(df: pd.DataFrame, col: str, raw: bytes, what: str, header: bool) -> None:
    dup = df[col].duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        line = int(_line_numbers(raw, np.array([row]), header)[0])
        raise DataError(f"{what}: line {line}: {col} {df[col].iloc[row]} appears more than once")


def _finish_ratings(df: pd.DataFrame, raw: bytes, what: str, header: bool) -> pd.DataFrame:
    r = df["rating"].to_numpy()
    bad = (r < 0.5) | (r > 5)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        line = int(_line_numbers(raw, np.array([row]), header)[0])
        raise DataError(f"{what}: line {line}: rating {r[row]:g} is outside 0.5..5 (corrupt file?)")
    return df


def _parse_ratings_tab(raw: bytes, what: str) -> pd.DataFrame:
    df = _read_table(raw, what, sep="\t", names=_RATINGS_NAMES, dtypes=_RATINGS_DTYPES)
    return _finish_ratings(df, raw, what, False)


def _parse_ratings_dat(raw: bytes, what: str) -> pd.DataFrame:
    return _parse_ratings_tab(raw.replace(b"::", b"\t"), what)


def _parse_ratings_csv(raw: bytes, what: str) -> pd.DataFrame:
    df = _read_table(raw, what, sep=",", names=_RATINGS_NAMES, dtypes=_RATINGS_DTYPES,
                     header=_CSV_RATINGS_HEADER, encoding="utf-8", quoted=True)
    return _finish_ratings(df, raw, what, True)


def _items_frame(item_id: pd.Series, title: pd.Series, genres: list[list[str]]) -> pd.DataFrame:
    year = pd.to_numeric(title.str.extract(_YEAR_RE, expand=False), errors="coerce").astype("Int64")
    return pd.DataFrame({"item_id": item_id.to_numpy(np.int64), "title": title.astype("str"),
                         "year": year, "genres": pd.Series(genres, dtype=object)})


def _parse_items_100k(raw: bytes, what: str) -> pd.DataFrame:
    flags = [f"g{i}" for i in range(len(GENRES_100K))]
    names = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *flags]
    dtypes = {"item_id": np.int64, "title": str, "release_date": str, "video_release_date": str,
              "imdb_url": str, **{f: np.int8 for f in flags}}
    df = _read_table(raw, what, sep="|", names=names, dtypes=dtypes)
    _check_unique(df, "item_id", raw, what, False)
    onehot = df[flags].to_numpy(bool)
    onehot[:, 0] = False  # "unknown" means no genre
    labels = np.array(GENRES_100K, dtype=object)
    genres = [labels[row].tolist() for row in onehot]
    return _items_frame(df["item_id"], df["title"], genres)


def _parse_items_dat(raw: bytes, what: str) -> pd.DataFrame:
    df = _read_table(raw.replace(b"::", b"\t"), what, sep="\t", names=["item_id", "title", "genres"],
                     dtypes={"item_id": np.int64, "title": str, "genres": str})
    _check_unique(df, "item_id", raw, what, False)
    return _items_frame(df["item_id"], df["title"], split_lists(df["genres"], empty=("", NO_GENRES)).tolist())


def _parse_items_csv(raw: bytes, what: str) -> pd.DataFrame:
    df = _read_table(raw, what, sep=",", names=["item_id", "title", "genres"],
                     dtypes={"item_id": np.int64, "title": str, "genres": str},
                     header=_CSV_MOVIES_HEADER, encoding="utf-8", quoted=True)
    _check_unique(df, "item_id", raw, what, True)
    return _items_frame(df["item_id"], df["title"], split_lists(df["genres"], empty=("", NO_GENRES)).tolist())


def _parse_users_100k(raw: bytes, what: str) -> pd.DataFrame:
    names = ["user_id", "age", "gender", "occupation", "zip"]
    df = _read_table(raw, what, sep="|", names=names,
                     dtypes={"user_id": np.int64, "age": np.int64, "gender": str,
                             "occupation": str, "zip": str})
    _check_unique(df, "user_id", raw, what, False)
    return df


def _parse_users_dat(raw: bytes, what: str) -> pd.DataFrame:
    names = ["user_id", "gender", "age", "occupation", "zip"]
    df = _read_table(raw.replace(b"::", b"\t"), what, sep="\t", names=names,
                     dtypes={"user_id": np.int64, "gender": str, "age": np.int64,
                             "occupation": np.int64, "zip": str})
    _check_unique(df, "user_id", raw, what, False)
    code = df["occupation"].to_numpy()
    bad = (code < 0) | (code >= len(OCCUPATIONS_1M))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        line = int(_line_numbers(raw, np.array([row]), False)[0])
        raise DataError(f"{what}: line {line}: occupation code {code[row]} is not in 0..20")
    occupation = np.array(OCCUPATIONS_1M, dtype=object)[code]
    return pd.DataFrame({"user_id": df["user_id"], "age": df["age"], "gender": df["gender"],
                         "occupation": pd.Series(occupation, dtype="str"), "zip": df["zip"]})


_PARSERS = {
    "100k": (_parse_ratings_tab, _parse_items_100k, _parse_users_100k),
    "dat": (_parse_ratings_dat, _parse_items_dat, _parse_users_dat),
    "csv": (_parse_ratings_csv, _parse_items_csv, None),
}


def _verify_extracted(name: str, filename: str, raw: bytes, what: str) -> None:
    """Warn when a user's extracted file differs from the GroupLens original (cheap: hashing
    a few MB takes milliseconds)."""
    known = _EXTRACTED_CHECKSUMS.get((name, filename))
    if known is None:
        return
    kind, expected = known
    if kind == "sha256":
        actual = hashlib.sha256(raw).hexdigest()
    else:
        actual = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
    if actual != expected:
        warnings.warn(
            f"{what}: {kind} {actual} differs from the GroupLens original ({expected}); "
            f"using it as is (edited, truncated at a line end or a different release?)",
            ChecksumWarning, stacklevel=4,
        )


# ----------------------------------------------------------------------------- public API
def _check_name(name: str) -> MovieLensInfo:
    info = SUPPORTED.get(name) if isinstance(name, str) else None
    if info is None:
        raise DataError(f"unknown MovieLens data set {name!r}; supported: {', '.join(SUPPORTED)}")
    return info


def _local_folder(info: MovieLensInfo, home: Path) -> _DirSource | None:
    """The extracted folder when it holds the ratings file (also ``ml-1m/ml-1m/``, the result
    of unzipping into a folder of the same name)."""
    for folder in (home / info.folder, home / info.folder / info.folder):
        source = _DirSource(folder)
        if source.has(info.ratings_file):
            return source
    return None


def _find_source(info: MovieLensInfo, home: Path) -> _DirSource | _ZipSource | None:
    folder = _local_folder(info, home)
    if folder is not None:
        return folder
    zip_path = home / info.archive.filename
    if zip_path.is_file():
        size = zip_path.stat().st_size
        if size != info.archive.size:
            warnings.warn(
                f"{zip_path}: {size:,} bytes, the GroupLens archive has {info.archive.size:,}; "
                f"using it anyway (each zip member carries a CRC-32, so corruption is still detected)",
                ChecksumWarning, stacklevel=3,
            )
        return _ZipSource(zip_path, info.folder)
    return None


def _missing(info: MovieLensInfo, home: Path) -> tuple[str, str]:
    """(why the data is absent, which file to put where)."""
    if (home / info.folder).is_dir():
        why = f"{info.folder}/{info.ratings_file} not found in {home}"
    else:
        why = f"neither {info.archive.filename} nor the folder {info.folder}/ is in {home}"
    hint = (f"put {info.archive.filename} or the extracted folder {info.folder}/ "
            f"(with {info.ratings_file}) in {home}")
    return why, hint


def load_movielens(name: str, data_home: str | os.PathLike | None = None, download: bool = True, *,
                   verbose: bool = True) -> Dataset:
    """Load a MovieLens release as a :class:`Dataset`.

    The data home (see :func:`get_data_home`) may hold the extracted folder (``ml-1m/``;
    ml-10m's is ``ml-10M100K/``; ``ratings.dat.gz`` is accepted for ``ratings.dat``) or the
    original zip (``ml-1m.zip``, read in place). The folder is used when it has the ratings
    file, else the zip; else, with ``download=True``, the zip is downloaded from GroupLens
    and verified (pinned size and sha256; ml-10m size only).

    Parameters
    ----------
    name : str
        One of ``ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-latest-small``.
    data_home : str or path-like, optional
        Overrides ``RECFM_DATA`` and the user cache directory.
    download : bool
        Download the archive when no local copy exists.
    verbose : bool
        Show a download progress bar on stderr.

    Returns
    -------
    Dataset
        ``interactions`` (user_id, item_id int64; rating float32; timestamp int64, in file
        order), ``items`` (item_id, title, year Int64 from the title's "(1995)", genres as a
        list of str; every movie of the movies file, rated or not), ``users`` (ml-100k/ml-1m:
        user_id, age, gender, occupation, zip; ml-1m's age is its group code 1, 18, 25, ...
        and its occupation codes are mapped to their README names; None otherwise).

    Raises
    ------
    DataError
        Unknown name (the message lists the supported ones); a needed file missing from
        the folder; a corrupt or truncated file (names the file and line).
    DataNotFoundError
        No local copy and no download possible: the message says which file to put where.

    Warns
    -----
    ChecksumWarning
        A local zip whose size differs from the GroupLens archive, or an extracted
        ml-100k/ml-1m file whose checksum differs from the original; it is used as is
        (it is the user's file).
    """
    info = _check_name(name)
    home = get_data_home(data_home)
    source = _find_source(info, home)
    if source is None:
        why, hint = _missing(info, home)
        if not download:
            raise DataNotFoundError(f"{name}: {why} (download=False); {hint}")
        source = _ZipSource(fetch_archive(name, home, hint=hint, progress=verbose), info.folder)
    parse_ratings, parse_items, parse_users = _PARSERS[info.layout]
    try:
        raw, what = source.read(info.ratings_file)
        if isinstance(source, _DirSource):
            _verify_extracted(name, info.ratings_file, raw, what)
        ratings = parse_ratings(raw, what)
        del raw
        raw, what = source.read(info.items_file)
        if isinstance(source, _DirSource):
            _verify_extracted(name, info.items_file, raw, what)
        items = parse_items(raw, what)
        users = None
        if info.users_file is not None:
            assert parse_users is not None, f"layout {info.layout!r} has users but no parser"
            raw, what = source.read(info.users_file)
            if isinstance(source, _DirSource):
                _verify_extracted(name, info.users_file, raw, what)
            users = parse_users(raw, what)
    finally:
        if isinstance(source, _ZipSource):
            source.close()
    return Dataset(name=name, interactions=ratings, users=users, items=items)


def movielens_status(data_home: str | os.PathLike | None = None) -> pd.DataFrame:
    """Which MovieLens releases are available locally (see ``datasets.dataset_status``).

    A release is *present* when its ratings file is available: in the extracted folder or
    through its zip.

    Parameters
    ----------
    data_home : str or path-like, optional
        Data home to inspect (see :func:`get_data_home`).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, present, location, note``; one row per entry of :data:`SUPPORTED`.
    """
    home = get_data_home(data_home)
    rows = []
    for info in SUPPORTED.values():
        folder = home / info.folder
        zip_path = home / info.archive.filename
        src = _local_folder(info, home)
        if src is not None:
            gz = not (src.folder / info.ratings_file).is_file()
            rows.append((info.name, True, str(src.folder),
                         f"extracted folder{' (' + info.ratings_file + '.gz)' if gz else ''}"))
        elif zip_path.is_file():
            rows.append((info.name, True, str(zip_path), "zip archive"))
        elif folder.is_dir():
            rows.append((info.name, False, str(folder),
                         f"{info.ratings_file} missing; put {info.archive.filename} in {home} "
                         f"or download it ({info.size_mb:.1f} MB)"))
        else:
            rows.append((info.name, False, str(zip_path),
                         f"not downloaded ({info.size_mb:.1f} MB, fetched on first use)"))
    return pd.DataFrame(rows, columns=["name", "present", "location", "note"])
