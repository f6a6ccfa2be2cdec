from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.monitor import app
from components.settings import get_settings
from monitoring.policy import DRY_RUN, NO_DRIFT, read_decisions
from monitoring.reference import write_reference_dir

cli = CliRunner()


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RECO_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield tmp_path / "state"
    get_settings.cache_clear()


def test_check_help_lists_the_options() -> None:
    result = cli.invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    for option in ("--current", "--threshold", "--cooldown-hours", "--dry-run", "--key-features"):
        assert option in result.output


def test_unknown_key_feature_is_a_usage_error(state_dir) -> None:
    result = cli.invoke(app, ["check", "--key-features", "populariti"])
    assert result.exit_code == 2 and "unknown key feature" in result.output


def test_check_prints_the_decision_and_report(
    state_dir, tmp_path, reference_window, calm_window
) -> None:
    reference = write_reference_dir(
        tmp_path / "ref", reference_window.interactions, reference_window.items
    )
    current = write_reference_dir(
        tmp_path / "cur", calm_window.interactions, calm_window.items
    )  # the same two-file layout a data folder has
    args = ["check", "--reference", str(reference), "--current", str(current),
            "--window-days", "28", "--dry-run", "--json"]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["status"] == NO_DRIFT and decision["report_html"].endswith("report.html")
    assert read_decisions(state_dir / "monitoring")[0]["status"] == NO_DRIFT
    history = cli.invoke(app, ["history"])
    assert history.exit_code == 0 and NO_DRIFT in history.output


def test_empty_current_window_exits_2_and_starts_nothing(
    state_dir, tmp_path, reference_window, calm_window
) -> None:
    reference = write_reference_dir(
        tmp_path / "ref", reference_window.interactions, reference_window.items
    )
    current = write_reference_dir(
        tmp_path / "cur", calm_window.interactions.iloc[0:0], calm_window.items
    )
    args = ["check", "--reference", str(reference), "--current", str(current),
            "--train-source", "synthetic"]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 2
    assert "drift check failed" in result.output and "no retraining started" in result.output


def test_check_without_a_training_source_exits_2_before_reading_anything(
    state_dir, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("RECO_TRAINING_SOURCE", raising=False)
    result = cli.invoke(app, ["check", "--reference", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no training source" in result.output and "RECO_TRAINING_SOURCE" in result.output
    assert read_decisions(state_dir / "monitoring") == []  # nothing measured, nothing recorded


def test_retrain_without_a_training_source_exits_2(state_dir, monkeypatch) -> None:
    monkeypatch.delenv("RECO_TRAINING_SOURCE", raising=False)
    result = cli.invoke(app, ["retrain"])
    assert result.exit_code == 2 and "no training source" in result.output
    assert read_decisions(state_dir / "monitoring") == []


def test_retrain_dry_run_records_a_scheduled_decision(state_dir, monkeypatch) -> None:
    monkeypatch.setenv("RECO_TRAINING_SOURCE", "/data/shop")
    get_settings.cache_clear()
    result = cli.invoke(app, ["retrain", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["status"] == DRY_RUN and decision["trigger"] == "schedule"
    (recorded,) = read_decisions(state_dir / "monitoring")
    assert recorded["trigger"] == "schedule"
    history = cli.invoke(app, ["history"])
    assert "schedule" in history.output and DRY_RUN in history.output


def test_retrain_help_names_the_shared_cooldown() -> None:
    result = cli.invoke(app, ["retrain", "--help"])
    assert result.exit_code == 0
    assert "--train-source" in result.output and "cool-down" in result.output
