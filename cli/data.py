"""`reco data ...`: generate, load and validate interaction data."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Generate, load and validate interaction data.")


@app.command()
def generate(
    output: Path = typer.Argument(..., help="Folder to write interactions/items Parquet files."),
    n_users: int = typer.Option(2000, min=1),
    n_items: int = typer.Option(1000, min=1),
    seed: int = typer.Option(0),
    drift: float = typer.Option(0.0, min=0.0, max=1.0, help="Shift the distribution (0 = none)."),
) -> None:
    """Write a deterministic synthetic data set (the default data of `make run`)."""
    from components.data.io import write_dataset
    from components.data.synthetic import generate_synthetic

    interactions, items = generate_synthetic(
        n_users=n_users, n_items=n_items, seed=seed, drift=drift
    )
    write_dataset(output, interactions, items)
    typer.echo(f"wrote {len(interactions)} interactions and {len(items)} items to {output}")


@app.command()
def validate(source: str = typer.Argument(..., help="A data folder or 'synthetic'.")) -> None:
    """Load and validate a source; exits non-zero with the file, row and reason on bad data."""
    from components.data.io import load_source
    from components.data.validation import DataValidationError

    try:
        interactions, items = load_source(source)
    except DataValidationError as error:
        typer.secho(f"invalid: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error
    typer.echo(
        f"ok: {len(interactions)} interactions, {interactions['user_id'].nunique()} users, "
        f"{len(items)} items"
    )
