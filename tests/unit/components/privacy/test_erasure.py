import pandas as pd
import pytest

from components.data.columns import USER_ID
from components.data.io import append_events, event_files, read_events
from components.privacy.erasure import (
    CACHES,
    EVENT_LOG,
    PREDICTION_LOG,
    ErasureList,
    add_tombstone,
    drop_erased,
    erase_user,
    read_tombstones,
)
from components.privacy.ids import UserIds
from components.recommend.cache import BoundedCache
from components.recommend.event_tail import EventTail
from components.recommend.prediction_log import PredictionLog, prediction_rows

USERS = UserIds(b"erasure-test-key-0001")
NOW = pd.Timestamp("2025-01-01", tz="UTC")


def events(users: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            USER_ID: users,
            "item_id": list(range(1, len(users) + 1)),
            "event_type": "click",
            "timestamp": [NOW - pd.Timedelta(minutes=i) for i in range(len(users))],
        }
    )


@pytest.fixture
def stores(tmp_path):
    alice, bob = USERS("alice"), USERS("bob")
    log_dir, predictions = tmp_path / "events", tmp_path / "predictions"
    append_events(log_dir, events([alice, bob, alice]))
    append_events(log_dir, events([alice]))  # a file holding only her: removed
    append_events(log_dir, events([bob]))  # a file without her: untouched
    buffer = PredictionLog(predictions)
    buffer.add(prediction_rows(alice, [1, 2], [0.9, 0.8], "control", "{}"))
    buffer.add(prediction_rows(bob, [3], [0.7], "control", "{}"))
    buffer.flush()
    return alice, bob, log_dir, predictions


def test_erasure_removes_the_user_everywhere_and_keeps_everyone_else(tmp_path, stores):
    alice, bob, log_dir, predictions = stores
    untouched = event_files(log_dir)[-1]
    cache = BoundedCache(10, 60)
    cache.put(alice, "row")
    cache.put(bob, "row")
    tail = EventTail(log_dir)
    tail.poll()
    assert sorted(tail.seen(alice)) == [1, 3]

    removed = erase_user(
        alice, USERS, tmp_path / "erased.txt", log_dir, predictions, caches=[cache]
    )

    assert removed[EVENT_LOG] == 3 and removed[PREDICTION_LOG] == 2 and removed[CACHES] == 1
    left = read_events(log_dir)
    assert alice not in set(left[USER_ID]) and (left[USER_ID] == bob).sum() == 2
    assert untouched in event_files(log_dir) and len(event_files(log_dir)) == 2
    logged = pd.concat(pd.read_parquet(p) for p in predictions.glob("*.parquet"))
    assert set(logged[USER_ID]) == {bob}
    assert cache.get(alice) is None and cache.get(bob) == "row"
    tail.poll()  # a file it read vanished: it starts over without her
    assert len(tail.seen(alice)) == 0 and sorted(tail.seen(bob)) == [1, 2]
    # no raw or pseudonymous id is kept in the tombstone list
    text = (tmp_path / "erased.txt").read_text()
    assert str(alice) not in text and "alice" not in text
    # idempotent: a second erasure finds nothing
    again = erase_user(alice, USERS, tmp_path / "erased.txt", log_dir, predictions)
    assert again[EVENT_LOG] == again[PREDICTION_LOG] == 0
    assert len(read_tombstones(tmp_path / "erased.txt")) == 1


def test_ingest_drops_erased_users_from_any_source(tmp_path):
    alice, bob = USERS("alice"), USERS("bob")
    add_tombstone(tmp_path / "erased.txt", USERS.tombstone(alice))
    kept = drop_erased(events([alice, bob, alice]), USERS, read_tombstones(tmp_path / "erased.txt"))
    assert kept[USER_ID].tolist() == [bob]
    assert len(drop_erased(events([bob]), USERS, set())) == 1


def test_the_prediction_buffer_forgets_erased_users_on_any_replica(tmp_path):
    alice, bob = USERS("alice"), USERS("bob")
    erased: set[int] = set()
    buffer = PredictionLog(tmp_path, erased=lambda ids: ids & erased)
    buffer.add(prediction_rows(alice, [1], [0.5], "v", "{}"))
    buffer.add(prediction_rows(bob, [1], [0.5], "v", "{}"))
    assert buffer.forget_users({bob}) == 1  # the replica that got the erasure
    erased.add(alice)  # another replica's erasure, seen at flush
    assert buffer.flush() is None and not list(tmp_path.glob("*.parquet"))


def test_the_erasure_list_rereads_only_a_changed_file(tmp_path):
    path = tmp_path / "privacy" / "erased.txt"
    erasures = ErasureList(path, USERS)
    assert erasures.refresh() is False and len(erasures) == 0  # no file: nobody erased
    assert not erasures.is_erased(USERS("alice"))
    add_tombstone(path, USERS.tombstone(USERS("alice")))
    assert erasures.refresh() is True and erasures.version == 1
    assert erasures.refresh() is False and erasures.version == 1  # unchanged: not re-read
    assert erasures.is_erased(USERS("alice")) and not erasures.is_erased(USERS("bob"))
    both = [USERS("alice"), USERS("bob")]
    assert erasures.erased_among(both) == {USERS("alice")}
    path.unlink()  # a list removed by hand: nobody erased any more
    assert erasures.refresh() is True and erasures.erased_among(both) == frozenset()
    assert ErasureList(None, USERS).refresh() is False
