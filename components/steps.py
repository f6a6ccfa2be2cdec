"""The pipeline's steps as plain functions: files in, files out, endpoints from settings.

Each KFP component in `kfp_ops` calls exactly one of these; tests and the CLI can call them too.
A step reads its inputs, calls one domain function, writes its outputs; the work itself lives
with its subject (`ranker.candidates`, `registry`, `drift_reference`, ...). Artefact paths are
whatever KFP hands over (a file or a folder), never strings between steps.

Every dependency is imported at the top: each step runs in its own process and most steps need
the heavy ones (torch, xgboost, Milvus, MLflow) anyway.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    ITEM_ID,
    REFERENCE_ARTIFACT,
    TIMESTAMP,
    USER_ID,
)
from components.data.io import load_source, read_events
from components.data.order import ordered_users
from components.data.split import temporal_split
from components.data.validation import validate_dataset
from components.drift_reference import prediction_reference, reference_frames
from components.evaluation.evaluate import (
    COLD_RECALL,
    DEFAULT_KS,
    cold_item_recall,
    cold_relevant_items,
    evaluate_baselines,
    evaluate_recommendations,
    seen_items,
)
from components.evaluation.lists import (
    item_categories,
    list_metrics,
    reranked_lists,
    self_information,
    vector_lookup,
)
from components.evaluation.report import recall_curves, write_report
from components.features.build import build_feature_tables, default_snapshot_times
from components.features.ranking import ranker_feature_frame
from components.features.store import (
    apply_features,
    feature_store,
    historical_features,
    materialize_latest,
)
from components.ranker.candidates import (
    CURVE_DEPTH,
    EVALUATION_DEPTH,
    FeatureLookup,
    evaluate_two_stage,
    fit_ranker,
    retrieval_lists,
    retrieve_candidates,
)
from components.ranker.model import load_ranker, save_ranker
from components.recommend.tables import TABLES_ARTIFACT, build_serving_tables, save_serving_tables
from components.registry import (
    CHAMPION,
    GATE_METRIC,
    GATED_SYSTEM,
    apply_gate,
    champion_metrics,
    configure_mlflow,
    download_champions,
    gate,
    log_evaluation,
    log_folder,
    log_frames,
    log_item_embeddings,
    register_models,
    registry_client,
    scratch_folder,
    tag_versions,
    training_run,
    version_tags,
)
from components.retrieval.build import IndexSpec, build_collection, swap_alias
from components.retrieval.cleanup import drop_stale_collections
from components.retrieval.client import milvus_client
from components.settings import Settings, get_settings
from components.training_params import TrainingParams, default
from components.two_tower.export import TwoTowerRetrieval, load_two_tower, save_two_tower
from components.two_tower.train import TrainedTwoTower, train_like, train_two_tower

log = logging.getLogger(__name__)

USER_FEATURES_FILE = "user_features.parquet"
ITEM_FEATURES_FILE = "item_features.parquet"
KEEP_COLLECTIONS = 3  # collections kept behind the alias's current one, for a rollback


SPLIT_KEY = b"reco.split"  # Parquet schema metadata: which split a file holds
TEST_SPLIT = b"test"
VALIDATION_METRIC = "recall@100"  # what chooses the two-tower's epoch count
PATIENCE = 2  # epochs without a better validation figure before stopping (1 stops on noise)


class HeldOutSplitRead(RuntimeError):
    """The test split reached a step before the final evaluation (docs/evaluation.md)."""


def _read(path: str | Path, *, final_evaluation: bool = False) -> pd.DataFrame:
    """A step's input frame. The test split is marked when written, and only the final
    evaluation (``final_evaluation=True``: evaluate, the gate) may read it: any other step that
    is handed it raises, whatever the wiring."""
    table = pq.read_table(path)
    if (table.schema.metadata or {}).get(SPLIT_KEY) == TEST_SPLIT and not final_evaluation:
        raise HeldOutSplitRead(
            f"{path} holds the test split, which only the final evaluation may read"
        )
    return table.to_pandas()


def _write(frame: pd.DataFrame, path: str | Path, *, split_name: bytes | None = None) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if split_name is not None:
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), SPLIT_KEY: split_name}
        )
    pq.write_table(table, path)


def split_fingerprint(test: pd.DataFrame) -> str:
    """Identifies a test split, so a gate compares figures measured on the same one."""
    key = test[[USER_ID, ITEM_ID, TIMESTAMP]].sort_values([USER_ID, TIMESTAMP, ITEM_ID])
    digest = hashlib.sha256(pd.util.hash_pandas_object(key, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def run_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + "_" + uuid.uuid4().hex[:6]


# --- ingest and split ------------------------------------------------------------------------


def ingest(
    source: str,
    interactions_path: str | Path,
    items_path: str | Path,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Loads the source plus the feedback event log, validated; broken data raises here.

    The source's user ids are pseudonymized here (the event log's already are) and erased users
    are dropped, so no later step, artefact or MLflow run holds a raw id or an erased user."""
    from components.privacy.erasure import drop_erased, read_tombstones

    settings = settings or get_settings()
    users = settings.user_ids()
    interactions, items = load_source(source, users=users)
    events = read_events(settings.event_log_dir)
    if len(events):
        interactions = pd.concat([interactions, events], ignore_index=True)
    interactions = drop_erased(interactions, users, read_tombstones(settings.erased_users_file))
    interactions, items = validate_dataset(interactions, items, source)
    _write(interactions, interactions_path)
    _write(items, items_path)
    summary = {
        "interactions": len(interactions),
        "feedback_events": len(events),
        "users": int(interactions[USER_ID].nunique()),
        "items": len(items),
    }
    log.info("ingested %s", summary)
    return summary


