"""Prometheus metrics of the serving graph, exported by the ingress at ``GET /metrics``.

The names are a contract: monitoring's alert rules and dashboards query exactly these. Every
replica process has its own registry; the ingress records the request metrics and, from what
the deployments report back with each answer, their latencies, fallbacks and model versions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from functools import lru_cache

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from serving.limits import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # no *_created series: dashboards never use them

REQUESTS_TOTAL = "reco_requests_total"
REQUEST_LATENCY = "reco_request_latency_seconds"
DEPLOYMENT_LATENCY = "reco_deployment_latency_seconds"
FALLBACKS_TOTAL = "reco_fallbacks_total"
DEGRADED_TOTAL = "reco_degraded_responses_total"
MODEL_INFO = "reco_model_info"
MODEL_LOADED = "reco_model_loaded_timestamp_seconds"
ITEM_FEATURES_RELOAD_FAILED = "reco_item_features_reload_failed"
STAGE_LATENCY = "reco_stage_latency_seconds"
UNMATCHED = "unmatched"  # the route label of a request no route matched
METRIC_NAMES = (
    REQUESTS_TOTAL,
    REQUEST_LATENCY,
    DEPLOYMENT_LATENCY,
    FALLBACKS_TOTAL,
    DEGRADED_TOTAL,
    MODEL_INFO,
    MODEL_LOADED,
    ITEM_FEATURES_RELOAD_FAILED,
    STAGE_LATENCY,
)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class ServingMetrics:
    """The metric objects on their own registry (one per process; tests make their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            REQUESTS_TOTAL,
            "HTTP requests by route template and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            REQUEST_LATENCY,
            "HTTP request latency by route template.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.deployment_latency = Histogram(
            DEPLOYMENT_LATENCY,
            "Time spent in each deployment of the graph, per request.",
            ["deployment"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            STAGE_LATENCY,
            "Time spent in each stage inside a deployment, per request (a batched request "
            "counts its batch's time).",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            FALLBACKS_TOTAL,
            "Fallbacks taken (milvus, online_store, retrieval_model, ranker, serving_tables).",
            ["reason"],
            registry=self.registry,
        )
        self.degraded = Counter(
            DEGRADED_TOTAL,
            "Responses served with a fallback (degraded: true).",
            ["route"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            MODEL_INFO,
            "1 for each model version being served.",
            ["model", "version"],
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            MODEL_LOADED,
            "Unix time the served version of a model was loaded.",
            ["model"],
            registry=self.registry,
        )
        self.item_features_failed = Gauge(
            ITEM_FEATURES_RELOAD_FAILED,
            "1 while the last reload of the item features a Ranking replica holds failed (it "
            "serves the previous materialization's rows, or reads online), else 0.",
            ["deployment"],
            registry=self.registry,
        )
        self._versions: dict[str, str] = {}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_deployments(self, timings: Mapping[str, float]) -> None:
        for deployment, seconds in timings.items():
            self.deployment_latency.labels(deployment=deployment).observe(seconds)

    def observe_stages(self, stages: Mapping[str, float]) -> None:
        for stage, seconds in stages.items():
            self.stage_latency.labels(stage=stage).observe(seconds)

    def observe_fallbacks(self, route: str, reasons: Iterable[str]) -> None:
        reasons = list(reasons)
        for reason in reasons:
            self.fallbacks.labels(reason=reason).inc()
        if reasons:
            self.degraded.labels(route=route).inc()

    def set_models(self, versions: Mapping[str, str], loaded_at: Mapping[str, float]) -> None:
        """Point ``reco_model_info`` at the versions now served (the old series is removed)."""
        for model, version in versions.items():
            previous = self._versions.get(model)
            if previous is not None and previous != version:
                self.model_info.remove(model, previous)
            self.model_info.labels(model=model, version=version).set(1)
            self._versions[model] = version
        for model, stamp in loaded_at.items():
            self.model_loaded.labels(model=model).set(stamp)

    def observe_ranking_status(self, status: Mapping[str, object]) -> None:
        """From Ranking's status (what ``/readyz`` reads): whether its item-feature reload
        failed (``problems["item_features"]``)."""
        problems = status.get("problems") or {}
        failed = isinstance(problems, Mapping) and "item_features" in problems
        self.item_features_failed.labels(deployment="Ranking").set(1 if failed else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@lru_cache(maxsize=1)
def process_metrics() -> ServingMetrics:
    """This process's metrics. Reached through a function of an importable module: Ray pickles
    the ingress class by value, and a module-level object captured that way would be a second
    copy that the middleware never updates."""
    return ServingMetrics()


class RequestMetrics:
    """ASGI middleware: every HTTP request counted and timed by route template and status.

    Plain ASGI, not Starlette's ``@app.middleware("http")``: that wrapper (BaseHTTPMiddleware)
    cost about 0.3 ms a request in-process (496 against 185 us for a trivial route; this one
    185), paid on every recommendation (docs/serving.md, "What this change moved (3)")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a request that raises before answering counts as

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            route = scope.get("route")  # set by the router on this same scope when one matched
            process_metrics().observe_request(
                getattr(route, "path", UNMATCHED), status, time.perf_counter() - started
            )
