"""`reco monitor ...`: the Evidently drift check that may start a retraining, and the scheduled
retraining; both share one cool-down and one lock, and both need a named training source."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import typer

from monitoring import config

app = typer.Typer(help="Drift monitoring and scheduled retraining (one shared cool-down and lock).")

TRAIN_SOURCE_HELP = (
    "Data the retraining trains on: the event log and catalog folder (Parquet interactions/"
    "items), a MovieLens folder, or 'synthetic' by name. Default: RECO_TRAINING_SOURCE; one of "
    "them is required unless --dry-run."
)


def _missing_source(error: Exception) -> typer.Exit:
    typer.secho(str(error), fg=typer.colors.RED, err=True)
    typer.echo("no retraining started")
    return typer.Exit(2)


@app.command()
def check(
    current: str | None = typer.Option(
        None,
        "--current",
        help="Current window source: None = the feedback event log (RECO_DATA_DIR/events) with "
        "the scores serving logged; or a data folder, or 'synthetic:drift=0.8,start=...'.",
    ),
    reference: Path | None = typer.Option(
        None,
        help="Reference folder (interactions.parquet, items.parquet[, predictions.parquet]); "
        "default: the champion's training window logged in MLflow.",
    ),
    window_days: float = typer.Option(
        config.DEFAULT_WINDOW_DAYS,
        min=0.0,
        help="Compare the last N days of each window (0 = whole windows).",
    ),
    threshold: float = typer.Option(
        config.DEFAULT_THRESHOLD,
        min=0.0,
        max=1.0,
        help="Drift when at least this share of features drifted.",
    ),
    key_features: str = typer.Option(
        ",".join(config.DEFAULT_KEY_FEATURES),
        help="Comma-separated features whose drift alone means drift ('' = none).",
    ),
    cooldown_hours: float = typer.Option(
        config.DEFAULT_COOLDOWN.total_seconds() / 3600,
        min=0.0,
        help="No new retraining within this many hours of the last one.",
    ),
    min_events: int = typer.Option(
        config.MIN_EVENTS, min=1, help="Fewer events in a window is an error."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and record, start nothing."),
    train_source: str | None = typer.Option(None, help=TRAIN_SOURCE_HELP),
    epochs: int | None = typer.Option(None, min=1, help="Two-tower epochs for the retraining."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Run one drift check: Evidently report (HTML + JSON), decision, retraining on drift.

    Exits 0 after any decision, 2 when a window cannot be compared or no training source is
    named (nothing is started).
    """
    from components.settings import get_settings
    from components.training_params import MissingTrainingSource
    from monitoring.drift import DriftCheckError, check_key_features
    from monitoring.job import check as run_check

    try:
        keys = check_key_features(k.strip() for k in key_features.split(",") if k.strip())
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--key-features") from error

    arguments: dict[str, object] = {}
    if train_source:
        arguments["source"] = train_source
    if epochs:
        arguments["epochs"] = epochs
    settings = get_settings()
    try:
        decision = run_check(
            settings,
            current=current,
            reference=reference,
            window_days=window_days or None,
            threshold=threshold,
            key_features=keys,
            cooldown=timedelta(hours=cooldown_hours),
            dry_run=dry_run,
            retrain_arguments=arguments,
            min_events=min_events,
        )
    except MissingTrainingSource as error:
        raise _missing_source(error) from error
    except DriftCheckError as error:
        typer.secho(f"drift check failed: {error}", fg=typer.colors.RED, err=True)
        typer.echo("no retraining started")
        raise typer.Exit(2) from error
    if as_json:
        typer.echo(json.dumps(decision.as_dict(), indent=2))
        return
    typer.echo(f"decision: {decision.status}")
    for reason in decision.reasons:
        typer.echo(f"  - {reason}")
    if decision.share_drifted is not None:
        typer.echo(f"share of drifted features: {decision.share_drifted:.2f}")
    typer.echo(f"drifted features: {', '.join(decision.drifted_features) or 'none'}")
    if decision.run_id:
        typer.echo(f"retraining run: {decision.run_id} ({decision.target})")
    typer.echo(f"report: {decision.report_html}")


@app.command()
def retrain(
    train_source: str | None = typer.Option(None, help=TRAIN_SOURCE_HELP),
    cooldown_hours: float = typer.Option(
        config.DEFAULT_COOLDOWN.total_seconds() / 3600,
        min=0.0,
        help="No retraining within this many hours of the last one (drift-triggered or "
        "scheduled: the same cool-down as `monitor check`).",
    ),
    epochs: int | None = typer.Option(None, min=1, help="Two-tower epochs for the retraining."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and record, start nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Scheduled retraining: start the training pipeline on the named source now, unless the
    last retraining is inside the cool-down or another one holds the lock.

    What the chart's retrain CronJob and the KFP recurring run (`reco pipeline schedule`) run;
    locally, put it in a crontab. Exits 0 after any decision, 2 without a training source.
    """
    from components.settings import get_settings
    from components.training_params import MissingTrainingSource
    from monitoring.job import scheduled

    arguments: dict[str, object] = {}
    if train_source:
        arguments["source"] = train_source
    if epochs:
        arguments["epochs"] = epochs
    try:
        decision = scheduled(
            get_settings(),
            cooldown=timedelta(hours=cooldown_hours),
            dry_run=dry_run,
            retrain_arguments=arguments,
        )
    except MissingTrainingSource as error:
        raise _missing_source(error) from error
    if as_json:
        typer.echo(json.dumps(decision.as_dict(), indent=2))
        return
    typer.echo(f"decision: {decision.status}")
    for reason in decision.reasons:
        typer.echo(f"  - {reason}")
    if decision.run_id:
        typer.echo(f"retraining run: {decision.run_id} ({decision.target})")


@app.command()
def history(limit: int = typer.Option(10, min=1, help="How many recent decisions.")) -> None:
    """Print the most recent decisions and the retraining state."""
    from components.settings import get_settings
    from monitoring.policy import load_state, read_decisions

    folder = get_settings().monitoring_dir
    state = load_state(folder)
    typer.echo(
        f"last retraining: {state.last_retrain_at or 'never'} ({state.last_run_id or '-'}); "
        f"{state.retrain_count} retrainings in {state.check_count} checks"
    )
    for decision in read_decisions(Path(folder))[-limit:]:
        trigger = decision.get("trigger", "drift")
        typer.echo(
            f"{decision['at']}  {trigger:8}  {decision['status']:16}  "
            f"{'; '.join(decision['reasons'])}"
        )
