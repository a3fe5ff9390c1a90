import hashlib
import warnings
from pathlib import Path

import pytest

from recfm._utils import DataError
from recfm.datasets import (
    ARCHIVES,
    Archive,
    DataNotFoundError,
    download,
    fetch_archive,
    load_movielens,
    verify_file,
)


def _fake_get(content: bytes, calls: list):
    def get(url, path, progress):
        calls.append(url)
        Path(path).write_bytes(content)
    return get


def _leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir()) if home.exists() else []


def test_size_mismatch_names_file_and_is_not_kept(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(download, "_http_get", _fake_get(b"<html>not a zip</html>", calls))
    with pytest.raises(DataError) as err:
        fetch_archive("ml-100k", tmp_path)
    msg = str(err.value)
    assert "ml-100k.zip" in msg and "expected 4,924,029 bytes, got 22" in msg
    assert _leftovers(tmp_path) == []  # neither the final name nor the temporary file
    assert len(calls) == 1


def test_sha256_mismatch_names_expected_and_actual(monkeypatch, tmp_path):
    good, bad = b"A" * 100, b"B" * 100
    expected = hashlib.sha256(good).hexdigest()
    monkeypatch.setitem(ARCHIVES, "ml-1m", Archive("ml-1m.zip", "https://example/ml-1m.zip", 100, expected))
    monkeypatch.setattr(download, "_http_get", _fake_get(bad, []))
    with pytest.raises(DataError) as err:
        fetch_archive("ml-1m", tmp_path)
    msg = str(err.value)
    assert "ml-1m.zip" in msg and "sha256 mismatch" in msg
    assert expected in msg and hashlib.sha256(bad).hexdigest() in msg
    assert _leftovers(tmp_path) == []


def test_verified_download_is_renamed_and_loaded(monkeypatch, tmp_path, tiny_zip_bytes):
    data = tiny_zip_bytes("ml-1m")
    monkeypatch.setitem(ARCHIVES, "ml-1m", Archive("ml-1m.zip", "https://example/ml-1m.zip", len(data),
                                                   hashlib.sha256(data).hexdigest()))
    calls = []
    monkeypatch.setattr(download, "_http_get", _fake_get(data, calls))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a verified archive raises no ChecksumWarning
        ds = load_movielens("ml-1m", data_home=tmp_path, verbose=False)
        assert len(ds.interactions) == 3
        assert _leftovers(tmp_path) == ["ml-1m.zip"]
        load_movielens("ml-1m", data_home=tmp_path)
    assert len(calls) == 1  # the second load read the saved zip


def test_size_only_check_when_no_checksum_is_pinned(monkeypatch, tmp_path):
    monkeypatch.setitem(ARCHIVES, "ml-10m", Archive("ml-10m.zip", "https://example/ml-10m.zip", 5, None))
    monkeypatch.setattr(download, "_http_get", _fake_get(b"12345", []))
    assert fetch_archive("ml-10m", tmp_path) == tmp_path / "ml-10m.zip"
    assert ARCHIVES["ml-10m"].sha256 is None


def test_existing_file_is_never_overwritten(monkeypatch, tmp_path):
    (tmp_path / "ml-100k.zip").write_bytes(b"user's own file")
    calls = []
    monkeypatch.setattr(download, "_http_get", _fake_get(b"x", calls))
    assert fetch_archive("ml-100k", tmp_path) == tmp_path / "ml-100k.zip"
    assert (tmp_path / "ml-100k.zip").read_bytes() == b"user's own file"
    assert calls == []


def test_no_network_says_which_file_to_put_where(tmp_path):
    with pytest.raises(DataNotFoundError) as err:  # conftest makes every download fail
        load_movielens("ml-1m", data_home=tmp_path)
    msg = str(err.value)
    assert "could not download https://files.grouplens.org/datasets/movielens/ml-1m.zip" in msg
    assert f"put ml-1m.zip or the extracted folder ml-1m/ (with ratings.dat) in {tmp_path}" in msg
    assert _leftovers(tmp_path) == []


def test_download_false_says_which_file_to_put_where(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_movielens("ml-10m", data_home=tmp_path, download=False)
    msg = str(err.value)
    assert "download=False" in msg
    assert f"put ml-10m.zip or the extracted folder ml-10M100K/ (with ratings.dat) in {tmp_path}" in msg


def test_verify_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    verify_file(path, 3, hashlib.sha256(b"abc").hexdigest())
    with pytest.raises(DataError, match=r"f\.bin: size mismatch, expected 4 bytes, got 3"):
        verify_file(path, 4, None)


def test_pinned_archives_match_the_manifest():
    assert ARCHIVES["ml-1m"].size == 5_917_549
    assert ARCHIVES["ml-1m"].sha256 == "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
    assert ARCHIVES["ml-20m"].sha256.startswith("96f243c3")
    assert all(a.url.startswith("https://files.grouplens.org/") for a in ARCHIVES.values())
