"""`reco catalog ...`: catalog updates served without a retrain."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Add items or change known ones (availability) without a retrain.")


@app.command()
def add(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="CSV, Parquet or JSON lines: item_id (an integer or a string id such as an SKU), "
        "title, categories (pipe-joined), available; an empty cell keeps the known value.",
    ),
) -> None:
    """Append a catalog update: serving embeds new items with the item tower's content path
    (their categories) into the served index and merges the update within seconds; an item
    with available=false leaves the answers. Nothing is written when a row is invalid."""
    from components.recommend.catalog import (
        append_catalog_updates,
        name_conflicts,
        names_of,
        read_catalog_file,
        read_catalog_updates,
    )
    from components.settings import get_settings

    try:
        frame, errors = read_catalog_file(file)
    except ValueError as error:
        typer.secho(f"invalid: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error
    if errors or not len(frame):
        for message in errors or ["no items"]:
            typer.secho(f"invalid: {file}: {message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    folder = get_settings().catalog_updates_dir
    # A string id colliding with one a stored update names is refused here; one colliding with
    # the served catalog only, at the replicas' merge (logged there, nothing lost).
    errors = name_conflicts(names_of(read_catalog_updates(folder)[1]), frame)
    if errors:
        for message in errors:
            typer.secho(f"refused: {file}: {message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    written = append_catalog_updates(folder, frame)
    typer.echo(f"catalog update of {len(frame)} items written to {written}")
