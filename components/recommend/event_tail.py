"""Items users engaged with since the serving tables were built, read from the event log.

Feedback posted to serving lands in the event log at once, but reaches the serving tables and
the online store only at the next training run. Tailing the log closes that gap for the
already-seen rule: an item a user just bought is not recommended to them a second later.
Only new files are read (names sort in write order); files older than ``lookback_s`` are skipped
(a later training run has already folded them into the tables). When a file it read vanishes
(an erasure rewrote it, compaction merged it) the tail starts over, so an erased user's items
leave every replica within one poll.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, USER_ID

log = logging.getLogger(__name__)

_EMPTY = np.zeros(0, dtype=np.int64)


class EventTail:
    def __init__(
        self, directory: Path | None, lookback_s: float = 7 * 86_400, max_events: int = 2_000_000
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.lookback_s = lookback_s
        self.max_events = max_events
        self._read: set[str] = set()
        self._by_user: dict[int, set[int]] = {}
        self._events = 0
        self._lock = threading.Lock()

    def poll(self) -> int:
        """Read files not read yet; returns the number of new events."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        horizon = time.time() - self.lookback_s
        added = 0
        paths = sorted(self.directory.glob("*.parquet"))
        if self._read - {p.name for p in paths}:  # rewritten (erasure) or compacted: re-read
            with self._lock:
                self._read.clear()
                self._by_user.clear()
                self._events = 0
        for path in paths:
            if path.name in self._read:
                continue
            self._read.add(path.name)
            try:
                if path.stat().st_mtime < horizon:
                    continue
                frame = pd.read_parquet(path, columns=[USER_ID, ITEM_ID])
            except (OSError, ValueError) as error:
                log.warning("skipping unreadable event file %s: %s", path, error)
                continue
            self.note(frame)
            added += len(frame)
        return added

    def note(self, events: pd.DataFrame) -> None:
        """Fold (user, item) pairs in now: the poll's own step, and the feedback this replica
        is handed directly, so its next answer already treats them as seen (reading the same
        file later adds nothing). Bounded: past ``max_events`` it starts over."""
        with self._lock:
            if self._events + len(events) > self.max_events:
                self._by_user.clear()
                self._events = 0
            for user, item in zip(
                events[USER_ID].to_numpy(np.int64), events[ITEM_ID].to_numpy(np.int64), strict=True
            ):
                self._by_user.setdefault(int(user), set()).add(int(item))
            self._events += len(events)

    def seen(self, user_id: int) -> np.ndarray:
        with self._lock:
            items = self._by_user.get(int(user_id))
            return np.fromiter(items, dtype=np.int64) if items else _EMPTY
