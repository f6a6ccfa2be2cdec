"""Live user state: ``apply_events`` over a fake row store, and the bounded worker queue."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from components.data.columns import EVENT_ID, EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID, VALUE
from components.data.events import EventTable
from components.features.columns import (
    EVENT_TIMESTAMP,
    USER_EVENTS_7D,
    USER_EVENTS_ALL,
    USER_FEATURES,
    USER_ITEMS_ALL,
    USER_RECENT_ITEMS,
)
from components.recommend.cache import BoundedCache
from components.recommend.live import Applied, LiveUpdates, apply_events
from components.two_tower.history import recent_positive_items

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TABLE = EventTable()


class FakeRows:
    """Rows by user id with their event timestamp; keeps a row only if strictly newer (Redis)."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[dict[str, Any], datetime]] = {}
        self.writes = 0

    def read(self, user_ids):
        return {u: self.rows[u] for u in user_ids if u in self.rows}

    def write(self, rows: pd.DataFrame) -> None:
        assert list(rows.columns) == [USER_ID, EVENT_TIMESTAMP, *USER_FEATURES]
        self.writes += 1
        for row in rows.to_dict("records"):
            stamp = row.pop(EVENT_TIMESTAMP).to_pydatetime()
            user = int(row.pop(USER_ID))
            held = self.rows.get(user)
            if held is None or stamp > held[1]:
                self.rows[user] = (row, stamp)

    def history(self, user: int) -> list[int]:
        return list(self.rows[user][0][USER_RECENT_ITEMS])


def events(*rows: tuple) -> pd.DataFrame:
    """(user, item, type, seconds after T0[, event_id[, value]]) rows."""
    out = []
    for row in rows:
        user, item, kind, seconds = row[:4]
        out.append(
            {
                USER_ID: user,
                ITEM_ID: item,
                EVENT_TYPE: kind,
                TIMESTAMP: pd.Timestamp(T0 + timedelta(seconds=seconds)),
                EVENT_ID: row[4] if len(row) > 4 else None,
                VALUE: row[5] if len(row) > 5 else float("nan"),
            }
        )
    return pd.DataFrame(out)


def apply(store, frame, **kw) -> Applied:
    return apply_events(store, frame, table=TABLE, now=T0 + timedelta(days=1), **kw)


def test_a_new_user_gets_a_history_of_positives_and_counters():
    store = FakeRows()
    batch = events(
        (7, 10, "click", 1),
        (7, 11, "impression_skip", 2),
        (7, 12, "view", 3, None, 1.0),  # a 1 s view: a negative
        (7, 13, "purchase", 4),
    )
    result = apply(store, batch)
    assert result.users == [7] and result.events == 4
    assert store.history(7) == [13, 10]
    values = store.rows[7][0]
    assert values[USER_EVENTS_7D] == 4 and values[USER_EVENTS_ALL] == 4
    assert values[USER_ITEMS_ALL] == 2


def test_the_live_history_equals_the_training_history_over_the_same_events():
    store = FakeRows()
    stream = events(
        (7, 10, "click", 1),
        (7, 11, "impression_skip", 2),
        (7, 12, "click", 3),
        (7, 10, "purchase", 4),  # a repeat keeps 10 at its first positive
        (7, 14, "rating", 5, None, 2.0),  # a low rating: a negative
        (7, 15, "add_to_cart", 6),
    )
    for start in range(0, len(stream), 2):  # three posts of two events
        apply(store, stream.iloc[start : start + 2])
    assert store.history(7) == recent_positive_items(stream, 20, TABLE)[7] == [15, 12, 10]


def test_an_event_older_than_the_row_does_not_rewind_it():
    store = FakeRows()
    apply(store, events((7, 10, "click", 10), (7, 11, "click", 20)))
    result = apply(store, events((7, 12, "click", 5)))  # late: before the row's time
    assert result.late == 1 and result.events == 0
    assert store.history(7) == [11, 10]
    assert store.rows[7][1] == T0 + timedelta(seconds=20)


