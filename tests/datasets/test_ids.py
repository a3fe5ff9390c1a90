"""Ids in CSV files are read as written: int64 only when every id is a canonical integer,
else the text unchanged; ids from two sources compare by how they were written."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.datasets import load_with_attributes, read_attributes_csv, read_interactions_csv
from recfm.datasets.ids import as_ids, canonical_ints, ids_like, kind_note, parse_ids

TEXTS = ["0", "7", "-7", "007", "+7", " 7", "7 ", "-0", "00", "1_000", "1.0", "1e3", "0x1f",
         "9223372036854775807", "9223372036854775808", "-9223372036854775808",
         "-9223372036854775809", "12345678901234567890123", "NA", "u3", "", "٣"]


def _by_hand(text: str) -> bool:
    """The definition: the text is str(int(text)) for a value int64 holds."""
    try:
        value = int(text)
    except ValueError:
        return False
    return str(value) == text and -2**63 <= value < 2**63


def test_canonical_ints_follow_the_definition():
    ok, values = canonical_ints(pd.Series(TEXTS, dtype="str"))
    assert ok.tolist() == [_by_hand(t) for t in TEXTS]
    assert values[ok].tolist() == [int(t) for t in TEXTS if _by_hand(t)]
    assert parse_ids(pd.Series(["3", "-1", "9223372036854775807"])).dtype == np.int64
    for odd in TEXTS:
        if not _by_hand(odd):
            column = pd.Series(["1", odd, "2"], dtype="str")
            assert parse_ids(column).tolist() == ["1", odd, "2"], odd


def test_a_column_is_int64_exactly_when_each_of_its_ids_is_canonical():
    for a in TEXTS:
        for b in TEXTS:
            column = parse_ids(pd.Series([a, b], dtype=object))
            if _by_hand(a) and _by_hand(b):
                assert column.dtype == np.int64 and column.tolist() == [int(a), int(b)]
            else:
                assert column.tolist() == [a, b], (a, b)
    rng = np.random.default_rng(0)
    ints = np.concatenate([rng.integers(-2**63, 2**63 - 1, 1000, dtype=np.int64),
                           np.array([0, 9, 10, -10, 2**63 - 1, -2**63])])
    assert parse_ids(pd.Series([str(v) for v in ints.tolist()], dtype=object)).tolist() == \
        ints.tolist()


def _log(tmp_path, text, name="log.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_leading_zeros_keep_their_ids_apart(tmp_path):
    log = read_interactions_csv(_log(
        tmp_path, "user_id,item_id\n007,00013\n007,B\n7,C\n8,00013\n")).interactions
    assert log["user_id"].tolist() == ["007", "007", "7", "8"]
    assert log["item_id"].tolist() == ["00013", "B", "C", "00013"]
    assert log["user_id"].nunique() == 3


def test_integer_logs_stay_int64_under_their_own_column_names(tmp_path):
    log = read_interactions_csv(_log(tmp_path, "u,i,r\n1,10,5\n2,20,4\n"), user_column="u",
                                item_column="i", rating_column="r").interactions
    assert log["user_id"].dtype == np.int64 and log["item_id"].dtype == np.int64
    renamed = read_interactions_csv(_log(tmp_path, "u,i\n01,10\n2,20\n", "zero.csv"),
                                    user_column="u", item_column="i").interactions
    assert renamed["user_id"].tolist() == ["01", "2"] and renamed["item_id"].dtype == np.int64


def test_missing_value_words_are_ids_and_only_an_empty_cell_is_missing(tmp_path):
    log = read_interactions_csv(_log(
        tmp_path, "user_id,item_id\nNA,None\nnull,NaN\n1,n/a\n")).interactions
    assert log["user_id"].tolist() == ["NA", "null", "1"]
    assert log["item_id"].tolist() == ["None", "NaN", "n/a"]
    with pytest.raises(DataError, match=r"empty.csv column 'user_id' has 1 missing .* line 3"):
        read_interactions_csv(_log(tmp_path, "user_id,item_id\n1,2\n,3\n", "empty.csv"))
    # outside the id columns pandas' words still mean missing
    with pytest.raises(DataError, match=r"column 'rating' has 1 missing .* line 2"):
        read_interactions_csv(_log(tmp_path, "user_id,item_id,rating\n1,2,NA\n", "rating.csv"))
    users = read_attributes_csv(_log(tmp_path, "user_id,age\nNA,3\nnull,NA\n", "users.csv"),
                                "user_id")
    assert users["user_id"].tolist() == ["NA", "null"] and np.isnan(users["age"][1])


def test_a_23_digit_id_is_text_like_the_rest_of_its_column(tmp_path):
    log = read_interactions_csv(_log(
        tmp_path, "user_id,item_id\n12345678901234567890123,1\n5,2\n")).interactions
    assert log["user_id"].tolist() == ["12345678901234567890123", "5"]
    assert all(isinstance(v, str) for v in log["user_id"])


def test_ids_like_compares_by_the_written_text():
    text, ints = pd.Index(["1", "u3"]), pd.Index([1, 5])
    assert ids_like([1, 7], text).tolist() == ["1", "7"]
    assert ids_like(pd.Index([1, 7]), text).tolist() == ["1", "7"]
    assert ids_like(["5"], ints).dtype == np.int64
    assert ids_like(["5", "007", "new"], ints).tolist() == [5, "007", "new"]
    assert ids_like(["5", "007"], ints).get_indexer(ints).tolist() == [-1, 0]
    assert ids_like(["x"], text).tolist() == ["x"]
    assert ids_like([1, "u3", 2.5], text).tolist() == ["1", "u3", 2.5]  # a Python list of kinds


def test_as_ids_takes_one_id_or_any_collection_in_its_order():
    for values in ([3, 1], (3, 1), (v for v in (3, 1)), np.array([3, 1]), pd.Series([3, 1]),
                   pd.Index([3, 1]), {3: "a", 1: "b"}):
        assert as_ids(values, "ids").tolist() == [3, 1]
    assert as_ids({5}, "ids").tolist() == [5]
    assert as_ids("u1", "ids").tolist() == ["u1"] and as_ids(7, "ids").tolist() == [7]
    assert as_ids(np.int64(7), "ids").tolist() == [7] and as_ids(np.array(7), "ids").tolist() == [7]
    assert as_ids([("a", 1)], "ids").tolist() == [("a", 1)]  # a tuple id, not a MultiIndex
    with pytest.raises(TypeError, match="ids must be ids, not a DataFrame"):
        as_ids(pd.DataFrame({"user_id": [1]}), "ids")
    with pytest.raises(ValueError, match=r"ids must be one id or a 1-D collection .* \(1, 2\)"):
        as_ids(np.zeros((1, 2)), "ids")


def test_kind_note_names_the_kind_an_unknown_id_is_not():
    ints, text = pd.Index([1, 5]), pd.Index(["1", "u3"])
    assert kind_note(pd.Index([9]), ints, "user") == ""
    assert kind_note(pd.Index(["u9"]), text, "user") == ""
    assert kind_note(pd.Index([9, "007"], dtype=object), ints, "user") == (
        "; the model's user ids are integers ('007' is text not written as an integer is: "
        "'7' matches 7, '007' and '7.0' do not)")
    assert kind_note(pd.Index([1.5]), ints, "item") == (
        "; the model's item ids are integers (1.5 is a float)")
    assert kind_note(pd.Index([2.5]), text, "user") == "; the model's user ids are text (2.5 is a float)"
    assert kind_note(pd.Index([1.5]), pd.Index([1.0, 2.0]), "user") == ""  # only these two kinds


def test_a_log_and_attribute_files_of_either_kind_meet_by_text(tmp_path):
    log = _log(tmp_path, "user_id,item_id\n1,A\n2,B\nu3,A\n")
    users = _log(tmp_path, "user_id,age\n1,20\n2,30\n", "users.csv")
    data, notes = load_with_attributes(log, users=users)
    assert data.interactions["user_id"].tolist() == ["1", "2", "u3"]
    assert data.users["user_id"].tolist() == ["1", "2"]
    assert notes and "1 of the log's 3 users have no row" in notes[0]
    # the other way round: text attributes (one id with a leading zero), an integer log
    log = _log(tmp_path, "user_id,item_id\n1,A\n2,B\n", "int.csv")
    users = _log(tmp_path, "user_id,age\n1,20\n02,30\n", "zero_users.csv")
    data, notes = load_with_attributes(log, users=users)
    assert data.interactions["user_id"].tolist() == ["1", "2"]
    assert notes and "1 of the log's 2 users have no row" in notes[0]
