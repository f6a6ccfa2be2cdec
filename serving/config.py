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

from pydantic import BaseModel, ConfigDict, Field

from components.recommend.experiment import Experiment
from components.settings import Settings, get_settings


def _settings() -> Settings:
    return get_settings()


class RetrievalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_ann: int = Field(200, ge=1, le=5000, description="Milvus ANN candidates per request")
    n_covisit: int = Field(50, ge=0, le=1000, description="co-visitation candidates")
    n_popular: int = Field(50, ge=1, le=1000, description="popularity candidates (>= 2 k)")
    refresh_interval_s: float = Field(30.0, gt=0, description="how often to check the aliases")
    retire_after_s: float = Field(30.0, ge=0, description="grace before closing replaced clients")
    seen_poll_s: float = Field(2.0, gt=0, description="how often to read new feedback events")


class RankingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_interval_s: float = Field(30.0, gt=0)


class RerankingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mmr_lambda: float = Field(0.8, ge=0, le=1, description="1 = ranker order, 0 = most diverse")
    category_cap: int | None = Field(3, ge=1, description="most items per primary category")


class ServeArgs(BaseModel):
    """Everything the graph is built from. Unset endpoints come from ``Settings``."""

    model_config = ConfigDict(extra="forbid")

    mlflow_uri: str = Field(default_factory=lambda: _settings().resolved_mlflow_uri)
    retrieval_model: str = Field(default_factory=lambda: _settings().retrieval_model_name)
    ranker_model: str = Field(default_factory=lambda: _settings().ranker_model_name)
    milvus_uri: str = Field(default_factory=lambda: _settings().resolved_milvus_uri)
    milvus_token: str | None = Field(default_factory=lambda: _settings().milvus_token)
    milvus_alias: str = Field(
        default_factory=lambda: _settings().milvus_collection_alias,
        description="searched when a model version carries no milvus_collection tag",
    )
    feast_repo: Path = Field(default_factory=lambda: _settings().resolved_feast_repo)
    feast_online_store: str | None = Field(default_factory=lambda: _settings().feast_online_store)
    feast_project: str = Field(default_factory=lambda: _settings().feast_project)
    event_log_dir: Path | None = Field(
        default_factory=lambda: _settings().event_log_dir,
        description="feedback events are appended here (None = feedback refused)",
    )
    prediction_log_dir: Path | None = Field(
        default_factory=lambda: _settings().prediction_log_dir,
        description="returned scores are logged here for the drift job (None = off)",
    )
    prediction_flush_s: float = Field(
        10.0, gt=0, description="longest time logged scores wait in memory before a flush"
    )
    tables_dir: Path | None = Field(
        None,
        description="serving tables used when the champion's MLflow run has no "
        "'serving_tables' artefact",
    )
    scratch_dir: Path = Field(
        default_factory=lambda: _settings().state_dir / "serving",
        description="downloaded models and private Milvus Lite copies",
    )
    experiment: Experiment = Field(default_factory=Experiment)
    retrieval: RetrievalOptions = Field(default_factory=RetrievalOptions)
    ranking: RankingOptions = Field(default_factory=RankingOptions)
    reranking: RerankingOptions = Field(default_factory=RerankingOptions)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServeArgs:
        """Arguments for the endpoints of ``settings`` (tests and ``make run``)."""
        values: dict[str, Any] = {
            "mlflow_uri": settings.resolved_mlflow_uri,
            "retrieval_model": settings.retrieval_model_name,
            "ranker_model": settings.ranker_model_name,
            "milvus_uri": settings.resolved_milvus_uri,
            "milvus_token": settings.milvus_token,
            "milvus_alias": settings.milvus_collection_alias,
            "feast_repo": settings.resolved_feast_repo,
            "feast_online_store": settings.feast_online_store,
            "feast_project": settings.feast_project,
            "event_log_dir": settings.event_log_dir,
            "prediction_log_dir": settings.prediction_log_dir,
            "scratch_dir": settings.state_dir / "serving",
        }
        values.update(overrides)
        return cls.model_validate(values)
