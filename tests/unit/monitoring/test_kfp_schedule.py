"""The KFP recurring run of the scheduled retraining. No KFP API server can run here: the client
is a fake that records what would be sent (the only mock, standing in for the cluster's API)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from components.settings import Settings
from components.training_params import MissingTrainingSource
from monitoring.kfp_schedule import PIPELINE_NAME, create_recurring_run, kfp_cron


class FakeKfpClient:
    """Records create_experiment / create_recurring_run and keeps the compiled package."""

    def __init__(self) -> None:
        self.experiments: list[dict[str, Any]] = []
        self.recurring: list[dict[str, Any]] = []

    def create_experiment(self, name: str, namespace: str | None = None) -> Any:
        self.experiments.append({"name": name, "namespace": namespace})
        return SimpleNamespace(experiment_id="exp-1")

    def create_recurring_run(self, **kwargs: Any) -> Any:
        kwargs["package"] = yaml.safe_load(Path(kwargs["pipeline_package_path"]).read_text())
        self.recurring.append(kwargs)
        return SimpleNamespace(recurring_run_id=f"rr-{len(self.recurring)}")


@pytest.fixture
def cluster(tmp_path) -> Settings:
    return Settings(
        state_dir=tmp_path, kfp_host="http://ml-pipeline.kubeflow:8888", kfp_namespace="team"
    )


def test_the_recurring_run_names_the_real_source_and_runs_once_at_a_time(cluster) -> None:
    client = FakeKfpClient()
    run_id = create_recurring_run(
        cluster, source="/var/lib/reco/data/shop", cron="0 3 * * 0", name="weekly",
        cooldown_hours=12, client=client,
    )  # fmt: skip
    assert run_id == "rr-1"
    assert client.experiments == [{"name": cluster.mlflow_experiment, "namespace": "team"}]
    (sent,) = client.recurring
    assert sent["params"] == {"train_source": "/var/lib/reco/data/shop", "cooldown_hours": 12.0}
    assert sent["cron_expression"] == "0 0 3 * * 0"  # KFP's cron: seconds first
    assert sent["max_concurrency"] == 1 and sent["no_catchup"] is True
    assert sent["experiment_id"] == "exp-1" and sent["job_name"] == "weekly"
    package = sent["package"]
    assert package["pipelineInfo"]["name"] == PIPELINE_NAME
    parameters = package["root"]["inputDefinitions"]["parameters"]
    assert "defaultValue" not in parameters["train_source"]  # required in the pipeline too
    (executor,) = package["deploymentSpec"]["executors"].values()
    env = {e["name"]: e["value"] for e in executor["container"]["env"]}
    assert env["RECO_KFP_HOST"] == cluster.kfp_host  # it starts training on the same cluster
    assert env["RECO_STATE_DIR"] == str(cluster.state_dir)  # the drift check's state: one lock


@pytest.mark.parametrize("source", ["", "   "])
def test_no_recurring_run_without_a_source(cluster, source: str) -> None:
    client = FakeKfpClient()
    with pytest.raises(MissingTrainingSource):
        create_recurring_run(cluster, source=source, cron="0 3 * * 0", name="x", client=client)
    assert client.recurring == [] and client.experiments == []


def test_cron_expressions() -> None:
    assert kfp_cron("17 * * * *") == "0 17 * * * *"
    assert kfp_cron("0 0 3 * * 0") == "0 0 3 * * 0"
    with pytest.raises(ValueError, match="5 fields"):
        kfp_cron("weekly")


def test_without_a_cluster_there_is_nothing_to_schedule_on(tmp_path) -> None:
    with pytest.raises(ValueError, match="RECO_KFP_HOST"):
        create_recurring_run(Settings(state_dir=tmp_path), source="/d", cron="0 3 * * 0", name="x")
