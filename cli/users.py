"""`reco users ...`: the right to erasure from the command line (same function as the route)."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Users' data: erasure (right to be forgotten).")


@app.command()
def erase(
    user_id: str = typer.Argument(..., help="The user id as clients send it (42 and '42' match)."),
) -> None:
    """Remove the user's events, online and offline features and prediction-log rows, and keep
    them out of every later training run. Prints the rows removed per store (never the id)."""
    from pydantic import TypeAdapter, ValidationError

    from components.features.store import feature_store
    from components.privacy.erasure import erase_user
    from components.privacy.ids import RawUserId
    from components.settings import get_settings

    try:
        TypeAdapter(RawUserId).validate_python(user_id)
    except ValidationError as error:
        typer.secho(f"invalid user id: {error.errors()[0]['msg']}", fg="red", err=True)
        raise typer.Exit(2) from error
    settings = get_settings()
    users = settings.user_ids()
    online = settings.feast_online_store
    removed = erase_user(
        users(user_id),
        users,
        settings.erased_users_file,
        settings.event_log_dir,
        settings.prediction_log_dir,
        store=feature_store(settings.resolved_feast_repo, online, settings.feast_project),
        redis_uri=online if (online or "").startswith("redis") else None,
    )
    typer.echo(json.dumps(removed, sort_keys=True))
