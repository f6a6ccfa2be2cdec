"""Every reco_* metric the alert rules and the dashboard use is one the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitoring.drift import ColumnDrift
from monitoring.metrics import EXPORTED_METRICS, drift_registry, export_metrics
from monitoring.policy import Decision, MonitorState

MONITORING = Path(__file__).resolve().parents[3] / "monitoring"
RULES = MONITORING / "prometheus_rules.yaml"
DASHBOARD = MONITORING / "grafana_dashboard.json"

NAME = re.compile(r"\breco_[a-zA-Z0-9_]+")


def serving_series() -> set[str]:
    """Series names of the prometheus_client metrics serving/metrics.py defines."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics import MetricWrapperBase

    from serving.metrics import ServingMetrics

    serving_metrics = ServingMetrics(registry=CollectorRegistry())

    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count", ""),
        "info": ("_info",),
    }
    names = set()
    for value in vars(serving_metrics).values():
        if isinstance(value, MetricWrapperBase):
            names |= {f"{value._name}{s}" for s in suffixes.get(value._type, ("",))}
    assert names, "serving/metrics.py defines no metric"
    return names


def rule_list() -> list[dict]:
    spec = yaml.safe_load(RULES.read_text())
    return [rule for group in spec["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_rules_file_is_a_prometheus_rule_spec() -> None:
    spec = yaml.safe_load(RULES.read_text())
    assert set(spec) == {"groups"}
    names = [rule["alert"] for rule in rule_list()]
    assert len(names) == len(set(names))
    for rule in rule_list():
        assert rule["expr"].strip() and rule["labels"]["severity"] in {
            "info",
            "warning",
            "critical",
        }
        assert rule["annotations"]["summary"]
        assert "for" not in rule or re.fullmatch(r"\d+[smh]", rule["for"])
    exprs = " ".join(rule["expr"] for rule in rule_list())
    # The alerts: latency, error rate, degraded share, drift share, stale model.
    for needle in (
        "reco_request_latency_seconds_bucket",
        'status=~"5.."',
        "reco_degraded_responses_total",
        "reco_drift_share",
        "reco_model_loaded_timestamp_seconds",
    ):
        assert needle in exprs


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_name_used_is_exported(source: str) -> None:
    exprs = [r["expr"] for r in rule_list()] if source == "rules" else dashboard_exprs()
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used, "no reco_* metric used"
    unknown = used - serving_series() - EXPORTED_METRICS
    assert not unknown, f"{source} use metrics nobody exports: {sorted(unknown)}"


def test_dashboard_is_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["title"] and panel["targets"], panel
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert all(t["refId"] and t["expr"] for t in panel["targets"])
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("latency", "requests", "error", "degraded", "drift", "model version"):
        assert topic in titles
    exprs = " ".join(dashboard_exprs())
    assert "reco_model_info" in exprs and "reco_drift_share" in exprs


def test_the_drift_job_exports_what_it_declares(tmp_path: Path) -> None:
    decision = Decision(
        at="2026-03-01T12:00:00+00:00", status="retrain-started", drift=True, retrain=True,
        reasons=["x"], share_drifted=0.6, started=True,
    )  # fmt: skip
    result = type("R", (), {})()
    result.columns = {
        "category": ColumnDrift("category", "feature", "jensenshannon", 0.1, 0.3, True, 9, 9)
    }
    result.score_drift, result.engagement_drift = None, True
    state = MonitorState(last_retrain_at=decision.at, retrain_count=2, check_count=5)
    path = export_metrics(drift_registry(decision, result, state), tmp_path)
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    samples = {s.name: s for f in families.values() for s in f.samples}
    assert samples["reco_drift_share"].value == 0.6
    assert samples["reco_retrain_triggered_total"].value == 2
    assert samples["reco_drift_feature_score"].labels == {"feature": "category"}
    assert "reco_drift_score_drift" not in samples  # not measured: no series
    exported = {name for name in samples if not name.endswith("_created")}
    assert exported <= EXPORTED_METRICS
    assert EXPORTED_METRICS - exported == {"reco_drift_score_drift"}
