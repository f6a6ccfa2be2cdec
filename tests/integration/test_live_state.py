"""Live user state through real Feast online stores (SQLite, and Redis when installed): feedback
folded into the user row with ``write_to_online_store`` is what the next online read returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from components.data.columns import EVENT_ID, EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from components.features.build import build_feature_tables
from components.features.columns import USER_EVENTS_ALL, USER_RECENT_ITEMS
from components.features.store import (
    FOUND,
    apply_features,
    feature_store,
    materialize_latest,
    online_features,
)
from components.recommend.cache import BoundedCache
from components.recommend.live import FeastUserRows, apply_events

from .test_feature_store import EVENTS, ITEMS, SNAPSHOTS
from .test_redis_online_store import redis_uri  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

NEW_USER = 4242


def _events(rows: list[tuple[int, int, str, datetime, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP, EVENT_ID])


def _store(repo: Path, online_store: str | None):
    users, items = build_feature_tables(EVENTS, ITEMS, SNAPSHOTS)
    store = feature_store(repo, online_store, "reco_test")
    apply_features(store, users, items, repo / "data")
    materialize_latest(store, SNAPSHOTS[-1].to_pydatetime())
    return store


def _check_live_rows(store) -> None:
    rows, seen_ids = FeastUserRows(store), BoundedCache(100, 3600)
    before, _ = online_features(store, [1, NEW_USER], [])
    assert not before.loc[NEW_USER, FOUND]
    known = list(before.loc[1, USER_RECENT_ITEMS])
    now = datetime.now(UTC)
    first = _events(
        [
            (NEW_USER, 10, "click", now, "a"),
            (NEW_USER, 12, "impression_skip", now + timedelta(milliseconds=1), "b"),
            (NEW_USER, 11, "purchase", now + timedelta(milliseconds=2), "c"),
            (1, 13, "click", now, "d"),
        ]
    )
    applied = apply_events(rows, first, applied_ids=seen_ids)
    assert applied.users == [1, NEW_USER] and applied.events == 4
    after, _ = online_features(store, [1, NEW_USER], [])
    assert after.loc[NEW_USER, FOUND]
    assert list(after.loc[NEW_USER, USER_RECENT_ITEMS]) == [11, 10]  # the skip never enters
    assert after.loc[NEW_USER, USER_EVENTS_ALL] == 3
    assert list(after.loc[1, USER_RECENT_ITEMS]) == [13, *known]

    # A retry (same event id) counts once; an event older than the row does not rewind it;
    # a later event within the same second is written (Redis keeps only strictly newer rows).
    again = _events(
        [
            (NEW_USER, 11, "purchase", now + timedelta(milliseconds=2), "c"),
            (NEW_USER, 12, "click", now - timedelta(minutes=5), "e"),
            (NEW_USER, 12, "click", now + timedelta(milliseconds=3), "f"),
        ]
    )
    second = apply_events(rows, again.iloc[:2], applied_ids=seen_ids)
    assert second.duplicates == 1 and second.late == 1 and second.events == 0
    apply_events(rows, again.iloc[2:], applied_ids=seen_ids)
    final, _ = online_features(store, [NEW_USER], [])
    assert list(final.loc[NEW_USER, USER_RECENT_ITEMS]) == [12, 11, 10]
    assert final.loc[NEW_USER, USER_EVENTS_ALL] == 4


def test_feedback_reaches_the_sqlite_online_store(tmp_path: Path) -> None:
    _check_live_rows(_store(tmp_path, None))


def test_feedback_reaches_the_redis_online_store(tmp_path: Path, redis_uri: str) -> None:  # noqa: F811
    _check_live_rows(_store(tmp_path, redis_uri))
