"""Feedback events checked one by one, so one bad event never costs the batch its good ones.

Each raw event is validated alone (pydantic model: a user id as an int64 integer > 0 or a
short string, an item id likewise (mapped to its internal id: ``components.data.item_ids``),
a known event type, a timestamp from 1970 on
and not in the future, a bounded context whose keys are on the allow-list, a known item); the
valid ones become one interaction frame in the shared data contract, with the user id
pseudonymized (``components.privacy.ids``: the raw id is never stored) and the user's experiment
variant written into ``context`` (JSON), and the invalid ones come back with their index and
reasons.

Idempotency: an event may carry a client ``event_id``. A retry (an id seen earlier in the batch,
or among the ids the ingress accepted lately: :class:`RecentEventIds`) is reported as a
duplicate and not stored again; the id is stored with the event, so training drops retries that
reached another replica or outlived the ingress's memory (``components.data.validation``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from components.data.columns import (
    CONTEXT,
    EVENT_ID,
    EVENT_TYPE,
    EVENT_TYPES,
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
    VALUE,
)
from components.data.contract import (
    EARLIEST_TIMESTAMP,
    FUTURE_TOLERANCE,
    MAX_CONTEXT_KEYS,
    ContextKey,
    ContextValue,
)
from components.data.item_ids import RawItemId, internal_item_id
from components.privacy.ids import RawUserId
from components.recommend.cache import BoundedCache

VARIANT_KEY = "variant"
USER_ERASED = "user_id: user erased"  # the reason an erased user's event is not stored
EXPERIMENT_KEY = "experiment"

# A client's idempotency key: a UUID, a ULID or any short token of these characters.
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
MAX_EVENT_ID_LENGTH = 64
EventId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_EVENT_ID_LENGTH, pattern=EVENT_ID_PATTERN)
]
# How many accepted ids an ingress replica remembers (oldest forgotten first; ~10 MB at most)
# and for how long; retries older than that are dropped by training instead.
RECENT_EVENT_IDS = 100_000
RECENT_EVENT_IDS_TTL_S = 24 * 3600.0


class RecentEventIds:
    """The ``event_id``s an ingress stored lately: bounded in count and age.

    Ids are reserved before the write and forgotten again if it fails, so two concurrent
    retries cannot both be stored and a failed write does not swallow the client's retry."""

    def __init__(
        self,
        max_size: int = RECENT_EVENT_IDS,
        ttl_s: float = RECENT_EVENT_IDS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ids = BoundedCache(max_size, ttl_s, clock=clock)

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and self._ids.get(event_id) is not None

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._ids.put(event_id, True)

    def forget(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._ids.discard(event_id)


class FeedbackEvent(BaseModel):
    """One event as a client sends it; ``timestamp`` defaults to the time it is received."""

    model_config = ConfigDict(extra="forbid")

    user_id: RawUserId
    item_id: RawItemId
    event_type: str
    timestamp: datetime | None = None
    context: dict[ContextKey, ContextValue] | None = Field(None, max_length=MAX_CONTEXT_KEYS)
    value: float | None = None
    event_id: EventId | None = None

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"unknown event_type {value!r}; expected one of {sorted(EVENT_TYPES)}")
        return value

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value < EARLIEST_TIMESTAMP:
            raise ValueError(f"must not be before {EARLIEST_TIMESTAMP.date().isoformat()}")
        return value

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


@dataclass(frozen=True)
class Rejection:
    index: int
    reasons: list[str]


@dataclass
class FeedbackCheck:
    events: pd.DataFrame  # valid events, interaction contract (+ context, value, event_id)
    accepted: list[int] = field(default_factory=list)  # indices in the posted batch
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)  # retries of stored events (event_id)

    @property
    def event_ids(self) -> list[str]:
        """The ``event_id``s of the accepted events (those that carry one)."""
        if EVENT_ID not in self.events.columns:
            return []
        return [i for i in self.events[EVENT_ID] if isinstance(i, str)]


def _messages(error: ValidationError) -> list[str]:
    out = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ())) or "event"
        out.append(f"{where}: {item.get('msg', 'invalid')}")
    return out


