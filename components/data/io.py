"""Reading and writing data sets, and the append-only event log that serving feeds.

A data folder holds `interactions.parquet` and `items.parquet`; feedback from serving lands as
new Parquet files under `events/` (one file per accepted batch, renamed into place so a reader
never sees half a file) and is read back with the base data by the next training run.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd

from components.data.columns import INTERACTIONS_FILE, ITEMS_FILE
from components.data.validation import (
    DataValidationError,
    validate_dataset,
    validate_interactions,
)

EVENTS_FOLDER = "events"


def write_dataset(directory: Path, interactions: pd.DataFrame, items: pd.DataFrame) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    interactions.to_parquet(directory / INTERACTIONS_FILE, index=False)
    items.to_parquet(directory / ITEMS_FILE, index=False)


def append_events(directory: Path, events: pd.DataFrame) -> Path:
    """Durably add a batch of already validated events to the log; returns the new file."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"events-{pd.Timestamp.now(tz='UTC').strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
    final = directory / f"{name}.parquet"
    temporary = directory / f".{name}.tmp"
    events.to_parquet(temporary, index=False)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    return final


def read_events(directory: Path) -> pd.DataFrame:
    """Every event in the log, validated file by file so an error names the broken file."""
    files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    frames = [validate_interactions(pd.read_parquet(path), str(path)) for path in files]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def read_dataset(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A data folder's interactions (plus its `events/` log) and catalog, validated."""
    for name in (INTERACTIONS_FILE, ITEMS_FILE):
        if not (directory / name).exists():
            raise DataValidationError(str(directory), f"missing {name}")
    interactions = pd.read_parquet(directory / INTERACTIONS_FILE)
    events = read_events(directory / EVENTS_FOLDER)
    if len(events):
        interactions = pd.concat([interactions, events], ignore_index=True)
    items = pd.read_parquet(directory / ITEMS_FILE)
    return validate_dataset(interactions, items, str(directory))


def _synthetic_arguments(spec: str) -> dict[str, float | int | str]:
    """'synthetic:drift=0.5,seed=3' → {'drift': 0.5, 'seed': 3}."""
    arguments: dict[str, float | int | str] = {}
    _, _, options = spec.partition(":")
    for part in filter(None, (p.strip() for p in options.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"bad synthetic option {part!r}: expected key=value")
        try:
            arguments[key.strip()] = int(value)
        except ValueError:
            try:
                arguments[key.strip()] = float(value)
            except ValueError:
                arguments[key.strip()] = value.strip()
    return arguments


def load_source(source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """'synthetic[:k=v,...]', a folder of our Parquet files, or a MovieLens folder."""
    from components.data.movielens import load_movielens
    from components.data.synthetic import generate_synthetic

    if source == "synthetic" or source.startswith("synthetic:"):
        return generate_synthetic(**_synthetic_arguments(source))  # type: ignore[arg-type]
    path = Path(source).expanduser()
    if not path.is_dir():
        raise DataValidationError(source, "not 'synthetic[:options]' and not a folder")
    if (path / INTERACTIONS_FILE).exists():
        return read_dataset(path)
    return load_movielens(path)
