"""MLflow model registry by alias: register as `challenger`, promote to `champion` behind a gate.

Consumers (serving, the drift job) only ever load `models:/<name>@champion`; promotion moves an
alias, rollback moves it back. Versions carry their evaluation numbers and the fingerprint of
the split they were measured on, so a gate only compares figures measured on the same split.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from components.data.columns import ITEM_ID, USER_ID
from components.features.ranking import DEFAULT_FEATURES, RANKER_FEATURES
from components.mlflow_models import ARTIFACT_KEY, RankerPyfunc, TwoTowerPyfunc, model_dir_of
from components.stores import require_file

if TYPE_CHECKING:  # for hints only: importing them costs torch and xgboost to every reader
    from components.ranker.model import Ranker
    from components.two_tower.export import TwoTowerRetrieval

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
GATE_METRIC = "ndcg@10"
GATED_SYSTEM = "two_tower_ranker"  # the evaluation's name for what serving serves
# Version tags the gate reads back: the figure it compares and the split it was measured on.
SCORE_TAG = "ndcg_at_10"
FINGERPRINT_TAG = "split_fingerprint"
ITEM_EMBEDDINGS_ARTIFACT = "item_embeddings"
ITEM_EMBEDDINGS_FILE = "item_embeddings.parquet"


def registry_client(uri: str) -> MlflowClient:
    """A client whose tracking AND registry are ``uri``: without an explicit registry URI,
    MlflowClient takes the process-wide one, which another caller may have pointed elsewhere."""
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def configure_mlflow(tracking_uri: str, experiment: str, artifact_root: str | None) -> str:
    """Point MLflow at the tracking URI and make sure the experiment exists; returns its id.

    With a SQLite backend MLflow would put artefacts under the working directory; an explicit
    artefact root keeps them in the state folder (a server brings its own store).
    """
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = registry_client(tracking_uri)
    existing = client.get_experiment_by_name(experiment)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        location = f"{artifact_root.rstrip('/')}/{experiment}" if artifact_root else None
        experiment_id = client.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def alias_version(client: MlflowClient, name: str, alias: str) -> Any | None:
    """The model version an alias points at, or None when the model or alias does not exist."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    challenger_score: float
    champion_score: float | None
    metric: str = GATE_METRIC
    versions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_promotion(
    challenger_score: float, champion_score: float | None, min_improvement: float = 0.0
) -> GateDecision:
    """Pure gate: promote when there is no champion or the challenger beats it on one split."""
    if champion_score is None:
        return GateDecision(True, "no champion yet", challenger_score, None)
    if challenger_score > champion_score + min_improvement:
        return GateDecision(
            True,
            f"{GATE_METRIC} {challenger_score:.4f} beats champion {champion_score:.4f}",
            challenger_score,
            champion_score,
        )
    return GateDecision(
        False,
        f"{GATE_METRIC} {challenger_score:.4f} does not beat champion {champion_score:.4f}",
        challenger_score,
        champion_score,
    )


