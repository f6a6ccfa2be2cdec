"""Live user state: accepted feedback folded into the online store's user row within seconds.

Training materializes user rows from snapshots; between two runs a new user would stay on
popularity however much they click. ``apply_events`` closes that gap: it reads the users' rows,
folds the new events in and writes the rows back (Feast ``write_to_online_store``), so the next
request reads the new ``user_recent_items`` and the user tower embeds the user.

Rules (docs/events.md, "The live path"):

- the history is ``two_tower.history.recent_positive_items`` over the stored list (as events at
  the row's time, most recent first) plus the new events: positives only, a skip never enters
  it, an item already in it keeps its place (its first positive), as training builds it;
- the row's event timestamp is the latest event folded in: an event older than it is late and
  left out (it does not rewind the history; the next training run reads it from the event
  log); a client timestamp in the future counts as now;
- an ``event_id`` already applied (``applied_ids``, bounded) is skipped: a retry counts once;
- counters: every applied event adds one to ``user_events_*``; a new item of the history adds
  one to ``user_items_all``. Windows are not aged here (the next materialization does).

``LiveUpdates`` runs ``apply_events`` off the request path: a bounded queue drained by one
worker thread; a batch that does not fit is dropped and counted (it is still in the event log).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from components.data.columns import EVENT_ID, EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID, VALUE
from components.data.events import EventTable, default_table, event_weights
from components.features.columns import (
    EVENT_TIMESTAMP,
    RECENT_ITEMS_N,
    USER_DEFAULTS,
    USER_EVENTS_7D,
    USER_EVENTS_30D,
    USER_EVENTS_365D,
    USER_EVENTS_ALL,
    USER_FEATURES,
    USER_ITEMS_ALL,
    USER_RECENT_ITEMS,
    USER_VIEW,
)
from components.recommend.cache import BoundedCache
from components.two_tower.history import recent_positive_items

log = logging.getLogger(__name__)

COUNTERS = (USER_EVENTS_7D, USER_EVENTS_30D, USER_EVENTS_365D, USER_EVENTS_ALL)
APPLIED_IDS = 100_000  # event ids remembered per writer (oldest forgotten first)
APPLIED_IDS_TTL_S = 24 * 3600.0
QUEUE_BATCHES = 1_000  # feedback batches waiting for the worker, at most
_TICK = timedelta(microseconds=1)


class UserRowStore(Protocol):
    """Where user rows live: Feast (``FeastUserRows``) or a fake in tests."""

    def read(self, user_ids: Sequence[int]) -> dict[int, tuple[dict[str, Any], datetime]]:
        """User id -> (feature values, the row's event timestamp) for the users it holds."""
        ...

    def write(self, rows: pd.DataFrame) -> None:
        """Write rows: ``user_id``, ``event_timestamp`` and every user feature."""
        ...


@dataclass
class Applied:
    """What one call did: rows written, events folded in, late and duplicate events skipped."""

    users: list[int] = field(default_factory=list)
    events: int = 0
    late: int = 0
    duplicates: int = 0


def _utc(stamp: Any) -> datetime:
    moment = pd.Timestamp(stamp)
    moment = moment.tz_localize(UTC) if moment.tzinfo is None else moment.tz_convert(UTC)
    return moment.to_pydatetime()


def _stand_in_type(table: EventTable) -> str:
    """An event type that is a positive whatever its value: the stored history's items are
    positives already, re-read as such."""
    for name, semantics in table.root.items():
        if semantics.positive and semantics.min_value is None:
            return name
    raise ValueError("the event table has no unconditional positive type")


def merged_history(
    stored: Sequence[int],
    stored_at: datetime,
    events: pd.DataFrame,
    table: EventTable,
    length: int = RECENT_ITEMS_N,
) -> list[int]:
    """The stored history (most recent first, as of ``stored_at``) with ``events`` folded in,
    through ``recent_positive_items``: the same rules as training's histories."""
    stand_in = _stand_in_type(table)
    base = pd.Timestamp(stored_at)
    prior = pd.DataFrame(
        {
            USER_ID: np.zeros(len(stored), np.int64),
            ITEM_ID: np.asarray(stored, dtype=np.int64),
            EVENT_TYPE: stand_in,
            # The list is most recent first: item i was first engaged i ticks before the row.
            TIMESTAMP: [base - pd.Timedelta(microseconds=i) for i in range(len(stored))],
            VALUE: np.nan,
        }
    )
    new = pd.DataFrame(
        {
            USER_ID: np.zeros(len(events), np.int64),
            ITEM_ID: events[ITEM_ID].to_numpy(np.int64),
            EVENT_TYPE: events[EVENT_TYPE].astype(str).to_numpy(),
            TIMESTAMP: pd.to_datetime(events[TIMESTAMP], utc=True),
            VALUE: events[VALUE].to_numpy(np.float64) if VALUE in events else np.nan,
        }
    )
    frames = [f for f in (prior, new) if len(f)]
    if not frames:
        return []
    both = pd.concat(frames, ignore_index=True)
    both[TIMESTAMP] = pd.to_datetime(both[TIMESTAMP], utc=True)
    return recent_positive_items(both, length, table).get(0, [])


def apply_events(
    store: UserRowStore,
    events: pd.DataFrame,
    *,
    table: EventTable | None = None,
    applied_ids: BoundedCache | None = None,
    now: datetime | None = None,
    history_length: int = RECENT_ITEMS_N,
) -> Applied:
    """Fold accepted feedback ``events`` (the interaction contract, ``event_id`` optional) into
    their users' online rows; one read and one write for the whole batch."""
    table = table if table is not None else default_table()
    now = _utc(now or datetime.now(UTC))
    result = Applied()
    if not len(events):
        return result
    frame = events.copy()
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    if EVENT_ID in frame and applied_ids is not None:
        ids = frame[EVENT_ID]
        repeated = ids.map(lambda i: isinstance(i, str) and applied_ids.get(i) is not None)
        repeated |= ids.notna() & ids.duplicated()
        result.duplicates = int(repeated.sum())
        frame = frame[~repeated.to_numpy(bool)]
    event_weights(frame, table)  # an event type the table lacks fails here, before any write
    users = sorted({int(u) for u in frame[USER_ID]})
    held = store.read(users)
    rows = []
    for user in users:
        mine = frame[frame[USER_ID].to_numpy(np.int64) == user]
        values, stored_at = held.get(user, (None, None))
        values = dict(USER_DEFAULTS) if values is None else {**USER_DEFAULTS, **values}
        stamps = mine[TIMESTAMP].map(lambda t: min(_utc(t), now))
        late = (stamps < stored_at).to_numpy(bool) if stored_at is not None else None
        if late is not None and late.any():
            result.late += int(late.sum())
            mine, stamps = mine[~late], stamps[~late]
        if not len(mine):
            continue
        mine = mine.assign(**{TIMESTAMP: pd.to_datetime(list(stamps), utc=True)})
        before = [int(i) for i in values[USER_RECENT_ITEMS] or []]
        anchor = stored_at if stored_at is not None else min(stamps) - _TICK
        history = merged_history(before, anchor, mine, table, history_length)
        for name in COUNTERS:
            values[name] = int(values[name]) + len(mine)
        values[USER_ITEMS_ALL] = int(values[USER_ITEMS_ALL]) + len(set(history) - set(before))
        values[USER_RECENT_ITEMS] = history
        written_at = max(stamps)
        if stored_at is not None and written_at <= stored_at:
            written_at = stored_at + _TICK  # Redis keeps a row only if it is strictly newer
        rows.append({USER_ID: user, EVENT_TIMESTAMP: written_at, **values})
        result.users.append(user)
        result.events += len(mine)
    if rows:
        out = pd.DataFrame(rows, columns=[USER_ID, EVENT_TIMESTAMP, *USER_FEATURES])
        out[EVENT_TIMESTAMP] = pd.to_datetime(out[EVENT_TIMESTAMP], utc=True)
        store.write(out)
    if applied_ids is not None and EVENT_ID in frame:
        for event_id in frame[EVENT_ID]:
            if isinstance(event_id, str):
                applied_ids.put(event_id, True)
    return result


class FeastUserRows:
    """``UserRowStore`` over a Feast store: rows of the user view, read with their event
    timestamps at full precision, written with ``write_to_online_store``."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def read(self, user_ids: Sequence[int]) -> dict[int, tuple[dict[str, Any], datetime]]:
        ids = [int(u) for u in user_ids]
        if not ids:
            return {}
        response = self.store.get_online_features(
            features=[f"{USER_VIEW}:{name}" for name in USER_FEATURES],
            entity_rows=[{USER_ID: u} for u in ids],
        )
        values = response.to_dict()
        # to_dict(include_event_timestamps=True) keeps whole seconds only: read the proto.
        names = list(response.proto.metadata.feature_names.val)
        stamps = response.proto.results[names.index(USER_RECENT_ITEMS)].event_timestamps
        found: dict[int, tuple[dict[str, Any], datetime]] = {}
        for row, user in enumerate(ids):
            row_values = {name: values[name][row] for name in USER_FEATURES}
            if all(v is None for v in row_values.values()):
                continue
            stamp = stamps[row]
            moment = datetime.fromtimestamp(stamp.seconds, UTC) + timedelta(
                microseconds=stamp.nanos // 1000
            )
            found[user] = ({k: v for k, v in row_values.items() if v is not None}, moment)
        return found

    def write(self, rows: pd.DataFrame) -> None:
        self.store.write_to_online_store(USER_VIEW, df=rows)


class LiveUpdates:
    """A bounded queue of feedback batches and one worker thread that applies them.

    ``apply(events)`` does the work (``apply_events`` with the replica's store); ``after(result)``
    runs once a batch is written (the replica drops its cached rows of those users). ``submit``
    never blocks: a batch that does not fit is dropped and counted in ``dropped``."""

    def __init__(
        self,
        apply: Callable[[pd.DataFrame], Applied],
        after: Callable[[Applied], None] = lambda _: None,
        max_batches: int = QUEUE_BATCHES,
        start: bool = True,
    ) -> None:
        self._apply, self._after = apply, after
        self._queue: queue.Queue[pd.DataFrame | None] = queue.Queue(maxsize=max_batches)
        self.dropped = 0
        self.applied = 0
        self.failed = 0
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="live-updates", daemon=True)
            self._thread.start()

    def submit(self, events: pd.DataFrame) -> bool:
        """Queue one batch; False (dropped) when the queue is full."""
        if not len(events):
            return True
        try:
            self._queue.put_nowait(events)
            return True
        except queue.Full:
            self.dropped += 1
            log.warning("live updates queue full: %d events left to the next run", len(events))
            return False

    def drain(self) -> int:
        """Apply every queued batch in the calling thread (tests, shutdown); returns how many."""
        done = 0
        while True:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                return done
            if batch is not None:
                self._one(batch)
                done += 1

    def _one(self, batch: pd.DataFrame) -> None:
        try:
            result = self._apply(batch)
            self.applied += result.events
            self._after(result)
        except Exception as error:  # noqa: BLE001 - the event log still holds the batch
            self.failed += 1
            log.warning("live update of %d events failed: %s", len(batch), error)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            self._one(batch)

    def stop(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(queue.Full):  # a full queue: the daemon thread dies with us
                self._queue.put_nowait(None)

    def __len__(self) -> int:
        return self._queue.qsize()

    def describe(self) -> dict[str, int]:
        return {
            "queued": len(self),
            "max_batches": self._queue.maxsize,
            "applied_events": self.applied,
            "dropped_batches": self.dropped,
            "failed_batches": self.failed,
        }
