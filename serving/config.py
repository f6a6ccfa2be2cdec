"""The serving graph's arguments: the single door through which settings enter it.

``ServeArgs`` is what ``build`` takes (``serve run serving.app:build key=value`` or ``args:`` in
``serve_config.yaml``). Every endpoint defaults to the one ``Settings`` object (``RECO_*``
environment variables), so the same config runs embedded and in the cluster. The per-deployment
option blocks become each deployment's ``user_config``: Serve hands them to ``reconfigure``,
and a ``user_config`` in the Serve config file changes them live, without restarting a replica.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.privacy.ids import load_key
from components.recommend.experiment import Experiment
from components.reranking.rerank import CATEGORY_CAP, MMR_LAMBDA
from components.settings import Settings, get_settings
from serving.limits import DEFAULT_MAX_BODY_BYTES

# Request batching (``@serve.batch``) in Retrieval and Ranking: chosen from
# benchmarks/serving_latency.py at concurrency 1/4/16 (docs/serving.md, "Batching"). No wait:
# Serve's batcher waits the whole timeout even for a lone request, which a request pays in each
# batched deployment; under load a batch still gathers the calls that queued during the last one.
MAX_BATCH_SIZE = 8
BATCH_WAIT_S = 0.0

# Ray Serve's data-plane flags every Ray process of the platform starts with (Ray reads them when
# a process starts, so they are environment, not ``ServeArgs``): handle calls over gRPC instead of
# Ray actor calls, and each replica's user code and router on its main event loop instead of a
# thread and a loop of their own. Two of the flags behind Ray's RAY_SERVE_THROUGHPUT_OPTIMIZED;
# not that switch itself, whose direct ingress keeps an HTTP proxy on the head node only.
# Measured with benchmarks/serving_latency.py (docs/serving.md, "What this change moved (3)").
# Local start-up sets them unless the environment already does; the chart sets them on the Ray
# pods (rayService.serveEnv, checked equal to this by tests/chart).
RAY_SERVE_ENV: dict[str, str] = {
    "RAY_SERVE_USE_GRPC_BY_DEFAULT": "1",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
}


class RetrievalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_ann: int = Field(200, ge=1, le=5000, description="Milvus ANN candidates per request")
    n_covisit: int = Field(50, ge=0, le=1000, description="co-visitation candidates")
    n_popular: int = Field(50, ge=1, le=1000, description="popularity candidates (>= 2 k)")
    refresh_interval_s: float = Field(30.0, gt=0, description="how often to check the aliases")
    retire_after_s: float = Field(30.0, ge=0, description="grace before closing replaced clients")
    seen_poll_s: float = Field(2.0, gt=0, description="how often to read new feedback events")
    max_batch_size: int = Field(
        MAX_BATCH_SIZE, ge=1, le=256, description="concurrent requests sharing one search call"
    )
    batch_wait_timeout_s: float = Field(
        BATCH_WAIT_S,
        ge=0,
        le=1,
        description="longest wait for a batch to fill (Serve waits it even for a lone request)",
    )


class RankingOptions(BaseModel):
    """Ranking's live options, re-ranking's included: the Ranking replica re-ranks the pool it
    scored (rules, MMR, reasons), which saves a hop that cost about as much as the work
    (docs/serving.md, "Fewer hops")."""

    model_config = ConfigDict(extra="forbid")

    refresh_interval_s: float = Field(30.0, gt=0)
    max_batch_size: int = Field(
        MAX_BATCH_SIZE, ge=1, le=256, description="concurrent requests sharing one prediction"
    )
    batch_wait_timeout_s: float = Field(
        BATCH_WAIT_S,
        ge=0,
        le=1,
        description="longest wait for a batch to fill (Serve waits it even for a lone request)",
    )
    mmr_lambda: float = Field(
        MMR_LAMBDA, ge=0, le=1, description="1 = ranker order, 0 = most diverse"
    )
    category_cap: int | None = Field(
        CATEGORY_CAP, ge=1, description="most items per primary category"
    )


def settings_args(settings: Settings) -> dict[str, Any]:
    """The ``ServeArgs`` fields that come from ``Settings``: the one mapping between the two."""
    return {
        "mlflow_uri": settings.resolved_mlflow_uri,
        "retrieval_model": settings.retrieval_model_name,
        "ranker_model": settings.ranker_model_name,
        "milvus_uri": settings.resolved_milvus_uri,
        "milvus_token": settings.milvus_token,
        "milvus_alias": settings.milvus_collection_alias,
        "admin_token": settings.admin_token,
        "id_key": load_key(settings.id_key, settings.state_dir).hex(),
        "context_keys": settings.context_keys,
        "erased_users_file": settings.erased_users_file,
        "feast_repo": settings.resolved_feast_repo,
        "feast_online_store": settings.feast_online_store,
        "feast_project": settings.feast_project,
        "event_log_dir": settings.event_log_dir,
        "catalog_updates_dir": settings.catalog_updates_dir,
        "prediction_log_dir": settings.prediction_log_dir,
        "scratch_dir": settings.state_dir / "serving",
    }


class ServeArgs(BaseModel):
    """Everything the graph is built from. Fields left out come from ``Settings``
    (``settings_args``): the process's ``get_settings()``, or the one given to
    ``from_settings``."""

    model_config = ConfigDict(extra="forbid")

    mlflow_uri: str
    retrieval_model: str
    ranker_model: str
    milvus_uri: str
    milvus_token: str | None
    milvus_alias: str = Field(
        description="searched when a model version carries no milvus_collection tag"
    )
    admin_token: str | None = Field(
        None, description="bearer token of the admin routes (None = admin routes refused)"
    )
    id_key: str = Field(
        repr=False, description="user-id pseudonymization key, hex (Settings.id_key or its file)"
    )
    context_keys: tuple[str, ...] = Field(description="allow-listed context keys")
    erased_users_file: Path = Field(description="tombstones of erased users (ingest drops them)")
    feast_repo: Path
    feast_online_store: str | None
    feast_project: str
    event_log_dir: Path | None = Field(
        description="feedback events are appended here (None = feedback refused)"
    )
    catalog_updates_dir: Path | None = Field(
        None, description="catalog updates are appended here and merged by Retrieval (None = off)"
    )
    prediction_log_dir: Path | None = Field(
        description="returned scores are logged here for the drift job (None = off)"
    )
    scratch_dir: Path = Field(description="downloaded models and private Milvus Lite copies")
    prediction_flush_s: float = Field(
        10.0, gt=0, description="longest time logged scores wait in memory before a flush"
    )
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="larger request bodies get 413 before they are read (1 MiB by default)",
    )
    tables_dir: Path | None = Field(
        None,
        description="serving tables used when the champion's MLflow run has no "
        "'serving_tables' artefact",
    )
    user_cache_size: int = Field(
        10_000, ge=0, description="users whose online feature row a Retrieval replica keeps"
    )
    user_cache_ttl_s: float = Field(
        5.0, ge=0, description="how long a kept user row is served (0 = read every request)"
    )
    replica_threads: int = Field(
        1,
        ge=1,
        description="BLAS/OpenMP/torch threads per Retrieval and Ranking replica (a replica "
        "holds a fraction of a core; larger pools spin against each other)",
    )
    exact_search_max_items: int = Field(
        100_000,
        ge=0,
        description="a collection with at most this many items is read into each Retrieval "
        "replica once and searched exactly in memory (numpy); larger ones are searched in "
        "Milvus (0 = always Milvus)",
    )
    anonymous_cache_size: int = Field(
        1_000,
        ge=0,
        description="cold-start answers (per segment and model) a Ranking replica keeps",
    )
    anonymous_cache_ttl_s: float = Field(
        60.0, ge=0, description="how long a kept cold-start answer is served (0 = off)"
    )
    handle_timeout_s: float = Field(
        10.0,
        gt=0,
        description="longest wait of the ingress for the graph's answer; past it (or when a "
        "replica dies mid-request) the client gets a 503 with Retry-After",
    )
    retry_after_s: int = Field(
        1, ge=0, description="the Retry-After (seconds) of a 503 the client may retry"
    )
    access_log: bool = Field(
        False,
        description="Serve's per-request access log lines when served by serve_locally (the "
        "Serve config's logging_config decides for `serve run/deploy`)",
    )
    experiment: Experiment = Field(default_factory=Experiment)
    retrieval: RetrievalOptions = Field(default_factory=RetrievalOptions)
    ranking: RankingOptions = Field(default_factory=RankingOptions)

    @model_validator(mode="before")
    @classmethod
    def _settings_fill_the_rest(cls, data: Any) -> Any:
        """Serve validates YAML/CLI args into this model itself: unset endpoints come from the
        process's settings (``RECO_*``)."""
        required = (name for name, info in cls.model_fields.items() if info.is_required())
        if isinstance(data, dict) and any(name not in data for name in required):
            return {**settings_args(get_settings()), **data}
        return data

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServeArgs:
        """Arguments for the endpoints of ``settings`` (``reco serve``, ``make run``, tests)."""
        return cls.model_validate({**settings_args(settings), **overrides})
