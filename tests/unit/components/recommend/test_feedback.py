import json
from datetime import UTC, datetime, timedelta

import pytest

from components.data.columns import CONTEXT, EVENT_ID, EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from components.data.validation import validate_interactions
from components.privacy.ids import UserIds
from components.recommend.feedback import USER_ERASED, RecentEventIds, check_feedback

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
USERS = UserIds(b"test-key-0123456789")
KEYS = frozenset({"page", "device", "n", "ok", "note", "score"})


def known(ids):
    return {i for i in ids if i < 100}


def variant(user):
    return ("exp", "a" if user % 2 else "b")


def check(events, **options):
    return check_feedback(events, known, variant, USERS, KEYS, **options)


def test_valid_events_are_kept_and_invalid_ones_rejected_one_by_one():
    events = [
        {"user_id": 1, "item_id": 5, "event_type": "click", "context": {"page": "home"}},
        {"user_id": 1, "item_id": 500, "event_type": "click"},  # unknown item
        {"user_id": 0, "item_id": 5, "event_type": "click"},  # id must be > 0
        {"user_id": 2, "item_id": 5, "event_type": "like"},  # unknown type
        {"user_id": 2, "item_id": 6, "event_type": "view", "timestamp": "2030-01-01T00:00:00Z"},
        "not an object",
        {"user_id": 2, "item_id": 5, "event_type": "view", "context": {"email": "a@b"}},
        {"user_id": 2, "item_id": 6, "event_type": "purchase", "value": 9.5, "extra": 1},
        {"user_id": 2, "item_id": 7, "event_type": "purchase", "timestamp": 1735732800},
    ]
    checked = check(events, now=NOW)
    assert checked.accepted == [0, 8]
    assert [r.index for r in checked.rejected] == [1, 2, 3, 4, 5, 6, 7]
    reasons = {r.index: " ".join(r.reasons) for r in checked.rejected}
    assert "unknown item 500" in reasons[1]
    assert "user_id" in reasons[2] and "event_type" in reasons[3]
    assert "future" in reasons[4] and "extra" in reasons[7]
    assert reasons[6] == "context: keys not allowed ['email']"  # not on the allow-list
    frame = checked.events
    # stored under the pseudonymous id, never the raw one
    assert frame[USER_ID].tolist() == [USERS(1), USERS(2)] and frame[ITEM_ID].tolist() == [5, 7]
    assert frame[TIMESTAMP].iloc[0] == NOW  # no timestamp: the time it was received
    context = json.loads(frame[CONTEXT].iloc[0])
    # the variant of the internal id (the one every other place assigns with)
    assert context == {"page": "home", "experiment": "exp", "variant": variant(USERS(1))[1]}
    # The frame passes the data layer's own validation unchanged in size.
    assert len(validate_interactions(frame, "test", now=NOW)) == 2


def test_duplicates_in_a_batch_are_rejected_so_accepted_counts_what_is_stored():
    event = {"user_id": 1, "item_id": 5, "event_type": "view", "timestamp": "2024-01-01T00:00:00"}
    checked = check([event, dict(event)], now=NOW)
    assert checked.accepted == [0]
    assert checked.rejected[0].reasons == ["duplicate of event 0"]
    assert checked.events[EVENT_TYPE].tolist() == ["view"]


def test_clock_skew_within_tolerance_is_accepted():
    soon = (NOW + timedelta(minutes=2)).isoformat()
    checked = check(
        [{"user_id": 1, "item_id": 5, "event_type": "view", "timestamp": soon}],
        now=NOW,
    )
    assert checked.accepted == [0]


def test_out_of_range_input_is_rejected_per_event_with_a_reason():
    base = {"item_id": 5, "event_type": "view"}
    events = [
        {"user_id": 2**63, **base},  # would wrap to a negative int64
        {"user_id": 2**64, **base},
        {"user_id": 1, **base, "timestamp": "0001-01-01T00:00:00Z"},
        {"user_id": 1, **base, "timestamp": "1600-06-01T00:00:00Z"},
        {"user_id": 1, **base, "context": {"note": "x" * 10_000}},
        {"user_id": 1, **base, "context": {"score": float("nan")}},
        {"user_id": 1, **base, "context": {"k" * 65: 1}},
        {"user_id": 2**63 - 1, **base, "context": {"device": "tv", "n": 3, "ok": True}},
    ]
    checked = check(events, now=NOW)
    assert checked.accepted == [7]
    reasons = {r.index: " ".join(r.reasons) for r in checked.rejected}
    assert set(reasons) == set(range(7))
    assert all("user_id" in reasons[i] for i in (0, 1))
    assert all("1970" in reasons[i] for i in (2, 3))
    assert all("context" in reasons[i] for i in (4, 5, 6))
    assert checked.events[USER_ID].tolist() == [USERS(2**63 - 1)]
    # What is stored is standard JSON (no NaN) and stays small.
    assert len(checked.events[CONTEXT].iloc[0]) < 200
    json.loads(checked.events[CONTEXT].iloc[0], parse_constant=lambda c: 1 / 0)


