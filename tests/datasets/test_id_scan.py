"""The fast path of reading CSV ids: pandas' own integer parse is taken only when the file's
bytes show no integer written other than canonically, and it reads what the text path
reads, byte for byte."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from recfm.datasets import ids as ids_module
from recfm.datasets.files import read_table
from recfm.datasets.ids import integers_written_canonically, parse_ids

from .test_ids import TEXTS

# cells pandas may read as integers although they are not written canonically
NOT_CANONICAL = ["007", "+7", " 7", "7 ", "-0", "00", '"7"', "-07"]
PLAIN = ["0", "7", "-7", "123", "u3", "sku-1", "1.5", "0.5", "x y"]


def _text_path(path) -> pd.DataFrame:
    """The reference: every id cell as a Python string, typed by parse_ids."""
    df = pd.read_csv(path, dtype={"user_id": object, "item_id": object},
                     keep_default_na=False, na_values={"user_id": [""], "item_id": [""]})
    return df.assign(user_id=parse_ids(df.user_id), item_id=parse_ids(df.item_id))


@pytest.mark.parametrize("cell", NOT_CANONICAL)
@pytest.mark.parametrize("column", [0, 1, 2])
def test_a_non_canonical_integer_anywhere_is_seen(tmp_path, cell, column):
    rows = [["1", "2", "3"], ["4", "5", "6"]]
    rows[1][column] = cell
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,rating\n" + "\n".join(",".join(r) for r in rows) + "\n")
    assert not integers_written_canonically(path)


@pytest.mark.parametrize("slice_bytes", [1, 2, 3, 5, 1 << 25])
def test_the_scan_agrees_with_the_cells_across_slice_boundaries(tmp_path, monkeypatch,
                                                                  slice_bytes):
    monkeypatch.setattr(ids_module, "_SCAN_BYTES", slice_bytes)
    rng = np.random.default_rng(slice_bytes)
    for trial in range(40):
        cells = rng.choice(PLAIN + NOT_CANONICAL if trial % 2 else PLAIN, size=(6, 2))
        path = tmp_path / f"log{trial}.csv"
        end = "" if trial % 3 == 0 else "\n"  # with and without a last line break
        path.write_text("user_id,item_id\n" + "\n".join(",".join(r) for r in cells) + end)
        want = not any(c in NOT_CANONICAL for c in cells.ravel())
        assert integers_written_canonically(path) == want, cells


def test_compressed_files_are_not_scanned(tmp_path):
    path = tmp_path / "log.csv.gz"
    pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4]}).to_csv(path, index=False)
    assert not integers_written_canonically(path)


@pytest.mark.parametrize("seed", range(12))
def test_the_fast_read_equals_the_text_read(tmp_path, seed):
    rng = np.random.default_rng(seed)
    pool = [t for t in TEXTS if t not in ("", " 7", "7 ")] + ["NA", "null", "True", "1.50"]
    n = 30
    kind = seed % 4
    if kind == 0:  # integer ids: the fast path
        users, items = rng.integers(0, 50, n).astype(str), rng.integers(0, 9, n).astype(str)
    elif kind == 1:  # text ids
        users, items = np.char.add("u", rng.integers(0, 9, n).astype(str)), \
            rng.integers(0, 9, n).astype(str)
    elif kind == 2:  # integers, some written with a leading zero or a sign
        users = rng.choice(["7", "8", "007", "+9", "-0", "12"], n)
        items = rng.integers(0, 9, n).astype(str)
    else:  # anything, leading zeros and words included
        users, items = rng.choice(pool, n), rng.choice(pool, n)
    path = tmp_path / "log.csv"
    pd.DataFrame({"user_id": users, "item_id": items,
                  "rating": rng.integers(1, 6, n)}).to_csv(path, index=False)
    got = read_table(path)
    want = _text_path(path)
    pd.testing.assert_series_equal(got.user_id, want.user_id, check_dtype=True)
    pd.testing.assert_series_equal(got.item_id, want.item_id, check_dtype=True)
    if kind == 0:
        assert got.user_id.dtype == np.int64 and integers_written_canonically(path)


def test_ids_with_spaces_around_them_are_kept_and_warned_about(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\na, x\na,x\nb,y \n")
    # the reader checks for spaces on the text path only: the scan must send such a file there
    assert not integers_written_canonically(path)
    with pytest.warns(UserWarning, match=r"'item_id' has 2 id\(s\) with spaces.*' x'.*'x'"):
        got = read_table(path)
    assert got.item_id.tolist() == [" x", "x", "y "]
    path.write_text("user_id,item_id\na,x y\nb,7\n")  # a space inside an id is an id
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_table(path).item_id.tolist() == ["x y", "7"]
