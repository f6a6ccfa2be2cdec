"""Drift check end to end: a drifted window runs the REAL local training pipeline (KFP local
runner) and a new model version gets registered in MLflow; the cool-down then holds.

Uses the session fixture ``trained_state`` (tests/integration/conftest.py): a state folder with
one finished tiny pipeline run on ``synthetic:n_users=300,n_items=200,seed=1``.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from components.data.synthetic import generate_synthetic
from components.settings import Settings
from monitoring.drift import Window
from monitoring.job import check
from monitoring.policy import COOLDOWN, STARTED, load_state, read_decisions
from monitoring.reference import ReferenceNotFoundError, load_reference, write_reference_dir

pytestmark = pytest.mark.integration

# The tiny shop the fixture trained on (conftest: TINY_SOURCE, TINY_ARGS), 90 days from 2026-01-01.
SHOP = {"n_users": 300, "n_items": 200, "seed": 1}
RETRAIN = {
    "source": "synthetic:n_users=300,n_items=200,seed=1",
    "epochs": 1,
    "embedding_dim": 16,
    "candidate_k": 100,
    "num_shards": 2,
}
WINDOW_DAYS = 30.0


def _versions(settings: Settings) -> list[int]:
    client = MlflowClient(settings.resolved_mlflow_uri, settings.resolved_mlflow_uri)
    found = client.search_model_versions(f"name='{settings.ranker_model_name}'")
    return sorted(int(v.version) for v in found)


def test_drifted_window_retrains_once_and_registers_a_new_version(
    trained_state: Settings, tmp_path
) -> None:
    settings = trained_state
    before = _versions(settings)
    assert before, "the fixture should have registered a first version"
    # Reference: the training data of the fixture's run (same generator arguments).
    interactions, items = generate_synthetic(**SHOP)
    reference = write_reference_dir(tmp_path / "reference", interactions, items)
    # Current: the next 30 days of the same shop at the same traffic rate, with the knob on.
    current, current_items = generate_synthetic(
        **SHOP, start="2026-04-01", days=30, interactions_per_user=40 * 30 / 90, drift=0.8
    )
    window = Window(current, current_items, source="synthetic drift=0.8")

    decision = check(
        settings, window, reference, window_days=WINDOW_DAYS, retrain_arguments=RETRAIN
    )

    assert decision.status == STARTED and decision.started, decision.reasons
    assert decision.target == "local" and decision.run_id
    after = _versions(settings)
    assert len(after) == len(before) + 1 and after[-1] > before[-1]
    client = MlflowClient(settings.resolved_mlflow_uri, settings.resolved_mlflow_uri)
    newest = client.get_model_version(settings.ranker_model_name, str(after[-1]))
    assert newest.tags.get("training_run_id")

    # Inside the cool-down a second drifted check starts nothing (and registers nothing).
    again = check(settings, window, reference, window_days=WINDOW_DAYS, retrain_arguments=RETRAIN)
    assert again.status == COOLDOWN and not again.started
    assert _versions(settings) == after
    assert [d["status"] for d in read_decisions(settings.monitoring_dir)][-2:] == [
        STARTED,
        COOLDOWN,
    ]
    assert load_state(settings.monitoring_dir).retrain_count == 1


def test_champion_reference_window_is_logged_with_the_model(trained_state: Settings) -> None:
    """The contract with the training pipeline: the champion's run holds reference/ artefacts,
    including the ranker's training-time scores in the columns serving logs."""
    reference = load_reference(trained_state)
    assert len(reference.interactions) > 0 and len(reference.items) > 0
    assert "champion" in reference.source
    assert reference.predictions is not None
    assert {"user_id", "item_id", "score", "rank"} <= set(reference.predictions.columns)
    assert reference.predictions["rank"].between(1, 10).all()


def test_load_reference_reads_the_champions_training_run(tmp_path) -> None:
    """The loader against a real MLflow (SQLite): alias -> version tag -> run artefacts."""
    import mlflow

    settings = Settings(state_dir=tmp_path / "state")
    uri = settings.resolved_mlflow_uri
    interactions, items = generate_synthetic(n_users=50, n_items=40, seed=3)
    folder = write_reference_dir(tmp_path / "reference", interactions, items)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, uri)
    with pytest.raises(ReferenceNotFoundError, match="train a model first"):
        load_reference(settings)
    experiment = client.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifacts(str(folder), "reference")
    client.create_registered_model(settings.ranker_model_name)
    version = client.create_model_version(
        settings.ranker_model_name, f"{run.info.artifact_uri}/reference", run.info.run_id
    )
    client.set_model_version_tag(
        settings.ranker_model_name, version.version, "training_run_id", run.info.run_id
    )
    client.set_registered_model_alias(settings.ranker_model_name, "champion", version.version)

    reference = load_reference(settings)
    assert len(reference.interactions) == len(interactions) and reference.predictions is None
    assert run.info.run_id in reference.source
    cached = settings.monitoring_dir / "reference" / run.info.run_id
    assert cached.is_dir()
    assert len(load_reference(settings).items) == len(items)  # second time from the cache
