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


def test_every_request_is_counted_by_route_template_and_status():
    """The ingress's middleware stack (limit inside, metrics outside) on a small app: answered,
    refused by the limit, refused by validation, unmatched and failing requests all counted."""
    import asyncio

    import httpx
    from fastapi import FastAPI

    from serving.limits import BodyLimit
    from serving.metrics import RequestMetrics, process_metrics

    app = FastAPI()

    @app.post("/v1/things/{thing_id}")
    async def thing(thing_id: int, body: dict) -> dict:
        return {"thing": thing_id}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("boom")

    app.add_middleware(BodyLimit, limit=lambda: 64)
    app.add_middleware(RequestMetrics)

    def count(route: str, status: int) -> float:
        value = process_metrics().registry.get_sample_value(
            "reco_requests_total", {"route": route, "status": str(status)}
        )
        return value or 0.0

    cases = [
        ("/v1/things/{thing_id}", 200),
        ("/v1/things/{thing_id}", 422),
        ("unmatched", 413),
        ("unmatched", 404),
        ("/boom", 500),
    ]
    before = {case: count(*case) for case in cases}

    async def send() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/v1/things/1", json={"a": 1})).status_code == 200
            assert (await client.post("/v1/things/2", json={"a": 1})).status_code == 200
            assert (await client.post("/v1/things/x", json={"a": 1})).status_code == 422
            assert (await client.post("/v1/things/3", json={"a": "x" * 100})).status_code == 413
            assert (await client.get("/nowhere")).status_code == 404
            assert (await client.get("/boom")).status_code == 500

    asyncio.run(send())
    after = {case: count(*case) for case in cases}
    assert {case: after[case] - before[case] for case in cases} == {
        ("/v1/things/{thing_id}", 200): 2,
        ("/v1/things/{thing_id}", 422): 1,
        ("unmatched", 413): 1,
        ("unmatched", 404): 1,
        ("/boom", 500): 1,
    }
