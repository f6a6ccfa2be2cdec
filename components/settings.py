"""One typed settings object for every runtime.

Defaults are the embedded runtime (everything under one git-ignored state folder); environment
variables prefixed ``RECO_`` move any endpoint to a cluster. No code asks "am I local?": the URI
decides (a ``sqlite:///`` MLflow URI is embedded, ``http://`` is a server; a Milvus URI ending in
``.db`` is Milvus Lite, ``http://`` is a Milvus server; no KFP host means the KFP local runner).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, computed_field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from components.data.events import EventTable


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECO_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="ignore",
    )

    state_dir: Path = Field(Path("var"), description="Root of every embedded store and artefact.")
    data_dir: Path | None = Field(None, description="Where interaction/catalog files live.")

    mlflow_tracking_uri: str | None = Field(
        None, description="sqlite:///... (embedded) or http://mlflow:5000 (cluster)."
    )
    mlflow_auth_secret: str | None = Field(
        None,
        description="Name of the Kubernetes Secret (keys username, password) the compiled "
        "pipelines' pods read MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD from: the "
        "pipeline references it (never the password). Set by the chart (mlflow.auth). "
        "Elsewhere MLflow's client reads those two variables itself.",
    )
    mlflow_experiment: str = "reco-training"
    retrieval_model_name: str = "reco-two-tower"
    ranker_model_name: str = "reco-ranker"

    milvus_uri: str | None = Field(
        None, description="A .db file = Milvus Lite; http(s)://... = server."
    )
    milvus_token: str | None = Field(None, json_schema_extra={"secret": True})
    milvus_collection_alias: str = "reco_items"
    milvus_num_shards: int = Field(
        2,
        ge=1,
        description="Shards of a new item collection (the pipeline's default; Milvus "
        "Lite ignores it).",
    )
    milvus_index_type: str = "HNSW"
    milvus_metric_type: str = "IP"

    feast_repo: Path | None = Field(None, description="Feast repo folder (registry lives there).")
    feast_project: str = "reco"
    feast_online_store: str | None = Field(
        None, description="None = SQLite under state_dir; redis://host:port = Redis."
    )

    pipeline_image: str = Field(
        "ghcr.io/reco-platform/reco-train:0.1.0",
        description="Image the KFP components run in on a cluster (built from docker/Dockerfile).",
    )
    kfp_host: str | None = Field(None, description="None = KFP local runner (no cluster).")
    kfp_namespace: str | None = None
    kfp_pipeline_name: str = "reco-training"
    training_source: str | None = Field(
        None,
        description="Data a retraining (drift-triggered or scheduled) trains on: the event log "
        "and catalog folder. Required where a retraining may start; never defaults to synthetic "
        "data ('synthetic' only when named).",
    )

    ray_address: str | None = Field(None, description="None = start a local Ray.")
    serve_host: str = "127.0.0.1"
    serve_port: int = Field(8000, ge=1, le=65535)

    admin_token: str | None = Field(
        None,
        json_schema_extra={"secret": True},
        description="Bearer token of the admin routes (erasure, catalog updates); unset = those "
        "routes answer 403. On a cluster it comes from a Secret.",
    )

    id_key: str | None = Field(
        None,
        json_schema_extra={"secret": True},
        description="Key of the user-id pseudonymization (HMAC-SHA256; hex or text, 16+ bytes). "
        "Unset = a random key kept in <state_dir>/secrets/id_key (0600). On a cluster it comes "
        "from a Secret; rotating it re-keys every user (docs/security.md).",
    )
    id_key_secret: str | None = Field(
        None,
        description="Name of the Kubernetes Secret (key id_key) the training pipeline's pods read "
        "RECO_ID_KEY from: the compiled pipeline references it (never the key). Set by the chart.",
    )
    context_keys: tuple[str, ...] = Field(
        ("category", "device", "locale", "page", "platform", "position", "surface"),
        description="The context keys a request or event may carry (anything else is refused "
        "with a reason): the allow-list that keeps free-form data out of the event log.",
    )
    event_retention_days: float = Field(
        365.0,
        gt=0,
        description="How long the feedback event log keeps an event (`reco maintenance "
        "compact` drops older ones and merges small files).",
    )

    prediction_retention_days: float = Field(
        90.0,
        gt=0,
        description="How long the prediction log keeps a served answer's rows (`reco "
        "maintenance compact` drops older ones); the drift job reads the recent window only.",
    )

    pushgateway_url: str | None = Field(
        None, description="Prometheus Pushgateway for the drift job's metrics (None = no push)."
    )

    event_types: EventTable = Field(
        default_factory=EventTable,
        description="Event type -> weight, positive or not, value thresholds (docs/events.md); "
        "JSON, types left out keep their defaults.",
    )

    @field_validator("state_dir", mode="after")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resolved_data_dir(self) -> Path:
        return (self.data_dir or self.state_dir / "data").expanduser().resolve()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mlflow_artifact_root(self) -> str:
        return (self.state_dir / "mlartifacts").as_uri()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resolved_milvus_uri(self) -> str:
        return self.milvus_uri or str(self.state_dir / "milvus.db")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resolved_feast_repo(self) -> Path:
        return (self.feast_repo or self.state_dir / "feast").expanduser().resolve()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pipeline_root(self) -> Path:
        return self.state_dir / "kfp"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def event_log_dir(self) -> Path:
        """Where serving appends feedback events; training reads it with the base data."""
        return self.resolved_data_dir / "events"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def catalog_updates_dir(self) -> Path:
        """Where catalog updates are appended (``reco catalog add``, the admin route); serving
        merges them without a retrain."""
        return self.resolved_data_dir / "catalog_updates"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prediction_log_dir(self) -> Path:
        """Where serving writes the scores it returned; the drift job reads them."""
        return self.state_dir / "predictions"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def monitoring_dir(self) -> Path:
        """Drift reports, decisions and the retraining lock."""
        return self.state_dir / "monitoring"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def erased_users_file(self) -> Path:
        """Tombstones of erased users (keyed hashes), which ingest drops from every source."""
        return self.state_dir / "privacy" / "erased_users.txt"

    def user_ids(self) -> Any:
        """The pseudonymizer of this deployment (``components.privacy.ids.UserIds``)."""
        from components.privacy.ids import user_ids

        return user_ids(self.id_key, self.state_dir)

    def ensure_dirs(self) -> None:
        for path in (self.state_dir, self.resolved_data_dir, self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)


def environment_variable(field: str) -> str:
    """The environment variable that sets a settings field (``milvus_uri`` -> RECO_MILVUS_URI)."""
    return f"{Settings.model_config['env_prefix']}{field.upper()}"


def is_secret(field: str) -> bool:
    """Fields marked secret are never written into files such as a compiled pipeline."""
    extra = Settings.model_fields[field].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


MASK = "***"


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as JSON values, with every secret field that is set replaced by ``MASK``."""
    values = settings.model_dump(mode="json")
    for name in Settings.model_fields:
        if is_secret(name) and values.get(name):
            values[name] = MASK
    return values


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
