from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.config import CATEGORY, CLICK_RATE, HOUR_OF_DAY, ITEM_POPULARITY, SCORE
from monitoring.drift import ColumnDrift, DriftResult
from monitoring.policy import (
    COOLDOWN,
    DECISIONS_FILE,
    LOCKED,
    NO_DRIFT,
    RECENT_DECISIONS,
    RETRAIN,
    SCHEDULE_TRIGGER,
    SCHEDULED,
    MonitorState,
    RetrainLockBusy,
    decide,
    decide_scheduled,
    load_state,
    lock_holder,
    mark_retraining,
    read_decisions,
    record_decision,
    retrain_blocked,
    retrain_lock,
    save_state,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def result(drifted: set[str], features=(CATEGORY, ITEM_POPULARITY, HOUR_OF_DAY, "event_type")):
    """A DriftResult as run_drift_report would build it, without running Evidently."""
    columns = {
        name: ColumnDrift(
            name=name,
            kind="feature" if name != CLICK_RATE else "engagement",
            method="wasserstein",
            threshold=0.1,
            score=0.3 if name in drifted else 0.02,
            drifted=name in drifted,
            reference_values=1000,
            current_values=1000,
        )
        for name in (*features, CLICK_RATE)
    }
    drifted_features = [f for f in features if f in drifted]
    return DriftResult(
        share_drifted=len(drifted_features) / len(features),
        drifted_features=drifted_features,
        columns=columns,
        score_drift=None,
        engagement_drift=CLICK_RATE in drifted,
        engagement_rates={},
        skipped={},
        key_features=[],
        report_html_path=Path("report.html"),
        report_json_path=Path("result.json"),
        evidently_json_path=Path("evidently.json"),
        reference_window={},
        current_window={},
    )


def test_share_at_threshold_means_retrain() -> None:
    d = decide(result({CATEGORY, HOUR_OF_DAY}), MonitorState(), NOW, 0.5, [], DAY)
    assert d.retrain and d.drift and d.status == RETRAIN
    assert "0.50 >= threshold 0.50" in d.reasons[0]


def test_share_below_threshold_without_key_feature_is_no_drift() -> None:
    d = decide(result({HOUR_OF_DAY}), MonitorState(), NOW, 0.5, [CATEGORY], DAY)
    assert not d.retrain and not d.drift and d.status == NO_DRIFT
    assert "no drift" in d.reasons[0] and "category" in d.reasons[0]


def test_a_key_feature_alone_means_retrain() -> None:
    d = decide(result({ITEM_POPULARITY}), MonitorState(), NOW, 0.5, [ITEM_POPULARITY], DAY)
    assert d.retrain and d.key_features_drifted == [ITEM_POPULARITY]
    assert any("key feature 'item_popularity' drifted" in r for r in d.reasons)


def test_engagement_can_be_a_key_feature_and_unmeasured_keys_are_said() -> None:
    d = decide(result({CLICK_RATE}), MonitorState(), NOW, 0.5, [CLICK_RATE, SCORE], DAY)
    assert d.retrain and d.key_features_drifted == [CLICK_RATE]
    assert any("not measured" in r and SCORE in r for r in d.reasons)


def test_cooldown_blocks_then_expires() -> None:
    state = MonitorState(last_retrain_at=(NOW - timedelta(hours=3)).isoformat())
    blocked = decide(result({CATEGORY, ITEM_POPULARITY}), state, NOW, 0.5, [], DAY)
    assert blocked.drift and not blocked.retrain and blocked.status == COOLDOWN
    assert "cool-down" in blocked.reasons[-1]
    later = decide(result({CATEGORY, ITEM_POPULARITY}), state, NOW + DAY, 0.5, [], DAY)
    assert later.retrain


def test_a_running_retraining_blocks_another() -> None:
    d = decide(result({CATEGORY, ITEM_POPULARITY}), MonitorState(), NOW, 0.5, [], DAY, True)
    assert d.drift and not d.retrain and d.status == LOCKED


def test_decide_is_pure() -> None:
    state = MonitorState()
    first = decide(result({CATEGORY}), state, NOW, 0.5, [CATEGORY], DAY)
    second = decide(result({CATEGORY}), state, NOW, 0.5, [CATEGORY], DAY)
    assert first == second and state == MonitorState()


def test_state_round_trip_and_retraining_marks(tmp_path: Path) -> None:
    assert load_state(tmp_path) == MonitorState()
    mark_retraining(tmp_path, NOW)
    state = mark_retraining(tmp_path, NOW, "run-7")
    assert state.retrain_count == 1 and state.last_run_id == "run-7"
    assert load_state(tmp_path).last_retrain_time() == NOW
    save_state(tmp_path, MonitorState(retrain_count=3))
    assert load_state(tmp_path).retrain_count == 3
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp files left


def test_every_decision_is_recorded_with_reasons(tmp_path: Path) -> None:
    for i in range(RECENT_DECISIONS + 5):
        d = decide(result({CATEGORY} if i % 2 else set()), MonitorState(), NOW, 0.5, [], DAY)
        record_decision(tmp_path, d)
    lines = (tmp_path / DECISIONS_FILE).read_text().splitlines()
    assert len(lines) == RECENT_DECISIONS + 5
    assert all(json.loads(line)["reasons"] for line in lines)
    assert read_decisions(tmp_path)[0]["status"] == NO_DRIFT
    state = load_state(tmp_path)
    assert state.check_count == RECENT_DECISIONS + 5 and len(state.recent) == RECENT_DECISIONS


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = tmp_path / "retrain.lock"
    with retrain_lock(path, timedelta(hours=1)) as info:
        assert info["pid"] == os.getpid()
        assert lock_holder(path, timedelta(hours=1))["pid"] == os.getpid()
        with pytest.raises(RetrainLockBusy), retrain_lock(path, timedelta(hours=1)):
            pass
        assert path.exists()  # the failed attempt did not remove the holder's lock
    assert not path.exists() and lock_holder(path, timedelta(hours=1)) is None


def test_lock_is_released_when_the_body_fails(tmp_path: Path) -> None:
    path = tmp_path / "retrain.lock"
    with pytest.raises(RuntimeError), retrain_lock(path, timedelta(hours=1)):
        raise RuntimeError("pipeline failed")
    assert not path.exists()


def test_a_stale_lock_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "retrain.lock"
    path.write_text(json.dumps({"pid": 999999}))
    old = (datetime.now(UTC) - timedelta(hours=13)).timestamp()
    os.utime(path, (old, old))
    assert lock_holder(path, timedelta(hours=12)) is None
    with retrain_lock(path, timedelta(hours=12)) as info:
        assert json.loads(path.read_text())["pid"] == info["pid"]
    assert not list(tmp_path.iterdir())


def test_schedule_and_drift_obey_one_cooldown_and_one_lock() -> None:
    """``retrain_blocked`` is the one rule: a scheduled tick inside the cool-down of a drift
    retraining waits, and a drift finding inside the cool-down of a scheduled one does too."""
    free = MonitorState()
    assert retrain_blocked(free, NOW, DAY, False) is None
    assert retrain_blocked(free, NOW, DAY, True)[0] == LOCKED
    recent = MonitorState(last_retrain_at=(NOW - timedelta(hours=3)).isoformat())
    assert retrain_blocked(recent, NOW, DAY, False)[0] == COOLDOWN
    tick = decide_scheduled(recent, NOW, DAY)
    assert (tick.status, tick.retrain, tick.trigger) == (COOLDOWN, False, SCHEDULE_TRIGGER)
    assert "cool-down" in tick.reasons[-1]
    drift = decide(result({CATEGORY, ITEM_POPULARITY, HOUR_OF_DAY}), recent, NOW, 0.5, [], DAY)
    assert drift.drift and drift.status == COOLDOWN and not drift.retrain
    due = decide_scheduled(recent, NOW + DAY, DAY)
    assert (due.status, due.retrain) == (SCHEDULED, True)
    assert decide_scheduled(free, NOW, DAY, retraining_in_progress=True).status == LOCKED
