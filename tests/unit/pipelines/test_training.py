"""The compiled pipeline is what a user uploads to the KFP UI: check it holds every step."""

from pathlib import Path

import yaml

from components.settings import Settings
from pipelines.training import compile_pipeline, step_environment

STEPS = {
    "ingest-op",
    "split-op",
    "features-op",
    "train-two-tower-op",
    "train-ranker-op",
    "evaluate-op",
    "index-op",
    "register-op",
}


def test_compiled_yaml_contains_every_component(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    spec = yaml.safe_load(compile_pipeline(settings, tmp_path / "p.yaml").read_text())
    assert {name.removeprefix("comp-") for name in spec["components"]} == STEPS
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == STEPS
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {"source", "epochs", "embedding_dim", "candidate_k", "num_shards"} <= set(params)
    executors = spec["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values()}
    assert images == {settings.pipeline_image}
    # the evaluation report is an HTML and a Markdown artifact, so the KFP UI shows it
    outputs = spec["components"]["comp-evaluate-op"]["outputDefinitions"]["artifacts"]
    assert outputs["report_html"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert outputs["report_md"]["artifactType"]["schemaTitle"] == "system.Markdown"


def test_steps_get_the_endpoints_from_settings(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, mlflow_tracking_uri="http://mlflow:5000")
    env = step_environment(settings)
    assert env["RECO_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["RECO_MILVUS_URI"] == str(tmp_path / "milvus.db")
    spec = compile_pipeline(settings, tmp_path / "p.yaml").read_text()
    assert "http://mlflow:5000" in spec
