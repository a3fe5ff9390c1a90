"""Which names load_dataset reads as files, and files with another separator than commas."""
from __future__ import annotations

import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import load_dataset
from recfm.datasets.files import names_a_file


def _log(path):
    pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4]}).to_csv(path, index=False)
    return path


def test_an_existing_file_of_any_name_is_a_file_and_a_name_is_a_name(tmp_path, monkeypatch):
    log = _log(tmp_path / "log.txt")
    assert names_a_file(str(log)) and names_a_file(str(tmp_path / "new.csv"))
    assert not names_a_file(str(tmp_path / "new.txt")) and not names_a_file("sample")
    pq = tmp_path / "pq"
    pq.mkdir()
    (pq / "part-0.parquet").write_bytes(b"")
    assert names_a_file(str(pq)) and not names_a_file(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _log(tmp_path / "sample")  # a data set's name stays that name
    assert not names_a_file("sample")
    assert load_dataset(str(log)).interactions["item_id"].tolist() == [3, 4]


@pytest.mark.parametrize("sep,kind", [("\t", "tab"), (";", "semicolon")])
def test_a_file_separated_otherwise_is_named_so(tmp_path, sep, kind):
    path = tmp_path / "log.csv"
    pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4]}).to_csv(path, sep=sep, index=False)
    with pytest.raises(DataError, match=f"log.csv looks {kind}-separated .*recfm reads "
                                        "comma-separated CSV"):
        load_dataset(str(path))


def test_a_one_column_file_with_no_separator_in_its_header_is_not_misread(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id\n1\n")
    with pytest.raises(DataError, match=r"is missing column\(s\) \['item_id'\]"):
        load_dataset(str(path))


def test_a_file_without_times_is_marked_untimed_and_one_with_times_is_not(tmp_path):
    from recfm.datasets import NO_TIMES, read_interactions_csv

    path = _log(tmp_path / "log.csv")
    data = read_interactions_csv(path)
    assert not data.timed and data.interactions.attrs[NO_TIMES] == str(path)
    assert data.interactions["timestamp"].tolist() == [0, 0]
    pd.read_csv(path).assign(timestamp=0).to_csv(path, index=False)
    data = read_interactions_csv(path)
    assert data.timed and NO_TIMES not in data.interactions.attrs
    assert load_dataset("sample").timed
