"""The training pipeline: only wiring. Compile it for the KFP UI, run it locally, or submit it.

ingest → split → features (Feast) → two-tower (TorchRec) → ranker (XGBoost) → evaluate
       → index (new Milvus collection) → register + gate (MLflow aliases, Milvus alias swap)
"""

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kfp import dsl

from components import kfp_ops
from components.settings import Settings, environment_variable, is_secret
from components.training_params import default, require_source

PIPELINE_NAME = "reco-training"


def step_environment(settings: Settings) -> dict[str, str]:
    """The settings every step runs with, as RECO_* variables set on each task: so the same YAML
    runs against whatever the compiling settings point at (embedded paths locally, services
    in-cluster). Every settings field that has a value goes (paths made absolute), except
    secrets: they would be written into the compiled YAML."""
    env = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None or is_secret(name):
            continue
        if isinstance(value, Path):
            value = value.expanduser().resolve()
        if isinstance(value, tuple | list):  # pydantic-settings reads sequences as JSON
            value = json.dumps(list(value))
        env[environment_variable(name)] = str(value)
    return env


def task_setup(settings: Settings) -> Any:
    """What every step of our pipelines gets: the settings as env (``step_environment``) and
    no caching (each run reads fresh data)."""
    env = step_environment(settings)

    def with_env(task: Any) -> Any:
        for name, value in env.items():
            task.set_env_variable(name, value)
        return task.set_caching_options(False)

    return with_env


def build_pipeline(settings: Settings) -> Any:
    with_env = task_setup(settings)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Train a TorchRec two-tower retriever and an XGBoost ranker, evaluate them "
        "against baselines, index item embeddings in Milvus and register the models in MLflow.",
    )
    # Defaults from `TrainingParams`; the shard count's from the settings (the chart's value).
    # The source has no default: a run (a KFP UI run, a recurring run, a retraining) must name
    # its data, so nothing trains on synthetic data unless asked for it by name.
    def training(
        source: str,
        epochs: int = default("epochs"),
        embedding_dim: int = default("embedding_dim"),
        candidate_k: int = default("candidate_k"),
        history_decay: float = default("history_decay"),
        seed: int = default("seed"),
        num_shards: int = settings.milvus_num_shards,
    ) -> None:
        ingest = with_env(kfp_ops.ingest_op(source=source)).set_display_name("ingest + validate")
        split = with_env(kfp_ops.split_op(interactions=ingest.outputs["interactions"]))
        features = with_env(
            kfp_ops.features_op(
                interactions=ingest.outputs["interactions"], items=ingest.outputs["items"]
            )
        ).set_display_name("features (Feast)")
        # The two-tower's epoch count is chosen on validation (learn on fit, judge on label),
        # then it learns on the whole training window, like the baselines it is compared with;
        # the ranker learns on candidates for the label window from a tower trained the same
        # way on the fit window only (the served tower saw the label window: its scores there
        # know the answers), and is judged against retrieval order on label users it did not
        # learn from. Only evaluate and register read the test split (docs/evaluation.md,
        # docs/quality.md).
        two_tower = with_env(
            kfp_ops.train_two_tower_op(
                train=split.outputs["train"],
                fit=split.outputs["fit"],
                label=split.outputs["label"],
                items=ingest.outputs["items"],
                epochs=epochs,
                embedding_dim=embedding_dim,
                seed=seed,
                history_decay=history_decay,
            )
        ).set_display_name("train two-tower (TorchRec)")
        ranker = with_env(
            kfp_ops.train_ranker_op(
                two_tower=two_tower.outputs["model"],
                fit=split.outputs["fit"],
                label=split.outputs["label"],
                items=ingest.outputs["items"],
                feature_tables=features.outputs["feature_tables"],
                candidate_k=candidate_k,
                seed=seed,
            )
        ).set_display_name("train ranker (XGBoost)")
        evaluation = with_env(
            kfp_ops.evaluate_op(
                two_tower=two_tower.outputs["model"],
                ranker=ranker.outputs["ranker"],
                train=split.outputs["train"],
                test=split.outputs["test"],
                items=ingest.outputs["items"],
                feature_tables=features.outputs["feature_tables"],
                candidate_k=candidate_k,
                seed=seed,
            )
        ).set_display_name("evaluate vs. baselines")
        index = with_env(
            kfp_ops.index_op(
                two_tower=two_tower.outputs["model"],
                items=ingest.outputs["items"],
                num_shards=num_shards,
            )
        ).set_display_name("index items (Milvus)")
        with_env(
            kfp_ops.register_op(
                two_tower=two_tower.outputs["model"],
                ranker=ranker.outputs["ranker"],
                evaluation=evaluation.outputs["evaluation"],
                train=split.outputs["train"],
                test=split.outputs["test"],
                items=ingest.outputs["items"],
                predictions=evaluation.outputs["predictions"],
                report_html=evaluation.outputs["report_html"],
                report_md=evaluation.outputs["report_md"],
                collection=index.outputs["collection"],
                params={
                    "source": source,
                    "epochs": epochs,
                    "embedding_dim": embedding_dim,
                    "candidate_k": candidate_k,
                    "history_decay": history_decay,
                    "seed": seed,
                    "num_shards": num_shards,
                },
            )
        ).set_display_name("register + champion gate (MLflow)")

    return training


