"""prepare_interactions and evaluate_recommendations on a LocalCluster equal the pandas path."""
from __future__ import annotations

import dask
import dask.callbacks
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from recfm._utils import DataError
from recfm.distributed import evaluate_recommendations, prepare_interactions
from recfm.evaluation import metrics_from_frames
from recfm.recommenders import Popularity
from recfm.split import k_core, random_split


def _same_csr(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_prepare_equals_the_pandas_path(synthetic, client, tmp_path, fmt, capsys):
    df = synthetic.interactions.copy()
    df = pd.concat([df, df.iloc[:500]], ignore_index=True)  # duplicates count once
    ddf = dd.from_pandas(df, npartitions=5)
    if fmt == "parquet":
        ddf.to_parquet(tmp_path / "log")
    else:
        ddf.to_csv(tmp_path / "log-*.csv", index=False)
    path = tmp_path / "log" if fmt == "parquet" else tmp_path / "log-*.csv"
    got = prepare_interactions(str(path), min_rating=3, k_core=12, client=client)
    assert "CSR with" in capsys.readouterr().err  # the memory estimate, before building
    ref = Popularity().fit(k_core(df[df["rating"] >= 3], 12))  # recfm's pandas path
    assert got.user_ids.equals(ref.user_ids_) and got.item_ids.equals(ref.item_ids_)
    _same_csr(got.matrix, ref.seen_)
    assert 0 < got.matrix.shape[0] < df["user_id"].nunique()  # the filters did remove users
    back = Popularity().fit(got.to_frame())
    _same_csr(back.seen_, got.matrix)


def test_prepare_without_filters_and_from_a_dask_frame(synthetic, client):
    df = synthetic.interactions
    got = prepare_interactions(dd.from_pandas(df, npartitions=3), verbose=False)
    ref = Popularity().fit(df)
    assert got.user_ids.equals(ref.user_ids_)
    _same_csr(got.matrix, ref.seen_)


def test_prepare_names_the_missing_column(client, tmp_path):
    pd.DataFrame({"user": [1, 2], "item_id": [3, 4]}).to_parquet(tmp_path / "log.parquet")
    with pytest.raises(DataError, match=r"log.parquet.*\['user_id'\]"):
        prepare_interactions(str(tmp_path / "log.parquet"))
    pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4]}).to_parquet(tmp_path / "l2.parquet")
    with pytest.raises(DataError, match="rating"):
        prepare_interactions(str(tmp_path / "l2.parquet"), min_rating=4)
    with pytest.raises(DataError, match="k_core=5"):
        prepare_interactions(str(tmp_path / "l2.parquet"), k_core=5, verbose=False)


def test_metrics_equal_single_machine_to_1e12(synthetic, client, tmp_path):
    train, test = random_split(synthetic.interactions, test_size=0.2, seed=0)
    pop = Popularity().fit(train)
    users = test["user_id"].unique()
    recs = pop.recommend(users[: len(users) - 7], n=20)  # some test users get no list
    extra = recs[recs["user_id"] == users[0]].assign(user_id=10**6)  # not a test user
    recs = pd.concat([recs, extra], ignore_index=True)
    ks = (1, 5, 10, 20, 30)
    ref, _ = metrics_from_frames(recs, test, ks=ks)
    got = evaluate_recommendations(dd.from_pandas(recs, npartitions=4),
                                   dd.from_pandas(test, npartitions=3), k=ks, client=client)
    assert got.keys() == ref.keys()
    for key in ref:
        assert abs(got[key] - ref[key]) <= 1e-12, key
    # from Parquet files, with an explicit catalogue size
    recs.to_parquet(tmp_path / "recs.parquet")
    test.to_parquet(tmp_path / "test.parquet")
    ref, _ = metrics_from_frames(recs, test, ks=10, n_items=500)
    got = evaluate_recommendations(str(tmp_path / "recs.parquet"), str(tmp_path / "test.parquet"),
                                   k=10, n_items=500)
    for key in ref:
        assert abs(got[key] - ref[key]) <= 1e-12, key


def test_evaluate_refuses_bad_frames(client):
    test = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 3]})
    with pytest.raises(DataError, match=r"\['rank'\]"):
        evaluate_recommendations(pd.DataFrame({"user_id": [1], "item_id": [2]}), test)
    dup = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 3], "rank": [1, 1]})
    with pytest.raises(DataError, match="more than one row"):
        evaluate_recommendations(dup, test)


