import re
from pathlib import Path

from serving.metrics import METRIC_NAMES, ServingMetrics

REPO = Path(__file__).resolve().parents[3]


def test_exposition_carries_every_contract_name_and_label():
    metrics = ServingMetrics()
    metrics.observe_request("/v1/recommend", 200, 0.02)
    metrics.observe_deployments({"Retrieval": 0.01, "Ranking": 0.005})
    metrics.observe_fallbacks("/v1/recommend", ["milvus"])
    metrics.set_models({"reco-ranker": "1"}, {"reco-ranker": 1700000000.0})
    metrics.observe_ranking_status({"problems": {}})
    metrics.observe_stages({"retrieval_search": 0.001})
    text = metrics.exposition().decode()
    for name in METRIC_NAMES:
        assert re.search(rf"^{name}(_bucket|_count|_sum)?{{", text, re.M), name
    assert 'reco_requests_total{route="/v1/recommend",status="200"} 1.0' in text
    assert 'reco_fallbacks_total{reason="milvus"} 1.0' in text
    assert 'reco_degraded_responses_total{route="/v1/recommend"} 1.0' in text
    assert "_created" not in text


def test_model_info_follows_the_served_version():
    metrics = ServingMetrics()
    metrics.set_models({"reco-ranker": "1"}, {})
    metrics.set_models({"reco-ranker": "2"}, {})
    text = metrics.exposition().decode()
    assert 'reco_model_info{model="reco-ranker",version="2"} 1.0' in text
    assert 'version="1"' not in text


def test_a_failed_item_feature_reload_shows_until_a_reload_succeeds():
    metrics = ServingMetrics()
    line = 'reco_item_features_reload_failed{deployment="Ranking"}'
    metrics.observe_ranking_status({"problems": {"item_features": "reload failed, keeping"}})
    assert f"{line} 1.0" in metrics.exposition().decode()
    metrics.observe_ranking_status({"problems": {"ranker": "no champion"}})
    assert f"{line} 0.0" in metrics.exposition().decode()


def test_no_fallback_means_not_degraded():
    metrics = ServingMetrics()
    metrics.observe_fallbacks("/v1/recommend", [])
    assert "reco_degraded_responses_total{" not in metrics.exposition().decode()


def test_monitoring_rules_use_names_serving_exports():
    rules = (REPO / "monitoring" / "prometheus_rules.yaml").read_text()
    used = set(re.findall(r"\breco_[a-z_]+", rules))
    serving_names = {n for n in used if not n.startswith(("reco_drift", "reco_retrain"))}
    exported = set(METRIC_NAMES) | {f"{n}_bucket" for n in METRIC_NAMES}
    assert serving_names <= exported, serving_names - exported
