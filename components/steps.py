"""The pipeline's steps as plain functions: files in, files out, endpoints from settings.

Each KFP component in `kfp_ops` calls exactly one of these; tests and the CLI can call them too.
Artefact paths are whatever KFP hands over (a file or a folder), never strings between steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID, TIMESTAMP, USER_ID
from components.settings import Settings, get_settings

log = logging.getLogger(__name__)

USER_FEATURES_FILE = "user_features.parquet"
ITEM_EMBEDDINGS_FILE = "item_embeddings.parquet"
PREDICTION_RANKS = 10  # ranks of the training-time scores kept as the score-drift reference
REFERENCE_DAYS = 30  # the reference window: the last days of the training data
ITEM_FEATURES_FILE = "item_features.parquet"


def _read(path: str | Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _write(frame: pd.DataFrame, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def split_fingerprint(test: pd.DataFrame) -> str:
    """Identifies a test split, so a gate compares figures measured on the same one."""
    key = test[[USER_ID, ITEM_ID, TIMESTAMP]].sort_values([USER_ID, TIMESTAMP, ITEM_ID])
    digest = hashlib.sha256(pd.util.hash_pandas_object(key, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


# --- ingest and split ------------------------------------------------------------------------


def ingest(
    source: str,
    interactions_path: str | Path,
    items_path: str | Path,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Loads the source plus the feedback event log, validated; broken data raises here."""
    from components.data.io import load_source, read_events
    from components.data.validation import validate_dataset

    settings = settings or get_settings()
    interactions, items = load_source(source)
    events = read_events(settings.event_log_dir)
    if len(events):
        interactions = pd.concat([interactions, events], ignore_index=True)
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
    """Protocol split into train/test, then train again into fit/label for the ranker."""
    from components.data.split import temporal_split

    interactions = _read(interactions_path)
    train, test = temporal_split(interactions)
    fit, label = temporal_split(train)
    if test.empty or label.empty:
        raise ValueError(
            "the split left no test or label interactions: every user needs at least 5 events"
        )
    for frame, path in (
        (train, train_path),
        (test, test_path),
        (fit, fit_path),
        (label, label_path),
    ):
        _write(frame, path)
    return {
        "train": len(train),
        "test": len(test),
        "fit": len(fit),
        "label": len(label),
        "split_fingerprint": split_fingerprint(test),
    }


# --- features --------------------------------------------------------------------------------


def _store(settings: Settings) -> Any:
    from components.features.store import feature_store

    return feature_store(
        settings.resolved_feast_repo, settings.feast_online_store, settings.feast_project
    )


def build_features(
    interactions_path: str | Path,
    items_path: str | Path,
    output_dir: str | Path,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Point-in-time feature snapshots → Feast offline store, applied and materialised online."""
    from components.features.build import build_feature_tables, default_snapshot_times
    from components.features.store import apply_features, materialize_latest

    settings = settings or get_settings()
    interactions, items = _read(interactions_path), _read(items_path)
    snapshots = default_snapshot_times(interactions)
    user_features, item_features = build_feature_tables(interactions, items, snapshots)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
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


def candidate_features(
    candidates: pd.DataFrame, cutoffs: pd.Series, settings: Settings
) -> pd.DataFrame:
    """Ranker matrix for candidates, with features as they were just before each user's cutoff."""
    from components.features.ranking import ranker_feature_frame
    from components.features.store import historical_features

    entity = candidates.copy()
    entity["event_timestamp"] = candidates[USER_ID].map(cutoffs).to_numpy()
    joined = historical_features(_store(settings), entity)
    return ranker_feature_frame(None, None, joined)


# --- two-tower -------------------------------------------------------------------------------


def train_retrieval(
    fit_path: str | Path,
    items_path: str | Path,
    model_dir: str | Path,
    *,
    epochs: int,
    embedding_dim: int,
) -> dict[str, float]:
    from components.two_tower.export import save_two_tower
    from components.two_tower.train import train_two_tower

    started = time.perf_counter()
    trained = train_two_tower(
        _read(fit_path), _read(items_path), embedding_dim=embedding_dim, epochs=epochs
    )
    save_two_tower(trained, Path(model_dir))
    return {
        "final_loss": float(trained.loss_history[-1]),
        "train_seconds": time.perf_counter() - started,
    }


def _retrieve(
    model_dir: str | Path, history_frame: pd.DataFrame, users: list[int], k: int
) -> pd.DataFrame:
    """Top-k two-tower candidates (full catalog, seen items excluded) as a long frame."""
    from components.evaluation.evaluate import seen_items
    from components.two_tower.export import load_two_tower, user_histories
    from components.two_tower.recommend import recommend_two_tower

    retrieval = load_two_tower(Path(model_dir))
    histories = user_histories(history_frame, retrieval.history_length)
    items, scores = recommend_two_tower(
        retrieval, users, histories, k=k, exclude=seen_items(history_frame)
    )
    rows = [
        (user, item, score, rank)
        for user in users
        for rank, (item, score) in enumerate(zip(items[user], scores[user], strict=True))
    ]
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, "retrieval_score", "retrieval_rank"])


