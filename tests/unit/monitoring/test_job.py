"""The issue's acceptance, with real Evidently on synthetic data and a recording runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from components.data.columns import EVENT_TYPE
from components.training_params import MissingTrainingSource
from monitoring.drift import InvalidWindowError, Window
from monitoring.job import check, scheduled
from monitoring.metrics import DRIFT_SHARE, TEXTFILE
from monitoring.policy import (
    COOLDOWN,
    DECISIONS_FILE,
    DRY_RUN,
    ERROR,
    LOCK_FILE,
    LOCKED,
    NO_DRIFT,
    STARTED,
    load_state,
    read_decisions,
)
from monitoring.reference import write_reference_dir

NOW = datetime(2026, 2, 26, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WINDOW_DAYS = 28.0
TRAIN_ARGS = {"source": "synthetic:n_users=300,seed=1", "epochs": 1}


def run(settings, reference, current, runner, **kwargs):
    options = {"window_days": WINDOW_DAYS, "now": NOW, "retrain_arguments": TRAIN_ARGS}
    return check(settings, current, reference, runner=runner, **options | kwargs)


def test_drifted_window_starts_exactly_one_retraining(
    settings, reference_window, drifted_window, runner
) -> None:
    decision = run(settings, reference_window, drifted_window, runner)
    assert len(runner.calls) == 1
    called_settings, arguments = runner.calls[0]
    assert called_settings is settings and arguments == TRAIN_ARGS
    assert decision.status == STARTED and decision.started and decision.run_id == "run-1"
    assert decision.target == "local"
    state = load_state(settings.monitoring_dir)
    assert state.retrain_count == 1 and state.last_run_id == "run-1"
    assert not (settings.monitoring_dir / LOCK_FILE).exists()
    # The report HTML exists and names the drifted features.
    page = Path(decision.report_html).read_text()
    assert decision.drifted_features and all(f in page for f in decision.drifted_features)
    assert f"Drifted features: {', '.join(decision.drifted_features)}" in page
    # Every decision recorded with its reasons; metrics exported.
    (recorded,) = read_decisions(settings.monitoring_dir)
    assert recorded["status"] == STARTED and recorded["reasons"] == decision.reasons
    metrics = (settings.monitoring_dir / TEXTFILE).read_text()
    assert f"{DRIFT_SHARE} {decision.share_drifted}" in metrics
    assert "reco_retrain_triggered_total 1.0" in metrics

    # A second drifted check inside the cool-down starts none.
    again = run(settings, reference_window, drifted_window, runner, now=NOW + timedelta(hours=2))
    assert len(runner.calls) == 1
    assert again.drift and again.status == COOLDOWN and not again.started
    assert [d["status"] for d in read_decisions(settings.monitoring_dir)] == [STARTED, COOLDOWN]


def test_window_without_drift_starts_none(settings, reference_window, calm_window, runner) -> None:
    decision = run(settings, reference_window, calm_window, runner)
    assert runner.calls == []
    assert decision.status == NO_DRIFT and not decision.drift
    assert decision.drifted_features == [] and decision.share_drifted == 0.0
    assert Path(decision.report_html).is_file()


@pytest.mark.parametrize("kind", ["empty", "missing-columns", "too-few-rows"])
def test_bad_current_window_is_an_error_and_starts_nothing(
    settings, reference_window, drifted_window, runner, kind
) -> None:
    events = drifted_window.interactions
    bad = {
        "empty": events.iloc[0:0],
        "missing-columns": events.drop(columns=[EVENT_TYPE]),
        "too-few-rows": events.head(100),
    }[kind]
    with pytest.raises(InvalidWindowError):
        run(settings, reference_window, Window(bad, drifted_window.items), runner)
    assert runner.calls == []
    (recorded,) = read_decisions(settings.monitoring_dir)
    assert recorded["status"] == ERROR and not recorded["retrain"]
    assert "InvalidWindowError" in recorded["error"]
    assert "reco_drift_check_failed 1.0" in (settings.monitoring_dir / TEXTFILE).read_text()


def test_dry_run_and_a_held_lock_start_nothing(
    settings, reference_window, drifted_window, runner
) -> None:
    dry = run(settings, reference_window, drifted_window, runner, dry_run=True)
    assert dry.status == DRY_RUN and dry.retrain and not dry.started
    lock = settings.monitoring_dir / LOCK_FILE
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    held = run(settings, reference_window, drifted_window, runner, now=datetime.now(UTC))
    assert held.status == LOCKED and not held.started
    assert runner.calls == [] and lock.exists()  # someone else's lock is left alone
    assert len((settings.monitoring_dir / DECISIONS_FILE).read_text().splitlines()) == 2


def test_reference_from_a_folder(settings, reference_window, calm_window, runner, tmp_path):
    folder = write_reference_dir(
        tmp_path / "reference", reference_window.interactions, reference_window.items
    )
    decision = run(settings, folder, calm_window, runner)
    assert decision.status == NO_DRIFT and runner.calls == []


def test_failed_retraining_is_recorded_and_raised(
    settings, reference_window, drifted_window
) -> None:
    def broken(settings, **arguments):
        raise RuntimeError("pipeline step failed")

    with pytest.raises(RuntimeError, match="pipeline step failed"):
        run(settings, reference_window, drifted_window, broken)
    (recorded,) = read_decisions(settings.monitoring_dir)
    assert recorded["status"] == "retrain-failed" and "pipeline step failed" in recorded["error"]
    assert load_state(settings.monitoring_dir).retrain_count == 1  # counts toward the cool-down
    assert not (settings.monitoring_dir / LOCK_FILE).exists()


def test_a_schedule_tick_and_a_drift_check_share_the_cooldown(
    settings, reference_window, drifted_window, runner
) -> None:
    """The schedule retrains on its source; a drift finding two hours later waits for the
    cool-down the scheduled run began, and so does the next tick; a day later the tick runs."""
    tick = scheduled(settings, retrain_arguments={"source": "/data/shop"}, runner=runner, now=NOW)
    assert tick.status == STARTED and tick.trigger == "schedule" and tick.run_id == "run-1"
    assert runner.calls == [(settings, {"source": "/data/shop"})]
    assert not (settings.monitoring_dir / LOCK_FILE).exists()
    later = NOW + timedelta(hours=2)
    drift = run(settings, reference_window, drifted_window, runner, now=later)
    assert drift.drift and drift.status == COOLDOWN and len(runner.calls) == 1
    shop = {"source": "/data/shop"}
    again = scheduled(settings, retrain_arguments=shop, runner=runner, now=later)
    assert again.status == COOLDOWN and len(runner.calls) == 1
    next_day = scheduled(
        settings, retrain_arguments={"source": "/data/shop"}, runner=runner, now=NOW + DAY
    )
    assert next_day.status == STARTED and len(runner.calls) == 2
    statuses = [(d["trigger"], d["status"]) for d in read_decisions(settings.monitoring_dir)]
    assert statuses == [
        ("schedule", STARTED), ("drift", COOLDOWN), ("schedule", COOLDOWN), ("schedule", STARTED)
    ]  # fmt: skip
    assert load_state(settings.monitoring_dir).retrain_count == 2


def test_a_schedule_tick_waits_while_a_drift_retraining_holds_the_lock(settings, runner) -> None:
    lock = settings.monitoring_dir / LOCK_FILE
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": 1, "host": "drift-job"}))
    tick = scheduled(settings, retrain_arguments={"source": "/data/shop"}, runner=runner, now=NOW)
    assert tick.status == LOCKED and runner.calls == [] and lock.exists()


def test_a_schedule_tick_without_a_source_starts_and_records_nothing(settings, runner) -> None:
    with pytest.raises(MissingTrainingSource):
        scheduled(settings, retrain_arguments={"epochs": 1}, runner=runner, now=NOW)
    assert runner.calls == [] and read_decisions(settings.monitoring_dir) == []


def test_a_drift_check_that_may_retrain_needs_a_source(
    settings, reference_window, drifted_window, runner
) -> None:
    with pytest.raises(MissingTrainingSource):
        run(settings, reference_window, drifted_window, runner, retrain_arguments=None)
    assert runner.calls == [] and read_decisions(settings.monitoring_dir) == []
    from_settings = settings.model_copy(update={"training_source": "/data/shop"})
    decision = run(from_settings, reference_window, drifted_window, runner, retrain_arguments=None)
    assert decision.status == STARTED and runner.calls[0][1] == {"source": "/data/shop"}
