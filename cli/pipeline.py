"""`reco pipeline ...`: compile the training pipeline, run it locally, submit or upload it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from components.settings import Settings, get_settings
from components.training_params import TrainingParams, default, description, minimum

app = typer.Typer(help="Compile, run locally, submit or upload the training pipeline.")


def param_option(name: str) -> Any:
    """A ``--<name>`` option whose default, bound and help are the `TrainingParams` field's."""
    return typer.Option(default(name), min=minimum(name), help=description(name))


@app.command("compile")
def compile_(
    output: Path = typer.Option(Path("dist/training_pipeline.yaml"), help="YAML to write."),
) -> None:
    """Compile the pipeline to the YAML you upload in the Kubeflow Pipelines UI."""
    from pipelines.training import compile_pipeline

    path = compile_pipeline(get_settings(), output)
    typer.echo(f"wrote {path}")


@app.command("run")
def run(
    source: str = param_option("source"),
    epochs: int = param_option("epochs"),
    embedding_dim: int = param_option("embedding_dim"),
    candidate_k: int = param_option("candidate_k"),
    seed: int = param_option("seed"),
    num_shards: int | None = param_option("num_shards"),
    stream_logs: bool = typer.Option(
        False, "--stream-logs", help="Print every step's full log, not one line per step."
    ),
) -> None:
    """Run the whole pipeline with the KFP local runner (no cluster, no Docker)."""
    params = TrainingParams(
        source=source,
        epochs=epochs,
        embedding_dim=embedding_dim,
        candidate_k=candidate_k,
        seed=seed,
        num_shards=num_shards,
    )
    run_locally(params, stream_logs=stream_logs)


def run_locally(params: TrainingParams, stream_logs: bool = False) -> None:
    """Run the pipeline here, one line per step (or every log line), then print the evaluation
    table and what the gate did."""
    from cli.progress import pipeline_console
    from pipelines.training import run_local

    settings = get_settings()
    arguments = params.arguments()
    typer.echo(f"state folder: {settings.state_dir}")
    if stream_logs:
        run_local(settings, **arguments)
    else:
        log_path = settings.pipeline_root / "last_run.log"
        typer.echo(f"training pipeline (KFP local runner); full log: {log_path}")
        try:
            with pipeline_console(log_path):
                run_local(settings, **arguments)
        except Exception as error:
            typer.echo(f"pipeline failed: {error}\nfull log: {log_path}", err=True)
            raise typer.Exit(1) from error
    print_report(settings.reports_dir / "evaluation.json")
    print_registry(settings)


@app.command("submit")
def submit(
    source: str = param_option("source"),
    epochs: int = param_option("epochs"),
    embedding_dim: int = param_option("embedding_dim"),
    candidate_k: int = param_option("candidate_k"),
    seed: int = param_option("seed"),
    num_shards: int | None = param_option("num_shards"),
    experiment: str | None = typer.Option(None, help="KFP experiment name."),
) -> None:
    """Start a run on the Kubeflow Pipelines cluster at RECO_KFP_HOST."""
    from pipelines.training import submit as submit_run

    params = TrainingParams(
        source=source,
        epochs=epochs,
        embedding_dim=embedding_dim,
        candidate_k=candidate_k,
        seed=seed,
        num_shards=num_shards,
    )
    run_id = submit_run(get_settings(), experiment=experiment, **params.arguments())
    typer.echo(f"started run {run_id}")


@app.command("upload")
def upload(
    version: str = typer.Option(..., help="Pipeline version name, e.g. the image tag."),
    package: Path = typer.Option(Path("dist/training_pipeline.yaml"), help="Compiled YAML."),
) -> None:
    """Upload the compiled pipeline to RECO_KFP_HOST so it appears in the KFP UI."""
    from pipelines.training import compile_pipeline
    from pipelines.training import upload as upload_pipeline

    settings = get_settings()
    if not package.exists():
        compile_pipeline(settings, package)
    typer.echo(f"pipeline id {upload_pipeline(settings, package, version)}")


def print_registry(settings: Settings) -> None:
    """Which versions serve now, and what the gate said of this run's."""
    from components.registry import registry_client, registry_summary

    client = registry_client(settings.resolved_mlflow_uri)
    for name in (settings.retrieval_model_name, settings.ranker_model_name):
        typer.echo(registry_summary(client, name))


def print_report(path: Path) -> None:
    """Print the evaluation table a run left behind."""
    from components.evaluation.report import format_table

    if not path.exists():
        typer.echo(f"no evaluation report at {path}")
        return
    typer.echo(format_table(json.loads(path.read_text())["results"]))
