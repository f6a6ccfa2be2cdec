import os
import time

import pandas as pd

from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from components.data.io import append_events
from components.recommend.event_tail import EventTail


def _events(pairs):
    return pd.DataFrame(
        {
            USER_ID: [u for u, _ in pairs],
            ITEM_ID: [i for _, i in pairs],
            EVENT_TYPE: "click",
            TIMESTAMP: pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )


def test_tail_reads_only_new_files_and_skips_old_ones(tmp_path):
    tail = EventTail(tmp_path / "events", lookback_s=3600)
    assert tail.poll() == 0  # no folder yet
    old = append_events(tmp_path / "events", _events([(9, 9)]))
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    append_events(tmp_path / "events", _events([(1, 5), (1, 6)]))
    assert tail.poll() == 2 and tail.poll() == 0
    append_events(tmp_path / "events", _events([(1, 7)]))
    assert tail.poll() == 1
    assert sorted(tail.seen(1).tolist()) == [5, 6, 7]
    assert tail.seen(9).size == 0 and tail.seen(2).size == 0
    assert EventTail(None).poll() == 0


def test_noted_feedback_counts_as_seen_before_any_poll(tmp_path):
    tail = EventTail(tmp_path / "events", max_events=3)
    tail.note(pd.DataFrame({USER_ID: [7, 7], ITEM_ID: [1, 2]}))
    assert sorted(tail.seen(7).tolist()) == [1, 2]
    tail.note(pd.DataFrame({USER_ID: [8, 8], ITEM_ID: [3, 4]}))  # past the bound: starts over
    assert tail.seen(7).tolist() == [] and sorted(tail.seen(8).tolist()) == [3, 4]
