"""`reco maintenance ...`: keep the stores the platform writes within their limits."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Retention and compaction of the feedback event log and prediction log.")


@app.command()
def compact(
    retention_days: float | None = typer.Option(
        None, min=0.0, help="Keep this many days of events (default: RECO_EVENT_RETENTION_DAYS)."
    ),
    prediction_retention_days: float | None = typer.Option(
        None,
        min=0.0,
        help="Keep this many days of the prediction log (default: RECO_PREDICTION_RETENTION_DAYS).",
    ),
) -> None:
    """Drop events older than the retention window and merge the event log's small files; drop
    prediction-log rows older than theirs. Prints one JSON line: the event log's figures, and
    the prediction log's under ``predictions``."""
    from dataclasses import asdict

    import pandas as pd

    from components.data.io import compact_events
    from components.recommend.prediction_log import expire_predictions
    from components.settings import get_settings

    settings = get_settings()
    days = settings.event_retention_days if retention_days is None else retention_days
    result = compact_events(settings.event_log_dir, pd.Timedelta(days=days))
    kept = (
        settings.prediction_retention_days
        if prediction_retention_days is None
        else prediction_retention_days
    )
    expired = expire_predictions(settings.prediction_log_dir, pd.Timedelta(days=kept))
    typer.echo(json.dumps({**asdict(result), "predictions": asdict(expired)}))