def unknown_context_keys(context: dict[str, Any] | None, allowed: Container[str]) -> list[str]:
    """The keys of ``context`` not on the allow-list, sorted (empty: the context is fine)."""
    return sorted(k for k in (context or {}) if k not in allowed)


def check_feedback(
    raw_events: Sequence[Any],
    known_items: Callable[[Iterable[int]], set[int]],
    variant_of: Callable[[int], tuple[str, str]],
    pseudonymize: Callable[[int | str], int],
    context_keys: Container[str],
    now: datetime | None = None,
    stored_ids: Container[str] = frozenset(),
    is_erased: Callable[[int], bool] | None = None,
) -> FeedbackCheck:
    """Validate each event alone; return the valid ones as a frame and the reasons for the rest.

    ``known_items(ids)`` returns the subset of internal item ``ids`` the catalog knows (one
    call per batch);
    ``pseudonymize(raw user id)`` is the internal id stored (``UserIds``); ``variant_of(internal
    user id)`` returns (experiment name, variant name) for the context column; a context key not
    in ``context_keys`` rejects the event; an event whose ``event_id`` is in ``stored_ids`` or
    earlier in the batch is a duplicate; an event of a user ``is_erased(internal id)`` says was
    erased is not stored (rejected: ``user_id: user erased``), so a right-to-erasure request is
    not undone by the client's next event (docs/security.md).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    parsed: list[tuple[int, FeedbackEvent]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raw_events):
        try:
            event = FeedbackEvent.model_validate(raw)
        except ValidationError as error:
            rejected.append(Rejection(index, _messages(error)))
            continue
        if event.timestamp is not None and event.timestamp > now + FUTURE_TOLERANCE:
            stamp = event.timestamp.isoformat()
            rejected.append(Rejection(index, [f"timestamp: in the future ({stamp})"]))
            continue
        extra = unknown_context_keys(event.context, context_keys)
        if extra:
            rejected.append(Rejection(index, [f"context: keys not allowed {extra}"]))
            continue
        parsed.append((index, event))
    internal = {index: internal_item_id(e.item_id) for index, e in parsed}
    known = known_items(set(internal.values())) if parsed else set()
    rows, accepted, duplicates, first_of = [], [], [], {}
    batch_ids: set[str] = set()
    for index, event in parsed:
        if event.event_id is not None and (
            event.event_id in stored_ids or event.event_id in batch_ids
        ):
            duplicates.append(index)
            continue
        item = internal[index]
        if item not in known:
            rejected.append(Rejection(index, [f"item_id: unknown item {event.item_id}"]))
            continue
        stamp = event.timestamp or now
        user = pseudonymize(event.user_id)
        if is_erased is not None and is_erased(user):
            rejected.append(Rejection(index, [USER_ERASED]))
            continue
        key = (user, item, event.event_type, stamp)
        if key in first_of:
            rejected.append(Rejection(index, [f"duplicate of event {first_of[key]}"]))
            continue
        first_of[key] = index
        if event.event_id is not None:
            batch_ids.add(event.event_id)
        experiment, variant = variant_of(user)
        context = {**(event.context or {}), EXPERIMENT_KEY: experiment, VARIANT_KEY: variant}
        rows.append(
            {
                USER_ID: user,
                ITEM_ID: item,
                EVENT_TYPE: event.event_type,
                TIMESTAMP: pd.Timestamp(stamp),
                CONTEXT: json.dumps(context, sort_keys=True),
                VALUE: float("nan") if event.value is None else event.value,
                EVENT_ID: event.event_id,
            }
        )
        accepted.append(index)
    rejected.sort(key=lambda r: r.index)
    columns = [USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP, CONTEXT, VALUE, EVENT_ID]
    frame = pd.DataFrame(rows, columns=columns)
    if len(frame):
        frame[USER_ID] = frame[USER_ID].astype("int64")
        frame[ITEM_ID] = frame[ITEM_ID].astype("int64")
        frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True).astype("datetime64[ns, UTC]")
        frame[VALUE] = frame[VALUE].astype("float64")
        frame[EVENT_ID] = frame[EVENT_ID].astype(object)
    return FeedbackCheck(frame, accepted, rejected, duplicates)
