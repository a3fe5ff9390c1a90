"""Parsing of each GroupLens layout on tiny hand-made files (folder, zip and .gz variants)."""
import numpy as np
import pytest

from recfm._utils import DataError
from recfm.datasets import (
    DATASET_NAMES,
    SUPPORTED,
    ChecksumWarning,
    dataset_status,
    load_movielens,
)

# The tiny files are not the GroupLens originals: silence the checksum warnings they cause.
pytestmark = pytest.mark.filterwarnings("ignore::recfm.datasets.ChecksumWarning")


def _check_interactions(ds, n):
    x = ds.interactions
    assert list(x.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert [str(t) for t in x.dtypes] == ["int64", "int64", "float32", "int64"]
    assert len(x) == n
    assert ds.context_columns == ()


@pytest.mark.parametrize("as_zip", [False, True])
def test_ml100k_layout(movielens_files, as_zip):
    ds = load_movielens("ml-100k", movielens_files("ml-100k", as_zip=as_zip), download=False)
    _check_interactions(ds, 3)
    assert ds.interactions.iloc[0].tolist() == [1, 10, 4.0, 881250949]
    items = ds.items.set_index("item_id")
    assert items.loc[10, "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc[20, "title"] == "Café Society: Part 2 (1996)"  # latin-1
    assert items.loc[20, "genres"] == ["Drama"]
    assert items.loc[30, "genres"] == []  # only the "unknown" flag
    assert items.loc[10, "year"] == 1995 and items["year"].isna().sum() == 1
    assert list(ds.users.columns) == ["user_id", "age", "gender", "occupation", "zip"]
    assert ds.users["zip"].tolist() == ["85711", "T8H1N"]


@pytest.mark.parametrize("variant", ["folder", "zip", "gz"])
def test_ml1m_layout(movielens_files, variant):
    home = movielens_files("ml-1m", as_zip=variant == "zip", gz=("ratings.dat",) if variant == "gz" else ())
    ds = load_movielens("ml-1m", home, download=False)
    _check_interactions(ds, 3)
    assert ds.interactions["rating"].tolist() == [4.0, 3.0, 5.0]
    items = ds.items.set_index("item_id")
    assert items.loc[20, "title"] == "Café: The Movie (1996)"  # ':' inside a title survives
    assert items.loc[10, "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc[20, "year"] == 1996
    users = ds.users.set_index("user_id")
    assert users.loc[1].tolist() == [1, "F", "K-12 student", "48067"]
    assert users.loc[2, "occupation"] == "self-employed"
    assert users.loc[2, "zip"] == "02460"  # leading zero kept


@pytest.mark.parametrize("as_zip", [False, True])
def test_ml10m_layout(movielens_files, as_zip):
    home = movielens_files("ml-10m", as_zip=as_zip)
    if not as_zip:
        assert (home / "ml-10M100K" / "ratings.dat").is_file()
    ds = load_movielens("ml-10m", home, download=False)
    _check_interactions(ds, 2)
    assert ds.interactions["rating"].tolist() == [4.5, 0.5]
    assert ds.users is None
    assert ds.items.set_index("item_id").loc[20, "genres"] == []  # (no genres listed)


@pytest.mark.parametrize("name", ["ml-20m", "ml-25m", "ml-latest-small"])
@pytest.mark.parametrize("as_zip", [False, True])
def test_csv_layout(movielens_files, name, as_zip):
    ds = load_movielens(name, movielens_files(name, as_zip=as_zip), download=False)
    _check_interactions(ds, 3)
    assert ds.interactions["rating"].tolist() == [3.5, 4.0, 1.0]
    assert ds.users is None
    items = ds.items.set_index("item_id")
    assert items.loc[10, "title"] == "American President, The (1995)"  # quoted comma
    assert items.loc[10, "genres"] == ["Comedy", "Drama", "Romance"]
    assert items.loc[20, "genres"] == []
    assert items.loc[20, "year"] == 1994  # "(1994-1998)" gives the first year


def test_folder_wins_over_zip(movielens_files):
    movielens_files("ml-1m", as_zip=True, replace={"ratings.dat": b"9::9::1::1\n"})
    home = movielens_files("ml-1m")
    assert load_movielens("ml-1m", home, download=False).interactions["user_id"].tolist() == [1, 1, 2]


def test_folder_unzipped_into_its_own_name(movielens_files, tmp_path):
    home = movielens_files("ml-1m")
    (home / "ml-1m").rename(tmp_path / "inner")
    (home / "ml-1m").mkdir()
    (tmp_path / "inner").rename(home / "ml-1m" / "ml-1m")
    assert len(load_movielens("ml-1m", home, download=False).interactions) == 3
    assert dataset_status(home).set_index("name").loc["ml-1m", "present"]


def test_zip_used_when_folder_lacks_ratings(movielens_files):
    home = movielens_files("ml-1m", as_zip=True)
    (home / "ml-1m").mkdir()
    (home / "ml-1m" / "movies.dat").write_bytes(b"1::A (1990)::Drama\n")
    assert len(load_movielens("ml-1m", home, download=False).interactions) == 3


def test_unknown_name_lists_supported():
    with pytest.raises(DataError) as err:
        load_movielens("ml-2m")
    for name in SUPPORTED:
        assert name in str(err.value)


@pytest.mark.parametrize("missing", ["movies.dat", "users.dat"])
def test_folder_missing_a_needed_file(movielens_files, missing):
    home = movielens_files("ml-1m", drop=(missing,))
    with pytest.raises(DataError, match=f"ml-1m/{missing} not found"):
        load_movielens("ml-1m", home, download=False)


def test_zip_missing_a_member(movielens_files):
    home = movielens_files("ml-100k", as_zip=True, drop=("u.user",))
    with pytest.raises(DataError, match=r"ml-100k\.zip has no member ml-100k/u\.user"):
        load_movielens("ml-100k", home, download=False)


GOOD = b"1::10::4::978300760\n"
AT = r"ratings\.dat: line "


@pytest.mark.parametrize(
    "content, pattern",
    [
        (GOOD + b"1::20::3::978302109::7\n", AT + r"2 has 5 fields, expected 4"),
        (GOOD + b"1::20::3::978302109\n2::10::5", AT + r"3: field 'timestamp' is missing"),
        (GOOD + b"1::20::x::978302109\n", AT + r"2: field 'rating' = 'x' is not a number"),
        (GOOD + b"ab::20::3::978302109\n", AT + r"2: field 'user_id' = 'ab' is not an integer"),
        (GOOD + b"1::20::nan::978302109\n", AT + r"2: field 'rating' = 'nan' is not a number"),
        (GOOD + b"1::20::::978302109\n", AT + r"2: field 'rating' is missing or NaN"),
        (GOOD + b"\n1::20::9::978302109\n", AT + r"3: rating 9 is outside 0\.5\.\.5"),
        (b"", r"ratings\.dat: no data rows"),
    ],
)
def test_corrupt_ratings_name_file_and_line(movielens_files, content, pattern):
    home = movielens_files("ml-1m", replace={"ratings.dat": content})
    with pytest.raises(DataError, match=pattern):
        load_movielens("ml-1m", home, download=False)


def test_corrupt_tab_and_csv_files(movielens_files):
    home = movielens_files("ml-100k", replace={"u.data": b"1\t10\t4\t881250949\n1\t20\n"})
    with pytest.raises(DataError, match=r"u\.data: line 2: field 'rating' is missing"):
        load_movielens("ml-100k", home, download=False)
    csv = b"userId,movieId,rating,timestamp\n1,10,3.5,1\n1,x,4,2\n"
    home = movielens_files("ml-20m", replace={"ratings.csv": csv})
    with pytest.raises(DataError, match=r"ratings\.csv: line 3: field 'item_id' = 'x' is not an integer"):
        load_movielens("ml-20m", home, download=False)


def test_csv_header_is_checked(movielens_files):
    home = movielens_files("ml-20m", replace={"ratings.csv": b"user,item,rating,timestamp\n1,10,3.5,1\n"})
    with pytest.raises(DataError, match=r"ratings\.csv: header is \['user', 'item'"):
        load_movielens("ml-20m", home, download=False)


def test_duplicate_item_id(movielens_files):
    home = movielens_files("ml-1m", replace={"movies.dat": b"1::A (1990)::Drama\n1::B (1991)::Drama\n"})
    with pytest.raises(DataError, match=r"movies\.dat: line 2: item_id 1 appears more than once"):
        load_movielens("ml-1m", home, download=False)


def test_truncated_zip_names_the_zip(movielens_files):
    home = movielens_files("ml-1m", as_zip=True)
    path = home / "ml-1m.zip"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"ml-1m\.zip: not a valid zip archive"):
        load_movielens("ml-1m", home, download=False)


def test_corrupt_zip_member_names_the_zip(movielens_files):
    home = movielens_files("ml-1m", as_zip=True)
    path = home / "ml-1m.zip"
    data = bytearray(path.read_bytes())
    i = data.index(b"ml-1m/ratings.dat") + len("ml-1m/ratings.dat") + 2  # inside the compressed data
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"ml-1m\.zip: member ml-1m/ratings\.dat is corrupt"):
        load_movielens("ml-1m", home, download=False)


def test_truncated_gzip_names_the_file(movielens_files):
    home = movielens_files("ml-1m", gz=("ratings.dat",))
    path = home / "ml-1m" / "ratings.dat.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"ratings\.dat\.gz: corrupt or truncated gzip file"):
        load_movielens("ml-1m", home, download=False)


def test_modified_extracted_file_warns(movielens_files):
    home = movielens_files("ml-100k")
    with pytest.warns(ChecksumWarning, match=r"u\.data: sha256 .* differs from the GroupLens original"):
        load_movielens("ml-100k", home, download=False)


def test_foreign_zip_warns_but_loads(movielens_files):
    home = movielens_files("ml-100k", as_zip=True)
    with pytest.warns(ChecksumWarning, match=r"ml-100k\.zip: .* bytes, the GroupLens archive has 4,924,029"):
        load_movielens("ml-100k", home, download=False)


def test_dataset_status(movielens_files):
    home = movielens_files("ml-1m", drop=("ratings.dat",))
    movielens_files("ml-100k", as_zip=True)
    movielens_files("ml-20m")
    status = dataset_status(home).set_index("name")
    assert list(status.columns) == ["present", "location", "note"]
    assert list(status.index) == ["synthetic", "sample", "synthetic-ml-1m", "synthetic-ml-20m",
                                  *SUPPORTED]
    assert set(status.index) == set(DATASET_NAMES)  # every name load_dataset accepts
    assert status.loc[["synthetic", "sample", "synthetic-ml-1m"], "present"].all()
    assert not status.loc["ml-1m", "present"]
    assert status.loc["ml-1m", "note"].startswith("ratings.dat missing")
    assert status.loc["ml-1m", "location"] == str(home / "ml-1m")
    assert status.loc["ml-100k", "present"] and status.loc["ml-100k", "location"].endswith("ml-100k.zip")
    assert status.loc["ml-20m", "present"] and status.loc["ml-20m", "note"] == "extracted folder"
    assert not status.loc["ml-25m", "present"] and "not downloaded" in status.loc["ml-25m", "note"]
    assert status["present"].dtype == np.bool_
