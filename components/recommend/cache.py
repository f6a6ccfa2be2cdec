"""A small bounded cache with a time to live: nothing a replica keeps per user grows without limit.

Least recently used entries go first when ``max_size`` is reached; an entry older than ``ttl_s``
is a miss. Thread-safe (Serve runs sync methods of a replica in a thread pool). A runtime owns
its caches, so a new runtime (a moved champion) starts with empty ones.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class BoundedCache:
    def __init__(
        self, max_size: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_size < 0 or ttl_s < 0:
            raise ValueError("max_size and ttl_s must be >= 0")
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        """The value stored under ``key`` if younger than ``ttl_s``, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._clock() - entry[0] > self.ttl_s:
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.max_size == 0 or self.ttl_s == 0:
            return
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def describe(self) -> dict[str, Any]:
        return {
            "size": len(self),
            "max_size": self.max_size,
            "ttl_s": self.ttl_s,
            "hits": self.hits,
            "misses": self.misses,
        }
