"""One drift check: windows -> Evidently report -> policy -> maybe a retraining -> records.

``check`` is what the CLI (`reco monitor check`), the CronJob and the KFP drift component run.
Defaults fit the deployment: the current window is the feedback event log plus the scores
serving logged, the reference is the champion's training snapshot from MLflow.

``scheduled`` is the schedule's tick (`reco monitor retrain`, the chart's retrain CronJob, the
KFP recurring run): it retrains on the named source unless the same cool-down or lock the drift
check obeys says no (``policy.retrain_blocked``), and records its decision in the same files.
Neither starts a run without a training source (``trigger.retrain_arguments``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from components.data.columns import TIMESTAMP
from components.settings import Settings
from monitoring.config import (
    DEFAULT_COOLDOWN,
    DEFAULT_KEY_FEATURES,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW_DAYS,
    LOCK_STALE_AFTER,
    MIN_EVENTS,
)
from monitoring.drift import (
    DriftCheckError,
    DriftResult,
    InvalidWindowError,
    Window,
    check_key_features,
    run_drift_report,
)
from monitoring.policy import (
    DRIFT_TRIGGER,
    DRY_RUN,
    FAILED,
    LOCK_FILE,
    LOCKED,
    STARTED,
    Decision,
    MonitorState,
    RetrainLockBusy,
    decide,
    decide_scheduled,
    error_decision,
    load_state,
    lock_holder,
    mark_retraining,
    record_decision,
    retrain_lock,
)
from monitoring.trigger import Runner, retrain_arguments, start_retraining, training_target

log = logging.getLogger(__name__)


def read_prediction_log(
    folder: Path, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame | None:
    """Scores serving logged (Parquet files under ``folder``), optionally within [start, end]."""
    files = sorted(Path(folder).rglob("*.parquet")) if Path(folder).is_dir() else []
    if not files:
        return None
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    if TIMESTAMP in frame.columns and (start is not None or end is not None):
        stamps = pd.to_datetime(frame[TIMESTAMP], utc=True)
        keep = pd.Series(True, index=frame.index)
        if start is not None:
            keep &= stamps > start
        if end is not None:
            keep &= stamps <= end
        frame = frame[keep.to_numpy()]
    return frame if len(frame) else None


def load_current_window(
    settings: Settings,
    source: str | None = None,
    items: pd.DataFrame | None = None,
    window_days: float | None = DEFAULT_WINDOW_DAYS,
) -> Window:
    """Recent events (the feedback event log, or any data source) with the scores logged
    by serving over the same period. ``items`` is the catalog when the source has none."""
    from components.data.io import load_source, read_events

    label = str(settings.event_log_dir) if source is None else source
    try:  # unreadable or invalid data is a bad window, not a crash
        if source is None:
            interactions = read_events(settings.event_log_dir)
        else:
            interactions, source_items = load_source(source)
            items = source_items if items is None else pd.concat([items, source_items])
    except (ValueError, OSError) as error:
        raise InvalidWindowError(f"cannot read the current window from {label}: {error}") from error
    if items is None:
        raise InvalidWindowError("the current window has no catalog to read its items with")
    predictions = None
    if len(interactions) and TIMESTAMP in interactions.columns:
        end = pd.to_datetime(interactions[TIMESTAMP], utc=True).max()
        start = None if window_days is None else end - pd.Timedelta(days=window_days)
        predictions = read_prediction_log(settings.prediction_log_dir, start, end)
    return Window(interactions, items.drop_duplicates("item_id", keep="last"), predictions, label)


def _reference(settings: Settings, reference: Window | Path | str | None) -> Window:
    from monitoring.reference import load_reference, read_reference_dir

    if isinstance(reference, Window):
        return reference
    if reference is not None:
        return read_reference_dir(Path(reference))
    return load_reference(settings)


def check(
    settings: Settings,
    current: Window | str | None = None,
    reference: Window | Path | str | None = None,
    *,
    window_days: float | None = DEFAULT_WINDOW_DAYS,
    threshold: float = DEFAULT_THRESHOLD,
    key_features: Sequence[str] = DEFAULT_KEY_FEATURES,
    cooldown: timedelta = DEFAULT_COOLDOWN,
    dry_run: bool = False,
    retrain_arguments: Mapping[str, Any] | None = None,
    runner: Runner | None = None,
    now: datetime | None = None,
    min_events: int = MIN_EVENTS,
    lock_stale_after: timedelta = LOCK_STALE_AFTER,
    pushgateway_url: str | None = None,
) -> Decision:
    """Run one drift check and act on it; every outcome is recorded in ``monitoring_dir``.

    ``current``: a Window, a data source string (see ``components.data.io.load_source``) or None
    for the feedback event log. ``reference``: a Window, a folder, or None for the champion's
    reference in MLflow. A window that cannot be compared raises a DriftCheckError (recorded,
    no retraining). A failing retraining is recorded and re-raised. Without a training source
    (``retrain_arguments["source"]`` or ``settings.training_source``) a check that may retrain
    raises MissingTrainingSource before it reads anything.
    """
    now = now or datetime.now(UTC)
    folder = settings.monitoring_dir
    keys = check_key_features(key_features)
    if not dry_run:
        retrain_arguments = retrain_arguments_of(settings, retrain_arguments)
    report_dir = folder / "reports" / now.strftime("%Y%m%dT%H%M%S%fZ")
    try:
        ref_window = _reference(settings, reference)
        cur_window = (
            current
            if isinstance(current, Window)
            else load_current_window(settings, current, ref_window.items, window_days)
        )
        result = run_drift_report(
            ref_window,
            cur_window,
            keys,
            output_dir=report_dir,
            window_days=window_days,
            min_events=min_events,
        )
    except DriftCheckError as error:
        decision = error_decision(now, error)
        _finish(settings, decision, None, pushgateway_url)
        log.error("drift check failed: %s", error)
        raise

    lock_path = folder / LOCK_FILE
    busy = lock_holder(lock_path, lock_stale_after, now) is not None
    decision = decide(result, load_state(folder), now, threshold, keys, cooldown, busy)
    decision = replace(decision, target=training_target(settings))
    if decision.retrain and dry_run:
        decision = replace(
            decision, status=DRY_RUN, reasons=[*decision.reasons, "dry run: no retraining started"]
        )
    elif decision.retrain:
        decision = _retrain(
            settings, result, decision,
            lambda state: decide(result, state, now, threshold, keys, cooldown),
            lock_stale_after, now, retrain_arguments, runner, pushgateway_url,
        )  # fmt: skip
    _finish(settings, decision, result, pushgateway_url)
    log.info("drift decision: %s", decision.summary())
    return decision


retrain_arguments_of = retrain_arguments  # the parameter of `check` shadows the function


def scheduled(
    settings: Settings,
    *,
    cooldown: timedelta = DEFAULT_COOLDOWN,
    dry_run: bool = False,
    retrain_arguments: Mapping[str, Any] | None = None,
    runner: Runner | None = None,
    now: datetime | None = None,
    lock_stale_after: timedelta = LOCK_STALE_AFTER,
    pushgateway_url: str | None = None,
) -> Decision:
    """One schedule tick: retrain on the named source unless inside the cool-down of the last
    retraining (drift-triggered or scheduled) or while another holds the lock. Recorded in
    ``monitoring_dir`` like a drift decision (``trigger="schedule"``)."""
    now = now or datetime.now(UTC)
    arguments = retrain_arguments_of(settings, retrain_arguments)
    folder = settings.monitoring_dir
    busy = lock_holder(folder / LOCK_FILE, lock_stale_after, now) is not None
    decision = decide_scheduled(load_state(folder), now, cooldown, busy)
    decision = replace(decision, target=training_target(settings))
    if decision.retrain and dry_run:
        decision = replace(
            decision, status=DRY_RUN, reasons=[*decision.reasons, "dry run: no retraining started"]
        )
    elif decision.retrain:
        decision = _retrain(
            settings, None, decision,
            lambda state: decide_scheduled(state, now, cooldown),
            lock_stale_after, now, arguments, runner, pushgateway_url,
        )  # fmt: skip
    _finish(settings, decision, None, pushgateway_url)
    log.info("scheduled retraining: %s", decision.summary())
    return decision


def _retrain(
    settings: Settings,
    result: DriftResult | None,
    decision: Decision,
    recheck: Callable[[MonitorState], Decision],
    lock_stale_after: timedelta,
    now: datetime,
    retrain_arguments: Mapping[str, Any] | None,
    runner: Runner | None,
    pushgateway_url: str | None,
) -> Decision:
    """Under the lock: decide again on fresh state (``recheck``: another trigger may have just
    started one), mark the start, run the pipeline. A local run blocks, so the lock covers the
    whole run."""
    folder = settings.monitoring_dir
    try:
        with retrain_lock(folder / LOCK_FILE, lock_stale_after, now):
            fresh = recheck(load_state(folder))
            if not fresh.retrain:
                return replace(fresh, target=decision.target)
            mark_retraining(folder, now)
            try:
                run_id = start_retraining(settings, retrain_arguments, runner)
            except Exception as error:
                failed = replace(
                    decision,
                    status=FAILED,
                    error=f"{type(error).__name__}: {error}",
                    reasons=[*decision.reasons, f"retraining failed: {error}"],
                )
                _finish(settings, failed, result, pushgateway_url)
                raise
            mark_retraining(folder, now, run_id)
    except RetrainLockBusy as busy:
        return replace(
            decision, status=LOCKED, retrain=False, reasons=[*decision.reasons, str(busy)]
        )
    return replace(
        decision,
        status=STARTED,
        started=True,
        run_id=run_id,
        reasons=[*decision.reasons, f"retraining started ({decision.target}): {run_id}"],
    )


def _finish(
    settings: Settings, decision: Decision, result: DriftResult | None, pushgateway: str | None
) -> None:
    """Record the decision, then export metrics from the updated state (drift checks only: a
    schedule tick measured no drift, and must not reset the drift gauges to zero)."""
    from monitoring.metrics import drift_registry, export_metrics

    folder = settings.monitoring_dir
    record_decision(folder, decision)
    if decision.trigger != DRIFT_TRIGGER:
        return
    url = pushgateway or settings.pushgateway_url
    try:
        export_metrics(drift_registry(decision, result, load_state(folder)), folder, url)
    except OSError as error:  # metrics are a side channel: never fail the check for them
        log.warning("could not write drift metrics: %s", error)
