"""The `reco` command line: one small Typer app per noun, joined here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="reco",
    help="Recommendation platform: data, training pipeline, serving and drift monitoring.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def settings() -> None:
    """Print the effective settings (defaults overridden by RECO_* environment variables)."""
    from components.settings import get_settings

    typer.echo(get_settings().model_dump_json(indent=2))


if __name__ == "__main__":
    app()
