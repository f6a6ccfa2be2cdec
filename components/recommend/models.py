"""Which model versions serving runs, and fetching them from MLflow by VERSION.

Serving resolves an alias (``champion``) to a version once, then downloads that exact version:
downloading ``models:/name@champion`` instead could fetch a newer model than the one whose tags
(its Milvus collection) were just read, if the alias moved in between.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COLLECTION_TAG = "milvus_collection"  # the collection built from this two-tower version


@dataclass(frozen=True)
class ModelRef:
    """A registered model version as an alias resolved it."""

    name: str
    alias: str
    version: str
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)


@dataclass
class Loaded:
    """An object loaded from a model version, with when it was loaded."""

    ref: ModelRef
    model: Any
    loaded_at: float = field(default_factory=time.time)
    folder: Path | None = None  # where it was downloaded (removed when retired)


def mlflow_client(tracking_uri: str) -> Any:
    from components.registry import registry_client

    return registry_client(tracking_uri)


def resolve_alias(client: Any, name: str, alias: str) -> ModelRef | None:
    """The version ``alias`` points at now, or None (no such model or alias)."""
    from components.registry import alias_version

    version = alias_version(client, name, alias)
    if version is None:
        return None
    return ModelRef(
        name=name,
        alias=alias,
        version=str(version.version),
        run_id=getattr(version, "run_id", None),
        tags=dict(getattr(version, "tags", None) or {}),
    )


def download_version(tracking_uri: str, ref: ModelRef, destination: Path) -> Path:
    """The folder our loaders read (``model_dir_of``) of exactly ``ref.version``."""
    import mlflow

    from components.mlflow_models import model_dir_of

    destination.mkdir(parents=True, exist_ok=True)
    # MLflow 3.17 ignores download_artifacts(registry_uri=...) for models:/ URIs and looks the
    # model up in the process-wide registry: set it (serving processes use one registry).
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{ref.name}/{ref.version}", dst_path=str(destination)
    )
    return model_dir_of(Path(local))


def download_run_folder(
    tracking_uri: str, run_id: str | None, artifact_path: str, destination: Path
) -> Path | None:
    """A folder logged by a run (e.g. the serving tables), or None when the run has none."""
    import mlflow

    if not run_id:
        return None
    try:
        listed = mlflow.artifacts.list_artifacts(
            run_id=run_id, artifact_path=artifact_path, tracking_uri=tracking_uri
        )
    except Exception as error:  # noqa: BLE001 - a missing folder is an answer, not a failure
        log.info("run %s has no %s: %s", run_id, artifact_path, error)
        return None
    if not listed:
        return None
    destination.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path=artifact_path,
        dst_path=str(destination),
        tracking_uri=tracking_uri,
    )
    return Path(local)