def test_a_duplicate_event_id_counts_once():
    store, seen = FakeRows(), BoundedCache(100, 3600)
    batch = events((7, 10, "click", 1, "e-1"), (7, 11, "click", 2, "e-2"))
    apply(store, batch, applied_ids=seen)
    again = apply(store, events((7, 11, "click", 2, "e-2"), (7, 12, "click", 3, "e-3")))
    assert again.events == 2  # without the remembered ids the retry would count
    store2 = FakeRows()
    apply(store2, batch, applied_ids=(ids := BoundedCache(100, 3600)))
    retried = apply(store2, events((7, 11, "click", 2, "e-2")), applied_ids=ids)
    assert retried.duplicates == 1 and retried.events == 0
    assert store2.rows[7][0][USER_EVENTS_ALL] == 2


def test_an_event_at_the_rows_own_time_still_moves_the_row_forward():
    store = FakeRows()
    apply(store, events((7, 10, "click", 10)))
    apply(store, events((7, 11, "click", 10)))  # same instant: written a tick later
    assert store.history(7) == [11, 10]  # a tie in time: by item id, as training orders
    assert store.rows[7][1] > T0 + timedelta(seconds=10)


def test_a_future_timestamp_counts_as_now():
    store = FakeRows()
    now = T0 + timedelta(days=1)
    apply(store, events((7, 10, "click", 10 * 86_400)))  # nine days ahead of `now`
    assert store.rows[7][1] == now
    apply(store, events((7, 11, "click", 86_400 + 1)))  # a second after now: not late
    assert store.history(7) == [11, 10]


def test_an_existing_row_keeps_its_values_and_a_skip_never_enters():
    store = FakeRows()
    store.rows[7] = ({USER_RECENT_ITEMS: [3, 2, 1], USER_EVENTS_ALL: 40, USER_ITEMS_ALL: 9}, T0)
    apply(store, events((7, 2, "purchase", 1), (7, 8, "impression_skip", 2), (7, 9, "click", 3)))
    assert store.history(7) == [9, 3, 2, 1]
    assert store.rows[7][0][USER_EVENTS_ALL] == 43
    assert store.rows[7][0][USER_ITEMS_ALL] == 10


def test_an_unknown_event_type_fails_before_any_write():
    store = FakeRows()
    bad = events((7, 10, "click", 1)).assign(**{EVENT_TYPE: "teleport"})
    with pytest.raises(ValueError, match="teleport"):
        apply(store, bad)
    assert store.writes == 0


def test_the_queue_is_bounded_and_drops_what_does_not_fit():
    gate = threading.Event()
    done: list[int] = []

    def slow(frame: pd.DataFrame) -> Applied:
        gate.wait(5)
        done.append(len(frame))
        return Applied(users=[1], events=len(frame))

    updates = LiveUpdates(slow, max_batches=2, start=False)
    batch = events((7, 10, "click", 1))
    assert updates.submit(batch) and updates.submit(batch)
    assert not updates.submit(batch)  # past the limit: dropped, counted
    assert updates.dropped == 1 and len(updates) == 2
    gate.set()
    assert updates.drain() == 2 and done == [1, 1]
    assert updates.describe()["applied_events"] == 2


def test_the_worker_applies_in_the_background_and_survives_a_failure():
    calls: list[int] = []
    finished = threading.Event()

    def work(frame: pd.DataFrame) -> Applied:
        calls.append(len(frame))
        if len(calls) == 1:
            raise RuntimeError("store down")
        return Applied(users=[7], events=len(frame))

    after: list[list[int]] = []
    updates = LiveUpdates(work, after=lambda r: (after.append(r.users), finished.set()))
    updates.submit(events((7, 10, "click", 1)))
    updates.submit(events((7, 11, "click", 2)))
    assert finished.wait(10)
    updates.stop()
    assert updates.failed == 1 and after == [[7]]
