"""Right to erasure: one plain function removes a user from every store the platform writes.

``erase_user`` takes the user's internal (pseudonymous) id and removes their rows from the
feedback event log, the prediction log, the Feast offline store (the user view's Parquet source)
and online store (SQLite or Redis), and from any cache handed in; it also records a tombstone
(a keyed hash of the internal id, never the id itself) that training's ingest uses to drop the
user from immutable sources (a MovieLens folder, a dataset folder), so a later training run holds
nothing of them. The HTTP route and ``reco users erase`` are thin wrappers over it.

Not touched: the artefacts of past training runs (MLflow runs, KFP outputs) until they are
deleted by their own retention (docs/security.md); the next run no longer contains the user.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from components.data.columns import USER_ID
from components.data.io import rewrite_without_users
from components.privacy.ids import UserIds

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

EVENT_LOG = "event_log"
PREDICTION_LOG = "prediction_log"
OFFLINE_FEATURES = "offline_features"
ONLINE_FEATURES = "online_features"
CACHES = "caches"


def read_tombstones(path: Path) -> set[str]:
    path = Path(path)
    return set(path.read_text().split()) if path.is_file() else set()


class ErasureList:
    """The erasure list as a replica holds it: re-read only when the file changed (one ``stat``
    per ``refresh``), so the per-request check is one HMAC and one set lookup, and a caller that
    precomputes the erased ids among its own users (``erased_among``) pays a set lookup only."""

    def __init__(self, path: Path | None, users: UserIds) -> None:
        self.path = Path(path) if path is not None else None
        self._users = users
        self._signature: tuple[int, int] | None = None
        self._tombstones: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.version = 0  # bumped when the list changed: callers recompute what they derived

    def refresh(self) -> bool:
        """Re-read the file when its size or mtime moved; True when the list changed."""
        with self._lock:  # the poll thread, the erasure route and a flush may call at once
            return self._refresh()

    def _refresh(self) -> bool:
        try:
            stat = self.path.stat() if self.path is not None else None
        except OSError:
            stat = None
        signature = (stat.st_mtime_ns, stat.st_size) if stat is not None else None
        if signature == self._signature:
            return False
        self._signature = signature
        tombstones = frozenset(read_tombstones(self.path)) if signature is not None else frozenset()
        if tombstones == self._tombstones:
            return False
        self._tombstones = tombstones
        self.version += 1
        return True

    def __len__(self) -> int:
        return len(self._tombstones)

    def is_erased(self, user_id: int) -> bool:
        """Whether the user (internal id) is on the list (no hash at all while it is empty)."""
        return bool(self._tombstones) and self._users.tombstone(int(user_id)) in self._tombstones

    def erased_among(self, user_ids: Iterable[int]) -> frozenset[int]:
        """The erased users among ``user_ids`` (one HMAC each; empty list: none computed)."""
        if not self._tombstones:
            return frozenset()
        return frozenset(int(u) for u in user_ids if self.is_erased(u))


def add_tombstone(path: Path, tombstone: str) -> None:
    """Append one tombstone line (fsync: an erasure acknowledged is not forgotten)."""
    path = Path(path)
    if tombstone in read_tombstones(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(tombstone + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def drop_erased(interactions: pd.DataFrame, users: UserIds, tombstones: set[str]) -> pd.DataFrame:
    """``interactions`` (internal ids) without the rows of erased users."""
    if not tombstones or not len(interactions):
        return interactions
    unique = pd.unique(interactions[USER_ID])
    erased = [u for u in unique if users.tombstone(int(u)) in tombstones]
    if not erased:
        return interactions
    log.info("dropping %d erased users' interactions", len(erased))
    return interactions[~interactions[USER_ID].isin(erased)].reset_index(drop=True)


def _user_view(store: FeatureStore) -> Any:
    from components.features.columns import USER_VIEW

    return store.get_feature_view(USER_VIEW)


def _has_user_view(store: FeatureStore) -> bool:
    """False before the first training run registered the views (nothing stored yet)."""
    from feast.errors import FeatureViewNotFoundException

    try:
        _user_view(store)
    except FeatureViewNotFoundException:
        return False
    return True


def erase_offline_features(store: FeatureStore, user_id: int) -> int:
    """Remove the user's rows from the user view's Parquet source; return how many."""
    from components.data.io import _write_parquet_atomic

    path = Path(_user_view(store).batch_source.path)
    if not path.is_file():
        return 0
    frame = pd.read_parquet(path)
    hit = frame[USER_ID] == int(user_id)
    if hit.any():
        _write_parquet_atomic(frame[~hit], path)
    return int(hit.sum())


def _entity_key(user_id: int, version: int) -> bytes:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    key = EntityKey(join_keys=[USER_ID], entity_values=[Value(int64_val=int(user_id))])
    return serialize_entity_key(key, entity_key_serialization_version=version)


def erase_online_features(store: FeatureStore, user_id: int, redis_uri: str | None) -> int:
    """Remove the user's rows from the online store (SQLite file or Redis); return how many."""
    config = store.config
    version = config.entity_key_serialization_version
    key = _entity_key(user_id, version)
    if redis_uri:
        import redis

        client = redis.Redis.from_url(redis_uri)
        try:  # Feast keeps one hash per entity key (+ project), holding every view's fields
            return int(client.delete(key + config.project.encode()))
        finally:
            client.close()
    import sqlite3

    from feast.infra.online_stores.helpers import compute_table_id

    path = Path(config.online_store.path)
    if not path.is_file():
        return 0
    table = compute_table_id(config.project, _user_view(store), False)
    with sqlite3.connect(path) as conn:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
        ).fetchone()
        if not exists:
            return 0
        cursor = conn.execute(f'DELETE FROM "{table}" WHERE entity_key = ?', (key,))
        return int(cursor.rowcount)


def erase_user(
    user_id: int,
    users: UserIds,
    erased_file: Path,
    event_log_dir: Path | None,
    prediction_log_dir: Path | None,
    store: FeatureStore | None = None,
    redis_uri: str | None = None,
    caches: Iterable[Any] = (),
) -> dict[str, int]:
    """Remove the user (internal id) everywhere; return the rows removed per store.

    The tombstone comes first: were the process to die half-way, the next training run still
    leaves the user out, and erasing again finishes the rest (every step is idempotent)."""
    user_id = int(user_id)
    add_tombstone(erased_file, users.tombstone(user_id))
    removed = {
        EVENT_LOG: rewrite_without_users(event_log_dir, [user_id]) if event_log_dir else 0,
        PREDICTION_LOG: (
            rewrite_without_users(prediction_log_dir, [user_id]) if prediction_log_dir else 0
        ),
        OFFLINE_FEATURES: 0,
        ONLINE_FEATURES: 0,
        CACHES: 0,
    }
    if store is not None and _has_user_view(store):
        removed[OFFLINE_FEATURES] = erase_offline_features(store, user_id)
        removed[ONLINE_FEATURES] = erase_online_features(store, user_id, redis_uri)
    for cache in caches:
        if cache.get(user_id) is not None:
            removed[CACHES] += 1
        cache.discard(user_id)
    log.info("erased a user: %s", removed)  # counts only, never the id
    return removed
