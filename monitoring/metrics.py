"""Prometheus metrics of the drift job.

A CronJob lives too briefly to be scraped, so each check writes its metrics to a text file
(``monitoring_dir/metrics.prom``, readable by node-exporter's textfile collector or any sidecar)
and, when a Pushgateway URL is configured, pushes them there. Counters are rebuilt from the
persisted state, so they keep growing across runs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, push_to_gateway, write_to_textfile

from monitoring.drift import DriftResult
from monitoring.policy import Decision, MonitorState

log = logging.getLogger(__name__)

DRIFT_SHARE = "reco_drift_share"
DRIFT_DETECTED = "reco_drift_detected"
FEATURE_SCORE = "reco_drift_feature_score"
FEATURE_DRIFTED = "reco_drift_feature_drifted"
SCORE_DRIFT = "reco_drift_score_drift"
ENGAGEMENT_DRIFT = "reco_drift_engagement_drift"
CHECK_FAILED = "reco_drift_check_failed"
LAST_RUN = "reco_drift_last_run_timestamp_seconds"
LAST_RETRAIN = "reco_drift_last_retrain_timestamp_seconds"
RETRAIN_TRIGGERED = "reco_retrain_triggered"  # a Counter: exported as ..._total
CHECKS = "reco_drift_checks"  # a Counter: exported as ..._total

# Every series name the drift job exports (what alert rules and dashboards may use).
EXPORTED_METRICS: frozenset[str] = frozenset(
    {
        DRIFT_SHARE,
        DRIFT_DETECTED,
        FEATURE_SCORE,
        FEATURE_DRIFTED,
        SCORE_DRIFT,
        ENGAGEMENT_DRIFT,
        CHECK_FAILED,
        LAST_RUN,
        LAST_RETRAIN,
        f"{RETRAIN_TRIGGERED}_total",
        f"{CHECKS}_total",
    }
)
TEXTFILE = "metrics.prom"
PUSH_JOB = "reco-drift"


def drift_registry(
    decision: Decision, result: DriftResult | None, state: MonitorState
) -> CollectorRegistry:
    """A fresh registry describing one check (never the process-global one)."""
    registry = CollectorRegistry()
    Gauge(DRIFT_SHARE, "Share of window features that drifted", registry=registry).set(
        decision.share_drifted or 0.0
    )
    Gauge(DRIFT_DETECTED, "1 when the policy found drift", registry=registry).set(
        int(decision.drift)
    )
    Gauge(CHECK_FAILED, "1 when the last check could not run", registry=registry).set(
        int(decision.error is not None)
    )
    Gauge(LAST_RUN, "When the last drift check ran", registry=registry).set(_epoch(decision.at))
    if state.last_retrain_at:
        Gauge(LAST_RETRAIN, "When the last retraining started", registry=registry).set(
            _epoch(state.last_retrain_at)
        )
    Counter(RETRAIN_TRIGGERED, "Retrainings started by the drift job", registry=registry).inc(
        state.retrain_count
    )
    Counter(CHECKS, "Drift checks run", registry=registry).inc(state.check_count)
    if result is not None:
        score = Gauge(FEATURE_SCORE, "Drift score per column", ["feature"], registry=registry)
        drifted = Gauge(FEATURE_DRIFTED, "1 when a column drifted", ["feature"], registry=registry)
        for name, column in result.columns.items():
            score.labels(feature=name).set(column.score)
            drifted.labels(feature=name).set(int(column.drifted))
        flags = (
            (SCORE_DRIFT, "1 when the served scores drifted", result.score_drift),
            (ENGAGEMENT_DRIFT, "1 when engagement drifted", result.engagement_drift),
        )
        for metric, help_text, flag in flags:
            if flag is not None:  # not measured: no series rather than a misleading 0
                Gauge(metric, help_text, registry=registry).set(int(flag))
    return registry


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def export_metrics(
    registry: CollectorRegistry, folder: Path, pushgateway_url: str | None = None
) -> Path:
    """Write ``metrics.prom`` (atomically) and push to the Pushgateway when one is configured.

    A failed push is logged, not raised: metrics must not fail the check that produced them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TEXTFILE
    write_to_textfile(str(path), registry)
    if pushgateway_url:
        try:
            push_to_gateway(pushgateway_url, job=PUSH_JOB, registry=registry, timeout=10)
        except OSError as error:
            log.warning("could not push drift metrics to %s: %s", pushgateway_url, error)
    return path
