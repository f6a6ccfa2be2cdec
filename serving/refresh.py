"""Hot swap: hold the runtime a replica serves from and replace it, whole, when it goes stale.

A background thread checks every ``interval_s`` whether the current runtime is stale (an alias
moved, a service that was down may be back); if so it builds the next runtime NEXT TO the
current one (requests keep using the current one meanwhile), swaps the reference in one
assignment, and retires what the new runtime no longer uses after a grace period, so a request
that started on the old runtime finishes on it. A failed build leaves the current runtime in
place and is retried at the next check: a refresh can never fail a request.

While the current runtime is degraded (a dependency was missing: ``degraded``) or the last build
failed, checks come sooner, with backoff (``Backoff``: 1 s, 2 s, 4 s ... up to ``interval_s``),
so a store that comes back is picked up within seconds, not at the next regular check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Backoff:
    """Delays that double from ``first_s`` up to ``cap_s``; ``reset`` starts over."""

    def __init__(self, first_s: float = 1.0, cap_s: float = 30.0) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self._next = first_s

    def next(self) -> float:
        delay = min(self._next, self.cap_s)
        self._next = min(self._next * 2, self.cap_s)
        return delay

    def reset(self) -> None:
        self._next = self.first_s


class HotSwap(Generic[T]):
    def __init__(
        self,
        name: str,
        build: Callable[[T | None], T],
        is_stale: Callable[[T], bool],
        retire: Callable[[T, T], None] | None = None,
        interval_s: float = 30.0,
        retire_after_s: float = 30.0,
        degraded: Callable[[T], bool] | None = None,
        retry_first_s: float = 1.0,
    ) -> None:
        self.name = name
        self._build = build
        self._is_stale = is_stale
        self._retire = retire
        self.interval_s = interval_s
        self.retire_after_s = retire_after_s
        self._degraded = degraded
        self._backoff = Backoff(retry_first_s, interval_s)
        self._lock = threading.Lock()  # one build at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0
        self.last_error: str | None = None
        self.current: T = build(None)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"{self.name}-refresh")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def next_wait_s(self) -> float:
        """How long until the next check: the backoff's next delay while degraded or failing,
        else the regular interval."""
        self._backoff.cap_s = self.interval_s  # live: reconfigure may change the interval
        degraded = self._degraded is not None and self._degraded(self.current)
        if degraded or self.last_error is not None:
            return self._backoff.next()
        self._backoff.reset()
        return self.interval_s

    def _loop(self) -> None:
        while not self._stop.wait(self.next_wait_s()):
            self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Rebuild and swap if stale (or ``force``); True when a new runtime was swapped in."""
        with self._lock:
            previous = self.current
            try:
                if not force and not self._is_stale(previous):
                    return False
                started = time.monotonic()
                fresh = self._build(previous)
            except Exception as error:  # noqa: BLE001 - keep serving the current runtime
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning(
                    "%s: refresh failed, still serving the current runtime: %s", self.name, error
                )
                return False
            self.current = fresh
            self.swaps += 1
            self.last_error = None
            log.info(
                "%s: swapped in a new runtime (built in %.2f s)",
                self.name,
                time.monotonic() - started,
            )
        if self._retire is not None:
            retire = self._retire
            timer = threading.Timer(self.retire_after_s, lambda: retire(previous, fresh))
            timer.daemon = True
            timer.start()
        return True
