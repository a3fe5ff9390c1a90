"""The shared MovieLens copies (../shared/datasets or RECFM_DATA); skipped when absent."""
import time
import warnings

import pytest

from recfm.datasets import dataset_status, load_movielens
from recfm.datasets.movielens import _parse_items_dat, _parse_users_dat


def _has_ml1m_ratings(home):
    folder = home / "ml-1m"
    return any(p.is_file() for p in (folder / "ratings.dat", folder / "ratings.dat.gz", home / "ml-1m.zip"))


@pytest.fixture(scope="module")
def ml100k(movielens_home):
    if not ((movielens_home / "ml-100k" / "u.data").is_file() or (movielens_home / "ml-100k.zip").is_file()):
        pytest.skip(f"ml-100k/u.data not found in {movielens_home}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shared files match the GroupLens checksums
        return load_movielens("ml-100k", movielens_home, download=False)


def test_ml100k_counts(ml100k):
    x = ml100k.interactions
    assert len(x) == 100_000
    assert x["user_id"].nunique() == 943 and x["item_id"].nunique() == 1682
    assert x.iloc[0].tolist() == [196, 242, 3.0, 881250949]
    assert x["rating"].value_counts().sort_index().tolist() == [6110, 11370, 27145, 34174, 21201]
    assert (x["rating"] >= 4).sum() == 55_375


def test_ml100k_items_and_users(ml100k):
    items = ml100k.items.set_index("item_id")
    assert len(items) == 1682
    assert items.loc[1, "title"] == "Toy Story (1995)"
    assert items.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc[1, "year"] == 1995
    users = ml100k.users.set_index("user_id")
    assert len(users) == 943
    assert users.loc[1].tolist() == [24, "M", "technician", "85711"]


def test_ml1m_ratings(movielens_home):
    if not _has_ml1m_ratings(movielens_home):
        pytest.skip(f"ml-1m/ratings.dat not found in {movielens_home}")
    start = time.perf_counter()
    ds = load_movielens("ml-1m", movielens_home, download=False)
    elapsed = time.perf_counter() - start
    x = ds.interactions
    assert len(x) == 1_000_209
    assert x["user_id"].nunique() == 6040 and x["item_id"].nunique() == 3706
    assert elapsed < 3.0, f"loading ML-1M took {elapsed:.1f} s"


def test_ml1m_movies_and_users_files(movielens_home):
    folder = movielens_home / "ml-1m"
    if not (folder / "movies.dat").is_file():
        pytest.skip(f"ml-1m/movies.dat not found in {movielens_home}")
    movies = _parse_items_dat((folder / "movies.dat").read_bytes(), str(folder / "movies.dat"))
    assert len(movies) == 3883 and movies["item_id"].is_unique
    toy = movies.set_index("item_id").loc[1]
    assert (toy["title"], toy["year"]) == ("Toy Story (1995)", 1995)
    assert toy["genres"] == ["Animation", "Children's", "Comedy"]
    assert movies["year"].notna().all()
    assert all(1 <= len(g) <= 6 for g in movies["genres"])
    users = _parse_users_dat((folder / "users.dat").read_bytes(), str(folder / "users.dat"))
    assert len(users) == 6040
    assert users.set_index("user_id").loc[4].tolist() == [45, "M", "executive/managerial", "02460"]
    assert sorted(users["age"].unique()) == [1, 18, 25, 35, 45, 50, 56]
    assert users["gender"].value_counts().to_dict() == {"M": 4331, "F": 1709}


def test_status_of_shared_copy(movielens_home):
    status = dataset_status(movielens_home).set_index("name")
    if (movielens_home / "ml-100k" / "u.data").is_file():
        assert status.loc["ml-100k", "present"]
    if not _has_ml1m_ratings(movielens_home):
        assert not status.loc["ml-1m", "present"]
        assert status.loc["ml-1m", "note"].startswith("ratings.dat missing")
