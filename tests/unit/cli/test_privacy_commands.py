"""`reco users erase` and `reco maintenance compact` on a state folder (no service started)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from components.data.io import append_events, read_events
from components.recommend.prediction_log import prediction_rows, write_predictions
from components.settings import get_settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RECO_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _events(users: list[int], when: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {USER_ID: users, ITEM_ID: [1] * len(users), EVENT_TYPE: "click", TIMESTAMP: when}
    )


def test_users_erase_removes_the_user_by_the_id_clients_send(settings):
    users = settings.user_ids()
    now = pd.Timestamp.now(tz="UTC")
    append_events(settings.event_log_dir, _events([users("u-1"), users(7)], now))
    result = CliRunner().invoke(app, ["users", "erase", "u-1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["event_log"] == 1
    assert read_events(settings.event_log_dir)[USER_ID].tolist() == [users(7)]
    assert "u-1" not in result.output
    bad = CliRunner().invoke(app, ["users", "erase", "not allowed/id"])
    assert bad.exit_code == 2


def test_maintenance_compact_applies_the_retention_setting(settings, monkeypatch):
    now = pd.Timestamp.now(tz="UTC")
    append_events(settings.event_log_dir, _events([1], now - pd.Timedelta(days=400)))
    append_events(settings.event_log_dir, _events([2], now - pd.Timedelta(days=1)))
    result = CliRunner().invoke(app, ["maintenance", "compact"])  # default: 365 days
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures == {
        "files_before": 2,
        "files_after": 1,
        "events_before": 2,
        "events_after": 1,
        "predictions": {"files_before": 0, "files_after": 0, "rows_removed": 0},
    }
    assert read_events(settings.event_log_dir)[USER_ID].tolist() == [2]


def test_maintenance_compact_applies_the_prediction_retention_setting(settings, monkeypatch):
    now = pd.Timestamp.now(tz="UTC")
    write_predictions(settings.prediction_log_dir, prediction_rows(1, [5], [0.5], "a", "1", now))
    old = now - pd.Timedelta(days=100)
    write_predictions(settings.prediction_log_dir, prediction_rows(2, [5], [0.5], "a", "1", old))
    result = CliRunner().invoke(app, ["maintenance", "compact"])  # default: 90 days
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])["predictions"]
    assert figures == {"files_before": 2, "files_after": 1, "rows_removed": 1}
    monkeypatch.setenv("RECO_PREDICTION_RETENTION_DAYS", "0.5")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["maintenance", "compact"])
    assert json.loads(result.output.strip().splitlines()[-1])["predictions"]["rows_removed"] == 0
    result = CliRunner().invoke(app, ["maintenance", "compact", "--prediction-retention-days", "0"])
    assert json.loads(result.output.strip().splitlines()[-1])["predictions"]["rows_removed"] == 1
    assert list(settings.prediction_log_dir.glob("*.parquet")) == []
