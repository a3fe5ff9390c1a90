"""Fixtures for the datasets tests.

``movielens_home``: the MovieLens data home (``RECFM_DATA``, else ``<repo>/../shared/datasets``),
skipping when neither exists. ``movielens_files``: writes tiny hand-made MovieLens files in
each GroupLens layout. An autouse fixture makes every download fail, so no test touches
the network.
"""
from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def movielens_data_home() -> Path | None:
    """RECFM_DATA if set, else <repo>/../shared/datasets; None when that folder is absent."""
    env = os.environ.get("RECFM_DATA", "").strip()
    path = Path(env).expanduser() if env else REPO.parent / "shared" / "datasets"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def movielens_home() -> Path:
    path = movielens_data_home()
    if path is None:
        pytest.skip("no MovieLens data home: set RECFM_DATA or provide ../shared/datasets")
    return path


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def offline(url: str, path: Path, progress: bool) -> None:
        raise requests.exceptions.ConnectionError(f"network disabled in tests ({url})")

    monkeypatch.setattr("recfm.datasets.download._http_get", offline)


# Tiny files in each layout. Latin-1 bytes (\xe9) and a title with ':' are deliberate.
TINY: dict[str, dict[str, bytes]] = {
    "ml-100k": {
        "u.data": b"1\t10\t4\t881250949\n1\t20\t3\t881250950\n2\t10\t5\t881250951\n",
        "u.item": (
            b"10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
            b"20|Caf\xe9 Society: Part 2 (1996)|01-Jan-1996||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
            b"30|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        ),
        "u.user": b"1|24|M|technician|85711\n2|53|F|other|T8H1N\n",
    },
    "ml-1m": {
        "ratings.dat": b"1::10::4::978300760\n1::20::3::978302109\n2::10::5::978301968\n",
        "movies.dat": b"10::Toy Story (1995)::Animation|Children's|Comedy\n"
                      b"20::Caf\xe9: The Movie (1996)::Drama\n",
        "users.dat": b"1::F::1::10::48067\n2::M::56::16::02460\n",
    },
    "ml-10m": {
        "ratings.dat": b"1::10::4.5::838985046\n2::20::0.5::838983525\n",
        "movies.dat": b"10::Toy Story (1995)::Adventure|Animation\n"
                      b"20::Some Film (2009)::(no genres listed)\n",
    },
    "ml-20m": {
        "ratings.csv": b"userId,movieId,rating,timestamp\n1,10,3.5,1112486027\n1,20,4.0,1112484676\n"
                       b"3,10,1.0,1112484819\n",
        "movies.csv": b"movieId,title,genres\n"
                      b'10,"American President, The (1995)",Comedy|Drama|Romance\n'
                      b"20,Babylon 5 (1994-1998),(no genres listed)\n",
    },
}
TINY["ml-25m"] = TINY["ml-latest-small"] = TINY["ml-20m"]
FOLDERS = {"ml-10m": "ml-10M100K"}


@pytest.fixture
def movielens_files(tmp_path: Path) -> Callable[..., Path]:
    """``make(name, *, as_zip=False, gz=(), replace={}, drop=())`` -> data home with tiny files.

    ``gz`` names files stored gzip-compressed as ``<file>.gz``; ``replace`` maps file names
    to new contents; ``drop`` leaves files out.
    """

    def make(name: str, *, as_zip: bool = False, gz: tuple[str, ...] = (),
             replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> Path:
        home = tmp_path / "home"
        folder = FOLDERS.get(name, name)
        files = {**TINY[name], **(replace or {})}
        files = {k: v for k, v in files.items() if k not in drop}
        if as_zip:
            home.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(home / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
                for fname, data in files.items():
                    zf.writestr(f"{folder}/{fname}", data)
        else:
            (home / folder).mkdir(parents=True, exist_ok=True)
            for fname, data in files.items():
                if fname in gz:
                    (home / folder / f"{fname}.gz").write_bytes(gzip.compress(data))
                else:
                    (home / folder / fname).write_bytes(data)
        return home

    return make


def zip_bytes(name: str) -> bytes:
    """A valid tiny archive for ``name`` in memory (for fake downloads)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for fname, data in TINY[name].items():
            zf.writestr(f"{FOLDERS.get(name, name)}/{fname}", data)
    return buf.getvalue()


@pytest.fixture
def tiny_zip_bytes() -> Callable[[str], bytes]:
    """``tiny_zip_bytes(name)``: bytes of a valid tiny archive, for fake downloads."""
    return zip_bytes
