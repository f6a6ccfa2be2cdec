"""Faults against the served app on a local Ray, over HTTP (loopback, bounded): the online store
missing when the replicas start and restored later (named by /readyz, then recovered without a
restart), feedback while the Retrieval replica is killed (-9), and kill -9 of the Ingress replica
during a feedback stream (no accepted event lost, none stored twice).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest

from components.settings import Settings

pytestmark = pytest.mark.integration

APP = "reco"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _replica_pids(deployment: str) -> list[int]:
    from benchmarks.soak import replica_processes

    return [p.pid for name, p in replica_processes(APP).items() if name.startswith(deployment)]


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"not within {timeout_s:.0f} s: {what}")


@pytest.fixture(scope="module")
def served(trained_state: Settings, tmp_path_factory: pytest.TempPathFactory):
    """The app over a private copy of the trained state whose online store is moved away
    before the replicas start."""
    import ray
    from ray import serve

    from components.retrieval.reader import folder_lock
    from serving.app import build
    from serving.config import ServeArgs
    from serving.local import init_ray, wait_until_ready

    source, root = trained_state.state_dir, tmp_path_factory.mktemp("recovery-served")
    shutil.copy2(source / "mlflow.db", root / "mlflow.db")
    shutil.copytree(source / "feast", root / "feast")
    with folder_lock(source / "milvus.db", timeout_s=30):
        shutil.copytree(
            source / "milvus.db", root / "milvus.db", ignore=shutil.ignore_patterns("LOCK")
        )
    settings = Settings(state_dir=root, data_dir=root / "data", serve_port=_free_port())
    online = settings.resolved_feast_repo / "online_store.db"
    if not online.is_file():
        pytest.skip("the trained state does not use the SQLite online store")
    online.rename(online.with_name("online_store.db.away"))
    args = ServeArgs.from_settings(
        settings,
        prediction_flush_s=1.0,
        retrieval={"refresh_interval_s": 2.0, "retire_after_s": 1.0},
        ranking={"refresh_interval_s": 2.0},
    )
    init_ray(
        num_cpus=4,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": settings.serve_port})
    base = f"http://127.0.0.1:{settings.serve_port}"
    serve.run(build(args), name=APP, route_prefix="/")
    assert wait_until_ready(base, timeout_s=180), httpx.get(f"{base}/readyz").text
    yield settings, args, base
    serve.shutdown()
    ray.shutdown()


def test_a_store_missing_at_start_is_named_then_recovered_without_a_restart(served):
    settings, _, base = served
    online = settings.resolved_feast_repo / "online_store.db"
    degraded = httpx.get(f"{base}/readyz", timeout=30).json()["degraded"]
    assert "is missing" in degraded["Retrieval.online_store"]
    assert "is missing" in degraded["Ranking.online_store"]
    assert not online.exists()  # no empty stand-in
    answer = httpx.post(f"{base}/v1/recommend", json={"user_id": 1, "k": 5}, timeout=30).json()
    assert len(answer["items"]) == 5 and "online_store" in answer["fallbacks"]
    pids = set(_replica_pids("Retrieval") + _replica_pids("Ranking"))

    online.with_name("online_store.db.away").rename(online)
    _wait(
        lambda: not httpx.get(f"{base}/readyz", timeout=30).json()["degraded"],
        90,
        "/readyz still degraded after the online store came back",
    )
    answer = httpx.post(f"{base}/v1/recommend", json={"user_id": 1, "k": 5}, timeout=30).json()
    assert len(answer["items"]) == 5 and answer["fallbacks"] == []
    assert set(_replica_pids("Retrieval") + _replica_pids("Ranking")) == pids  # no restart


def _feedback(http: httpx.Client, base: str, user: int, item: int) -> tuple[str, int | str]:
    event_id = uuid.uuid4().hex
    body = {"events": [{"user_id": user, "item_id": item, "event_type": "click",
                        "event_id": event_id}]}  # fmt: skip
    try:
        return event_id, http.post(f"{base}/v1/feedback", json=body).status_code
    except httpx.HTTPError as error:
        return event_id, type(error).__name__


def _stored_event_ids(event_log: Path) -> list[str]:
    from components.data.io import event_files

    frames = [pd.read_parquet(path) for path in event_files(event_log)]
    if not frames:
        return []
    return pd.concat(frames)["event_id"].dropna().tolist()


def test_feedback_keeps_working_while_retrieval_is_killed(served):
    _, args, base = served
    item = 1
    with httpx.Client(timeout=30.0) as http:
        assert _feedback(http, base, 7, item)[1] == 200  # the ingress holds a snapshot now
        (pid,) = _replica_pids("Retrieval")
        os.kill(pid, signal.SIGKILL)
        answers = [_feedback(http, base, 7, item) for _ in range(20)]
    assert [status for _, status in answers] == [200] * 20
    stored = set(_stored_event_ids(args.event_log_dir))
    assert {event_id for event_id, _ in answers} <= stored


def test_kill_9_of_the_ingress_during_a_feedback_stream_loses_no_accepted_event(served):
    from serving.local import wait_until_ready

    _, args, base = served
    assert wait_until_ready(base, timeout_s=180)  # Retrieval is back from the test before
    accepted: list[str] = []
    failed = 0
    with httpx.Client(timeout=10.0) as http:
        for i in range(120):
            if i == 30:
                (pid,) = _replica_pids("Ingress")
                os.kill(pid, signal.SIGKILL)
            event_id, status = _feedback(http, base, 11, 1)
            if status == 200:
                accepted.append(event_id)
            else:
                failed += 1
                time.sleep(0.5)  # the replica restarts
    assert len(accepted) >= 60  # the stream went on after the restart
    stored = _stored_event_ids(args.event_log_dir)
    assert set(accepted) <= set(stored)  # every accepted event is in the log
    assert len(stored) == len(set(stored))  # and none twice
