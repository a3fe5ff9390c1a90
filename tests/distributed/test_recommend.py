"""recommend_all on a LocalCluster equals the recommenders' own recommend_all, row for row."""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recfm._utils import DataError
from recfm.distributed import FactorModel, dask_client, recommend_all
from recfm.model import FactorizationMachine
from recfm.ranking import top_n
from recfm.recommenders import FMRecommender, ImplicitALS, ItemKNN, Popularity


@pytest.fixture(scope="module")
def fm(synthetic):
    d = synthetic
    return FMRecommender(
        builder="auto", model=FactorizationMachine(n_factors=8, n_epochs=2, random_state=0)
    ).fit(d.interactions, users=d.users, items=d.items)


def test_fm_with_features_equals_recommend_all(fm, client):
    assert fm.builder_.user_features and fm.builder_.item_features  # really a feature FM
    for kwargs in ({}, {"exclude_seen": False}):
        ref = fm.recommend_all(n=10, **kwargs)
        got = recommend_all(fm, n=10, client=client, **kwargs)
        pd.testing.assert_frame_equal(got, ref)
    # a candidate set, and a subset of users in another order
    cands = fm.item_ids_[::3]
    users = fm.user_ids_[::-7]
    ref = fm.recommend(users, n=5, items=cands)
    got = recommend_all(fm, users=users, n=5, items=cands, client=client, partition_size=9)
    pd.testing.assert_frame_equal(got, ref)
    assert set(got["item_id"]) <= set(cands)


def test_saved_model_directory_workers_load_it(fm, client, tmp_path):
    fm.save(tmp_path / "model")
    out = recommend_all(str(tmp_path / "model"), n=10, client=client,
                        output=tmp_path / "recs.parquet")
    parts = sorted(p.name for p in out.iterdir())
    assert len(parts) > 1 and all(p.startswith("part.") for p in parts)  # partitioned by user
    got = pd.read_parquet(out)
    pd.testing.assert_frame_equal(got, fm.recommend_all(n=10))
    assert list(got.columns) == ["user_id", "item_id", "rank", "score"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_popularity_baseline_equals_recommend_all(synthetic, client, tmp_path):
    pop = Popularity().fit(synthetic.interactions)
    pd.testing.assert_frame_equal(recommend_all(pop, n=10, client=client), pop.recommend_all(n=10))
    pop.save(tmp_path / "pop")  # a saved baseline: the workers load it themselves
    pd.testing.assert_frame_equal(recommend_all(str(tmp_path / "pop"), n=10, client=client),
                                  pop.recommend_all(n=10))
    # candidates: the same kernel with the candidate set is the single-machine reference
    cands = pop.item_ids_[5:60]
    got = recommend_all(pop, n=10, client=client, items=cands)
    idx, _ = top_n(np.ones((len(pop.user_ids_), 1)), pop.item_popularity_[:, None], 10,
                   exclude=pop.seen_, candidates=np.arange(5, 60))
    assert got.groupby("user_id", sort=False)["item_id"].apply(list).tolist() == [
        list(pop.item_ids_[r[r >= 0]]) for r in idx]


def test_als_baseline_equals_recommend_all_ties_aside(synthetic, client):
    als = ImplicitALS(factors=8, iterations=3, n_threads=1).fit(synthetic.interactions)
    ref = als.recommend_all(n=10)
    got = recommend_all(als, n=10, client=client)
    assert len(got) == len(ref)
    np.testing.assert_allclose(got["score"], ref["score"], rtol=1e-4, atol=1e-5)
    same = (got["item_id"].to_numpy() == ref["item_id"].to_numpy())
    # where the lists differ, the two items score the same to float32 rounding (a tie)
    assert np.all(np.abs(got["score"].to_numpy() - ref["score"].to_numpy())[~same] < 1e-5)
    assert same.mean() > 0.99


def test_model_without_factor_form_runs_its_own_recommend(synthetic, client):
    knn = ItemKNN().fit(synthetic.interactions)
    pd.testing.assert_frame_equal(recommend_all(knn, n=10, client=client), knn.recommend_all(n=10))
    cands = knn.item_ids_[::2]
    users = knn.user_ids_[:50]
    pd.testing.assert_frame_equal(recommend_all(knn, users=users, n=10, items=cands, client=client),
                                  knn.recommend(users, n=10, items=cands))


def test_in_process_without_a_client(fm, tmp_path):
    got = recommend_all(fm, n=4, client=False, output=tmp_path / "r.parquet", partition_size=50)
    assert len(list((tmp_path / "r.parquet").iterdir())) == -(-len(fm.user_ids_) // 50)
    pd.testing.assert_frame_equal(pd.read_parquet(got), fm.recommend_all(n=4))


def test_existing_output_refused_unless_overwrite(fm, client, tmp_path):
    out = tmp_path / "recs.parquet"
    recommend_all(fm, n=3, client=client, output=out)
    with pytest.raises(FileExistsError, match="overwrite"):
        recommend_all(fm, n=5, client=client, output=out)
    assert pd.read_parquet(out)["rank"].max() == 3  # untouched
    recommend_all(fm, n=5, client=client, output=out, overwrite=True)
    assert pd.read_parquet(out)["rank"].max() == 5
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="todo.txt"):
        recommend_all(fm, n=5, client=client, output=foreign, overwrite=True)
    assert (foreign / "todo.txt").read_text() == "keep me"


def test_users_file_missing_user_id_is_named(fm, client, tmp_path):
    bad = tmp_path / "users.parquet"
    pd.DataFrame({"uid": fm.user_ids_[:5]}).to_parquet(bad)
    with pytest.raises(DataError, match=r"users.parquet.*\['user_id'\]"):
        recommend_all(fm, users=str(bad), client=client, output=tmp_path / "r.parquet")
    assert not (tmp_path / "r.parquet").exists()


def test_users_absent_from_the_model_are_named(fm, client, tmp_path):
    users = tmp_path / "users.parquet"
    pd.DataFrame({"user_id": np.r_[fm.user_ids_[:3], 987654]}).to_parquet(users)
    with pytest.raises(KeyError, match="987654"):
        recommend_all(fm, users=str(users), client=client, output=tmp_path / "r.parquet")
    assert not (tmp_path / "r.parquet").exists()


def test_unreachable_scheduler_fails_within_the_timeout():
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError, match="tcp://127.0.0.1:9"):
        with dask_client("tcp://127.0.0.1:9", timeout=2):
            pass
    assert time.perf_counter() - t0 < 30  # bounded: the connect timeout, not a hang


