"""The cluster's online store: the same features materialized into a real Redis (a loopback
`redis-server`, as `.ci/run` installs it) read back exactly as from SQLite, so the ranker sees the
same numbers embedded and on a cluster."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from components.features.build import build_feature_tables
from components.features.ranking import ranker_feature_frame
from components.features.store import (
    apply_features,
    feature_store,
    materialize_latest,
    online_features,
)

from .test_feature_store import EVENTS, ITEMS, SNAPSHOTS

pytestmark = pytest.mark.integration

REDIS = shutil.which("redis-server")


@pytest.fixture(scope="module")
def redis_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS is None:
        pytest.skip("redis-server not installed (.ci/run installs Debian's redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _online(repo: Path, online_store: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    users, items = build_feature_tables(EVENTS, ITEMS, SNAPSHOTS)
    store = feature_store(repo, online_store, "reco_test")
    apply_features(store, users, items, repo / "data")
    materialize_latest(store, SNAPSHOTS[-1].to_pydatetime())
    return online_features(store, [1, 2, 99], [10, 11, 12, 777])


def test_redis_serves_what_sqlite_serves(tmp_path: Path, redis_uri: str) -> None:
    sqlite_users, sqlite_items = _online(tmp_path / "sqlite", None)
    redis_users, redis_items = _online(tmp_path / "redis", redis_uri)
    import redis

    assert redis.Redis.from_url(redis_uri).dbsize() > 0  # the rows really live in Redis

    assert redis_users.attrs["missing"] == [99] and redis_items.attrs["missing"] == [777]
    pd.testing.assert_frame_equal(redis_users, sqlite_users, check_dtype=False)
    pd.testing.assert_frame_equal(redis_items, sqlite_items, check_dtype=False)
    pairs = pd.DataFrame({"user_id": [1, 1, 2, 99], "item_id": [10, 12, 11, 777]})
    pd.testing.assert_frame_equal(
        ranker_feature_frame(redis_users, redis_items, pairs),
        ranker_feature_frame(sqlite_users, sqlite_items, pairs),
    )


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_erasure_removes_one_users_online_and_offline_rows(
    tmp_path: Path, redis_uri: str, backend: str
) -> None:
    from components.features.columns import USER_VIEW
    from components.features.store import FOUND
    from components.privacy.erasure import erase_offline_features, erase_online_features

    uri = redis_uri if backend == "redis" else None
    repo = tmp_path / backend
    before, _ = _online(repo, uri)
    assert before.loc[[1, 2], FOUND].all()
    store = feature_store(repo, uri, "reco_test")
    assert erase_online_features(store, 1, uri) >= 1
    assert erase_offline_features(store, 1) >= 1
    users, _ = online_features(store, [1, 2], [])
    assert users.loc[1, FOUND] == False and users.loc[2, FOUND] == True  # noqa: E712
    offline = pd.read_parquet(store.get_feature_view(USER_VIEW).batch_source.path)
    assert 1 not in set(offline["user_id"]) and 2 in set(offline["user_id"])
    assert erase_online_features(store, 1, uri) == 0  # idempotent
