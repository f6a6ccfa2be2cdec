"""`reco pipeline ...`: compile the training pipeline, run it locally, submit or upload it; tune
its knobs (the tuning pipeline); schedule retraining on a cluster (a KFP recurring run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from components.settings import Settings, get_settings
from components.training_params import TrainingParams, default, description, minimum

app = typer.Typer(
    help="Compile, run locally, submit or upload the training pipeline; tune it; schedule it."
)

SOURCE_REQUIRED_HELP = (
    description("source") + " Required: nothing trains on synthetic data unless named."
)
PARAMS_HELP = (
    "Start from tuned parameters: 'best' = the last `reco pipeline tune` result "
    "(<state>/tuning/best_params.json), or a path to such a file. Flags given explicitly win."
)


def param_option(name: str) -> Any:
    """A ``--<name>`` option whose default, bound and help are the `TrainingParams` field's."""
    return typer.Option(default(name), min=minimum(name), help=description(name))


def tunable_option(name: str) -> Any:
    """Like ``param_option``, but unset by default, so an explicit value can win over a tuned
    one (``--params``) and an unset one falls back to it, then to the declared default."""
    return typer.Option(
        None,
        min=minimum(name),
        show_default=False,
        help=f"{description(name)} [default: {default(name)}, or the tuned value with --params]",
    )


def source_option() -> Any:
    return typer.Option(..., help=SOURCE_REQUIRED_HELP)


def training_params(explicit: dict[str, Any], params: str | None) -> TrainingParams:
    """Explicit flags, then the tuned file named by ``--params``, then the declared defaults."""
    from components.training_params import require_source
    from pipelines.search import best_path, read_best, resolve_params

    try:
        explicit = {**explicit, "source": require_source(explicit.get("source"))}
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--source") from error

    if params is None:
        return resolve_params(explicit)
    path = best_path(get_settings().state_dir) if params == "best" else Path(params)
    try:
        document = read_best(path)
    except (OSError, ValueError) as error:
        raise typer.BadParameter(str(error), param_hint="--params") from error
    tuned = document["params"]
    overridden = sorted(k for k in tuned if explicit.get(k) is not None)
    typer.echo(
        f"tuned parameters from {path} (trial {document.get('trial')}, "
        f"{document.get('score_name')} {document.get('score')}): {json.dumps(tuned)}"
        + (f"; overridden by flags: {', '.join(overridden)}" if overridden else "")
    )
    if document.get("source") not in (None, explicit.get("source")):
        typer.echo(f"note: tuned on {document['source']}, training on {explicit.get('source')}")
    return resolve_params(explicit, tuned)


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
    source: str = source_option(),
    epochs: int | None = tunable_option("epochs"),
    embedding_dim: int | None = tunable_option("embedding_dim"),
    candidate_k: int | None = tunable_option("candidate_k"),
    history_decay: float | None = tunable_option("history_decay"),
    seed: int = param_option("seed"),
    num_shards: int | None = param_option("num_shards"),
    params: str | None = typer.Option(None, "--params", help=PARAMS_HELP),
    stream_logs: bool = typer.Option(
        False, "--stream-logs", help="Print every step's full log, not one line per step."
    ),
) -> None:
    """Run the whole pipeline with the KFP local runner (no cluster, no Docker)."""
    explicit = {
        "source": source,
        "epochs": epochs,
        "embedding_dim": embedding_dim,
        "candidate_k": candidate_k,
        "history_decay": history_decay,
        "seed": seed,
        "num_shards": num_shards,
    }
    run_locally(training_params(explicit, params), stream_logs=stream_logs)


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
    source: str = source_option(),
    epochs: int | None = tunable_option("epochs"),
    embedding_dim: int | None = tunable_option("embedding_dim"),
    candidate_k: int | None = tunable_option("candidate_k"),
    history_decay: float | None = tunable_option("history_decay"),
    seed: int = param_option("seed"),
    num_shards: int | None = param_option("num_shards"),
    params: str | None = typer.Option(None, "--params", help=PARAMS_HELP),
    experiment: str | None = typer.Option(None, help="KFP experiment name."),
) -> None:
    """Start a run on the Kubeflow Pipelines cluster at RECO_KFP_HOST."""
    from pipelines.training import submit as submit_run

    explicit = {
        "source": source,
        "epochs": epochs,
        "embedding_dim": embedding_dim,
        "candidate_k": candidate_k,
        "history_decay": history_decay,
        "seed": seed,
        "num_shards": num_shards,
    }
    arguments = training_params(explicit, params).arguments()
    run_id = submit_run(get_settings(), experiment=experiment, **arguments)
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


