"""The reference window: the training snapshot recorded with the registered champion.

Contract with the training pipeline (its register step): the MLflow run that registers a model
version logs a folder ``reference/`` of artefacts, and every version carries the run id in its
``training_run_id`` tag:

    reference/interactions.parquet   the interactions the models were trained on (or their tail)
    reference/items.parquet          the catalog at training time
    reference/predictions.parquet    optional: the champion's scores at training time
                                     (user_id, item_id, score, rank), as serving logs them

The same layout in a plain folder is accepted too (tests, the KFP component, air-gapped runs).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from components.data.columns import (
    INTERACTIONS_FILE,
    ITEMS_FILE,
    PREDICTIONS_FILE,
    REFERENCE_ARTIFACT,
)
from components.settings import Settings
from monitoring.drift import DriftCheckError, Window

log = logging.getLogger(__name__)

REFERENCE_ARTIFACT_PATH = REFERENCE_ARTIFACT
TRAINING_RUN_TAG = "training_run_id"
CHAMPION = "champion"  # the alias consumers load (components.registry.CHAMPION)


class ReferenceNotFoundError(DriftCheckError):
    """No reference window: no champion yet, or its training run logged no reference."""


def write_reference_dir(
    folder: Path,
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
) -> Path:
    """Write a reference folder in the layout ``read_reference_dir`` and MLflow share."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    interactions.to_parquet(folder / INTERACTIONS_FILE, index=False)
    items.to_parquet(folder / ITEMS_FILE, index=False)
    if predictions is not None:
        predictions.to_parquet(folder / PREDICTIONS_FILE, index=False)
    return folder


def read_reference_dir(folder: Path, source: str | None = None) -> Window:
    """A reference window from a folder (interactions + items, predictions if present)."""
    folder = Path(folder)
    missing = [name for name in (INTERACTIONS_FILE, ITEMS_FILE) if not (folder / name).is_file()]
    if missing:
        raise ReferenceNotFoundError(f"reference folder {folder} lacks {missing}")
    predictions_path = folder / PREDICTIONS_FILE
    return Window(
        interactions=pd.read_parquet(folder / INTERACTIONS_FILE),
        items=pd.read_parquet(folder / ITEMS_FILE),
        predictions=pd.read_parquet(predictions_path) if predictions_path.is_file() else None,
        source=source or str(folder),
    )


def load_reference(
    settings: Settings, model_name: str | None = None, alias: str = CHAMPION
) -> Window:
    """Download (once, cached under ``monitoring_dir``) the champion's reference artefacts."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from components.registry import registry_client

    name = model_name or settings.ranker_model_name
    uri = settings.resolved_mlflow_uri
    client = registry_client(uri)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise ReferenceNotFoundError(
            f"no model version models:/{name}@{alias} at {uri}: train a model first"
        ) from error
    run_id = version.tags.get(TRAINING_RUN_TAG) or version.run_id
    if not run_id:
        raise ReferenceNotFoundError(f"{name} v{version.version} has no training run id")
    source = f"models:/{name}@{alias} (version {version.version}, run {run_id})"
    cache = settings.monitoring_dir / "reference" / run_id
    if (cache / REFERENCE_ARTIFACT_PATH / INTERACTIONS_FILE).is_file():
        return read_reference_dir(cache / REFERENCE_ARTIFACT_PATH, source)
    cache.mkdir(parents=True, exist_ok=True)
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path=REFERENCE_ARTIFACT_PATH,
            dst_path=str(cache),
            tracking_uri=uri,
        )
    except (MlflowException, OSError) as error:
        raise ReferenceNotFoundError(
            f"run {run_id} of {source} has no '{REFERENCE_ARTIFACT_PATH}/' artefacts: the "
            "training pipeline must log the reference window with the model"
        ) from error
    log.info("reference window of %s downloaded to %s", source, local)
    return read_reference_dir(Path(local), source)
