"""The compiled pipeline is what a user uploads to the KFP UI: check it holds every step, takes
its parameters from `TrainingParams` and hands the steps the settings it was compiled with."""

import json
from pathlib import Path

import pytest
import yaml

from components.data.events import EventTable
from components.settings import Settings, environment_variable, is_secret
from components.training_params import MissingTrainingSource, TrainingParams
from pipelines.training import compile_pipeline, run_local, step_environment, submit

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


def _spec(settings: Settings, tmp_path: Path) -> dict:
    return yaml.safe_load(compile_pipeline(settings, tmp_path / "p.yaml").read_text())


def test_compiled_yaml_contains_every_component(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    spec = _spec(settings, tmp_path)
    assert {name.removeprefix("comp-") for name in spec["components"]} == STEPS
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == STEPS
    executors = spec["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values()}
    assert images == {settings.pipeline_image}
    # the evaluation report is an HTML and a Markdown artifact, so the KFP UI shows it
    outputs = spec["components"]["comp-evaluate-op"]["outputDefinitions"]["artifacts"]
    assert outputs["report_html"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert outputs["report_md"]["artifactType"]["schemaTitle"] == "system.Markdown"


def test_pipeline_parameters_are_the_training_params_with_their_defaults(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, milvus_num_shards=5)
    params = _spec(settings, tmp_path)["root"]["inputDefinitions"]["parameters"]
    assert set(params) == set(TrainingParams.model_fields)
    defaults = {name: p["defaultValue"] for name, p in params.items() if "defaultValue" in p}
    expected = {**TrainingParams().arguments(), "num_shards": 5}  # shards: from the settings
    del expected["source"]  # no default: every run names its data
    assert defaults == expected
    assert "isOptional" not in params["source"]


@pytest.mark.parametrize("source", [None, "", "  "])
def test_a_run_without_a_source_is_a_clear_error_before_anything_runs(
    tmp_path: Path, source: str | None
) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    arguments = {} if source is None else {"source": source}
    with pytest.raises(MissingTrainingSource, match="no training source"):
        run_local(settings, **arguments)
    with pytest.raises(MissingTrainingSource, match="'synthetic' to train on generated data"):
        submit(Settings(state_dir=tmp_path, kfp_host="http://kfp:8888"), **arguments)
    assert not (tmp_path / "state").exists()  # nothing was started


def test_steps_get_the_endpoints_from_settings(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, mlflow_tracking_uri="http://mlflow:5000")
    env = step_environment(settings)
    assert env["RECO_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["RECO_STATE_DIR"] == str(tmp_path)
    spec = compile_pipeline(settings, tmp_path / "p.yaml").read_text()
    assert "http://mlflow:5000" in spec


def test_a_pod_resolves_the_same_settings_as_the_compiler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(state_dir=tmp_path, milvus_collection_alias="other")
    for name, value in step_environment(settings).items():
        monkeypatch.setenv(name, value)
    pod = Settings()
    assert pod.model_dump() == settings.model_dump()  # resolved endpoints included


def _value_for(name: str, tmp_path: Path) -> str:
    """A valid, non-default environment value for a settings field."""
    default = Settings.model_fields[name].default
    if name.endswith("_port"):
        return "8123"
    if isinstance(default, int | float):
        return str(default + 3)
    if isinstance(default, tuple):  # JSON, in the form step_environment writes it
        return json.dumps(["page", "device"])
    if name.endswith(("_dir", "_repo")):
        return str(tmp_path / name)
    if name == "milvus_index_type":
        return "IVF_FLAT"
    if name == "milvus_metric_type":
        return "COSINE"
    if name == "event_types":  # JSON, in the form step_environment writes it
        return str(EventTable.model_validate({"view": {"weight": 0.5}}))
    return f"value-of-{name}"


def test_every_settings_field_set_in_the_environment_reaches_the_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = {environment_variable(n): _value_for(n, tmp_path) for n in Settings.model_fields}
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    env = step_environment(Settings())
    secrets = {environment_variable(n) for n in Settings.model_fields if is_secret(n)}
    assert secrets == {"RECO_MILVUS_TOKEN", "RECO_ADMIN_TOKEN", "RECO_ID_KEY"}
    assert {name: env.get(name) for name in given if name not in secrets} == {
        name: value for name, value in given.items() if name not in secrets
    }
    assert not secrets & set(env)  # a token is never written into the compiled YAML


def test_only_the_final_evaluation_and_the_gate_receive_the_test_split(tmp_path: Path) -> None:
    tasks = _spec(Settings(state_dir=tmp_path), tmp_path)["root"]["dag"]["tasks"]
    readers = {
        name
        for name, task in tasks.items()
        for argument in task.get("inputs", {}).get("artifacts", {}).values()
        if argument.get("taskOutputArtifact", {}).get("producerTask") == "split-op"
        and argument["taskOutputArtifact"]["outputArtifactKey"] == "test"
    }
    assert readers == {"evaluate-op", "register-op"}


def test_pipeline_pods_read_the_id_key_from_a_secret_never_the_file(tmp_path: Path) -> None:
    key = "ab" * 32
    settings = Settings(state_dir=tmp_path, id_key=key, id_key_secret="reco-id-key")
    text = compile_pipeline(settings, tmp_path / "p.yaml").read_text()
    assert key not in text
    pipeline, platform = yaml.safe_load_all(text)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(pipeline["deploymentSpec"]["executors"])
    for config in executors.values():
        assert config["secretAsEnv"] == [
            {
                "keyToEnv": [{"envVar": "RECO_ID_KEY", "secretKey": "id_key"}],
                "secretName": "reco-id-key",
            }
        ]


def _secret_envs(package: Path) -> dict[str, list]:
    """executor -> its secretAsEnv entries (the platform spec of a compiled pipeline)."""
    pipeline, *platform = yaml.safe_load_all(package.read_text())
    executors = platform[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(pipeline["deploymentSpec"]["executors"])
    return {name: config["secretAsEnv"] for name, config in executors.items()}


MLFLOW_SECRET_ENV = {
    "keyToEnv": [
        {"envVar": "MLFLOW_TRACKING_USERNAME", "secretKey": "username"},
        {"envVar": "MLFLOW_TRACKING_PASSWORD", "secretKey": "password"},
    ],
    "secretName": "reco-mlflow-auth",
}


def test_pipelines_that_call_mlflow_read_its_credentials_from_the_secret(tmp_path: Path) -> None:
    from monitoring.kfp_drift import compile_drift_pipeline
    from monitoring.kfp_schedule import compile_schedule_pipeline
    from pipelines.tuning import compile_tuning_pipeline

    settings = Settings(
        state_dir=tmp_path, id_key_secret="reco-id-key", mlflow_auth_secret="reco-mlflow-auth"
    )
    training = _secret_envs(compile_pipeline(settings, tmp_path / "p.yaml"))
    tuning = _secret_envs(compile_tuning_pipeline(settings, tmp_path / "t.yaml", {"epochs": [1]}))
    for entries in (*training.values(), *tuning.values()):  # both read data: the id key too
        assert entries[0]["secretName"] == "reco-id-key"
        assert entries[1:] == [MLFLOW_SECRET_ENV]
    drift = compile_drift_pipeline(settings, tmp_path / "d.yaml")
    assert all(e == [MLFLOW_SECRET_ENV] for e in _secret_envs(drift).values())
    # The schedule's step only starts a KFP run: no Secret, no platform spec.
    schedule = compile_schedule_pipeline(settings, tmp_path / "s.yaml").read_text()
    assert len(list(yaml.safe_load_all(schedule))) == 1 and "secretAsEnv" not in schedule
    # No settings name: nothing is referenced (an MLflow without auth).
    plain = compile_pipeline(Settings(state_dir=tmp_path), tmp_path / "plain.yaml").read_text()
    assert "secretAsEnv" not in plain
