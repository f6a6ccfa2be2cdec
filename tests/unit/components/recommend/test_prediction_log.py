import time

import pandas as pd

from components.recommend.prediction_log import (
    COLUMNS,
    Expiry,
    PredictionLog,
    expire_predictions,
    prediction_rows,
    write_predictions,
)


def test_rows_rank_from_one_and_files_have_the_drift_job_columns(tmp_path):
    rows = prediction_rows(7, [10, 11], [0.9, 0.5], "control", '{"m": "1"}')
    assert [r["rank"] for r in rows] == [1, 2]
    path = write_predictions(tmp_path, rows)
    frame = pd.read_parquet(path)
    assert tuple(frame.columns) == COLUMNS
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    assert write_predictions(tmp_path, []) is None


def test_buffer_flushes_by_age_or_size_and_is_off_without_a_folder(tmp_path):
    log = PredictionLog(tmp_path, max_rows=3, max_age_s=3600)
    assert log.add(prediction_rows(1, [1], [1.0], "a", "v")) is None
    assert log.add(prediction_rows(1, [2, 3], [1.0, 0.5], "a", "v")) is not None
    assert len(pd.read_parquet(next(tmp_path.glob("*.parquet")))) == 3
    log.add(prediction_rows(1, [4], [1.0], "a", "v"))
    assert log.flush() is not None and len(list(tmp_path.glob("*.parquet"))) == 2
    off = PredictionLog(None)
    assert off.add(prediction_rows(1, [1], [1.0], "a", "v")) is None and off.flush() is None


def test_an_idle_buffer_is_flushed_periodically_and_close_writes_the_rest(tmp_path):
    log = PredictionLog(tmp_path, max_rows=1000, max_age_s=0.05)
    log.add(prediction_rows(1, [1], [1.0], "a", "v"))  # no further request comes
    thread = log.flush_periodically()
    deadline = time.monotonic() + 5.0
    while not list(tmp_path.glob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(list(tmp_path.glob("*.parquet"))) == 1
    log.add(prediction_rows(2, [2, 3], [1.0, 0.5], "a", "v"))
    log.close()  # shutdown: the buffered rows are written, the thread stops
    thread.join(timeout=5.0)
    assert not thread.is_alive()
    log.add(prediction_rows(3, [4], [1.0], "a", "v"))  # recorded after close: written at once
    frames = [pd.read_parquet(p) for p in tmp_path.glob("*.parquet")]
    assert sorted(pd.concat(frames)["user_id"].tolist()) == [1, 2, 2, 3]


def test_expiry_removes_rows_past_retention_and_keeps_the_rest_in_order(tmp_path):
    now = pd.Timestamp("2025-06-01", tz="UTC")
    day = pd.Timedelta(days=1)
    write_predictions(tmp_path, prediction_rows(1, [1], [1.0], "a", "v", now - 100 * day))
    straddling = prediction_rows(2, [2], [1.0], "a", "v", now - 95 * day)
    straddling += prediction_rows(3, [3], [1.0], "a", "v", now - 10 * day)
    write_predictions(tmp_path, straddling)
    write_predictions(tmp_path, prediction_rows(4, [4], [1.0], "a", "v", now))
    before = sorted(p.name for p in tmp_path.glob("*.parquet"))

    result = expire_predictions(tmp_path, pd.Timedelta(days=90), now=now)

    assert result == Expiry(files_before=3, files_after=2, rows_removed=2)
    after = sorted(tmp_path.glob("*.parquet"))
    assert [p.name for p in after][1] == before[2]  # the newest file is untouched
    assert after[0].name.startswith(before[1].removesuffix(".parquet"))  # sorts where it did
    users = pd.concat([pd.read_parquet(p) for p in after])["user_id"].tolist()
    assert users == [3, 4]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    assert expire_predictions(tmp_path, pd.Timedelta(days=90), now=now).rows_removed == 0
    assert expire_predictions(tmp_path / "none", pd.Timedelta(days=1)) == Expiry(0, 0, 0)