def compile_pipeline(settings: Settings, output: Path) -> Path:
    """Write the YAML a user uploads in the KFP UI (or `upload_pipeline` sends)."""
    return compile_package(
        build_pipeline(settings),
        output,
        [*id_key_secret_env(settings), *mlflow_secret_env(settings)],
    )


ID_KEY_SECRET_KEY = "id_key"  # the key of the id-key Secret (the chart's privacy.idKey.key)
# The keys of the MLflow credentials Secret (the chart's mlflow.auth) -> the env MLflow reads.
MLFLOW_AUTH_SECRET_KEYS = {
    "username": "MLFLOW_TRACKING_USERNAME",
    "password": "MLFLOW_TRACKING_PASSWORD",
}

SecretEnv = tuple[str, dict[str, str]]  # (Secret name, {key: env var})


def id_key_secret_env(settings: Settings) -> list[SecretEnv]:
    """The user-id key from the Secret the settings name (steps that pseudonymize ids)."""
    secret = settings.id_key_secret
    return [(secret, {ID_KEY_SECRET_KEY: "RECO_ID_KEY"})] if secret else []


def mlflow_secret_env(settings: Settings) -> list[SecretEnv]:
    """The MLflow credentials from the Secret the settings name (steps that call MLflow)."""
    secret = settings.mlflow_auth_secret
    return [(secret, dict(MLFLOW_AUTH_SECRET_KEYS))] if secret else []


def compile_package(pipeline: Any, output: Path, secrets: Sequence[SecretEnv] = ()) -> Path:
    """Compile a pipeline function to the YAML KFP takes, every step given the env of
    ``secrets`` by reference (``with_secret_env``): the one compile path of our pipelines."""
    # Imported here: a component body imports its pipeline module inside the KFP executor,
    # where importing kfp.compiler fails on a circular import (kfp 2.17).
    from kfp import compiler

    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(output))
    for secret, key_to_env in secrets:
        with_secret_env(output, secret, key_to_env)
    return output


def with_secret_env(package: Path, secret: str, key_to_env: dict[str, str]) -> None:
    """Give every step of a compiled pipeline env vars from a Kubernetes Secret: the platform
    spec ``kfp-kubernetes``' ``use_secret_as_env`` writes (a second YAML document), so no secret
    value is ever in the file. The KFP local runner ignores it (it runs with this process's
    settings)."""
    import yaml

    pipeline, *platform = list(yaml.safe_load_all(package.read_text()))
    spec = platform[0] if platform else {}
    executors = (
        spec.setdefault("platforms", {})
        .setdefault("kubernetes", {})
        .setdefault("deploymentSpec", {})
        .setdefault("executors", {})
    )
    env = [{"envVar": e, "secretKey": k} for k, e in key_to_env.items()]
    for name in pipeline["deploymentSpec"]["executors"]:
        executors.setdefault(name, {}).setdefault("secretAsEnv", []).append(
            {"keyToEnv": env, "secretName": secret}
        )
    package.write_text(yaml.safe_dump_all([pipeline, spec], sort_keys=False))


def init_local_runner(settings: Settings) -> None:
    """The KFP local runner: every step a subprocess of this interpreter, artefacts under the
    state folder."""
    from kfp import local

    settings.ensure_dirs()
    settings.pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(settings.pipeline_root),
        raise_on_error=True,
    )


def run_local(settings: Settings, **arguments: Any) -> Any:
    """Run the pipeline with the KFP local runner; ``source`` is required."""
    arguments["source"] = require_source(arguments.get("source"))
    init_local_runner(settings)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        return build_pipeline(settings)(**arguments)


def submit(settings: Settings, experiment: str | None = None, **arguments: Any) -> str:
    """Start a run on a Kubeflow Pipelines cluster; returns the run id."""
    import kfp

    arguments["source"] = require_source(arguments.get("source"))
    if not settings.kfp_host:
        raise ValueError("RECO_KFP_HOST is not set: use run_local, or point it at the KFP API")
    client = kfp.Client(host=settings.kfp_host, namespace=settings.kfp_namespace)
    run = client.create_run_from_pipeline_func(
        build_pipeline(settings),
        arguments=arguments,
        experiment_name=experiment or settings.mlflow_experiment,
        enable_caching=False,
    )
    return str(run.run_id)


def upload(settings: Settings, package: Path, version: str) -> str:
    """Upload a compiled pipeline (a new version if it exists) so it appears in the KFP UI."""
    import kfp

    if not settings.kfp_host:
        raise ValueError("RECO_KFP_HOST is not set: nothing to upload to")
    client = kfp.Client(host=settings.kfp_host, namespace=settings.kfp_namespace)
    pipeline_id = client.get_pipeline_id(settings.kfp_pipeline_name)
    if pipeline_id is None:
        result = client.upload_pipeline(str(package), pipeline_name=settings.kfp_pipeline_name)
        return str(result.pipeline_id)
    client.upload_pipeline_version(
        str(package), pipeline_version_name=version, pipeline_id=pipeline_id
    )
    return str(pipeline_id)