def _cutoffs(window: pd.DataFrame) -> pd.Series:
    """Just before each user's first event in a window: features must not include that event."""
    return window.groupby(USER_ID)[TIMESTAMP].min() - pd.Timedelta(1, "ns")


# --- ranker ----------------------------------------------------------------------------------


def train_ranking(
    two_tower_dir: str | Path,
    fit_path: str | Path,
    label_path: str | Path,
    items_path: str | Path,
    ranker_dir: str | Path,
    *,
    candidate_k: int,
    settings: Settings | None = None,
) -> dict[str, float]:
    from components.evaluation.evaluate import relevant_items
    from components.features.ranking import RANKER_FEATURES
    from components.ranker.model import label_candidates, save_ranker, train_ranker

    settings = settings or get_settings()
    fit, label = _read(fit_path), _read(label_path)
    users = sorted(label[USER_ID].unique().tolist())
    candidates = _retrieve(two_tower_dir, fit, users, candidate_k)
    features = candidate_features(candidates, _cutoffs(label), settings)
    labels = label_candidates(candidates, relevant_items(label))
    ranker, stats = train_ranker(features, labels, candidates[USER_ID], list(RANKER_FEATURES))
    save_ranker(ranker, Path(ranker_dir))
    stats["candidate_recall"] = float(labels.sum() / max(len(label), 1))
    return stats


# --- evaluation ------------------------------------------------------------------------------