def test_a_retry_with_the_same_event_id_is_stored_once():
    event = {"user_id": 1, "item_id": 5, "event_type": "view", "event_id": "9f1c-2e:a.b_c"}
    stored = RecentEventIds(max_size=10)
    first = check([event, dict(event)], now=NOW, stored_ids=stored)
    # within a batch: the second copy is a duplicate (not an error) and is not stored
    assert first.accepted == [0] and first.duplicates == [1] and first.rejected == []
    assert first.events[EVENT_ID].tolist() == ["9f1c-2e:a.b_c"] == first.event_ids
    stored.add(first.event_ids)
    # across batches: the retry (received later, so another timestamp) is a duplicate too
    later = NOW + timedelta(seconds=30)
    again = check([event], now=later, stored_ids=stored)
    assert again.accepted == [] and again.duplicates == [0] and len(again.events) == 0
    # a failed write forgets its ids, so the client's retry is stored
    stored.forget(first.event_ids)
    retried = check([event], now=later, stored_ids=stored)
    assert retried.accepted == [0]
    # events without an id keep the old rule (exact duplicates in a batch rejected)
    plain = check([{**event, "event_id": None}], now=NOW)
    assert plain.accepted == [0] and plain.event_ids == []


@pytest.mark.parametrize("event_id", ["", "x" * 65, "has space", "ümlaut", "a/b", 7])
def test_a_malformed_event_id_is_rejected_with_a_reason(event_id):
    event = {"user_id": 1, "item_id": 5, "event_type": "view", "event_id": event_id}
    checked = check([event], now=NOW)
    assert checked.accepted == [] and "event_id" in checked.rejected[0].reasons[0]


def test_recent_event_ids_are_bounded_oldest_forgotten_first():
    recent = RecentEventIds(max_size=100)
    recent.add(f"id-{i}" for i in range(250))
    assert len(recent) == 100
    assert "id-249" in recent and "id-150" in recent and "id-149" not in recent
    assert "id-0" not in recent and 7 not in recent
    clock = [0.0]
    aging = RecentEventIds(max_size=10, ttl_s=60, clock=lambda: clock[0])
    aging.add(["old"])
    clock[0] = 61
    assert "old" not in aging


def test_string_and_integer_user_ids_are_pseudonymized_alike():
    events = [
        {"user_id": 42, "item_id": 5, "event_type": "view"},
        {"user_id": "42", "item_id": 6, "event_type": "view"},  # the same user as 42
        {"user_id": "3f2a9c1e-7b4d-4c8e-9a51-0b6f1c2e7d4a", "item_id": 5, "event_type": "view"},
        {"user_id": "x" * 129, "item_id": 5, "event_type": "view"},  # too long
        {"user_id": "has space", "item_id": 5, "event_type": "view"},  # outside the pattern
        {"user_id": True, "item_id": 5, "event_type": "view"},
    ]
    checked = check(events, now=NOW)
    assert checked.accepted == [0, 1, 2]
    assert [r.index for r in checked.rejected] == [3, 4, 5]
    users = checked.events[USER_ID].tolist()
    assert users[0] == users[1] == USERS(42) != users[2]
    assert all(0 < u < 2**63 for u in users) and 42 not in users
    assert checked.events[USER_ID].dtype == "int64"


def test_an_erased_users_events_are_not_stored_and_say_why():
    erased = {USERS("gone"), USERS(9)}
    events = [
        {"user_id": "gone", "item_id": 5, "event_type": "click", "event_id": "e-1"},
        {"user_id": 1, "item_id": 5, "event_type": "click"},
        {"user_id": "9", "item_id": 6, "event_type": "view"},  # "9" and 9 are one user
    ]
    checked = check(events, now=NOW, is_erased=erased.__contains__)
    assert checked.accepted == [1]
    assert checked.events[USER_ID].tolist() == [USERS(1)]
    assert [(r.index, r.reasons) for r in checked.rejected] == [
        (0, [USER_ERASED]),
        (2, [USER_ERASED]),
    ]
    assert checked.event_ids == []  # an erased user's event id is not remembered either
    assert check(events, now=NOW).accepted == [0, 1, 2]  # no predicate: all stored
