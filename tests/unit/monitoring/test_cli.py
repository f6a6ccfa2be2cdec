from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.monitor import app
from components.settings import get_settings
from monitoring.policy import NO_DRIFT, read_decisions
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
    result = cli.invoke(app, ["check", "--reference", str(reference), "--current", str(current)])
    assert result.exit_code == 2
    assert "drift check failed" in result.output and "no retraining started" in result.output