def evaluate_pair(
    two_tower_dir: str | Path,
    ranker_dir: str | Path,
    train: pd.DataFrame,
    test: pd.DataFrame,
    catalog_size: int,
    candidate_k: int,
    settings: Settings,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Two-tower alone and two-tower + ranker, on one split, through one evaluator; also the
    ranker's top-10 scores per user (the drift job's reference for score drift)."""
    from components.evaluation.evaluate import evaluate_recommendations
    from components.ranker.model import item_lists, load_ranker, top_scored

    users = sorted(test[USER_ID].unique().tolist())
    candidates = _retrieve(two_tower_dir, train, users, max(candidate_k, 100))
    retrieval = {
        int(u): g.sort_values("retrieval_rank")[ITEM_ID].tolist()
        for u, g in candidates.groupby(USER_ID)
    }
    features = candidate_features(candidates, _cutoffs(test), settings)
    top = top_scored(load_ranker(Path(ranker_dir)), candidates, features, k=100)
    ranked = item_lists(top)
    figures = {
        "two_tower": evaluate_recommendations(retrieval, test, catalog_size),
        "two_tower_ranker": evaluate_recommendations(ranked, test, catalog_size),
    }
    return figures, top[top["rank"] <= PREDICTION_RANKS].reset_index(drop=True)


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
    settings: Settings | None = None,
) -> dict[str, dict[str, float]]:
    """Baselines and our models on the protocol split; report as JSON, HTML and Markdown."""
    from components.evaluation.evaluate import evaluate_baselines
    from components.evaluation.report import write_report

    settings = settings or get_settings()
    train, test, items = _read(train_path), _read(test_path), _read(items_path)
    catalog_size = len(items)
    results = evaluate_baselines(train, test, catalog_size)
    figures, predictions = evaluate_pair(
        two_tower_dir, ranker_dir, train, test, catalog_size, candidate_k, settings
    )
    results.update(figures)
    Path(predictions_path).parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(predictions_path, index=False)
    context = {
        "split_fingerprint": split_fingerprint(test),
        "users_evaluated": int(test[USER_ID].nunique()),
        "catalog_size": catalog_size,
        "candidate_k": candidate_k,
    }
    paths = write_report(results, settings.reports_dir, "Offline evaluation", context)
    Path(evaluation_path).parent.mkdir(parents=True, exist_ok=True)
    Path(evaluation_path).write_text(paths["json"].read_text())
    Path(html_path).write_text(paths["html"].read_text())
    Path(markdown_path).write_text(paths["markdown"].read_text())
    return results


# --- index and registry ----------------------------------------------------------------------


def run_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + "_" + uuid.uuid4().hex[:6]


def index_items(
    two_tower_dir: str | Path,
    items_path: str | Path,
    info_path: str | Path,
    *,
    num_shards: int,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Embeds every available item into a new collection; the gate moves the alias later."""
    from components.retrieval.build import IndexSpec, build_collection
    from components.retrieval.client import milvus_client
    from components.two_tower.export import load_two_tower

    settings = settings or get_settings()
    items = _read(items_path)
    items = items[items[AVAILABLE]]
    retrieval = load_two_tower(Path(two_tower_dir))
    ids, vectors = retrieval.item_embeddings(items[ITEM_ID].tolist())
    spec = IndexSpec(
        alias=settings.milvus_collection_alias,
        dim=retrieval.embedding_dim,
        num_shards=num_shards,
        index_type=settings.milvus_index_type,
        metric_type=settings.milvus_metric_type,
    )
    client = milvus_client(settings.resolved_milvus_uri, settings.milvus_token)
    by_id = items.set_index(ITEM_ID)
    collection = build_collection(
        client,
        spec,
        ids,
        vectors,
        by_id.loc[ids, CATEGORIES].tolist(),
        by_id.loc[ids, AVAILABLE].tolist(),
        run_id(),
    )
    info = {"collection": collection, "items": len(ids), "dim": int(vectors.shape[1])}
    Path(info_path).parent.mkdir(parents=True, exist_ok=True)
    Path(info_path).write_text(json.dumps(info))
    return info


