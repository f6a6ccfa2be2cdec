"""`reco serve`: the Ray Serve graph on the champion models, on this machine."""

from __future__ import annotations

import typer

from components.settings import get_settings


def serve(
    host: str | None = typer.Option(None, help="Bind address (default RECO_SERVE_HOST)."),
    port: int | None = typer.Option(
        None, min=1, max=65535, help="HTTP port (default RECO_SERVE_PORT)."
    ),
) -> None:
    """Serve retrieval -> ranking -> re-ranking over HTTP until Ctrl-C (OpenAPI at /docs).

    Uses a local Ray unless RECO_RAY_ADDRESS points at a cluster; the models are the MLflow
    champions and the Milvus alias a training run left behind (`reco pipeline run`)."""
    from serving.local import PortInUseError, serve_locally

    updates = {k: v for k, v in {"serve_host": host, "serve_port": port}.items() if v}
    settings = get_settings().model_copy(update=updates)
    try:
        serve_locally(settings, blocking=True)
    except PortInUseError as error:
        typer.echo(f"cannot serve: {error}", err=True)
        raise typer.Exit(2) from error