def tag_version(client: MlflowClient, name: str, version: str, tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def apply_gate(
    client: MlflowClient,
    versions: dict[str, str],
    decision: GateDecision,
) -> GateDecision:
    """Set `challenger` on every new version; move `champion` to all of them together if the gate
    passed, so the retriever and the ranker that were evaluated together are served together."""
    for name, version in versions.items():
        client.set_registered_model_alias(name, CHALLENGER, version)
        tag_version(
            client,
            name,
            version,
            {
                "validation_status": "approved" if decision.promoted else "rejected",
                "gate_reason": decision.reason,
            },
        )
    if decision.promoted:
        for name, version in versions.items():
            client.set_registered_model_alias(name, CHAMPION, version)
            log.info("%s: champion -> version %s (%s)", name, version, decision.reason)
    else:
        log.info("champion unchanged: %s", decision.reason)
    decision.versions = dict(versions)
    return decision


def champion_score(
    champion: Mapping[str, str] | None, fingerprint: str, reevaluate: Callable[[], float]
) -> float | None:
    """The champion's gate figure on this split: its own tag when it was measured on this very
    split, else ``reevaluate()`` (re-scores the champion on this split). None: no champion."""
    if champion is None:
        return None
    if champion.get(FINGERPRINT_TAG) == fingerprint and SCORE_TAG in champion:
        return float(champion[SCORE_TAG])
    score = float(reevaluate())
    log.info("champion re-evaluated on this split: %s %.4f", GATE_METRIC, score)
    return score


def gate(
    score: float,
    champion: Mapping[str, str] | None,
    fingerprint: str,
    reevaluate: Callable[[], float],
    min_improvement: float = 0.0,
) -> GateDecision:
    """The champion gate: ``champion`` is the champion version's tags (``champion_metrics``),
    ``fingerprint`` the split the challenger's ``score`` was measured on."""
    return decide_promotion(
        score, champion_score(champion, fingerprint, reevaluate), min_improvement
    )


def version_tags(
    evaluation: Mapping[str, Any], fingerprint: str, collection: str, run_id: str
) -> dict[str, Any]:
    """What a new version carries: its figures, the split they were measured on, its Milvus
    collection, the training run that logged its reference data, and the ranker's verdict on
    validation (``ranker_enabled``: false when it did not beat retrieval order there, and serving
    then keeps the retrieval order; ``validation_ndcg_retrieval`` / ``validation_ndcg_ranker``)."""
    results, context = evaluation["results"], evaluation.get("context", {})
    ranker_validation = evaluation.get("validation", {}).get("ranker", {})
    return {
        **ranker_validation,
        "ranker_enabled": str(bool(context.get("ranker_enabled", True))).lower(),
        FINGERPRINT_TAG: fingerprint,
        "milvus_collection": collection,
        SCORE_TAG: results[GATED_SYSTEM][GATE_METRIC],
        "recall_at_100": results[GATED_SYSTEM]["recall@100"],
        "retrieval_recall_at_100": results["two_tower"]["recall@100"],
        "training_run_id": run_id,
        "users_evaluated": context.get("users_evaluated", ""),
    }


def tag_versions(
    client: MlflowClient, versions: Mapping[str, str], tags: Mapping[str, Any]
) -> None:
    for name, version in versions.items():
        tag_version(client, name, version, dict(tags))


# --- a training run's record: evaluation, data for its consumers, models ---------------------


@contextlib.contextmanager
def scratch_folder(state_dir: Path) -> Iterator[Path]:
    """A folder in the state folder for files on their way into (or out of) MLflow; removed
    afterwards, whatever happens."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=state_dir, prefix="tmp-") as folder:
        yield Path(folder)


@contextlib.contextmanager
def training_run(name: str) -> Iterator[str]:
    """An MLflow run that the ``log_*`` functions below write into; yields its id."""
    with mlflow.start_run(run_name=name) as run:
        yield run.info.run_id


def log_evaluation(
    params: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    tags: Mapping[str, str],
    reports: Mapping[str, str],
) -> None:
    """The run's parameters, every system's figures as metrics, and the report (``reports``:
    file suffix -> text, e.g. the HTML people read)."""
    mlflow.log_params(dict(params))
    for system, values in evaluation["results"].items():
        mlflow.log_metrics({f"{system}.{k}".replace("@", "_at_"): v for k, v in values.items()})
    mlflow.set_tags(dict(tags))
    mlflow.log_dict(dict(evaluation), "evaluation/evaluation.json")
    for suffix, text in reports.items():
        mlflow.log_text(text, f"evaluation/evaluation.{suffix}")
    validation = evaluation.get("validation", {}).get("ranker", {})
    mlflow.log_metrics({f"ranker.{name}": float(value) for name, value in validation.items()})


def log_folder(artifact_path: str, write: Callable[[Path], Any], state_dir: Path) -> None:
    """``write`` fills a scratch folder, logged as ``artifact_path/`` of the active run."""
    with scratch_folder(state_dir) as scratch:
        folder = scratch / "folder"
        folder.mkdir()
        write(folder)
        mlflow.log_artifacts(str(folder), artifact_path)


def log_frames(artifact_path: str, frames: Mapping[str, pd.DataFrame], state_dir: Path) -> None:
    """Each frame as ``artifact_path/<file name>`` (Parquet) of the active run."""

    def write(folder: Path) -> None:
        for file_name, frame in frames.items():
            frame.to_parquet(folder / file_name, index=False)

    log_folder(artifact_path, write, state_dir)


def log_item_embeddings(ids: Sequence[int], vectors: np.ndarray, state_dir: Path) -> None:
    """Every catalog item's vector, as indexed in Milvus, beside the model that made them."""
    frame = pd.DataFrame({ITEM_ID: np.asarray(ids, dtype=np.int64)})
    frame["embedding"] = list(np.asarray(vectors, dtype=np.float32))
    log_frames(ITEM_EMBEDDINGS_ARTIFACT, {ITEM_EMBEDDINGS_FILE: frame}, state_dir)


def log_model_dir(
    python_model: PythonModel,
    model_dir: Path,
    registered_name: str,
    example_input: pd.DataFrame,
    example_output: np.ndarray,
) -> str:
    """Logs a saved model folder under the active run, registers it, returns the new version."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        artifacts={ARTIFACT_KEY: str(model_dir)},
        signature=infer_signature(example_input, example_output),
        input_example=example_input,
        registered_model_name=registered_name,
        pip_requirements=[],
    )
    return str(info.registered_model_version)


def register_models(
    two_tower_dir: Path,
    retrieval: TwoTowerRetrieval,
    two_tower_name: str,
    ranker_dir: Path,
    ranker: Ranker,
    ranker_name: str,
    example_item: int,
) -> dict[str, str]:
    """Log and register both models under the active run, each with an input example and a
    signature; returns model name -> new version."""
    tower_input = pd.DataFrame({USER_ID: [1, 2], "history": [str(example_item), ""]})
    tower_output = retrieval.user_embeddings([1, 2], [[example_item], []])
    ranker_input = pd.DataFrame([DEFAULT_FEATURES])[list(RANKER_FEATURES)].astype(np.float32)
    return {
        two_tower_name: log_model_dir(
            TwoTowerPyfunc(), two_tower_dir, two_tower_name, tower_input, tower_output
        ),
        ranker_name: log_model_dir(
            RankerPyfunc(), ranker_dir, ranker_name, ranker_input, ranker.score(ranker_input)
        ),
    }


def download_champions(tracking_uri: str, names: Sequence[str], folder: Path) -> list[Path]:
    """The folders our loaders read of each model's champion, downloaded under ``folder``."""
    return [
        model_dir_of(download_model(tracking_uri, name, CHAMPION, folder / name)) for name in names
    ]


def registry_summary(client: MlflowClient, name: str) -> str:
    """One line for people: the champion, and the latest challenger with the gate's verdict."""
    champion = alias_version(client, name, CHAMPION)
    challenger = alias_version(client, name, CHALLENGER)
    parts = [f"{name}: champion v{champion.version}" if champion else f"{name}: no champion"]
    if challenger is not None and (champion is None or challenger.version != champion.version):
        tags = dict(challenger.tags)
        verdict = tags.get("validation_status", "not gated")
        parts.append(f"challenger v{challenger.version} {verdict}: {tags.get('gate_reason', '')}")
    elif champion is not None and "gate_reason" in champion.tags:
        parts.append(f"promoted: {champion.tags['gate_reason']}")
    return "; ".join(parts).rstrip(": ")


def champion_metrics(client: MlflowClient, name: str) -> dict[str, str] | None:
    """The tags of the current champion version (its evaluation figures and split)."""
    version = alias_version(client, name, CHAMPION)
    return None if version is None else dict(version.tags)


def download_model(tracking_uri: str, name: str, alias: str, destination: Path) -> Path:
    """Fetch `models:/<name>@<alias>` into a folder; serving and the gate load from there."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    destination.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}@{alias}", dst_path=str(destination)
    )
    return Path(local)


# --- serving: an alias resolved once, then exactly that version downloaded ---------------------
# Downloading ``models:/name@champion`` instead could fetch a newer model than the one whose tags
# (its Milvus collection) were just read, if the alias moved in between.


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for a server or another backend)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def require_registry(uri: str) -> None:
    """Raise ``StoreMissingError`` when ``uri`` is an embedded (SQLite) registry whose file is
    missing: MLflow would create an empty database there, and a serving replica would keep
    reading that stand-in (MLflow caches the store per URI) after the real file is back."""
    path = sqlite_path(uri)
    if path is not None:
        require_file(path, "MLflow registry")


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


def resolve_alias(client: MlflowClient, name: str, alias: str) -> ModelRef | None:
    """The version ``alias`` points at now, or None (no such model or alias)."""
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
    from components.mlflow_models import model_dir_of  # it imports the model code

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
    if not run_id:
        return None
    require_registry(tracking_uri)
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


@dataclass(frozen=True)
class RegisteredVersions:
    """The registry as serving's model holder sees it (``components.recommend.models``)."""

    tracking_uri: str

    def resolve(self, name: str, aliases: tuple[str, ...]) -> dict[str, ModelRef]:
        """Alias -> version for every alias of ``name`` that exists (one client per call)."""
        require_registry(self.tracking_uri)
        client = registry_client(self.tracking_uri)
        refs = {alias: resolve_alias(client, name, alias) for alias in aliases}
        return {alias: ref for alias, ref in refs.items() if ref is not None}

    def download(self, ref: ModelRef, destination: Path) -> Path:
        require_registry(self.tracking_uri)
        return download_version(self.tracking_uri, ref, destination)


# --- tuning: a parent run, one nested run per trial, the best configuration -------------------

PARENT_RUN_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by
TUNING_TAG = "reco.tuning"
BEST_PARAMS_ARTIFACT = "tuning/best_params.json"


def metric_name(name: str) -> str:
    """MLflow metric keys take no '@' (ndcg@10 -> ndcg_at_10, as the training run logs them)."""
    return name.replace("@", "_at_")


def start_tuning_run(
    tracking_uri: str, experiment: str, artifact_root: str | None, name: str, params: Mapping
) -> str:
    """Create the parent run of a search (left open until ``finish_tuning_run``); returns its
    id, which every trial of the search (another process each) nests its run under."""
    experiment_id = configure_mlflow(tracking_uri, experiment, artifact_root)
    client = registry_client(tracking_uri)
    run = client.create_run(experiment_id, run_name=name, tags={TUNING_TAG: "search"})
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    return str(run.info.run_id)


def log_trial(
    tracking_uri: str,
    parent_run_id: str,
    name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
) -> str:
    """One trial as a finished run nested under the search's parent run; returns its id."""
    client = registry_client(tracking_uri)
    parent = client.get_run(parent_run_id)
    run = client.create_run(
        parent.info.experiment_id,
        run_name=name,
        tags={PARENT_RUN_TAG: parent_run_id, TUNING_TAG: "trial"},
    )
    run_id = run.info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for key, value in metrics.items():
        client.log_metric(run_id, metric_name(key), float(value))
    client.set_terminated(run_id)
    return str(run_id)


def trial_runs(tracking_uri: str, parent_run_id: str) -> list[Any]:
    """The trial runs nested under a search's parent run."""
    client = registry_client(tracking_uri)
    parent = client.get_run(parent_run_id)
    return list(
        client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'",
        )
    )


def finish_tuning_run(
    tracking_uri: str,
    parent_run_id: str,
    best_params: Mapping[str, Any],
    score_name: str,
    score: float,
    document: Mapping[str, Any],
) -> None:
    """Record the pick on the parent run (``best.<name>`` params, the score, the whole document
    as an artefact) and close it."""
    client = registry_client(tracking_uri)
    for key, value in best_params.items():
        client.log_param(parent_run_id, f"best.{key}", value)
    client.log_metric(parent_run_id, metric_name(f"best.{score_name}"), float(score))
    client.log_dict(parent_run_id, dict(document), BEST_PARAMS_ARTIFACT)
    client.set_terminated(parent_run_id)
