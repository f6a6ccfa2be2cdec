"""`reco pipeline ...`: compile the training pipeline, run it locally, submit or upload it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from components.settings import Settings, get_settings

app = typer.Typer(help="Compile, run locally, submit or upload the training pipeline.")

SOURCE_HELP = (
    "Data source: 'synthetic', 'synthetic:drift=0.5,seed=3', a folder with interactions/items "
    "Parquet files, or a MovieLens folder (ml-latest-small CSV or ml-1m '::' format)."
)


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
    source: str = typer.Option("synthetic", help=SOURCE_HELP),
    epochs: int = typer.Option(5, min=1, help="Two-tower training epochs."),
    embedding_dim: int = typer.Option(64, min=4, help="Two-tower embedding size."),
    candidate_k: int = typer.Option(200, min=100, help="Retrieval candidates per user."),
    num_shards: int = typer.Option(2, min=1, help="Milvus shards (Milvus Lite ignores it)."),
    stream_logs: bool = typer.Option(
        False, "--stream-logs", help="Print every step's full log, not one line per step."
    ),
) -> None:
    """Run the whole pipeline with the KFP local runner (no cluster, no Docker)."""
    from cli.progress import pipeline_console
    from pipelines.training import run_local

    settings = get_settings()
    arguments = {
        "source": source,
        "epochs": epochs,
        "embedding_dim": embedding_dim,
        "candidate_k": candidate_k,
        "num_shards": num_shards,
    }
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
    source: str = typer.Option("synthetic", help=SOURCE_HELP),
    epochs: int = typer.Option(5, min=1),
    embedding_dim: int = typer.Option(64, min=4),
    candidate_k: int = typer.Option(200, min=100),
    num_shards: int = typer.Option(2, min=1),
    experiment: str | None = typer.Option(None, help="KFP experiment name."),
) -> None:
    """Start a run on the Kubeflow Pipelines cluster at RECO_KFP_HOST."""
    from pipelines.training import submit as submit_run

    run_id = submit_run(
        get_settings(),
        experiment=experiment,
        source=source,
        epochs=epochs,
        embedding_dim=embedding_dim,
        candidate_k=candidate_k,
        num_shards=num_shards,
    )
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
