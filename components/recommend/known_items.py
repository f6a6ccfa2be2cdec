"""The item ids feedback is checked against, held by the ingress so feedback never waits on
the Retrieval deployment.

``KnownItems`` keeps a snapshot of the catalog's ids (a sorted int64 array: 8 bytes per item,
at most ``max_items``) and reloads it in the background through ``load`` (in serving: the
Retrieval deployment's ``catalog_ids``) once it is older than ``refresh_s``. A request never
awaits a reload once a snapshot is held: while Retrieval restarts, feedback is checked against
the last snapshot. An id the snapshot does not know makes the next reload come early (at most
once per ``min_refresh_s``), so an item added to the catalog is accepted within seconds. Only
before the first snapshot does a request await the load (and fail when it fails).

With ``load_names`` it also holds the catalog's string ids (internal id -> SKU/UUID, only for
the items that have one; at most one per held id), so answers name items as clients do without
a call to Retrieval per request (``components.data.item_ids``). With ``load_fingerprint`` (a
digest of both, ``Catalog.fingerprint``) a reload asks it first and copies ids and names only
when it changed: an unchanged catalog of a million SKUs costs one short call a minute, not a
copy of every id and string.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MAX_ITEMS = 20_000_000  # 160 MB of ids: past that, keep none and say so


class CatalogTooLargeError(RuntimeError):
    """The catalog has more ids than the snapshot may hold."""


class KnownItems:
    def __init__(
        self,
        load: Callable[[], Awaitable[Iterable[int] | np.ndarray]],
        refresh_s: float = 60.0,
        min_refresh_s: float = 5.0,
        max_items: int = DEFAULT_MAX_ITEMS,
        clock: Callable[[], float] = time.monotonic,
        load_names: Callable[[], Awaitable[dict[int, str]]] | None = None,
        load_fingerprint: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self._load = load
        self._load_names = load_names
        self._load_fingerprint = load_fingerprint
        self._fingerprint: str | None = None  # of the snapshot held
        self.names: dict[int, str] = {}
        self.refresh_s = refresh_s
        self.min_refresh_s = min_refresh_s
        self.max_items = max_items
        self._clock = clock
        self._ids: np.ndarray | None = None
        self._loaded_at = float("-inf")
        self._tried_at = float("-inf")
        self._task: asyncio.Task | None = None
        self.last_error: str | None = None

    async def reload(self) -> None:
        """Load a new snapshot now; on failure keep the one held and record the error."""
        self._tried_at = self._clock()
        try:
            fingerprint = await self._load_fingerprint() if self._load_fingerprint else None
            if fingerprint is not None and fingerprint == self._fingerprint:  # held, unchanged
                self._loaded_at, self.last_error = self._clock(), None  # nothing to copy
                return
            ids = np.unique(np.asarray(await self._load(), dtype=np.int64).reshape(-1))
            if len(ids) > self.max_items:
                raise CatalogTooLargeError(
                    f"{len(ids)} catalog ids, more than the {self.max_items} a snapshot holds"
                )
            names = dict(await self._load_names()) if self._load_names is not None else {}
            if len(names) > len(ids):
                raise ValueError(f"{len(names)} string ids for {len(ids)} catalog ids")
        except Exception as error:  # noqa: BLE001 - keep the snapshot held, say why
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("catalog snapshot not refreshed (%s)", self.last_error)
            if isinstance(error, CatalogTooLargeError):
                self._ids, self.names, self._fingerprint = None, {}, None
            return
        self._ids, self._loaded_at, self.last_error = ids, self._clock(), None
        self.names, self._fingerprint = names, fingerprint

    def _reload_in_background(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.reload())

    async def known(self, item_ids: Iterable[int]) -> set[int]:
        """The ids of ``item_ids`` the catalog holds. Raises only when no snapshot was ever
        loaded and loading one fails now."""
        ids = np.asarray(list(item_ids), dtype=np.int64)
        if self._ids is None:
            await self.reload()
            if self._ids is None:
                raise RuntimeError(f"no catalog snapshot: {self.last_error}")
        snapshot = self._ids
        found = _contains(snapshot, ids)
        now = self._clock()
        unknown = not found.all()
        if now - self._loaded_at >= self.refresh_s or (
            unknown and now - self._tried_at >= self.min_refresh_s
        ):
            self._reload_in_background()
        return {int(i) for i in ids[found]}

    def describe(self) -> dict[str, Any]:
        return {
            "items": None if self._ids is None else len(self._ids),
            "age_s": None if self._ids is None else round(self._clock() - self._loaded_at, 1),
            "error": self.last_error,
        }


def _contains(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if not len(sorted_ids):
        return np.zeros(len(ids), dtype=bool)
    positions = np.searchsorted(sorted_ids, ids).clip(0, len(sorted_ids) - 1)
    return sorted_ids[positions] == ids
