from pathlib import Path

import pandas as pd
import pytest

from components.data.columns import (
    CONTEXT,
    EVENT_ID,
    EVENT_TYPE,
    INTERACTIONS_FILE,
    ITEM_ID,
    ITEMS_FILE,
    TIMESTAMP,
    USER_ID,
)
from components.data.io import (
    EVENTS_FOLDER,
    append_events,
    event_files,
    load_source,
    parse_synthetic_source,
    read_dataset,
    read_events,
    write_dataset,
)
from components.data.synthetic import generate_synthetic
from components.data.validation import DataValidationError


@pytest.fixture(scope="module")
def tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_synthetic(n_users=30, n_items=40, interactions_per_user=10, seed=4)


def _feedback(items: pd.DataFrame, n: int, user: int = 999) -> pd.DataFrame:
    return pd.DataFrame(
        {
            USER_ID: user,
            ITEM_ID: items[ITEM_ID].iloc[:n].to_numpy(),
            EVENT_TYPE: "click",
            TIMESTAMP: pd.Timestamp("2026-05-01", tz="UTC") + pd.to_timedelta(range(n), unit="s"),
            CONTEXT: "mobile",
        }
    )


def test_write_then_read_keeps_the_contract_exactly(tmp_path: Path, tiny) -> None:
    events, items = tiny
    write_dataset(tmp_path, events, items)
    assert {p.name for p in tmp_path.iterdir()} == {INTERACTIONS_FILE, ITEMS_FILE}
    again, again_items = read_dataset(tmp_path)
    pd.testing.assert_frame_equal(again, events)
    pd.testing.assert_frame_equal(again_items, items)


def test_append_events_round_trip(tmp_path: Path, tiny) -> None:
    events, items = tiny
    write_dataset(tmp_path, events, items)
    log = tmp_path / EVENTS_FOLDER
    assert len(read_events(log)) == 0 and list(read_events(log).columns)[:2] == [USER_ID, ITEM_ID]
    first = append_events(log, _feedback(items, 3))
    second = append_events(log, _feedback(items, 2, user=1000))
    assert first.parent == log and first != second and event_files(log) == [first, second]
    assert sorted(p.name for p in log.iterdir()) == sorted([first.name, second.name])  # no temp
    logged = read_events(log)
    assert len(logged) == 5 and set(logged[USER_ID]) == {999, 1000}
    combined, _ = read_dataset(tmp_path)
    assert len(combined) == len(events) + 5
    assert combined[CONTEXT].iloc[-1] == "mobile"
    assert str(combined[TIMESTAMP].dtype) == "datetime64[ns, UTC]"
    # the same batch logged twice (a client retry) is counted once
    append_events(log, _feedback(items, 3))
    assert len(read_dataset(tmp_path)[0]) == len(events) + 5


def test_bad_events_are_refused_before_anything_is_written(tmp_path: Path, tiny) -> None:
    _, items = tiny
    bad = _feedback(items, 2).assign(event_type=["click", "teleport"])
    with pytest.raises(DataValidationError, match="teleport"):
        append_events(tmp_path / EVENTS_FOLDER, bad)
    assert event_files(tmp_path / EVENTS_FOLDER) == []


def test_errors_name_the_event_file_at_fault(tmp_path: Path, tiny) -> None:
    events, items = tiny
    write_dataset(tmp_path, events, items)
    log = tmp_path / EVENTS_FOLDER
    stranger = append_events(log, _feedback(items, 1).assign(item_id=12345))
    with pytest.raises(DataValidationError, match="not in the item catalog") as error:
        read_dataset(tmp_path)
    assert error.value.source == str(stranger) and "12345" in str(error.value)
    stranger.unlink()
    (log / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataValidationError, match="broken.parquet"):
        read_dataset(tmp_path)
    with pytest.raises(DataValidationError, match="broken.parquet"):
        read_events(log)