def _own_names(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as a log keeps it: its own column names, in another order, with a column more."""
    return pd.DataFrame({"sku": df["item_id"], "stars": df["rating"], "user": df["user_id"],
                         "device": np.where(df.index % 2, "web", "app")})


OWN = dict(user_column="user", item_column="sku", rating_column="stars")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_prepare_reads_the_logs_own_column_names(synthetic, client, tmp_path, fmt):
    df = synthetic.interactions
    plain, own = dd.from_pandas(df, npartitions=3), dd.from_pandas(_own_names(df), npartitions=3)
    if fmt == "parquet":
        plain.to_parquet(tmp_path / "plain")
        own.to_parquet(tmp_path / "own")
    else:
        plain.to_csv(tmp_path / "plain" / "*.csv", index=False)
        own.to_csv(tmp_path / "own" / "*.csv", index=False)
    options = dict(min_rating=3, k_core=5, client=client, verbose=False)
    ref = prepare_interactions(str(tmp_path / "plain"), **options)
    got = prepare_interactions(str(tmp_path / "own"), **options, **OWN)
    assert got.user_ids.equals(ref.user_ids) and got.item_ids.equals(ref.item_ids)
    _same_csr(got.matrix, ref.matrix)
    assert got.matrix.nnz < df[["user_id", "item_id"]].drop_duplicates().shape[0]  # filtered


def test_prepare_maps_a_dask_frames_columns_and_swaps(synthetic, client):
    df = synthetic.interactions
    ref = prepare_interactions(dd.from_pandas(df, npartitions=2), verbose=False)
    # the log's user_id column holds items and item_id users: naming them swaps the matrix
    swapped = df.rename(columns={"user_id": "item_id", "item_id": "user_id"})
    got = prepare_interactions(dd.from_pandas(swapped, npartitions=2), verbose=False,
                               user_column="item_id", item_column="user_id")
    assert got.user_ids.equals(ref.user_ids) and got.item_ids.equals(ref.item_ids)
    _same_csr(got.matrix, ref.matrix)


class _Computes(dask.callbacks.Callback):
    """Counts the graphs dask runs on the local scheduler."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


@pytest.mark.parametrize("options,message", [
    ({"user_column": "uid"}, r"has no column 'uid' \(given as user_column=\); it has "
                             r"\['sku', 'stars', 'user', 'device'\]"),
    ({}, r"is missing column\(s\) \['user_id', 'item_id', 'rating'\]; it has \['sku', 'stars', "
         r"'user', 'device'\] \(name the file's own columns with user_column=, item_column= "
         r"and rating_column=\)"),
    ({**OWN, "rating_column": "user"}, r"column 'user' is given as user_column= and "
                                       r"rating_column=; a column can be only one of them"),
    ({"user_column": "user"}, r"is missing column\(s\) \['item_id', 'rating'\].*with "
                              r"item_column= and rating_column=\)"),
])
def test_column_errors_name_the_file_and_its_columns_before_reading_data(tmp_path, options,
                                                                         message):
    df = pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4], "rating": [5.0, 4.0]})
    path = tmp_path / "clicks.parquet"
    _own_names(df).to_parquet(path)
    with dask.config.set(scheduler="sync"), _Computes() as computes:
        with pytest.raises(DataError, match=rf"clicks.parquet:? .*{message}"):
            prepare_interactions(str(path), min_rating=4, **options)
    assert computes.n == 0
    # the frame path says the same, naming the frame
    with pytest.raises(DataError, match=rf"^the interactions frame:? .*{message}"):
        prepare_interactions(dd.from_pandas(_own_names(df), npartitions=1), min_rating=4,
                             **options)


def test_a_renaming_onto_a_column_the_log_has_is_refused(tmp_path):
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user_id": [1], "uid": [2], "item_id": [3]}).to_parquet(path)
    with pytest.raises(DataError, match=r"log.parquet: column 'uid' \(given as user_column=\) "
                                        r"would become 'user_id', but the file already has"):
        prepare_interactions(str(path), user_column="uid")


def test_a_csv_logs_ids_are_read_as_written_as_on_one_machine(tmp_path):
    """007 and 7 are two users in every partition; a column of canonical integers is
    int64, sorted as numbers, as read_interactions_csv reads it."""
    from recfm.datasets import read_interactions_csv

    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "a.csv").write_text("user_id,item_id\n007,10\n007,9\nNA,10\n")
    (tmp_path / "log" / "b.csv").write_text("user_id,item_id\n7,10\n7,100\n8,9\n")
    got = prepare_interactions(str(tmp_path / "log"), verbose=False)
    (tmp_path / "one.csv").write_text("user_id,item_id\n007,10\n007,9\nNA,10\n7,10\n7,100\n8,9\n")
    ref = Popularity().fit(read_interactions_csv(tmp_path / "one.csv").interactions)
    assert got.user_ids.tolist() == ["007", "7", "8", "NA"] == ref.user_ids_.tolist()
    assert got.item_ids.dtype == np.int64 and got.item_ids.tolist() == [9, 10, 100]
    assert got.item_ids.equals(ref.item_ids_)
    _same_csr(got.matrix, ref.seen_)


def test_csv_ids_are_read_as_written_and_meet_parquet_ids_by_their_text(client, tmp_path):
    recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12], "rank": [1, 2, 1, 2]})
    test = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [11, 12, 13]})
    ref, _ = metrics_from_frames(recs, test, ks=2)
    recs.to_csv(tmp_path / "recs.csv", index=False)
    test.to_parquet(tmp_path / "test.parquet")  # int64 ids: item ids meet the CSV's by text
    got = evaluate_recommendations(str(tmp_path / "recs.csv"), str(tmp_path / "test.parquet"),
                                   k=2, client=client)
    for key in ref:
        assert abs(got[key] - ref[key]) <= 1e-12, key
    # an id written 010 in a CSV is not item 10, as on one machine (load_run)
    (tmp_path / "recs007.csv").write_text("user_id,item_id,rank\n1,011,1\n2,12,1\n")
    got = evaluate_recommendations(str(tmp_path / "recs007.csv"), str(tmp_path / "test.parquet"),
                                   k=1, client=client)
    assert got["hit_rate@1"] == 0.5