def split(
    interactions_path: str | Path,
    train_path: str | Path,
    test_path: str | Path,
    fit_path: str | Path,
    label_path: str | Path,
) -> dict[str, Any]:
    """Protocol split into train/test, then train again into fit/label (docs/evaluation.md):
    the two-tower's epoch count is chosen on label, the ranker learns on label and is judged on
    label users it did not learn from. The test file is marked: only the final evaluation reads
    it (``_read``)."""
    train, test = temporal_split(_read(interactions_path))
    fit, label = temporal_split(train)
    if test.empty or label.empty:
        raise ValueError(
            "the split left no test or label interactions: every user needs at least 5 events"
        )
    for frame, path in ((train, train_path), (fit, fit_path), (label, label_path)):
        _write(frame, path)
    _write(test, test_path, split_name=TEST_SPLIT)
    return {
        "train": len(train),
        "test": len(test),
        "fit": len(fit),
        "label": len(label),
        "split_fingerprint": split_fingerprint(test),
    }


# --- features --------------------------------------------------------------------------------


def _store(settings: Settings) -> Any:
    return feature_store(
        settings.resolved_feast_repo, settings.feast_online_store, settings.feast_project
    )


def feature_lookup(settings: Settings) -> FeatureLookup:
    """The ranker's features through Feast's point-in-time join on the settings' store."""
    store = _store(settings)
    return lambda entity: ranker_feature_frame(None, None, historical_features(store, entity))