def _big_factor_model(n_users=40_000, n_items=3_000, k=32, seed=0) -> FactorModel:
    rng = np.random.default_rng(seed)
    seen = sp.random(n_users, n_items, density=0.01, format="csr", random_state=seed,
                     dtype=np.float32)
    return FactorModel(
        user_ids=pd.Index(np.arange(n_users) * 3), item_ids=pd.Index(np.arange(n_items) + 10),
        item_vectors=rng.standard_normal((n_items, k)).astype(np.float32),
        user_vectors=rng.standard_normal((n_users, k)).astype(np.float32), seen=seen)


def test_worker_killed_mid_run_gives_identical_output(client, tmp_path):
    model = _big_factor_model()
    ref = recommend_all(model, n=10, client=client, partition_size=500)
    out = tmp_path / "recs.parquet"
    result: dict = {}

    def run():
        try:
            result["path"] = recommend_all(model, n=10, client=client, output=out,
                                           partition_size=500)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            result["error"] = exc

    pids = client.run(os.getpid)
    job = threading.Thread(target=run)
    job.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until parts are being written
        staging = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        if staging and any(staging[0].glob("part.*.parquet")):
            break
        time.sleep(0.005)
    assert not out.exists(), "the job finished before a worker could be killed"
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    job.join(120)
    assert not job.is_alive()
    if "error" in result:  # acceptable only as a clear failure with nothing written
        assert "failed" in str(result["error"])
        assert not out.exists()
    else:
        pd.testing.assert_frame_equal(pd.read_parquet(out), ref)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def test_a_users_file_reads_its_ids_as_written_and_meets_the_model_by_text(tmp_path):
    """007 is not 7, and a file of 1 finds the text id '1' (in-process: no cluster needed)."""
    log = pd.DataFrame({"user_id": ["007", "007", "7", "7", "1", "1"],
                        "item_id": ["A", "B", "C", "D", "A", "C"]})
    model = Popularity().fit(log)
    for written, users in (("007\n007", ["007", "007"]), ("1", ["1"]), ("7\n1", ["7", "1"])):
        (tmp_path / "who.csv").write_text(f"user_id\n{written}\n")
        got = recommend_all(model, users=tmp_path / "who.csv", n=1, client=False)
        assert got["user_id"].tolist() == users
        assert got["item_id"].tolist() == model.recommend(users, n=1)["item_id"].tolist()
