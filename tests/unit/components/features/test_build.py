"""Point-in-time correctness of the snapshot builder, checked by hand and against brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from components.features import columns as fc
from components.features.build import build_feature_tables, default_snapshot_times


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def interactions(rows: list[tuple[int, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            USER_ID: pd.Series([r[0] for r in rows], dtype="int64"),
            ITEM_ID: pd.Series([r[1] for r in rows], dtype="int64"),
            EVENT_TYPE: "view",
            TIMESTAMP: pd.Series([ts(r[2]) for r in rows], dtype="datetime64[ns, UTC]"),
        }
    )


def catalog(categories: dict[int, str], created: str = "2023-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            ITEM_ID: pd.Series(list(categories), dtype="int64"),
            TITLE: [f"item {i}" for i in categories],
            CATEGORIES: list(categories.values()),
            AVAILABLE: True,
            CREATED_AT: pd.Series([ts(created)] * len(categories), dtype="datetime64[ns, UTC]"),
        }
    )


ITEMS = catalog({10: "Action|Comedy", 11: "Drama", 12: "Action", 13: ""})
EVENTS = interactions(
    [
        (1, 10, "2024-01-01"),
        (1, 11, "2024-01-02"),
        (2, 10, "2024-01-03"),
        (1, 12, "2024-02-01"),  # after the first snapshot
        (1, 10, "2024-02-02"),  # repeat of item 10: keeps its first place in the history
        (2, 11, "2024-02-10"),
    ]
)
SNAPSHOTS = [ts("2024-01-15"), ts("2024-02-15")]


def row(frame: pd.DataFrame, key: str, entity: int, at: pd.Timestamp) -> pd.Series:
    match = frame[(frame[key] == entity) & (frame[fc.EVENT_TIMESTAMP] == at)]
    assert len(match) == 1
    return match.iloc[0]


def test_an_event_after_the_snapshot_never_counts() -> None:
    users, items = build_feature_tables(EVENTS, ITEMS, SNAPSHOTS)
    early = row(users, USER_ID, 1, SNAPSHOTS[0])
    assert early[fc.USER_EVENTS_ALL] == 2
    assert early[fc.USER_RECENT_ITEMS] == [11, 10]
    assert early[fc.USER_TOP_CATEGORIES] == "Drama|Action|Comedy"
    assert early[fc.USER_CATEGORY_SHARES] == "Drama:0.5000|Action:0.2500|Comedy:0.2500"
    assert row(items, ITEM_ID, 12, SNAPSHOTS[0])[fc.ITEM_EVENTS_ALL] == 0
    assert row(items, ITEM_ID, 10, SNAPSHOTS[0])[fc.ITEM_EVENTS_ALL] == 2

    late = row(users, USER_ID, 1, SNAPSHOTS[1])
    assert late[fc.USER_EVENTS_ALL] == 4
    assert late[fc.USER_ITEMS_ALL] == 3
    assert late[fc.USER_EVENTS_30D] == 2
    assert late[fc.USER_DAYS_SINCE_FIRST] == pytest.approx(45.0)
    assert row(items, ITEM_ID, 12, SNAPSHOTS[1])[fc.ITEM_EVENTS_ALL] == 1


def test_recent_items_are_distinct_and_most_recent_first() -> None:
    users, _ = build_feature_tables(EVENTS, ITEMS, SNAPSHOTS)
    assert row(users, USER_ID, 1, SNAPSHOTS[1])[fc.USER_RECENT_ITEMS] == [12, 11, 10]
    many = interactions([(7, i, f"2024-01-01 00:{i:02d}") for i in range(fc.RECENT_ITEMS_N + 5)])
    users, _ = build_feature_tables(many, ITEMS, [ts("2024-02-01")])
    recent = users.iloc[0][fc.USER_RECENT_ITEMS]
    assert recent == list(range(fc.RECENT_ITEMS_N + 4, 4, -1))


def test_entities_appear_only_once_they_exist() -> None:
    items = pd.concat([ITEMS, catalog({20: "Drama"}, created="2024-02-01")], ignore_index=True)
    users, item_rows = build_feature_tables(EVENTS, items, SNAPSHOTS)
    assert set(users[users[fc.EVENT_TIMESTAMP] == SNAPSHOTS[0]][USER_ID]) == {1, 2}
    first = item_rows[item_rows[fc.EVENT_TIMESTAMP] == SNAPSHOTS[0]]
    assert 20 not in set(first[ITEM_ID])
    assert row(item_rows, ITEM_ID, 20, SNAPSHOTS[1])[fc.ITEM_AGE_DAYS] == pytest.approx(14.0)
    assert list(users.columns) == [USER_ID, fc.EVENT_TIMESTAMP, *fc.USER_FEATURES]
    assert list(item_rows.columns) == [ITEM_ID, fc.EVENT_TIMESTAMP, *fc.ITEM_FEATURES]
    assert str(users[fc.EVENT_TIMESTAMP].dtype) == "datetime64[ns, UTC]"


def test_user_recency_is_the_days_from_the_last_event_to_the_snapshot() -> None:
    users, _ = build_feature_tables(EVENTS, ITEMS, SNAPSHOTS)
    # user 1: last event 2024-01-02 before the first snapshot (13 days), 2024-02-02 before the
    # second (13 days); user 2: 2024-01-03 (12 days), then 2024-02-10 (5 days)
    assert row(users, USER_ID, 1, SNAPSHOTS[0])[fc.USER_DAYS_SINCE_LAST] == pytest.approx(13.0)
    assert row(users, USER_ID, 1, SNAPSHOTS[1])[fc.USER_DAYS_SINCE_LAST] == pytest.approx(13.0)
    assert row(users, USER_ID, 2, SNAPSHOTS[0])[fc.USER_DAYS_SINCE_LAST] == pytest.approx(12.0)
    assert row(users, USER_ID, 2, SNAPSHOTS[1])[fc.USER_DAYS_SINCE_LAST] == pytest.approx(5.0)


def test_matches_a_brute_force_recomputation() -> None:
    rng = np.random.default_rng(7)
    n = 400
    start = ts("2020-01-01")
    events = pd.DataFrame(
        {
            USER_ID: rng.integers(1, 15, n).astype("int64"),
            ITEM_ID: rng.integers(1, 30, n).astype("int64"),
            EVENT_TYPE: "click",
            # Whole days so several events share a timestamp (ties matter).
            TIMESTAMP: start + pd.to_timedelta(rng.integers(0, 400, n), unit="D"),
        }
    )
    names = ["Action", "Drama", "Comedy", "Horror"]
    items = catalog(
        {i: "|".join(sorted(set(rng.choice(names, rng.integers(0, 3))))) for i in range(1, 30)},
        created="2019-06-01",
    )
    snapshots = [start + pd.Timedelta(days=d) for d in (50, 123, 200, 333, 401)]
    users, item_rows = build_feature_tables(events, items, snapshots)
    cats = items.set_index(ITEM_ID)[CATEGORIES]

    for t in snapshots:
        past = events[events[TIMESTAMP] <= t].sort_values([TIMESTAMP, ITEM_ID], kind="stable")
        for user, hist in past.groupby(USER_ID):
            got = row(users, USER_ID, user, t)
            assert got[fc.USER_EVENTS_ALL] == len(hist)
            assert got[fc.USER_EVENTS_30D] == (hist[TIMESTAMP] > t - pd.Timedelta(days=30)).sum()
            assert got[fc.USER_ITEMS_ALL] == hist[ITEM_ID].nunique()
            assert got[fc.USER_DAYS_SINCE_LAST] == pytest.approx(
                (t - hist[TIMESTAMP].max()) / pd.Timedelta(days=1)
            )
            latest = hist.drop_duplicates(ITEM_ID, keep="first")[ITEM_ID].tolist()[::-1]
            assert got[fc.USER_RECENT_ITEMS] == latest[: fc.RECENT_ITEMS_N]
            weights: dict[str, float] = {}
            for item in hist[ITEM_ID]:
                parts = [c for c in cats[item].split("|") if c]
                for c in parts:
                    weights[c] = weights.get(c, 0.0) + 1.0 / len(parts)
            total = sum(weights.values())
            parsed = {
                p.rpartition(":")[0]: float(p.rpartition(":")[2])
                for p in got[fc.USER_CATEGORY_SHARES].split("|")
                if p
            }
            assert parsed == pytest.approx({c: w / total for c, w in weights.items()}, abs=1e-4)
        assert set(users[users[fc.EVENT_TIMESTAMP] == t][USER_ID]) == set(past[USER_ID])
        for item in (1, 5, 17):
            got = row(item_rows, ITEM_ID, item, t)
            hist = past[past[ITEM_ID] == item]
            recent = hist[hist[TIMESTAMP] > t - pd.Timedelta(days=30)]
            before = hist[
                (hist[TIMESTAMP] > t - pd.Timedelta(days=60))
                & (hist[TIMESTAMP] <= t - pd.Timedelta(days=30))
            ]
            assert got[fc.ITEM_EVENTS_ALL] == len(hist)
            assert got[fc.ITEM_EVENTS_365D] == (hist[TIMESTAMP] > t - pd.Timedelta(days=365)).sum()
            assert got[fc.ITEM_USERS_30D] == recent[USER_ID].nunique()
            assert got[fc.ITEM_TREND] == pytest.approx(
                np.log((len(recent) + 1) / (len(before) + 1))
            )


def test_default_snapshot_times_span_the_data_and_end_after_it() -> None:
    times = default_snapshot_times(EVENTS, n=4)
    assert len(times) == 5
    assert times == sorted(times) and len(set(times)) == 5
    assert times[-1] == EVENTS[TIMESTAMP].max() + pd.Timedelta(seconds=1)
    assert all(t > EVENTS[TIMESTAMP].min() for t in times)
    assert default_snapshot_times(EVENTS.iloc[:0]) == []


def test_skips_count_as_activity_but_not_as_taste_history_or_item_popularity() -> None:
    events = interactions([(1, 10, "2024-01-01"), (1, 11, "2024-01-02"), (1, 12, "2024-01-03")])
    events.loc[1, EVENT_TYPE] = "impression_skip"
    users, items = build_feature_tables(events, ITEMS, [ts("2024-01-15")])
    user = users.iloc[0]
    assert user[fc.USER_RECENT_ITEMS] == [12, 10]
    assert user[fc.USER_EVENTS_ALL] == 3  # activity counts every event
    assert "Drama" not in user[fc.USER_TOP_CATEGORIES]  # item 11 was only skipped
    assert row(items, ITEM_ID, 11, ts("2024-01-15"))[fc.ITEM_EVENTS_ALL] == 0
    assert row(items, ITEM_ID, 11, ts("2024-01-15"))[fc.ITEM_USERS_30D] == 0
