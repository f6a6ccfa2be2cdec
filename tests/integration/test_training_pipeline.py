"""The whole training pipeline through the KFP local runner (subprocesses, no Docker)."""

from __future__ import annotations

import json

import pytest

from components.registry import CHAMPION, alias_version, registry_client
from components.retrieval.client import milvus_client, release_milvus
from components.retrieval.info import alias_target, collection_count, collection_info
from components.settings import Settings

pytestmark = pytest.mark.integration


def test_pipeline_registers_champions_indexes_items_and_reports(trained_state: Settings) -> None:
    settings = trained_state
    client = registry_client(settings.resolved_mlflow_uri)
    tower = alias_version(client, settings.retrieval_model_name, CHAMPION)
    ranker = alias_version(client, settings.ranker_model_name, CHAMPION)
    assert tower is not None and ranker is not None
    assert tower.tags["milvus_collection"] == ranker.tags["milvus_collection"]
    assert float(ranker.tags["ndcg_at_10"]) > 0
    # the ranker's verdict on validation travels with the version: both figures and the flag
    enabled = ranker.tags["ranker_enabled"]
    retrieval_ndcg = float(ranker.tags["validation_ndcg_retrieval"])
    ranker_ndcg = float(ranker.tags["validation_ndcg_ranker"])
    assert enabled in ("true", "false")
    if enabled == "true":  # the gate also asks for the gain to exceed its noise
        assert ranker_ndcg > retrieval_ndcg

    milvus = milvus_client(settings.resolved_milvus_uri)
    try:
        assert (
            alias_target(milvus, settings.milvus_collection_alias)
            == tower.tags["milvus_collection"]
        )
        import pandas as pd

        from components.data.io import load_source
        from tests.integration.conftest import TINY_ARGS, TINY_SOURCE

        _, items = load_source(TINY_SOURCE)
        available = int(pd.Series(items["available"]).sum())
        assert collection_count(milvus, settings.milvus_collection_alias) == available
        # the run's shard parameter is what the collection was created with
        info = collection_info(milvus, settings.milvus_collection_alias)
        assert info["num_shards.requested"] == TINY_ARGS["num_shards"]
    finally:
        release_milvus(milvus, settings.resolved_milvus_uri)

    report = json.loads((settings.reports_dir / "evaluation.json").read_text())
    systems = set(report["results"])
    assert {"popularity", "item_knn", "als", "two_tower", "two_tower_ranker"} <= systems
    # what users see (rules + MMR) is scored too, and every list has diversity and novelty
    assert "two_tower_ranker_reranked" in systems
    for system in ("popularity", "two_tower_ranker", "two_tower_ranker_reranked"):
        assert 0 <= report["results"][system]["diversity@10"] <= 1
        assert report["results"][system]["novelty@10"] > 0
    logged_metrics = client.get_run(ranker.run_id).data.metrics
    assert "two_tower_ranker_reranked.novelty_at_10" in logged_metrics
    page = (settings.reports_dir / "evaluation.html").read_text()
    assert page.count("two_tower_ranker") >= 1
    assert "data:image/png;base64," in page and "validation_ndcg_ranker" in page
    assert (settings.resolved_feast_repo / "feature_store.yaml").exists()

    # The run behind the champion carries what its consumers read: the report (HTML for people),
    # the serving tables and the drift reference.
    logged = {a.path for a in client.list_artifacts(ranker.run_id, "evaluation")}
    assert {"evaluation/evaluation.json", "evaluation/evaluation.html"} <= logged
    assert {a.path for a in client.list_artifacts(ranker.run_id)} >= {
        "serving_tables",
        "reference",
        "item_embeddings",
    }
    import mlflow

    embeddings = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=ranker.run_id,
            artifact_path="item_embeddings/item_embeddings.parquet",
            tracking_uri=settings.resolved_mlflow_uri,
        )
    )
    dim = TINY_ARGS["embedding_dim"]
    assert len(embeddings) == len(items) and len(embeddings["embedding"].iloc[0]) == dim


def test_a_champion_from_another_split_is_re_evaluated_before_the_gate(
    trained_state: Settings,
) -> None:
    """Figures only compare on one split: a run on other data re-scores the champion on it."""
    from pipelines.training import run_local
    from tests.integration.conftest import TINY_ARGS

    settings = trained_state
    client = registry_client(settings.resolved_mlflow_uri)
    before = alias_version(client, settings.ranker_model_name, CHAMPION)
    run_local(settings, source="synthetic:n_users=300,n_items=200,seed=2", **TINY_ARGS)

    newest = max(
        client.search_model_versions(f"name='{settings.ranker_model_name}'"),
        key=lambda v: int(v.version),
    )
    assert newest.tags["split_fingerprint"] != before.tags["split_fingerprint"]
    reason = newest.tags["gate_reason"]
    assert "champion" in reason and "no champion yet" not in reason, reason
