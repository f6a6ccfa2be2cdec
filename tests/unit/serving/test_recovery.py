"""Recovery as plain code: stores a replica must not create, scratch folders of dead replicas,
and /readyz naming every degraded dependency (no Ray; real files, a real child process)."""

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from components.features.store import ONLINE_STORE_FILE, REGISTRY_FILE, open_existing_store
from components.registry import RegisteredVersions, require_registry, sqlite_path
from components.stores import StoreMissingError
from serving.schemas import Readiness
from serving.scratch import OWNER_FILE, clean_stale_scratch, remove_scratch, replica_scratch


def test_a_missing_mlflow_file_is_reported_and_never_created(tmp_path):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    assert sqlite_path(uri) == db and sqlite_path("http://mlflow:5000") is None
    with pytest.raises(StoreMissingError, match="MLflow registry file .*mlflow.db is missing"):
        RegisteredVersions(uri).resolve("retrieval_model", ("champion",))
    assert not db.exists()
    require_registry("http://mlflow:5000")  # a server: nothing to check here


def test_a_missing_feast_file_is_reported_and_never_created(tmp_path):
    with pytest.raises(StoreMissingError, match="Feast registry"):
        open_existing_store(tmp_path / "repo", None, "reco")
    assert not (tmp_path / "repo").exists()  # no folder, no yaml, no empty database
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / REGISTRY_FILE).write_bytes(b"")
    with pytest.raises(StoreMissingError, match="Feast online store"):
        open_existing_store(tmp_path / "repo", None, "reco")
    assert not (tmp_path / "repo" / ONLINE_STORE_FILE).exists()


class Args:
    def __init__(self, scratch_dir):
        self.scratch_dir = scratch_dir


def _replica(scratch_dir, role, conn):
    """A replica process: makes (and owns) its scratch folder, then lives until killed."""
    conn.send(str(replica_scratch(Args(scratch_dir), role)))
    time.sleep(60)


def _start_replica(scratch_dir, role):
    context = multiprocessing.get_context("fork")  # the child shares the imported modules
    parent, child = context.Pipe()
    proc = context.Process(target=_replica, args=(scratch_dir, role, child), daemon=True)
    proc.start()
    return proc, Path(parent.recv())


def test_scratch_of_dead_replicas_is_removed_and_live_ones_are_kept(tmp_path):
    args = Args(tmp_path / "serving")
    live, live_folder = _start_replica(args.scratch_dir, "ranking")
    dead, dead_folder = _start_replica(args.scratch_dir, "retrieval")
    try:
        os.kill(dead.pid, signal.SIGKILL)
        dead.join()
        legacy = args.scratch_dir / "retrieval-999999999-abc"  # no owner file, pid gone, old
        legacy.mkdir()
        old = time.time() - 3600
        os.utime(legacy, (old, old))
        fresh = args.scratch_dir / "retrieval-999999998-new"  # no owner file yet: too young
        fresh.mkdir()
        mine = replica_scratch(args, "retrieval")  # cleans first
        assert (mine / OWNER_FILE).exists()
        assert {p.name for p in args.scratch_dir.iterdir()} == {
            mine.name,
            live_folder.name,
            fresh.name,
        }
        assert clean_stale_scratch(args.scratch_dir) == []  # this process's own is kept
        remove_scratch(mine)
        assert not mine.exists()
    finally:
        os.kill(live.pid, signal.SIGKILL)
        live.join()
    assert clean_stale_scratch(args.scratch_dir) == [live_folder]
    assert not dead_folder.exists()


def test_readiness_names_every_degraded_dependency():
    body = Readiness.of(
        False,
        {
            "Retrieval": {"problems": {"online_store": "Feast online store file x is missing"}},
            "Ranking": {"problems": {}, "refresh_error": "StoreMissingError: MLflow ..."},
        },
        {"catalog_snapshot": None},
    )
    assert body.degraded == {
        "Retrieval.online_store": "Feast online store file x is missing",
        "Ranking.refresh": "StoreMissingError: MLflow ...",
    }
    assert Readiness.of(True, {"Retrieval": {"problems": {}}}).degraded == {}
    assert Readiness.of(True, {}, {"catalog_snapshot": "down"}).degraded == {
        "Ingress.catalog_snapshot": "down"
    }
