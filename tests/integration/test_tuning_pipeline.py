"""The tuning pipeline through the KFP local runner on a tiny synthetic shop: two trials fan
out (ParallelFor), fan in (dsl.Collected), each is a nested MLflow run judged on validation,
and the best configuration is written where `reco pipeline run --params best` reads it."""

from __future__ import annotations

import json
import math

import pytest

from components.registry import BEST_PARAMS_ARTIFACT, registry_client, trial_runs
from components.settings import Settings
from pipelines.search import SCORE, best_path, read_best, resolve_params
from pipelines.tuning import run_tuning_local

pytestmark = pytest.mark.integration

SOURCE = "synthetic:n_users=200,n_items=120,seed=3"
# history_decay 0.8: a trial's tower pools a decayed history (one value: no extra trials)
GRID = {"embedding_dim": (8, 16), "epochs": (1,), "candidate_k": (100,), "history_decay": (0.8,)}


def test_two_trials_run_and_the_best_is_recorded(tmp_path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    document = run_tuning_local(settings, SOURCE, GRID, seed=0)

    assert [t["trial"] for t in document["trials"]] == [0, 1]
    assert [t["config"]["embedding_dim"] for t in document["trials"]] == [8, 16]
    scores = {t["trial"]: t["score"] for t in document["trials"]}
    judged = {k: v for k, v in scores.items() if not math.isnan(v)}
    assert judged, scores
    assert document["trial"] == max(judged, key=lambda k: (judged[k], -k))
    assert document["params"] == document["trials"][document["trial"]]["config"]
    assert document["source"] == SOURCE and document["score_name"] == SCORE

    # the state folder's file is what the next run starts from (explicit flags still win)
    written = read_best(best_path(settings.state_dir))
    assert written["params"] == document["params"]
    tuned = resolve_params({"source": SOURCE}, written["params"])
    assert tuned.embedding_dim == document["params"]["embedding_dim"]
    assert tuned.history_decay == 0.8

    # MLflow: one parent run with the pick, one nested run per trial with its validation score
    client = registry_client(settings.resolved_mlflow_uri)
    parent = client.get_run(document["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["best.embedding_dim"] == str(document["params"]["embedding_dim"])
    runs = trial_runs(settings.resolved_mlflow_uri, document["parent_run_id"])
    assert sorted(r.info.run_name for r in runs) == ["trial-0", "trial-1"]
    best_run = next(r for r in runs if r.info.run_id == document["trial_run_id"])
    assert best_run.data.metrics[SCORE.replace("@", "_at_")] == pytest.approx(document["score"])
    assert "epochs_chosen" in best_run.data.metrics
    artifact = client.download_artifacts(parent.info.run_id, BEST_PARAMS_ARTIFACT, str(tmp_path))
    with open(artifact) as handle:
        assert json.load(handle)["params"] == document["params"]