def test_write_dataset_refuses_invalid_data(tmp_path: Path, tiny) -> None:
    events, items = tiny
    with pytest.raises(DataValidationError, match="not in the item catalog"):
        write_dataset(tmp_path / "out", events, items.iloc[1:])
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataValidationError, match="lacks"):
        read_dataset(tmp_path)


def test_load_source_picks_the_reader(tmp_path: Path, tiny, movielens) -> None:
    events, items = tiny
    assert parse_synthetic_source("synthetic:drift=0.5, seed=3,n_users=7,start=2026-02-01") == {
        "drift": 0.5,
        "seed": 3,
        "n_users": 7,
        "start": "2026-02-01",
    }
    generated, catalog = load_source(
        "synthetic:n_users=30,n_items=40,interactions_per_user=10,seed=4"
    )
    pd.testing.assert_frame_equal(generated, events)
    with pytest.raises(ValueError, match="colour"):
        load_source("synthetic:colour=red")
    write_dataset(tmp_path / "parquet", events, items)
    assert len(load_source(str(tmp_path / "parquet"))[0]) == len(events)
    assert load_source(movielens(tmp_path / "ml"))[1][ITEM_ID].tolist() == [1, 2, 3]
    with pytest.raises(DataValidationError, match="no such folder"):
        load_source(str(tmp_path / "missing"))


def test_a_retried_event_logged_twice_is_read_once_by_its_event_id(tmp_path: Path, tiny) -> None:
    events, items = tiny
    write_dataset(tmp_path, events, items)
    log = tmp_path / EVENTS_FOLDER
    append_events(log, _feedback(items, 2).assign(**{EVENT_ID: [None, None]}))  # no ids at all
    append_events(log, _feedback(items, 2, user=7).assign(**{EVENT_ID: ["r-1", None]}))
    # the retry of r-1 was received an hour later (the server stamped it), so only the id matches
    retry = _feedback(items, 1, user=7).assign(**{EVENT_ID: ["r-1"]})
    append_events(log, retry.assign(**{TIMESTAMP: retry[TIMESTAMP] + pd.Timedelta(1, "h")}))
    logged = read_events(log)
    assert len(logged) == 4 and logged[EVENT_ID].tolist().count("r-1") == 1
    assert len(read_dataset(tmp_path)[0]) == len(events) + 4


def test_compaction_keeps_the_retention_window_and_merges_small_files(tmp_path):
    from components.data.io import compact_events, event_files

    now = pd.Timestamp("2025-06-01", tz="UTC")
    log_dir = tmp_path / "events"
    for day in range(10):  # ten small files, one a day
        stamp = now - pd.Timedelta(days=day, hours=1)
        append_events(
            log_dir,
            pd.DataFrame(
                {
                    USER_ID: [day + 1, day + 1],
                    ITEM_ID: [1, 2],
                    EVENT_TYPE: ["click", "view"],
                    TIMESTAMP: [stamp, stamp],
                }
            ),
        )
    newest = event_files(log_dir)[-1].name
    result = compact_events(log_dir, pd.Timedelta(days=5), now=now, max_rows_per_file=4)
    assert (result.files_before, result.events_before, result.events_after) == (10, 20, 10)
    files = event_files(log_dir)
    assert result.files_after == len(files) == 3  # 10 events, at most 4 per file
    kept = read_events(log_dir)
    assert len(kept) == 10 and kept[TIMESTAMP].min() >= now - pd.Timedelta(days=5)
    # an event appended later sorts after the compacted files (write order kept)
    later = append_events(log_dir, kept.iloc[:1].assign(**{ITEM_ID: 9}))
    assert event_files(log_dir)[-1] == later and files[0].name.startswith(newest[:27])
    # nothing old and one file: a no-op
    again = compact_events(log_dir, pd.Timedelta(days=5), now=now, max_rows_per_file=100)
    assert again.files_after == 1 and again.events_after == 11
    assert compact_events(log_dir, pd.Timedelta(days=5), now=now).files_after == 1