def build_features(
    interactions_path: str | Path,
    items_path: str | Path,
    output_dir: str | Path,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Point-in-time feature snapshots → Feast offline store, applied and materialised online."""
    settings = settings or get_settings()
    interactions, items = _read(interactions_path), _read(items_path)
    snapshots = default_snapshot_times(interactions)
    user_features, item_features = build_feature_tables(interactions, items, snapshots)
    output = Path(output_dir)
    _write(user_features, output / USER_FEATURES_FILE)
    _write(item_features, output / ITEM_FEATURES_FILE)
    store = _store(settings)
    apply_features(store, user_features, item_features, settings.resolved_feast_repo / "data")
    materialize_latest(store, snapshots[-1].to_pydatetime())
    return {
        "snapshots": len(snapshots),
        "user_feature_rows": len(user_features),
        "item_feature_rows": len(item_features),
    }


# --- two-tower and ranker --------------------------------------------------------------------


def epochs_on_validation(
    fit: pd.DataFrame,
    label: pd.DataFrame,
    items: pd.DataFrame,
    *,
    max_epochs: int,
    embedding_dim: int,
    seed: int,
    history_decay: float = default("history_decay"),
    patience: int = PATIENCE,
) -> tuple[int, list[float]]:
    """The two-tower's epoch count, chosen on validation: a tower learns on ``fit`` and after
    each epoch retrieves for the label window's users (fit items excluded); training stops when
    ``VALIDATION_METRIC`` has not improved for ``patience`` epochs. Returns the best epoch count
    and the figure of every epoch run."""
    users = ordered_users(label)
    figures: list[float] = []

    def judge(so_far: TrainedTwoTower) -> bool:
        candidates = retrieve_candidates(TwoTowerRetrieval.from_trained(so_far), fit, users, 100)
        found = evaluate_recommendations(retrieval_lists(candidates), label, len(items))
        figures.append(found[VALIDATION_METRIC])
        return len(figures) - 1 - figures.index(max(figures)) >= patience

    train_two_tower(
        fit,
        items,
        embedding_dim=embedding_dim,
        epochs=max_epochs,
        history_decay=history_decay,
        seed=seed,
        progress=False,
        on_epoch=judge,
    )
    return figures.index(max(figures)) + 1, figures


def train_retrieval(
    train_path: str | Path,
    fit_path: str | Path,
    label_path: str | Path,
    items_path: str | Path,
    model_dir: str | Path,
    *,
    epochs: int,
    embedding_dim: int,
    seed: int = 0,
    history_decay: float = default("history_decay"),
) -> dict[str, float]:
    """The epoch count on validation (``epochs_on_validation``, at most ``epochs``), then the
    served tower on the whole training window with that many epochs."""
    started = time.perf_counter()
    items = _read(items_path)
    chosen, figures = epochs_on_validation(
        _read(fit_path),
        _read(label_path),
        items,
        max_epochs=epochs,
        embedding_dim=embedding_dim,
        seed=seed,
        history_decay=history_decay,
    )
    trained = train_two_tower(
        _read(train_path),
        items,
        embedding_dim=embedding_dim,
        epochs=chosen,
        history_decay=history_decay,
        seed=seed,
    )
    trained.params["validation_" + VALIDATION_METRIC] = figures
    save_two_tower(trained, Path(model_dir))
    return {
        "final_loss": float(trained.loss_history[-1]),
        "epochs_chosen": float(chosen),
        f"validation_{VALIDATION_METRIC}".replace("@", "_"): max(figures),
        "train_seconds": time.perf_counter() - started,
    }


def train_ranking(
    two_tower_dir: str | Path,
    fit_path: str | Path,
    label_path: str | Path,
    items_path: str | Path,
    ranker_dir: str | Path,
    *,
    candidate_k: int,
    seed: int = 0,
    settings: Settings | None = None,
) -> dict[str, float]:
    """The ranker on two-tower candidates for the label window, judged against retrieval order
    on every label user out of fold (`ranker.candidates.fit_ranker`): the verdict is saved
    with it.

    The candidates come from a tower trained like the served one (its recorded parameters) on
    ``fit`` alone: the served tower learnt on the label window too, so its scores there know
    the answers and a ranker trained on them learns to copy them. The co-visitation feature's
    table is the serving tables' one built from ``fit``."""
    settings = settings or get_settings()
    fit, items = _read(fit_path), _read(items_path)
    served = load_two_tower(Path(two_tower_dir))
    candidates_tower = TwoTowerRetrieval.from_trained(train_like(served.params, fit, items))
    ranker, stats = fit_ranker(
        candidates_tower,
        fit,
        _read(label_path),
        candidate_k,
        feature_lookup(settings),
        seed=seed,
        table=settings.event_types,
        covisitation=build_serving_tables(fit, items).covisitation,
    )
    save_ranker(ranker, Path(ranker_dir))
    return stats


# --- evaluation ------------------------------------------------------------------------------


def evaluate(
    two_tower_dir: str | Path,
    ranker_dir: str | Path,
    train_path: str | Path,
    test_path: str | Path,
    items_path: str | Path,
    evaluation_path: str | Path,
    html_path: str | Path,
    markdown_path: str | Path,
    predictions_path: str | Path,
    *,
    candidate_k: int,
    seed: int = 0,
    settings: Settings | None = None,
) -> dict[str, dict[str, float]]:
    """The final evaluation, the first step that reads the test split: baselines and our models
    on the protocol split; report as JSON, HTML (with the Recall@K plot) and Markdown, beside
    the validation figures; and the ranker's training-time scores (the drift job's reference)."""
    settings = settings or get_settings()
    train, items = _read(train_path), _read(items_path)
    test = _read(test_path, final_evaluation=True)
    catalog_size = len(items)
    lists: dict[str, Mapping[int, Any]] = {}
    results = evaluate_baselines(
        train,
        test,
        catalog_size,
        k=CURVE_DEPTH,
        seed=seed,
        on_recommended=lambda name, found: lists.__setitem__(name, found),
    )
    tower = load_two_tower(Path(two_tower_dir))
    ranker = load_ranker(Path(ranker_dir))
    categories = item_categories(items)
    rerank = functools.partial(
        reranked_lists,
        vectors=vector_lookup(*tower.item_embeddings(None)),
        categories=categories,
        seen=seen_items(train),
        k=EVALUATION_DEPTH,
    )
    figures, top, model_lists = evaluate_two_stage(
        tower,
        ranker,
        train,
        test,
        catalog_size,
        candidate_k,
        feature_lookup(settings),
        rerank,
        covisitation=build_serving_tables(train, items).covisitation,
    )
    results.update(figures)
    lists.update(model_lists)
    information, unknown = self_information(train, settings.event_types)
    for system, found in lists.items():  # what users see: diversity and novelty beside accuracy
        results[system].update(list_metrics(found, categories, information, unknown, DEFAULT_KS))
    for name, found in lists.items():  # items first seen in the test window: content only
        if name in results:
            results[name][COLD_RECALL] = cold_item_recall(found, train, test)
    _write(prediction_reference(top), predictions_path)
    context = {
        "split_fingerprint": split_fingerprint(test),
        "users_evaluated": int(test[USER_ID].nunique()),
        "cold_item_users": len(cold_relevant_items(train, test)),
        "catalog_size": catalog_size,
        "candidate_k": candidate_k,
        "seed": seed,
        "ranker_enabled": ranker.enabled,
        "two_tower_epochs": tower.params.get("epochs"),
    }
    validation = {"ranker": dict(ranker.validation)}
    paths = write_report(
        results,
        settings.reports_dir,
        "Offline evaluation",
        context,
        curves=recall_curves(lists, test, CURVE_DEPTH),
        validation=validation,
    )
    for written, path in (
        (paths["json"], evaluation_path),
        (paths["html"], html_path),
        (paths["markdown"], markdown_path),
    ):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(written.read_text())
    return results


# --- index -----------------------------------------------------------------------------------


def collection_spec(settings: Settings, dim: int, num_shards: int | None = None) -> IndexSpec:
    """The item collection a run creates: shards from the pipeline parameter when given, else
    from the settings (``RECO_MILVUS_NUM_SHARDS``, which the Helm chart sets)."""
    return IndexSpec(
        alias=settings.milvus_collection_alias,
        dim=dim,
        num_shards=settings.milvus_num_shards if num_shards is None else int(num_shards),
        index_type=settings.milvus_index_type,
        metric_type=settings.milvus_metric_type,
    )


def index_items(
    two_tower_dir: str | Path,
    items_path: str | Path,
    info_path: str | Path,
    *,
    num_shards: int | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Embeds every available item into a new collection; the gate moves the alias later."""
    settings = settings or get_settings()
    items = _read(items_path)
    items = items[items[AVAILABLE]].set_index(ITEM_ID)
    retrieval = load_two_tower(Path(two_tower_dir))
    ids, vectors = retrieval.item_embeddings(items.index.tolist())
    collection = build_collection(
        milvus_client(settings.resolved_milvus_uri, settings.milvus_token),
        collection_spec(settings, retrieval.embedding_dim, num_shards),
        ids,
        vectors,
        items.loc[ids, CATEGORIES].tolist(),
        items.loc[ids, AVAILABLE].tolist(),
        run_id(),
    )
    info = {"collection": collection, "items": len(ids), "dim": int(vectors.shape[1])}
    Path(info_path).parent.mkdir(parents=True, exist_ok=True)
    Path(info_path).write_text(json.dumps(info))
    return info


# --- register and gate -----------------------------------------------------------------------


@dataclass(frozen=True)
class GateInputs:
    """What the register step reads: both models, the evaluation of them and the data it was
    measured on, and the evaluate step's drift reference scores and reports."""

    two_tower_dir: str | Path
    ranker_dir: str | Path
    evaluation_path: str | Path
    train_path: str | Path
    test_path: str | Path
    items_path: str | Path
    predictions_path: str | Path | None = None
    report_paths: Mapping[str, str | Path] = field(default_factory=dict)


def register_and_gate(
    inputs: GateInputs,
    collection: str,
    params: Mapping[str, Any],
    decision_path: str | Path,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Register both models as challenger; promote both and move the Milvus alias if they beat
    the champion on this very split (the champion is re-evaluated when its split differs)."""
    settings = settings or get_settings()
    run = TrainingParams.parse(params)
    evaluation = json.loads(Path(inputs.evaluation_path).read_text())
    train, items = _read(inputs.train_path), _read(inputs.items_path)
    test = _read(inputs.test_path, final_evaluation=True)  # the gate is the final evaluation's
    fingerprint = split_fingerprint(test)
    configure_mlflow(
        settings.resolved_mlflow_uri, settings.mlflow_experiment, settings.mlflow_artifact_root
    )
    client = registry_client(settings.resolved_mlflow_uri)
    decision = gate(
        float(evaluation["results"][GATED_SYSTEM][GATE_METRIC]),
        champion_metrics(client, settings.ranker_model_name),
        fingerprint,
        functools.partial(champion_on_split, settings, train, test, len(items), run.candidate_k),
    )
    training_run_id, versions = record_training_run(
        inputs, run, evaluation, train, test, items, collection, fingerprint, settings
    )
    tag_versions(
        client, versions, version_tags(evaluation, fingerprint, collection, training_run_id)
    )
    apply_gate(client, versions, decision)
    if decision.promoted:
        publish_collection(settings, collection)
    result = {**decision.as_dict(), "champion_alias": CHAMPION}
    Path(decision_path).parent.mkdir(parents=True, exist_ok=True)
    Path(decision_path).write_text(json.dumps(result, indent=2))
    return result


def champion_on_split(
    settings: Settings,
    train: pd.DataFrame,
    test: pd.DataFrame,
    catalog_size: int,
    candidate_k: int,
) -> float:
    """The current champions' gate figure on this split (the gate's re-evaluator)."""
    names = [settings.retrieval_model_name, settings.ranker_model_name]
    with scratch_folder(settings.state_dir) as scratch:
        tower_dir, ranker_dir = download_champions(settings.resolved_mlflow_uri, names, scratch)
        figures, _, _ = evaluate_two_stage(
            load_two_tower(tower_dir),
            load_ranker(ranker_dir),
            train,
            test,
            catalog_size,
            candidate_k,
            feature_lookup(settings),
        )
    return float(figures[GATED_SYSTEM][GATE_METRIC])


def record_training_run(
    inputs: GateInputs,
    params: TrainingParams,
    evaluation: Mapping[str, Any],
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame,
    collection: str,
    fingerprint: str,
    settings: Settings,
) -> tuple[str, dict[str, str]]:
    """One MLflow run with the evaluation, what the models' consumers read (serving tables, the
    drift reference, the item embeddings) and both models, registered; returns the run id and
    model name -> new version."""
    interactions = pd.concat([train, test], ignore_index=True)
    predictions = inputs.predictions_path
    has_predictions = predictions is not None and Path(predictions).is_file()
    retrieval = load_two_tower(Path(inputs.two_tower_dir))
    ids, vectors = retrieval.item_embeddings(items[ITEM_ID].tolist())
    reports = {  # artefacts of the evaluate step: no shared disk needed
        suffix: Path(path).read_text()
        for suffix, path in inputs.report_paths.items()
        if Path(path).is_file()
    }
    with training_run(f"training-{run_id()}") as mlflow_run:
        log_evaluation(
            params.model_dump(exclude_none=True),
            evaluation,
            {"split_fingerprint": fingerprint, "milvus_collection": collection},
            reports,
        )
        log_folder(
            TABLES_ARTIFACT,
            lambda folder: save_serving_tables(build_serving_tables(interactions, items), folder),
            settings.state_dir,
        )
        log_frames(
            REFERENCE_ARTIFACT,
            reference_frames(interactions, items, _read(predictions) if has_predictions else None),
            settings.state_dir,
        )
        log_item_embeddings(ids, vectors, settings.state_dir)
        versions = register_models(
            Path(inputs.two_tower_dir),
            retrieval,
            settings.retrieval_model_name,
            Path(inputs.ranker_dir),
            load_ranker(Path(inputs.ranker_dir)),
            settings.ranker_model_name,
            example_item=int(items[ITEM_ID].iloc[0]),
        )
    return mlflow_run, versions


def publish_collection(settings: Settings, collection: str) -> None:
    """Point the serving alias at the new collection; drop all but the latest few."""
    milvus = milvus_client(settings.resolved_milvus_uri, settings.milvus_token)
    swap_alias(milvus, settings.milvus_collection_alias, collection)
    drop_stale_collections(milvus, settings.milvus_collection_alias, keep=KEEP_COLLECTIONS)