@app.command("tune")
def tune(
    source: str = source_option(),
    grid: str | None = typer.Option(
        None,
        help="Search space as 'name=v1,v2;name=v1' over "
        "the tunable parameters (default: embedding_dim=32,64;epochs=3,6;candidate_k=100,200).",
    ),
    seed: int = param_option("seed"),
    stream_logs: bool = typer.Option(
        False, "--stream-logs", help="Print every step's full log, not one line per step."
    ),
) -> None:
    """Grid search over the training knobs with the tuning pipeline (KFP local runner).

    Every trial learns on the fit window and is judged on the validation window (never the
    test split), as one nested MLflow run under a 'tuning-...' parent run. The best
    configuration goes to <state>/tuning/best_params.json and the parent run; train with it:
    `reco pipeline run --source ... --params best`.
    """
    from cli.progress import pipeline_console
    from components.training_params import require_source
    from pipelines.search import DEFAULT_GRID, parse_grid, search_space
    from pipelines.tuning import run_tuning_local

    try:
        source = require_source(source)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--source") from error
    try:
        space = parse_grid(grid) if grid else DEFAULT_GRID
        trials = search_space(space, {"source": source, "seed": seed})
    except ValueError as error:  # pydantic's ValidationError is one
        raise typer.BadParameter(str(error), param_hint="--grid") from error
    settings = get_settings()
    typer.echo(f"state folder: {settings.state_dir}")
    typer.echo(f"{len(trials)} trials over {', '.join(space)} (judged on validation)")
    log_path = settings.pipeline_root / "last_tuning.log"
    try:
        if stream_logs:
            document = run_tuning_local(settings, source, space, seed)
        else:
            typer.echo(f"tuning pipeline (KFP local runner); full log: {log_path}")
            with pipeline_console(log_path):
                document = run_tuning_local(settings, source, space, seed)
    except Exception as error:
        typer.echo(f"tuning failed: {error}\nfull log: {log_path}", err=True)
        raise typer.Exit(1) from error
    print_trials(document)


def print_trials(document: dict[str, Any]) -> None:
    """The trials with their validation score, the best marked."""
    score = document["score_name"]
    for trial in document["trials"]:
        mark = "*" if trial["trial"] == document["trial"] else " "
        typer.echo(f"{mark} trial {trial['trial']:>2}  {score} {trial['score']:.4f}  "
                   f"{json.dumps(trial['config'], sort_keys=True)}")  # fmt: skip
    typer.echo(f"best: {json.dumps(document['params'], sort_keys=True)}")
    typer.echo("train with it: reco pipeline run --source ... --params best")


@app.command("schedule")
def schedule(
    source: str = source_option(),
    cron: str = typer.Option(
        "0 3 * * 0",
        help="When to retrain: a crontab line (minute hour day-of-month month day-of-week); "
        "for KFP a leading seconds field is added.",
    ),
    cooldown_hours: float = typer.Option(
        24.0, min=0.0, help="Shared with the drift check: no retraining within this many hours."
    ),
    name: str = typer.Option("reco-scheduled-retraining", help="Recurring run name."),
    experiment: str | None = typer.Option(None, help="KFP experiment name."),
) -> None:
    """Retrain on a schedule. With RECO_KFP_HOST: a KFP recurring run of the scheduled-
    retraining pipeline (it starts the training pipeline on --source unless the drift check's
    cool-down or lock says no). Without: print the crontab line that does the same here."""
    from components.training_params import require_source

    settings = get_settings()
    try:
        source = require_source(source)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--source") from error
    if not settings.kfp_host:
        typer.echo("RECO_KFP_HOST is not set; to retrain on this machine, add to your crontab:")
        typer.echo(
            f"{cron} RECO_STATE_DIR={settings.state_dir} reco monitor retrain "
            f"--train-source {source} --cooldown-hours {cooldown_hours:g}"
        )
        return
    from monitoring.kfp_schedule import create_recurring_run

    run_id = create_recurring_run(
        settings, source=source, cron=cron, name=name, experiment=experiment,
        cooldown_hours=cooldown_hours,
    )  # fmt: skip
    typer.echo(f"recurring run {run_id} ({name}, '{cron}') on {settings.kfp_host}")


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