def register_and_gate(
    two_tower_dir: str | Path,
    ranker_dir: str | Path,
    evaluation_path: str | Path,
    train_path: str | Path,
    test_path: str | Path,
    items_path: str | Path,
    collection: str,
    params: dict[str, Any],
    decision_path: str | Path,
    predictions_path: str | Path | None = None,
    report_paths: dict[str, str | Path] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Register both models as challenger; promote both and move the Milvus alias if they beat
    the champion on this very split (the champion is re-evaluated when its split differs)."""
    import mlflow

    from components.mlflow_models import RankerPyfunc, TwoTowerPyfunc, log_model_dir
    from components.registry import (
        CHAMPION,
        GATE_METRIC,
        apply_gate,
        configure_mlflow,
        decide_promotion,
        registry_client,
        tag_version,
    )
    from components.retrieval.build import swap_alias
    from components.retrieval.cleanup import drop_stale_collections
    from components.retrieval.client import milvus_client

    settings = settings or get_settings()
    evaluation = json.loads(Path(evaluation_path).read_text())
    results, context = evaluation["results"], evaluation["context"]
    system = "two_tower_ranker"
    score = float(results[system][GATE_METRIC])
    train, test, items = _read(train_path), _read(test_path), _read(items_path)
    fingerprint = split_fingerprint(test)

    configure_mlflow(
        settings.resolved_mlflow_uri, settings.mlflow_experiment, settings.mlflow_artifact_root
    )
    client = registry_client(settings.resolved_mlflow_uri)
    champion_score = _champion_score(client, settings, train, test, items, fingerprint, params)

    with mlflow.start_run(run_name=f"training-{run_id()}") as run:
        mlflow.log_params(params)
        for name, values in results.items():
            mlflow.log_metrics({f"{name}.{k}".replace("@", "_at_"): v for k, v in values.items()})
        mlflow.set_tags({"split_fingerprint": fingerprint, "milvus_collection": collection})
        mlflow.log_dict(evaluation, "evaluation/evaluation.json")
        for suffix, path in (report_paths or {}).items():
            if Path(path).is_file():  # artefacts of the evaluate step: no shared disk needed
                mlflow.log_text(Path(path).read_text(), f"evaluation/evaluation.{suffix}")
        _log_run_tables(train, test, items, predictions_path, settings)
        two_tower_version, ranker_version = _log_models(
            two_tower_dir,
            ranker_dir,
            items,
            settings,
            log_model_dir,
            TwoTowerPyfunc,
            RankerPyfunc,
        )
        run_id_ = run.info.run_id

    versions = {
        settings.retrieval_model_name: two_tower_version,
        settings.ranker_model_name: ranker_version,
    }
    tags = {
        "split_fingerprint": fingerprint,
        "milvus_collection": collection,
        "ndcg_at_10": score,
        "recall_at_100": results[system]["recall@100"],
        "retrieval_recall_at_100": results["two_tower"]["recall@100"],
        "training_run_id": run_id_,
        "users_evaluated": context.get("users_evaluated", ""),
    }
    for name, version in versions.items():
        tag_version(client, name, version, tags)
    decision = apply_gate(client, versions, decide_promotion(score, champion_score))
    if decision.promoted:
        milvus = milvus_client(settings.resolved_milvus_uri, settings.milvus_token)
        swap_alias(milvus, settings.milvus_collection_alias, collection)
        drop_stale_collections(milvus, settings.milvus_collection_alias, keep=3)
    result = decision.as_dict()
    result["champion_alias"] = CHAMPION
    Path(decision_path).parent.mkdir(parents=True, exist_ok=True)
    Path(decision_path).write_text(json.dumps(result, indent=2))
    return result


def _log_run_tables(
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame,
    predictions_path: str | Path | None,
    settings: Settings,
) -> None:
    """Log, with the models, what their consumers need from this run's data: the serving
    tables (popularity, co-visitation, seen items) and the drift job's reference window."""
    import mlflow

    from components.data.columns import (
        INTERACTIONS_FILE,
        ITEMS_FILE,
        PREDICTIONS_FILE,
        REFERENCE_ARTIFACT,
    )
    from components.recommend.tables import (
        TABLES_ARTIFACT,
        build_serving_tables,
        save_serving_tables,
    )

    interactions = pd.concat([train, test], ignore_index=True)
    with _scratch(settings) as scratch:
        tables = save_serving_tables(build_serving_tables(interactions, items), scratch / "tables")
        mlflow.log_artifacts(str(tables), TABLES_ARTIFACT)

        reference = scratch / REFERENCE_ARTIFACT
        reference.mkdir()
        stamps = pd.to_datetime(interactions[TIMESTAMP], utc=True)
        recent = interactions[stamps >= stamps.max() - pd.Timedelta(days=REFERENCE_DAYS)]
        recent.to_parquet(reference / INTERACTIONS_FILE, index=False)
        items.to_parquet(reference / ITEMS_FILE, index=False)
        if predictions_path is not None and Path(predictions_path).is_file():
            shutil.copy2(predictions_path, reference / PREDICTIONS_FILE)
        mlflow.log_artifacts(str(reference), REFERENCE_ARTIFACT)


@contextlib.contextmanager
def _scratch(settings: Settings) -> Iterator[Path]:
    """A folder in the state folder for files on their way into MLflow; removed afterwards,
    whatever happens."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.state_dir, prefix="tmp-") as folder:
        yield Path(folder)


def _log_item_embeddings(retrieval: Any, items: pd.DataFrame, settings: Settings) -> None:
    """Every catalog item's vector, as indexed in Milvus, beside the model that made them."""
    import mlflow

    ids, vectors = retrieval.item_embeddings(items[ITEM_ID].tolist())
    frame = pd.DataFrame({ITEM_ID: np.asarray(ids, dtype=np.int64)})
    frame["embedding"] = list(np.asarray(vectors, dtype=np.float32))
    with _scratch(settings) as scratch:
        frame.to_parquet(scratch / ITEM_EMBEDDINGS_FILE, index=False)
        mlflow.log_artifact(str(scratch / ITEM_EMBEDDINGS_FILE), "item_embeddings")


def _log_models(
    two_tower_dir: str | Path,
    ranker_dir: str | Path,
    items: pd.DataFrame,
    settings: Settings,
    log_model_dir: Any,
    two_tower_model: Any,
    ranker_model: Any,
) -> tuple[str, str]:
    from components.features.ranking import DEFAULT_FEATURES, RANKER_FEATURES
    from components.ranker.model import load_ranker
    from components.two_tower.export import load_two_tower

    retrieval = load_two_tower(Path(two_tower_dir))
    _log_item_embeddings(retrieval, items, settings)
    first = int(items[ITEM_ID].iloc[0])
    tower_input = pd.DataFrame({"user_id": [1, 2], "history": [str(first), ""]})
    tower_output = retrieval.user_embeddings([1, 2], [[first], []])
    two_tower_version = log_model_dir(
        two_tower_model(),
        Path(two_tower_dir),
        settings.retrieval_model_name,
        tower_input,
        tower_output,
    )
    ranker_input = pd.DataFrame([DEFAULT_FEATURES])[list(RANKER_FEATURES)].astype(np.float32)
    ranker_output = load_ranker(Path(ranker_dir)).score(ranker_input)
    ranker_version = log_model_dir(
        ranker_model(), Path(ranker_dir), settings.ranker_model_name, ranker_input, ranker_output
    )
    return two_tower_version, ranker_version


def _champion_score(
    client: Any,
    settings: Settings,
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame,
    fingerprint: str,
    params: dict[str, Any],
) -> float | None:
    from components.mlflow_models import model_dir_of
    from components.registry import CHAMPION, GATE_METRIC, champion_metrics, download_model

    tags = champion_metrics(client, settings.ranker_model_name)
    if tags is None:
        return None
    if tags.get("split_fingerprint") == fingerprint and "ndcg_at_10" in tags:
        return float(tags["ndcg_at_10"])
    uri = settings.resolved_mlflow_uri
    # KFP hands a dict parameter back with its numbers as strings ("100.0"): parse, then cast.
    candidate_k = int(float(params.get("candidate_k", 200)))
    with _scratch(settings) as scratch:
        tower = model_dir_of(
            download_model(uri, settings.retrieval_model_name, CHAMPION, scratch / "two_tower")
        )
        ranker = model_dir_of(
            download_model(uri, settings.ranker_model_name, CHAMPION, scratch / "ranker")
        )
        figures, _ = evaluate_pair(tower, ranker, train, test, len(items), candidate_k, settings)
    log.info("champion re-evaluated on this split: %s", figures["two_tower_ranker"])
    return float(figures["two_tower_ranker"][GATE_METRIC])
