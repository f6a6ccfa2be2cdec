from __future__ import annotations

import yaml

from components.settings import Settings
from monitoring.kfp_drift import PIPELINE_NAME, compile_drift_pipeline


def test_drift_pipeline_compiles_with_an_html_report_output(tmp_path) -> None:
    settings = Settings(state_dir=tmp_path, kfp_host="http://ml-pipeline.kubeflow:8888")
    spec = yaml.safe_load(compile_drift_pipeline(settings, tmp_path / "drift.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == PIPELINE_NAME
    (component,) = spec["components"].values()
    artifacts = component["outputDefinitions"]["artifacts"]
    assert artifacts["report"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert artifacts["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    (executor,) = spec["deploymentSpec"]["executors"].values()
    env = {e["name"]: e["value"] for e in executor["container"]["env"]}
    # The check starts the training pipeline on the same cluster, with the same endpoints.
    assert env["RECO_KFP_HOST"] == "http://ml-pipeline.kubeflow:8888"
    assert env["RECO_STATE_DIR"] == str(tmp_path)
    assert executor["container"]["image"] == settings.pipeline_image
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert {"current_source", "threshold", "cooldown_hours", "dry_run"} <= set(inputs)
