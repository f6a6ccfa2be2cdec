"""The `reco` command line: one small Typer app per noun, joined here."""

from __future__ import annotations

import logging

import typer

from cli import catalog, data, maintenance, monitor, pipeline, serve, users
from components.training_params import TrainingParams

app = typer.Typer(
    name="reco",
    help="Recommendation platform: data, training pipeline, serving and drift monitoring.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(catalog.app, name="catalog")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(monitor.app, name="monitor")
app.add_typer(users.app, name="users")
app.add_typer(maintenance.app, name="maintenance")
app.command("serve")(serve.serve)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def settings() -> None:
    """Print the effective settings (defaults overridden by RECO_* environment variables).

    Secrets (e.g. RECO_MILVUS_TOKEN) show as "***" when set: terminals and CI logs are kept."""
    import json

    from components.settings import get_settings, masked

    typer.echo(json.dumps(masked(get_settings()), indent=2))


@app.command()
def quickstart(
    source: str = pipeline.param_option("source"),
    epochs: int = pipeline.param_option("epochs"),
    port: int | None = typer.Option(None, min=1, max=65535, help="HTTP port of the app."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Stop after training."),
) -> None:
    """The main job on embedded defaults: train, evaluate, register, index, then serve.

    Runs the training pipeline with the KFP local runner, prints the evaluation table, then
    serves the new champions over HTTP and prints a curl to call them (Ctrl-C stops)."""
    pipeline.run_locally(TrainingParams(source=source, epochs=epochs))
    if not no_serve:
        serve.serve(host=None, port=port)


if __name__ == "__main__":
    app()
